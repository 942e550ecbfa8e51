"""Bulk inserts for load seeding: many tags or a long audit history written straight into storage, in batches,
for repositories that already exist. The load tool uses it only against a reference server it started itself
(through harness/server.py); any other target is seeded through its HTTP API.

The rows look like what the API writes (tags on a manifest of the repository, log entries with Quay's kinds
and metadata), but no audit entries are written for the tags themselves, and the caller must make one API
write afterwards: that empties the running server's read cache, which cannot see writes from this process.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from reference_server.storage import Storage
from reference_server.storage import schema as t
from reference_server.storage.registry import now_ms

BATCH = 20_000
# Kinds a busy repository accumulates, with their relative frequency (pulls dominate real audit trails).
_KINDS: tuple[tuple[str, int], ...] = (("pull_repo", 60), ("push_repo", 15), ("create_tag", 10),
                                       ("move_tag", 5), ("delete_tag", 4), ("set_repo_description", 2),
                                       ("change_repo_permission", 2), ("create_robot", 1), ("revert_tag", 1))


class BulkError(ValueError):
    """The named repository, manifest or user does not exist; the message names it."""


def _repository(storage: Storage, repository: str) -> tuple[int, int, str, str]:
    namespace, _, name = repository.partition("/")
    with storage.transaction() as db:
        repo = db.repository(namespace, name)
    if repo is None:
        raise BulkError(f"repository {repository} does not exist")
    return repo.id, repo.namespace_id, repo.namespace, repo.name


def insert_tags(storage: Storage, repository: str, names: Sequence[str], manifest_digest: str, *,
                advance: Callable[[int], None] = lambda n: None) -> int:
    """Live tags `names` on one manifest already in the repository, one second apart and ending now, in the
    given order (so the newest is the last name). Returns how many were written."""
    repo_id, _, _, _ = _repository(storage, repository)
    with storage.transaction() as db:
        manifest = db.manifest_by_digest(repo_id, manifest_digest)
    if manifest is None:
        raise BulkError(f"manifest {manifest_digest} is not in {repository}")
    first = now_ms() - len(names) * 1000
    for offset in range(0, len(names), BATCH):
        chunk = names[offset:offset + BATCH]
        rows = [{"repository_id": repo_id, "name": name, "manifest_id": manifest.id,
                 "lifetime_start_ms": first + (offset + i) * 1000, "lifetime_end_ms": None, "reversion": False,
                 "hidden": False, "immutable": False} for i, name in enumerate(chunk)]
        with storage.transaction() as db:
            db.conn.execute(insert(t.tag), rows)
        advance(len(chunk))
    return len(names)


def _metadata(kind: str, namespace: str, repo: str, index: int, performer: str) -> dict[str, Any]:
    tag = f"t{index % 1000:06d}"
    if kind in ("pull_repo", "push_repo"):
        return {"repo": repo, "namespace": namespace, "tag": tag}
    if kind in ("create_tag", "move_tag", "revert_tag"):
        return {"username": performer, "repo": repo, "namespace": namespace, "tag": tag,
                "manifest_digest": "sha256:" + f"{index:064x}"[-64:]}
    if kind == "delete_tag":
        return {"username": performer, "repo": repo, "namespace": namespace, "tag": tag}
    if kind == "set_repo_description":
        return {"repo": repo, "namespace": namespace, "description": f"description {index}"}
    if kind == "change_repo_permission":
        return {"username": performer, "repo": repo, "namespace": namespace, "role": "write"}
    return {"robot": f"{namespace}+bot{index % 10}", "repo": repo, "namespace": namespace}


def insert_log_history(storage: Storage, repository: str, count: int, performer: str, *, days: int = 60,
                       seed: int = 0, advance: Callable[[int], None] = lambda n: None) -> int:
    """`count` audit entries of the repository (and so of its namespace), spread evenly over the last `days`
    days up to now, newest last, by `performer` (one pull in five anonymous, as public pulls are), with kinds
    and metadata shaped as the API writes them. Deterministic for a given seed. Returns how many were written."""
    repo_id, namespace_id, namespace, name = _repository(storage, repository)
    with storage.transaction() as db:
        user = db.user_by_name(performer)
    if user is None:
        raise BulkError(f"user {performer} does not exist")
    rng = random.Random(f"{seed}:{repository}")
    kinds = [k for k, _ in _KINDS]
    weights = [w for _, w in _KINDS]
    end = datetime.now(UTC) - timedelta(seconds=1)
    step = timedelta(days=days) / max(1, count)
    first = end - step * count
    for offset in range(0, count, BATCH):
        size = min(BATCH, count - offset)
        picked = rng.choices(kinds, weights, k=size)
        rows = []
        for i, kind in enumerate(picked, start=offset):
            anonymous = kind == "pull_repo" and i % 5 == 0
            rows.append({"kind": kind, "account_id": namespace_id, "performer_id": None if anonymous else user.id,
                         "repository_id": repo_id, "ip": f"10.{i % 7}.{i % 251}.{i % 13 + 1}",
                         "datetime": first + step * (i + 1),
                         "metadata": _metadata(kind, namespace, name, i, user.username)})
        with storage.transaction() as db:
            db.conn.execute(insert(t.log_entry), rows)
        advance(size)
    return count
