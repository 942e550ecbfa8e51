"""Robot accounts: user and organization robots, tokens, listing rules, permissions and federation."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import insert, select

from reference_server.storage import schema as t
from reference_server.storage.base import new_uuid, now
from tests.conftest import Server

FORBIDDEN_TEXT = ("You don't have the permission to access the requested resource. It is either "
                  "read-protected or not readable by the server.")


def make_org(server: Server, name: str, *, admins: tuple[str, ...] = (), members: tuple[str, ...] = ()) -> None:
    """An organization with an `owners` admin team and a `readers` member team (teams are someone else's
    API, so the rows are written directly)."""
    with server.storage.transaction() as db:
        org = db.create_namespace(name, email=f"{name}@example.com", organization=True)
        for team_name, role, people in (("owners", "admin", admins), ("readers", "member", members)):
            team_id = db.conn.execute(insert(t.team).values(org_id=org.id, name=team_name, role=role,
                                                            description="")).inserted_primary_key[0]
            for person in people:
                user = db.user_by_name(person)
                assert user is not None
                db.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=user.id))


def add_repo(server: Server, namespace: str, name: str, *, visibility: str = "private",
             grant: tuple[str, str] | None = None) -> None:
    with server.storage.transaction() as db:
        ns = db.user_by_name(namespace)
        assert ns is not None
        repo_id = db.conn.execute(insert(t.repository).values(
            namespace_id=ns.id, name=name, visibility=visibility, description="", kind="image",
            state="NORMAL", trust_enabled=False, created=now(), status_token=new_uuid())).inserted_primary_key[0]
        if grant is not None:
            who = db.user_by_name(grant[0])
            assert who is not None
            db.conn.execute(insert(t.repo_permission).values(repository_id=repo_id, user_id=who.id, role=grant[1]))


def logs(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.transaction() as db:
        rows = db.conn.execute(select(t.log_entry.c.metadata).where(t.log_entry.c.kind == kind)).all()
    return [r[0] for r in rows]


# ---- user robots -----------------------------------------------------------------------------------------


def test_create_user_robot_returns_201_with_token_and_logs(server: Server) -> None:
    r = server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"name", "created", "last_accessed", "description", "token", "unstructured_metadata"}
    assert body["name"] == "admin+bot1"
    assert body["description"] == ""
    assert body["unstructured_metadata"] is None
    assert body["last_accessed"] is None
    assert body["created"].endswith("-0000")
    assert re.fullmatch(r"[A-Z0-9]{64}", body["token"])
    assert logs(server, "create_robot")[-1]["robot"] == "bot1"


def test_get_user_robot_returns_same_token_and_stored_metadata(server: Server) -> None:
    created = server.call("PUT", "/api/v1/user/robots/bot2", server.admin_token,
                          json={"description": "CI robot", "unstructured_metadata": {"team": "x"}}).json()
    assert created["description"] == "CI robot"
    assert created["unstructured_metadata"] == {"team": "x"}
    got = server.call("GET", "/api/v1/user/robots/bot2", server.admin_token)
    assert got.status_code == 200
    assert got.json() == created
    server.call("PUT", "/api/v1/user/robots/bare", server.admin_token)
    assert server.call("GET", "/api/v1/user/robots/bare", server.admin_token).json()["unstructured_metadata"] == {}


def test_duplicate_and_invalid_robot_names_are_400_invalid_request(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    r = server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    assert r.status_code == 400
    assert r.json()["detail"] == "Existing robot with name: admin+bot1"
    assert r.json()["error_type"] == "invalid_request"
    r = server.call("PUT", "/api/v1/user/robots/Bad-Name", server.admin_token)
    assert r.status_code == 400
    assert r.json()["detail"] == ("The name for the robot 'Bad-Name' is invalid: Namespace must match "
                                  "expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$")


def test_bad_create_body_is_400(server: Server) -> None:
    r = server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token, json={"description": "x" * 256})
    assert r.status_code == 400
    assert r.json()["error_type"] == "invalid_request"
    r = server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token, json={"unstructured_metadata": 3})
    assert r.status_code == 400


def test_unknown_robot_is_400_message_not_404(server: Server) -> None:
    for method, path in (("GET", "/api/v1/user/robots/ghost"), ("POST", "/api/v1/user/robots/ghost/regenerate"),
                         ("GET", "/api/v1/user/robots/ghost/permissions"),
                         ("GET", "/api/v1/user/robots/ghost/federation")):
        r = server.call(method, path, server.admin_token)
        assert r.status_code == 400, path
        assert r.json() == {"message": "Could not find robot with specified username"}
    r = server.call("DELETE", "/api/v1/user/robots/ghost", server.admin_token)
    assert r.status_code == 400
    assert r.json() == {"message": "Could not find robot with username: admin+ghost"}


def test_regenerate_replaces_the_token(server: Server) -> None:
    old = server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token).json()["token"]
    r = server.call("POST", "/api/v1/user/robots/bot1/regenerate", server.admin_token)
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"name", "created", "last_accessed", "description", "token"}
    assert body["token"] != old and len(body["token"]) == 64
    with server.storage.transaction() as db:
        assert db.verify_robot_token("admin+bot1", old) is None
        assert db.verify_robot_token("admin+bot1", body["token"]) is not None
    assert server.call("GET", "/api/v1/user/robots/bot1", server.admin_token).json()["token"] == body["token"]
    assert logs(server, "regenerate_robot_token")[-1]["robot"] == "bot1"


def test_delete_user_robot_is_204_and_logged(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    r = server.call("DELETE", "/api/v1/user/robots/bot1", server.admin_token)
    assert r.status_code == 204
    assert r.content == b""
    assert server.call("GET", "/api/v1/user/robots/bot1", server.admin_token).status_code == 400
    assert logs(server, "delete_robot")[-1]["robot"] == "bot1"


def test_list_user_robots_token_and_permission_switches(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/one", server.admin_token, json={"description": "first"})
    server.call("PUT", "/api/v1/user/robots/two", server.admin_token)
    add_repo(server, "admin", "app", grant=("admin+one", "write"))
    robots = server.call("GET", "/api/v1/user/robots", server.admin_token).json()["robots"]
    assert [r["name"] for r in robots] == ["admin+two", "admin+one"]
    assert all(set(r) == {"name", "created", "last_accessed", "description", "token"} for r in robots)
    robots = server.call("GET", "/api/v1/user/robots?token=false&permissions=true", server.admin_token).json()
    one = next(r for r in robots["robots"] if r["name"] == "admin+one")
    assert one == {"name": "admin+one", "created": one["created"], "last_accessed": None, "teams": [],
                   "repositories": ["app"], "description": "first"}
    limited = server.call("GET", "/api/v1/user/robots?limit=1", server.admin_token).json()["robots"]
    assert len(limited) == 1


def test_user_robot_permissions_lists_repository_grants(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    add_repo(server, "admin", "pub", visibility="public", grant=("admin+bot1", "read"))
    r = server.call("GET", "/api/v1/user/robots/bot1/permissions", server.admin_token)
    assert r.status_code == 200
    assert r.json() == {"permissions": [{"repository": {"name": "pub", "is_public": True}, "role": "read"}]}


def test_user_robots_need_user_admin_scope_and_a_caller(server: Server) -> None:
    assert server.call("GET", "/api/v1/user/robots").status_code == 401
    weak = server.make_user("weak", "user:read repo:read")
    assert server.call("GET", "/api/v1/user/robots", weak).status_code == 403
    # Permission is checked before the body on user robots: a bad body from a weak token is still 403.
    r = server.call("PUT", "/api/v1/user/robots/bot1", weak, json={"description": 5})
    assert r.status_code == 403


def test_robots_of_another_user_are_not_visible(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/secret", server.admin_token)
    other = server.make_user("other")
    assert server.call("GET", "/api/v1/user/robots", other).json() == {"robots": []}
    assert server.call("GET", "/api/v1/user/robots/secret", other).status_code == 400


def test_user_robot_federation_round_trip(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    config = [{"issuer": "https://issuer.example.com", "subject": "ci-job"}]
    r = server.call("POST", "/api/v1/user/robots/bot1/federation", server.admin_token, json=config)
    assert r.status_code == 200
    assert r.json() == config
    assert server.call("GET", "/api/v1/user/robots/bot1/federation", server.admin_token).json() == config
    assert logs(server, "create_robot_federation")[-1]["config"] == config
    r = server.call("DELETE", "/api/v1/user/robots/bot1/federation", server.admin_token)
    assert r.status_code == 204
    assert server.call("GET", "/api/v1/user/robots/bot1/federation", server.admin_token).json() == []
    assert logs(server, "delete_robot_federation")[-1]["robot"] == "bot1"


def test_federation_body_rules(server: Server) -> None:
    server.call("PUT", "/api/v1/user/robots/bot1", server.admin_token)
    path = "/api/v1/user/robots/bot1/federation"
    r = server.call("POST", path, server.admin_token, json=[{"issuer": "ftp://x", "subject": "s"}])
    assert (r.status_code, r.json()["detail"]) == (400, "Issuer must be a URL (http:// or https://)")
    dup = {"issuer": "https://a.example.com", "subject": "s"}
    r = server.call("POST", path, server.admin_token, json=[dup, dup])
    assert (r.status_code, r.json()["detail"]) == (400, "Duplicate federation config entry")
    r = server.call("POST", path, server.admin_token, json=[{"issuer": "", "subject": "s"}])
    assert r.json()["detail"] == "Missing one or more required fields (issuer, subject)"
    assert server.call("POST", path, server.admin_token, json={"issuer": "x"}).status_code == 400
    assert server.call("POST", path, server.admin_token, json=[{"issuer": "https://a"}]).status_code == 400
    r = server.call("POST", path, server.admin_token)
    assert (r.status_code, r.json()["detail"]) == (400, "Missing JSON body")


def test_restricted_users_cannot_create_user_robots(make_server: Any) -> None:
    server = make_server({"FEATURE_RESTRICTED_USERS": True, "RESTRICTED_USERS_WHITELIST": ["friend"]})
    restricted = server.make_user("plain")
    assert server.call("PUT", "/api/v1/user/robots/bot1", restricted).status_code == 403
    assert server.call("GET", "/api/v1/user/robots", restricted).status_code == 200
    friend = server.make_user("friend")
    assert server.call("PUT", "/api/v1/user/robots/bot1", friend).status_code == 201


# ---- organization robots ---------------------------------------------------------------------------------


def test_org_admin_manages_org_robots(server: Server) -> None:
    owner = server.make_user("owner")
    make_org(server, "acme", admins=("owner",))
    r = server.call("PUT", "/api/v1/organization/acme/robots/deployer", owner, json={"description": "d"})
    assert r.status_code == 201
    token = r.json()["token"]
    assert r.json()["name"] == "acme+deployer"
    got = server.call("GET", "/api/v1/organization/acme/robots/deployer", owner).json()
    assert got["token"] == token and got["unstructured_metadata"] == {}
    new = server.call("POST", "/api/v1/organization/acme/robots/deployer/regenerate", owner).json()["token"]
    assert new != token
    assert server.call("DELETE", "/api/v1/organization/acme/robots/deployer", owner).status_code == 204
    r = server.call("GET", "/api/v1/organization/acme/robots/deployer", owner)
    assert r.json() == {"message": "Could not find robot with specified username"}


def test_org_member_lists_without_tokens_or_permissions(server: Server) -> None:
    owner = server.make_user("owner")
    member = server.make_user("member")
    make_org(server, "acme", admins=("owner",), members=("member",))
    server.call("PUT", "/api/v1/organization/acme/robots/bot", owner)
    as_admin = server.call("GET", "/api/v1/organization/acme/robots?permissions=true", owner).json()["robots"]
    assert "token" in as_admin[0] and as_admin[0]["teams"] == []
    r = server.call("GET", "/api/v1/organization/acme/robots?permissions=true", member)
    assert r.status_code == 200
    assert set(r.json()["robots"][0]) == {"name", "created", "last_accessed", "description"}
    assert server.call("GET", "/api/v1/organization/acme/robots/bot", member).status_code == 403
    assert server.call("PUT", "/api/v1/organization/acme/robots/bot2", member).status_code == 403


def test_outsiders_get_403_and_org_endpoints_validate_first(server: Server) -> None:
    make_org(server, "acme")
    outsider = server.make_user("outsider")
    r = server.call("PUT", "/api/v1/organization/acme/robots/bot9", outsider)
    assert r.status_code == 403
    assert r.json()["error_type"] == "insufficient_scope"
    # The body is checked before the org permission, so a bad body gives an outsider 400.
    r = server.call("PUT", "/api/v1/organization/acme/robots/bot9", outsider, json={"description": 1})
    assert r.status_code == 400
    assert server.call("GET", "/api/v1/organization/acme/robots").status_code == 401
    assert server.call("GET", "/api/v1/organization/acme/robots", outsider).status_code == 403


def test_org_robot_team_membership_and_permissions(server: Server) -> None:
    owner = server.make_user("owner")
    make_org(server, "acme", admins=("owner",))
    server.call("PUT", "/api/v1/organization/acme/robots/bot", owner)
    add_repo(server, "acme", "svc", grant=("acme+bot", "admin"))
    with server.storage.transaction() as db:
        robot = db.user_by_name("acme+bot")
        team_id = db.conn.execute(select(t.team.c.id).where(t.team.c.name == "readers")).scalar()
        assert robot is not None
        db.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=robot.id))
    listed = server.call("GET", "/api/v1/organization/acme/robots?permissions=true&token=false", owner).json()
    entry = listed["robots"][0]
    assert [tm["name"] for tm in entry["teams"]] == ["readers"]
    assert entry["teams"][0]["avatar"]["kind"] == "team"
    assert entry["repositories"] == ["svc"]
    assert "token" not in entry
    r = server.call("GET", "/api/v1/organization/acme/robots/bot/permissions", owner)
    assert r.json() == {"permissions": [{"repository": {"name": "svc", "is_public": False}, "role": "admin"}]}


def test_org_robot_permissions_refuses_non_admins_with_plain_403(server: Server) -> None:
    make_org(server, "acme", members=("admin",))
    r = server.call("GET", "/api/v1/organization/acme/robots/bot/permissions", server.admin_token)
    assert r.status_code == 403
    assert r.json() == {"message": FORBIDDEN_TEXT}
    assert server.call("GET", "/api/v1/organization/acme/robots/bot/permissions").status_code == 401


def test_org_robot_federation(server: Server) -> None:
    owner = server.make_user("owner")
    make_org(server, "acme", admins=("owner",))
    server.call("PUT", "/api/v1/organization/acme/robots/bot", owner)
    config = [{"issuer": "http://idp.local", "subject": "a"}, {"issuer": "http://idp.local", "subject": "b"}]
    path = "/api/v1/organization/acme/robots/bot/federation"
    assert server.call("POST", path, owner, json=config).json() == config
    assert server.call("GET", path, owner).json() == config
    assert server.call("DELETE", path, owner).status_code == 204
    assert server.call("GET", path, owner).json() == []


def test_superuser_needs_full_access_for_org_robots(make_server: Any) -> None:
    plain = make_server()
    make_org(plain, "acme")
    assert plain.call("PUT", "/api/v1/organization/acme/robots/bot", plain.admin_token).status_code == 403
    full = make_server({"FEATURE_SUPERUSERS_FULL_ACCESS": True})
    make_org(full, "acme")
    r = full.call("PUT", "/api/v1/organization/acme/robots/bot", full.admin_token)
    assert r.status_code == 201
    listed = full.call("GET", "/api/v1/organization/acme/robots", full.admin_token).json()["robots"]
    assert "token" in listed[0]
    # Full access passes the permission check for an unknown org; Quay then fails its org lookup.
    r = full.call("PUT", "/api/v1/organization/nosuch/robots/bot", full.admin_token)
    assert r.status_code == 400
    assert r.json() == {"message": "Organization does not exist: nosuch"}


def test_global_readonly_superuser_reads_org_robots_without_tokens(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    owner = server.make_user("owner")
    auditor = server.make_user("auditor")
    make_org(server, "acme", admins=("owner",))
    server.call("PUT", "/api/v1/organization/acme/robots/bot", owner)
    r = server.call("GET", "/api/v1/organization/acme/robots/bot", auditor)
    assert r.status_code == 200
    assert "token" not in r.json()
    listed = server.call("GET", "/api/v1/organization/acme/robots?permissions=true", auditor).json()["robots"]
    assert "teams" in listed[0] and "token" not in listed[0]
    assert server.call("GET", "/api/v1/organization/acme/robots/bot/permissions", auditor).status_code == 200
    assert server.call("PUT", "/api/v1/organization/acme/robots/bot2", auditor).status_code == 403
    assert server.call("DELETE", "/api/v1/organization/acme/robots/bot", auditor).status_code == 403
