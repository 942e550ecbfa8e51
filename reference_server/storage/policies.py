"""Auto-prune and tag-immutability policies, the auto-prune task queue, and the tag rules both apply
(a mixin of Db).

Both kinds of policy exist per namespace (no repository) or per repository. Their config is kept under Quay's
own keys (`method`, `value`, `tag_pattern`, `tag_pattern_matches`) so views and audit metadata read straight
from it. The pure functions at the top are the rules Quay's model layer enforces; they raise `PolicyError`
with Quay's message, which the API turns into its 400.

Pattern semantics differ on purpose, as in Quay: auto-prune patterns are searched anywhere in the tag name
(Quay runs them through the database's unanchored regex operator), immutability patterns must match the
whole name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from sqlalchemy import Table, and_, delete, insert, or_, select, update

from reference_server.storage import schema as t
from reference_server.storage.base import BaseQueries, inserted_id, new_uuid
from reference_server.storage.registry import TagRecord, now_ms

PolicyKind = Literal["autoprune", "immutability"]

NUMBER_OF_TAGS = "number_of_tags"
CREATION_DATE = "creation_date"
AUTOPRUNE_METHODS = (NUMBER_OF_TAGS, CREATION_DATE)
MAX_IMMUTABILITY_PATTERN = 256

# Quay's duration strings for creation_date: `m` is minutes (not months) and a year is 365 days.
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}

# Cosign/sigstore artifacts stored as tags next to the image they sign: `sha256-<hex>.sig` and friends.
# Pruning them on their own would orphan signatures, so the pruner never selects them.
_SIGNATURE_TAG = re.compile(r"sha(?:256|384|512)-[0-9a-f]{32,128}\.(?:sig|att|sbom)")

_TABLES: dict[str, Table] = {"autoprune": t.autoprune_policy, "immutability": t.immutability_policy}


class PolicyError(ValueError):
    """A policy Quay's model layer refuses; str(error) is Quay's message (answered as a 400)."""


# ---- the rules ---------------------------------------------------------------------------------------------


def creation_date_seconds(value: object) -> int | None:
    """Seconds of a creation_date value such as `7d`, or None when Quay would refuse it. The number part
    goes through int() as in Quay, so signs and surrounding blanks are accepted too."""
    if not isinstance(value, str) or len(value) < 2 or value[-1] not in _DURATION_UNITS:
        return None
    try:
        return int(value[:-1]) * _DURATION_UNITS[value[-1]]
    except ValueError:
        return None


def validate_autoprune_config(config: dict[str, Any]) -> None:
    method = config.get("method")
    if method not in AUTOPRUNE_METHODS:
        raise PolicyError("Invalid method provided")
    value = config.get("value")
    if method == NUMBER_OF_TAGS:
        # A JSON integer only: the string "10" is refused (and a boolean is not a count).
        valid = isinstance(value, int) and not isinstance(value, bool) and value > 0
    else:
        valid = bool(value) and creation_date_seconds(value) is not None
    if not valid:
        raise PolicyError("Invalid value given for method type")
    pattern = config.get("tag_pattern")
    if pattern is not None:
        if not isinstance(pattern, str):
            raise PolicyError("tag_pattern must be string")
        if pattern == "":
            raise PolicyError("tag_pattern cannot be empty")
    matches = config.get("tag_pattern_matches")
    if matches is not None and not isinstance(matches, bool):
        raise PolicyError("tag_pattern_matches must be bool")


def validate_immutability_config(config: dict[str, Any]) -> None:
    pattern = config.get("tag_pattern")
    if not pattern or not isinstance(pattern, str):
        raise PolicyError("tag_pattern is required and must be a non-empty string")
    if len(pattern) > MAX_IMMUTABILITY_PATTERN:
        raise PolicyError(f"tag_pattern must be {MAX_IMMUTABILITY_PATTERN} characters or less")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise PolicyError(f"Invalid regex pattern: {exc}") from exc
    matches = config.get("tag_pattern_matches")
    if matches is not None and not isinstance(matches, bool):
        raise PolicyError("tag_pattern_matches must be a boolean")


def same_autoprune_policy(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Quay refuses a second policy only when every setting is identical."""
    return (a.get("method") == b.get("method") and a.get("value") == b.get("value")
            and a.get("tag_pattern") == b.get("tag_pattern")
            and a.get("tag_pattern_matches", True) == b.get("tag_pattern_matches", True))


def same_immutability_policy(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.get("tag_pattern") == b.get("tag_pattern") and \
        a.get("tag_pattern_matches", True) == b.get("tag_pattern_matches", True)


@lru_cache(maxsize=512)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def prune_selects(tag_name: str, pattern: str | None, matches: bool | None) -> bool:
    """Whether an auto-prune policy may prune this tag: no pattern selects every tag; otherwise an
    unanchored search, inverted when tag_pattern_matches is false. Raises re.error for a bad pattern."""
    if pattern is None:
        return True
    found = _compiled(pattern).search(tag_name) is not None
    return found if matches is not False else not found


def immutability_selects(tag_name: str, pattern: str | None, matches: bool | None) -> bool:
    """Whether an immutability policy makes this tag immutable: the pattern must match the whole name."""
    if not pattern:
        return False
    try:
        found = _compiled(pattern).fullmatch(tag_name) is not None
    except re.error:
        return False
    return found if matches is not False else not found


def is_signature_tag(name: str) -> bool:
    return _SIGNATURE_TAG.fullmatch(name) is not None


# ---- records ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PolicyRecord:
    id: int
    uuid: str
    namespace_id: int
    repository_id: int | None
    config: dict[str, Any]

    @property
    def method(self) -> str | None:
        value = self.config.get("method")
        return value if isinstance(value, str) else None

    @property
    def tag_pattern(self) -> str | None:
        value = self.config.get("tag_pattern")
        return value if isinstance(value, str) else None

    @property
    def tag_pattern_matches(self) -> bool:
        return self.config.get("tag_pattern_matches", True) is not False

    def autoprune_view(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "method": self.config.get("method"), "value": self.config.get("value"),
                "tagPattern": self.config.get("tag_pattern"),
                "tagPatternMatches": self.config.get("tag_pattern_matches", True)}

    def immutability_view(self) -> dict[str, Any]:
        return {"uuid": self.uuid, "tagPattern": self.config.get("tag_pattern"),
                "tagPatternMatches": self.config.get("tag_pattern_matches", True)}


@dataclass(frozen=True)
class AutoPruneTask:
    namespace_id: int
    last_ran_ms: int | None
    status: str


def _policy(row: Any) -> PolicyRecord:
    m = row._mapping
    return PolicyRecord(id=m["id"], uuid=m["uuid"], namespace_id=m["namespace_id"],
                        repository_id=m["repository_id"], config=dict(m["policy"] or {}))


def _tag_record(row: Any) -> TagRecord:
    m = row._mapping
    return TagRecord(id=m["id"], repository_id=m["repository_id"], name=m["name"], manifest_id=m["manifest_id"],
                     lifetime_start_ms=int(m["lifetime_start_ms"]),
                     lifetime_end_ms=None if m["lifetime_end_ms"] is None else int(m["lifetime_end_ms"]),
                     reversion=bool(m["reversion"]), hidden=bool(m["hidden"]), immutable=bool(m["immutable"]))


def _live_visible(at_ms: int) -> Any:
    return and_(t.tag.c.hidden.is_(False),
                or_(t.tag.c.lifetime_end_ms.is_(None), t.tag.c.lifetime_end_ms > at_ms))


class PolicyQueries(BaseQueries):
    # ---- policies (both kinds) ------------------------------------------------------------------------

    def policies(self, kind: PolicyKind, namespace_id: int, repository_id: int | None = None) -> list[PolicyRecord]:
        """The namespace's own policies (repository_id None) or one repository's, oldest first."""
        table = _TABLES[kind]
        owner = table.c.repository_id.is_(None) if repository_id is None else table.c.repository_id == repository_id
        rows = self.conn.execute(select(table).where(table.c.namespace_id == namespace_id, owner)
                                 .order_by(table.c.id)).all()
        return [_policy(r) for r in rows]

    def policy(self, kind: PolicyKind, uuid: str, namespace_id: int,
               repository_id: int | None = None) -> PolicyRecord | None:
        return next((p for p in self.policies(kind, namespace_id, repository_id) if p.uuid == uuid), None)

    def create_policy(self, kind: PolicyKind, namespace_id: int, repository_id: int | None,
                      config: dict[str, Any]) -> PolicyRecord:
        """Store a validated policy. An auto-prune policy also queues its namespace for the prune worker,
        as Quay's AutoPruneTaskStatus does."""
        table = _TABLES[kind]
        policy_id = inserted_id(self.conn.execute(insert(table).values(
            uuid=new_uuid(), namespace_id=namespace_id, repository_id=repository_id, policy=config)))
        if kind == "autoprune":
            self.ensure_autoprune_task(namespace_id)
        return _policy(self.conn.execute(select(table).where(table.c.id == policy_id)).one())

    def update_policy(self, kind: PolicyKind, policy_id: int, config: dict[str, Any]) -> None:
        table = _TABLES[kind]
        self.conn.execute(update(table).where(table.c.id == policy_id).values(policy=config))

    def delete_policy(self, kind: PolicyKind, policy_id: int) -> None:
        table = _TABLES[kind]
        self.conn.execute(delete(table).where(table.c.id == policy_id))

    def repository_autoprune_policies(self, namespace_id: int) -> dict[int, list[PolicyRecord]]:
        """Every repository-level auto-prune policy of a namespace, by repository id."""
        table = t.autoprune_policy
        rows = self.conn.execute(select(table).where(table.c.namespace_id == namespace_id,
                                                     table.c.repository_id.is_not(None))
                                 .order_by(table.c.id)).all()
        out: dict[int, list[PolicyRecord]] = {}
        for row in rows:
            record = _policy(row)
            assert record.repository_id is not None
            out.setdefault(record.repository_id, []).append(record)
        return out

    def has_autoprune_policies(self, namespace_id: int) -> bool:
        return self.conn.execute(select(t.autoprune_policy.c.id)
                                 .where(t.autoprune_policy.c.namespace_id == namespace_id).limit(1)).first() \
            is not None

    # ---- the auto-prune task queue --------------------------------------------------------------------

    def ensure_autoprune_task(self, namespace_id: int) -> None:
        if self.autoprune_task(namespace_id) is None:
            self.conn.execute(insert(t.autoprune_task).values(namespace_id=namespace_id, last_ran_ms=None,
                                                              status="queued"))

    def autoprune_task(self, namespace_id: int) -> AutoPruneTask | None:
        task = t.autoprune_task
        row = self.conn.execute(select(task.c.namespace_id, task.c.last_ran_ms, task.c.status)
                                .where(task.c.namespace_id == namespace_id)).first()
        if row is None:
            return None
        return AutoPruneTask(row[0], None if row[1] is None else int(row[1]), row[2])

    def claim_autoprune_tasks(self, at_ms: int, min_interval_ms: int, limit: int) -> list[int]:
        """Take up to `limit` due tasks (never run, or last run before at_ms - min_interval_ms), never-run
        first then oldest run first, skipping disabled namespaces. Claiming stamps last_ran_ms so the same
        namespace is not taken again within the interval."""
        task = t.autoprune_task
        disabled = select(t.user.c.id).where(t.user.c.enabled.is_(False))
        rows = self.conn.execute(
            select(task.c.namespace_id)
            .where(task.c.namespace_id.not_in(disabled),
                   or_(task.c.last_ran_ms.is_(None), task.c.last_ran_ms < at_ms - min_interval_ms))
            # NULL first on both backends: order by "is it null" before the value.
            .order_by(task.c.last_ran_ms.is_not(None), task.c.last_ran_ms, task.c.id)
            .limit(limit)).all()
        claimed = [int(r[0]) for r in rows]
        if claimed:
            self.conn.execute(update(task).where(task.c.namespace_id.in_(claimed))
                              .values(last_ran_ms=at_ms, status="running"))
        return claimed

    def set_autoprune_task_status(self, namespace_id: int, status: str) -> None:
        self.conn.execute(update(t.autoprune_task).where(t.autoprune_task.c.namespace_id == namespace_id)
                          .values(status=status))

    def delete_autoprune_task(self, namespace_id: int) -> None:
        self.conn.execute(delete(t.autoprune_task).where(t.autoprune_task.c.namespace_id == namespace_id))

    # ---- what the pruner looks at ---------------------------------------------------------------------

    def normal_repositories(self, namespace_id: int) -> list[tuple[int, str]]:
        """(id, name) of the namespace's repositories in state NORMAL: the only ones Quay prunes."""
        rows = self.conn.execute(select(t.repository.c.id, t.repository.c.name)
                                 .where(t.repository.c.namespace_id == namespace_id,
                                        t.repository.c.state == "NORMAL")
                                 .order_by(t.repository.c.id)).all()
        return [(int(r[0]), str(r[1])) for r in rows]

    def active_namespaces(self) -> list[int]:
        """Enabled users and organizations (robots own nothing), for the registry-wide default policy."""
        rows = self.conn.execute(select(t.user.c.id).where(t.user.c.enabled.is_(True), t.user.c.robot.is_(False))
                                 .order_by(t.user.c.id)).all()
        return [int(r[0]) for r in rows]

    def prune_candidates(self, repo_id: int, at_ms: int) -> list[TagRecord]:
        """Tags an auto-prune policy may remove: live, visible, mutable and not signature artifacts,
        newest first (lifetime start desc; the later row first on a tie)."""
        rows = self.conn.execute(
            select(t.tag).where(t.tag.c.repository_id == repo_id, t.tag.c.immutable.is_(False), _live_visible(at_ms))
            .order_by(t.tag.c.lifetime_start_ms.desc(), t.tag.c.id.desc())).all()
        return [tag for tag in map(_tag_record, rows) if not is_signature_tag(tag.name)]

    # ---- immutability --------------------------------------------------------------------------------

    def mark_immutable_by_policy(self, namespace_id: int, repository_id: int | None, pattern: str,
                                 matches: bool, at_ms: int | None = None) -> int:
        """Apply one immutability policy to the live tags already there (of one repository, or of the whole
        namespace); returns how many tags it newly made immutable. Deleting a policy never undoes this."""
        at = now_ms() if at_ms is None else at_ms
        query = select(t.tag.c.id, t.tag.c.name).where(t.tag.c.immutable.is_(False), _live_visible(at))
        if repository_id is not None:
            query = query.where(t.tag.c.repository_id == repository_id)
        else:
            in_namespace = select(t.repository.c.id).where(t.repository.c.namespace_id == namespace_id)
            query = query.where(t.tag.c.repository_id.in_(in_namespace))
        ids = [int(r[0]) for r in self.conn.execute(query).all() if immutability_selects(r[1], pattern, matches)]
        for start in range(0, len(ids), 500):
            self.conn.execute(update(t.tag).where(t.tag.c.id.in_(ids[start:start + 500])).values(immutable=True))
        return len(ids)

    def matching_immutability_policy(self, namespace_id: int, repo_id: int, tag_name: str) -> PolicyRecord | None:
        """The first policy that makes this tag name immutable: the repository's own policies first, then the
        namespace's, as Quay evaluates them."""
        for record in (*self.policies("immutability", namespace_id, repo_id),
                       *self.policies("immutability", namespace_id)):
            if immutability_selects(tag_name, record.tag_pattern, record.tag_pattern_matches):
                return record
        return None

    def apply_immutability_policies(self, repo_id: int, tag_name: str) -> bool:
        """The hook for new tags (registry push, tag create/move/restore): after the tag's new live row is
        written, mark it immutable when a repository or namespace immutability policy selects its name, and
        record `tag_made_immutable_by_policy`. Returns whether it did. Call it in the same transaction, and
        only when FEATURE_IMMUTABLE_TAGS is on."""
        repo = self.repository_by_id(repo_id)
        if repo is None:
            return False
        tag = self.conn.execute(
            select(t.tag.c.id, t.tag.c.immutable)
            .where(t.tag.c.repository_id == repo_id, t.tag.c.name == tag_name, _live_visible(now_ms()))
            .order_by(t.tag.c.lifetime_start_ms.desc(), t.tag.c.id.desc())).first()
        if tag is None or tag[1]:
            return False
        record = self.matching_immutability_policy(repo.namespace_id, repo_id, tag_name)
        if record is None:
            return False
        self.conn.execute(update(t.tag).where(t.tag.c.id == tag[0]).values(immutable=True))
        self.write_log("tag_made_immutable_by_policy", account_id=repo.namespace_id, performer_id=None,
                       repository_id=repo_id, ip=None,
                       metadata={"namespace": repo.namespace, "repo": repo.name, "tag": tag_name,
                                 "tag_pattern": record.tag_pattern,
                                 "tag_pattern_matches": record.tag_pattern_matches})
        return True


def apply_immutability_policies(db: PolicyQueries, repo_id: int, tag_name: str) -> bool:
    """Module-level form of `PolicyQueries.apply_immutability_policies` for callers holding a Db."""
    return db.apply_immutability_policies(repo_id, tag_name)
