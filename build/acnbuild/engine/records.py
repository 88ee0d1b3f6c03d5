"""What each finished action produced, keyed by action id, so an unchanged action can be skipped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..atomic import atomic_write
from ..paths import file_name


class RecordStore:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, action_id: str) -> Path:
        return self.directory / f"{file_name(action_id)}.json"

    def get(self, action_id: str) -> dict[str, Any] | None:
        try:
            record = json.loads(self.path(action_id).read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return record if isinstance(record, dict) and record.get("action") == action_id else None

    def put(self, action_id: str, fingerprint: str, result: dict[str, Any]) -> None:
        payload = json.dumps({"action": action_id, "fingerprint": fingerprint, "result": result}, indent=1)
        atomic_write(self.path(action_id), payload)
