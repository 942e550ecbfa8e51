"""The audit-log invariant's machinery: the catalog's reverse lookup, the ledger's recording (httpx hooks on a
QuayClient over httpx.MockTransport), the matching of calls to log entries, the log reader and the verdicts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from harness.audit.expectations import LOGGED, UNLOGGED, Expected, expect
from harness.audit.ledger import AuditSummary, CallResult, Ledger, MutatingCall
from harness.audit.verify import LogEntry, ReadResult, SuperuserLogReader, Verifier, match, mismatches, same_value
from harness.auth import SessionAuth
from harness.catalog import Catalog
from harness.checks import Outcome
from harness.client import QuayClient

NOW = dt.datetime(2026, 5, 4, 12, 0, 0, tzinfo=dt.UTC)


def _op(method: str, op_id: str) -> dict[str, Any]:
    return {method: {"operationId": op_id, "tags": ["x"], "responses": {"200": {}}}}


CATALOG = Catalog({"paths": {
    "/api/v1/repository": {**_op("post", "createRepo"), **_op("get", "listRepos")},
    "/api/v1/repository/{repository}": {**_op("put", "updateRepo"), **_op("delete", "deleteRepository")},
    "/api/v1/repository/{repository}/tag/{tag}": _op("put", "changeTag"),
    "/api/v1/repository/{repository}/tag/{tag}/restore": _op("post", "restoreTag"),
    "/api/v1/organization/{orgname}/team/{teamname}": _op("put", "updateOrganizationTeam"),
    "/api/v1/signin": _op("post", "signinUser"),
    "/api/v1/user/starred": _op("post", "createStar"),
    "/api/v1/superuser/logs": _op("get", "listAllLogs"),
}})


# ---- the catalog's reverse lookup ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path", "op", "params"), [
    ("PUT", "/api/v1/repository/ns/r/tag/v1", "changeTag", {"repository": "ns/r", "tag": "v1"}),
    ("POST", "/api/v1/repository/ns/r/tag/v1/restore", "restoreTag", {"repository": "ns/r", "tag": "v1"}),
    ("PUT", "/api/v1/repository/ns/deep/name", "updateRepo", {"repository": "ns/deep/name"}),
    ("PUT", "/api/v1/organization/o/team/a%20b", "updateOrganizationTeam", {"orgname": "o", "teamname": "a b"}),
    ("POST", "/api/v1/repository", "createRepo", {}),
])
def test_catalog_matches_a_concrete_request_to_its_operation(method: str, path: str, op: str,
                                                             params: dict[str, str]) -> None:
    found = CATALOG.match(method, path)
    assert found is not None
    info, got = found
    assert (info.operation_id, got) == (op, params)


@pytest.mark.parametrize(("method", "path"), [("DELETE", "/api/v1/repository"), ("PUT", "/api/v1/repository/ns"),
                                              ("POST", "/api/v1/nowhere"), ("PUT", "/api/v1/repository/ns/r/tag/")])
def test_catalog_match_refuses_what_no_template_fits(method: str, path: str) -> None:
    assert CATALOG.match(method, path) is None


def test_catalog_match_is_the_inverse_of_resolve() -> None:
    method, path = CATALOG.resolve("changeTag", repository="ns/r", tag="a b")
    found = CATALOG.match(method, path)
    assert found is not None and found[0].operation_id == "changeTag" and found[1] == {"repository": "ns/r",
                                                                                      "tag": "a b"}


# ---- the ledger ----------------------------------------------------------------------------------------------------
class Answers:
    """A MockTransport handler: status by (method, path prefix), a Date header, and the order requests arrive."""

    def __init__(self, status: dict[tuple[str, str], int] | None = None) -> None:
        self.status = status or {}
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        code = self.status.get((request.method, request.url.path), 200)
        try:
            body = json.loads(request.content) if request.content else None
        except ValueError:
            body = None
        return httpx.Response(code, json={"echo": body}, headers={"date": "Mon, 04 May 2026 12:00:00 GMT"})


def _ledger(verify: Callable[[list[MutatingCall]], list[CallResult]] | None = None) -> Ledger:
    ledger = Ledger(CATALOG, verify or (lambda calls: [CallResult(c.operation_id, Outcome.PASSED, "")
                                                       for c in calls]))
    ledger.begin()
    return ledger


def _client(ledger: Ledger, handler: Answers, *, identity: str | None = "alice",
            auth: httpx.Auth | None = None) -> QuayClient:
    return QuayClient("http://quay.test", auth if auth is not None or identity is None else _Token(), CATALOG,
                      transport=httpx.MockTransport(handler), identity=identity, ledger=ledger)


class _Token(httpx.Auth):
    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = "Bearer t"
        yield request


def test_ledger_records_successful_mutating_calls_with_caller_params_and_bodies() -> None:
    ledger, answers = _ledger(), Answers()
    client = _client(ledger, answers)
    client.call("changeTag", repository="ns/r", tag="v1", json={"manifest_digest": "sha256:abc"})
    [call] = ledger.pending()
    assert (call.operation_id, call.method, call.path_params) == ("changeTag", "PUT", {"repository": "ns/r",
                                                                                      "tag": "v1"})
    assert call.caller == "alice" and not call.anonymous
    assert call.body == {"manifest_digest": "sha256:abc"} and call.reply == {"echo": {"manifest_digest": "sha256:abc"}}
    assert call.earliest is not None and NOW - dt.timedelta(seconds=5) < call.earliest < NOW


def test_ledger_ignores_reads_failures_and_paths_outside_the_api() -> None:
    ledger = _ledger()
    client = _client(ledger, Answers({("POST", "/api/v1/repository"): 400}))
    client.call("listRepos")
    client.call("createRepo", json={"repository": "r"})
    client.http.post("/oauth/authorizeapp", data={"x": "y"})
    client.http.post("/api/v1/not/in/the/catalog", json={})
    assert ledger.pending() == []


def test_ledger_resolves_raw_requests_through_the_catalog_and_marks_anonymous_callers() -> None:
    ledger = _ledger()
    anon = QuayClient("http://quay.test", None, CATALOG, transport=httpx.MockTransport(Answers()), ledger=ledger)
    anon.http.post("/api/v1/signin", json={"username": "bob", "password": "pw"})
    [call] = ledger.pending()
    assert call.operation_id == "signinUser" and call.anonymous and call.caller is None


def test_a_session_client_stamps_the_auth_flows_own_sign_in_with_its_user() -> None:
    ledger = _ledger()

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/csrf_token":
            return httpx.Response(200, json={"csrf_token": "c" * 20})
        return httpx.Response(200, json={}, headers={"date": "Mon, 04 May 2026 12:00:00 GMT"})

    client = QuayClient("http://quay.test", SessionAuth("carol", "secret-pw"), CATALOG,
                        transport=httpx.MockTransport(handler), identity="carol", ledger=ledger)
    client.call("createStar", json={"namespace": "ns", "repository": "r"})
    assert [(c.operation_id, c.caller) for c in ledger.pending()] == [("signinUser", "carol"), ("createStar", "carol")]


def test_finish_verifies_then_stops_recording_and_begin_forgets_cleanup_calls() -> None:
    verified: list[list[str]] = []

    def verify(calls: list[MutatingCall]) -> list[CallResult]:
        verified.append([c.operation_id for c in calls])
        return [CallResult(c.operation_id, Outcome.PASSED, "") for c in calls]

    ledger = _ledger(verify)
    client = _client(ledger, Answers())
    client.call("createRepo", json={"repository": "r"})
    ledger.finish()
    client.call("updateRepo", repository="ns/r", json={"description": "cleanup"})
    assert verified == [["createRepo"]] and ledger.pending() == []
    assert [r.operation_id for r in ledger.take_results()] == ["createRepo"]
    assert ledger.take_results() == []
    ledger.begin()
    client.call("updateRepo", repository="ns/r", json={"description": "next test"})
    assert [c.operation_id for c in ledger.pending()] == ["updateRepo"]


def test_pending_calls_are_verified_before_a_destructive_call_is_sent() -> None:
    answers = Answers()
    order: list[str] = []

    def verify(calls: list[MutatingCall]) -> list[CallResult]:
        order.append(f"verify {[c.operation_id for c in calls]} after {len(answers.seen)} requests")
        return [CallResult(c.operation_id, Outcome.PASSED, "") for c in calls]

    ledger = _ledger(verify)
    client = _client(ledger, answers)
    client.call("updateRepo", repository="ns/r", json={"description": "d"})
    client.call("deleteRepository", repository="ns/r")
    assert order == ["verify ['updateRepo'] after 1 requests"]
    assert [c.operation_id for c in ledger.pending()] == ["deleteRepository"]


def test_a_verifier_that_raises_turns_every_call_of_the_batch_into_an_error() -> None:
    def broken(calls: list[MutatingCall]) -> list[CallResult]:
        raise KeyError("boom")

    ledger = _ledger(broken)
    _client(ledger, Answers()).call("createRepo", json={"repository": "r"})
    ledger.flush()
    [result] = ledger.take_results()
    assert result.outcome is Outcome.ERROR and "KeyError" in result.detail


def test_without_a_verifier_or_before_begin_nothing_is_recorded() -> None:
    switched_off = Ledger(CATALOG, None)
    switched_off.begin()
    not_begun = Ledger(CATALOG, lambda calls: [])
    for ledger in (switched_off, not_begun):
        _client(ledger, Answers()).call("createRepo", json={"repository": "r"})
        assert ledger.pending() == []


def test_large_batches_are_verified_as_they_fill_up() -> None:
    batches: list[int] = []

    def verify(calls: list[MutatingCall]) -> list[CallResult]:
        batches.append(len(calls))
        return [CallResult(c.operation_id, Outcome.PASSED, "") for c in calls]

    ledger = Ledger(CATALOG, verify, auto_flush_at=3)
    ledger.begin()
    client = _client(ledger, Answers())
    for i in range(7):
        client.call("updateRepo", repository="ns/r", json={"description": str(i)})
    assert batches == [3, 3] and len(ledger.pending()) == 1


# ---- matching ------------------------------------------------------------------------------------------------------
def _call(op: str = "updateRepo", caller: str | None = "alice", **kw: Any) -> MutatingCall:
    fields: dict[str, Any] = {"operation_id": op, "method": "PUT", "path": "/x", "path_params": {}, "body": None,
                              "status": 200, "reply": None, "caller": caller, "anonymous": False,
                              "earliest": NOW - dt.timedelta(seconds=3)}
    fields.update(kw)
    return MutatingCall(**fields)


def _entry(metadata: dict[str, Any] | None = None, *, kind: str = "set_repo_description", ns: str | None = "ns",
           performer: str | None = "alice", at: dt.datetime | None = NOW) -> LogEntry:
    return LogEntry(kind, metadata or {}, performer, ns, at)


def test_same_value_accepts_ids_as_numbers_or_strings_but_not_booleans_as_numbers() -> None:
    assert same_value("12", 12) and same_value(12, "12") and same_value({"a": 1}, {"a": 1})
    assert not same_value(True, 1) and not same_value(1, True) and not same_value("x", "y")
    assert not same_value(None, "None")


def test_mismatches_name_every_difference() -> None:
    expected = Expected(("set_repo_description",), "ns", {"repo": "r", "description": "d"}, "alice")
    assert mismatches(expected, _call(), _entry({"repo": "r", "description": "d"})) == []
    wrong = _entry({"repo": "r", "description": "e"}, kind="create_repo", ns="other", performer="bob")
    assert mismatches(expected, _call(), wrong) == ["kind create_repo", "namespace other", "performer bob",
                                                    "metadata description='e'"]
    assert mismatches(expected, _call(), _entry({"repo": "r"})) == ["metadata lacks description"]


def test_an_entry_older_than_the_call_is_not_its_entry() -> None:
    expected = Expected(("set_repo_description",), "ns", {}, "alice")
    assert mismatches(expected, _call(), _entry(at=NOW - dt.timedelta(minutes=5))) == ["older than the call"]
    # Later entries may belong to it: a busy server's Date header can lag behind the log's clock.
    assert mismatches(expected, _call(), _entry(at=NOW + dt.timedelta(minutes=5))) == []
    assert mismatches(expected, _call(), _entry(at=None)) == []


def test_without_a_date_header_the_window_allows_for_clock_disagreement() -> None:
    ledger = _ledger()

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={})

    QuayClient("http://quay.test", _Token(), CATALOG, transport=httpx.MockTransport(handler), identity="a",
               ledger=ledger).call("createRepo", json={"repository": "r"})
    [call] = ledger.pending()
    now = dt.datetime.now(dt.UTC)
    assert call.earliest is not None and now - dt.timedelta(minutes=11) < call.earliest < now - dt.timedelta(minutes=9)


def test_unchecked_and_absent_performers() -> None:
    anyone = Expected(("k",), None, {}, None, check_performer=False)
    nobody = Expected(("k",), None, {}, None)
    assert mismatches(anyone, _call(), _entry(kind="k", performer="zed")) == []
    assert mismatches(nobody, _call(), _entry(kind="k", performer=None)) == []
    assert mismatches(nobody, _call(), _entry(kind="k", performer="zed")) == ["performer zed"]


def test_two_identical_calls_need_two_entries() -> None:
    expected = Expected(("set_repo_description",), "ns", {"description": "d"}, "alice")
    wanted = [(_call(), expected), (_call(), expected)]
    assert len(match(wanted, [_entry({"description": "d"})])) == 1
    assert len(match(wanted, [_entry({"description": "d"}), _entry({"description": "d"})])) == 2


def test_a_loose_expectation_does_not_starve_a_specific_one() -> None:
    loose = Expected(("delete_tag",), "ns", {}, "alice")
    specific = Expected(("delete_tag",), "ns", {"tag": "b"}, "alice")
    entries = [_entry({"tag": "b"}, kind="delete_tag"), _entry({"tag": "a"}, kind="delete_tag")]
    found = match([(_call(), loose), (_call(), specific)], entries)
    assert found == {0: 1, 1: 0}


# ---- the reader --------------------------------------------------------------------------------------------------
def _reader_client(pages: list[dict[str, Any]] | None, status: int = 200,
                   catalog: Catalog = CATALOG) -> tuple[QuayClient, list[str]]:
    asked: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("next_page", "")
        asked.append(token)
        if status != 200 or pages is None:
            return httpx.Response(status, json={"error": "no"})
        return httpx.Response(200, json=pages[int(token or 0)])

    return QuayClient("http://quay.test", _Token(), catalog, transport=httpx.MockTransport(handler)), asked


def _raw(kind: str, seconds_ago: int) -> dict[str, Any]:
    when = (NOW - dt.timedelta(seconds=seconds_ago)).strftime("%a, %d %b %Y %H:%M:%S -0000")
    return {"kind": kind, "metadata": {"n": seconds_ago}, "ip": "127.0.0.1", "datetime": when,
            "performer": {"kind": "user", "name": "alice", "is_robot": False, "avatar": {}},
            "namespace": {"kind": "org", "name": "ns", "avatar": {}}}


def test_the_reader_follows_next_page_until_entries_predate_the_batch() -> None:
    pages = [{"logs": [_raw("a", 0), _raw("b", 1)], "next_page": "1"},
             {"logs": [_raw("c", 2), _raw("d", 60)], "next_page": "2"},
             {"logs": [_raw("e", 120)]}]
    client, asked = _reader_client(pages)
    read = SuperuserLogReader(client).read(NOW - dt.timedelta(seconds=10))
    assert asked == ["", "1"] and read.complete and [e.kind for e in read.entries] == ["a", "b", "c", "d"]
    entry = read.entries[0]
    assert (entry.performer, entry.namespace, entry.metadata, entry.at) == ("alice", "ns", {"n": 0}, NOW)


def test_the_reader_stops_as_soon_as_the_entries_read_are_enough() -> None:
    pages = [{"logs": [_raw("a", 0)], "next_page": "1"}, {"logs": [_raw("b", 1)], "next_page": "2"},
             {"logs": [_raw("c", 2)]}]
    client, asked = _reader_client(pages)
    read = SuperuserLogReader(client).read(NOW - dt.timedelta(seconds=60),
                                           lambda entries: any(e.kind == "b" for e in entries))
    assert asked == ["", "1"] and read.complete and [e.kind for e in read.entries] == ["a", "b"]


def test_the_reader_gives_up_after_its_page_budget() -> None:
    pages = [{"logs": [_raw("a", 0)], "next_page": "1"}, {"logs": [_raw("b", 0)], "next_page": "0"}]
    client, _ = _reader_client(pages)
    read = SuperuserLogReader(client, max_pages=3).read(NOW - dt.timedelta(seconds=10))
    assert not read.complete and len(read.entries) == 3


@pytest.mark.parametrize(("status", "pages", "skipped", "failed"), [
    (403, None, True, False), (401, None, True, False), (500, None, False, True),
    (200, [{"logs": [], "search_unavailable": True}], True, False), (200, [{"nologs": []}], False, True),
])
def test_the_reader_tells_a_missing_right_or_feature_from_a_wrong_answer(status: int, pages: Any, skipped: bool,
                                                                         failed: bool) -> None:
    client, _ = _reader_client(pages, status)
    read = SuperuserLogReader(client).read(None)
    assert (read.skipped is not None, read.failed is not None) == (skipped, failed)


def test_the_reader_skips_a_target_without_the_superuser_listing() -> None:
    client, asked = _reader_client([], catalog=Catalog({"paths": {}}))
    read = SuperuserLogReader(client).read(None)
    assert read.skipped is not None and "listAllLogs" in read.skipped and asked == []


# ---- verdicts ------------------------------------------------------------------------------------------------------
class FakeReader:
    def __init__(self, *reads: ReadResult) -> None:
        self.reads = list(reads)
        self.calls = 0

    def read(self, since: dt.datetime | None, enough: Any = None) -> ReadResult:
        self.calls += 1
        return self.reads[min(self.calls, len(self.reads)) - 1]


def _update_repo(description: str = "d", caller: str | None = "alice") -> MutatingCall:
    return _call("updateRepo", caller, path_params={"repository": "ns/r"}, body={"description": description})


def test_a_call_with_its_entry_passes_and_one_without_fails_with_the_nearest_entry() -> None:
    entries = [_entry({"repo": "r", "namespace": "ns", "description": "d"})]
    results = Verifier(FakeReader(ReadResult(entries)))([_update_repo("d"), _update_repo("other")])
    assert [r.outcome for r in results] == [Outcome.PASSED, Outcome.FAILED]
    assert "no set_repo_description" in results[1].detail and "metadata description='d'" in results[1].detail


def test_declared_unlogged_undeclared_and_broken_rules_get_verdicts_without_reading() -> None:
    reader = FakeReader(ReadResult([]))
    results = Verifier(reader)([_call("createStar"), _call("noSuchOperation"),
                                _call("updateRepo", path_params={}, body=["not", "an", "object"])])
    assert results[0].outcome is Outcome.SKIPPED and UNLOGGED["createStar"] in results[0].detail
    assert results[1].outcome is Outcome.ERROR and "no audit-log declaration" in results[1].detail
    # updateRepo's rule needs the repository parameter: without it the namespace is "", which matches nothing.
    assert results[2].outcome is Outcome.FAILED
    assert reader.calls == 2  # one read for the only call with entries to find, and the second read it missed


def test_a_rule_that_raises_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(call: MutatingCall) -> list[Expected]:
        raise ValueError("bad rule")

    monkeypatch.setitem(LOGGED, "updateRepo", LOGGED["updateRepo"].__class__("test", boom))
    [result] = Verifier(FakeReader(ReadResult([])))([_update_repo()])
    assert result.outcome is Outcome.ERROR and "bad rule" in result.detail


@pytest.mark.parametrize(("read", "outcome"), [
    (ReadResult([], skipped="no logs here"), Outcome.SKIPPED),
    (ReadResult([], failed="HTTP 500"), Outcome.FAILED),
    (ReadResult([], complete=False), Outcome.ERROR),
])
def test_what_the_reader_could_not_do_decides_the_verdict(read: ReadResult, outcome: Outcome) -> None:
    [result] = Verifier(FakeReader(read))([_update_repo()])
    assert result.outcome is outcome


def test_a_missing_entry_is_read_once_more_after_the_retry_delay() -> None:
    slept: list[float] = []
    late = ReadResult([_entry({"repo": "r", "namespace": "ns", "description": "d"})])
    reader = FakeReader(ReadResult([]), late)
    [result] = Verifier(reader, retry_s=0.5, sleep=slept.append)([_update_repo()])
    assert result.outcome is Outcome.PASSED and slept == [0.5] and reader.calls == 2


def test_a_missing_entry_is_read_once_more_at_once_and_only_twice_in_all() -> None:
    """Quay's log pager can skip entries on one walk (equal timestamps at a page boundary): a second walk, cut
    elsewhere, finds them. Without a delay configured the second read follows at once; a third never comes."""
    slept: list[float] = []
    found = ReadResult([_entry({"repo": "r", "namespace": "ns", "description": "d"})])
    reader = FakeReader(ReadResult([]), found)
    [result] = Verifier(reader, sleep=slept.append)([_update_repo()])
    assert result.outcome is Outcome.PASSED and slept == [] and reader.calls == 2
    never = FakeReader(ReadResult([]), ReadResult([]), found)
    [result] = Verifier(never, sleep=slept.append)([_update_repo()])
    assert result.outcome is Outcome.FAILED and never.calls == 2


def test_an_entry_the_global_listing_loses_is_looked_for_in_the_namespaces_own_listing() -> None:
    """Quay's superuser listing can skip entries on every walk near equal timestamps; the namespace's own listing
    is paged separately. Found there, the entry is in the target's log; found nowhere, the call fails saying so."""
    entry = _entry({"repo": "r", "namespace": "ns", "description": "d"})
    asked: list[tuple[str, str | None]] = []

    def namespace_logs(namespace: str, caller: str | None) -> list[FakeReader]:
        asked.append((namespace, caller))
        return [FakeReader(ReadResult([], skipped="not allowed")), FakeReader(ReadResult([entry]))]

    [result] = Verifier(FakeReader(ReadResult([])), namespace_logs=namespace_logs)([_update_repo()])
    assert result.outcome is Outcome.PASSED and "namespace's own log listing" in result.detail
    assert asked == [("ns", "alice")]
    [result] = Verifier(FakeReader(ReadResult([])),
                        namespace_logs=lambda ns, caller: [FakeReader(ReadResult([]))])([_update_repo()])
    assert result.outcome is Outcome.FAILED and "not in the namespace's own log listing either" in result.detail


def test_summary_per_operation_keeps_the_worst_and_does_not_let_skips_hide_passes() -> None:
    summary = AuditSummary()
    for result in [CallResult("a", Outcome.PASSED, "", "t1"), CallResult("a", Outcome.SKIPPED, "why", "t2"),
                   CallResult("b", Outcome.PASSED, "", "t1"), CallResult("b", Outcome.FAILED, "missing", "t3"),
                   CallResult("c", Outcome.SKIPPED, "not logged", "t1")]:
        summary.add(CallResult.from_json(result.to_json()))
    assert summary.verdict("a") == (Outcome.PASSED, "1 calls verified in 2 tests")
    outcome, reason = summary.verdict("b")
    assert outcome is Outcome.FAILED and "missing [t3]" in reason
    assert summary.verdict("c") == (Outcome.SKIPPED, "not logged")


# ---- rules ---------------------------------------------------------------------------------------------------------
def test_expect_checks_the_caller_as_performer_none_for_anonymous_and_nothing_for_unknown() -> None:
    assert expect(_call(), "k", "ns", namespace="ns").performer == "alice"
    anonymous = expect(_call(caller=None, anonymous=True), "k", "ns")
    assert anonymous.check_performer and anonymous.performer is None
    assert not expect(_call(caller=None), "k", "ns").check_performer
    assert expect(_call(), "k", "ns", namespace="ns", dropped=None).metadata == {"namespace": "ns"}


def test_change_tag_expects_one_entry_per_change_the_body_asks_for() -> None:
    call = _call("changeTag", path_params={"repository": "ns/r", "tag": "v1"},
                 body={"manifest_digest": "sha256:1", "expiration": None})
    expected = LOGGED["changeTag"].rule(call)
    assert [(e.kinds, e.required) for e in expected] == [(("change_tag_expiration",), False),
                                                         (("create_tag", "move_tag"), True)]
    assert expected[1].metadata == {"namespace": "ns", "repo": "r", "tag": "v1", "username": "alice",
                                    "manifest_digest": "sha256:1"}


@pytest.mark.parametrize(("reply", "kinds"), [({"new_team": True}, [("org_create_team", True)]),
                                               ({"new_team": False}, [("org_set_team_description", False),
                                                                      ("org_set_team_role", False)])])
def test_a_team_put_expects_org_create_team_only_for_a_new_team(reply: dict[str, Any],
                                                                kinds: list[tuple[str, bool]]) -> None:
    call = _call("updateOrganizationTeam", path_params={"orgname": "o", "teamname": "t"},
                 body={"role": "member", "description": ""}, reply=reply)
    assert [(e.kinds[0], e.required) for e in LOGGED["updateOrganizationTeam"].rule(call)] == kinds
