"""The `repository`, `repotoken` and `repoemail` areas: create/list/get/update/delete, visibility, state,
the retired repository tokens and authorized e-mails."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import insert, select

from reference_server.storage import schema as t
from tests.conftest import Server

pytestmark = pytest.mark.area("repository")


# ---- helpers shared with the permission and search tests (organizations are seeded straight in storage,
# since the organization API is built elsewhere) ------------------------------------------------------------


def user_id(server: Server, name: str) -> int:
    with server.storage.transaction() as db:
        user = db.user_by_name(name)
        assert user is not None
        return user.id


def make_org(server: Server, name: str, owner: str) -> None:
    """An organization with an `owners` admin team holding `owner`."""
    with server.storage.transaction() as db:
        db.create_namespace(name, email=f"{name}@example.com", organization=True)
    add_team(server, name, "owners", "admin", [owner])


def add_team(server: Server, org: str, team: str, role: str, members: list[str]) -> int:
    org_id = user_id(server, org)
    member_ids = [user_id(server, m) for m in members]
    with server.storage.transaction() as db:
        team_id = int(db.conn.execute(insert(t.team).values(org_id=org_id, name=team, role=role, description=""))
                      .inserted_primary_key[0])
        for uid in member_ids:
            db.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=uid))
    return team_id


def make_robot(server: Server, full_name: str) -> None:
    with server.storage.transaction() as db:
        db.create_namespace(full_name, email=None, robot=True)


def create_repo(server: Server, token: str, name: str, namespace: str | None = None,
                visibility: str = "private", description: str = "") -> Any:
    body: dict[str, Any] = {"repository": name, "visibility": visibility, "description": description}
    if namespace is not None:
        body["namespace"] = namespace
    return server.call("POST", "/api/v1/repository", token, json=body)


def log_entries(server: Server, kind: str) -> list[dict[str, Any]]:
    """Audit rows of one kind, oldest first, with the OAuth token keys taken out of the metadata."""
    with server.storage.transaction() as db:
        rows = db.conn.execute(select(t.log_entry).where(t.log_entry.c.kind == kind)
                               .order_by(t.log_entry.c.id)).all()
    out = []
    for row in rows:
        entry = dict(row._mapping)
        entry["metadata"] = {k: v for k, v in entry["metadata"].items() if not k.startswith("oauth_token")}
        out.append(entry)
    return out


def error_detail(response: Any) -> str:
    body = response.json()
    assert body["error_type"] == "invalid_request", body
    return str(body["detail"])


# ---- createRepo -------------------------------------------------------------------------------------------


@pytest.mark.operation("createRepo", "getRepo")
def test_create_in_own_namespace_then_get(server: Server) -> None:
    alice = server.make_user("alice")
    r = create_repo(server, alice, "web", description="hello")
    assert r.status_code == 201
    assert r.json() == {"namespace": "alice", "name": "web", "kind": "image"}
    r = server.call("GET", "/api/v1/repository/alice/web", alice)
    assert r.status_code == 200
    body = r.json()
    assert {k: body[k] for k in ("namespace", "name", "kind", "description", "is_public", "is_organization",
                                 "is_starred", "trust_enabled", "tag_expiration_s", "is_free_account",
                                 "state", "tags", "can_write", "can_admin")} == {
        "namespace": "alice", "name": "web", "kind": "image", "description": "hello", "is_public": False,
        "is_organization": False, "is_starred": False, "trust_enabled": False, "tag_expiration_s": 1209600,
        "is_free_account": True, "state": "NORMAL", "tags": {}, "can_write": True, "can_admin": True}
    assert len(body["status_token"]) == 36
    assert "stats" not in body
    entry = log_entries(server, "create_repo")[-1]
    assert entry["metadata"] == {"repo": "web", "namespace": "alice"}
    assert entry["repository_id"] is not None


@pytest.mark.operation("createRepo")
def test_create_refusals(server: Server) -> None:
    alice = server.make_user("alice")
    assert create_repo(server, alice, "web").status_code == 201
    r = create_repo(server, alice, "web")
    assert r.status_code == 400
    assert error_detail(r) == "Repository already exists"
    r = create_repo(server, alice, "Bad_Name")
    assert r.status_code == 400
    assert error_detail(r) == "Invalid repository name"
    r = create_repo(server, alice, "x", visibility="secret")
    assert r.status_code == 400
    assert error_detail(r).startswith("'secret' is not one of ['public', 'private']")
    r = server.call("POST", "/api/v1/repository", alice, json={"repository": "x", "visibility": "public"})
    assert r.status_code == 400
    assert "'description' is a required property" in error_detail(r)


@pytest.mark.operation("createRepo")
def test_anonymous_create_passing_csrf_is_400(server: Server) -> None:
    csrf = server.client.get("/csrf_token").json()["csrf_token"]
    r = server.client.post("/api/v1/repository", headers={"X-CSRF-Token": csrf},
                           json={"repository": "x", "visibility": "public", "description": ""})
    assert r.status_code == 400
    assert error_detail(r) == "Must provide a namespace or must be logged in."


@pytest.mark.operation("createRepo")
def test_create_in_org_needs_creator_role_and_applies_prototypes(server: Server) -> None:
    boss = server.make_user("boss")
    maker = server.make_user("maker")
    outsider = server.make_user("outsider")
    server.make_user("viewer")
    make_org(server, "acme", "boss")
    add_team(server, "acme", "makers", "creator", ["maker"])
    readers = add_team(server, "acme", "readers", "member", ["viewer"])
    org_id, viewer_id = user_id(server, "acme"), user_id(server, "viewer")
    with server.storage.transaction() as db:
        db.conn.execute(insert(t.prototype), [
            {"uuid": "p1", "org_id": org_id, "activating_user_id": None, "delegate_user_id": None,
             "delegate_team_id": readers, "role": "read"},
            {"uuid": "p2", "org_id": org_id, "activating_user_id": None, "delegate_user_id": viewer_id,
             "delegate_team_id": None, "role": "read"},
            # A prototype for this creator beats the generic one for the same delegate.
            {"uuid": "p3", "org_id": org_id, "activating_user_id": user_id(server, "maker"),
             "delegate_user_id": viewer_id, "delegate_team_id": None, "role": "write"},
        ])
    r = create_repo(server, outsider, "nope", namespace="acme")
    assert r.status_code == 403
    assert r.json()["error_type"] == "insufficient_scope"
    assert create_repo(server, maker, "app", namespace="acme").status_code == 201
    users = server.call("GET", "/api/v1/repository/acme/app/permissions/user/", boss).json()["permissions"]
    assert {name: p["role"] for name, p in users.items()} == {"maker": "admin", "viewer": "write"}
    teams = server.call("GET", "/api/v1/repository/acme/app/permissions/team/", boss).json()["permissions"]
    assert {name: p["role"] for name, p in teams.items()} == {"readers": "read"}
    # The creator's explicit admin row makes the repository theirs to administer.
    assert server.call("GET", "/api/v1/repository/acme/app", maker).json()["can_admin"] is True


@pytest.mark.operation("createRepo")
def test_repo_create_scope_caps_the_creator(server: Server) -> None:
    read_only = server.make_user("ro", scopes="repo:read user:read")
    assert create_repo(server, read_only, "web").status_code == 403
    creator = server.make_user("ro", scopes="repo:create")
    assert create_repo(server, creator, "web").status_code == 201


@pytest.mark.operation("createRepo", "getRepo")
def test_nested_repository_names(server: Server) -> None:
    alice = server.make_user("alice")
    assert create_repo(server, alice, "team/app/web").status_code == 201
    r = server.call("GET", "/api/v1/repository/alice/team/app/web", alice)
    assert r.status_code == 200
    assert r.json()["name"] == "team/app/web"


# ---- getRepo and the 401/403/404 rules ---------------------------------------------------------------------


@pytest.mark.operation("getRepo")
def test_private_repo_access_rules(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "secret")
    assert server.call("GET", "/api/v1/repository/alice/secret").status_code == 401
    r = server.call("GET", "/api/v1/repository/alice/secret", bob)
    assert r.status_code == 403
    assert r.json()["detail"] == "Unauthorized"
    # A missing repository looks like a private one to outsiders, and is a 404 for the owner.
    assert server.call("GET", "/api/v1/repository/alice/missing", bob).status_code == 403
    r = server.call("GET", "/api/v1/repository/alice/missing", alice)
    assert r.status_code == 404
    assert r.json()["error_type"] == "not_found"


@pytest.mark.operation("getRepo", "changeRepoVisibility")
def test_public_repo_is_readable_by_everyone_but_writable_by_none(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "pub")
    r = server.call("POST", "/api/v1/repository/alice/pub/changevisibility", alice, json={"visibility": "public"})
    assert r.status_code == 200
    assert r.json() == {"success": True}
    anon = server.call("GET", "/api/v1/repository/alice/pub")
    assert anon.status_code == 200
    assert anon.json()["is_public"] is True
    assert anon.json()["status_token"] == ""
    assert anon.json()["can_write"] is False
    seen_by_bob = server.call("GET", "/api/v1/repository/alice/pub", bob).json()
    assert (seen_by_bob["can_write"], seen_by_bob["can_admin"]) == (False, False)
    assert server.call("PUT", "/api/v1/repository/alice/pub", bob, json={"description": "x"}).status_code == 403
    entry = log_entries(server, "change_repo_visibility")[-1]
    assert entry["metadata"] == {"repo": "pub", "namespace": "alice", "visibility": "public"}


@pytest.mark.operation("getRepo")
def test_include_tags_and_stats(server: Server) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    body = server.call("GET", "/api/v1/repository/alice/web?includeTags=false&includeStats=true", alice).json()
    assert "tags" not in body
    assert len(body["stats"]) == 91
    assert set(body["stats"][0]) == {"date", "count"}


@pytest.mark.operation("getRepo")
def test_superusers_and_global_readonly(make_server: Any) -> None:
    server = make_server({"FEATURE_SUPERUSERS_FULL_ACCESS": True, "GLOBAL_READONLY_SUPER_USERS": ["gro"]})
    alice = server.make_user("alice")
    gro = server.make_user("gro")
    create_repo(server, alice, "web")
    r = server.call("GET", "/api/v1/repository/alice/web", server.admin_token)
    assert r.status_code == 200
    assert (r.json()["can_write"], r.json()["can_admin"]) == (True, True)
    r = server.call("GET", "/api/v1/repository/alice/web", gro)
    assert r.status_code == 200
    assert (r.json()["can_write"], r.json()["can_admin"]) == (False, False)
    assert server.call("PUT", "/api/v1/repository/alice/web", gro, json={"description": "x"}).status_code == 403
    assert server.call("PUT", "/api/v1/repository/alice/web", server.admin_token,
                       json={"description": "by su"}).status_code == 200


def test_superuser_without_full_access_is_an_outsider(server: Server) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    assert server.call("GET", "/api/v1/repository/alice/web", server.admin_token).status_code == 403


# ---- updateRepo / deleteRepository / changeRepoState ---------------------------------------------------------


@pytest.mark.operation("updateRepo")
def test_update_description(server: Server) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    r = server.call("PUT", "/api/v1/repository/alice/web", alice, json={"description": "new text"})
    assert r.status_code == 200
    assert r.json() == {"success": True}
    assert server.call("GET", "/api/v1/repository/alice/web", alice).json()["description"] == "new text"
    assert log_entries(server, "set_repo_description")[-1]["metadata"] == {
        "repo": "web", "namespace": "alice", "description": "new text"}
    r = server.call("PUT", "/api/v1/repository/alice/web", alice, json={"description": 5})
    assert r.status_code == 400
    # Repository endpoints check the permission before the body: an outsider's bad body is a 403.
    bob = server.make_user("bob")
    assert server.call("PUT", "/api/v1/repository/alice/web", bob, json={"description": 5}).status_code == 403
    assert server.call("PUT", "/api/v1/repository/alice/missing", alice,
                       json={"description": "x"}).status_code == 404


@pytest.mark.operation("updateRepo")
def test_token_scope_caps_the_owner(server: Server) -> None:
    server.make_user("alice")
    reader = server.make_user("alice", scopes="repo:read repo:create")
    assert create_repo(server, reader, "web").status_code == 201
    assert server.call("GET", "/api/v1/repository/alice/web", reader).json()["can_write"] is False
    assert server.call("PUT", "/api/v1/repository/alice/web", reader, json={"description": "x"}).status_code == 403


@pytest.mark.operation("deleteRepository")
def test_delete_repository(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "web")
    assert server.call("DELETE", "/api/v1/repository/alice/web", bob).status_code == 403
    r = server.call("DELETE", "/api/v1/repository/alice/web", alice)
    assert r.status_code == 204
    assert r.content == b""
    assert server.call("GET", "/api/v1/repository/alice/web", alice).status_code == 404
    assert log_entries(server, "delete_repo")[-1]["metadata"] == {"repo": "web", "namespace": "alice"}
    # The name is free again.
    assert create_repo(server, alice, "web").status_code == 201


# No operation marker: changeRepoState is absent from the default discovery document (FEATURE_REPO_MIRROR
# is off), and this test builds its own server with the feature on.
def test_change_state_only_with_repo_mirror(server: Server, make_server: Any) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    # Without the feature the route is gone and the path reads as updateRepo on `alice/web/changestate`
    # (nested names are allowed), which wants a description: Quay answers the same way.
    r = server.call("PUT", "/api/v1/repository/alice/web/changestate", alice, json={"state": "READ_ONLY"})
    assert r.status_code == 400
    assert "'description' is a required property" in error_detail(r)
    mirror = make_server({"FEATURE_REPO_MIRROR": True})
    alice = mirror.make_user("alice")
    create_repo(mirror, alice, "web")
    r = mirror.call("PUT", "/api/v1/repository/alice/web/changestate", alice, json={"state": "READ_ONLY"})
    assert r.status_code == 200
    assert r.json() == {"success": True}
    body = mirror.call("GET", "/api/v1/repository/alice/web", alice).json()
    assert (body["state"], body["can_write"], body["can_admin"]) == ("READ_ONLY", False, True)
    assert log_entries(mirror, "change_repo_state")[-1]["metadata"] == {
        "repo": "web", "namespace": "alice", "state_changed": "READ_ONLY"}
    r = mirror.call("PUT", "/api/v1/repository/alice/web/changestate", alice, json={"state": "ORG_MIRROR"})
    assert r.status_code == 400


@pytest.mark.operation("changeRepoVisibility")
def test_change_visibility_of_missing_repo_is_200_null(server: Server) -> None:
    alice = server.make_user("alice")
    r = server.call("POST", "/api/v1/repository/alice/missing/changevisibility", alice,
                    json={"visibility": "public"})
    assert r.status_code == 200
    assert r.json() is None


# ---- listRepos ---------------------------------------------------------------------------------------------


@pytest.mark.operation("listRepos")
def test_list_needs_a_filter(server: Server) -> None:
    r = server.call("GET", "/api/v1/repository")
    assert r.status_code == 400
    assert error_detail(r) == "namespace, starred or public are required for this API call"
    r = server.call("GET", "/api/v1/repository?starred=true")
    assert r.status_code == 400
    assert r.json() == {"message": "The browser (or proxy) sent a request that this server could not understand."}


@pytest.mark.operation("listRepos")
def test_list_by_namespace_and_public(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "private1")
    create_repo(server, alice, "public1", visibility="public")
    create_repo(server, bob, "bobs")
    mine = server.call("GET", "/api/v1/repository?namespace=alice", alice).json()["repositories"]
    assert sorted(r["name"] for r in mine) == ["private1", "public1"]
    assert mine[0] == {"namespace": "alice", "name": "private1", "description": "", "is_public": False,
                       "kind": "image", "state": "NORMAL", "is_starred": False}
    # Public repositories of a namespace appear for others only with public=true.
    assert server.call("GET", "/api/v1/repository?namespace=alice", bob).json()["repositories"] == []
    listed = server.call("GET", "/api/v1/repository?namespace=alice&public=true", bob).json()["repositories"]
    assert [r["name"] for r in listed] == ["public1"]
    anon = server.call("GET", "/api/v1/repository?public=true").json()
    assert [r["name"] for r in anon["repositories"]] == ["public1"]
    assert "is_starred" not in anon["repositories"][0]
    everything = server.call("GET", "/api/v1/repository?public=true&popularity=true&last_modified=true", bob)
    names = {r["name"]: r for r in everything.json()["repositories"]}
    assert set(names) == {"public1", "bobs"}
    assert names["bobs"]["popularity"] == 0.0
    assert names["bobs"]["last_modified"] is None


@pytest.mark.operation("listRepos")
def test_list_paginates_by_hundred(server: Server) -> None:
    alice = server.make_user("alice")
    with server.storage.transaction() as db:
        owner = db.user_by_name("alice")
        assert owner is not None
        for i in range(105):
            db.create_repository(owner, f"r{i:03d}", visibility="public", description="", kind="image")
    first = server.call("GET", "/api/v1/repository?public=true", alice).json()
    assert len(first["repositories"]) == 100
    second = server.call("GET", "/api/v1/repository", alice,
                         params={"public": "true", "next_page": first["next_page"]}).json()
    assert [r["name"] for r in second["repositories"]] == [f"r{i:03d}" for i in range(100, 105)]
    assert "next_page" not in second


@pytest.mark.operation("listRepos")
def test_list_starred(server: Server) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    create_repo(server, alice, "other")
    with server.storage.transaction() as db:
        repo = db.repository("alice", "web")
        assert repo is not None
        db.conn.execute(insert(t.star).values(user_id=user_id(server, "alice"), repository_id=repo.id,
                                              created=repo.created))
    listed = server.call("GET", "/api/v1/repository?starred=true", alice).json()["repositories"]
    assert [(r["name"], r["is_starred"]) for r in listed] == [("web", True)]
    assert server.call("GET", "/api/v1/repository/alice/web", alice).json()["is_starred"] is True


# ---- repotoken (retired) -----------------------------------------------------------------------------------


@pytest.mark.area("repotoken")
@pytest.mark.operation("listRepoTokens", "createToken", "getTokens", "changeToken", "deleteToken")
def test_repository_tokens_are_gone(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "web")
    base = "/api/v1/repository/alice/web/tokens/"
    handling = {"message": "Handling of access tokens is no longer supported"}
    r = server.call("GET", base, alice)
    assert (r.status_code, r.json()) == (410, handling)
    r = server.call("POST", base, alice, json={"friendlyName": "x"})
    assert (r.status_code, r.json()) == (410, {"message": "Creation of access tokens is no longer supported"})
    assert server.call("POST", base, alice, json={}).status_code == 400
    for method, extra in (("GET", {}), ("PUT", {"json": {"role": "read"}}), ("DELETE", {})):
        r = server.call(method, base + "abcd", alice, **extra)
        assert (r.status_code, r.json()) == (410, handling)
    assert server.call("GET", base, bob).status_code == 403
    assert server.call("GET", base).status_code == 401


# ---- repoemail ---------------------------------------------------------------------------------------------


@pytest.mark.area("repoemail")
@pytest.mark.operation("checkRepoEmailAuthorized", "sendAuthorizeRepoEmail")
def test_authorize_repo_email(server: Server) -> None:
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    path = "/api/v1/repository/alice/web/authorizedemail/ops@example.com"
    r = server.call("GET", path, alice)
    assert r.status_code == 404
    assert "message" in r.json()
    r = server.call("POST", path, alice)
    assert r.status_code == 200
    sent = r.json()
    assert {k: sent[k] for k in ("email", "repository", "namespace", "confirmed")} == {
        "email": "ops@example.com", "repository": "web", "namespace": "alice", "confirmed": False}
    assert "code" not in sent
    assert server.call("GET", path, alice).json() == sent
    with server.storage.transaction() as db:
        mails = db.conn.execute(select(t.outbox)).all()
    assert [m._mapping["recipient"] for m in mails] == ["ops@example.com"]
    assert mails[0]._mapping["payload"]["code"]
    bob = server.make_user("bob")
    assert server.call("GET", path, bob).status_code == 403


def test_repo_email_routes_vanish_without_mailing(make_server: Any) -> None:
    server = make_server({"FEATURE_MAILING": False})
    alice = server.make_user("alice")
    create_repo(server, alice, "web")
    r = server.call("GET", "/api/v1/repository/alice/web/authorizedemail/ops@example.com", alice)
    # The route is gone, so the path reads as getRepo on a nested name that does not exist.
    assert r.status_code == 404
    assert r.json()["error_type"] == "not_found"
