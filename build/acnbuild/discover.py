"""Find ``components/*/BUILD.yaml``, validate each against the schema, and build the model.

This is the only module that reads YAML. Errors name the file, the line and the key.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from .atomic import atomic_write
from .errors import UserError
from .model import BinaryArchive, Component, GoBinary, Installer, OsImage, Repository, VersionRule, WindowsSku
from .paths import Layout
from .platforms import Platform

BUILD_FILE = "BUILD.yaml"
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
# Content digests of BUILD.yaml files that passed the schema, so unchanged files skip validation.
VALIDATED_CACHE = "validated-build-files.json"


@cache
def schema_text() -> str:
    return resources.files("acnbuild").joinpath("schema/build.schema.json").read_text()


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


def load_repository(root: Path) -> Repository:
    files = sorted((root / "components").glob(f"*/{BUILD_FILE}"))
    if not files:
        raise UserError(f"no components/*/{BUILD_FILE} under {root}")
    components = {}
    binaries_seen: dict[str, Path] = {}
    validated = _read_validated(root)
    known = set(validated)
    for path in files:
        component = load_component(path, root, validated)
        for binary in component.binaries:
            if binary.name in binaries_seen:
                raise UserError(
                    f"{_rel(path, root)}: binary {binary.name!r} is also declared in "
                    f"{_rel(binaries_seen[binary.name], root)}",
                    hint="binary names must be unique across components (they share output/)",
                )
            binaries_seen[binary.name] = path
        components[component.name] = component
    repo = Repository(root=root, components=components)
    for component in components.values():
        for wanted in component.installer.binaries if component.installer else ():
            if wanted not in binaries_seen:
                raise UserError(
                    f"{_rel(component.build_file, root)}: installer.binaries names {wanted!r}, which no component "
                    "declares",
                    hint="declared binaries: " + ", ".join(sorted(binaries_seen)),
                )
    if validated != known:
        _write_validated(root, validated)
    return repo


def _read_validated(root: Path) -> set[str]:
    try:
        return set(json.loads((Layout(root).caches / VALIDATED_CACHE).read_text()))
    except (OSError, ValueError):
        return set()


def _write_validated(root: Path, digests: set[str]) -> None:
    with contextlib.suppress(OSError):  # a read-only checkout just validates every time
        atomic_write(Layout(root).caches / VALIDATED_CACHE, json.dumps(sorted(digests)))


def load_component(path: Path, root: Path, validated: set[str] | None = None) -> Component:
    """Parse and validate one BUILD.yaml; ``validated`` holds digests known to pass (and gains this one)."""
    rel = _rel(path, root)
    text = path.read_text()
    try:
        data = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{rel}:{mark.line + 1}" if mark else rel
        raise UserError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(data, dict):
        raise UserError(f"{rel}:1: expected a mapping of keys (image, version, binaries, ...)")

    @cache
    def nodes() -> yaml.Node:
        """The node tree, for line numbers: composed only when there is an error to report."""
        composed = yaml.compose(text, Loader=_LOADER)
        assert composed is not None  # the text parsed to a mapping above
        return composed

    digest = hashlib.sha256((schema_text() + "\0" + text).encode()).hexdigest()
    if validated is None or digest not in validated:
        _validate(data, nodes(), rel)
    component = _to_component(data, nodes, path, root)
    if validated is not None:
        validated.add(digest)
    return component


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
        key = ".".join(str(k) for k in keys) or "(top level)"
        line = _line_of(node, keys)
        hint = best.schema.get("description") if isinstance(best.schema, dict) else None
        if not hint and isinstance(best.schema, dict):
            hint = _description_at(keys)
        message = f"{rel}:{line}: {key}: {best.message}"
        lines.append(message + (f"\n  fix: {hint}" if hint else ""))
    raise UserError("invalid BUILD.yaml\n" + "\n".join(lines))


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


def _to_component(data: dict[str, Any], nodes: Callable[[], yaml.Node], path: Path, root: Path) -> Component:
    rel = _rel(path, root)
    directory = path.parent
    name = directory.name
    platforms = tuple(Platform.parse(p) for p in data["platforms"])
    images = {}
    for os_name, spec in data["images"].items():
        dockerfile = directory / spec["dockerfile"]
        if not dockerfile.is_file():
            line = _line_of(nodes(), ["images", os_name, "dockerfile"])
            raise UserError(
                f"{rel}:{line}: images.{os_name}.dockerfile: {spec['dockerfile']} does not exist",
                hint=f"create {_rel(dockerfile, root)} or fix the file name",
            )
        if "skus" in spec and os_name != "windows":
            line = _line_of(nodes(), ["images", os_name, "skus"])
            raise UserError(f"{rel}:{line}: images.{os_name}.skus: only Windows images have OS SKUs")
        skus = tuple(
            WindowsSku(name=sku, os_version=value["os_version"], base=value.get("base", spec["base"]))
            for sku, value in spec.get("skus", {}).items()
        )
        images[os_name] = OsImage(dockerfile=dockerfile, target=spec["target"], base=spec["base"], skus=skus)
    for platform in platforms:
        if platform.os not in images:
            line = _line_of(nodes(), ["platforms"])
            raise UserError(
                f"{rel}:{line}: platforms: {platform} needs an `images.{platform.os}` entry",
                hint=f"add images.{platform.os} (dockerfile, target, base) or drop the platform",
            )
    output_dir = data.get("output_dir", name)
    binaries = []
    for index, spec in enumerate(data["binaries"]):
        package_dir = directory / spec["package"]
        if not package_dir.is_dir():
            line = _line_of(nodes(), ["binaries", index, "package"])
            raise UserError(
                f"{rel}:{line}: binaries[{index}].package: {spec['package']} is not a directory",
                hint="give the Go package directory relative to the component, e.g. ./cmd/<name>",
            )
        binaries.append(
            GoBinary(
                name=spec["name"],
                package="./" + package_dir.resolve().relative_to(root).as_posix(),
                version_vars=tuple(spec.get("version_vars", ())),
                x_vars=tuple(sorted(spec.get("x_vars", {}).items())),
                directory=output_dir,
            )
        )
    for index, file_name in enumerate(data.get("files", ())):
        if not (directory / file_name).is_file():
            line = _line_of(nodes(), ["files", index])
            raise UserError(f"{rel}:{line}: files[{index}]: {file_name} does not exist in {name}/")
    installer = None
    if "installer" in data:
        spec = data["installer"]
        for index, file_name in enumerate(spec.get("files", ())):
            if not (directory / file_name).is_file():
                line = _line_of(nodes(), ["installer", "files", index])
                raise UserError(f"{rel}:{line}: installer.files[{index}]: {file_name} does not exist in {name}/")
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
