"""Namespace quotas and limits (tag namespacequota), the superuser quota and registry-size operations, and the
quota figures shown on users, organizations and repositories."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Server
from tests.test_api_org import create_org, logs
from tests.test_registry import image, put_manifest, registry_token

QUOTA_ON = {"FEATURE_QUOTA_MANAGEMENT": True, "FEATURE_SUPERUSERS_FULL_ACCESS": True,
            "GLOBAL_READONLY_SUPER_USERS": ["auditor"]}
GIB = 1024**3
ORG_Q = "/api/v1/organization/acme/quota"

pytestmark = pytest.mark.area("namespacequota")


@pytest.fixture
def quota_server(make_server: Any) -> Server:
    server: Server = make_server(QUOTA_ON)
    create_org(server, server.make_user("owner"), "acme")
    return server


def create_quota(server: Server, body: dict[str, Any], path: str = ORG_Q) -> int:
    answer = server.call("POST", path, server.admin_token, json=body)
    assert answer.status_code == 201, answer.text
    assert answer.json() == "Created"
    listed = server.call("GET", path, server.admin_token).json()
    return int(listed[0]["id"])


def add_limit(server: Server, quota_id: int, kind: str, percent: int) -> Any:
    return server.call("POST", f"{ORG_Q}/{quota_id}/limit", server.admin_token,
                       json={"type": kind, "threshold_percent": percent})


@pytest.mark.operation("createOrganizationQuota", "listOrganizationQuota", "getOrganizationQuota",
                       "changeOrganizationQuota", "deleteOrganizationQuota")
def test_org_quota_lifecycle(quota_server: Server) -> None:
    s = quota_server
    assert s.call("GET", ORG_Q, s.admin_token).json() == []
    quota_id = create_quota(s, {"limit_bytes": 10 * GIB})
    view = {"id": quota_id, "limit_bytes": 10 * GIB, "limit": "10.0 GiB", "default_config": False, "limits": [],
            "default_config_exists": False}
    assert s.call("GET", ORG_Q, s.admin_token).json() == [view]
    assert s.call("GET", f"{ORG_Q}/{quota_id}", s.admin_token).json() == view

    again = s.call("POST", ORG_Q, s.admin_token, json={"limit_bytes": 5000})
    assert again.status_code == 400
    assert again.json()["detail"] == "Organization quota for 'acme' already exists"

    changed = s.call("PUT", f"{ORG_Q}/{quota_id}", s.admin_token, json={"limit_bytes": 2 * GIB})
    assert changed.status_code == 200
    assert changed.json() == {**view, "limit_bytes": 2 * GIB, "limit": "2.0 GiB"}
    # An empty body, and a zero size, leave the quota as it is (Quay skips the update).
    for body in ({}, {"limit_bytes": 0}):
        assert s.call("PUT", f"{ORG_Q}/{quota_id}", s.admin_token, json=body).json()["limit_bytes"] == 2 * GIB
    human = s.call("PUT", f"{ORG_Q}/{quota_id}", s.admin_token, json={"limit": "512Mi"})
    assert human.json()["limit_bytes"] == 512 * 1024**2 and human.json()["limit"] == "512.0 MiB"
    negative = s.call("PUT", f"{ORG_Q}/{quota_id}", s.admin_token, json={"limit_bytes": -5})
    assert negative.status_code == 400 and negative.json()["detail"] == "Invalid quota size limit value: '-5'"
    both = s.call("PUT", f"{ORG_Q}/{quota_id}", s.admin_token, json={"limit_bytes": 5, "limit": "5M"})
    assert both.status_code == 400

    assert s.call("GET", f"{ORG_Q}/999", s.admin_token).status_code == 404
    assert s.call("GET", f"{ORG_Q}/abc", s.admin_token).status_code == 404
    gone = s.call("DELETE", f"{ORG_Q}/{quota_id}", s.admin_token)
    assert gone.status_code == 204 and gone.content == b""
    assert s.call("GET", ORG_Q, s.admin_token).json() == []
    assert s.call("DELETE", f"{ORG_Q}/{quota_id}", s.admin_token).status_code == 404

    assert logs(s, "org_create_quota") == [{"namespace": "acme", "limit_bytes": 10 * GIB, "limit": "10.0 GiB"}]
    assert [e["previous_limit_bytes"] for e in logs(s, "org_change_quota")] == [10 * GIB, 2 * GIB]
    assert logs(s, "org_delete_quota") == [{"namespace": "acme", "quota_id": quota_id, "limit_bytes": 512 * 1024**2}]


@pytest.mark.operation("createOrganizationQuota")
@pytest.mark.parametrize(("body", "status", "limit_bytes"), [
    ({"limit": "200M"}, 201, 200_000_000),  # single letters are decimal units
    ({"limit": "512Mi"}, 201, 512 * 1024**2),
    ({"limit": "3 KiB"}, 201, 3072),
    ({"limit": "7"}, 201, 7),
    ({"limit_bytes": 5, "limit": "5M"}, 400, None),  # oneOf: both keys
    ({}, 400, None),
    ({"limit": "lots"}, 400, None),
    ({"limit": "1.5G"}, 400, None),  # the pattern takes whole numbers only
    ({"limit_bytes": "5"}, 400, None),
])
def test_create_quota_body_forms(quota_server: Server, body: dict[str, Any], status: int,
                                 limit_bytes: int | None) -> None:
    answer = quota_server.call("POST", ORG_Q, quota_server.admin_token, json=body)
    assert answer.status_code == status, answer.text
    if limit_bytes is not None:
        assert quota_server.call("GET", ORG_Q, quota_server.admin_token).json()[0]["limit_bytes"] == limit_bytes


@pytest.mark.operation("createOrganizationQuota")
@pytest.mark.parametrize(("body", "detail"), [
    ({"limit_bytes": 0}, "Invalid quota size limit value: '0'"),
    ({"limit": "0"}, "Invalid quota size limit value: '0.0'"),  # bitmath reads sizes as floats
    ({"limit_bytes": 2**63}, "Unsupported quota size limit."),
    ({"limit": "10YB"}, "Unsupported quota size limit."),
])
def test_create_quota_model_refusals(quota_server: Server, body: dict[str, Any], detail: str) -> None:
    answer = quota_server.call("POST", ORG_Q, quota_server.admin_token, json=body)
    assert answer.status_code == 400
    assert answer.json()["error_type"] == "invalid_request" and answer.json()["detail"] == detail


@pytest.mark.operation("createOrganizationQuota")
def test_create_quota_needs_an_organization(quota_server: Server) -> None:
    for name in ("nosuchorg", "owner"):
        answer = quota_server.call("POST", f"/api/v1/organization/{name}/quota", quota_server.admin_token,
                                   json={"limit_bytes": 1000})
        assert answer.status_code == 404


@pytest.mark.operation("createOrganizationQuotaLimit", "listOrganizationQuotaLimit", "getOrganizationQuotaLimit",
                       "changeOrganizationQuotaLimit", "deleteOrganizationQuotaLimit")
def test_quota_limits(quota_server: Server) -> None:
    s = quota_server
    quota_id = create_quota(s, {"limit_bytes": 3000})
    assert add_limit(s, quota_id, "Warning", 80).json() == "Created"
    assert add_limit(s, quota_id, "reject", 95).status_code == 201  # the type is case-insensitive
    listed = s.call("GET", f"{ORG_Q}/{quota_id}/limit", s.admin_token).json()
    assert [(x["type"], x["limit_percent"]) for x in listed] == [("Warning", 80), ("Reject", 95)]
    warning_id, reject_id = listed[0]["id"], listed[1]["id"]
    assert s.call("GET", f"{ORG_Q}/{quota_id}/limit/{warning_id}", s.admin_token).json() == listed[0]
    assert s.call("GET", f"{ORG_Q}/{quota_id}", s.admin_token).json()["limits"] == listed

    duplicate = add_limit(s, quota_id, "WARNING", 80)
    assert duplicate.status_code == 400 and duplicate.json()["detail"] == "Quota limit already exists"
    # Another Reject limit is accepted: Quay's one-Reject rule never triggers.
    assert add_limit(s, quota_id, "Reject", 99).status_code == 201
    bad_type = add_limit(s, quota_id, "Nope", 80)
    assert bad_type.status_code == 400
    assert bad_type.json() == {"message": "Quota type must be one of [Warning, Reject]"}
    for percent in (101, -1):
        out_of_range = add_limit(s, quota_id, "Warning", percent)
        assert out_of_range.json() == {"message": "Quota limit threshold must be between 1 and 100"}
    # A zero threshold is caught later, by the creation itself, which Quay reports in its standard shape.
    zero = add_limit(s, quota_id, "Warning", 0)
    assert zero.status_code == 400 and zero.json()["detail"] == "Quota limit already exists"
    s.call("DELETE", f"{ORG_Q}/{quota_id}/limit/{warning_id}", s.admin_token)
    zero = add_limit(s, quota_id, "Warning", 0)
    assert zero.status_code == 400 and zero.json()["detail"] == "Quota limit threshold must be between 1 and 100"

    changed = s.call("PUT", f"{ORG_Q}/{quota_id}/limit/{reject_id}", s.admin_token,
                     json={"type": "warning", "threshold_percent": 70})
    assert changed.status_code == 200
    assert changed.json()["id"] == quota_id  # the whole quota, not the limit
    assert {"id": reject_id, "type": "Warning", "limit_percent": 70} in changed.json()["limits"]
    bad = s.call("PUT", f"{ORG_Q}/{quota_id}/limit/{reject_id}", s.admin_token, json={"threshold_percent": 0})
    assert bad.json() == {"message": "Quota limit threshold must be between 1 and 100"}
    assert s.call("PUT", f"{ORG_Q}/{quota_id}/limit/{reject_id}", s.admin_token,
                  json={"type": "x"}).json() == {"message": "Quota type must be one of [Warning, Reject]"}

    assert s.call("DELETE", f"{ORG_Q}/{quota_id}/limit/{reject_id}", s.admin_token).status_code == 204
    assert s.call("GET", f"{ORG_Q}/{quota_id}/limit/{reject_id}", s.admin_token).status_code == 404
    assert s.call("GET", f"{ORG_Q}/{quota_id}/limit/{warning_id}", s.admin_token).status_code == 404

    assert logs(s, "org_create_quota_limit")[0] == {"namespace": "acme", "type": "Warning", "threshold_percent": 80}
    change = logs(s, "org_change_quota_limit")[0]
    assert (change["type"], change["threshold_percent"], change["previous_type"],
            change["previous_threshold_percent"]) == ("Warning", 70, "Reject", 95)
    assert logs(s, "org_delete_quota_limit")[-1]["limit_id"] == reject_id


@pytest.mark.operation("getOrganizationQuotaLimit")
def test_a_limit_of_another_quota_is_a_model_error(quota_server: Server) -> None:
    s = quota_server
    create_org(s, s.admin_token, "other")
    other_id = create_quota(s, {"limit_bytes": 1000}, "/api/v1/organization/other/quota")
    assert s.call("POST", f"/api/v1/organization/other/quota/{other_id}/limit", s.admin_token,
                  json={"type": "Warning", "threshold_percent": 50}).status_code == 201
    foreign = s.call("GET", f"/api/v1/organization/other/quota/{other_id}/limit", s.admin_token).json()[0]["id"]
    quota_id = create_quota(s, {"limit_bytes": 1000})
    answer = s.call("GET", f"{ORG_Q}/{quota_id}/limit/{foreign}", s.admin_token)
    assert answer.status_code == 400 and answer.json() == {"message": ""}


@pytest.mark.operation("listOrganizationQuota", "createOrganizationQuota", "createOrganizationQuotaSuperUser")
def test_who_may_read_and_write_org_quotas(make_server: Any) -> None:
    # Without FEATURE_SUPERUSERS_FULL_ACCESS, superusers manage quotas only through the superuser panel.
    s: Server = make_server({"FEATURE_QUOTA_MANAGEMENT": True, "GLOBAL_READONLY_SUPER_USERS": ["auditor"],
                             "FEATURE_REQUIRE_TEAM_INVITE": False})
    owner = s.make_user("owner")
    create_org(s, owner, "acme")
    outsider, auditor = s.make_user("outsider"), s.make_user("auditor")
    body = {"limit_bytes": 1000}
    for token in (owner, s.admin_token, auditor):
        assert s.call("POST", ORG_Q, token, json=body).status_code == 403
    answer = s.call("POST", "/api/v1/superuser/organization/acme/quota", s.admin_token, json=body)
    assert answer.status_code == 201 and answer.json() == "Created"
    quota_id = s.call("GET", ORG_Q, owner).json()[0]["id"]
    for token in (owner, auditor):
        assert s.call("GET", ORG_Q, token).status_code == 200
        assert s.call("GET", f"{ORG_Q}/{quota_id}/limit", token).status_code == 200
    assert s.call("GET", ORG_Q, outsider).status_code == 403
    assert s.call("GET", ORG_Q, s.admin_token).status_code == 403  # plain superuser, not a member
    assert s.call("GET", ORG_Q).status_code == 401
    assert s.call("GET", "/api/v1/organization/nosuchorg/quota", outsider).status_code == 403
    assert s.call("GET", "/api/v1/superuser/organization/acme/quota", auditor).status_code == 200
    assert s.call("PUT", f"/api/v1/superuser/organization/acme/quota/{quota_id}", auditor,
                  json=body).status_code == 403
    assert s.call("GET", "/api/v1/superuser/organization/acme/quota", outsider).status_code == 403
    # A token without super:user cannot act as a superuser.
    narrow = s.make_user("admin", scopes="org:admin")
    assert s.call("GET", "/api/v1/superuser/organization/acme/quota", narrow).status_code == 403
    # An org member with a repo:create token reads; a read-only token does not.
    s.call("PUT", "/api/v1/organization/acme/team/readers", owner, json={"role": "member"})
    s.call("PUT", "/api/v1/organization/acme/team/readers/members/outsider", owner)
    assert s.call("GET", ORG_Q, s.make_user("outsider", scopes="repo:create")).status_code == 200
    assert s.call("GET", ORG_Q, s.make_user("outsider", scopes="repo:read")).status_code == 403


@pytest.mark.operation("listOrganizationQuota", "listOrganizationQuotaSuperUser")
def test_system_default_quota(make_server: Any) -> None:
    s: Server = make_server({**QUOTA_ON, "DEFAULT_SYSTEM_REJECT_QUOTA_BYTES": GIB})
    create_org(s, s.admin_token, "acme")
    assert s.call("GET", ORG_Q, s.admin_token).json() == [{
        "id": None, "limit_bytes": GIB, "limit": "1.0 GiB", "default_config": True, "limits": [],
        "default_config_exists": True}]
    # The superuser panel and the org view list only real quotas.
    assert s.call("GET", "/api/v1/superuser/organization/acme/quota", s.admin_token).json() == []
    org = s.call("GET", "/api/v1/organization/acme", s.admin_token).json()
    assert org["quotas"] == [] and org["quota_report"]["configured_quota"] == GIB
    quota_id = create_quota(s, {"limit_bytes": 5000})
    listed = s.call("GET", ORG_Q, s.admin_token).json()
    assert listed[0]["id"] == quota_id and listed[0]["default_config"] is False
    assert listed[0]["default_config_exists"] is True


@pytest.mark.operation("createUserQuotaSuperUser", "listUserQuotaSuperUser", "changeUserQuotaSuperUser",
                       "deleteUserQuotaSuperUser", "listUserQuota", "getUserQuota", "listUserQuotaLimit",
                       "getUserQuotaLimit")
def test_superuser_sets_a_user_quota_the_user_reads_it(quota_server: Server) -> None:
    s = quota_server
    owner = s.make_user("owner")
    su_path = "/api/v1/superuser/users/owner/quota"
    assert s.call("GET", "/api/v1/user/quota", owner).json() == []
    quota_id = create_quota(s, {"limit_bytes": GIB}, su_path)
    again = s.call("POST", su_path, s.admin_token, json={"limit": "1Gi"})
    assert again.status_code == 400 and again.json()["detail"] == "Quota for 'owner' already exists"
    bad = s.call("PUT", f"{su_path}/{quota_id}", s.admin_token, json={"limit": "12 XB"})
    assert bad.status_code == 400
    view = {"id": quota_id, "limit_bytes": GIB, "limit": "1.0 GiB", "default_config": False, "limits": [],
            "default_config_exists": False}
    assert s.call("GET", su_path, s.admin_token).json() == [view]
    assert s.call("GET", "/api/v1/user/quota", owner).json() == [view]
    assert s.call("GET", f"/api/v1/user/quota/{quota_id}", owner).json() == view
    assert s.call("GET", f"/api/v1/user/quota/{quota_id + 1}", owner).status_code == 404
    assert s.call("GET", f"/api/v1/user/quota/{quota_id}", s.make_user("outsider")).status_code == 404

    # The org path of the panel manages user namespaces as well, and limits go through the organization path.
    changed = s.call("PUT", f"/api/v1/superuser/organization/owner/quota/{quota_id}", s.admin_token,
                     json={"limit": "2Gi"})
    assert changed.status_code == 200 and changed.json()["limit_bytes"] == 2 * GIB
    assert s.call("POST", f"/api/v1/organization/owner/quota/{quota_id}/limit", s.admin_token,
                  json={"type": "Reject", "threshold_percent": 90}).status_code == 201
    limits = s.call("GET", f"/api/v1/user/quota/{quota_id}/limit", owner).json()
    assert [(x["type"], x["limit_percent"]) for x in limits] == [("Reject", 90)]
    # Quay answers the single-limit lookup with the whole quota.
    whole = s.call("GET", f"/api/v1/user/quota/{quota_id}/limit/{limits[0]['id']}", owner).json()
    assert whole["id"] == quota_id and whole["limits"] == limits
    assert s.call("GET", f"/api/v1/user/quota/{quota_id}/limit/{limits[0]['id'] + 9}", owner).status_code == 404
    assert s.call("GET", "/api/v1/user/quota", s.make_user("owner", scopes="user:read")).status_code == 403

    assert s.call("DELETE", f"{su_path}/{quota_id}", s.admin_token).status_code == 204
    assert s.call("GET", "/api/v1/user/quota", owner).json() == []
    assert s.call("GET", "/api/v1/superuser/users/nobody/quota", s.admin_token).status_code == 404
    assert s.call("POST", "/api/v1/superuser/users/nobody/quota", s.admin_token,
                  json={"limit_bytes": 5}).status_code == 404


@pytest.mark.operation("getOrganization", "getLoggedInUser", "listAllUsers", "listRepos")
def test_quota_reports_show_real_usage(quota_server: Server) -> None:
    s = quota_server
    token = registry_token(s, "repository:admin/app:push,pull")
    manifest, _ = image(s, "admin/app", token, [b"l" * 700])
    assert put_manifest(s, "admin/app", "v1", token, manifest).status_code == 201
    with s.storage.read() as db:
        admin = db.user_by_name("admin")
        repo = db.repository("admin", "app")
        assert admin is not None and repo is not None
        used, repo_used = db.namespace_usage(admin.id), db.repository_usage(repo.id)
    assert used > 700 and repo_used == used
    quota_id = create_quota(s, {"limit_bytes": 10_000}, "/api/v1/superuser/users/admin/quota")

    me = s.call("GET", "/api/v1/user/", s.admin_token).json()
    assert me["quota_report"] == {"quota_bytes": used, "configured_quota": 10_000, "running_backfill": "complete",
                                  "backfill_status": "complete"}
    assert [q["id"] for q in me["quotas"]] == [quota_id]
    users = {u["username"]: u for u in s.call("GET", "/api/v1/superuser/users/", s.admin_token).json()["users"]}
    assert users["admin"]["quota_report"]["quota_bytes"] == used
    assert users["owner"]["quota_report"] == {"quota_bytes": 0, "configured_quota": None,
                                              "running_backfill": "waiting", "backfill_status": "waiting"}
    repos = s.call("GET", "/api/v1/repository", s.admin_token, params={"namespace": "admin"}).json()
    assert repos["repositories"][0]["quota_report"] == {"quota_bytes": repo_used, "configured_quota": 10_000}

    org = s.call("GET", "/api/v1/organization/acme", s.make_user("owner")).json()
    assert org["quotas"] == [] and org["quota_report"]["quota_bytes"] == 0
    assert "quota_report" not in s.call("GET", "/api/v1/organization/acme", s.make_user("outsider")).json()


@pytest.mark.operation("getRegistrySize", "queueRegistrySizeCalculation")
def test_registry_size(quota_server: Server) -> None:
    s = quota_server
    auditor, outsider = s.make_user("auditor"), s.make_user("outsider")
    empty = {"size_bytes": 0, "last_ran": None, "running": False, "queued": False}
    assert s.call("GET", "/api/v1/superuser/registrysize/", s.admin_token).json() == empty
    token = registry_token(s, "repository:admin/app:push,pull")
    manifest, _ = image(s, "admin/app", token, [b"x" * 300, b"y" * 200])
    put_manifest(s, "admin/app", "v1", token, manifest)
    queued = s.call("POST", "/api/v1/superuser/registrysize/", s.admin_token)
    assert queued.status_code == 201 and queued.json() == ""
    size = s.call("GET", "/api/v1/superuser/registrysize/", auditor).json()
    with s.storage.read() as db:
        assert size["size_bytes"] == db.stored_blob_bytes() > 500
    assert isinstance(size["last_ran"], int) and size["queued"] is False and size["running"] is False
    assert s.call("POST", "/api/v1/superuser/registrysize/", auditor).status_code == 403
    assert s.call("GET", "/api/v1/superuser/registrysize/", outsider).status_code == 403


def test_quota_routes_need_every_feature(make_server: Any) -> None:
    for off in ({"FEATURE_QUOTA_MANAGEMENT": False}, {"FEATURE_EDIT_QUOTA": False},
                {"FEATURE_SUPER_USERS": False}):
        s: Server = make_server({**QUOTA_ON, **off})
        assert s.call("GET", "/api/v1/user/quota", s.admin_token).status_code in (308, 404)
        assert s.call("GET", "/api/v1/superuser/users/admin/quota", s.admin_token).status_code in (308, 404)
        ids = {o["operationId"] for item in s.call("GET", "/api/v1/discovery", s.admin_token,
                                                   params={"internal": "true"}).json()["paths"].values()
               for k, o in item.items() if k in ("get", "post", "put", "delete")}
        assert "listOrganizationQuota" not in ids and "createUserQuotaSuperUser" not in ids
        assert ("getRegistrySize" in ids) is (off != {"FEATURE_SUPER_USERS": False})
        # The account views follow the quota switches alone, as in Quay.
        me = s.call("GET", "/api/v1/user/", s.admin_token).json()
        assert ("quota_report" in me) is ("FEATURE_SUPER_USERS" in off)
