"""The `permission` area: direct user/robot and team roles on a repository, and transitive roles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server
from tests.test_api_repository import add_team, create_repo, error_detail, log_entries, make_org, make_robot

pytestmark = pytest.mark.area("permission")

USERS = "/api/v1/repository/{}/permissions/user/"
TEAMS = "/api/v1/repository/{}/permissions/team/"


@pytest.mark.operation("listRepoUserPermissions", "changeUserPermissions", "getUserPermissions",
                       "deleteUserPermissions")
def test_user_permission_lifecycle(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "web")
    base = USERS.format("alice/web")
    # The creator holds an explicit admin row, even in their own namespace.
    listed = server.call("GET", base, alice).json()["permissions"]
    assert list(listed) == ["alice"]
    assert listed["alice"]["role"] == "admin"
    assert listed["alice"]["is_robot"] is False
    assert "is_org_member" not in listed["alice"]
    assert server.call("GET", "/api/v1/repository/alice/web", bob).status_code == 403

    r = server.call("PUT", base + "bob", alice, json={"role": "read"})
    assert r.status_code == 200
    view = r.json()
    assert (view["role"], view["name"], view["is_robot"]) == ("read", "bob", False)
    assert set(view["avatar"]) == {"name", "hash", "color", "kind"}
    assert server.call("GET", base + "bob", alice).json() == view
    # The grant takes effect: bob reads but cannot write.
    assert server.call("GET", "/api/v1/repository/alice/web", bob).json()["can_write"] is False
    assert server.call("PUT", "/api/v1/repository/alice/web", bob, json={"description": "x"}).status_code == 403
    assert server.call("PUT", base + "bob", alice, json={"role": "write"}).json()["role"] == "write"
    assert server.call("PUT", "/api/v1/repository/alice/web", bob, json={"description": "x"}).status_code == 200
    assert log_entries(server, "change_repo_permission")[-1]["metadata"] == {
        "username": "bob", "repo": "web", "namespace": "alice", "role": "write"}

    r = server.call("DELETE", base + "bob", alice)
    assert r.status_code == 204
    assert log_entries(server, "delete_repo_permission")[-1]["metadata"] == {
        "username": "bob", "repo": "web", "namespace": "alice"}
    assert server.call("GET", "/api/v1/repository/alice/web", bob).status_code == 403
    # A missing row: GET answers with a bare message, DELETE with the standard invalid_request body.
    r = server.call("GET", base + "bob", alice)
    assert (r.status_code, r.json()) == (400, {"message": "User does not have permission for repo."})
    r = server.call("DELETE", base + "bob", alice)
    assert r.status_code == 400
    assert error_detail(r) == "User does not have permission for repo."


@pytest.mark.operation("changeUserPermissions", "deleteUserPermissions")
def test_user_permission_refusals(server: Server) -> None:
    alice = server.make_user("alice")
    server.make_user("carol")
    create_repo(server, alice, "web")
    base = USERS.format("alice/web")
    for method in ("PUT", "DELETE"):
        r = server.call(method, base + "alice", alice, json={"role": "read"})
        assert r.status_code == 400
        assert error_detail(r) == "Namespace owner must always be admin."
    r = server.call("PUT", base + "nobody", alice, json={"role": "read"})
    assert r.status_code == 400
    assert error_detail(r) == "Invalid username: nobody"
    make_robot(server, "carol+bot")
    r = server.call("PUT", base + "carol+bot", alice, json={"role": "read"})
    assert r.status_code == 400
    assert error_detail(r) == "Cannot add robot carol+bot under namespace alice"
    r = server.call("PUT", base + "carol", alice, json={"role": "owner"})
    assert r.status_code == 400
    assert error_detail(r).startswith("'owner' is not one of ['read', 'write', 'admin']")
    make_robot(server, "alice+bot")
    r = server.call("PUT", base + "alice+bot", alice, json={"role": "write"})
    assert r.status_code == 200
    assert r.json()["is_robot"] is True
    assert r.json()["avatar"]["kind"] == "robot"


@pytest.mark.operation("listRepoUserPermissions", "changeUserPermissions")
def test_only_admins_manage_permissions(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "web")
    base = USERS.format("alice/web")
    server.call("PUT", base + "bob", alice, json={"role": "write"})
    assert server.call("GET", base, bob).status_code == 403
    assert server.call("PUT", base + "bob", bob, json={"role": "admin"}).status_code == 403
    assert server.call("GET", base).status_code == 401
    # Permission first: an outsider's invalid body is still a 403.
    assert server.call("PUT", base + "bob", bob, json={"role": 1}).status_code == 403
    server.call("PUT", base + "bob", alice, json={"role": "admin"})
    assert server.call("GET", base, bob).status_code == 200
    # A repo:write token caps the admin role away.
    capped = server.make_user("alice", scopes="repo:write")
    assert server.call("GET", base, capped).status_code == 403


@pytest.mark.operation("listRepoUserPermissions", "changeUserPermissions")
def test_global_readonly_reads_but_never_writes(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["gro"]})
    alice = server.make_user("alice")
    gro = server.make_user("gro")
    create_repo(server, alice, "web")
    base = USERS.format("alice/web")
    assert server.call("GET", base, gro).status_code == 200
    assert server.call("GET", TEAMS.format("alice/web"), gro).status_code == 200
    assert server.call("PUT", base + "gro", gro, json={"role": "read"}).status_code == 403


@pytest.mark.operation("listRepoTeamPermissions", "changeTeamPermissions", "getTeamPermissions",
                       "deleteTeamPermissions", "getUserTransitivePermission")
def test_team_permissions_and_transitive_roles(server: Server) -> None:
    boss = server.make_user("boss")
    dev = server.make_user("dev")
    server.make_user("loner")
    make_org(server, "acme", "boss")
    add_team(server, "acme", "devs", "member", ["dev"])
    create_repo(server, boss, "app", namespace="acme")
    teams = TEAMS.format("acme/app")
    users = USERS.format("acme/app")
    assert server.call("GET", "/api/v1/repository/acme/app", dev).status_code == 403

    r = server.call("PUT", teams + "devs", boss, json={"role": "write"})
    assert r.status_code == 200
    view = r.json()
    assert (view["role"], view["name"], view["avatar"]["kind"]) == ("write", "devs", "team")
    assert log_entries(server, "change_repo_permission")[-1]["metadata"] == {
        "team": "devs", "repo": "app", "role": "write"}
    assert server.call("GET", teams, boss).json() == {"permissions": {"devs": view}}
    assert server.call("GET", teams + "devs", boss).json() == {"role": "write"}
    assert server.call("GET", "/api/v1/repository/acme/app", dev).json()["can_write"] is True

    # Transitive: the team's row counts; a direct row adds another entry.
    r = server.call("GET", users + "dev/transitive", boss)
    assert (r.status_code, r.json()) == (200, {"permissions": [{"role": "write"}]})
    server.call("PUT", users + "dev", boss, json={"role": "read"})
    roles = server.call("GET", users + "dev/transitive", boss).json()["permissions"]
    assert sorted(p["role"] for p in roles) == ["read", "write"]
    assert server.call("GET", users + "loner/transitive", boss).status_code == 404
    assert server.call("GET", users + "nobody/transitive", boss).status_code == 404
    # In an organization the user view says whether the user sits in one of its teams.
    listed = server.call("GET", users, boss).json()["permissions"]
    assert listed["dev"]["is_org_member"] is True
    server.call("PUT", users + "loner", boss, json={"role": "read"})
    assert server.call("GET", users + "loner", boss).json()["is_org_member"] is False

    r = server.call("DELETE", teams + "devs", boss)
    assert r.status_code == 204
    assert log_entries(server, "delete_repo_permission")[-1]["metadata"] == {"team": "devs", "repo": "app"}
    r = server.call("GET", teams + "devs", boss)
    assert (r.status_code, r.json()) == (400, {"message": "Team does not have permission for repo."})
    r = server.call("DELETE", teams + "devs", boss)
    assert r.status_code == 400
    assert error_detail(r) == "Team does not have permission for repo."


@pytest.mark.operation("changeTeamPermissions")
def test_team_must_belong_to_the_repositorys_organization(server: Server) -> None:
    boss = server.make_user("boss")
    make_org(server, "acme", "boss")
    make_org(server, "other", "boss")
    add_team(server, "other", "strangers", "member", [])
    create_repo(server, boss, "app", namespace="acme")
    r = server.call("PUT", TEAMS.format("acme/app") + "strangers", boss, json={"role": "read"})
    assert r.status_code == 400
    assert error_detail(r) == "No team strangers in organization acme"
    create_repo(server, boss, "mine")
    r = server.call("PUT", TEAMS.format("boss/mine") + "owners", boss, json={"role": "read"})
    assert r.status_code == 400
    assert error_detail(r) == "No team owners in organization boss"


@pytest.mark.operation("listRepoUserPermissions")
def test_org_admin_team_administers_every_org_repo(server: Server) -> None:
    boss = server.make_user("boss")
    chief = server.make_user("chief")
    make_org(server, "acme", "boss")
    create_repo(server, boss, "app", namespace="acme")
    assert server.call("GET", USERS.format("acme/app"), chief).status_code == 403
    add_team(server, "acme", "chiefs", "admin", ["chief"])
    assert server.call("GET", USERS.format("acme/app"), chief).status_code == 200
    # Missing repositories in a namespace the caller administers: an empty list, a 404 transitive answer.
    assert server.call("GET", USERS.format("acme/none"), chief).json() == {"permissions": {}}
    assert server.call("GET", USERS.format("acme/none") + "boss/transitive", chief).status_code == 404
