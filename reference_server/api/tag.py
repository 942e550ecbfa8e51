"""The tags of a repository (discovery tag `tag`): the history list, create/move/expire/lock, soft delete,
restore, taking versions out of the time machine, and pull statistics.

Tags are versioned rows with a lifetime [start, end) in epoch milliseconds (see storage/registry.py); the API
shows them in epoch seconds and RFC 2822 dates.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from typing import Any

from reference_server.auth.scopes import RepoRole, Scope
from reference_server.config import duration_seconds
from reference_server.core.context import Ctx
from reference_server.core.errors import (
    BAD_JSON_MESSAGE,
    ApiError,
    MessageError,
    Unauthorized,
    data_model_error,
    invalid_request,
    not_found,
)
from reference_server.core.operation import (
    REPOSITORY,
    Body,
    Operation,
    RepoPermission,
    path_param,
    query_param,
)
from reference_server.core.render import Reply
from reference_server.domain.models import Repository
from reference_server.domain.names import TAG_ERROR, valid_tag_name
from reference_server.storage.registry import ChildPresence, TagPageRow, TagRecord, now_ms

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100
REPO_TAGS_LIMIT = 500  # getRepo's tag map holds at most this many active tags
FILTER_SYNTAX_ERROR = ("Unsupported syntax for filter_tag_name. Expected <operation>:<tag_name> where "
                       "<operation>can be 'like' or 'eq'.")
# The latest instant Python's datetime (and so Quay) can represent; later expirations are refused.
_MAX_TIMESTAMP_S = 253402300799


# ---- shared checks (also used by api/manifest.py) ------------------------------------------------------


def refuse_non_normal(ctx: Ctx) -> None:
    """Writes to tags and labels of a read-only or mirrored repository answer 503, after the permission check."""
    repo = ctx.repo
    if repo is not None and repo.state != "NORMAL":
        raise MessageError(503, f"Repository is in read only or mirror mode: RepositoryState.{repo.state}")


def refuse_restricted_namespace(ctx: Ctx) -> None:
    """A restricted user may not change tags or labels in their own namespace."""
    user = ctx.user
    namespace = ctx.namespace
    if user is None or namespace is None or namespace.id != user.id:
        return
    if not ctx.config.feature("RESTRICTED_USERS") or ctx.is_superuser():
        return
    # Everyone is restricted unless whitelisted (all users when there is no whitelist).
    whitelist = ctx.config.restricted_users_whitelist
    if whitelist is None or user.username not in whitelist:
        raise MessageError(403, "Operation not allowed on restricted user owned namespace")


WRITE_GUARDS = (refuse_non_normal, refuse_restricted_namespace)


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAY_PREFIXES: dict[int, str] = {}  # day number since the epoch -> "Fri, 27 Nov 2026 "


def _date(ms: int) -> str:
    """RFC 2822 text of an epoch-milliseconds instant, exactly `format_date(datetime.fromtimestamp(ms // 1000,
    tz=UTC))` (Quay's `-0000` zone) without the detours through datetime and email.utils: the tag list formats
    up to two dates per row. The day part is remembered, as tags often share days."""
    day, second = divmod(ms // 1000, 86400)
    prefix = _DAY_PREFIXES.get(day)
    if prefix is None:
        tm = time.gmtime(day * 86400)
        prefix = f"{_WEEKDAYS[tm.tm_wday]}, {tm.tm_mday:02d} {_MONTHS[tm.tm_mon - 1]} {tm.tm_year:04d} "
        if len(_DAY_PREFIXES) >= 10_000:
            _DAY_PREFIXES.clear()
        _DAY_PREFIXES[day] = prefix
    hour, rest = divmod(second, 3600)
    minute, sec = divmod(rest, 60)
    return f"{prefix}{hour:02d}:{minute:02d}:{sec:02d} -0000"


def _immutable_enforced(ctx: Ctx, tag: TagRecord) -> bool:
    """Immutability only blocks changes while FEATURE_IMMUTABLE_TAGS is on, as in Quay's data layer."""
    return tag.immutable and ctx.config.feature("IMMUTABLE_TAGS")


def _username(ctx: Ctx) -> str | None:
    return ctx.user.username if ctx.user is not None else None


# ---- listRepoTags ---------------------------------------------------------------------------------------


def _parse_filter(value: str | None) -> tuple[str | None, str | None]:
    """(exact name, substring) from `like:<text>` / `eq:<name>`; another operation filters nothing."""
    if not value:
        return None, None
    operation, sep, text = value.partition(":")
    if not sep:
        raise MessageError(400, FILTER_SYNTAX_ERROR)
    if operation == "like":
        return None, text
    if operation == "eq":
        return text, None
    return None, None


def tag_item(row: TagPageRow, children: dict[int, list[ChildPresence]], immutable_feature: bool) -> dict[str, Any]:
    """One version of a tag as listRepoTags shows it (keys in Quay's order)."""
    _id, name, manifest_id, start_ms, end_ms, reversion, immutable, digest, _media, is_list, size = row
    start_s = start_ms // 1000
    if start_s > 0 and end_ms is None and not immutable_feature and not is_list:
        # The common shape (a live tag without expiration), built in one go.
        return {"name": name, "reversion": reversion, "start_ts": start_s, "manifest_digest": digest,
                "is_manifest_list": False, "size": size, "last_modified": _date(start_ms)}
    item: dict[str, Any] = {"name": name, "reversion": reversion}
    if immutable_feature:
        item["immutable"] = immutable
    if start_s > 0:
        item["start_ts"] = start_s
    if end_ms is not None and end_ms // 1000 > 0:
        item["end_ts"] = end_ms // 1000
    item["manifest_digest"] = digest
    item["is_manifest_list"] = is_list
    item["size"] = size
    if start_s > 0:
        item["last_modified"] = _date(start_ms)
    if end_ms is not None:
        item["expiration"] = _date(end_ms)
    if is_list:
        entries = children.get(manifest_id, [])
        present = sum(1 for c in entries if c.present)
        item["is_sparse"] = present < len(entries)
        item["child_manifest_count"] = len(entries)
        item["present_child_count"] = present
        item["child_manifests_presence"] = {c.digest: c.present for c in entries}
    return item


def list_repo_tags(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    q = ctx.query
    page = max(1, q["page"])
    limit = min(MAX_PAGE_SIZE, max(1, q["limit"]))
    exact, contains = _parse_filter(q["filter_tag_name"])
    specific = q["specificTag"] or None
    # specificTag and eq: are both exact-name filters; given both with different names, nothing matches.
    if specific is not None and exact is not None and specific != exact:
        return {"tags": [], "page": page, "has_additional": False}
    only_active = bool(q["onlyActiveTags"])
    immutable_feature = ctx.config.feature("IMMUTABLE_TAGS")
    at = now_ms()

    def compute() -> tuple[bytes, float]:
        # One index-ordered query for the page plus one row that tells whether another page exists, manifest
        # columns joined in; manifest-list children come in one batch for the whole page (only when it has lists).
        rows = ctx.db.tag_page_rows(repo.id, offset=(page - 1) * limit, limit=limit + 1, only_active=only_active,
                                    name=specific or exact, name_contains=contains, at_ms=at)
        has_more = len(rows) > limit
        rows = rows[:limit]
        lists = [r[2] for r in rows if r[9]]
        children = ctx.db.manifest_list_children(repo.id, lists) if lists else {}
        body = {"tags": [tag_item(r, children, immutable_feature) for r in rows], "page": page,
                "has_additional": has_more}
        # A history page changes only through writes; a page of live tags also when one of them expires.
        until = ctx.db.next_tag_expiry_ms(repo.id, at) if only_active else math.inf
        return json.dumps(body).encode(), until

    # Read requests share rendered pages through the read cache, which every write empties.
    key = ("tag_page", repo.id, page, limit, only_active, specific, exact, contains, immutable_feature)
    raw, until = ctx.db._cached_entry_until(key, compute, at)
    return Reply(raw=raw, shared_until_ms=until)


def repo_tag_map(ctx: Ctx, repo: Repository) -> dict[str, Any]:
    """getRepo's `tags`: the active tags (at most 500, newest first) by name. Read requests share it through the
    read cache until a write empties the cache or the first of these tags expires."""
    at = now_ms()

    def compute() -> tuple[dict[str, Any], float]:
        rows = ctx.db.tag_page_rows(repo.id, offset=0, limit=REPO_TAGS_LIMIT, only_active=True)
        out: dict[str, Any] = {}
        until = float("inf")
        for _id, name, _manifest_id, start_ms, end_ms, _reversion, _immutable, digest, _media, _is_list, size in rows:
            if name in out:
                continue
            view: dict[str, Any] = {"name": name, "size": size, "last_modified": _date(start_ms)}
            if end_ms is not None:
                view["expiration"] = _date(end_ms)
                until = min(until, end_ms)
            view["manifest_digest"] = digest
            out[name] = view
        return out, until

    # Copies, because the caller adds the map to a response it may change.
    return dict(ctx.db._cached_until(("repo_tags", repo.id), compute, at))


def last_modified_by_repo(ctx: Ctx, repo_ids: list[int]) -> dict[int, int]:
    """listRepos' `last_modified`: the start (epoch seconds) of each repository's newest live tag."""
    return {rid: ms // 1000 for rid, ms in ctx.db.latest_tag_starts(repo_ids).items()}


# ---- changeTag ------------------------------------------------------------------------------------------


def _live_or_404(ctx: Ctx, repo: Repository, name: str) -> TagRecord:
    tag = ctx.db.live_tag(repo.id, name)
    if tag is None:
        raise not_found()
    return tag


def _change_expiration(ctx: Ctx, repo: Repository, name: str, value: Any) -> None:
    tag = _live_or_404(ctx, repo, name)
    wanted_s: int | None = None
    if value is not None:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds > _MAX_TIMESTAMP_S or seconds < -_MAX_TIMESTAMP_S:
            raise MessageError(400, BAD_JSON_MESSAGE)
        if seconds <= time.time():
            raise MessageError(400, BAD_JSON_MESSAGE)
        wanted_s = int(seconds)
        if _immutable_enforced(ctx, tag) and not ctx.config.feature("IMMUTABLE_TAGS_CAN_EXPIRE"):
            raise data_model_error(f"Cannot set expiration on immutable tag '{name}'")
    new_end: int | None = None
    if wanted_s is not None:
        # Quay keeps an expiration between one hour and two years after the tag's start (both configurable).
        low = duration_seconds(str(ctx.config.raw.get("LABELED_EXPIRATION_MINIMUM", "1h")))
        high = duration_seconds(str(ctx.config.raw.get("LABELED_EXPIRATION_MAXIMUM", "104w")))
        offset = min(max(wanted_s - tag.lifetime_start_ms // 1000, low), high)
        new_end = tag.lifetime_start_ms + offset * 1000
    previous: int | None = None
    if new_end != tag.lifetime_end_ms:
        previous = tag.lifetime_end_ms
        ctx.db.set_tag_end(tag.id, new_end)
    if previous is None and wanted_s is None:
        return
    ctx.log("change_tag_expiration", namespace=ctx.namespace, repo=repo, metadata={
        "username": _username(ctx), "repo": repo.name, "tag": name, "namespace": repo.namespace,
        "expiration_date": wanted_s, "old_expiration_date": previous})


def _change_immutability(ctx: Ctx, repo: Repository, name: str, value: bool) -> None:
    tag = _live_or_404(ctx, repo, name)
    if tag.immutable and not value and not (ctx.repo_role(repo) >= RepoRole.ADMIN or ctx.has_full_access()):
        # Locking needs write; unlocking needs admin on the repository.
        raise Unauthorized()
    if tag.immutable == value:
        return
    ctx.db.set_tag_immutable(tag.id, value)
    ctx.log("change_tag_immutability", namespace=ctx.namespace, repo=repo, metadata={
        "username": _username(ctx), "repo": repo.name, "tag": name, "namespace": repo.namespace,
        "immutable": value})


def _retarget(ctx: Ctx, repo: Repository, name: str, digest: Any, *, reversion: bool) -> tuple[str | None, str]:
    """Point the tag at a manifest of this repository: (previous manifest digest, new digest). Moving a tag needs a
    manifest some live tag still reaches; restoring may bring back one that only ended tags reach."""
    manifest = ctx.db.manifest_by_digest(repo.id, digest) if isinstance(digest, str) else None
    if manifest is None or (not reversion and not ctx.db.manifest_is_alive(repo.id, manifest.id)):
        raise not_found()
    existing = ctx.db.live_tag(repo.id, name)
    if existing is not None and _immutable_enforced(ctx, existing):
        raise ApiError("tag_immutable", f"Cannot {'restore' if reversion else 'retarget'} immutable tag '{name}'")
    previous_digest: str | None = None
    if existing is not None:
        found = ctx.db.manifest_by_id(existing.manifest_id)
        previous_digest = found.digest if found is not None else None
    # Quay ends the live version and starts a new one even when the manifest does not change.
    at = now_ms()
    if existing is not None:
        ctx.db.end_tag(existing.id, at)
    ctx.db.set_tag(repo.id, name, manifest.id, reversion=reversion, at_ms=at)
    if ctx.config.feature("IMMUTABLE_TAGS"):
        # Immutability policies cover tags created or moved after them too.
        ctx.db.apply_immutability_policies(repo.id, name)
    return previous_digest, manifest.digest


def change_tag(ctx: Ctx, repository: str, tag: str) -> Any:
    if not valid_tag_name(tag):
        raise MessageError(400, TAG_ERROR)
    repo = ctx.repository()
    body: dict[str, Any] = ctx.body or {}
    # Quay applies the fields in this order, each committed before the next can fail.
    if "expiration" in body:
        _change_expiration(ctx, repo, tag, body["expiration"])
    if "immutable" in body:
        _change_immutability(ctx, repo, tag, bool(body["immutable"]))
    if "manifest_digest" in body:
        existed = ctx.db.live_tag(repo.id, tag) is not None
        previous, digest = _retarget(ctx, repo, tag, body["manifest_digest"], reversion=False)
        ctx.log("move_tag" if existed else "create_tag", namespace=ctx.namespace, repo=repo, metadata={
            "username": _username(ctx), "repo": repo.name, "tag": tag, "namespace": repo.namespace,
            "manifest_digest": digest, "original_manifest_digest": previous})
    return "Updated"


# ---- deleteFullTag / restoreTag / removeTagFromTimemachine -----------------------------------------------


def delete_full_tag(ctx: Ctx, repository: str, tag: str) -> Any:
    repo = ctx.repository()
    live = _live_or_404(ctx, repo, tag)
    if _immutable_enforced(ctx, live):
        raise ApiError("tag_immutable", f"Cannot delete immutable tag '{tag}'")
    at = now_ms()
    ctx.db.end_tag(live.id, at)
    # The children of a manifest list were kept alive by temporary tags; they expire with it.
    ctx.db.expire_hidden_child_tags(repo.id, live.manifest_id, at)
    ctx.log("delete_tag", namespace=ctx.namespace, repo=repo, metadata={
        "username": _username(ctx), "repo": repo.name, "namespace": repo.namespace, "tag": tag})
    return Reply(status=204)


def restore_tag(ctx: Ctx, repository: str, tag: str) -> Any:
    repo = ctx.repository()
    body: dict[str, Any] = ctx.body or {}
    digest = body.get("manifest_digest")
    if digest is None:
        raise invalid_request("Missing manifest_digest")
    _retarget(ctx, repo, tag, digest, reversion=True)
    ctx.log("revert_tag", namespace=ctx.namespace, repo=repo, metadata={
        "username": _username(ctx), "repo": repo.name, "tag": tag, "manifest_digest": digest})
    return {}


def remove_tag_from_timemachine(ctx: Ctx, repository: str, tag: str) -> Any:
    repo = ctx.repository()
    namespace = ctx.namespace
    assert namespace is not None
    body: dict[str, Any] = ctx.body or {}
    is_alive = bool(body.get("is_alive", False))
    digest = body.get("manifest_digest")
    window_ms = namespace.tag_expiration_s * 1000
    at = now_ms()
    manifest_id: int | None = None
    updated = False
    if is_alive:
        live = ctx.db.live_tag(repo.id, tag, at)
        if live is not None:
            if _immutable_enforced(ctx, live):
                raise ApiError("tag_immutable", f"Cannot delete immutable tag '{tag}'")
            # Ending it one window ago makes it unrecoverable at once (eligible for garbage collection).
            ctx.db.set_tag_end(live.id, at - window_ms)
            manifest_id = live.manifest_id
            updated = True
    else:
        if not digest:
            raise invalid_request("manifest_digest required when is_alive is false")
        manifest = ctx.db.manifest_by_digest(repo.id, digest)
        if manifest is None:
            raise not_found()
        manifest_id = manifest.id
        if window_ms > 0:
            ids = ctx.db.tag_versions_in_window(repo.id, tag, manifest.id, since_ms=at - window_ms, until_ms=at)
            # Distinct ends, one millisecond apart, as Quay does for its unique (repo, name, end) index.
            for step, tag_id in enumerate(ids, start=1):
                ctx.db.set_tag_end(tag_id, at - window_ms - step)
            updated = bool(ids)
    if not updated:
        raise not_found()
    if body.get("include_submanifests") and manifest_id is not None:
        ctx.db.expire_hidden_child_tags(repo.id, manifest_id, at - window_ms)
    ctx.log("permanently_delete_tag", namespace=namespace, repo=repo, metadata={
        "username": _username(ctx), "repo": repo.name, "namespace": repo.namespace, "tag": tag,
        "manifest_digest": digest})
    return Reply(status=200)


# ---- getTagPullStatistics ------------------------------------------------------------------------------


def iso_date(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def get_tag_pull_statistics(ctx: Ctx, repository: str, tag: str) -> Any:
    repo = ctx.repository()
    live = _live_or_404(ctx, repo, tag)
    manifest = ctx.db.manifest_by_id(live.manifest_id)
    digest = manifest.digest if manifest is not None else None
    tag_count, tag_last = ctx.db.pull_counts(repo.id, tag=tag)
    manifest_count, manifest_last = ctx.db.pull_counts(repo.id, manifest_digest=digest) if digest else (0, None)
    return {"tag_name": tag, "tag_pull_count": tag_count, "last_tag_pull_date": iso_date(tag_last),
            "current_manifest_digest": digest, "manifest_pull_count": manifest_count,
            "last_manifest_pull_date": iso_date(manifest_last)}


# ---- declarations ---------------------------------------------------------------------------------------

TAG = path_param("tag", "The tag's name.")

CHANGE_TAG = Body("ChangeTag", {
    "type": "object",
    "description": "What to change on a tag; every field is optional and only the given ones apply.",
    "properties": {
        "manifest_digest": {"type": ["string", "null"],
                            "description": "Point the tag (creating it if needed) at this manifest of the repository."},
        "expiration": {"type": ["number", "null"],
                       "description": "When the tag expires, in epoch seconds; null means it never expires."},
        "immutable": {"type": "boolean",
                      "description": "Lock (true, needs write) or unlock (false, needs admin) the tag."},
    },
})

RESTORE_TAG = Body("RestoreTag", {
    "type": "object",
    "description": "The earlier manifest a tag goes back to.",
    "properties": {
        "manifest_digest": {"type": "string", "description": "Digest of the manifest to point the tag at again."},
    },
})

EXPIRE_TAG = Body("ExpireTag", {
    "type": "object",
    "description": "Which versions of a tag to take out of the time machine.",
    "properties": {
        "manifest_digest": {"type": "string",
                            "description": "The manifest whose ended versions go; required unless is_alive is true."},
        "is_alive": {"type": "boolean",
                     "description": "True: end the live tag beyond recovery; false: the ended versions instead."},
        "include_submanifests": {"type": "boolean",
                                 "description": "Also let the children of a manifest list go."},
    },
})

_TAGS = "/api/v1/repository/{repository}/tag"

OPERATIONS = (
    Operation("GET", _TAGS + "/", "listRepoTags", "tag",
              "List a repository's tags, every version newest first unless only active ones are asked for.",
              list_repo_tags, Scope.REPO_READ, RepoPermission(RepoRole.READ, global_readonly=True),
              shared_response=True,
              params=(REPOSITORY,
                      query_param("onlyActiveTags", "Leave out ended (deleted, moved or expired) versions.",
                                  "boolean", default=False),
                      query_param("page", "Which page, from 1.", "integer", default=1),
                      query_param("limit", "Tags per page (1 to 100).", "integer", default=DEFAULT_PAGE_SIZE),
                      query_param("filter_tag_name", "like:<text> (name contains, any case) or eq:<name>."),
                      query_param("specificTag", "Only versions of the tag with exactly this name."))),
    Operation("PUT", _TAGS + "/{tag}", "changeTag", "tag",
              "Create or move a tag, change when it expires, or lock or unlock it.", change_tag,
              Scope.REPO_WRITE, RepoPermission(RepoRole.WRITE), params=(REPOSITORY, TAG), body=CHANGE_TAG,
              success=201, guards=WRITE_GUARDS, other_statuses=(409, 503)),
    Operation("DELETE", _TAGS + "/{tag}", "deleteFullTag", "tag",
              "Delete a tag; it stays restorable for the namespace's time-machine window.", delete_full_tag,
              Scope.REPO_WRITE, RepoPermission(RepoRole.WRITE), params=(REPOSITORY, TAG), success=204,
              guards=WRITE_GUARDS, other_statuses=(409, 503)),
    Operation("POST", _TAGS + "/{tag}/expire", "removeTagFromTimemachine", "tag",
              "Make a tag's deleted or live versions unrecoverable at once.", remove_tag_from_timemachine,
              Scope.REPO_WRITE, RepoPermission(RepoRole.WRITE), params=(REPOSITORY, TAG), body=EXPIRE_TAG,
              guards=WRITE_GUARDS, feature="PERMANENTLY_DELETE_TAGS", other_statuses=(409, 503)),
    Operation("GET", _TAGS + "/{tag}/pull_statistics", "getTagPullStatistics", "tag",
              "Count the pulls of a tag and of the manifest it points to.", get_tag_pull_statistics,
              Scope.REPO_READ, RepoPermission(RepoRole.READ, global_readonly=True), params=(REPOSITORY, TAG),
              feature="IMAGE_PULL_STATS"),
    Operation("POST", _TAGS + "/{tag}/restore", "restoreTag", "tag",
              "Point a tag back at a manifest it had before.", restore_tag, Scope.REPO_WRITE,
              RepoPermission(RepoRole.WRITE), params=(REPOSITORY, TAG), body=RESTORE_TAG,
              guards=WRITE_GUARDS, other_statuses=(409, 503)),
)
