"""Evaluation: oras-py against our registry client for the remote cache's artifacts (push, pull, auth, failures).

oras-py is not a dependency; install it next to the shared environment only for this run (its own dependencies,
requests and jsonschema, are in the lock already):

    .nox/_acnbuild/bin/python -m pip install --no-deps --target /tmp/oraspkg oras==0.2.43
    PYTHONPATH=/tmp/oraspkg:build .nox/_acnbuild/bin/python bench/oras_evaluation.py [--runs 5]

Every scenario runs against a real registry (Debian docker-registry) on loopback; the auth scenarios against one
that asks for bearer tokens from a token server (tests/support/token_registry.py). Prints a table.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "build"), str(ROOT)]

from acnbuild.references import Registry  # noqa: E402
from acnbuild.registry import local  # noqa: E402
from acnbuild.registry.client import OCI_MANIFEST, DigestMismatch, RegistryClient  # noqa: E402
from acnbuild.registry.remote_cache import CACHE_POLICY, EMPTY_CONFIG, EMPTY_MEDIA_TYPE, FILE_MEDIA_TYPE  # noqa: E402

from tests.support import credential_helper, token_registry  # noqa: E402

USER, PASSWORD = "ci", "s3cret-pw"


def files(directory: Path) -> list[Path]:
    """The five Linux binaries if a build left them, else five files of the same size (6 MB)."""
    built = sorted(p for p in (ROOT / "output/linux_amd64").glob("*") if p.is_file())
    if len(built) >= 5:
        return built[:5]
    made = []
    for index in range(5):
        path = directory / f"binary-{index}"
        path.write_bytes(os.urandom(6_000_000))
        made.append(path)
    return made


# --- the two clients, doing the same job: one artifact, one layer per file --------------------------------------


def ours_push(client: RegistryClient, repository: str, paths: list[Path]) -> None:
    layers = []
    for path in paths:
        data = path.read_bytes()
        digest = client.put_blob(repository, data)
        layers.append({"mediaType": FILE_MEDIA_TYPE, "digest": digest, "size": len(data),
                       "annotations": {"org.opencontainers.image.title": path.name}})  # fmt: skip
    config = client.put_blob(repository, EMPTY_CONFIG)
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": "application/vnd.acnbuild.eval.v1",
                "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": config, "size": 2}, "layers": layers}  # fmt: skip
    client.put_manifest(repository, "v1", OCI_MANIFEST, json.dumps(manifest).encode())


def ours_pull(client: RegistryClient, repository: str, directory: Path) -> list[Path]:
    manifest = client.manifest(repository, "v1")
    assert manifest is not None
    out = []
    for layer in manifest.json["layers"]:
        target = directory / layer["annotations"]["org.opencontainers.image.title"]
        target.write_bytes(client.blob(repository, layer["digest"]))  # verified against the digest
        out.append(target)
    return out


def oras_client(host: str) -> Any:
    import oras.provider

    return oras.provider.Registry(hostname=host, insecure=True)


def oras_push(client: Any, host: str, repository: str, paths: list[Path]) -> None:
    with contextlib.chdir(paths[0].parent):
        response = client.push(target=f"{host}/{repository}:v1", files=[p.name for p in paths], quiet=True)
    assert response.status_code in (200, 201), response.status_code


def oras_pull(client: Any, host: str, repository: str, directory: Path) -> list[Path]:
    return [Path(p) for p in client.pull(target=f"{host}/{repository}:v1", outdir=str(directory))]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- scenarios ---------------------------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def speed(host: str, paths: list[Path], runs: int, scratch: Path) -> dict[str, tuple[float, float]]:
    """Median seconds to push the artifact to a new repository, and to pull it into an empty directory."""
    results: dict[str, tuple[list[float], list[float]]] = {"ours": ([], []), "oras-py": ([], [])}
    for _ in range(runs):
        for name in results:
            repository = f"eval/{name}-{uuid.uuid4().hex[:8]}"
            target = Path(tempfile.mkdtemp(dir=scratch))
            push, pull = _push_pull(name, host, repository, paths, target)
            assert sorted(sha(p) for p in target.iterdir()) == sorted(sha(p) for p in paths)
            results[name][0].append(push)
            results[name][1].append(pull)
    return {name: (statistics.median(push), statistics.median(pull)) for name, (push, pull) in results.items()}


def _push_pull(name: str, host: str, repository: str, paths: list[Path], target: Path) -> tuple[float, float]:
    if name == "ours":
        ours = RegistryClient(Registry.parse(host))
        return timed(lambda: ours_push(ours, repository, paths)), timed(lambda: ours_pull(ours, repository, target))
    client = oras_client(host)
    push = timed(lambda: oras_push(client, host, repository, paths))
    return push, timed(lambda: oras_pull(client, host, repository, target))


def corrupt_blob(registry: local.LocalRegistry, host: str, paths: list[Path]) -> dict[str, str]:
    """Overwrite a stored layer with other bytes of the same length: who notices?"""
    repository = f"eval/corrupt-{uuid.uuid4().hex[:8]}"
    ours_push(RegistryClient(Registry.parse(host)), repository, paths[:1])
    digest = hashlib.sha256(paths[0].read_bytes()).hexdigest()
    data = registry.directory / "storage/docker/registry/v2/blobs/sha256" / digest[:2] / digest / "data"
    data.write_bytes(b"\0" * data.stat().st_size)
    verdict = {}
    with tempfile.TemporaryDirectory() as target:
        try:
            ours_pull(RegistryClient(Registry.parse(host)), repository, Path(target))
            verdict["ours"] = "accepted corrupt bytes"
        except DigestMismatch:
            verdict["ours"] = "refused (digest mismatch)"
    with tempfile.TemporaryDirectory() as target:
        try:
            pulled = oras_pull(oras_client(host), host, repository, Path(target))
            verdict["oras-py"] = "refused" if sha(pulled[0]) == digest else "accepted corrupt bytes, no error"
        except Exception as error:  # noqa: BLE001 - any refusal counts
            verdict["oras-py"] = f"refused ({type(error).__name__})"
    return verdict


def unreachable(timeout: float) -> dict[str, str]:
    """Seconds until a pull from a registry that refuses connections gives up (capped at ``timeout``)."""
    code = {
        "ours": "from acnbuild.registry.client import RegistryClient\nfrom acnbuild.references import Registry\n"
        "from acnbuild.registry.remote_cache import CACHE_POLICY\n"
        "try:\n    RegistryClient(Registry.parse('127.0.0.1:9'), policy=CACHE_POLICY).manifest('x', 'v1')\n"
        "except Exception as e:\n    pass\n",
        "oras-py": "import oras.provider\nr = oras.provider.Registry(hostname='127.0.0.1:9', insecure=True)\n"
        "try:\n    r.pull(target='127.0.0.1:9/x:v1', outdir='/tmp')\nexcept Exception:\n    pass\n",
    }
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    verdict = {}
    for name, program in code.items():
        start = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-c", program], env=env, capture_output=True, timeout=timeout, check=False)
            verdict[name] = f"{time.perf_counter() - start:.1f} s"
        except subprocess.TimeoutExpired:
            verdict[name] = f"> {timeout:.0f} s (still retrying)"
    return verdict


def import_cost(runs: int) -> dict[str, str]:
    programs = {"ours": "import acnbuild.registry.client", "oras-py": "import oras.provider"}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    verdict = {}
    for name, program in programs.items():
        samples = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", program], env=env, check=True)
            samples.append(time.perf_counter() - start)
        base = statistics.median(timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True))
                                 for _ in range(runs))  # fmt: skip
        verdict[name] = f"{1000 * (statistics.median(samples) - base):.0f} ms"
    return verdict


@contextlib.contextmanager
def user_home(config: dict[str, Any], logins: dict[str, tuple[str, str]], home: Path) -> Iterator[None]:
    """A user's machine: ~/.docker/config.json (the one oras-py reads), a credential helper on PATH."""
    home.mkdir(parents=True)
    (home / ".docker").mkdir()
    (home / ".docker/config.json").write_text(json.dumps(config))
    helper = credential_helper.install(home / "bin", "acneval", logins)
    saved = {k: os.environ.get(k) for k in ("HOME", "PATH", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE")}
    os.environ.update(HOME=str(home), PATH=helper.path_with_helper())
    os.environ.pop("DOCKER_CONFIG", None)
    os.environ.pop("REGISTRY_AUTH_FILE", None)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def auth_scenarios(scratch: Path, paths: list[Path]) -> dict[str, dict[str, str]]:
    """Push then pull through a token-auth registry with the logins users have; 'ok' or why not."""
    small = paths[0].parent / "small"
    small.mkdir(exist_ok=True)
    (small / "file").write_bytes(b"payload")
    payload = [small / "file"]
    results: dict[str, dict[str, str]] = {}
    with token_registry.token_registry(scratch / "token-registry", {USER: PASSWORD}) as registry:
        host = registry.host
        basic = __import__("base64").b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        refresh = registry.token_server.issue_refresh_token(USER)
        cases: dict[str, tuple[dict[str, Any], dict[str, tuple[str, str]], str | None]] = {
            "docker login (auths)": ({"auths": {host: {"auth": basic}}}, {}, None),
            "credHelpers": ({"credHelpers": {host: "acneval"}}, {host: (USER, PASSWORD)}, None),
            "identity token (credsStore)": ({"credsStore": "acneval"}, {host: ("<token>", refresh)}, None),
            "containers auth.json": ({}, {}, json.dumps({"auths": {host: {"auth": basic}}})),
        }
        for name, (config, logins, auth_json) in cases.items():
            home = scratch / f"home-{uuid.uuid4().hex[:6]}"
            with user_home(config, logins, home):
                if auth_json:
                    (home / "auth.json").write_text(auth_json)
                    os.environ["REGISTRY_AUTH_FILE"] = str(home / "auth.json")
                results[name] = {
                    "ours": attempt(lambda: round_trip_ours(host, payload)),
                    "oras-py": attempt(lambda: round_trip_oras(host, payload)),
                }
        with user_home({"auths": {host: {"auth": basic}}}, {}, scratch / "home-scopes"):
            results["push to one repository, then pull another (one client)"] = {
                "ours": attempt(lambda: scope_change_ours(host, payload)),
                "oras-py": attempt(lambda: scope_change_oras(host, payload)),
            }
    return results


def attempt(action: Callable[[], None]) -> str:
    try:
        action()
        return "ok"
    except Exception as error:  # noqa: BLE001 - the verdict is the error
        return f"fails: {type(error).__name__}: {str(error).splitlines()[0][:60] if str(error) else ''}"


def round_trip_ours(host: str, payload: list[Path]) -> None:
    client = RegistryClient(Registry.parse(host), policy=CACHE_POLICY)
    repository = f"eval/auth-{uuid.uuid4().hex[:6]}"
    ours_push(client, repository, payload)
    with tempfile.TemporaryDirectory() as target:
        assert [sha(p) for p in ours_pull(client, repository, Path(target))] == [sha(payload[0])]


def round_trip_oras(host: str, payload: list[Path]) -> None:
    client = oras_client(host)
    repository = f"eval/auth-{uuid.uuid4().hex[:6]}"
    oras_push(client, host, repository, payload)
    with tempfile.TemporaryDirectory() as target:
        assert [sha(p) for p in oras_pull(client, host, repository, Path(target))] == [sha(payload[0])]


def scope_change_ours(host: str, payload: list[Path]) -> None:
    client = RegistryClient(Registry.parse(host), policy=CACHE_POLICY)
    first, second = f"eval/a-{uuid.uuid4().hex[:6]}", f"eval/b-{uuid.uuid4().hex[:6]}"
    ours_push(client, first, payload)
    ours_push(client, second, payload)
    with tempfile.TemporaryDirectory() as target:
        ours_pull(client, first, Path(target))


def scope_change_oras(host: str, payload: list[Path]) -> None:
    client = oras_client(host)
    first, second = f"eval/a-{uuid.uuid4().hex[:6]}", f"eval/b-{uuid.uuid4().hex[:6]}"
    oras_push(client, host, first, payload)
    oras_push(client, host, second, payload)
    with tempfile.TemporaryDirectory() as target:
        oras_pull(client, host, first, Path(target))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    try:
        import oras.provider  # noqa: F401
    except ImportError:
        raise SystemExit(__doc__) from None
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        paths = files(scratch)
        registry = local.start(scratch / "registry")
        try:
            host = registry.host
            size = sum(p.stat().st_size for p in paths) / 1e6
            fast = speed(host, paths, args.runs, scratch)
            corrupt = corrupt_blob(registry, host, paths)
        finally:
            registry.stop()
        auth = auth_scenarios(scratch, paths)
    down = unreachable(30.0)
    imports = import_cost(args.runs)

    print(f"oras-py 0.2.43 vs acnbuild.registry.client, {len(paths)} files ({size:.1f} MB), medians of {args.runs}")
    print(f"{'scenario':58} {'ours':32} oras-py")
    print(f"{'push, new repository (s)':58} {fast['ours'][0]:<32.3f} {fast['oras-py'][0]:.3f}")
    print(f"{'pull into an empty directory (s)':58} {fast['ours'][1]:<32.3f} {fast['oras-py'][1]:.3f}")
    print(f"{'a stored layer is corrupted':58} {corrupt['ours']:32} {corrupt['oras-py']}")
    print(f"{'registry refuses connections: time to give up':58} {down['ours']:32} {down['oras-py']}")
    print(f"{'import cost':58} {imports['ours']:32} {imports['oras-py']}")
    for name, verdict in auth.items():
        print(f"{'token auth: ' + name:58} {verdict['ours']:32} {verdict['oras-py']}")


if __name__ == "__main__":
    main()
