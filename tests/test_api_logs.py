"""Usage logs: pages and their tokens, time windows, aggregates, exports, access rules, and index use."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import event, select

from reference_server.api import OPERATIONS
from reference_server.api.logs import SERVICE_KEY_KINDS, loopback_url
from reference_server.storage import Storage
from reference_server.storage import schema as t
from reference_server.storage.logs import LogFilter, LogQueries
from tests.conftest import Server
from tests.test_api_robot import add_repo, logs, make_org

REPO_LOGS = "/api/v1/repository/alice/r1/logs"
# A window of its own in the past, so the entries the set-up itself writes (create_repo ...) stay out of it.
BASE = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
WINDOW = "starttime=03/01/2026&endtime=03/31/2026"


def day(value: datetime) -> str:
    return value.strftime("%m/%d/%Y")


def seed(server: Server, count: int, *, namespace: str = "alice", repo: str | None = "r1",
         performer: str | None = "alice", kind: str = "push_repo", start: datetime = BASE,
         step: timedelta = timedelta(minutes=1)) -> None:
    """`count` entries written straight to storage, one `step` apart from `start` on."""
    with server.storage.transaction() as db:
        ns = db.user_by_name(namespace)
        assert ns is not None
        repo_id = None
        if repo is not None:
            found = db.repository(namespace, repo)
            assert found is not None
            repo_id = found.id
        who = db.user_by_name(performer) if performer else None
        for i in range(count):
            db.write_log(kind, account_id=ns.id, performer_id=who.id if who else None, repository_id=repo_id,
                         ip="10.0.0.1", metadata={"index": i}, when=start + i * step)


@pytest.fixture
def alice(server: Server) -> str:
    token = server.make_user("alice")
    add_repo(server, "alice", "r1")
    return token


def pages(server: Server, url: str, token: str) -> Iterator[dict[str, Any]]:
    sep = "&" if "?" in url else "?"
    body = server.call("GET", url, token).json()
    yield body
    while "next_page" in body:
        body = server.call("GET", f"{url}{sep}next_page={body['next_page']}", token).json()
        yield body


# ---- pages -----------------------------------------------------------------------------------------------


def test_repo_log_page_shape(server: Server, alice: str) -> None:
    seed(server, 1)
    r = server.call("GET", f"{REPO_LOGS}?{WINDOW}", alice)
    assert r.status_code == 200
    body = r.json()
    assert body["start_time"] == "Sun, 01 Mar 2026 00:00:00 -0000"
    assert body["end_time"] == "Wed, 01 Apr 2026 00:00:00 -0000"  # the end day counts in full
    assert "next_page" not in body
    (entry,) = body["logs"]
    assert entry == {
        "kind": "push_repo", "metadata": {"index": 0}, "ip": "10.0.0.1",
        "datetime": "Tue, 10 Mar 2026 12:00:00 -0000",
        "performer": {"kind": "user", "name": "alice", "is_robot": False, "avatar": entry["performer"]["avatar"]},
    }
    assert entry["performer"]["avatar"]["kind"] == "user"


def test_pages_are_newest_first_with_opaque_tokens(server: Server, alice: str) -> None:
    seed(server, 45)
    seen: list[int] = []
    tokens: list[str] = []
    for body in pages(server, f"{REPO_LOGS}?{WINDOW}", alice):
        assert len(body["logs"]) <= 20
        seen += [e["metadata"]["index"] for e in body["logs"]]
        if "next_page" in body:
            tokens.append(body["next_page"])
    assert seen == list(range(44, -1, -1))
    assert len(tokens) == 2
    # Opaque: encrypted, so no readable page state (short values like "44" can occur in base64 by chance).
    assert all("index" not in tok and "{" not in tok and '"' not in tok for tok in tokens)


def test_a_write_shows_at_once_although_read_requests_share_pages(server: Server, alice: str) -> None:
    url = "/api/v1/repository/alice/r1/logs"
    first = server.call("GET", url, alice).json()
    assert server.call("GET", url, alice).json()["logs"] == first["logs"]
    changed = server.call("PUT", "/api/v1/repository/alice/r1", alice, json={"description": "new"})
    assert changed.status_code == 200
    again = server.call("GET", url, alice).json()
    assert len(again["logs"]) == len(first["logs"]) + 1
    assert again["logs"][0]["kind"] == "set_repo_description"
    counts = server.call("GET", "/api/v1/repository/alice/r1/aggregatelogs", alice).json()["aggregated"]
    assert {c["kind"]: c["count"] for c in counts}.get("set_repo_description") == 1


def test_entries_sharing_one_instant_are_neither_lost_nor_repeated(server: Server, alice: str) -> None:
    seed(server, 50, step=timedelta(0))  # the keyset must break ties on the id
    seen = [e["metadata"]["index"] for body in pages(server, f"{REPO_LOGS}?{WINDOW}", alice) for e in body["logs"]]
    assert sorted(seen) == list(range(50))


def test_bad_expired_or_foreign_tokens_restart_at_page_one(server: Server, alice: str) -> None:
    seed(server, 25)
    first = [e["metadata"]["index"] for e in server.call("GET", f"{REPO_LOGS}?{WINDOW}", alice).json()["logs"]]
    secrets = server.storage.secrets
    expired = secrets.encrypt(json.dumps({"v": 1, "dt": BASE.isoformat(), "id": 3, "page": 2,
                                          "exp": int(time.time()) - 1}))
    foreign = secrets.encrypt(json.dumps({"after": 3}))  # a superuser-panel token
    for token in ("garbage", expired, foreign, "gAAAAA" + "x" * 80):
        body = server.call("GET", f"{REPO_LOGS}?{WINDOW}&next_page={token}", alice).json()
        assert [e["metadata"]["index"] for e in body["logs"]] == first


def test_action_log_max_page_ends_the_walk(make_server: Any) -> None:
    server = make_server({"ACTION_LOG_MAX_PAGE": 1})
    token = server.make_user("alice")
    add_repo(server, "alice", "r1")
    seed(server, 25)
    bodies = list(pages(server, f"{REPO_LOGS}?{WINDOW}", token))
    assert [len(b["logs"]) for b in bodies] == [20, 0]


# ---- the time window -------------------------------------------------------------------------------------


def test_default_window_is_the_last_day(server: Server, alice: str) -> None:
    current = datetime.now(UTC)
    seed(server, 1, start=current - timedelta(hours=2), kind="pull_repo")
    seed(server, 1, start=current - timedelta(days=3), kind="delete_tag")
    kinds = [e["kind"] for e in server.call("GET", REPO_LOGS, alice).json()["logs"]]
    assert "pull_repo" in kinds and "delete_tag" not in kinds


def test_window_days_are_midnight_utc_and_the_end_day_is_inclusive(server: Server, alice: str) -> None:
    seed(server, 3, start=datetime(2026, 3, 9, 23, 59, tzinfo=UTC), step=timedelta(hours=24))  # 9th,10th,11th
    body = server.call("GET", f"{REPO_LOGS}?starttime=03/10/2026&endtime=03/10/2026", alice).json()
    assert [e["metadata"]["index"] for e in body["logs"]] == [1]


def test_unparseable_days_fall_back_to_the_defaults(server: Server, alice: str) -> None:
    body = server.call("GET", f"{REPO_LOGS}?starttime=2026-03-01&endtime=13/45/2026", alice).json()
    start = datetime.strptime(body["start_time"], "%a, %d %b %Y %H:%M:%S -0000").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - timedelta(days=1) - start).total_seconds()) < 60


def test_end_before_start_is_a_plain_400(server: Server, alice: str) -> None:
    r = server.call("GET", f"{REPO_LOGS}?starttime=03/10/2026&endtime=03/01/2026", alice)
    assert r.status_code == 400
    assert set(r.json()) == {"message"}
    # The superuser view does not check: the page is just empty.
    r = server.call("GET", "/api/v1/superuser/logs?starttime=03/10/2026&endtime=03/01/2026", server.admin_token)
    assert r.status_code == 200 and r.json()["logs"] == []


def test_extreme_days_do_not_break(server: Server, alice: str) -> None:
    r = server.call("GET", f"{REPO_LOGS}?starttime=01/01/0001&endtime=12/31/9999", alice)
    assert r.status_code == 200


# ---- user, organization and superuser views --------------------------------------------------------------


def test_user_logs_are_the_own_namespace_without_service_key_kinds(server: Server, alice: str) -> None:
    server.make_user("bob")
    seed(server, 2, repo=None, kind="user_change_email")
    seed(server, 1, repo=None, kind=SERVICE_KEY_KINDS[0])
    seed(server, 1, namespace="bob", repo=None, performer="bob", kind="user_change_name")
    body = server.call("GET", f"/api/v1/user/logs?{WINDOW}", alice).json()
    assert [e["kind"] for e in body["logs"]] == ["user_change_email"] * 2
    assert all("namespace" not in e for e in body["logs"])
    assert server.call("GET", "/api/v1/user/logs").status_code == 401
    scoped = server.make_user("alice", "repo:admin")
    assert server.call("GET", "/api/v1/user/logs", scoped).status_code == 403


def test_performer_filter(server: Server, alice: str) -> None:
    server.make_user("bob")
    make_org(server, "acme", admins=("alice",), members=("bob",))
    seed(server, 2, namespace="acme", repo=None, performer="alice", kind="org_create_team")
    seed(server, 3, namespace="acme", repo=None, performer="bob", kind="org_set_team_description")
    url = f"/api/v1/organization/acme/logs?{WINDOW}"
    assert len(server.call("GET", url, alice).json()["logs"]) == 5
    body = server.call("GET", url + "&performer=bob", alice).json()
    assert {e["performer"]["name"] for e in body["logs"]} == {"bob"} and len(body["logs"]) == 3
    assert server.call("GET", url + "&performer=nobody", alice).json()["logs"] == []
    agg = server.call("GET", f"/api/v1/organization/acme/aggregatelogs?{WINDOW}&performer=bob", alice).json()
    assert agg["aggregated"][0]["kind"] == "org_set_team_description"


def test_org_log_access(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    alice, bob, auditor = server.make_user("alice"), server.make_user("bob"), server.make_user("auditor")
    make_org(server, "acme", admins=("alice",), members=("bob",))
    for path in ("logs", "aggregatelogs"):
        url = f"/api/v1/organization/acme/{path}"
        assert server.call("GET", url, alice).status_code == 200
        assert server.call("GET", url, auditor).status_code == 200
        assert server.call("GET", url, bob).status_code == 403
        assert server.call("GET", url).status_code == 401
        # Superusers without FEATURE_SUPERUSERS_FULL_ACCESS get nothing special.
        assert server.call("GET", url, server.admin_token).status_code == 403
    assert server.call("GET", "/api/v1/organization/nope/logs", auditor).status_code == 404
    full = make_server({"FEATURE_SUPERUSERS_FULL_ACCESS": True})
    make_org(full, "acme")
    assert full.call("GET", "/api/v1/organization/acme/logs", full.admin_token).status_code == 200


def test_repo_log_access(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    alice, bob, auditor = server.make_user("alice"), server.make_user("bob"), server.make_user("auditor")
    add_repo(server, "alice", "r1", grant=("bob", "write"))
    for path in ("logs", "aggregatelogs"):
        url = f"/api/v1/repository/alice/r1/{path}"
        assert server.call("GET", url, alice).status_code == 200
        assert server.call("GET", url, auditor).status_code == 200
        assert server.call("GET", url, bob).status_code == 403
        assert server.call("GET", url).status_code == 401
    assert server.call("GET", "/api/v1/repository/alice/missing/logs", alice).status_code == 404
    assert server.call("GET", "/api/v1/repository/alice/missing/logs", bob).status_code == 403


def test_superuser_logs_name_the_namespace(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    alice, auditor = server.make_user("alice"), server.make_user("auditor")
    make_org(server, "acme", admins=("alice",))
    seed(server, 1, namespace="acme", repo=None, kind="org_create_team")
    seed(server, 1, namespace="alice", repo=None, kind="user_change_email", start=BASE + timedelta(hours=1))
    body = server.call("GET", f"/api/v1/superuser/logs?{WINDOW}", server.admin_token).json()
    assert [(e["namespace"]["kind"], e["namespace"]["name"]) for e in body["logs"]] == [
        ("user", "alice"), ("org", "acme")]
    assert body["logs"][1]["namespace"]["avatar"]["kind"] == "org"
    assert server.call("GET", "/api/v1/superuser/logs", auditor).status_code == 200
    assert server.call("GET", "/api/v1/superuser/aggregatelogs", auditor).status_code == 200
    assert server.call("GET", "/api/v1/superuser/logs", alice).status_code == 403
    assert server.call("GET", "/api/v1/superuser/aggregatelogs", alice).status_code == 403
    no_su_scope = server.make_user("admin", "user:admin org:admin")
    assert server.call("GET", "/api/v1/superuser/logs", no_su_scope).status_code == 403


def test_declarations_follow_quay() -> None:
    ops = {op.operation_id: op for op in OPERATIONS}
    assert ops["listAllLogs"].fresh_login and ops["listAllAggregateLogs"].fresh_login
    assert ops["listAllAggregateLogs"].internal and not ops["listAllLogs"].internal
    assert ops["exportOrgLogs"].order == "validate-first" and ops["exportRepoLogs"].order == "permission-first"
    for op_id in ("getAggregateUserLogs", "getAggregateOrgLogs", "getAggregateRepoLogs"):
        assert ops[op_id].feature == "AGGREGATED_LOG_COUNT_RETRIEVAL"


# ---- aggregates ------------------------------------------------------------------------------------------


def test_aggregates_group_by_kind_and_day(server: Server, alice: str) -> None:
    seed(server, 3, kind="push_repo", start=datetime(2026, 3, 10, 1, tzinfo=UTC), step=timedelta(hours=1))
    seed(server, 2, kind="push_repo", start=datetime(2026, 3, 12, 1, tzinfo=UTC))
    seed(server, 1, kind="pull_repo", start=datetime(2026, 3, 12, 5, tzinfo=UTC))
    r = server.call("GET", "/api/v1/repository/alice/r1/aggregatelogs?starttime=03/05/2026&endtime=03/20/2026",
                    alice)
    assert r.status_code == 200
    got = {(a["kind"], a["datetime"][:16]): a["count"] for a in r.json()["aggregated"]}
    assert got == {("push_repo", "Tue, 10 Mar 2026"): 3, ("push_repo", "Thu, 12 Mar 2026"): 2,
                   ("pull_repo", "Thu, 12 Mar 2026"): 1}


def test_aggregate_days_before_the_start_day_belong_to_the_next_month(server: Server, alice: str) -> None:
    seed(server, 1, start=datetime(2026, 4, 2, 8, tzinfo=UTC))
    body = server.call("GET", "/api/v1/repository/alice/r1/aggregatelogs?starttime=03/20/2026&endtime=04/10/2026",
                       alice).json()
    assert [a["datetime"][:16] for a in body["aggregated"]] == ["Thu, 02 Apr 2026"]


def test_aggregate_range_is_capped_at_31_days(server: Server, alice: str) -> None:
    url = "/api/v1/repository/alice/r1/aggregatelogs"
    r = server.call("GET", f"{url}?starttime=03/01/2026&endtime=04/01/2026", alice)
    assert r.status_code == 400 and r.json() == {"message": "Invalid date range for logs"}
    assert server.call("GET", f"{url}?starttime=03/01/2026&endtime=03/31/2026", alice).status_code == 200
    r = server.call("GET", f"{url}?starttime=03/10/2026&endtime=03/01/2026", alice)
    assert r.status_code == 400 and r.json()["message"] != "Invalid date range for logs"
    r = server.call("GET", "/api/v1/superuser/aggregatelogs?starttime=01/01/2026&endtime=03/01/2026",
                    server.admin_token)
    assert r.status_code == 400


def test_aggregates_can_be_switched_off(make_server: Any) -> None:
    server = make_server({"FEATURE_AGGREGATED_LOG_COUNT_RETRIEVAL": False})
    token = server.make_user("alice")
    assert server.call("GET", "/api/v1/user/aggregatelogs", token).status_code == 404
    assert server.call("GET", "/api/v1/user/logs", token).status_code == 200


# ---- exports ---------------------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []
    status = 200

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        type(self).received.append(json.loads(self.rfile.read(length)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, type[_Receiver]]]:
    handler = type("Receiver", (_Receiver,), {"received": [], "status": 200})
    httpd = None
    for port in range(19200, 19300):
        try:
            httpd = HTTPServer(("127.0.0.1", port), handler)
            break
        except OSError:
            continue
    assert httpd is not None, "no free port in 19200-19299"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/hook", handler
    httpd.shutdown()
    httpd.server_close()
    thread.join(5)


def test_export_posts_the_entries_to_a_loopback_callback(server: Server, alice: str,
                                                         receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    seed(server, 3)
    r = server.call("POST", f"/api/v1/repository/alice/r1/exportlogs?{WINDOW}", alice, json={"callback_url": url})
    assert r.status_code == 200
    export_id = r.json()["export_id"]
    (posted,) = handler.received
    assert posted["export_id"] == export_id and posted["status"] == "success"
    assert posted["namespace"] == "alice" and posted["repository"] == "r1"
    assert [e["metadata"]["index"] for e in posted["logs"]] == [0, 1, 2]
    (entry,) = logs(server, "export_logs_success")
    assert entry["export_id"] == export_id and entry["url"] == url and entry["repo"] == "r1"


def test_export_refuses_callbacks_off_this_machine(server: Server, alice: str) -> None:
    for url in ("http://example.com/hook", "http://10.0.0.1/x", "ftp://127.0.0.1/x", "http://127.0.0.1@evil.test/",
                "http://169.254.169.254/latest/meta-data", "not a url"):
        r = server.call("POST", "/api/v1/user/exportlogs", alice, json={"callback_url": url})
        assert r.status_code == 400, url
        assert r.json() == {"message": "Invalid callback URL"}
    failures = logs(server, "export_logs_failure")
    assert len(failures) == 6 and failures[0]["error"] == "Invalid callback URL"
    assert loopback_url("http://localhost:8080/x") and loopback_url("https://[::1]/x")
    assert loopback_url("http://127.9.9.9/") and not loopback_url("http://localhost.evil.test/")


def test_export_checks_email_and_window(server: Server, alice: str) -> None:
    r = server.call("POST", "/api/v1/user/exportlogs", alice, json={"callback_email": "nobody"})
    assert r.status_code == 400 and r.json() == {"message": "Invalid callback e-mail"}
    r = server.call("POST", "/api/v1/user/exportlogs?starttime=03/10/2026&endtime=03/01/2026", alice, json={})
    assert r.status_code == 400 and r.json() == {"message": "Invalid time span selected"}
    assert server.call("POST", "/api/v1/user/exportlogs", alice, json={"callback_url": 3}).status_code == 400


def test_export_by_email_is_recorded_in_the_outbox(server: Server, alice: str) -> None:
    make_org(server, "acme", admins=("alice",))
    r = server.call("POST", "/api/v1/organization/acme/exportlogs", alice, json={"callback_email": "a@b.example"})
    assert r.status_code == 200
    with server.storage.transaction() as db:
        mail = db.conn.execute(select(t.outbox.c.kind, t.outbox.c.recipient, t.outbox.c.payload)).all()
    assert [(m[0], m[1], m[2]["export_id"]) for m in mail] == [("logsexported", "a@b.example",
                                                                 r.json()["export_id"])]


def test_failed_delivery_is_logged_as_a_failure(server: Server, alice: str,
                                                receiver: tuple[str, type[_Receiver]]) -> None:
    url, handler = receiver
    handler.status = 500
    r = server.call("POST", "/api/v1/user/exportlogs", alice, json={"callback_url": url})
    assert r.status_code == 200 and "export_id" in r.json()
    assert logs(server, "export_logs_success") == []
    assert "500" in logs(server, "export_logs_failure")[0]["error"]


def test_export_access(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    alice, bob, auditor = server.make_user("alice"), server.make_user("bob"), server.make_user("auditor")
    make_org(server, "acme", admins=("alice",), members=("bob",))
    add_repo(server, "acme", "r1")
    # Quay's odd exception: the read-only superuser may export an organization's logs, not a repository's.
    assert server.call("POST", "/api/v1/organization/acme/exportlogs", auditor, json={}).status_code == 200
    assert server.call("POST", "/api/v1/repository/acme/r1/exportlogs", auditor, json={}).status_code == 403
    assert server.call("POST", "/api/v1/organization/acme/exportlogs", bob, json={}).status_code == 403
    assert server.call("POST", "/api/v1/repository/acme/r1/exportlogs", alice, json={}).status_code == 200
    # Organization exports validate the body before the permission check, repository exports after it.
    assert server.call("POST", "/api/v1/organization/acme/exportlogs", bob, json=[]).status_code == 400
    assert server.call("POST", "/api/v1/repository/acme/r1/exportlogs", bob, json=[]).status_code == 403


def test_exports_can_be_switched_off(make_server: Any) -> None:
    server = make_server({"FEATURE_LOG_EXPORT": False})
    token = server.make_user("alice")
    assert server.call("POST", "/api/v1/user/exportlogs", token, json={}).status_code == 404


# ---- index use -------------------------------------------------------------------------------------------


def _plan_and_steps(server: Server, flt: LogFilter, before: tuple[datetime, int] | None) -> tuple[str, int]:
    """SQLite's plan for one log page, and how many VM steps running it took."""
    captured: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if "FROM log_entry" in statement:
            captured.append((statement, params))

    event.listen(server.storage.engine, "before_cursor_execute", capture)
    try:
        with server.storage.transaction() as db:
            db.log_page(flt, BASE - timedelta(days=1), BASE + timedelta(days=30), before=before, limit=21)
            statement, params = captured[0]
            plan = " | ".join(str(r[-1]) for r in db.conn.exec_driver_sql("EXPLAIN QUERY PLAN " + statement,
                                                                            params).all())
            raw = db.conn.connection.dbapi_connection
            assert raw is not None
            steps = [0]

            def count() -> int:
                steps[0] += 1
                return 0

            raw.set_progress_handler(count, 1)
            db.conn.exec_driver_sql(statement, params).all()
            raw.set_progress_handler(None, 1)
    finally:
        event.remove(server.storage.engine, "before_cursor_execute", capture)
    return plan, steps[0]


def test_log_pages_are_index_range_scans(server: Server, alice: str) -> None:
    with server.storage.transaction() as db:
        me = db.user_by_name("alice")
        repo = db.repository("alice", "r1")
    assert me is not None and repo is not None
    # A namespace plus performer filter may walk either matching index: both are ordered by (datetime, id).
    expected = [
        (("ix_log_repo_time",), LogFilter(repository_id=repo.id)),
        (("ix_log_account_time",), LogFilter(account_id=me.id, exclude_kinds=SERVICE_KEY_KINDS)),
        (("ix_log_performer_time", "ix_log_account_time"), LogFilter(account_id=me.id, performer_id=me.id)),
        (("ix_log_time",), LogFilter()),
    ]
    for indexes, flt in expected:
        for before in (None, (BASE + timedelta(hours=1), 10)):
            plan, _ = _plan_and_steps(server, flt, before)
            assert any(f"SEARCH log_entry USING INDEX {index} (" in plan for index in indexes), plan
            assert "TEMP B-TREE" not in plan, plan


def test_a_late_page_costs_what_the_first_page_costs(server: Server, alice: str) -> None:
    seed(server, 3000, step=timedelta(seconds=1))
    with server.storage.transaction() as db:
        repo = db.repository("alice", "r1")
        assert repo is not None
        rows = db.log_page(LogFilter(repository_id=repo.id), BASE, BASE + timedelta(days=1), before=None,
                           limit=2900)
    last = rows[-1]
    _, first = _plan_and_steps(server, LogFilter(repository_id=repo.id), None)
    _, late = _plan_and_steps(server, LogFilter(repository_id=repo.id), (last.datetime, last.id))
    assert late < first * 2, (first, late)



# ---- both backends ---------------------------------------------------------------------------------------

def test_log_queries_agree_on_every_backend(storage: Storage) -> None:
    with storage.transaction() as db:
        alice = db.create_namespace("alice", email="a@example.com")
        acme = db.create_namespace("acme", email=None, organization=True)
        for i in range(30):
            db.write_log("push_repo" if i % 3 else "service_key_create", account_id=acme.id if i % 2 else alice.id,
                         performer_id=alice.id, repository_id=None, ip=None, metadata={"i": i},
                         when=BASE + timedelta(hours=i) if i < 25 else BASE)  # five share one instant
    window = (BASE - timedelta(days=1), BASE + timedelta(days=3))
    with storage.transaction() as db:
        mine = LogFilter(account_id=alice.id, exclude_kinds=SERVICE_KEY_KINDS)
        seen: list[int] = []
        before = None
        while True:
            rows = db.log_page(mine, *window, before=before, limit=4)
            seen += [r.metadata["i"] for r in rows]
            if len(rows) < 4:
                break
            before = (rows[-1].datetime, rows[-1].id)
        expected = [i for i in range(30) if i % 2 == 0 and i % 3]
        assert sorted(seen) == expected and len(seen) == len(set(seen))
        assert all(r.datetime.tzinfo is not None for r in db.log_page(mine, *window, before=None, limit=5))
        counts = {(c.kind, c.day): c.count for c in db.log_counts(LogFilter(account_id=acme.id), *window)}
        assert sum(counts.values()) == 15 and {d for _, d in counts} <= {10, 11}
        everything = db.log_export(LogFilter(), *window, limit=100)
        assert len(everything) == 30 and everything[0].datetime <= everything[-1].datetime
        assert {r.account_name for r in everything} == {"alice", "acme"}


def test_log_reads_run_off_the_event_loop_and_writes_never_do() -> None:
    logs_ops = [op for op in OPERATIONS if "logs" in op.path]
    assert {op.operation_id for op in logs_ops if op.offload} == {op.operation_id for op in logs_ops
                                                                   if op.method == "GET"}
    assert not [op for op in OPERATIONS if op.offload and op.method != "GET"]
    with pytest.raises(ValueError, match="worker thread"):
        replace(logs_ops[0], method="POST", offload=True)


def test_a_long_log_query_does_not_hold_up_other_requests(server: Server, alice: str, monkeypatch: Any) -> None:
    """While one log page is being computed (here: held for a second), a repository read is answered."""
    started = threading.Event()
    original = LogQueries.log_page

    def slow(self: Any, *args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(1.0)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(LogQueries, "log_page", slow)

    async def both() -> tuple[float, float]:
        transport = httpx.ASGITransport(app=server.app)
        headers = {"Authorization": f"Bearer {alice}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as http:
            done: dict[str, float] = {}
            began = time.perf_counter()

            async def logs_call() -> None:
                assert (await http.get("/api/v1/repository/alice/r1/logs")).status_code == 200
                done["logs"] = time.perf_counter() - began

            async def repo_call() -> None:
                await anyio.to_thread.run_sync(started.wait)
                assert (await http.get("/api/v1/repository/alice/r1")).status_code == 200
                done["repo"] = time.perf_counter() - began

            async with anyio.create_task_group() as group:
                group.start_soon(logs_call)
                group.start_soon(repo_call)
            return done["logs"], done["repo"]

    logs_s, repo_s = anyio.run(both)
    assert logs_s >= 1.0 and repo_s < logs_s, (logs_s, repo_s)
