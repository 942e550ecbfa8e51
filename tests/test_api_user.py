"""The `user` and `appspecifictokens` areas: accounts, sessions, stars, notifications, grants, app tokens."""

from __future__ import annotations

from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import insert, select

from reference_server.storage import schema as t
from reference_server.storage.base import new_uuid
from tests.conftest import Server

INVALID_CREDENTIALS = {"message": "Invalid Username or Password", "invalidCredentials": True,
                       "needsEmailVerification": False}


def csrf(server: Server) -> dict[str, str]:
    return {"X-CSRF-Token": server.client.get("/csrf_token").json()["csrf_token"]}


def sign_in(server: Server, username: str, password: str = "password1") -> dict[str, str]:
    """Sign in through the API and return the headers (CSRF) the new session needs for writes."""
    r = server.client.post("/api/v1/signin", json={"username": username, "password": password},
                           headers=csrf(server))
    assert r.status_code == 200, r.text
    return csrf(server)


def logs(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.read() as db:
        rows = db.conn.execute(select(t.log_entry).where(t.log_entry.c.kind == kind)
                               .order_by(t.log_entry.c.id)).all()
    return [dict(r._mapping) for r in rows]


def meta(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's metadata without the keys Quay adds for OAuth callers (the token id and application)."""
    return {k: v for k, v in entry["metadata"].items() if not k.startswith("oauth_token")}


def outbox(server: Server, kind: str) -> list[str]:
    with server.storage.read() as db:
        return list(db.conn.execute(select(t.outbox.c.recipient).where(t.outbox.c.kind == kind)).scalars())


def make_repo(server: Server, owner: str, name: str, visibility: str = "private") -> None:
    with server.storage.transaction() as db:
        namespace = db.user_by_name(owner)
        assert namespace is not None
        db.create_repository(namespace, name, visibility=visibility, description="d", kind="image")


# ---- createNewUser ---------------------------------------------------------------------------------------


def test_create_user_with_mailing_awaits_verification_and_cannot_sign_in_yet(server: Server) -> None:
    r = server.client.post("/api/v1/user/", json={"username": "newbie", "password": "password1",
                                                  "email": "newbie@example.com"}, headers=csrf(server))
    assert r.status_code == 200, r.text
    assert r.json() == {"awaiting_verification": True}
    assert outbox(server, "confirm_email") == ["newbie@example.com"]
    entry = logs(server, "user_create")[-1]
    assert entry["metadata"] == {"email": "newbie@example.com", "username": "newbie"}
    r = server.client.post("/api/v1/signin", json={"username": "newbie", "password": "password1"},
                           headers=csrf(server))
    assert r.status_code == 403
    assert r.json() == {"message": None, "invalidCredentials": False, "needsEmailVerification": True}


def test_create_user_without_mailing_signs_in_and_returns_the_full_view(make_server: Any) -> None:
    server = make_server({"FEATURE_MAILING": False})
    r = server.client.post("/api/v1/user/", json={"username": "solo", "password": "password1"},
                           headers=csrf(server))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["username"] == "solo" and body["is_me"] is True and body["verified"] is True
    # No address given and mail off: Quay stores a unique placeholder instead.
    assert body["email"] and "@" not in body["email"]
    me = server.client.get("/api/v1/user/")
    assert me.status_code == 200 and me.json()["username"] == "solo"


@pytest.mark.parametrize(("payload", "detail"), [
    ({"username": "admin", "password": "password1", "email": "x@example.com"}, "The username already exists"),
    ({"username": "nomail", "password": "password1"}, "Email address is required"),
    ({"username": "shortpw", "password": "short", "email": "s@example.com"},
     "Invalid password, password must be at least 8 characters and contain no whitespace."),
    ({"username": "bademail", "password": "password1", "email": "nope"}, "Invalid email address: nope"),
    ({"username": "admin@x", "password": "password1", "email": "a@example.com"},
     "Invalid namespace admin@x: Namespace must match expression ^([a-z0-9]+(?:[._-][a-z0-9]+)*)$"),
    ({"username": "other", "password": "password1", "email": "admin@example.com"},
     "Email has already been used: admin@example.com"),
])
def test_create_user_refusals(server: Server, payload: dict[str, Any], detail: str) -> None:
    r = server.client.post("/api/v1/user/", json=payload, headers=csrf(server))
    assert r.status_code == 400
    assert r.json()["error_type"] == "invalid_request"
    assert r.json()["detail"] == detail


def test_create_user_name_of_an_organization_is_refused(server: Server) -> None:
    with server.storage.transaction() as db:
        admin = db.user_by_name("admin")
        assert admin is not None
        db.create_organization("someorg", "org@example.com", admin)
    r = server.client.post("/api/v1/user/", json={"username": "someorg", "password": "password1",
                                                  "email": "o@example.com"}, headers=csrf(server))
    assert r.status_code == 400
    assert r.json()["detail"] == "Username has already been taken by an organization and cannot be reused: someorg"


def test_create_user_schema_and_csrf(server: Server) -> None:
    r = server.client.post("/api/v1/user/", json={"username": 12, "password": "password1"}, headers=csrf(server))
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    r = server.client.post("/api/v1/user/", json={"username": "x1", "password": "password1"})
    assert r.status_code == 403 and r.json() == {"error": "CSRF token was invalid or missing."}


def test_create_user_route_vanishes_with_the_feature(make_server: Any) -> None:
    server = make_server({"FEATURE_USER_CREATION": False})
    r = server.client.post("/api/v1/user/", json={"username": "x1", "password": "password1"},
                           headers=csrf(server))
    assert r.status_code == 405


# ---- signin / verify / signout ------------------------------------------------------------------------------


def test_signin_failure_and_success_by_name_and_email(server: Server) -> None:
    server.make_user("alice")
    r = server.client.post("/api/v1/signin", json={"username": "alice", "password": "wrong-pass"},
                           headers=csrf(server))
    assert r.status_code == 403
    assert r.json() == INVALID_CREDENTIALS
    r = server.client.post("/api/v1/signin", json={"username": "nobody", "password": "password1"},
                           headers=csrf(server))
    assert r.status_code == 403 and r.json() == INVALID_CREDENTIALS
    r = server.client.post("/api/v1/signin", json={"username": "alice@example.com", "password": "password1"},
                           headers=csrf(server))
    assert r.status_code == 200 and r.json() == {"success": True}
    assert server.client.get("/api/v1/user/").json()["username"] == "alice"
    entry = logs(server, "login_success")[-1]
    assert entry["metadata"]["type"] == "quayauth"


def test_signin_requires_both_fields(server: Server) -> None:
    r = server.client.post("/api/v1/signin", json={"username": "alice"}, headers=csrf(server))
    assert r.status_code == 400
    assert "'password' is a required property" in r.json()["detail"]


def test_login_failures_are_logged_when_configured(make_server: Any) -> None:
    server = make_server({"ACTION_LOG_AUDIT_LOGIN_FAILURES": True})
    server.make_user("bob")
    server.client.post("/api/v1/signin", json={"username": "bob", "password": "bad-password"},
                       headers=csrf(server))
    entry = logs(server, "login_failure")[-1]
    assert entry["metadata"]["username"] == "bob"
    assert entry["metadata"]["message"] == "Invalid Username or Password"


def test_signout_ends_the_session(server: Server) -> None:
    server.make_user("carol")
    headers = sign_in(server, "carol")
    r = server.client.post("/api/v1/signout", headers=headers)
    assert r.status_code == 200 and r.json() == {"success": True}
    assert server.client.get("/api/v1/user/").status_code == 401
    assert logs(server, "logout_success")


def test_verify_user_checks_the_password(server: Server) -> None:
    token = server.make_user("dave")
    r = server.call("POST", "/api/v1/signin/verify", token, json={"password": "nope-nope"})
    assert r.status_code == 403
    assert r.json() == {"message": "Invalid Username or Password", "invalidCredentials": True}
    r = server.call("POST", "/api/v1/signin/verify", token, json={"password": "password1"})
    assert r.status_code == 200 and r.json() == {"success": True}
    # Needs user:admin.
    weak = server.make_user("dave", "user:read")
    assert server.call("POST", "/api/v1/signin/verify", weak, json={"password": "password1"}).status_code == 403


# ---- changeUserDetails / deleteCurrentUser ------------------------------------------------------------------


def test_change_tag_expiration(server: Server) -> None:
    token = server.make_user("erin")
    r = server.call("PUT", "/api/v1/user/", token, json={"tag_expiration_s": 12345})
    assert r.status_code == 400
    assert r.json() == {"message": "Invalid tag expiration option"}
    r = server.call("PUT", "/api/v1/user/", token, json={"tag_expiration_s": 86400})
    assert r.status_code == 200 and r.json()["tag_expiration_s"] == 86400
    assert logs(server, "user_change_tag_expiration")[-1]["metadata"]["tag_expiration"] == 86400
    r = server.call("PUT", "/api/v1/user/", token, json={"tag_expiration_s": -1})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"


def test_change_password_and_invoice_settings(server: Server) -> None:
    token = server.make_user("frank")
    r = server.call("PUT", "/api/v1/user/", token, json={"password": "has space"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("Invalid password")
    r = server.call("PUT", "/api/v1/user/", token, json={"password": "newpassword", "invoice_email": True,
                                                          "invoice_email_address": "bills@example.com"})
    assert r.status_code == 200
    assert r.json()["invoice_email"] is True
    assert r.json()["invoice_email_address"] == "bills@example.com"
    assert logs(server, "account_change_password")
    assert [meta(e) for e in logs(server, "user_change_invoicing")] == [
        {"invoice_email": True}, {"invoice_email_address": "bills@example.com"}]
    server.client.cookies.clear()
    r = server.client.post("/api/v1/signin", json={"username": "frank", "password": "newpassword"},
                           headers=csrf(server))
    assert r.status_code == 200


def test_change_email_without_mailing(make_server: Any) -> None:
    server = make_server({"FEATURE_MAILING": False})
    token = server.make_user("gina")
    r = server.call("PUT", "/api/v1/user/", token, json={"email": "admin@example.com"})
    assert r.status_code == 400 and r.json()["detail"] == "E-mail address already used"
    r = server.call("PUT", "/api/v1/user/", token, json={"email": "gina2@example.com"})
    assert r.status_code == 200 and r.json()["email"] == "gina2@example.com"
    assert meta(logs(server, "user_change_email")[-1]) == {"email": "gina2@example.com",
                                                                "old_email": "gina@example.com"}


def test_change_user_needs_user_admin_and_a_fresh_session(make_server: Any) -> None:
    server = make_server({"FRESH_LOGIN_TIMEOUT": "0s"})
    weak = server.make_user("hank", "user:read")
    assert server.call("PUT", "/api/v1/user/", weak, json={"invoice_email": True}).status_code == 403
    headers = sign_in(server, "hank")
    r = server.client.put("/api/v1/user/", json={"invoice_email": True}, headers=headers)
    assert r.status_code == 401
    assert r.json()["error_type"] == "fresh_login_required"


def test_rename_is_ignored_unless_enabled(make_server: Any) -> None:
    server = make_server()
    token = server.make_user("ivan")
    r = server.call("PUT", "/api/v1/user/", token, json={"username": "ivan2"})
    assert r.status_code == 200 and r.json()["username"] == "ivan"
    server2 = make_server({"FEATURE_USER_RENAME": True})
    token = server2.make_user("ivan")
    assert server2.call("PUT", "/api/v1/user/", token, json={"username": "admin"}).json()["detail"] == \
        "Username is already in use"
    r = server2.call("PUT", "/api/v1/user/", token, json={"username": "ivan2"})
    assert r.status_code == 200 and r.json()["username"] == "ivan2"
    assert meta(logs(server2, "user_change_name")[-1]) == {"old_username": "ivan"}


def test_delete_current_user(server: Server) -> None:
    token = server.make_user("jane")
    r = server.call("DELETE", "/api/v1/user/", token)
    assert r.status_code == 204 and r.content == b""
    assert server.call("GET", "/api/v1/users/jane").status_code == 404
    assert meta(logs(server, "user_delete")[-1]) == {"username": "jane"}


def test_get_user_information(server: Server) -> None:
    r = server.call("GET", "/api/v1/users/admin")
    assert r.status_code == 200
    # Quay adds super_user only for a superuser caller; an anonymous caller sees the public view.
    assert r.json()["username"] == "admin" and r.json()["anonymous"] is False and "super_user" not in r.json()
    r = server.call("GET", "/api/v1/users/ghost")
    assert r.status_code == 404 and "message" in r.json()


# ---- external logins, recovery, client key, convert ----------------------------------------------------------


def test_external_login_services_are_unknown(server: Server) -> None:
    r = server.client.post("/api/v1/externallogin/github", json={"kind": "login"}, headers=csrf(server))
    assert r.status_code == 400
    assert r.json()["error_type"] == "invalid_request" and "detail" not in r.json()
    r = server.client.post("/api/v1/externallogin/github", json={"kind": "other"}, headers=csrf(server))
    assert r.status_code == 400 and "is not one of" in r.json()["detail"]
    token = server.make_user("kate")
    r = server.call("POST", "/api/v1/detachexternal/github", token)
    assert r.status_code == 200 and r.json() == {"success": True}


def test_recovery_email(server: Server) -> None:
    r = server.client.post("/api/v1/recovery", json={"email": "admin@example.com"}, headers=csrf(server))
    assert r.status_code == 200 and r.json() == {"status": "sent"}
    r = server.client.post("/api/v1/recovery", json={"email": "nobody@example.com"}, headers=csrf(server))
    assert r.status_code == 200 and r.json() == {"status": "sent"}
    assert outbox(server, "recovery") == ["admin@example.com"]


def test_client_key(server: Server) -> None:
    token = server.make_user("liam")
    r = server.call("POST", "/api/v1/user/clientkey", token, json={"password": "wrong-one"})
    assert r.status_code == 400 and r.json()["detail"] == "Invalid Username or Password"
    r = server.call("POST", "/api/v1/user/clientkey", token, json={"password": "password1"})
    assert r.status_code == 200 and isinstance(r.json()["key"], str) and "password1" not in r.json()["key"]
    assert logs(server, "user_generate_client_key")


def test_convert_user_to_organization(server: Server) -> None:
    token = server.make_user("mona")
    server.make_user("nick")
    r = server.call("POST", "/api/v1/user/convert", token, json={"adminUser": "nick", "adminPassword": "bad-bad"})
    assert r.status_code == 400
    assert r.json()["detail"] == "The admin user credentials are not valid"
    assert r.json()["reason"] == "invaliduser"
    r = server.call("POST", "/api/v1/user/convert", token, json={"adminUser": "mona", "adminPassword": "password1"})
    assert r.status_code == 400 and r.json()["detail"] == "The admin user is not valid"
    r = server.call("POST", "/api/v1/user/convert", token, json={"adminUser": "nick", "adminPassword": "password1"})
    assert r.status_code == 200 and r.json() == {"success": True}
    with server.storage.read() as db:
        mona = db.user_by_name("mona")
        nick = db.user_by_name("nick")
        assert mona is not None and mona.organization and nick is not None
        assert [o.username for o in db.organizations_of(nick.id)] == ["mona"]
    assert logs(server, "account_convert")
    # The session now belongs to the new administrator.
    assert server.client.get("/api/v1/user/").json()["username"] == "nick"


# ---- stars ------------------------------------------------------------------------------------------------


def test_stars(server: Server) -> None:
    token = server.make_user("olga")
    server.make_user("pete")
    make_repo(server, "pete", "secret")
    r = server.call("POST", "/api/v1/user/starred", token, json={"namespace": "pete", "repository": "nope"})
    assert r.status_code == 200 and r.json() is None
    r = server.call("POST", "/api/v1/user/starred", token, json={"namespace": "pete", "repository": "secret"})
    assert r.status_code == 201 and r.json() == {"namespace": "pete", "repository": "secret"}
    # Starring again is harmless.
    assert server.call("POST", "/api/v1/user/starred", token,
                       json={"namespace": "pete", "repository": "secret"}).status_code == 201
    r = server.call("GET", "/api/v1/user/starred", token)
    assert r.status_code == 200
    assert r.json() == {"repositories": [{"namespace": "pete", "name": "secret", "description": "d",
                                          "is_public": False}]}
    assert server.call("DELETE", "/api/v1/user/starred/pete/secret", token).status_code == 204
    assert server.call("GET", "/api/v1/user/starred", token).json() == {"repositories": []}
    r = server.call("DELETE", "/api/v1/user/starred/pete/gone", token)
    assert r.status_code == 200 and r.json() is None


def test_star_validates_before_checking_the_caller(server: Server) -> None:
    weak = server.make_user("quinn", "repo:read")
    r = server.call("POST", "/api/v1/user/starred", weak, json={"namespace": "x"})
    assert r.status_code == 400
    r = server.call("POST", "/api/v1/user/starred", weak, json={"namespace": "x", "repository": "y"})
    assert r.status_code == 403
    assert server.call("GET", "/api/v1/user/starred").status_code == 401


def test_starred_list_pages_by_100(server: Server) -> None:
    token = server.make_user("rita")
    with server.storage.transaction() as db:
        rita = db.user_by_name("rita")
        assert rita is not None
        for i in range(101):
            repo = db.create_repository(rita, f"r{i:03d}", visibility="public", description="", kind="image")
            db.star_repository(rita.id, repo.id)
    first = server.call("GET", "/api/v1/user/starred", token).json()
    assert len(first["repositories"]) == 100 and "next_page" in first
    second = server.call("GET", "/api/v1/user/starred", token, params={"next_page": first["next_page"]}).json()
    assert [r["name"] for r in second["repositories"]] == ["r100"] and "next_page" not in second
    garbage = server.call("GET", "/api/v1/user/starred", token, params={"next_page": "garbage"}).json()
    assert len(garbage["repositories"]) == 100


# ---- notifications ----------------------------------------------------------------------------------------


def test_user_notifications(server: Server) -> None:
    token = server.make_user("sam")
    with server.storage.transaction() as db:
        sam = db.user_by_name("sam")
        assert sam is not None
        uuids = [db.create_user_notification(sam, "test_notification", {"n": i}) for i in range(7)]
    r = server.call("GET", "/api/v1/user/notifications", token)
    assert r.status_code == 200
    body = r.json()
    assert len(body["notifications"]) == 5 and body["additional"] is True
    note = body["notifications"][0]
    assert set(note) == {"id", "organization", "kind", "created", "metadata", "dismissed"}
    assert note["organization"] is None and note["kind"] == "test_notification"
    assert parsedate_to_datetime(note["created"]) is not None and note["created"].endswith("-0000")
    r = server.call("GET", "/api/v1/user/notifications", token, params={"page": 2, "limit": 5})
    assert len(r.json()["notifications"]) == 1 and r.json()["additional"] is False
    r = server.call("GET", f"/api/v1/user/notifications/{uuids[0]}", token)
    assert r.status_code == 200 and r.json()["metadata"] == {"n": 0}
    assert server.call("GET", "/api/v1/user/notifications/unknown", token).status_code == 404
    r = server.call("PUT", f"/api/v1/user/notifications/{uuids[0]}", token, json={"dismissed": True})
    assert r.status_code == 200 and r.json()["dismissed"] is True
    listed = server.call("GET", "/api/v1/user/notifications", token, params={"limit": 10}).json()
    assert uuids[0] not in [n["id"] for n in listed["notifications"]] and len(listed["notifications"]) == 6
    r = server.call("PUT", f"/api/v1/user/notifications/{uuids[0]}", token, json={"dismissed": "yes"})
    assert r.status_code == 400
    other = server.make_user("tess")
    assert server.call("GET", f"/api/v1/user/notifications/{uuids[1]}", other).status_code == 404


# ---- OAuth grants ------------------------------------------------------------------------------------------


def _application(server: Server, owner: str) -> int:
    with server.storage.transaction() as db:
        admin = db.user_by_name(owner)
        assert admin is not None
        org = db.user_by_name("apporg") or db.create_organization("apporg", "apporg@example.com", admin)
        result = db.conn.execute(insert(t.oauth_application).values(
            org_id=org.id, client_id=new_uuid()[:20], client_secret_enc="x", name="myapp",
            description="an app", redirect_uri="http://localhost/cb", application_uri="http://localhost/",
            avatar_email=None))
        key = result.inserted_primary_key
        assert key is not None
        return int(key[0])


def test_user_authorizations(server: Server) -> None:
    token = server.make_user("uma")
    app_id = _application(server, "admin")
    with server.storage.transaction() as db:
        uma = db.user_by_name("uma")
        assert uma is not None
        granted, _ = db.create_oauth_token(uma, "repo:read user:read", app_id)
    listed = server.call("GET", "/api/v1/user/authorizations", token)
    assert listed.status_code == 200
    auths = listed.json()["authorizations"]
    # The test's own token has no application, so it is not a grant.
    assert len(auths) == 1
    grant = auths[0]
    assert grant["application"]["name"] == "myapp"
    assert grant["application"]["organization"]["name"] == "apporg"
    assert [s["scope"] for s in grant["scopes"]] == ["repo:read", "user:read"]
    r = server.call("GET", f"/api/v1/user/authorizations/{grant['uuid']}", token)
    assert r.status_code == 200 and r.json() == grant
    assert server.call("GET", "/api/v1/user/authorizations/nope", token).status_code == 404
    assert server.call("GET", "/api/v1/user/", granted).status_code == 200
    assert server.call("DELETE", f"/api/v1/user/authorizations/{grant['uuid']}", token).status_code == 204
    assert server.call("GET", "/api/v1/user/", granted).status_code == 401


def test_assigned_authorizations(server: Server) -> None:
    token = server.make_user("vera")
    app_id = _application(server, "admin")
    uuid = new_uuid()
    with server.storage.transaction() as db:
        vera = db.user_by_name("vera")
        assert vera is not None
        db.conn.execute(insert(t.assigned_authorization).values(
            uuid=uuid, application_id=app_id, user_id=vera.id, scope="repo:read",
            redirect_uri="http://localhost/cb", response_type="token"))
        db.create_user_notification(vera, "assigned_authorization", {})
    r = server.call("GET", "/api/v1/user/assignedauthorization", token)
    assert r.status_code == 200
    item = r.json()["authorizations"][0]
    assert item["uuid"] == uuid and item["responseType"] == "token"
    assert item["redirectUri"] == "http://localhost/cb" and "clientId" in item["application"]
    # Listing clears the announcing notifications.
    assert server.call("GET", "/api/v1/user/notifications", token).json()["notifications"] == []
    assert server.call("DELETE", "/api/v1/user/assignedauthorization/nope", token).status_code == 404
    assert server.call("DELETE", f"/api/v1/user/assignedauthorization/{uuid}", token).status_code == 204
    assert server.call("GET", "/api/v1/user/assignedauthorization", token).json() == {"authorizations": []}


# ---- app-specific tokens -------------------------------------------------------------------------------------


def test_app_token_lifecycle(server: Server) -> None:
    token = server.make_user("walt")
    r = server.call("POST", "/api/v1/user/apptoken", token, json={"title": "ci"})
    assert r.status_code == 200
    created = r.json()["token"]
    assert set(created) == {"uuid", "title", "last_accessed", "created", "expiration", "token_code"}
    assert created["title"] == "ci" and created["expiration"] is None and created["last_accessed"] is None
    assert len(created["token_code"]) == 120
    listed = server.call("GET", "/api/v1/user/apptoken", token).json()
    assert listed["only_expiring"] is None
    assert listed["tokens"] == [{k: v for k, v in created.items() if k != "token_code"}]
    one = server.call("GET", f"/api/v1/user/apptoken/{created['uuid']}", token)
    assert one.status_code == 200 and one.json()["token"]["token_code"] == created["token_code"]
    expiring = server.call("GET", "/api/v1/user/apptoken", token, params={"expiring": "true"}).json()
    assert expiring == {"tokens": [], "only_expiring": True}
    with server.storage.transaction() as db:
        found = db.app_token_owner(created["token_code"])
        assert found is not None and found[1].username == "walt"
    entry = logs(server, "create_app_specific_token")[-1]
    assert "oauth_token_id" in entry["metadata"]
    assert meta(entry) == {
        "app_specific_token_title": "ci", "app_specific_token": created["uuid"]}
    other = server.make_user("xena")
    assert server.call("GET", f"/api/v1/user/apptoken/{created['uuid']}", other).status_code == 404
    assert server.call("DELETE", f"/api/v1/user/apptoken/{created['uuid']}", other).status_code == 404
    assert server.call("DELETE", f"/api/v1/user/apptoken/{created['uuid']}", token).status_code == 204
    assert server.call("GET", f"/api/v1/user/apptoken/{created['uuid']}", token).status_code == 404
    assert logs(server, "revoke_app_specific_token")


def test_app_token_refusals(server: Server) -> None:
    weak = server.make_user("yuri", "user:read")
    assert server.call("GET", "/api/v1/user/apptoken", weak).status_code == 403
    assert server.call("GET", "/api/v1/user/apptoken").status_code == 401
    token = server.make_user("yuri")
    r = server.call("POST", "/api/v1/user/apptoken", token, json={})
    assert r.status_code == 400 and "'title' is a required property" in r.json()["detail"]


def test_app_token_expiration_from_config(make_server: Any) -> None:
    server = make_server({"APP_SPECIFIC_TOKEN_EXPIRATION": "1d"})
    token = server.make_user("zoe")
    created = server.call("POST", "/api/v1/user/apptoken", token, json={"title": "t"}).json()["token"]
    assert created["expiration"] is not None
    delta = parsedate_to_datetime(created["expiration"]) - parsedate_to_datetime(created["created"])
    assert 86390 <= delta.total_seconds() <= 86410


def test_app_tokens_vanish_with_the_feature(make_server: Any) -> None:
    server = make_server({"FEATURE_APP_SPECIFIC_TOKENS": False})
    token = server.make_user("zed")
    assert server.call("GET", "/api/v1/user/apptoken", token).status_code == 404


def test_app_token_with_a_fresh_session_and_a_stale_one(make_server: Any) -> None:
    server = make_server()
    server.make_user("amy")
    headers = sign_in(server, "amy")
    r = server.client.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=headers)
    assert r.status_code == 200 and len(r.json()["token"]["token_code"]) == 120
    stale = make_server({"FRESH_LOGIN_TIMEOUT": "0s"})
    stale.make_user("amy")
    headers = sign_in(stale, "amy")
    r = stale.client.post("/api/v1/user/apptoken", json={"title": "laptop"}, headers=headers)
    assert r.status_code == 401 and r.json()["error_type"] == "fresh_login_required"
    # Listing needs no fresh login.
    assert stale.client.get("/api/v1/user/apptoken").status_code == 200
