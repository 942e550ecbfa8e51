"""Auto-prune policies (tag `policy`) and tag immutability policies (tag `immutability_policy`)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from sqlalchemy import select

from reference_server.storage import schema as t
from reference_server.storage.registry import now_ms
from tests.conftest import Server
from tests.test_api_repository import make_org

FEATURES = {"FEATURE_AUTO_PRUNE": True, "FEATURE_IMMUTABLE_TAGS": True, "FEATURE_SUPERUSERS_FULL_ACCESS": True,
            "GLOBAL_READONLY_SUPER_USERS": ["gro"]}
ORG = "/api/v1/organization/acme/autoprunepolicy/"
IMM = "/api/v1/organization/acme/immutabilitypolicy/"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


# ---- helpers shared with test_prune_worker.py ----------------------------------------------------------------


def make_repo(server: Server, namespace: str, name: str) -> int:
    with server.storage.transaction() as db:
        owner = db.user_by_name(namespace)
        assert owner is not None
        return db.create_repository(owner, name, visibility="private", description="", kind="image").id


def add_tags(server: Server, repo_id: int, names: list[str], *, start_ms: int | None = None,
             step_ms: int = 1000) -> None:
    """Tags pointing at one small manifest; each name starts `step_ms` after the previous (oldest first)."""
    start = now_ms() - len(names) * step_ms if start_ms is None else start_ms
    with server.storage.transaction() as db:
        digest = "sha256:" + hashlib.sha256(f"m{repo_id}".encode()).hexdigest()
        manifest, _ = db.create_manifest(repo_id, digest=digest, media_type=OCI_MANIFEST, manifest_bytes="{}",
                                         config_digest=None, blob_digests=[], child_ids=[], layers_compressed_size=0,
                                         is_manifest_list=False)
        for i, name in enumerate(names):
            db.set_tag(repo_id, name, manifest.id, at_ms=start + i * step_ms)


def live_tags(server: Server, repo_id: int) -> dict[str, bool]:
    """Live tag name -> immutable flag."""
    with server.storage.read() as db:
        rows = db.conn.execute(select(t.tag.c.name, t.tag.c.immutable, t.tag.c.lifetime_end_ms)
                               .where(t.tag.c.repository_id == repo_id, t.tag.c.hidden.is_(False))).all()
    at = now_ms()
    return {r[0]: bool(r[1]) for r in rows if r[2] is None or r[2] > at}


def log_metadata(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.read() as db:
        rows = db.conn.execute(select(t.log_entry.c.metadata).where(t.log_entry.c.kind == kind)
                               .order_by(t.log_entry.c.id)).all()
    return [{k: v for k, v in r[0].items() if not k.startswith("oauth_token")} for r in rows]


@pytest.fixture
def srv(make_server: Any) -> Server:
    server: Server = make_server(FEATURES)
    server.owner = server.make_user("owner")  # type: ignore[attr-defined]
    server.outsider = server.make_user("outsider")  # type: ignore[attr-defined]
    server.gro = server.make_user("gro")  # type: ignore[attr-defined]
    make_org(server, "acme", "owner")
    return server


# ---- auto-prune: feature switch, CRUD, validation ------------------------------------------------------------


def test_routes_absent_when_features_are_off(server: Server) -> None:
    token = server.make_user("someone")
    assert server.call("GET", "/api/v1/user/autoprunepolicy/", token).status_code == 404
    assert server.call("GET", "/api/v1/organization/x/immutabilitypolicy/", token).status_code == 404


def test_org_policy_crud_and_audit(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    r = srv.call("POST", ORG, owner, json={"method": "number_of_tags", "value": 10})
    assert r.status_code == 201, r.text
    uuid = r.json()["uuid"]
    assert r.json() == {"uuid": uuid}
    view = {"uuid": uuid, "method": "number_of_tags", "value": 10, "tagPattern": None, "tagPatternMatches": True}
    assert srv.call("GET", ORG, owner).json() == {"policies": [view]}
    assert srv.call("GET", ORG + uuid, owner).json() == view
    r = srv.call("PUT", ORG + uuid, owner, json={"method": "creation_date", "value": "2w", "tagPattern": "  ^dev ",
                                                 "tagPatternMatches": False})
    assert r.status_code == 204 and r.content == b""
    assert srv.call("GET", ORG + uuid, owner).json() == {
        "uuid": uuid, "method": "creation_date", "value": "2w", "tagPattern": "^dev", "tagPatternMatches": False}
    r = srv.call("DELETE", ORG + uuid, owner)
    assert r.status_code == 200 and r.json() == {"uuid": uuid}
    assert srv.call("GET", ORG + uuid, owner).status_code == 404
    assert srv.call("PUT", ORG + uuid, owner, json={"method": "number_of_tags", "value": 1}).status_code == 404
    assert srv.call("DELETE", ORG + uuid, owner).status_code == 404
    assert log_metadata(srv, "create_namespace_autoprune_policy") == [
        {"method": "number_of_tags", "value": 10, "tag_pattern": None, "tag_pattern_matches": True,
         "namespace": "acme"}]
    assert log_metadata(srv, "update_namespace_autoprune_policy") == [
        {"method": "creation_date", "value": "2w", "tag_pattern": "^dev", "tag_pattern_matches": False,
         "namespace": "acme"}]
    assert log_metadata(srv, "delete_namespace_autoprune_policy") == [{"policy_uuid": uuid, "namespace": "acme"}]


@pytest.mark.parametrize(("body", "detail"), [
    ({"method": "newest", "value": 3}, "Invalid method provided"),
    ({"method": "number_of_tags", "value": "10"}, "Invalid value given for method type"),
    ({"method": "number_of_tags", "value": 0}, "Invalid value given for method type"),
    ({"method": "number_of_tags", "value": -2}, "Invalid value given for method type"),
    ({"method": "creation_date", "value": 5}, "Invalid value given for method type"),
    ({"method": "creation_date", "value": "5x"}, "Invalid value given for method type"),
    ({"method": "creation_date", "value": "d"}, "Invalid value given for method type"),
    ({"method": "creation_date", "value": "5d", "tagPattern": "   "}, "tag_pattern cannot be empty"),
])
def test_autoprune_validation(srv: Server, body: dict[str, Any], detail: str) -> None:
    r = srv.call("POST", ORG, srv.owner, json=body)  # type: ignore[attr-defined]
    assert r.status_code == 400, r.text
    assert r.json()["error_type"] == "invalid_request" and r.json()["detail"] == detail


def test_autoprune_schema_and_accepted_values(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    for body in ({"method": "number_of_tags"}, {"method": "number_of_tags", "value": True},
                 {"method": "creation_date", "value": "1d", "tagPatternMatches": "yes"}):
        assert srv.call("POST", ORG, owner, json=body).status_code == 400
    for value in ("30m", "12h", "1y", "3s", "2w"):  # `m` is minutes
        assert srv.call("POST", ORG, owner, json={"method": "creation_date", "value": value}).status_code == 201


def test_exact_duplicates_refused_on_create_only(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    body = {"method": "number_of_tags", "value": 5, "tagPattern": "x"}
    first = srv.call("POST", ORG, owner, json=body).json()["uuid"]
    r = srv.call("POST", ORG, owner, json=body)
    assert r.status_code == 400
    assert r.json()["detail"] == ("Existing policy with same values for this namespace, duplicate policies are "
                                  "not permitted")
    assert srv.call("POST", ORG, owner, json={**body, "tagPatternMatches": False}).status_code == 201
    assert srv.call("POST", ORG, owner, json={**body, "value": 6}).status_code == 201
    # Quay does not look for duplicates when replacing a policy.
    second = srv.call("GET", ORG, owner).json()["policies"][2]["uuid"]
    assert srv.call("PUT", ORG + second, owner, json=body).status_code == 204
    assert first != second


def test_org_permissions(srv: Server) -> None:
    outsider, gro = srv.outsider, srv.gro  # type: ignore[attr-defined]
    body = {"method": "number_of_tags", "value": 3}
    assert srv.call("GET", ORG, None).status_code == 401
    assert srv.call("GET", ORG, outsider).status_code == 403
    assert srv.call("POST", ORG, outsider, json=body).status_code == 403
    # Organization endpoints validate the body before the permission check.
    assert srv.call("POST", ORG, outsider, json={"method": "x"}).status_code == 400
    assert srv.call("GET", ORG, gro).status_code == 200
    assert srv.call("POST", ORG, gro, json=body).status_code == 403
    # A full-access superuser manages any organization; an unknown one lists as empty but cannot be written.
    r = srv.call("POST", ORG, srv.admin_token, json=body)
    assert r.status_code == 201
    assert srv.call("GET", "/api/v1/organization/nope/autoprunepolicy/", srv.admin_token).json() == {"policies": []}
    assert srv.call("POST", "/api/v1/organization/nope/autoprunepolicy/", srv.admin_token,
                    json=body).status_code == 404
    assert srv.call("POST", "/api/v1/organization/nope/autoprunepolicy/", outsider, json=body).status_code == 403
    # org:admin is needed on the token.
    weak = srv.make_user("owner", scopes="repo:admin user:admin")
    assert srv.call("GET", ORG, weak).status_code == 403


def test_user_policies_and_task_queue(srv: Server) -> None:
    token = srv.outsider  # type: ignore[attr-defined]
    path = "/api/v1/user/autoprunepolicy/"
    uuid = srv.call("POST", path, token, json={"method": "creation_date", "value": "7d"}).json()["uuid"]
    assert [p["uuid"] for p in srv.call("GET", path, token).json()["policies"]] == [uuid]
    assert srv.call("GET", path + uuid, token).json()["value"] == "7d"
    # Another user's policy is not visible through the caller's own namespace.
    assert srv.call("GET", path + uuid, srv.owner).status_code == 404  # type: ignore[attr-defined]
    assert srv.call("PUT", path + uuid, token, json={"method": "number_of_tags", "value": 2}).status_code == 204
    assert log_metadata(srv, "create_namespace_autoprune_policy")[0]["namespace"] == "outsider"
    with srv.storage.read() as db:
        user = db.user_by_name("outsider")
        assert user is not None
        task = db.autoprune_task(user.id)
    assert task is not None and task.status == "queued" and task.last_ran_ms is None
    assert srv.call("DELETE", path + uuid, token).json() == {"uuid": uuid}
    assert srv.call("GET", path, None).status_code == 401
    assert srv.call("GET", path, srv.make_user("outsider", scopes="user:read")).status_code == 403


def test_repository_policies(srv: Server) -> None:
    owner, outsider = srv.owner, srv.outsider  # type: ignore[attr-defined]
    make_repo(srv, "acme", "app")
    path = "/api/v1/repository/acme/app/autoprunepolicy/"
    body = {"method": "number_of_tags", "value": 4, "tagPattern": "^v"}
    r = srv.call("POST", path, owner, json=body)
    assert r.status_code == 201
    uuid = r.json()["uuid"]
    assert srv.call("POST", path, owner, json=body).json()["detail"] == (
        "Existing policy with same values for this repository, duplicate policies are not permitted")
    assert srv.call("GET", path + uuid, owner).json()["tagPattern"] == "^v"
    assert srv.call("PUT", path + uuid, owner, json={"method": "number_of_tags", "value": 9}).status_code == 204
    # The namespace's own list does not hold repository policies.
    assert srv.call("GET", ORG, owner).json() == {"policies": []}
    # Repository endpoints check permission before the body.
    assert srv.call("POST", path, outsider, json={"method": "x"}).status_code == 403
    assert srv.call("GET", path, outsider).status_code == 403
    assert srv.call("GET", path, srv.gro).status_code == 200  # type: ignore[attr-defined]
    assert srv.call("POST", path, srv.gro, json=body).status_code == 403  # type: ignore[attr-defined]
    missing = "/api/v1/repository/acme/nope/autoprunepolicy/"
    assert srv.call("GET", missing, owner).status_code == 404
    assert srv.call("POST", missing, owner, json=body).status_code == 404
    assert srv.call("GET", missing, outsider).status_code == 403
    assert srv.call("DELETE", path + uuid, owner).json() == {"uuid": uuid}
    assert log_metadata(srv, "create_repository_autoprune_policy") == [
        {"method": "number_of_tags", "value": 4, "tag_pattern": "^v", "tag_pattern_matches": True,
         "namespace": "acme", "repo": "app"}]
    assert log_metadata(srv, "delete_repository_autoprune_policy") == [
        {"policy_uuid": uuid, "namespace": "acme", "repo": "app"}]


# ---- immutability ----------------------------------------------------------------------------------------------


def test_org_immutability_policy_applies_to_existing_tags(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    app, other = make_repo(srv, "acme", "app"), make_repo(srv, "acme", "other")
    add_tags(srv, app, ["v1", "v1.0", "latest", "xv1"])
    add_tags(srv, other, ["v1"])
    r = srv.call("POST", IMM, owner, json={"tagPattern": " v1 "})
    assert r.status_code == 201
    uuid = r.json()["uuid"]
    # The pattern must match the whole name: v1.0 and xv1 stay mutable.
    assert live_tags(srv, app) == {"v1": True, "v1.0": False, "latest": False, "xv1": False}
    assert live_tags(srv, other) == {"v1": True}
    assert srv.call("GET", IMM, owner).json() == {
        "policies": [{"uuid": uuid, "tagPattern": "v1", "tagPatternMatches": True}]}
    assert log_metadata(srv, "tags_made_immutable_by_policy") == [
        {"namespace": "acme", "tag_pattern": "v1", "tag_pattern_matches": True, "count": 2}]
    assert log_metadata(srv, "create_immutability_policy") == [
        {"namespace": "acme", "tag_pattern": "v1", "tag_pattern_matches": True}]
    # Replacing the policy protects the new selection; nothing becomes mutable again, even on delete.
    r = srv.call("PUT", IMM + uuid, owner, json={"tagPattern": "v1.*", "tagPatternMatches": False})
    assert r.status_code == 204 and r.content == b""
    assert live_tags(srv, app) == {"v1": True, "v1.0": False, "latest": True, "xv1": True}
    assert srv.call("DELETE", IMM + uuid, owner).json() == {"uuid": uuid}
    assert live_tags(srv, app)["latest"] is True
    assert log_metadata(srv, "delete_immutability_policy") == [{"namespace": "acme", "policy_uuid": uuid}]
    assert srv.call("GET", IMM + uuid, owner).status_code == 404


@pytest.mark.parametrize(("pattern", "detail"), [
    ("   ", "tag_pattern is required and must be a non-empty string"),
    ("a" * 257, "tag_pattern must be 256 characters or less"),
    ("[", "Invalid regex pattern: unterminated character set at position 0"),
])
def test_immutability_validation(srv: Server, pattern: str, detail: str) -> None:
    r = srv.call("POST", IMM, srv.owner, json={"tagPattern": pattern})  # type: ignore[attr-defined]
    assert r.status_code == 400 and r.json()["detail"] == detail


def test_immutability_duplicates_and_unknown_names(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    assert srv.call("POST", IMM, owner, json={"tagPattern": "a" * 256}).status_code == 201
    first = srv.call("POST", IMM, owner, json={"tagPattern": "^v.*$"}).json()["uuid"]
    r = srv.call("POST", IMM, owner, json={"tagPattern": "^v.*$", "tagPatternMatches": True})
    assert r.status_code == 400 and r.json()["detail"] == "A policy with the same tag_pattern already exists"
    second = srv.call("POST", IMM, owner, json={"tagPattern": "^v.*$", "tagPatternMatches": False}).json()["uuid"]
    assert srv.call("PUT", IMM + second, owner, json={"tagPattern": "^v.*$"}).status_code == 400
    assert srv.call("PUT", IMM + first, owner, json={"tagPattern": "^v.*$"}).status_code == 204
    assert srv.call("POST", IMM, owner, json={}).status_code == 400
    # An unknown organization escapes as Quay's model error for the full-access superuser.
    r = srv.call("POST", "/api/v1/organization/nope/immutabilitypolicy/", srv.admin_token, json={"tagPattern": "x"})
    assert r.status_code == 400 and r.json() == {"message": "Username does not exist: nope"}
    assert srv.call("GET", "/api/v1/organization/nope/immutabilitypolicy/", srv.admin_token).json() == {
        "policies": []}
    assert srv.call("GET", IMM, srv.outsider).status_code == 403  # type: ignore[attr-defined]
    assert srv.call("GET", IMM, srv.gro).status_code == 200  # type: ignore[attr-defined]
    assert srv.call("POST", IMM, srv.gro, json={"tagPattern": "y"}).status_code == 403  # type: ignore[attr-defined]


def test_repository_immutability_policy(srv: Server) -> None:
    owner = srv.owner  # type: ignore[attr-defined]
    app, other = make_repo(srv, "acme", "app"), make_repo(srv, "acme", "other")
    add_tags(srv, app, ["prod", "dev"])
    add_tags(srv, other, ["prod"])
    path = "/api/v1/repository/acme/app/immutabilitypolicy/"
    uuid = srv.call("POST", path, owner, json={"tagPattern": "prod"}).json()["uuid"]
    assert live_tags(srv, app) == {"prod": True, "dev": False}
    assert live_tags(srv, other) == {"prod": False}
    assert srv.call("GET", path, owner).json()["policies"][0]["uuid"] == uuid
    assert srv.call("GET", IMM, owner).json() == {"policies": []}
    assert log_metadata(srv, "create_immutability_policy") == [
        {"namespace": "acme", "repo": "app", "tag_pattern": "prod", "tag_pattern_matches": True}]
    assert log_metadata(srv, "tags_made_immutable_by_policy")[0]["repo"] == "app"
    assert srv.call("GET", "/api/v1/repository/acme/nope/immutabilitypolicy/", owner).status_code == 404
    assert srv.call("POST", path, srv.outsider, json={"tagPattern": "["}).status_code == 403  # type: ignore[attr-defined]
    assert srv.call("DELETE", path + uuid, owner).json() == {"uuid": uuid}
    assert log_metadata(srv, "delete_immutability_policy") == [
        {"namespace": "acme", "repo": "app", "policy_uuid": uuid}]


def test_hook_makes_new_tags_immutable(srv: Server) -> None:
    app, other = make_repo(srv, "acme", "app"), make_repo(srv, "acme", "other")
    assert srv.call("POST", IMM, srv.owner, json={"tagPattern": "v[0-9]+"}).status_code == 201  # type: ignore[attr-defined]
    assert srv.call("POST", "/api/v1/repository/acme/app/immutabilitypolicy/", srv.owner,  # type: ignore[attr-defined]
                    json={"tagPattern": "stable", "tagPatternMatches": True}).status_code == 201
    add_tags(srv, app, ["v2", "stable", "edge"])
    add_tags(srv, other, ["stable"])
    with srv.storage.transaction() as db:
        results = {name: db.apply_immutability_policies(app, name) for name in ("v2", "stable", "edge", "gone")}
        results["other:stable"] = db.apply_immutability_policies(other, "stable")
        # Already immutable: nothing more to do.
        results["again"] = db.apply_immutability_policies(app, "v2")
    assert results == {"v2": True, "stable": True, "edge": False, "gone": False, "other:stable": False,
                       "again": False}
    assert live_tags(srv, app) == {"v2": True, "stable": True, "edge": False}
    assert log_metadata(srv, "tag_made_immutable_by_policy") == [
        {"namespace": "acme", "repo": "app", "tag": "v2", "tag_pattern": "v[0-9]+", "tag_pattern_matches": True},
        {"namespace": "acme", "repo": "app", "tag": "stable", "tag_pattern": "stable", "tag_pattern_matches": True},
    ]
