"""Usage logs (discovery tag `logs`, plus the superuser panel's two log views): pages of audit entries,
per-day counts and exports, for the caller's namespace, an organization, a repository or the whole registry.

Quay's rules kept here: `starttime`/`endtime` are `%m/%d/%Y` days at midnight UTC, an unreadable value silently
falls back to the default (start one day ago, end now), and the end always moves one day later so that the end
day counts in full. Pages hold 20 entries, newest first; `next_page` is an opaque, encrypted, expiring token.
"""

from __future__ import annotations

import ipaddress
import json
import math
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from reference_server.auth.scopes import Scope, UserRole
from reference_server.core.context import Ctx, RunInThread
from reference_server.core.errors import BAD_JSON_MESSAGE, MessageError, not_found
from reference_server.core.operation import (
    ORG_ADMIN_OR_GRO,
    ORGNAME,
    REPO_ADMIN,
    REPO_ADMIN_OR_GRO,
    REPOSITORY,
    Body,
    Operation,
    Param,
    SignedIn,
    SuperuserPermission,
    query_param,
)
from reference_server.core.render import Reply, avatar, format_date
from reference_server.domain.models import Repository, User
from reference_server.storage.logs import LogFilter, LogRecord

LOGS_PER_PAGE = 20
PAGE_TOKEN_TTL_S = 2 * 86400  # Quay's page tokens stay valid for two days
SHARE_S = 60.0  # how long read requests may share one rendered log answer (writes end it sooner)
MAX_AGGREGATE_RANGE = timedelta(days=31)
# Kinds only the registry's operators care about; Quay leaves them out of a user's own logs.
SERVICE_KEY_KINDS = ("service_key_create", "service_key_approve", "service_key_delete", "service_key_modify",
                     "service_key_extend", "service_key_rotate")
# An export runs inside the request, so it is bounded (Quay's worker streams to storage instead).
EXPORT_MAX_ENTRIES = 100_000
CALLBACK_TIMEOUT_S = 5.0
INVALID_RANGE = "Invalid date range for logs"

EXPORT_LOGS = Body("ExportLogs", {
    "type": "object",
    "description": "Where to deliver the exported entries: a URL to POST them to, an e-mail address, or both.",
    "properties": {
        "callback_url": {"type": "string", "description": "A URL that receives the export as a JSON POST."},
        "callback_email": {"type": "string", "description": "An e-mail address told about the finished export."},
    },
})

START = query_param("starttime", "First day of the window, as %m/%d/%Y (midnight UTC).")
END = query_param("endtime", "Last day of the window, as %m/%d/%Y (counted in full).")
PERFORMER = query_param("performer", "Only entries made by this user.")
NEXT_PAGE = query_param("next_page", "The token returned with the previous page.")


# ---- the time window -------------------------------------------------------------------------------------


@lru_cache(maxsize=4096)  # clients repeat the same few days; strptime is slow
def _parse_day(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, "%m/%d/%Y").replace(tzinfo=UTC)
    except ValueError:
        return None


def _window(ctx: Ctx) -> tuple[datetime, datetime]:
    """(start, end) as Quay computes them; the caller decides what an inverted window means."""
    # Whole seconds, as the answer shows them; it also lets requests within one second share a page (_shared).
    current = datetime.now(UTC).replace(microsecond=0)
    start = _parse_day(ctx.query.get("starttime")) or current - timedelta(days=1)
    end = _parse_day(ctx.query.get("endtime")) or current
    try:
        end += timedelta(days=1)
    except OverflowError:  # 12/31/9999: there is no next day, and every entry is earlier anyway
        end = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    return start, end


def _checked_window(ctx: Ctx) -> tuple[datetime, datetime]:
    start, end = _window(ctx)
    if end < start:
        # Quay aborts with a bare 400, whose text is werkzeug's generic "bad request" sentence.
        raise MessageError(400, BAD_JSON_MESSAGE)
    return start, end


# ---- page tokens -----------------------------------------------------------------------------------------


def _read_token(ctx: Ctx) -> tuple[tuple[datetime, int] | None, int]:
    """(keyset position, page number) from `next_page`; anything unreadable or expired means page 1."""
    token: str | None = ctx.query.get("next_page")
    # Decrypting is the costly part of a cached page: read requests share it (the expiry is checked below).
    plain = ctx.db._cached(("page_token", token), lambda: ctx.db.secrets.decrypt(token)) if token else None
    if plain is None:
        return None, 1
    try:
        state = json.loads(plain)
        if not isinstance(state, dict) or state.get("v") != 1 or float(state["exp"]) < time.time():
            return None, 1
        when = datetime.fromisoformat(str(state["dt"]))
        return (when if when.tzinfo else when.replace(tzinfo=UTC), int(state["id"])), int(state["page"])
    except (ValueError, TypeError, KeyError, OverflowError):
        return None, 1


def _make_token(ctx: Ctx, last: LogRecord, page: int) -> str:
    # Fernet makes the state opaque and tamper-proof; the expiry lives inside the encrypted payload.
    state = {"v": 1, "dt": last.datetime.isoformat(), "id": last.id, "page": page,
             "exp": int(time.time()) + PAGE_TOKEN_TTL_S}
    return ctx.db.secrets.encrypt(json.dumps(state))


# ---- views -----------------------------------------------------------------------------------------------


def _log_views(rows: list[LogRecord], include_namespace: bool) -> list[dict[str, Any]]:
    # A page usually names a handful of people many times over: each avatar is computed once per page.
    avatars: dict[tuple[str, str | None, str], dict[str, str]] = {}

    def avatar_of(name: str, email: str | None, kind: str) -> dict[str, str]:
        key = (name, email, kind)
        found = avatars.get(key)
        if found is None:
            found = avatars[key] = avatar(name, email, kind)
        return found

    views = []
    for row in rows:
        view: dict[str, Any] = {"kind": row.kind, "metadata": row.metadata, "ip": row.ip,
                                "datetime": format_date(row.datetime)}
        if row.performer_name:
            view["performer"] = {
                "kind": "user", "name": row.performer_name, "is_robot": row.performer_robot,
                "avatar": avatar_of(row.performer_name, row.performer_email,
                                    "robot" if row.performer_robot else "user"),
            }
        if include_namespace and row.account_name:
            kind = "org" if row.account_organization else "robot" if row.account_robot else "user"
            view["namespace"] = {"kind": "org" if row.account_organization else "user", "name": row.account_name,
                                 "avatar": avatar_of(row.account_name, row.account_email, kind)}
        views.append(view)
    return views


def _performer_id(ctx: Ctx) -> int | None:
    """The `performer` filter as a user id: None when absent, -1 (matches nothing) for an unknown name."""
    name: str | None = ctx.query.get("performer")
    if not name:
        return None
    user = ctx.db.user_by_name(name)
    # Quay's model asserts the performer exists (a 500); an empty page is the sane reading of that request.
    return user.id if user is not None and not user.organization else -1


def _aggregate_performer_id(ctx: Ctx) -> int | None:
    # Quay's aggregate model drops an unknown performer filter instead of failing, so all entries count.
    performer = _performer_id(ctx)
    return None if performer == -1 else performer


def _shared(ctx: Ctx, key: tuple[Any, ...], build: Callable[[], dict[str, Any]], ttl_s: float = SHARE_S) -> Reply:
    """Rendered answers shared between read requests through the read cache, which every write empties. Pages
    for a minute at most, so the page tokens inside stay fresh; windows that move with the clock are part of the
    key. These handlers run in worker threads (offload): concurrent askers of one answer wait for a single query."""
    at = time.time()
    if not ctx.in_thread:
        found = ctx.db._peek_until(key, at)
        if found is None:
            raise RunInThread()
        return Reply(raw=found)
    return Reply(raw=ctx.db._cached_until_once(key, lambda: (json.dumps(build()).encode(), at + ttl_s), at))


def _page(ctx: Ctx, flt: LogFilter, start: datetime, end: datetime, include_namespace: bool) -> Reply:
    before, page = _read_token(ctx)

    def build() -> dict[str, Any]:
        answer: dict[str, Any] = {"start_time": format_date(start), "end_time": format_date(end), "logs": []}
        max_page = ctx.config.raw.get("ACTION_LOG_MAX_PAGE")
        if isinstance(max_page, int) and page > max_page:
            return answer  # Quay's ACTION_LOG_MAX_PAGE: past it, an empty page and no further token
        # One extra row tells whether a next page exists without a COUNT.
        rows = ctx.db.log_page(flt, start, end, before=before, limit=LOGS_PER_PAGE + 1)
        shown = rows[:LOGS_PER_PAGE]
        answer["logs"] = _log_views(shown, include_namespace)
        if len(rows) > LOGS_PER_PAGE:
            answer["next_page"] = _make_token(ctx, shown[-1], page + 1)
        return answer

    return _shared(ctx, ("log_page", flt, start, end, before, page, include_namespace), build)


def _aggregate(ctx: Ctx, flt: LogFilter, start: datetime, end: datetime) -> Reply:
    if end - start > MAX_AGGREGATE_RANGE:
        raise MessageError(400, INVALID_RANGE)

    def build() -> dict[str, Any]:
        local = datetime.now().astimezone().tzinfo
        items = []
        for entry in ctx.db.log_counts(flt, start, end):
            items.append({"kind": entry.kind, "count": entry.count,
                          "datetime": format_date(_synthetic_day(start, entry.day, local))})
        return {"aggregated": items}

    # Counts hold no token: they change only with a write (or, for a default window, with the key's second).
    return _shared(ctx, ("log_counts", flt, start, end), build, ttl_s=math.inf)


def _synthetic_day(start: datetime, day: int, tz: Any) -> datetime:
    """Quay's label for a day-of-month group: that day in the start's month (server local time), or in the
    next month when the day number is smaller than the start's."""
    year, month = start.year, start.month
    if day < start.day:
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    try:
        return datetime(year, month, day, tzinfo=tz)
    except ValueError:
        # Day 29-31 missing from that month (Quay would fail here): it can only be the following month's day.
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return datetime(year, month, day, tzinfo=tz)


def _user_filter(ctx: Ctx, performer: int | None) -> LogFilter:
    return LogFilter(account_id=ctx.require_user().id, performer_id=performer, exclude_kinds=SERVICE_KEY_KINDS)


def _namespace(ctx: Ctx) -> User:
    # A user is "admin of their own namespace", so Quay serves /organization/{user}/logs for that user too.
    if ctx.namespace is None:
        raise not_found()
    return ctx.namespace


# ---- exports ---------------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would let a loopback callback bounce the request to any other host.
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str) -> None:
        return None


# No proxy either: a proxy from the environment would carry the request off this machine.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect)


def loopback_url(url: str) -> bool:
    """The only callbacks the reference server calls: http(s) to this machine (Quay's SSRF check refuses
    internal addresses; a test target has nowhere else it may safely call)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _deliver(url: str, payload: dict[str, Any]) -> str | None:
    """POST the export; None on success, else why it failed."""
    request = urllib.request.Request(url, json.dumps(payload).encode(), {"Content-Type": "application/json"},
                                     method="POST")
    try:
        with _OPENER.open(request, timeout=CALLBACK_TIMEOUT_S) as response:
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"callback failed: {exc}"
    return None if status == 200 else f"callback answered {status}"


def _export(ctx: Ctx, namespace: User, repo: Repository | None, flt: LogFilter) -> Any:
    body: dict[str, Any] = ctx.body or {}
    url: str | None = body.get("callback_url") or None
    email: str | None = body.get("callback_email") or None
    audit: dict[str, Any] = {"repo": repo.name} if repo is not None else {}
    start, end = _window(ctx)
    problem: str | None = None
    if url is not None and not loopback_url(url):
        problem = "Invalid callback URL"
    elif email is not None and "@" not in email:
        problem = "Invalid callback e-mail"
    elif end < start:
        problem = "Invalid time span selected"
    if problem is not None:
        # Returned, not raised: Quay keeps the failure entry, and raising would roll it back with the request.
        ctx.log("export_logs_failure", namespace=namespace,
                metadata={**audit, "error": problem, "url": url, "email": email})
        return Reply({"message": problem}, status=400)
    export_id = str(uuid.uuid4())
    rows = ctx.db.log_export(flt, start, end, EXPORT_MAX_ENTRIES)
    error: str | None = None
    if url is not None:
        error = _deliver(url, {
            "export_id": export_id, "status": "success", "start_time": format_date(start),
            "end_time": format_date(end), "namespace": namespace.username,
            "repository": repo.name if repo is not None else None, "exported_data_url": None,
            "logs": _log_views(rows, False),
        })
    if email is not None:
        # No mail relay: the message Quay would send is recorded in the outbox.
        ctx.db.record_mail("logsexported", email, {
            "export_id": export_id, "status": "failed" if error else "success", "exported_data_url": None,
            "entries": len(rows)})
    if error is not None:
        ctx.log("export_logs_failure", namespace=namespace, metadata={**audit, "error": error, "url": url,
                                                                      "email": email})
    else:
        ctx.log("export_logs_success", namespace=namespace, repo=repo,
                metadata={**audit, "export_id": export_id, "url": url, "email": email})
    return {"export_id": export_id}


# ---- handlers --------------------------------------------------------------------------------------------


def list_user_logs(ctx: Ctx) -> Any:
    start, end = _checked_window(ctx)
    return _page(ctx, _user_filter(ctx, _performer_id(ctx)), start, end, include_namespace=False)


def get_aggregate_user_logs(ctx: Ctx) -> Any:
    start, end = _checked_window(ctx)
    return _aggregate(ctx, _user_filter(ctx, _aggregate_performer_id(ctx)), start, end)


def export_user_logs(ctx: Ctx) -> Any:
    user = ctx.require_user()
    return _export(ctx, user, None, LogFilter(account_id=user.id))


def list_org_logs(ctx: Ctx, orgname: str) -> Any:
    start, end = _checked_window(ctx)
    flt = LogFilter(account_id=_namespace(ctx).id, performer_id=_performer_id(ctx))
    return _page(ctx, flt, start, end, include_namespace=False)


def get_aggregate_org_logs(ctx: Ctx, orgname: str) -> Any:
    start, end = _checked_window(ctx)
    flt = LogFilter(account_id=_namespace(ctx).id, performer_id=_aggregate_performer_id(ctx))
    return _aggregate(ctx, flt, start, end)


def export_org_logs(ctx: Ctx, orgname: str) -> Any:
    namespace = _namespace(ctx)
    return _export(ctx, namespace, None, LogFilter(account_id=namespace.id))


def list_repo_logs(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    start, end = _checked_window(ctx)
    return _page(ctx, LogFilter(repository_id=repo.id), start, end, include_namespace=False)


def get_aggregate_repo_logs(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    start, end = _checked_window(ctx)
    return _aggregate(ctx, LogFilter(repository_id=repo.id), start, end)


def export_repo_logs(ctx: Ctx, repository: str) -> Any:
    repo = ctx.repository()
    namespace = ctx.db.user_by_id(repo.namespace_id)
    if namespace is None:
        raise not_found()
    return _export(ctx, namespace, repo, LogFilter(repository_id=repo.id))


def list_all_logs(ctx: Ctx) -> Any:
    # Quay does not check for an inverted window here: the page is simply empty.
    start, end = _window(ctx)
    return _page(ctx, LogFilter(), start, end, include_namespace=True)


def list_all_aggregate_logs(ctx: Ctx) -> Any:
    start, end = _window(ctx)
    return _aggregate(ctx, LogFilter(), start, end)


# ---- declarations ----------------------------------------------------------------------------------------

USER_ADMIN = SignedIn(UserRole.ADMIN)
SU_OR_GRO = SuperuserPermission(global_readonly=True)
_LIST: tuple[Param, ...] = (NEXT_PAGE, PERFORMER, END, START)
_AGG: tuple[Param, ...] = (PERFORMER, END, START)
_WINDOW: tuple[Param, ...] = (END, START)
_AGGREGATED = "AGGREGATED_LOG_COUNT_RETRIEVAL"

_DECLARED = (
    Operation("GET", "/api/v1/user/logs", "listUserLogs", "logs",
              "Page through the audit entries of the caller's own namespace.", list_user_logs,
              Scope.USER_ADMIN, USER_ADMIN, params=_LIST),
    Operation("GET", "/api/v1/user/aggregatelogs", "getAggregateUserLogs", "logs",
              "Count the audit entries of the caller's own namespace per kind and day.", get_aggregate_user_logs,
              Scope.USER_ADMIN, USER_ADMIN, params=_AGG, feature=_AGGREGATED),
    Operation("POST", "/api/v1/user/exportlogs", "exportUserLogs", "logs",
              "Export the audit entries of the caller's own namespace to a callback URL or e-mail address.",
              export_user_logs, Scope.USER_ADMIN, USER_ADMIN, params=_WINDOW, body=EXPORT_LOGS,
              feature="LOG_EXPORT"),
    Operation("GET", "/api/v1/organization/{orgname}/logs", "listOrgLogs", "logs",
              "Page through the audit entries of an organization.", list_org_logs, Scope.ORG_ADMIN,
              ORG_ADMIN_OR_GRO, params=(ORGNAME, *_LIST), order="validate-first"),
    Operation("GET", "/api/v1/organization/{orgname}/aggregatelogs", "getAggregateOrgLogs", "logs",
              "Count the audit entries of an organization per kind and day.", get_aggregate_org_logs,
              Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, *_AGG), feature=_AGGREGATED,
              order="validate-first"),
    # Quay lets the global read-only superuser start an organization export (a write elsewhere refused to it).
    Operation("POST", "/api/v1/organization/{orgname}/exportlogs", "exportOrgLogs", "logs",
              "Export the audit entries of an organization to a callback URL or e-mail address.",
              export_org_logs, Scope.ORG_ADMIN, ORG_ADMIN_OR_GRO, params=(ORGNAME, *_WINDOW), body=EXPORT_LOGS,
              feature="LOG_EXPORT", order="validate-first"),
    Operation("GET", "/api/v1/repository/{repository}/logs", "listRepoLogs", "logs",
              "Page through the audit entries of a repository.", list_repo_logs, Scope.REPO_ADMIN,
              REPO_ADMIN_OR_GRO, params=(REPOSITORY, NEXT_PAGE, *_WINDOW)),
    Operation("GET", "/api/v1/repository/{repository}/aggregatelogs", "getAggregateRepoLogs", "logs",
              "Count the audit entries of a repository per kind and day.", get_aggregate_repo_logs,
              Scope.REPO_ADMIN, REPO_ADMIN_OR_GRO, params=(REPOSITORY, *_WINDOW), feature=_AGGREGATED),
    Operation("POST", "/api/v1/repository/{repository}/exportlogs", "exportRepoLogs", "logs",
              "Export the audit entries of a repository to a callback URL or e-mail address.", export_repo_logs,
              Scope.REPO_ADMIN, REPO_ADMIN, params=(REPOSITORY, *_WINDOW), body=EXPORT_LOGS,
              feature="LOG_EXPORT"),
    Operation("GET", "/api/v1/superuser/logs", "listAllLogs", "superuser",
              "Page through the audit entries of every namespace of the registry.", list_all_logs,
              Scope.SUPERUSER, SU_OR_GRO,
              params=(NEXT_PAGE, query_param("page", "Ignored; pages are chosen with next_page.", "integer"),
                      *_WINDOW),
              fresh_login=True, order="validate-first", feature="SUPER_USERS"),
    # Quay attaches no scope metadata here; the superuser check still needs super:user in a token.
    Operation("GET", "/api/v1/superuser/aggregatelogs", "listAllAggregateLogs", "superuser",
              "Count the audit entries of every namespace per kind and day.", list_all_aggregate_logs, None,
              SU_OR_GRO, params=_WINDOW, internal=True, fresh_login=True, order="validate-first",
              feature="SUPER_USERS", extra={"no_scope_metadata": True}),
)
# Every read here may walk or count a long history: those run in a worker thread, off the event loop.
OPERATIONS = tuple(replace(op, offload=True) if op.method == "GET" else op for op in _DECLARED)
