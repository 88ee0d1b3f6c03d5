"""Read an OCI image archive (``oci-archive`` tar): its manifest, config and layer files, without an engine."""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class OciImage:
    path: Path
    manifest: dict[str, Any]
    config: dict[str, Any]

    @property
    def os(self) -> str:
        return self.config.get("os", "")

    @property
    def architecture(self) -> str:
        return self.config.get("architecture", "")

    @property
    def os_version(self) -> str | None:
        return self.config.get("os.version")

    @property
    def entrypoint(self) -> list[str] | None:
        return self.config.get("config", {}).get("Entrypoint")

    @property
    def cmd(self) -> list[str] | None:
        return self.config.get("config", {}).get("Cmd")

    @property
    def labels(self) -> dict[str, str]:
        return self.config.get("config", {}).get("Labels") or {}

    def layer_files(self) -> dict[str, bytes]:
        """Every regular file in the layers, by path (later layers win), for inspection in tests."""
        files: dict[str, bytes] = {}
        with tarfile.open(self.path) as archive:
            for layer in self.manifest.get("layers", []):
                blob = _blob(archive, layer["digest"])
                with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as contents:
                    for member in contents.getmembers():
                        if member.isfile():
                            extracted = contents.extractfile(member)
                            if extracted is not None:
                                files[member.name.lstrip("./")] = extracted.read()
        return files

    def find_file(self, candidates: list[str]) -> tuple[str, bytes] | None:
        """The first of ``candidates`` (layer paths, compared without case, as Windows does) that a layer holds,
        looking from the top layer down; only that file is read."""
        wanted = [c.strip("/").lower() for c in candidates]
        with tarfile.open(self.path) as archive:
            for layer in reversed(self.manifest.get("layers", [])):
                blob = _blob(archive, layer["digest"])
                with tarfile.open(fileobj=io.BytesIO(blob), mode="r:*") as contents:
                    members = {m.name.lstrip("./").lower(): m for m in contents.getmembers() if m.isfile()}
                    for name in wanted:
                        if name in members:
                            extracted = contents.extractfile(members[name])
                            if extracted is not None:
                                return members[name].name.lstrip("./"), extracted.read()
        return None


def _blob(archive: tarfile.TarFile, digest: str) -> bytes:
    algorithm, _, hex_digest = digest.partition(":")
    member = archive.extractfile(f"blobs/{algorithm}/{hex_digest}")
    if member is None:
        raise ValueError(f"blob {digest} is missing from {archive.name!r}")
    return member.read()


def read(path: Path) -> OciImage:
    """The single image in an OCI archive (the first manifest of its index)."""
    with tarfile.open(path) as archive:
        index_file = archive.extractfile("index.json")
        if index_file is None:
            raise ValueError(f"{path} has no index.json: not an OCI archive")
        index = json.load(index_file)
        descriptor = index["manifests"][0]
        manifest = json.loads(_blob(archive, descriptor["digest"]))
        if "manifests" in manifest:  # a nested index: take its first image
            manifest = json.loads(_blob(archive, manifest["manifests"][0]["digest"]))
        config = json.loads(_blob(archive, manifest["config"]["digest"]))
    return OciImage(path=path, manifest=manifest, config=config)
