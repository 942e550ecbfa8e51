"""An append-only JSON-lines journal of everything the harness created on a target, and how to undo it.

Each creation is one line {"seq", "kind", "name", "within", "undo": {"op", "params"}, "actor"}; a successful
undo appends {"done": seq}. Replaying the pending entries in reverse order removes exactly what was created,
after a crash too (`quay-harness cleanup --run-id`)."""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: str  # user | org | team | repo | robot | grant | membership
    name: str
    within: str | None  # the namespace that contains it (deleting that namespace removes it too)
    undo_op: str
    undo_params: dict[str, str]
    actor: str  # who created it (the identity that can undo it)
    superuser_op: str | None = None  # an undo a superuser can do without the actor (namespaces)

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "kind": self.kind, "name": self.name, "within": self.within,
                "undo": {"op": self.undo_op, "params": self.undo_params, "superuser_op": self.superuser_op},
                "actor": self.actor}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Entry:
        undo = data["undo"]
        return cls(int(data["seq"]), str(data["kind"]), str(data["name"]), data.get("within"), str(undo["op"]),
                   {str(k): str(v) for k, v in undo["params"].items()}, str(data["actor"]),
                   undo.get("superuser_op"))


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._seq = max((e.seq for e in read_entries(path)), default=0) if path.exists() else 0

    def _append(self, record: dict[str, Any]) -> None:
        # One write + flush + fsync per line: a crash right after creating something still leaves its entry.
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())

    def record(self, kind: str, name: str, within: str | None, undo_op: str, undo_params: dict[str, str],
               actor: str, superuser_op: str | None = None) -> Entry:
        with self._lock:
            self._seq += 1
            entry = Entry(self._seq, kind, name, within, undo_op, dict(undo_params), actor, superuser_op)
            self._append(entry.to_json())
        return entry

    def done(self, entry: Entry) -> None:
        with self._lock:
            self._append({"done": entry.seq})

    def pending(self) -> list[Entry]:
        return pending_entries(self.path)


def read_entries(path: Path) -> list[Entry]:
    return [Entry.from_json(r) for r in _records(path) if "seq" in r]


def _records(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            continue  # a line torn by a crash mid-write: everything before it is still good
    return out


def pending_entries(path: Path) -> list[Entry]:
    """Entries not yet undone, in creation order."""
    if not path.exists():
        return []
    records = _records(path)
    done = {int(r["done"]) for r in records if "done" in r}
    return [Entry.from_json(r) for r in records if "seq" in r and int(r["seq"]) not in done]
