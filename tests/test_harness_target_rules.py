"""Rules the harness follows so that a run against a real Quay gives no false result and leaves nothing behind:
retries on connections a server closed, sessions that survive a sign-out elsewhere, token clients that keep no
cookies, the target profile, token minting without a password, journaling of what tests create, cleanup that checks
its work, and the inventory comparison. Each against recorded answers on httpx.MockTransport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.auth import BearerAuth, SessionAuth
from harness.catalog import Catalog
from harness.checks import Outcome, classify
from harness.cli import _selection
from harness.client import QuayClient
from harness.config import load_config
from harness.errors import HarnessError, MissingCredential
from harness.inventory import Inventory, Item, compare, take_inventory
from harness.journal import pending_entries
from harness.profile import build_profile, infer_version, parse_version
from harness.transport import NoAnswerInTime, ResetBeforeAnswer, RetryOnReset
from harness.world import Target


# ---- the transport --------------------------------------------------------------------------------------------
class Flaky(httpx.BaseTransport):
    """Fails the first `failures` requests with `error`, then answers 200."""

    def __init__(self, error: Exception, failures: int = 1) -> None:
        self.error = error
        self.failures = failures
        self.sent: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request.method)
        if len(self.sent) <= self.failures:
            raise self.error
        return httpx.Response(200, json={"ok": True})


RESET = httpx.ReadError("[Errno 104] Connection reset by peer")
DISCONNECTED = httpx.RemoteProtocolError("Server disconnected without sending a response.")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
@pytest.mark.parametrize("error", [RESET, DISCONNECTED], ids=["reset", "disconnected"])
def test_an_idempotent_request_is_sent_again_once_when_the_connection_broke_before_an_answer(
        method: str, error: Exception) -> None:
    inner = Flaky(error)
    with httpx.Client(transport=RetryOnReset(inner)) as http:
        assert http.request(method, "http://q/api/v1/x").status_code == 200
    assert inner.sent == [method, method]


def test_a_second_break_is_not_retried_again() -> None:
    inner = Flaky(RESET, failures=2)
    with httpx.Client(transport=RetryOnReset(inner)) as http, pytest.raises(httpx.ReadError):
        http.get("http://q/api/v1/x")
    assert inner.sent == ["GET", "GET"]


@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_a_non_idempotent_request_is_never_sent_twice_and_the_error_says_what_is_known(method: str) -> None:
    inner = Flaky(RESET)
    with httpx.Client(transport=RetryOnReset(inner)) as http, pytest.raises(ResetBeforeAnswer) as caught:
        http.request(method, "http://q/api/v1/organization/", json={"name": "x"})
    assert inner.sent == [method]
    assert "may or may not have applied" in str(caught.value) and f"{method} is not idempotent" in str(caught.value)


def test_a_connection_that_never_opened_is_retried_for_any_method() -> None:
    inner = Flaky(httpx.ConnectError("refused"))
    with httpx.Client(transport=RetryOnReset(inner)) as http:
        assert http.post("http://q/api/v1/organization/", json={}).status_code == 200
    assert inner.sent == ["POST", "POST"]


def test_a_target_that_gives_no_answer_in_time_fails_the_test_rather_than_erroring_it() -> None:
    inner = Flaky(httpx.ReadTimeout("timed out"))
    with httpx.Client(transport=RetryOnReset(inner), timeout=7) as http, pytest.raises(NoAnswerInTime) as caught:
        http.put("http://q/v2/ns/r/blobs/uploads/1")
    assert inner.sent == ["PUT"]  # a request the target took is never sent again
    assert str(caught.value) == "PUT /v2/ns/r/blobs/uploads/1: the target gave no answer within 7 s"
    assert classify(caught.value) is Outcome.FAILED


# ---- cookies and sessions --------------------------------------------------------------------------------------
CATALOG = Catalog({"paths": {
    "/api/v1/signin": {"post": {"operationId": "signinUser"}},
    "/api/v1/signout": {"post": {"operationId": "logout"}},
    "/api/v1/user/": {"get": {"operationId": "getLoggedInUser"}},
}})


def test_a_token_client_keeps_no_cookie_a_sign_in_through_it_sets() -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("cookie"))
        return httpx.Response(200, json={"success": True}, headers={"set-cookie": "_csrf_token=x; session=other"})

    client = QuayClient("http://q", BearerAuth("token-abcdef-1"), CATALOG, transport=httpx.MockTransport(handler))
    client.call("signinUser", json={"username": "someone", "password": "their-password"})
    client.call("getLoggedInUser")
    assert seen == [None, None]  # the second request carries the token alone, not the other user's session


class FakeSessions:
    """Sign-in, CSRF and one protected read, with sessions the test can end (as Quay does on any sign-out)."""

    def __init__(self) -> None:
        self.valid: set[str] = set()
        self.signins = 0

    def end_all(self) -> None:
        self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        cookie = request.headers.get("cookie", "")
        session = cookie.split("session=", 1)[1].split(";", 1)[0] if "session=" in cookie else ""
        if request.url.path == "/csrf_token":
            return httpx.Response(200, json={"csrf_token": f"csrf-{session or 'anon'}"})
        if request.url.path == "/api/v1/signin":
            body = json.loads(request.content)
            if body["password"] != "right-password":
                return httpx.Response(403, json={"invalidCredentials": True})
            self.signins += 1
            new = f"s{self.signins}"
            self.valid.add(new)
            return httpx.Response(200, json={"success": True}, headers={"set-cookie": f"session={new}; Path=/"})
        if request.url.path == "/api/v1/signout":
            self.valid.discard(session)
            return httpx.Response(200, json={"success": True})
        if session not in self.valid:
            return httpx.Response(401, json={"error_type": "invalid_token", "detail": "Requires authentication"})
        return httpx.Response(200, json={"username": "alice", "session": session})


def _session_client(fake: FakeSessions, password: str = "right-password") -> tuple[QuayClient, SessionAuth]:
    auth = SessionAuth("alice", password)
    return QuayClient("http://q", auth, CATALOG, transport=httpx.MockTransport(fake)), auth


def test_a_session_the_target_ended_elsewhere_is_signed_in_again_once() -> None:
    fake = FakeSessions()
    client, auth = _session_client(fake)
    assert client.call("getLoggedInUser").json()["session"] == "s1"
    fake.end_all()  # another client of alice signed out: Quay ends every session of the user
    answer = client.call("getLoggedInUser")
    assert answer.status_code == 200 and answer.json()["session"] == "s2" and auth.renewals == 1


def test_a_session_that_signed_itself_out_stays_signed_out() -> None:
    fake = FakeSessions()
    client, auth = _session_client(fake)
    client.call("getLoggedInUser")
    assert client.call("logout").status_code == 200 and auth.signed_out
    assert client.call("getLoggedInUser").status_code == 401
    assert fake.signins == 1


def test_a_lost_session_whose_credentials_no_longer_work_gives_the_targets_refusal() -> None:
    fake = FakeSessions()
    client, auth = _session_client(fake)
    client.call("getLoggedInUser")
    fake.end_all()
    auth._password = "changed-since"  # the password was changed by a test: signing in again fails
    assert client.call("getLoggedInUser").status_code == 401 and auth.renewals == 0


def test_a_sign_in_sent_through_a_session_does_not_replace_its_user() -> None:
    fake = FakeSessions()
    client, _ = _session_client(fake)
    client.call("getLoggedInUser")
    client.call("signinUser", json={"username": "bob", "password": "right-password"})  # sets session s2
    assert client.call("getLoggedInUser").json()["session"] == "s1"


# ---- the target profile -----------------------------------------------------------------------------------------
def _catalog(*operations: str) -> Catalog:
    return Catalog({"paths": {f"/api/v1/{op}": {"get": {"operationId": op}} for op in operations}})


def test_versions_parse_from_what_quay_reports() -> None:
    assert parse_version("Quay v3.18.0") == (3, 18, 0)
    assert parse_version("v3.17.2-nightly-20260801") == (3, 17, 2)
    assert parse_version("") is None and parse_version(None) is None


def test_a_development_build_is_at_least_the_release_its_operations_first_shipped_in() -> None:
    version, basis = infer_version("Quay v3.11.0", _catalog("listOrganizationApplicationTokens"))
    assert version == "3.18.0" and "listOrganizationApplicationTokens" in basis and "v3.11.0" in basis
    assert infer_version("Quay v3.19.1", _catalog("listOrganizationApplicationTokens"))[0] == "3.19.1"
    assert infer_version("Quay v3.15.0", _catalog("getRepo"))[0] == "3.15.0"
    assert infer_version(None, _catalog("getRepo"))[0] is None


@pytest.mark.parametrize(("features", "operations", "membership"), [
    ({"MAILING": True, "REQUIRE_TEAM_INVITE": True}, (), "invite"),
    ({"MAILING": True, "REQUIRE_TEAM_INVITE": False}, (), "direct"),
    ({"MAILING": False, "REQUIRE_TEAM_INVITE": True}, (), "direct"),
    (None, ("inviteTeamMemberEmail",), "invite"),  # no /config: the mail-only routes stand in
    (None, (), "direct"),
])
def test_team_membership_is_one_rule_read_from_the_target(features: dict[str, bool] | None,
                                                          operations: tuple[str, ...], membership: str) -> None:
    config = {"features": features, "version_number": "Quay v3.17.0"} if features is not None else None
    profile = build_profile(_catalog(*operations), config, {"username": "admin", "super_user": True},
                            full_access_setting=False, readonly_superuser=None)
    assert profile.team_membership == membership


def test_expectations_that_changed_follow_the_targets_version() -> None:
    old = build_profile(_catalog(), {"features": {}, "version_number": "Quay v3.17.4"}, {"username": "a"},
                        full_access_setting=False, readonly_superuser=None)
    new = build_profile(_catalog(), {"features": {}, "version_number": "Quay v3.18.0"}, {"username": "a"},
                        full_access_setting=False, readonly_superuser=None)
    assert not old.has("org_email_shared") and new.has("org_email_shared")
    assert not old.has("quota_limit_inclusive") and new.has("quota_limit_inclusive")
    assert not old.superuser_confirmed


def test_full_access_is_read_from_the_target_over_the_setting() -> None:
    profile = build_profile(_catalog(), {"features": {"SUPERUSERS_FULL_ACCESS": True}}, {"username": "a"},
                            full_access_setting=False, readonly_superuser=None)
    assert profile.full_access


# ---- a fake Quay for the Target ---------------------------------------------------------------------------------
def _op(method: str, op_id: str) -> dict[str, Any]:
    return {method: {"operationId": op_id, "tags": ["x"], "responses": {"200": {}}}}


PATHS = {
    "/api/v1/user/": _op("get", "getLoggedInUser"),
    "/api/v1/user/robots": _op("get", "getUserRobots"),
    "/api/v1/user/robots/{robot_shortname}": {**_op("put", "createUserRobot"), **_op("delete", "deleteUserRobot")},
    "/api/v1/user/apptoken": _op("get", "listAppTokens"),
    "/api/v1/superuser/users/": {**_op("post", "createInstallUser"), **_op("get", "listAllUsers")},
    "/api/v1/superuser/organizations/": _op("get", "listAllOrganizations"),
    "/api/v1/superuser/users/{username}": {**_op("delete", "deleteInstallUser"), **_op("put", "changeInstallUser"),
                                           **_op("get", "getInstallUser")},
    "/api/v1/superuser/organizations/{name}": _op("delete", "deleteOrganization"),
    "/api/v1/organization/": _op("post", "createOrganization"),
    "/api/v1/organization/{orgname}": {**_op("delete", "deleteAdminedOrganization"),
                                       **_op("get", "getOrganization")},
    "/api/v1/organization/{orgname}/robots": _op("get", "getOrgRobots"),
    "/api/v1/organization/{orgname}/applications": {**_op("get", "getOrganizationApplications"),
                                                    **_op("post", "createOrganizationApplication")},
    "/api/v1/organization/{orgname}/applications/{client_id}/tokens": _op(
        "post", "createOrganizationApplicationToken"),
    "/api/v1/repository": _op("get", "listRepos"),
}


class FakeQuay:
    """Users (with an enabled flag), organizations, the admin's robots, and Quay's two cleanup traps: deleting a
    disabled user answers 204 and keeps it; deleting an org one no longer administers answers 403."""

    def __init__(self) -> None:
        self.users: dict[str, bool] = {"admin": True, "stranger": True}
        self.orgs: set[str] = {"theirs"}
        self.robots: set[str] = set()
        self.minted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else {}
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if path == "/api/v1/discovery":
            return httpx.Response(200, json={"swagger": "2.0", "paths": PATHS})
        if path == "/config":
            return httpx.Response(200, json={"features": {"MAILING": False}, "version_number": "Quay v3.11.0"})
        if method == "GET" and path.startswith("/api/v1/organization/") and path.count("/") == 4:
            return httpx.Response(200 if name in self.orgs else 404, json={"name": name, "teams": {}})
        assert request.headers.get("authorization") == "Bearer admintoken-123456"
        if path == "/api/v1/user/":
            return httpx.Response(200, json={"username": "admin", "super_user": True})
        if path == "/api/v1/user/robots":
            return httpx.Response(200, json={"robots": [{"name": f"admin+{r}"} for r in sorted(self.robots)]})
        if path.startswith("/api/v1/user/robots/"):
            if method == "PUT":
                self.robots.add(name)
                return httpx.Response(201, json={"name": f"admin+{name}", "token": "robot-token-abcdef"})
            self.robots.discard(name)
            return httpx.Response(204)
        if path == "/api/v1/user/apptoken":
            return httpx.Response(200, json={"tokens": []})
        if path == "/api/v1/superuser/users/":
            if method == "GET":
                return httpx.Response(200, json={"users": [{"username": u, "enabled": e}
                                                           for u, e in sorted(self.users.items())]})
            self.users[body["username"]] = True
            return httpx.Response(200, json={"username": body["username"], "password": "generated-pw-1"})
        if path == "/api/v1/superuser/organizations/":
            return httpx.Response(200, json={"organizations": [{"name": o} for o in sorted(self.orgs)]})
        if path.startswith("/api/v1/superuser/users/"):
            if method == "GET":
                return httpx.Response(200 if name in self.users else 404, json={"enabled": self.users.get(name)})
            if method == "PUT":
                if "enabled" in body:
                    self.users[name] = body["enabled"]
                return httpx.Response(200, json={"username": name})
            if self.users.get(name):  # Quay deletes only enabled users, and answers 204 either way
                del self.users[name]
            return httpx.Response(204)
        if method == "POST" and path == "/api/v1/organization/":
            self.orgs.add(body["name"])
            return httpx.Response(201, json="Created")
        if path.endswith("/applications/cid-1/tokens"):
            self.minted.append(body["scope"])
            return httpx.Response(200, json={"uuid": "u1", "token": f"minted-{len(self.minted)}-abcdef"})
        if path.endswith("/applications"):
            if method == "POST":
                return httpx.Response(200, json={"client_id": "cid-1", "client_secret": "secret-abcdef"})
            return httpx.Response(200, json={"applications": []})
        if path.endswith("/robots"):
            return httpx.Response(200, json={"robots": []})
        if method == "DELETE" and path.startswith("/api/v1/organization/"):
            if name not in self.orgs:
                return httpx.Response(403, json={"error_type": "insufficient_scope"})
            self.orgs.discard(name)
            return httpx.Response(204)
        if method == "DELETE" and path.startswith("/api/v1/superuser/organizations/"):
            self.orgs.discard(name)
            return httpx.Response(204)
        if path == "/api/v1/repository":
            return httpx.Response(200, json={"repositories": []})
        return httpx.Response(404, json={"error_type": "not_found"})


@pytest.fixture
def fake() -> FakeQuay:
    return FakeQuay()


def _target(tmp_path: Path, fake: FakeQuay) -> Target:
    cfg = load_config(target_url="http://quay.test", token="admintoken-123456", run_id="rules1",
                      reports_dir=tmp_path)
    return Target.connect(cfg, worker="gw0", transport=httpx.MockTransport(fake))


def test_with_only_a_token_the_target_says_who_the_superuser_is(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    assert target.admin_persona.name == "admin" and target.profile.superuser_confirmed
    assert target.profile.version == "3.18.0"  # reported 3.11.0, but it offers an operation of 3.18
    target.close()


def test_the_run_owns_its_own_names_and_no_other_runs(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    assert target.owns("qhrules1w0org3") and target.owns("qhrules1mrepo2") and target.owns("qhrules1w12")
    assert not target.owns("qhrules12w0org3") and not target.owns("devtable") and not target.owns("qhrules1x")
    target.close()


def test_without_a_password_tokens_of_chosen_scopes_come_from_the_token_api(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    token = target.admin_persona.token(["repo:read"])
    assert token == "minted-1-abcdef" and fake.minted == ["repo:read"]
    with pytest.raises(MissingCredential):
        target.admin_persona.session()
    target.close()


def test_what_a_test_creates_outside_the_run_is_journaled_and_undone(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    target.admin.call("createUserRobot", robot_shortname="qhrules1w0robot9", json={})
    target.admin.call("createOrganization", json={"name": "qhrules1w0org8"})
    assert [e.kind for e in target.tracker.pending()] == ["robot", "org"]
    assert target.tracker.undo() == []
    assert fake.robots == set() and "qhrules1w0org8" not in fake.orgs
    assert pending_entries(target.journal.path) == []
    target.close()


def test_a_disabled_user_is_enabled_again_so_that_its_deletion_takes_effect(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    world = target.world()
    user = world.user()
    fake.users[user.name] = False  # a test disabled it; Quay now answers 204 to its deletion and keeps it
    world.close()
    assert user.name not in fake.users and world.cleanup_failures == []
    target.close()


def test_cleanup_reports_a_namespace_that_survives_its_deletion(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    world = target.world()
    user = world.user()
    real = fake.__call__

    def keeps_users(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(204)  # says yes, deletes nothing
        return real(request)

    target.transport = httpx.MockTransport(keeps_users)
    target.admin_persona._clients.clear()
    world.close()
    assert world.cleanup_failures and "it still exists" in world.cleanup_failures[0]
    assert user.name in fake.users and [e.kind for e in pending_entries(target.journal.path)] == ["user"]
    target.close()


# ---- the inventory ------------------------------------------------------------------------------------------------
def test_the_inventory_lists_what_the_superuser_sees(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    fake.robots.add("ci")
    inventory = take_inventory(*target.inventory_clients())
    names = {key for key in inventory.items}
    assert {("user", "admin"), ("user", "stranger"), ("org", "theirs"), ("robot", "admin+ci")} <= names
    assert Inventory.from_json(json.loads(json.dumps(inventory.to_json()))).items == inventory.items
    target.close()


def test_the_comparison_splits_the_runs_own_leftovers_from_changes_outside_it() -> None:
    before = Inventory()
    before.add("user", "admin", "admin", enabled=True)
    before.add("org", "theirs", "theirs")
    after = Inventory()
    after.add("user", "admin", "admin", enabled=False)  # changed outside the prefix
    after.add("robot", "admin+stray", "admin")  # new outside the prefix
    after.add("org", "qhrun1w0org3", "qhrun1w0org3")  # the run's own, left behind
    after.add("robot", "admin+qhrun1w0robot2", "admin")  # the run's own robot in a foreign namespace
    diff = compare(before, after, lambda name: name.startswith("qhrun1"))
    assert not diff.clean
    assert [i.name for i in diff.added_outside] == ["admin+stray"]
    assert [i.name for i in diff.removed_outside] == ["theirs"]
    assert [a.name for a, _ in diff.changed_outside] == ["admin"]
    assert sorted(i.name for i in diff.left_inside) == ["admin+qhrun1w0robot2", "qhrun1w0org3"]
    assert compare(before, before, lambda name: False).clean
    assert Item("org", "x", "x").describe() == "org x"


# ---- narrowing a run -------------------------------------------------------------------------------------------
def test_test_paths_after_the_double_dash_narrow_the_run(tmp_path: Path) -> None:
    suites = tmp_path / "suites"
    (suites / "conformance").mkdir(parents=True)
    (suites / "conformance" / "test_team.py").write_text("")
    (suites / "security").mkdir()
    paths, rest = _selection(suites, ["conformance", "security"], ["conformance/test_team.py::test_x", "-k", "y"])
    assert paths == [f"{suites}/conformance/test_team.py::test_x"] and rest == ["-k", "y"]
    paths, _ = _selection(suites, ["conformance", "security"], ["security"])
    assert paths == [str(suites / "security")]
    with pytest.raises(HarnessError, match="no such test file"):
        _selection(suites, ["conformance"], ["conformance/test_nothing.py"])
    paths, rest = _selection(suites, ["conformance", "security"], ["-x"])
    assert paths == [str(suites / "conformance"), str(suites / "security")] and rest == ["-x"]


# ---- failures in words -------------------------------------------------------------------------------------------
pytest_plugins = ["pytester"]


def test_a_plain_assert_in_a_suite_fails_with_the_claim_in_words(pytester: pytest.Pytester) -> None:
    suite = pytester.mkdir("suites")
    (suite / "test_claims.py").write_text(
        'def test_adding_a_user_makes_a_member():\n'
        '    """Quay adds a user in no team of the org at once when invites are off."""\n'
        '    invited = True\n'
        '    assert invited is False\n')
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", str(suite))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Quay: Quay adds a user in no team of the org at once when invites are off.*",
                                 "*failed check: assert True is False*"])
