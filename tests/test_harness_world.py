"""World seeding, journaling and cleanup against a small fake Quay on httpx.MockTransport."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.auth import ALL_SCOPES, BearerAuth
from harness.config import load_config
from harness.journal import pending_entries
from harness.world import Target, World, _live_worlds, replay_journal


def _op(method: str, op_id: str) -> dict[str, Any]:
    return {method: {"operationId": op_id, "tags": ["x"], "responses": {"200": {}}}}


PATHS = {
    "/api/v1/superuser/users/": _op("post", "createInstallUser"),
    "/api/v1/superuser/users/{username}": {**_op("delete", "deleteInstallUser"), **_op("put", "changeInstallUser"),
                                           **_op("get", "getInstallUser")},
    "/api/v1/organization/": _op("post", "createOrganization"),
    "/api/v1/organization/{orgname}": {**_op("delete", "deleteAdminedOrganization"),
                                       **_op("get", "getOrganization")},
    "/api/v1/superuser/organizations/{name}": _op("delete", "deleteOrganization"),
    "/api/v1/repository": _op("post", "createRepo"),
    "/api/v1/repository/{repository}": _op("delete", "deleteRepository"),
}


class FakeQuay:
    """Just enough of Quay for seeding: namespaces and repositories, plus a log of deletions."""

    def __init__(self) -> None:
        self.users = {"admin", "someoneelse"}
        self.orgs = {"preexisting"}
        self.repos = {"admin/keepme"}
        self.deleted: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path, method = request.url.path, request.method
        body = json.loads(request.content) if request.content else {}
        if path == "/api/v1/discovery":
            return httpx.Response(200, json={"swagger": "2.0", "paths": PATHS})
        if path == "/config":
            return httpx.Response(404)
        if method == "GET" and path.startswith("/api/v1/organization/"):  # public: anyone may look an org up
            found = path.rsplit("/", 1)[-1] in self.orgs
            return httpx.Response(200 if found else 404, json={"name": path.rsplit("/", 1)[-1]})
        assert request.headers.get("authorization") == "Bearer admintoken-123456"
        if method == "GET" and path == "/api/v1/user/":
            return httpx.Response(200, json={"username": "admin", "super_user": True})
        if method == "GET" and path.startswith("/api/v1/superuser/users/"):
            name = path.rsplit("/", 1)[-1]
            return httpx.Response(200 if name in self.users else 404, json={"username": name, "enabled": True})
        if method == "POST" and path == "/api/v1/superuser/users/":
            self.users.add(body["username"])
            return httpx.Response(200, json={"username": body["username"], "password": "generated-pw-1"})
        if method == "PUT" and path.startswith("/api/v1/superuser/users/"):
            return httpx.Response(200, json={"username": path.rsplit("/", 1)[-1]})
        if method == "POST" and path == "/api/v1/organization/":
            self.orgs.add(body["name"])
            return httpx.Response(201, json="Created")
        if method == "POST" and path == "/api/v1/repository":
            self.repos.add(f"{body['namespace']}/{body['repository']}")
            return httpx.Response(201, json={"namespace": body["namespace"], "name": body["repository"]})
        if method == "DELETE":
            name = path.rsplit("/", 1)[-1]
            self.deleted.append(path)
            if path.startswith("/api/v1/repository/"):
                self.repos.discard(path.removeprefix("/api/v1/repository/"))
            elif "organization" in path:
                self.orgs.discard(name)
                self.repos = {r for r in self.repos if not r.startswith(f"{name}/")}
            else:
                self.users.discard(name)
            return httpx.Response(204)
        return httpx.Response(404, json={"message": "not here"})


@pytest.fixture
def fake() -> FakeQuay:
    return FakeQuay()


def _target(tmp_path: Path, fake: FakeQuay, run_id: str = "run1") -> Target:
    cfg = load_config(target_url="http://quay.test", token="admintoken-123456", run_id=run_id,
                      reports_dir=tmp_path)
    return Target.connect(cfg, worker="gw3", transport=httpx.MockTransport(fake))


def test_world_names_everything_under_the_prefix_and_cleans_up_newest_first(tmp_path: Path,
                                                                          fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    with World(target) as world:
        user = world.user()
        org = world.org()
        repo = world.repo(org)
        mine = world.repo("admin")
        assert user.name.startswith("qhrun1w3") and org.startswith("qhrun1w3") and repo.startswith(f"{org}/")
        assert user.password == "generated-pw-1"
    assert fake.deleted == [f"/api/v1/repository/{mine}", f"/api/v1/organization/{org}",
                            f"/api/v1/superuser/users/{user.name}"]
    # The repo inside the org went with the org; nothing that existed before was touched.
    assert fake.users == {"admin", "someoneelse"} and fake.orgs == {"preexisting"} and fake.repos == {"admin/keepme"}
    assert pending_entries(target.journal.path) == []
    target.close()


def test_a_crashed_run_is_cleaned_by_replaying_its_journal(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    world = World(target)
    user = world.user()
    org = world.org()
    world.repo("admin")
    _live_worlds.discard(world)  # simulate a crash: no teardown ran
    journal = target.journal.path
    assert [e.kind for e in pending_entries(journal)] == ["user", "org", "repo"]

    fresh = _target(tmp_path, fake)  # a new process: no personas, only the superuser
    assert replay_journal(fresh, journal) == []
    assert fake.deleted[0].startswith("/api/v1/repository/admin/qhrun1")
    assert fake.deleted[1:] == [f"/api/v1/superuser/organizations/{org}", f"/api/v1/superuser/users/{user.name}"]
    assert pending_entries(journal) == []
    before = list(fake.deleted)
    assert replay_journal(fresh, journal) == []  # replaying again deletes nothing
    assert fake.deleted == before
    assert fake.repos == {"admin/keepme"}


def test_cleanup_failures_stay_pending_for_a_later_replay(tmp_path: Path, fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    world = World(target)
    world.org()
    fake_call = fake.__call__

    def refuse_deletes(request: httpx.Request) -> httpx.Response:
        if request.method == "DELETE":
            return httpx.Response(500, json={"message": "down"})
        return fake_call(request)

    target.transport = httpx.MockTransport(refuse_deletes)
    admin = target.make_client(BearerAuth("admintoken-123456"), "admin", identity="admin")
    target.admin_persona._clients[frozenset(ALL_SCOPES)] = admin
    world.close()
    assert world.cleanup_failures and "500" in world.cleanup_failures[0]
    assert [e.kind for e in pending_entries(target.journal.path)] == ["org"]


def test_registry_clients_share_the_targets_transport_and_record_only_when_asked(tmp_path: Path,
                                                                                  fake: FakeQuay) -> None:
    target = _target(tmp_path, fake)
    target.recorder.clear()
    for record in (False, True):
        client = target.registry_client("someone", "registry-password-1", record=record)
        try:
            assert client.http.get("/api/v1/discovery").status_code == 200  # served by the fake: same transport
        finally:
            client.close()
        assert len(target.recorder.recent()) == (1 if record else 0)
    target.close()
