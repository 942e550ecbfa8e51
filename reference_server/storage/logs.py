"""Audit-log reads (a mixin of Db): keyset pages, per-day counts and export batches.

Every query filters on one indexed column (repository, namespace, performer, or none) and orders by
(datetime, id), which is exactly the tail of the matching index in schema.py. A page is therefore an index range
scan that stops after `limit` rows, whatever the table size; the keyset ("strictly older than the last row
shown") replaces an offset so page 500 costs what page 1 costs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, Integer, Select, String, and_, bindparam, cast, func, select, tuple_, type_coerce

from reference_server.storage import schema as t
from reference_server.storage.base import BaseQueries


@dataclass(frozen=True)
class LogFilter:
    """Which entries a log query selects. Exactly Quay's filters: a repository, else a namespace (account),
    optionally one performer, minus some kinds."""

    repository_id: int | None = None
    account_id: int | None = None
    performer_id: int | None = None
    exclude_kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class LogRecord:
    """One entry with the performer and namespace fields the API shows (names, e-mails for avatars)."""

    id: int
    kind: str
    metadata: dict[str, Any]
    ip: str | None
    datetime: datetime
    performer_name: str | None
    performer_email: str | None
    performer_robot: bool
    account_name: str | None
    account_email: str | None
    account_organization: bool
    account_robot: bool


@dataclass(frozen=True)
class KindDayCount:
    kind: str
    day: int  # day of the month, 1..31 (Quay groups on it, not on the full date)
    count: int


def _utc(value: datetime) -> datetime:
    # SQLite keeps naive UTC text; binding an aware value in another zone would compare the wrong wall time.
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


_PERFORMER = t.user.alias("performer")
_ACCOUNT = t.user.alias("account")
_LOG = t.log_entry
_DATETIME = _LOG.c.datetime.type
_COLUMNS: tuple[ColumnElement[Any], ...] = (
    # The datetime comes back as stored (SQLite: ISO text) and is parsed in _records with the C-coded
    # fromisoformat, a good part of a page's cost otherwise (SQLAlchemy parses SQLite datetimes with a regex).
    _LOG.c.id, _LOG.c.kind, _LOG.c.metadata, _LOG.c.ip, type_coerce(_LOG.c.datetime, String),
    _PERFORMER.c.username, _PERFORMER.c.email, _PERFORMER.c.robot,
    _ACCOUNT.c.username, _ACCOUNT.c.email, _ACCOUNT.c.organization, _ACCOUNT.c.robot,
)


def _records(rows: Iterable[Any]) -> list[LogRecord]:
    # Positional unpacking: the log page is the hot path, and mapping lookups by name cost more than the query.
    out = []
    for (id_, kind, meta, ip, stored, p_name, p_email, p_robot, a_name, a_email, a_org, a_robot) in rows:
        when = datetime.fromisoformat(stored) if isinstance(stored, str) else stored
        out.append(LogRecord(
            id=int(id_), kind=kind, metadata=meta if isinstance(meta, dict) else {}, ip=ip,
            datetime=when if when.tzinfo is not None else when.replace(tzinfo=UTC),
            performer_name=p_name, performer_email=p_email, performer_robot=bool(p_robot), account_name=a_name,
            account_email=a_email, account_organization=bool(a_org), account_robot=bool(a_robot)))
    return out


@dataclass(frozen=True)
class _Shape:
    """What a query's WHERE clause looks like, values aside: one prepared statement per shape."""

    scope: str | None  # "repository", "account" or None (every namespace)
    performer: bool
    exclude: bool
    keyset: bool = False
    inclusive_upper: bool = False


def _shape(flt: LogFilter, **extra: bool) -> _Shape:
    scope = "repository" if flt.repository_id is not None else "account" if flt.account_id is not None else None
    return _Shape(scope, flt.performer_id is not None, bool(flt.exclude_kinds), **extra)


def _conditions(shape: _Shape) -> list[ColumnElement[bool]]:
    upper = bindparam("upper", type_=_DATETIME)
    conds: list[ColumnElement[bool]] = [
        _LOG.c.datetime >= bindparam("start", type_=_DATETIME),
        _LOG.c.datetime <= upper if shape.inclusive_upper else _LOG.c.datetime < upper,
    ]
    # Quay filters on the repository alone when one is given, else on the namespace.
    if shape.scope == "repository":
        conds.append(_LOG.c.repository_id == bindparam("scope_id", type_=Integer))
    elif shape.scope == "account":
        conds.append(_LOG.c.account_id == bindparam("scope_id", type_=Integer))
    if shape.performer:
        conds.append(_LOG.c.performer_id == bindparam("performer_id", type_=Integer))
    if shape.exclude:
        conds.append(_LOG.c.kind.not_in(bindparam("kinds", expanding=True)))
    if shape.keyset:
        conds.append(tuple_(_LOG.c.datetime, _LOG.c.id)
                     < tuple_(bindparam("last_dt", type_=_DATETIME), bindparam("last_id", type_=Integer)))
    return conds


def _params(flt: LogFilter, start: datetime, upper: datetime) -> dict[str, Any]:
    params: dict[str, Any] = {"start": _utc(start), "upper": _utc(upper),
                              "scope_id": flt.repository_id if flt.repository_id is not None else flt.account_id}
    if flt.performer_id is not None:
        params["performer_id"] = flt.performer_id
    if flt.exclude_kinds:
        params["kinds"] = list(flt.exclude_kinds)
    return params


@lru_cache(maxsize=64)
def _page_statement(shape: _Shape, newest_first: bool) -> Select[Any]:
    """Built once per shape: constructing a SQLAlchemy statement costs more than running this one."""
    order = (_LOG.c.datetime.desc(), _LOG.c.id.desc()) if newest_first else (_LOG.c.datetime, _LOG.c.id)
    # Outer joins on primary keys: entries whose performer or namespace was deleted still show.
    joined = _LOG.outerjoin(_PERFORMER, _PERFORMER.c.id == _LOG.c.performer_id) \
        .outerjoin(_ACCOUNT, _ACCOUNT.c.id == _LOG.c.account_id)
    return select(*_COLUMNS).select_from(joined).where(and_(*_conditions(shape))).order_by(*order) \
        .limit(bindparam("limit", type_=Integer))


class LogQueries(BaseQueries):
    def log_page(self, flt: LogFilter, start: datetime, end: datetime, *, before: tuple[datetime, int] | None,
                 limit: int) -> list[LogRecord]:
        """Up to `limit` entries in [start, end), newest first, strictly older than `before` (datetime, id)."""
        if before is None:
            shape, params = _shape(flt), _params(flt, start, end)
        else:
            last = _utc(before[0])
            # The scan must *start* at the keyset, or page n would walk n pages of index entries first:
            # SQLite does not bound an index range by a row value, so the window's upper bound becomes the
            # last datetime shown, and the row value only skips that instant's rows already shown.
            inclusive = last < _utc(end)
            shape = _shape(flt, keyset=True, inclusive_upper=inclusive)
            params = {**_params(flt, start, last if inclusive else end), "last_dt": last, "last_id": before[1]}
        params["limit"] = limit
        return _records(self.conn.execute(_page_statement(shape, True), params).all())

    def log_export(self, flt: LogFilter, start: datetime, end: datetime, limit: int) -> list[LogRecord]:
        """Entries in [start, end), oldest first, at most `limit` of them."""
        params = {**_params(flt, start, end), "limit": limit}
        return _records(self.conn.execute(_page_statement(_shape(flt), False), params).all())

    def log_counts(self, flt: LogFilter, start: datetime, end: datetime) -> list[KindDayCount]:
        """Entry counts in [start, end) grouped by (kind, day of the month), as Quay aggregates them."""
        day: ColumnElement[Any]
        if self.conn.dialect.name == "sqlite":
            day = cast(func.strftime("%d", _LOG.c.datetime), Integer)
        else:
            day = cast(func.extract("day", func.timezone("UTC", _LOG.c.datetime)), Integer)
        query = (select(_LOG.c.kind, day.label("day"), func.count().label("n"))
                 .where(and_(*_conditions(_shape(flt))))
                 .group_by(_LOG.c.kind, day).order_by(_LOG.c.kind, day))
        rows = self.conn.execute(query, _params(flt, start, end)).all()
        return [KindDayCount(kind=r[0], day=int(r[1]), count=int(r[2])) for r in rows]
