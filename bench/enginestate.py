"""What the benchmark leaves in the shared container engines, and how it takes exactly that away again.

The Docker engine and buildah's default storage are shared with whoever else works on the machine, so nothing
here prunes broadly: images are removed by the names the benchmark gave them (and untagged leftovers by the
ids it saw), build-cache records only when they descend from the benchmark's own Go builder image or are its
Go cache mounts, buildah cache mounts only under the benchmark's own ids.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import docker
import docker.errors

DOCKER = "/usr/bin/docker"  # the 20.10 CLI: the one with BuildKit here (no buildx on this machine)
BUILDAH_CACHE = Path("/var/tmp/buildah-cache")
# Text of the baselines' RUN steps (bench/baselines.py): each record showing one descends from the Go builder image.
RUN_MARKERS = ("go build -a -buildvcs=false", "go build -trimpath -buildvcs=false", "sha256sum * > /tmp/sum.txt")
CACHE_MOUNT_MARKERS = ("/root/.cache/go-build from exec", "/go/pkg/mod from exec")


def _run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False)


def docker_references(prefixes: Iterable[str]) -> dict[str, str]:
    """``repository:tag`` → image id for every docker image whose repository starts with one of ``prefixes``."""
    listing = _run([DOCKER, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]).stdout
    found = {}
    for line in listing.splitlines():
        reference, _, image_id = line.partition(" ")
        if reference.startswith(tuple(prefixes)) and not reference.endswith(":<none>"):
            found[reference] = image_id
    return found


def buildah_references(prefixes: Iterable[str], storage: list[str] | None = None) -> list[str]:
    """Names in a buildah storage (``localhost/`` is how buildah spells unqualified names)."""
    listing = _run(["buildah", *(storage or []), "images", "--format", "{{.Name}}:{{.Tag}}"]).stdout
    wanted = tuple(prefixes) + tuple("localhost/" + p for p in prefixes)
    return [line for line in listing.splitlines() if line.startswith(wanted)]


class ImageLedger:
    """Every image the benchmark made in docker or buildah's default storage, by name and by id."""

    def __init__(self, prefixes: tuple[str, ...]) -> None:
        self.prefixes = prefixes
        self.docker_ids: set[str] = set()

    def note(self) -> None:
        """Remember the ids currently behind our names: a rebuild under the same tag leaves the old one untagged."""
        self.docker_ids.update(docker_references(self.prefixes).values())

    def note_id(self, image_id: str) -> None:
        self.docker_ids.add(image_id)

    def remove_named(self, extra_buildah: Iterable[str] = ()) -> None:
        """Untag our names (docker and buildah's default storage); an id still tagged elsewhere stays."""
        self.note()
        references = list(docker_references(self.prefixes))
        if references:
            _run([DOCKER, "rmi", *references])
        names = buildah_references(self.prefixes) + list(extra_buildah)
        if names:
            _run(["buildah", "rmi", *names])

    def remove_all(self, extra_buildah: Iterable[str] = ()) -> None:
        self.remove_named(extra_buildah)
        leftovers = sorted(self.docker_ids)
        if leftovers:
            _run([DOCKER, "rmi", *leftovers])  # without -f: an id someone else tagged is kept
        self.docker_ids.clear()


def _created(record: dict[str, object]) -> datetime:
    return datetime.fromisoformat(str(record["CreatedAt"])[:19] + "+00:00")  # second resolution is enough


def prune_build_cache(since: datetime) -> int:
    """Remove the build-cache records of the baselines; returns how many went.

    Ours: every record above a baseline RUN step (its stage's COPYs and the imported Go builder image, which only
    the baselines use) and every record below those, plus the Go cache mounts created since ``since``. Records go
    leaves first, one id at a time, so nothing else in the cache is touched. Left to BuildKit's own collection:
    context snapshots and the final stages' COPY layers, which carry nothing that says whose they are.
    """
    client = docker.from_env()
    try:
        records = {str(r["ID"]): r for r in client.df().get("BuildCache") or []}
        parent = {rid: str(r.get("Parent") or "") for rid, r in records.items()}
        ours = {rid for rid, r in records.items() if any(m in str(r.get("Description", "")) for m in RUN_MARKERS)}
        for rid in list(ours):
            up = parent.get(rid, "")
            while up in records:
                ours.add(up)
                up = parent[up]
        changed = True
        while changed:
            children = {rid for rid, p in parent.items() if p in ours and rid not in ours}
            ours |= children
            changed = bool(children)
        for rid, r in records.items():
            description = str(r.get("Description", ""))
            mine = r.get("Type") == "exec.cachemount" and any(m in description for m in CACHE_MOUNT_MARKERS)
            if mine and _created(r) >= since:
                ours.add(rid)
        removed = 0
        pending = set(ours)
        for _ in range(8):  # parents become removable once their children are gone
            if not pending:
                break
            for rid in sorted(pending, key=lambda i: -_depth(i, parent)):
                try:
                    client.api.prune_builds(filters={"id": [rid]})
                except docker.errors.APIError:
                    continue
            left = {str(r["ID"]) for r in client.df().get("BuildCache") or []}
            removed += len(pending - left)
            pending &= left
        return removed
    finally:
        client.close()


def _depth(record: str, parent: dict[str, str]) -> int:
    depth = 0
    while parent.get(record, "") in parent:
        record = parent[record]
        depth += 1
    return depth


def prune_everything() -> None:
    """``docker builder prune -af``: what a truly cold baseline needs, and what also empties everyone else's cache."""
    subprocess.run([DOCKER, "builder", "prune", "-af"], capture_output=True, check=True)


def remove_buildah_cache_mounts(prefix: str) -> None:
    """buildah keeps ``RUN --mount=type=cache`` directories under /var/tmp/buildah-cache/<id>."""
    if BUILDAH_CACHE.is_dir():
        for entry in BUILDAH_CACHE.glob(prefix + "*"):
            shutil.rmtree(entry, ignore_errors=True)


def remove_buildah_storage(storage: list[str], root: Path) -> None:
    """A private buildah storage (``--root``/``--runroot`` under ``root``): remove its images, then its files."""
    _run(["buildah", *storage, "rm", "--all"])
    _run(["buildah", *storage, "rmi", "--all", "--force"])
    shutil.rmtree(root, ignore_errors=True)
