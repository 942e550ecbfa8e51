"""Organizations, members, OAuth applications, application tokens and prototypes."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from reference_server.storage import schema as t
from tests.conftest import Server

OAUTH_KEYS = {"oauth_token_id", "oauth_token_application_id", "oauth_token_application"}


def create_org(server: Server, token: str, name: str, email: str | None = None) -> None:
    r = server.call("POST", "/api/v1/organization/", token, json={"name": name, "email": email or f"{name}@ex.com"})
    assert r.status_code == 201, r.text
    assert r.json() == "Created"


def logs(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.read() as db:
        rows = db.conn.execute(select(t.log_entry.c.metadata).where(t.log_entry.c.kind == kind)).all()
    # The OAuth token keys every bearer-token request adds are checked in test_oauth.py.
    return [{k: v for k, v in r[0].items() if k not in OAUTH_KEYS} for r in rows]


@pytest.fixture
def owner(server: Server) -> str:
    token = server.make_user("owner")
    create_org(server, token, "acme")
    return token


def test_create_org_puts_creator_in_owners_team_and_logs(server: Server, owner: str) -> None:
    body = server.call("GET", "/api/v1/organization/acme", owner).json()
    assert body["name"] == "acme"
    assert body["email"] == "acme@ex.com"
    assert body["is_admin"] is True and body["is_member"] is True
    assert body["ordered_teams"] == ["owners"]
    owners = body["teams"]["owners"]
    assert owners["role"] == "admin" and owners["member_count"] == 1 and owners["can_view"] is True
    assert owners["avatar"]["kind"] == "team"
    assert owners["avatar"]["hash"] == "6f0e3a8c0eb46e8834b43b03374ece43a030621d92a7437beb48f871e90f8d90"
    assert body["avatar"]["kind"] == "user"
    assert body["tag_expiration_s"] == 1209600 and body["is_free_account"] is True
    assert logs(server, "org_create") == [{"email": "acme@ex.com", "namespace": "acme"}]


def test_create_org_errors(server: Server, owner: str) -> None:
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": "acme", "email": "x@ex.com"})
    assert r.status_code == 400
    assert r.json()["detail"] == "A user or organization with this name already exists"
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": "A", "email": "a@ex.com"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("Invalid namespace A: Namespace must match expression")
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": 12})
    assert r.status_code == 400
    assert r.json()["error_type"] == "invalid_request"
    assert r.json()["detail"].startswith("12 is not of type 'string'")
    # Since Quay 3.18 an organization needs no e-mail, even with mailing on (the server's default).
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": "noemail"})
    assert r.status_code == 201
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": "badmail", "email": "nope"})
    assert r.status_code == 400 and r.json()["detail"] == "Invalid email address"
    r = server.call("POST", "/api/v1/organization/", owner, json={"name": "dupmail", "email": "acme@ex.com"})
    assert r.status_code == 400 and r.json()["detail"] == "Email has already been used: acme@ex.com"


def test_create_org_needs_user_admin_scope(server: Server) -> None:
    weak = server.make_user("weak", "repo:read")
    r = server.call("POST", "/api/v1/organization/", weak, json={"name": "scopetest", "email": "s@ex.com"})
    assert r.status_code == 403
    assert r.json()["error_type"] == "insufficient_scope"
    r = server.call("POST", "/api/v1/organization/", None, json={"name": "x1", "email": "x1@ex.com"})
    assert r.status_code == 403
    assert r.json() == {"error": "CSRF token was invalid or missing."}


def test_get_org_views_by_caller(server: Server, owner: str) -> None:
    outsider = server.make_user("outsider")
    anon = server.call("GET", "/api/v1/organization/acme").json()
    assert anon["email"] == "" and anon["is_admin"] is False and "teams" not in anon
    assert "tag_expiration_s" not in anon
    body = server.call("GET", "/api/v1/organization/acme", outsider).json()
    assert body["is_member"] is False and "teams" not in body
    r = server.call("GET", "/api/v1/organization/nosuchorg")
    assert r.status_code == 404 and r.json()["error_type"] == "not_found"
    # A user namespace is not an organization.
    assert server.call("GET", "/api/v1/organization/owner", owner).status_code == 404
    # Members see teams, but only their own as viewable.
    server.call("PUT", "/api/v1/organization/acme/team/readers", owner, json={"role": "member"})
    server.call("PUT", "/api/v1/organization/acme/team/readers/members/outsider", owner)  # invited, not added
    with server.storage.transaction() as db:
        team = db.team(db.user_by_name("acme").id, "readers")  # type: ignore[union-attr]
        db.add_team_member(team.id, db.user_by_name("outsider").id)  # type: ignore[union-attr]
    body = server.call("GET", "/api/v1/organization/acme", outsider).json()
    assert body["is_member"] is True and body["email"] == ""
    assert body["teams"]["readers"]["can_view"] is True
    assert body["teams"]["owners"]["can_view"] is False


def test_org_admin_endpoints_refuse_outsiders_and_weak_tokens(server: Server, owner: str) -> None:
    outsider = server.make_user("outsider")
    weak = server.make_user("owner", "repo:read")  # same user as owner, but the token caps the role
    for path in ("/members", "/collaborators", "/applications", "/prototypes"):
        assert server.call("GET", "/api/v1/organization/acme" + path, outsider).status_code == 403
        assert server.call("GET", "/api/v1/organization/acme" + path, weak).status_code == 403
        r = server.call("GET", "/api/v1/organization/acme" + path)
        assert r.status_code == 401 and r.json()["error_type"] == "invalid_token"
    # Unknown org: outsiders 403, a full-access superuser 404.
    assert server.call("GET", "/api/v1/organization/ghost/members", outsider).status_code == 403


def test_unknown_org_is_404_for_full_access_superuser(make_server: Any) -> None:
    s = make_server({"FEATURE_SUPERUSERS_FULL_ACCESS": True})
    assert s.call("GET", "/api/v1/organization/ghost/members", s.admin_token).status_code == 404


def test_validation_comes_before_permission_on_org_put(server: Server, owner: str) -> None:
    outsider = server.make_user("outsider")
    r = server.call("PUT", "/api/v1/organization/acme", outsider, json={"tag_expiration_s": "soon"})
    assert r.status_code == 400
    r = server.call("PUT", "/api/v1/organization/acme", outsider, json={"tag_expiration_s": 86400})
    assert r.status_code == 403


def test_change_organization_details(server: Server, owner: str) -> None:
    r = server.call("PUT", "/api/v1/organization/acme", owner, json={
        "email": "new@ex.com", "invoice_email": True, "tag_expiration_s": 86400})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["email"] == "new@ex.com" and body["invoice_email"] is True and body["tag_expiration_s"] == 86400
    assert "owners" in body["teams"]
    assert logs(server, "org_change_email") == [
        {"email": "new@ex.com", "namespace": "acme", "old_email": "acme@ex.com"}]
    assert logs(server, "org_change_tag_expiration") == [{"tag_expiration": 86400, "namespace": "acme"}]
    r = server.call("PUT", "/api/v1/organization/acme", owner, json={"tag_expiration_s": 12345})
    assert r.status_code == 400 and r.json() == {"message": "Invalid tag expiration option"}
    # Since Quay 3.18 an organization may use an address another account uses; it must still be an address.
    r = server.call("PUT", "/api/v1/organization/acme", owner, json={"email": "owner@example.com"})
    assert r.status_code == 200 and r.json()["email"] == "owner@example.com"
    r = server.call("PUT", "/api/v1/organization/acme", owner, json={"email": "not-an-address"})
    assert r.status_code == 400 and r.json()["detail"] == "Invalid email address"


def test_delete_org_records_deleted_namespace(server: Server, owner: str) -> None:
    r = server.call("DELETE", "/api/v1/organization/acme", owner)
    assert r.status_code == 204 and r.content == b""
    assert server.call("GET", "/api/v1/organization/acme", owner).status_code == 404
    with server.storage.read() as db:
        names = db.conn.execute(select(t.deleted_namespace.c.name)).scalars().all()
    assert "acme" in names
    assert logs(server, "org_delete") == [{"namespace": "acme"}]


def test_members_member_and_removal_guards(server: Server, owner: str) -> None:
    server.make_user("bob")
    with server.storage.transaction() as db:
        org = db.user_by_name("acme")
        assert org is not None
        team = db.create_team(org.id, "devs", "member")
        db.add_team_member(team.id, db.user_by_name("bob").id)  # type: ignore[union-attr]
    members = server.call("GET", "/api/v1/organization/acme/members", owner).json()["members"]
    assert [m["name"] for m in members] == ["bob", "owner"]
    bob = members[0]
    assert bob["kind"] == "user" and bob["teams"][0]["name"] == "devs" and bob["repositories"] == []
    one = server.call("GET", "/api/v1/organization/acme/members/bob", owner).json()
    assert one["name"] == "bob" and one["kind"] == "user" and [t["name"] for t in one["teams"]] == ["devs"]
    assert server.call("GET", "/api/v1/organization/acme/members/nobody", owner).status_code == 404
    assert server.call("GET", "/api/v1/organization/acme/members/admin", owner).status_code == 404
    r = server.call("DELETE", "/api/v1/organization/acme/members/owner", owner)
    assert r.status_code == 400
    assert r.json() == {"message": "Cannot remove user as they are the only organization admin"}
    assert server.call("DELETE", "/api/v1/organization/acme/members/bob", owner).status_code == 204
    names = [m["name"] for m in server.call("GET", "/api/v1/organization/acme/members", owner).json()["members"]]
    assert names == ["owner"]
    assert server.call("GET", "/api/v1/organization/acme/collaborators", owner).json() == {"collaborators": []}


# ---- applications ------------------------------------------------------------------------------------------


def create_app(server: Server, token: str, org: str = "acme", **extra: Any) -> dict[str, Any]:
    r = server.call("POST", f"/api/v1/organization/{org}/applications", token,
                    json={"name": "myapp", "redirect_uri": "http://client.example/cb", **extra})
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_application_lifecycle(make_server: Any) -> None:
    server = make_server({"GLOBAL_READONLY_SUPER_USERS": ["gro"]})
    owner = server.make_user("owner")
    create_org(server, owner, "acme")
    app = create_app(server, owner, description="d")
    assert len(app["client_id"]) == 20 and len(app["client_secret"]) == 40
    assert app["redirect_uri"] == "http://client.example/cb" and app["application_uri"] == ""
    cid = app["client_id"]
    # The secret is stored encrypted, never in clear.
    with server.storage.read() as db:
        stored = db.conn.execute(select(t.oauth_application.c.client_secret_enc)).scalars().all()
    assert app["client_secret"] not in stored
    listed = server.call("GET", "/api/v1/organization/acme/applications", owner).json()["applications"]
    assert listed == [app]
    # The global read-only superuser sees the application without its secret.
    gro = server.make_user("gro")
    seen = server.call("GET", f"/api/v1/organization/acme/applications/{cid}", gro).json()
    assert seen["client_secret"] is None and seen["redirect_uri"] is None and seen["name"] == "myapp"
    assert server.call("DELETE", f"/api/v1/organization/acme/applications/{cid}", gro).status_code == 403
    public = server.call("GET", f"/api/v1/app/{cid}").json()
    assert public["name"] == "myapp" and public["uri"] == "" and public["avatar"]["kind"] == "app"
    assert public["organization"]["name"] == "acme" and public["organization"]["teams"] == {}
    assert server.call("GET", "/api/v1/app/nosuch").status_code == 404
    r = server.call("PUT", f"/api/v1/organization/acme/applications/{cid}", owner, json={"name": "renamed"})
    assert r.status_code == 400 and "is a required property" in r.json()["detail"]
    r = server.call("PUT", f"/api/v1/organization/acme/applications/{cid}", owner,
                    json={"name": "renamed", "redirect_uri": "http://x/cb", "application_uri": "http://x"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    r = server.call("POST", f"/api/v1/organization/acme/applications/{cid}/resetclientsecret", owner)
    assert r.status_code == 200 and r.json()["client_secret"] != app["client_secret"]
    assert server.call("DELETE", f"/api/v1/organization/acme/applications/{cid}", owner).status_code == 204
    assert server.call("GET", f"/api/v1/organization/acme/applications/{cid}", owner).status_code == 404
    kinds = ["create_application", "update_application", "reset_application_client_secret", "delete_application"]
    for kind in kinds:
        assert logs(server, kind)[0]["client_id"] == cid
    assert logs(server, "create_application")[0]["application_name"] == "myapp"


# ---- application tokens ------------------------------------------------------------------------------------


def test_application_tokens(server: Server, owner: str) -> None:
    cid = create_app(server, owner)["client_id"]
    path = f"/api/v1/organization/acme/applications/{cid}/tokens"
    r = server.call("POST", path, owner, json={"name": "  ci  ", "scope": "repo:read,user:read"})
    assert r.status_code == 200, r.text
    made = r.json()
    assert made["name"] == "ci" and made["scope"] == "repo:read user:read" and made["created_by"] == "owner"
    assert made["expires_at"].endswith("Z") and made["created"].endswith("Z")
    secret = made["token"]
    # The minted token works and carries exactly its scopes.
    assert server.call("GET", "/api/v1/user/", secret).json()["username"] == "owner"
    assert server.call("GET", "/api/v1/organization/acme/members", secret).status_code == 403
    listed = server.call("GET", path, owner).json()["tokens"]
    assert [tok["uuid"] for tok in listed] == [made["uuid"]] and "token" not in listed[0]
    with server.storage.read() as db:
        hashes = db.conn.execute(select(t.oauth_token.c.token_hash)).scalars().all()
    assert secret not in hashes
    assert logs(server, "create_oauth_api_token")[0]["token_display_name"] == "ci"
    r = server.call("POST", path, owner, json={"name": "   ", "scope": "repo:read"})
    assert r.status_code == 400 and r.json() == {"message": "'name' cannot be empty"}
    r = server.call("POST", path, owner, json={"name": "x", "scope": "repo:read bogus"})
    assert r.status_code == 400 and r.json() == {"message": "Invalid scope: repo:read bogus"}
    r = server.call("POST", path, owner, json={"name": "x", "scope": "repo:read", "expiration": 0})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    assert server.call("DELETE", f"{path}/{made['uuid']}", owner).status_code == 204
    assert server.call("DELETE", f"{path}/{made['uuid']}", owner).status_code == 404
    assert server.call("GET", "/api/v1/user/", secret).status_code == 401
    assert logs(server, "revoke_oauth_api_token")[0]["oauth_token_uuid"] == made["uuid"]


def test_application_token_scopes_cannot_exceed_the_callers(server: Server, owner: str) -> None:
    cid = create_app(server, owner)["client_id"]
    path = f"/api/v1/organization/acme/applications/{cid}/tokens"
    limited = server.make_user("owner", "org:admin repo:read")
    assert server.call("POST", path, limited, json={"name": "a", "scope": "repo:read"}).status_code == 200
    r = server.call("POST", path, limited, json={"name": "b", "scope": "repo:write"})
    assert r.status_code == 403
    # Not a superuser: super:user cannot be minted even with a token that lists it.
    assert server.call("POST", path, owner, json={"name": "c", "scope": "super:user"}).status_code == 403


def test_application_token_pagination(server: Server, owner: str) -> None:
    cid = create_app(server, owner)["client_id"]
    path = f"/api/v1/organization/acme/applications/{cid}/tokens"
    with server.storage.transaction() as db:
        user = db.user_by_name("owner")
        app = db.application_by_client_id(cid)
        assert user is not None and app is not None
        for i in range(55):
            db.create_oauth_token(user, "repo:read", app.id, name=f"t{i}")
    first = server.call("GET", path, owner).json()
    assert len(first["tokens"]) == 50 and "next_page" in first
    second = server.call("GET", path, owner, params={"next_page": first["next_page"]}).json()
    assert len(second["tokens"]) == 5 and "next_page" not in second
    names = {tok["name"] for tok in first["tokens"] + second["tokens"]}
    assert len(names) == 55
    # A token that is not ours restarts at the first page.
    assert len(server.call("GET", path, owner, params={"next_page": "junk"}).json()["tokens"]) == 50


# ---- prototypes --------------------------------------------------------------------------------------------


def test_prototypes(server: Server, owner: str) -> None:
    server.make_user("bob")
    base = "/api/v1/organization/acme/prototypes"
    r = server.call("POST", base, owner, json={"role": "write", "delegate": {"name": "owners", "kind": "team"},
                                               "activating_user": {"name": "bob"}})
    assert r.status_code == 200, r.text
    proto = r.json()
    assert proto["role"] == "write" and proto["delegate"]["kind"] == "team"
    assert proto["activating_user"]["name"] == "bob" and proto["activating_user"]["is_org_member"] is False
    r = server.call("POST", base, owner, json={"role": "read", "delegate": {"name": "bob", "kind": "user"}})
    assert r.status_code == 200 and r.json()["activating_user"] is None
    assert len(server.call("GET", base, owner).json()["prototypes"]) == 2
    r = server.call("POST", base, owner, json={"role": "read", "delegate": {"name": "ghost", "kind": "user"}})
    assert r.status_code == 400 and r.json()["detail"] == "Missing delegate user or team"
    r = server.call("POST", base, owner, json={"role": "read", "delegate": {"name": "bob", "kind": "user"},
                                               "activating_user": {"name": "ghost"}})
    assert r.status_code == 400 and r.json()["detail"] == "Unknown activating user"
    r = server.call("POST", base, owner, json={"role": "owner", "delegate": {"name": "bob", "kind": "user"}})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    r = server.call("PUT", f"{base}/{proto['id']}", owner, json={"role": "admin"})
    assert r.status_code == 200 and r.json()["role"] == "admin"
    assert logs(server, "modify_prototype_permission")[0]["original_role"] == "write"
    assert server.call("PUT", f"{base}/nope", owner, json={"role": "admin"}).status_code == 404
    assert server.call("DELETE", f"{base}/{proto['id']}", owner).status_code == 204
    assert server.call("DELETE", f"{base}/{proto['id']}", owner).status_code == 404
    created = logs(server, "create_prototype_permission")
    assert created[0]["delegate_team"] == "owners" and created[0]["activating_username"] == "bob"
    assert created[1]["delegate_user"] == "bob"
