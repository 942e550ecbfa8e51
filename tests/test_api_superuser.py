"""The superuser panel (users, organizations, app tokens, ownership) and bootstrap token renewal."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from reference_server.api import OPERATIONS
from reference_server.storage import schema as t
from reference_server.storage.base import new_uuid, now
from tests.conftest import Server
from tests.test_api_robot import logs, make_org

USERS = "/api/v1/superuser/users/"


def test_list_users_view_and_access(server: Server) -> None:
    r = server.call("GET", USERS, server.admin_token)
    assert r.status_code == 200
    admin = r.json()["users"][0]
    assert list(admin) == ["kind", "name", "username", "email", "verified", "avatar", "super_user",
                           "global_readonly_super_user", "enabled"]
    assert admin["super_user"] is True and admin["kind"] == "user" and admin["avatar"]["kind"] == "user"
    assert "next_page" not in r.json()
    assert server.call("GET", USERS).status_code == 401
    plain = server.make_user("plain")
    r = server.call("GET", USERS, plain)
    assert r.status_code == 403
    assert r.json()["detail"] == "Unauthorized"
    # Superuser rights need the super:user scope in the token.
    scoped = server.make_user("admin", "user:admin org:admin")
    assert server.call("GET", USERS, scoped).status_code == 403


def test_list_users_paginates_with_opaque_tokens(server: Server) -> None:
    for name in ("u1", "u2", "u3", "u4"):
        server.make_user(name)
    assert server.call("GET", USERS + "?limit=101", server.admin_token).status_code == 400
    seen: list[str] = []
    url = USERS + "?limit=2"
    pages = 0
    while True:
        body = server.call("GET", url, server.admin_token).json()
        assert len(body["users"]) <= 2
        seen += [u["username"] for u in body["users"]]
        pages += 1
        if "next_page" not in body:
            break
        # Opaque: encrypted, so no readable page state (a bare name could appear in base64 by chance).
        assert "{" not in body["next_page"] and '"' not in body["next_page"]
        url = USERS + "?limit=2&next_page=" + body["next_page"]
    assert seen == ["admin", "u1", "u2", "u3", "u4"] and pages == 3
    # A token that does not decrypt restarts at the first page.
    first = server.call("GET", USERS + "?limit=2&next_page=garbage", server.admin_token).json()
    assert [u["username"] for u in first["users"]] == ["admin", "u1"]


def test_list_users_can_leave_disabled_users_out(server: Server) -> None:
    server.make_user("gone")
    server.call("PUT", USERS + "gone", server.admin_token, json={"enabled": False})
    everyone = {u["username"] for u in server.call("GET", USERS, server.admin_token).json()["users"]}
    enabled = {u["username"] for u in server.call("GET", USERS + "?disabled=false",
                                                  server.admin_token).json()["users"]}
    assert "gone" in everyone and "gone" not in enabled


def test_global_readonly_superuser_reads_but_cannot_write(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    auditor = server.make_user("auditor")
    body = server.call("GET", USERS, auditor).json()
    me = next(u for u in body["users"] if u["username"] == "auditor")
    assert me["global_readonly_super_user"] is True and me["super_user"] is False
    assert server.call("GET", USERS + "admin", auditor).status_code == 200
    assert server.call("POST", USERS, auditor, json={"username": "x1"}).status_code == 403
    assert server.call("GET", "/api/v1/superuser/changelog/", auditor).status_code == 200


def test_create_install_user_returns_a_working_password(server: Server) -> None:
    r = server.call("POST", USERS, server.admin_token, json={"username": "newbie", "email": "n@example.com"})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == {"username", "email", "password", "encrypted_password"}
    assert body["username"] == "newbie" and body["email"] == "n@example.com" and len(body["password"]) == 32
    with server.storage.transaction() as db:
        user = db.user_by_name("newbie")
        assert user is not None and not user.verified  # mail is on, so the address still needs confirming
        assert db.secrets.verify_password(db.password_hash(user.id), body["password"])
        mail = db.conn.execute(select(t.outbox.c.kind, t.outbox.c.recipient)).all()
    assert ("confirm_email", "n@example.com") in [tuple(m) for m in mail]
    assert logs(server, "user_create")[-1]["username"] == "newbie"


def test_create_install_user_refusals(server: Server) -> None:
    r = server.call("POST", USERS, server.admin_token, json={"username": "nomail"})
    assert (r.status_code, r.json()) == (400, {"message": "Invalid email address: None"})
    r = server.call("POST", USERS, server.admin_token, json={"username": "Bad", "email": "b@example.com"})
    assert r.status_code == 400 and r.json()["message"].startswith("Invalid namespace Bad:")
    r = server.call("POST", USERS, server.admin_token, json={"username": "admin", "email": "z@example.com"})
    assert r.json() == {"message": "Username has already been taken by user cannot be reused: admin"}
    r = server.call("POST", USERS, server.admin_token, json={"username": "dup", "email": "admin@example.com"})
    assert r.json() == {"message": "Email has already been used: admin@example.com"}
    r = server.call("POST", USERS, server.admin_token, json={"email": "x@example.com"})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"


def test_create_install_user_without_mailing_needs_no_email(make_server: Any) -> None:
    server = make_server({"FEATURE_MAILING": False})
    r = server.call("POST", USERS, server.admin_token, json={"username": "quiet"})
    assert r.status_code == 200 and r.json()["email"] is None
    with server.storage.transaction() as db:
        user = db.user_by_name("quiet")
        assert user is not None and user.verified


def test_get_change_and_delete_install_user(server: Server) -> None:
    server.make_user("bob")
    assert server.call("GET", USERS + "nosuch", server.admin_token).status_code == 404
    assert server.call("GET", USERS + "bob", server.admin_token).json()["email"] == "bob@example.com"
    r = server.call("PUT", USERS + "bob", server.admin_token,
                    json={"password": "newpassword1", "email": "bob2@example.com", "enabled": False})
    assert r.status_code == 200
    assert r.json()["email"] == "bob2@example.com"
    with server.storage.transaction() as db:
        bob = db.user_by_name("bob")
        assert bob is not None and not bob.enabled and bob.email == "bob2@example.com"
        assert db.secrets.verify_password(db.password_hash(bob.id), "newpassword1")
    assert logs(server, "user_disable") and logs(server, "user_change_password")
    r = server.call("PUT", USERS + "bob", server.admin_token, json={"password": "short"})
    assert r.json() == {"message": "Invalid password, password must be at least 8 characters and contain "
                                   "no whitespace."}
    assert server.call("PUT", USERS + "bob", server.admin_token, json={"enabled": "no"}).status_code == 400
    r = server.call("DELETE", USERS + "bob", server.admin_token)
    assert r.status_code == 204
    assert server.call("GET", USERS + "bob", server.admin_token).status_code == 404


def test_superusers_cannot_be_changed_or_deleted(server: Server) -> None:
    r = server.call("PUT", USERS + "admin", server.admin_token, json={"enabled": False})
    assert r.status_code == 400 and r.json()["detail"] == "Cannot update a superuser"
    r = server.call("DELETE", USERS + "admin", server.admin_token)
    assert r.status_code == 400 and r.json()["detail"] == "Cannot delete a superuser"


def test_organizations_list_rename_and_delete(server: Server) -> None:
    make_org(server, "acme")
    make_org(server, "beta")
    with server.storage.transaction() as db:
        db.create_robot("acme+bot", "", None)
    orgs = server.call("GET", "/api/v1/superuser/organizations/", server.admin_token).json()["organizations"]
    assert [o["name"] for o in orgs] == ["acme", "beta"]
    assert orgs[0] == {"name": "acme", "email": "acme@example.com", "avatar": orgs[0]["avatar"]}
    paged = server.call("GET", "/api/v1/superuser/organizations/?limit=1", server.admin_token).json()
    assert len(paged["organizations"]) == 1 and "next_page" in paged
    r = server.call("PUT", "/api/v1/superuser/organizations/acme", server.admin_token, json={"name": "acme2"})
    assert r.status_code == 200 and r.json()["name"] == "acme2"
    with server.storage.transaction() as db:
        assert db.robot("acme2+bot") is not None and db.user_by_name("acme") is None
    r = server.call("PUT", "/api/v1/superuser/organizations/beta", server.admin_token, json={"name": "admin"})
    assert r.status_code == 400
    r = server.call("PUT", "/api/v1/superuser/organizations/nosuch", server.admin_token, json={})
    assert r.json() == {"message": "Organization does not exist: nosuch"}
    assert server.call("DELETE", "/api/v1/superuser/organizations/beta", server.admin_token).status_code == 204
    orgs = server.call("GET", "/api/v1/superuser/organizations/", server.admin_token).json()["organizations"]
    assert [o["name"] for o in orgs] == ["acme2"]
    assert logs(server, "org_delete")[-1]["namespace"] == "beta"


def test_take_ownership_of_an_org_and_of_a_user(server: Server) -> None:
    make_org(server, "acme")
    server.make_user("victim")
    r = server.call("POST", "/api/v1/superuser/takeownership/acme", server.admin_token)
    assert (r.status_code, r.json()) == (200, {"namespace": "acme"})
    with server.storage.transaction() as db:
        admin = db.user_by_name("admin")
        org = db.user_by_name("acme")
        assert admin is not None and org is not None
        assert db.org_team_role(admin.id, org.id) == 3
    r = server.call("POST", "/api/v1/superuser/takeownership/victim", server.admin_token)
    assert r.status_code == 200
    with server.storage.transaction() as db:
        victim = db.user_by_name("victim")
        assert victim is not None and victim.organization
    meta = logs(server, "take_ownership")[-1]
    assert meta["was_user"] is True and meta["namespace"] == "victim" and meta["superuser"] == "admin"
    r = server.call("POST", "/api/v1/superuser/takeownership/admin", server.admin_token)
    assert r.status_code == 400 and r.json()["detail"] == "Cannot take ownership of a superuser"
    assert server.call("POST", "/api/v1/superuser/takeownership/nosuch", server.admin_token).status_code == 404


def test_app_tokens_listing_needs_full_access_or_readonly(make_server: Any) -> None:
    plain = make_server()
    assert plain.call("GET", "/api/v1/superuser/apptokens", plain.admin_token).status_code == 403
    full = make_server({"FEATURE_SUPERUSERS_FULL_ACCESS": True, "GLOBAL_READONLY_SUPER_USERS": ["auditor"]})
    with full.storage.transaction() as db:
        admin = db.user_by_name("admin")
        assert admin is not None
        for title, expires in (("soon", now() + timedelta(hours=1)), ("later", now() + timedelta(days=300))):
            db.conn.execute(insert(t.app_specific_token).values(
                uuid=new_uuid(), user_id=admin.id, title=title, token_hash=new_uuid(), token_enc="x",
                created=now(), expiration=expires))
    body = full.call("GET", "/api/v1/superuser/apptokens", full.admin_token).json()
    assert sorted(tok["title"] for tok in body["tokens"]) == ["later", "soon"]
    assert all("token_code" not in tok for tok in body["tokens"])
    soon = full.call("GET", "/api/v1/superuser/apptokens?expiring=true", full.admin_token).json()
    assert [tok["title"] for tok in soon["tokens"]] == ["soon"] and soon["only_expiring"] is True
    auditor = full.make_user("auditor")
    assert full.call("GET", "/api/v1/superuser/apptokens", auditor).status_code == 200


def test_change_log_and_recovery_mail(server: Server) -> None:
    r = server.call("GET", "/api/v1/superuser/changelog/", server.admin_token)
    assert r.status_code == 200 and isinstance(r.json()["log"], str) and r.json()["log"]
    server.make_user("forgetful")
    r = server.call("POST", "/api/v1/superusers/users/forgetful/sendrecovery", server.admin_token)
    assert (r.status_code, r.json()) == (200, {"email": "forgetful@example.com"})
    with server.storage.transaction() as db:
        kinds = db.conn.execute(select(t.outbox.c.kind).where(t.outbox.c.recipient == "forgetful@example.com"))
        assert [k[0] for k in kinds] == ["recovery"]
    r = server.call("POST", "/api/v1/superusers/users/admin/sendrecovery", server.admin_token)
    assert r.status_code == 400
    assert server.call("POST", "/api/v1/superusers/users/ghost/sendrecovery", server.admin_token).status_code == 404


def test_declarations_follow_quay(server: Server) -> None:
    ops = {op.operation_id: op for op in OPERATIONS if op.tag == "superuser"}
    mine = {"listAllUsers", "createInstallUser", "getInstallUser", "changeInstallUser", "deleteInstallUser",
            "listAllOrganizations", "changeOrganization", "deleteOrganization", "listAllAppTokens",
            "takeOwnership", "getChangeLog", "sendInstallUserRecoveryEmail"}
    assert mine <= set(ops)
    assert all(ops[i].fresh_login for i in mine)
    assert {i for i in mine if ops[i].internal} == {"listAllOrganizations", "takeOwnership", "getChangeLog",
                                                     "sendInstallUserRecoveryEmail"}
    public = server.call("GET", "/api/v1/discovery").json()["paths"]
    assert "/api/v1/superuser/changelog/" not in public
    internal = server.call("GET", "/api/v1/discovery?internal=true").json()["paths"]
    assert internal["/api/v1/superuser/changelog/"]["get"]["x-requires-fresh-login"] is True


def test_superuser_routes_vanish_without_the_feature(make_server: Any) -> None:
    server = make_server({"FEATURE_SUPER_USERS": False})
    assert server.call("GET", USERS, server.admin_token).status_code == 404


# ---- bootstrap token ------------------------------------------------------------------------------------


def test_renew_bootstrap_token_rotates_and_writes_the_file(make_server: Any, tmp_path: Path) -> None:
    target = tmp_path / "machine" / "token.json"
    server = make_server({"FEATURE_PROGRAMMATIC_BOOTSTRAP": True, "BOOTSTRAP_TOKEN_PATH": str(target)})
    old = server.admin_token
    r = server.call("POST", "/api/v1/bootstrap/renew", old)
    assert (r.status_code, r.json()) == (200, {"status": "rotated"})
    new = json.loads(target.read_text())["access_token"]
    assert new != old
    assert server.call("GET", "/api/v1/user/", old).status_code == 401
    assert server.call("GET", "/api/v1/user/", new).json()["username"] == "admin"
    assert server.call("POST", "/api/v1/bootstrap/renew", new).status_code == 200


def test_renew_bootstrap_token_refusals(make_server: Any, tmp_path: Path) -> None:
    server = make_server({"FEATURE_PROGRAMMATIC_BOOTSTRAP": True,
                          "BOOTSTRAP_TOKEN_PATH": str(tmp_path / "t.json")})
    r = server.call("POST", "/api/v1/bootstrap/renew")
    assert r.status_code == 401
    assert r.json()["error_type"] == "invalid_token"
    assert r.json()["detail"] == "Requires valid bootstrap bearer token"
    assert server.call("POST", "/api/v1/bootstrap/renew", "not-a-token").status_code == 401
    other = server.make_user("other")
    r = server.call("POST", "/api/v1/bootstrap/renew", other)
    assert r.status_code == 403 and r.json()["error_type"] == "insufficient_scope"
    assert not (tmp_path / "t.json").exists()


def test_renew_bootstrap_token_fails_cleanly_when_the_file_cannot_be_written(
        make_server: Any, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    server = make_server({"FEATURE_PROGRAMMATIC_BOOTSTRAP": True,
                          "BOOTSTRAP_TOKEN_PATH": str(blocker / "token.json")})
    r = server.call("POST", "/api/v1/bootstrap/renew", server.admin_token)
    assert r.status_code == 500 and r.json()["error_type"] == "token_rotation_failed"
    # The transaction rolled back: the old token still works.
    assert server.call("GET", "/api/v1/user/", server.admin_token).status_code == 200


def test_renew_route_needs_the_feature(server: Server) -> None:
    r = server.client.post("/api/v1/bootstrap/renew", headers=server.headers(server.admin_token),
                           follow_redirects=False)
    assert r.status_code == 308
