"""What each finished action produced, keyed by action id, so an unchanged action can be skipped."""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, action_id: str) -> Path:
        return self.directory / (re.sub(r"[^A-Za-z0-9._-]+", "_", action_id) + ".json")

    def get(self, action_id: str) -> dict[str, Any] | None:
        try:
            return json.loads(self._path(action_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def put(self, action_id: str, fingerprint: str, result: dict[str, Any]) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        payload = json.dumps({"action": action_id, "fingerprint": fingerprint, "result": result}, indent=1)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".record-")
        with os.fdopen(fd, "w") as handle:
            handle.write(payload)
        os.replace(tmp, self._path(action_id))
