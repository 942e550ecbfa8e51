"""Whole answers shared between identical requests (operations declared `shared_response`, e.g. listRepoTags):
the same caller asking the same thing gets the same bytes until a write, the answer's own limit or the token's
expiry; nobody else ever gets them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import reference_server.app as app_module
import reference_server.storage.base as base_module
from reference_server.api import OPERATIONS
from tests.conftest import Server
from tests.test_api_tag import TAGS, push


def shared_keys(server: Server) -> list[tuple[Any, ...]]:
    return [key for key in server.storage.read_cache._data if key[0] == "shared"]


def without_date(headers: Any) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.multi_items() if k != "date"]


def test_a_repeated_request_gets_the_same_answer_and_a_write_ends_it(server: Server) -> None:
    push(server, ["v1"])
    first = server.call("GET", TAGS, server.admin_token, params={"limit": 50})
    assert first.status_code == 200 and len(shared_keys(server)) == 1
    again = server.call("GET", TAGS, server.admin_token, params={"limit": 50})
    assert (again.status_code, again.content) == (200, first.content)
    assert without_date(again.headers) == without_date(first.headers)
    # Sending a kept answer must not alter it (handle appends CORS headers to a copy).
    third = server.call("GET", TAGS, server.admin_token, params={"limit": 50})
    assert (third.content, without_date(third.headers)) == (first.content, without_date(first.headers))
    assert again.headers["access-control-allow-origin"] == "*"
    push(server, ["v2"], "b")  # a write
    assert shared_keys(server) == []
    assert [t["name"] for t in server.call("GET", TAGS, server.admin_token, params={"limit": 50}).json()["tags"]] \
        == ["v2", "v1"]


def test_answers_are_kept_per_caller_and_refusals_are_never_kept(server: Server) -> None:
    push(server, ["v1"])
    stranger = server.make_user("stranger")
    narrow = server.make_user("admin", scopes="user:read")  # the admin's own token, without repo:read
    assert server.call("GET", TAGS, server.admin_token).status_code == 200
    assert server.call("GET", TAGS, stranger).status_code == 403
    assert server.call("GET", TAGS).status_code == 401  # anonymous, private repository
    assert server.call("GET", TAGS, narrow).status_code == 403
    assert server.call("GET", TAGS, stranger).status_code == 403  # asked twice: still refused
    assert len(shared_keys(server)) == 1
    # The key holds a keyed hash of the credentials, never the token itself.
    assert server.admin_token not in repr(shared_keys(server))


def test_a_kept_answer_ends_with_the_callers_token(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    push(server, ["v1"])
    with server.storage.transaction() as db:
        admin = db.user_by_name("admin")
        assert admin is not None
        token, _ = db.create_oauth_token(admin, "repo:read", None,
                                         expires_at=datetime.now(UTC) + timedelta(hours=1))
    assert server.call("GET", TAGS, token).status_code == 200
    assert server.call("GET", TAGS, token).status_code == 200  # kept
    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(app_module, "now_ms", lambda: int(later.timestamp() * 1000))
    monkeypatch.setattr(base_module, "now", lambda: later)
    assert server.call("GET", TAGS, token).status_code == 401  # the token has expired: anonymous now


def test_queries_with_undeclared_parameters_are_answered_but_not_kept(server: Server) -> None:
    push(server, ["v1"])
    for n in range(3):
        answer = server.call("GET", TAGS, server.admin_token, params={"limit": 50, "unique": n})
        assert answer.status_code == 200 and [t["name"] for t in answer.json()["tags"]] == ["v1"]
    assert shared_keys(server) == []
    assert server.call("GET", TAGS, server.admin_token, params={"limit": 50}).status_code == 200
    assert len(shared_keys(server)) == 1


def test_requests_with_a_cookie_or_without_a_cache_are_not_shared(server: Server, make_server: Any) -> None:
    push(server, ["v1"])
    server.client.cookies.set("other", "value")
    assert server.call("GET", TAGS, server.admin_token).status_code == 200
    assert shared_keys(server) == []
    server.client.cookies.clear()
    uncached = make_server({"REFERENCE_READ_CACHE": False})
    push(uncached, ["v1"])
    assert uncached.call("GET", TAGS, uncached.admin_token).status_code == 200
    assert shared_keys(uncached) == []


def test_only_reads_may_share_answers() -> None:
    shared = [op for op in OPERATIONS if op.shared_response]
    assert [op.operation_id for op in shared] == ["listRepoTags"]
    with pytest.raises(ValueError, match="share"):
        replace(shared[0], method="POST")
