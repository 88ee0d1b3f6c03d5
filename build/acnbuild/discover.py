"""Find ``components/*/BUILD.yaml``, validate each against the schema, and build the model.

This is the only module that reads YAML. Errors name the file, the line and the key. A file whose exact content
(with the exact schema) passed before is not screened, parsed or validated again: its data is kept by content
digest, so an edit is a new digest and always goes through the screen, the parser and the schema.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import contained
from .atomic import atomic_write
from .baselock import BaseLock
from .errors import UserError
from .model import (
    BinaryArchive,
    Component,
    GoBinary,
    Installer,
    OsImage,
    Repository,
    Smoke,
    VersionRule,
    WindowsSku,
)
from .paths import Layout
from .platforms import Platform
from .references import Reference

if TYPE_CHECKING:
    import yaml

BUILD_FILE = "BUILD.yaml"
# Data of BUILD.yaml files that passed the screen and the schema, by digest of (schema, content): unchanged files
# skip YAML (the module is not even loaded) and validation alike.
VALIDATED_CACHE = "validated-build-files.json"
MAX_BYTES = 256 * 1024  # a BUILD.yaml is a page of settings; anything near this size is a mistake
MAX_DEPTH = 16  # the schema nests five levels deep
MAX_MESSAGE = 240  # characters of one schema message: values are echoed, never whole


def _loader() -> type[yaml.SafeLoader]:
    import yaml

    loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return loader


@cache
def schema_text() -> str:
    return (Path(__file__).parent / "schema" / "build.schema.json").read_text()


@cache
def schema() -> dict[str, Any]:
    return json.loads(schema_text())


def find_root(start: Path | None = None) -> Path:
    """The repository root: the nearest directory above ``start`` holding ``components/``."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "components").is_dir() and (candidate / "go.mod").is_file():
            return candidate
    raise UserError(
        f"no monorepo root (a directory with components/ and go.mod) above {here}",
        hint="run nox from the repository checkout",
    )


def load_repository(root: Path, lock: BaseLock | None = None) -> Repository:
    """Every component; bases are pinned from ``lock`` (default: the checkout's ``requirements/base-images.lock``)."""
    files = sorted((root / "components").glob(f"*/{BUILD_FILE}"))
    if not files:
        raise UserError(f"no components/*/{BUILD_FILE} under {root}", hint="run nox from the repository checkout")
    components: dict[str, Component] = {}
    validated = _read_validated(root)
    known = set(validated)
    seen: set[str] = set()
    lock = lock or BaseLock.read(root)
    for path in files:
        component = load_component(path, root, validated, lock, seen)
        components[component.name] = component
    _refuse_duplicates(list(components.values()))
    binaries_seen = {b.name for c in components.values() for b in c.binaries}
    repo = Repository(root=root, components=components)
    for component in components.values():
        for index, wanted in enumerate(component.installer.binaries if component.installer else ()):
            if wanted not in binaries_seen:
                raise UserError(
                    f"{component.where('installer', 'binaries', index)}: installer.binaries[{index}]: {wanted!r} is "
                    "not a binary any component declares",
                    hint="declared binaries: " + ", ".join(sorted(binaries_seen)),
                )
    if set(validated) != known:  # keep only the files of this tree: an edited file's old entry goes
        _write_validated(root, {k: v for k, v in validated.items() if k in seen})
    return repo


_Keys = tuple[str | int, ...]
_Declared = tuple[Component, _Keys]  # a component and the key path of one of its declarations


def _refuse_duplicates(components: list[Component]) -> None:
    """Binary names share output/ and image names share the registry: each may be declared once.

    The message blames the more recently edited file (the one that most likely just gained the duplicate) at its
    line, and names the other declaration with its line.
    """

    def newest_last(pair: tuple[_Declared, _Declared]) -> list[_Declared]:
        return sorted(pair, key=lambda item: (_mtime(item[0].build_file), item[0].display))

    seen_binaries: dict[str, tuple[Component, tuple[str | int, ...]]] = {}
    seen_images: dict[str, tuple[Component, tuple[str | int, ...]]] = {}
    for component in components:
        declarations: list[
            tuple[dict[str, tuple[Component, tuple[str | int, ...]]], str, tuple[str | int, ...], str, str]
        ]
        declarations = [(seen_binaries, b.name, ("binaries", i, "name"), "binary", "output/<os>_<arch>/")
                        for i, b in enumerate(component.binaries)]  # fmt: skip
        declarations.append((seen_images, component.image, ("image",), "image", "the registry"))
        for seen, name, keys, what, shared in declarations:
            if name in seen:
                (first, first_keys), (second, second_keys) = newest_last((seen[name], (component, keys)))
                raise UserError(
                    f"{second.where(*second_keys)}: {what} name {name!r} is already declared at "
                    f"{first.where(*first_keys)}",
                    hint=f"{what} names must be unique across components (they share {shared}): rename one",
                )
            seen[name] = (component, keys)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def declared_bases(repo: Repository) -> list[tuple[str, str, str]]:
    """Every base image the components use, as ``(reference, platform, where BUILD.yaml declares it)``."""
    found = []
    for component in repo.components.values():
        for os_name, image in component.images.items():
            platform = next((str(p) for p in component.platforms if p.os == os_name), f"{os_name}/amd64")
            found.append((image.base, platform, component.where("images", os_name, "base")))
            for sku in image.skus:
                found.append((sku.base, platform, component.where("images", os_name, "skus", sku.name)))
    return [item for item in found if item[0] != "scratch"]


def lock_problems(repo: Repository, lock: BaseLock) -> list[str]:
    """Where BUILD.yaml and the lock disagree: a base the lock does not pin, or a lock line no base uses."""
    problems = []
    used = set()
    for base, _, where in declared_bases(repo):
        parsed = Reference.parse(base)
        key = f"{parsed.name}:{parsed.tag}" if parsed.tag else None
        if key is None:
            problems.append(f"{where}: {base} has no tag, so {lock.display} cannot pin it: name it name:tag")
        elif key not in lock.entries:
            problems.append(f"{where}: {key} is pinned in BUILD.yaml but not in {lock.display}")
        elif lock.entries[key].digest != parsed.digest:
            problems.append(f"{where}: {base} disagrees with {lock.where(key)}")
        if key:
            used.add(key)
    problems += [f"{lock.where(key)}: {key} is used by no BUILD.yaml" for key in sorted(set(lock.entries) - used)]
    return problems


def _read_validated(root: Path) -> dict[str, Any]:
    try:
        found = json.loads((Layout(root).caches / VALIDATED_CACHE).read_text())
    except (OSError, ValueError):
        return {}
    return found if isinstance(found, dict) else {}


def _write_validated(root: Path, validated: dict[str, Any]) -> None:
    with contextlib.suppress(OSError):  # a read-only checkout just validates every time
        atomic_write(Layout(root).caches / VALIDATED_CACHE, json.dumps(validated, sort_keys=True))


def load_component(
    path: Path,
    root: Path,
    validated: dict[str, Any] | None = None,
    lock: BaseLock | None = None,
    seen: set[str] | None = None,
) -> Component:
    """Parse and validate one BUILD.yaml; ``validated`` maps digests of files known to pass to their data (and
    gains this one); bases are pinned from ``lock`` (read from the checkout when not given); ``seen`` collects the
    digests of the files read."""
    rel = _rel(path, root)
    text = _read_text(path, rel)
    digest = hashlib.sha256((schema_text() + "\0" + text).encode()).hexdigest()

    @cache
    def nodes() -> yaml.Node:
        """The node tree, for line numbers: composed only when a line is asked for."""
        import yaml

        composed = yaml.compose(text, Loader=_loader())
        assert composed is not None  # the text parsed to a mapping
        return composed

    data = validated.get(digest) if validated is not None else None
    if not isinstance(data, dict):
        data = _parse(text, rel)
        _validate(data, nodes(), rel)
    component = _to_component(data, nodes, path, root, lock or BaseLock.read(root))
    if validated is not None:
        validated[digest] = data
    if seen is not None:
        seen.add(digest)
    return component


def _parse(text: str, rel: str) -> dict[str, Any]:
    """Screen, then load: what a file that was never seen (in this content) goes through."""
    import yaml

    _screen(text, rel)
    try:
        data = yaml.load(text, Loader=_loader())
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, rel) from None
    if not isinstance(data, dict):
        raise UserError(
            f"{rel}:1: expected a mapping of keys (image, version, binaries, platforms, images), found "
            f"{'nothing' if data is None else type(data).__name__}",
            hint="see `Adding a component` in README.md for a complete BUILD.yaml",
        )
    return data


def _read_text(path: Path, rel: str) -> str:
    """The file as UTF-8 text (a BOM is allowed), refusing what no BUILD.yaml can be."""
    try:
        data = path.read_bytes()
    except IsADirectoryError:
        raise UserError(f"{rel} is a directory", hint="BUILD.yaml must be a file") from None
    if len(data) > MAX_BYTES:
        raise UserError(
            f"{rel}: {len(data)} bytes is too large for a BUILD.yaml (at most {MAX_BYTES})",
            hint="a BUILD.yaml names files, it does not hold them: move data into a file listed under `files`",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise UserError(
            f"{rel}:{line}: not UTF-8 text (byte 0x{data[error.start]:02x} at column {column})",
            hint="save BUILD.yaml as UTF-8",
        ) from None


def _yaml_error(exc: yaml.YAMLError, rel: str) -> UserError:
    mark = getattr(exc, "problem_mark", None)
    where = f"{rel}:{mark.line + 1}" if mark else rel
    problem = str(getattr(exc, "problem", None) or exc)[:MAX_MESSAGE]
    return UserError(f"{where}: not valid YAML: {problem}", hint="check indentation, colons and closing brackets")


@dataclass
class _Open:
    """A mapping or sequence open in the event stream; a mapping alternates keys and values."""

    is_mapping: bool
    keys: set[str] = field(default_factory=set)
    expecting_key: bool = True


def _screen(text: str, rel: str) -> None:
    """Refuse, from the event stream alone (nothing is built or expanded), what safe loading would let through:
    aliases (``*name``: a few hundred bytes of them expand to gigabytes), keys given twice in one mapping (YAML
    keeps the last silently), and nesting deeper than any BUILD.yaml needs."""
    import yaml

    frames: list[_Open] = []  # the collections open at this point of the stream
    try:
        for event in yaml.parse(text, Loader=_loader()):
            line = event.start_mark.line + 1 if event.start_mark else 1
            if isinstance(event, yaml.AliasEvent):
                raise UserError(
                    f"{rel}:{line}: YAML aliases (*{event.anchor}) are not allowed in BUILD.yaml",
                    hint="write the value out where it is used (aliases, `<<` merges included, are refused)",
                )
            if isinstance(event, (yaml.ScalarEvent, yaml.MappingStartEvent, yaml.SequenceStartEvent)) and frames:
                parent = frames[-1]
                if parent.is_mapping and parent.expecting_key and isinstance(event, yaml.ScalarEvent):
                    if event.value in parent.keys:
                        raise UserError(
                            f"{rel}:{line}: key {event.value[:MAX_MESSAGE]!r} appears twice in the same mapping",
                            hint="keep one of them (YAML would silently use the last)",
                        )
                    parent.keys.add(event.value)
                parent.expecting_key = parent.is_mapping and not parent.expecting_key
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                frames.append(_Open(is_mapping=isinstance(event, yaml.MappingStartEvent)))
                if len(frames) > MAX_DEPTH:
                    raise UserError(f"{rel}:{line}: nested more than {MAX_DEPTH} levels deep",
                                    hint="a BUILD.yaml nests at most a few levels (see the schema)")  # fmt: skip
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                frames.pop()
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, rel) from None


def _validate(data: dict[str, Any], node: yaml.Node, rel: str) -> None:
    import jsonschema  # only when a BUILD.yaml is new or changed: it is the slowest import here

    validator = jsonschema.Draft202012Validator(schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    if not errors:
        return
    lines = []
    for error in errors:
        best = jsonschema.exceptions.best_match([error])
        keys = list(best.absolute_path)
        text = best.message
        hint = best.schema.get("description") if isinstance(best.schema, dict) else None
        if best.validator == "additionalProperties" and isinstance(best.instance, dict):
            allowed = sorted(best.schema.get("properties", {}))
            unknown = [k for k in best.instance if k not in allowed]
            keys = [*keys, unknown[0]] if unknown else keys
            text = f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}"
            hint = "allowed here: " + ", ".join(allowed)
        key = ".".join(str(k) for k in keys) or "(top level)"
        line = _line_of(node, keys)
        if not hint and isinstance(best.schema, dict):
            hint = _description_at(keys)
        message = f"{rel}:{line}: {key}: {_shorten(text)}"
        lines.append(message + (f"\n  fix: {hint}" if hint else ""))
    raise UserError("invalid BUILD.yaml\n" + "\n".join(lines))


def _shorten(text: str) -> str:
    """Schema messages quote the value: keep them to one readable line."""
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _description_at(keys: list[Any]) -> str | None:
    """The schema description of the property a failing value belongs to."""
    current: Any = schema()
    description = None
    for key in keys:
        if isinstance(key, int):
            current = current.get("items", {})
        else:
            props = current.get("properties", {})
            current = props.get(key) or current.get("additionalProperties") or {}
        if isinstance(current, dict) and "$ref" in current:
            name = current["$ref"].rsplit("/", 1)[-1]
            current = schema()["$defs"][name]
        if isinstance(current, dict) and current.get("description"):
            description = current["description"]
    return description


def _line_of(node: yaml.Node | None, keys: list[Any]) -> int:
    """1-based line of the value at ``keys`` (or of the nearest ancestor that exists)."""
    import yaml

    line = node.start_mark.line + 1 if node is not None else 1
    current = node
    for key in keys:
        if isinstance(current, yaml.MappingNode):
            match = next((v for k, v in current.value if k.value == key), None)
            key_node = next((k for k, _ in current.value if k.value == key), None)
            if match is None:
                break
            line = (key_node or match).start_mark.line + 1
            current = match
        elif isinstance(current, yaml.SequenceNode) and isinstance(key, int) and key < len(current.value):
            current = current.value[key]
            line = current.start_mark.line + 1
        else:
            break
    return line


def _to_component(
    data: dict[str, Any], nodes: Callable[[], yaml.Node], path: Path, root: Path, lock: BaseLock
) -> Component:
    rel = _rel(path, root)
    directory = path.parent
    name = directory.name

    def at(*keys: str | int) -> str:
        return f"{rel}:{_line_of(nodes(), list(keys))}"

    def inside(relative: str, keys: tuple[str | int, ...], shown: str) -> None:
        """``relative`` must be a regular file of the component, with no link leading out of it."""
        try:
            contained.resolve(directory, relative)
        except contained.NotContained as problem:
            raise UserError(
                f"{at(*keys)}: {shown}: {problem.reason}"
                + (f" in {name}/" if problem.reason == "does not exist" else ""),
                hint=f"list regular files inside components/{name}/ (symbolic links may not lead out of it)",
            ) from None

    platforms = tuple(Platform.parse(p) for p in data["platforms"])
    images = {}
    for os_name, spec in data["images"].items():
        dockerfile = directory / spec["dockerfile"]
        if not dockerfile.exists() and not dockerfile.is_symlink():
            key = f"images.{os_name}.dockerfile"
            raise UserError(
                f"{at('images', os_name, 'dockerfile')}: {key}: {spec['dockerfile']} does not exist",
                hint=f"create {_rel(dockerfile, root)} or fix the file name",
            )
        inside(spec["dockerfile"], ("images", os_name, "dockerfile"), f"images.{os_name}.dockerfile")
        if "skus" in spec and os_name != "windows":
            raise UserError(f"{at('images', os_name, 'skus')}: images.{os_name}.skus: only Windows images have OS SKUs",
                            hint="move the skus under images.windows, or remove them")  # fmt: skip

        def declared_at(*keys: str) -> Callable[[], str]:
            return lambda: f"{at('images', *keys)}: images.{'.'.join(keys)}"

        base = lock.resolve(spec["base"], declared_at(os_name, "base"))
        skus = tuple(
            WindowsSku(
                name=sku,
                os_version=value["os_version"],
                base=lock.resolve(value["base"], declared_at(os_name, "skus", sku, "base"))
                if "base" in value
                else base,
            )
            for sku, value in spec.get("skus", {}).items()
        )
        smoke = spec.get("smoke")
        images[os_name] = OsImage(
            dockerfile=dockerfile,
            target=spec["target"],
            base=base,
            skus=skus,
            smoke=_smoke(smoke) if smoke is not None else None,
        )
    for platform in platforms:
        if platform.os not in images:
            raise UserError(
                f"{at('platforms')}: platforms: {platform} needs an `images.{platform.os}` entry",
                hint=f"add images.{platform.os} (dockerfile, target, base) or drop the platform",
            )
    output_dir = data.get("output_dir", name)
    binaries = []
    for index, spec in enumerate(data["binaries"]):
        binaries.append(
            _binary(spec, directory, root, functools.partial(at, "binaries", index, "package"), index, output_dir)
        )
    for index, file_name in enumerate(data.get("files", ())):
        inside(file_name, ("files", index), f"files[{index}]: {file_name}")
    installer = None
    if "installer" in data:
        spec = data["installer"]
        for index, file_name in enumerate(spec.get("files", ())):
            inside(file_name, ("installer", "files", index), f"installer.files[{index}]: {file_name}")
        installer = Installer(binaries=tuple(spec["binaries"]), files=tuple(spec.get("files", ())))
    archive = _archive(data.get("archive"), platforms, nodes, path, root)
    build_args = data.get("build_args", {})
    env_build_args = data.get("env_build_args", {})
    for name in sorted(set(build_args) & set(env_build_args)):
        line = _line_of(nodes(), ["env_build_args", name])
        raise UserError(
            f"{rel}:{line}: env_build_args.{name}: also set in build_args",
            hint="a build argument is either fixed (build_args) or from the environment (env_build_args)",
        )
    version = data["version"]
    return Component(
        name=name,
        directory=directory,
        build_file=path,
        image=data["image"],
        description=data.get("description", f"the {data['image']} image"),
        version_rule=VersionRule(rule=version["rule"], match=version.get("match"), variable=version.get("variable")),
        binaries=tuple(binaries),
        platforms=platforms,
        images=images,
        files=tuple(data.get("files", ())),
        build_args=tuple(sorted(build_args.items())),
        installer=installer,
        tag_variable=data.get("tag_variable"),
        env_build_args=tuple(sorted(env_build_args.items())),
        archive=archive,
        output_dir=output_dir,
        display=rel,
        line_of=lambda keys: _line_of(nodes(), list(keys)),
    )


def _smoke(spec: dict[str, Any]) -> Smoke:
    entrypoint = spec.get("entrypoint")
    return Smoke(
        args=tuple(spec.get("args", ())),
        entrypoint=tuple(entrypoint) if entrypoint is not None else None,
        output=spec.get("output"),
        exit_code=int(spec.get("exit_code", 0)),
        timeout=float(spec.get("timeout", 60)),
    )


def _binary(
    spec: dict[str, Any], directory: Path, root: Path, where: Callable[[], str], index: int, output_dir: str
) -> GoBinary:
    """A Go main package inside the component (``./cmd/<name>``), holding Go files."""
    package = spec["package"]
    package_dir = (directory / package).resolve()
    problem = None
    if not contained.inside(directory.resolve(), package_dir):
        problem = f"leads outside components/{directory.name}/"
    elif not package_dir.is_dir():
        problem = "is not a directory"
    elif not any(p.suffix == ".go" and not p.name.endswith("_test.go") for p in package_dir.iterdir()):
        problem = "holds no Go source files"
    if problem:
        raise UserError(
            f"{where()}: binaries[{index}].package: {package} {problem}",
            hint="give the Go main package's directory relative to the component, e.g. ./cmd/<name>",
        )
    return GoBinary(
        name=spec["name"],
        package="./" + package_dir.relative_to(root.resolve()).as_posix(),
        version_vars=tuple(spec.get("version_vars", ())),
        x_vars=tuple(sorted(spec.get("x_vars", {}).items())),
        directory=output_dir,
    )


def _archive(
    spec: dict[str, Any] | None,
    platforms: tuple[Platform, ...],
    nodes: Callable[[], yaml.Node],
    path: Path,
    root: Path,
) -> BinaryArchive | None:
    if spec is None:
        return None
    rel, directory = _rel(path, root), path.parent
    archive_platforms = tuple(Platform.parse(p) for p in spec.get("platforms", [str(p) for p in platforms]))
    for index, platform in enumerate(archive_platforms):
        if not any(platform.same_target(p) for p in platforms):
            line = _line_of(nodes(), ["archive", "platforms", index])
            raise UserError(
                f"{rel}:{line}: archive.platforms[{index}]: {platform} is not one of the component's platforms",
                hint="declared: " + ", ".join(map(str, platforms)),
            )
    files = tuple(sorted(spec.get("files", {}).items()))
    for entry, file_name in files:
        if not (directory / file_name).is_file():
            line = _line_of(nodes(), ["archive", "files", entry])
            raise UserError(f"{rel}:{line}: archive.files.{entry}: {file_name} does not exist in {directory.name}/")
    return BinaryArchive(name=spec["name"], platforms=archive_platforms, files=files)


def _rel(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(path)
