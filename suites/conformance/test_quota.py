"""Conformance of namespace quotas: the namespacequota operations (organization and user paths), the superuser quota
variants, the registry size, and the quota_report that getOrganization and listRepos show after a push.
Expectations are Quay's: quay-api.md A rows 80-89, 209-212, 216-217, 223-226, 280-283, C and D5; quay-observed.md
bodies ("Created" with 201, bare arrays, "10.0 GiB", the limit list, the 400 texts).

Who may write: the /superuser/... variants need any superuser; the /organization/{org}/quota... writes need a
superuser with FEATURE_SUPERUSERS_FULL_ACCESS (a plain org admin, and a superuser without full access, get 403).
The harness reads the target's setting into its profile (GET /config), so tests that need the org-path writes (and
so every limit, since limits have no other route) skip without it, and the refusal test skips with it.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.oci import Image, RegistryClient, RegistryError, make_image
from harness.profile import BEHAVIOUR_SINCE
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("namespacequota")

QUOTA_VIEW_KEYS = {"id", "limit_bytes", "limit", "default_config", "limits", "default_config_exists"}
LIMIT_VIEW_KEYS = {"id", "type", "limit_percent"}
GIB = 1024**3
BAD_TYPE_MESSAGE = "Quota type must be one of [Warning, Reject]"
REGISTRY_SIZE_KEYS = {"size_bytes", "last_ran", "queued", "running"}


# ---- helpers ---------------------------------------------------------------------------------------------------
@pytest.fixture
def full_access(target: Target) -> bool:
    return target.profile.full_access


def need_full_access(full_access: bool) -> None:
    if not full_access:
        pytest.skip("org-path quota writes (and all limit writes) need a superuser with "
                    "FEATURE_SUPERUSERS_FULL_ACCESS, which the target has off")


def check_quota_view(view: Any, limit_bytes: int, limit_text: str | None = None) -> dict[str, Any]:
    assert isinstance(view, dict) and set(view) == QUOTA_VIEW_KEYS, f"quota view keys: {view}"
    assert isinstance(view["id"], int) and view["limit_bytes"] == limit_bytes, view
    assert view["default_config"] is False and isinstance(view["default_config_exists"], bool), view
    if limit_text is not None:
        assert view["limit"] == limit_text, f"limit {view['limit']!r}, Quay renders {limit_text!r}"
    assert isinstance(view["limits"], list)
    for row in view["limits"]:
        check_limit_view(row)
    return view


def check_limit_view(row: Any) -> None:
    assert isinstance(row, dict) and set(row) == LIMIT_VIEW_KEYS, f"limit view keys: {row}"
    assert row["type"] in ("Warning", "Reject") and isinstance(row["limit_percent"], int), row


def su_create(admin: QuayClient, namespace: str, body: dict[str, Any], user: bool = False) -> None:
    op = "createUserQuotaSuperUser" if user else "createOrganizationQuotaSuperUser"
    answer = expect(admin.call(op, namespace=namespace, json=body), 201)
    assert answer == "Created", f"{op} answered {answer!r}; Quay answers the JSON string \"Created\""


def only_quota(client: QuayClient, org: str) -> dict[str, Any]:
    quotas = expect(client.call("listOrganizationQuota", orgname=org), 200)
    assert isinstance(quotas, list) and len(quotas) == 1, f"expected a bare array of one quota: {quotas}"
    return dict(quotas[0])


def org_with_quota(world: World, admin: QuayClient, limit_bytes: int = 10 * GIB) -> tuple[Persona, str, int]:
    """A user-owned organization with a quota made through the superuser variant; (owner, org, quota id)."""
    owner = world.user()
    org = world.org(owner=owner)
    su_create(admin, org, {"limit_bytes": limit_bytes})
    return owner, org, int(only_quota(owner.client(), org)["id"])


def add_limit(admin: QuayClient, org: str, quota_id: int, kind: str, percent: int) -> None:
    answer = expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                               json={"type": kind, "threshold_percent": percent}), 201)
    assert answer == "Created", answer


def limits_of(client: QuayClient, org: str, quota_id: int) -> list[dict[str, Any]]:
    rows = expect(client.call("listOrganizationQuotaLimit", orgname=org, quota_id=quota_id), 200)
    assert isinstance(rows, list), f"expected a bare array: {rows}"
    for row in rows:
        check_limit_view(row)
    return list(rows)


def registry_for(target: Target, persona: Persona) -> RegistryClient:
    return target.registry_client(persona.name, persona.password)


def quota_report(client: QuayClient, org: str) -> dict[str, Any]:
    body = expect(client.call("getOrganization", orgname=org), 200)
    assert isinstance(body, dict) and isinstance(body.get("quota_report"), dict), \
        f"getOrganization for an org admin has no quota_report: {body}"
    assert isinstance(body.get("quotas"), list), f"getOrganization for an org admin has no quotas: {body}"
    return dict(body["quota_report"])


def repo_reports(client: QuayClient, org: str) -> dict[str, dict[str, Any]]:
    body = expect(client.call("listRepos", params={"namespace": org}), 200)
    rows = body["repositories"]
    missing = [r["name"] for r in rows if not isinstance(r.get("quota_report"), dict)]
    assert not missing, f"listRepos rows without quota_report: {missing}"
    return {r["name"]: r["quota_report"] for r in rows}


# ---- superuser variants ----------------------------------------------------------------------------------------
@pytest.mark.operation("createOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser", "listOrganizationQuota")
def test_superuser_creates_org_quota_listed_as_bare_array(world: World, admin: QuayClient) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    su_create(admin, org, {"limit_bytes": 10 * GIB})
    listed = expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200)
    assert isinstance(listed, list) and len(listed) == 1, listed
    view = check_quota_view(listed[0], 10 * GIB, "10.0 GiB")
    assert view["limits"] == []
    assert only_quota(owner.client(), org) == view


@pytest.mark.operation("createOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser")
@pytest.mark.parametrize(("limit", "limit_bytes", "text"), [
    ("200M", 200_000_000, "190.7 MiB"),  # single letters are decimal (bitmath SI): 200 MB
    ("512Mi", 512 * 1024**2, "512.0 MiB"),
    ("1 GiB", GIB, "1.0 GiB"),
    ("3 KB", 3_000, "2.9 KiB"),
])
def test_human_limit_forms_are_parsed_like_quay(world: World, admin: QuayClient, limit: str, limit_bytes: int,
                                                 text: str) -> None:
    org = world.org(owner=world.user())
    su_create(admin, org, {"limit": limit})
    listed = expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200)
    check_quota_view(listed[0], limit_bytes, text)


@pytest.mark.operation("createOrganizationQuotaSuperUser", "createUserQuotaSuperUser")
@pytest.mark.parametrize("body", [{"limit_bytes": 1000, "limit": "1K"}, {}], ids=["both-keys", "empty"])
def test_create_refuses_both_keys_and_empty_body(world: World, admin: QuayClient, body: dict[str, Any]) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    # The body is a oneOf of {limit_bytes} and {limit}: both keys match both branches, {} matches neither.
    expect(admin.call("createOrganizationQuotaSuperUser", namespace=org, json=body), 400,
           error_type="invalid_request")
    expect(admin.call("createUserQuotaSuperUser", namespace=owner.name, json=body), 400,
           error_type="invalid_request")
    assert expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200) == []


@pytest.mark.operation("createOrganizationQuotaSuperUser")
def test_create_refuses_zero_bytes(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    expect(admin.call("createOrganizationQuotaSuperUser", namespace=org, json={"limit_bytes": 0}), 400,
           error_type="invalid_request")


@pytest.mark.operation("createOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser")
def test_second_quota_for_a_namespace_is_refused(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    su_create(admin, org, {"limit_bytes": 5000})
    body = expect(admin.call("createOrganizationQuotaSuperUser", namespace=org, json={"limit_bytes": 6000}), 400,
                  error_type="invalid_request")
    assert body["detail"] == f"Quota for '{org}' already exists", body
    listed = expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200)
    assert [q["limit_bytes"] for q in listed] == [5000]


@pytest.mark.operation("createOrganizationQuotaSuperUser", "changeOrganizationQuotaSuperUser",
                       "deleteOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser")
def test_superuser_changes_and_deletes_org_quota(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    su_create(admin, org, {"limit_bytes": 5000})
    quota_id = expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200)[0]["id"]
    view = expect(admin.call("changeOrganizationQuotaSuperUser", namespace=org, quota_id=quota_id,
                             json={"limit": "512Mi"}), 200)
    check_quota_view(view, 512 * 1024**2, "512.0 MiB")
    # {} is the "no change" branch of the update schema; limit_bytes 0 is falsy and also leaves the size alone.
    for body in ({}, {"limit_bytes": 0}):
        view = expect(admin.call("changeOrganizationQuotaSuperUser", namespace=org, quota_id=quota_id, json=body),
                      200)
        check_quota_view(view, 512 * 1024**2)
    expect(admin.call("deleteOrganizationQuotaSuperUser", namespace=org, quota_id=quota_id), 204)
    assert expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200) == []
    expect(admin.call("deleteOrganizationQuotaSuperUser", namespace=org, quota_id=quota_id), 404)


@pytest.mark.operation("createUserQuotaSuperUser", "listUserQuotaSuperUser", "changeUserQuotaSuperUser",
                       "deleteUserQuotaSuperUser", "listUserQuota", "getUserQuota", "listUserQuotaLimit")
def test_superuser_manages_a_user_quota_the_user_reads(world: World, admin: QuayClient) -> None:
    user = world.user()
    su_create(admin, user.name, {"limit_bytes": GIB}, user=True)
    listed = expect(admin.call("listUserQuotaSuperUser", namespace=user.name), 200)
    assert isinstance(listed, list) and len(listed) == 1, listed
    view = check_quota_view(listed[0], GIB, "1.0 GiB")
    assert expect(user.client().call("listUserQuota"), 200) == [view]
    assert expect(user.client().call("getUserQuota", quota_id=view["id"]), 200) == view
    assert expect(user.client().call("listUserQuotaLimit", quota_id=view["id"]), 200) == []
    changed = expect(admin.call("changeUserQuotaSuperUser", namespace=user.name, quota_id=view["id"],
                                json={"limit_bytes": 2 * GIB}), 200)
    check_quota_view(changed, 2 * GIB, "2.0 GiB")
    expect(admin.call("deleteUserQuotaSuperUser", namespace=user.name, quota_id=view["id"]), 204)
    assert expect(user.client().call("listUserQuota"), 200) == []
    expect(user.client().call("getUserQuota", quota_id=view["id"]), 404, error_type="not_found")


@pytest.mark.operation("createUserQuotaSuperUser", "listUserQuotaSuperUser", "createOrganizationQuotaSuperUser",
                       "changeUserQuotaSuperUser", "deleteUserQuotaSuperUser")
def test_non_superuser_cannot_use_superuser_quota_operations(world: World, admin: QuayClient) -> None:
    user = world.user()
    other = world.user()
    su_create(admin, other.name, {"limit_bytes": GIB}, user=True)
    quota_id = expect(admin.call("listUserQuotaSuperUser", namespace=other.name), 200)[0]["id"]
    client = user.client()
    calls = [
        client.call("createUserQuotaSuperUser", namespace=other.name, json={"limit_bytes": GIB}),
        client.call("listUserQuotaSuperUser", namespace=other.name),
        client.call("createOrganizationQuotaSuperUser", namespace=user.name, json={"limit_bytes": GIB}),
        client.call("changeUserQuotaSuperUser", namespace=other.name, quota_id=quota_id, json={"limit_bytes": 5}),
        client.call("deleteUserQuotaSuperUser", namespace=other.name, quota_id=quota_id),
    ]
    for response in calls:
        expect(response, 403, error_type="insufficient_scope")


# ---- organization path: reads ----------------------------------------------------------------------------------
@pytest.mark.operation("listOrganizationQuota", "getOrganizationQuota", "listOrganizationQuotaLimit")
def test_org_members_read_the_quota_and_outsiders_do_not(world: World, admin: QuayClient) -> None:
    owner, org, quota_id = org_with_quota(world, admin)
    member = world.user()
    world.team(org, role="member", members=[member], as_=owner)
    view = only_quota(member.client(), org)
    assert expect(member.client().call("getOrganizationQuota", orgname=org, quota_id=quota_id), 200) == view
    assert limits_of(member.client(), org, quota_id) == []
    outsider = world.user().client()
    expect(outsider.call("listOrganizationQuota", orgname=org), 403, error_type="insufficient_scope")
    expect(outsider.call("getOrganizationQuota", orgname=org, quota_id=quota_id), 403,
           error_type="insufficient_scope")
    expect(member.client().call("getOrganizationQuota", orgname=org, quota_id=quota_id + 100000), 404,
           error_type="not_found")


@pytest.mark.operation("listOrganizationQuota")
def test_org_without_quota_lists_an_empty_array(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    # With DEFAULT_SYSTEM_REJECT_QUOTA_BYTES at its default 0 there is no synthetic default quota.
    assert expect(owner.client().call("listOrganizationQuota", orgname=org), 200) == []


# ---- organization path: writes ---------------------------------------------------------------------------------
@pytest.mark.operation("createOrganizationQuota", "changeOrganizationQuota", "deleteOrganizationQuota",
                       "createOrganizationQuotaLimit", "changeOrganizationQuotaLimit", "deleteOrganizationQuotaLimit")
def test_org_admin_cannot_write_quota(world: World, admin: QuayClient) -> None:
    owner, org, quota_id = org_with_quota(world, admin)
    other = world.org(owner=owner)
    client = owner.client()
    calls = [
        client.call("createOrganizationQuota", orgname=other, json={"limit_bytes": GIB}),
        client.call("changeOrganizationQuota", orgname=org, quota_id=quota_id, json={"limit_bytes": GIB}),
        client.call("deleteOrganizationQuota", orgname=org, quota_id=quota_id),
        client.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                    json={"type": "Warning", "threshold_percent": 50}),
        # Quay checks the superuser permission before looking the limit up.
        client.call("changeOrganizationQuotaLimit", orgname=org, quota_id=quota_id, limit_id=1,
                    json={"threshold_percent": 60}),
        client.call("deleteOrganizationQuotaLimit", orgname=org, quota_id=quota_id, limit_id=1),
    ]
    for response in calls:
        expect(response, 403, error_type="insufficient_scope")
    assert only_quota(client, org)["limit_bytes"] == 10 * GIB
    assert expect(client.call("listOrganizationQuota", orgname=other), 200) == []


@pytest.mark.operation("createOrganizationQuota", "changeOrganizationQuota", "deleteOrganizationQuota",
                       "createOrganizationQuotaLimit")
def test_superuser_without_full_access_cannot_write_org_quota(world: World, admin: QuayClient,
                                                              full_access: bool) -> None:
    if full_access:
        pytest.skip("the target's superuser has full access (FEATURE_SUPERUSERS_FULL_ACCESS), so it is not refused")
    owner, org, quota_id = org_with_quota(world, admin)
    other = world.org(owner=owner)
    calls = [
        admin.call("createOrganizationQuota", orgname=other, json={"limit_bytes": GIB}),
        admin.call("changeOrganizationQuota", orgname=org, quota_id=quota_id, json={"limit_bytes": GIB}),
        admin.call("deleteOrganizationQuota", orgname=org, quota_id=quota_id),
        admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                   json={"type": "Reject", "threshold_percent": 90}),
    ]
    for response in calls:
        expect(response, 403, error_type="insufficient_scope")
    assert only_quota(owner.client(), org)["limit_bytes"] == 10 * GIB


@pytest.mark.operation("createOrganizationQuota", "listOrganizationQuota", "changeOrganizationQuota",
                       "getOrganizationQuota", "deleteOrganizationQuota")
def test_full_access_superuser_manages_org_quota(world: World, admin: QuayClient, full_access: bool) -> None:
    need_full_access(full_access)
    owner = world.user()
    org = world.org(owner=owner)
    answer = expect(admin.call("createOrganizationQuota", orgname=org, json={"limit_bytes": 10 * GIB}), 201)
    assert answer == "Created", answer
    view = check_quota_view(only_quota(owner.client(), org), 10 * GIB, "10.0 GiB")
    body = expect(admin.call("createOrganizationQuota", orgname=org, json={"limit_bytes": 5000}), 400,
                  error_type="invalid_request")
    assert body["detail"] == f"Organization quota for '{org}' already exists", body
    fresh = world.org(owner=owner)
    for bad in ({"limit_bytes": 5, "limit": "5K"}, {}):
        expect(admin.call("createOrganizationQuota", orgname=fresh, json=bad), 400, error_type="invalid_request")
    changed = expect(admin.call("changeOrganizationQuota", orgname=org, quota_id=view["id"],
                                json={"limit_bytes": 2 * GIB}), 200)
    check_quota_view(changed, 2 * GIB, "2.0 GiB")
    same = expect(admin.call("changeOrganizationQuota", orgname=org, quota_id=view["id"], json={}), 200)
    assert same == changed
    assert expect(owner.client().call("getOrganizationQuota", orgname=org, quota_id=view["id"]), 200) == changed
    expect(admin.call("deleteOrganizationQuota", orgname=org, quota_id=view["id"]), 204)
    assert expect(owner.client().call("listOrganizationQuota", orgname=org), 200) == []


@pytest.mark.operation("createOrganizationQuotaLimit", "listOrganizationQuotaLimit", "getOrganizationQuotaLimit",
                       "changeOrganizationQuotaLimit", "deleteOrganizationQuotaLimit", "getOrganizationQuota")
def test_limits_crud(world: World, admin: QuayClient, full_access: bool) -> None:
    need_full_access(full_access)
    owner, org, quota_id = org_with_quota(world, admin)
    reader = owner.client()
    add_limit(admin, org, quota_id, "Warning", 80)
    add_limit(admin, org, quota_id, "reject", 95)  # the type is case-insensitive and stored capitalised
    rows = limits_of(reader, org, quota_id)
    assert [(r["type"], r["limit_percent"]) for r in rows] == [("Warning", 80), ("Reject", 95)]
    warning, reject = rows
    assert expect(reader.call("getOrganizationQuotaLimit", orgname=org, quota_id=quota_id, limit_id=warning["id"]),
                  200) == warning
    view = expect(reader.call("getOrganizationQuota", orgname=org, quota_id=quota_id), 200)
    assert check_quota_view(view, 10 * GIB)["limits"] == rows
    # PUT answers the parent quota view, with threshold_percent shown as limit_percent.
    changed = expect(admin.call("changeOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                                limit_id=warning["id"], json={"threshold_percent": 70}), 200)
    check_quota_view(changed, 10 * GIB)
    assert {(r["id"], r["type"], r["limit_percent"]) for r in changed["limits"]} == \
        {(warning["id"], "Warning", 70), (reject["id"], "Reject", 95)}
    changed = expect(admin.call("changeOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                                limit_id=warning["id"], json={"type": "REJECT"}), 200)
    assert {(r["id"], r["type"]) for r in changed["limits"]} == {(warning["id"], "Reject"), (reject["id"], "Reject")}
    expect(admin.call("deleteOrganizationQuotaLimit", orgname=org, quota_id=quota_id, limit_id=warning["id"]), 204)
    assert limits_of(reader, org, quota_id) == [reject]
    expect(reader.call("getOrganizationQuotaLimit", orgname=org, quota_id=quota_id, limit_id=warning["id"]), 404,
           error_type="not_found")


@pytest.mark.operation("createOrganizationQuotaLimit", "listOrganizationQuotaLimit")
def test_limit_duplicates_bad_types_and_thresholds_are_refused(world: World, admin: QuayClient,
                                                               full_access: bool) -> None:
    need_full_access(full_access)
    _, org, quota_id = org_with_quota(world, admin)
    add_limit(admin, org, quota_id, "Warning", 50)
    body = expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                             json={"type": "warning", "threshold_percent": 50}), 400, error_type="invalid_request")
    assert body["detail"] == "Quota limit already exists", body
    # Only an exact duplicate is refused: another percent, the same percent with another type, a second Reject.
    add_limit(admin, org, quota_id, "Warning", 60)
    add_limit(admin, org, quota_id, "Reject", 60)
    add_limit(admin, org, quota_id, "Reject", 90)
    body = expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                             json={"type": "Nope", "threshold_percent": 80}), 400, shape="message")
    assert body == {"message": BAD_TYPE_MESSAGE}, body
    body = expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                             json={"type": "Reject", "threshold_percent": 101}), 400, shape="message")
    assert body == {"message": "Quota limit threshold must be between 1 and 100"}, body
    expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quota_id,
                      json={"type": "Reject", "threshold_percent": 0}), 400)
    rows = limits_of(admin, org, quota_id)
    assert sorted((r["type"], r["limit_percent"]) for r in rows) == \
        [("Reject", 60), ("Reject", 90), ("Warning", 50), ("Warning", 60)]


@pytest.mark.operation("createUserQuotaSuperUser", "createOrganizationQuotaLimit", "listUserQuotaLimit",
                       "getUserQuotaLimit")
def test_user_quota_limits_are_readable_by_the_user(world: World, admin: QuayClient, full_access: bool) -> None:
    need_full_access(full_access)
    user = world.user()
    su_create(admin, user.name, {"limit_bytes": GIB}, user=True)
    quota_id = expect(admin.call("listUserQuotaSuperUser", namespace=user.name), 200)[0]["id"]
    # The org-path limit operation looks the quota up by namespace name only, so it serves user namespaces too.
    add_limit(admin, user.name, quota_id, "Warning", 75)
    rows = expect(user.client().call("listUserQuotaLimit", quota_id=quota_id), 200)
    assert isinstance(rows, list) and len(rows) == 1, rows
    check_limit_view(rows[0])
    assert (rows[0]["type"], rows[0]["limit_percent"]) == ("Warning", 75)
    # quay-api.md D5: GET of one user limit answers the whole quota view, not the limit.
    view = expect(user.client().call("getUserQuotaLimit", quota_id=quota_id, limit_id=rows[0]["id"]), 200)
    assert check_quota_view(view, GIB)["limits"] == rows


# ---- usage: quota_report after pushes --------------------------------------------------------------------------
@pytest.mark.operation("createOrganizationQuotaSuperUser", "getOrganization", "listRepos", "deleteFullTag")
def test_quota_report_counts_distinct_blobs_once_per_namespace(world: World, admin: QuayClient,
                                                               target: Target) -> None:
    owner, org, _ = org_with_quota(world, admin, limit_bytes=GIB)
    client = owner.client()
    before = quota_report(client, org)
    assert before["quota_bytes"] == 0 and before["configured_quota"] == GIB, before
    repo1 = world.repo(org, as_=owner)
    repo2 = world.repo(org, as_=owner)
    image: Image = make_image(f"{org}-quota", n_layers=2, layer_size=2048)
    with registry_for(target, owner) as registry:
        registry.push(repo1, "one", image)
        after_one = quota_report(client, org)
        assert after_one["quota_bytes"] == image.size, (after_one, image.size)
        assert after_one["configured_quota"] == GIB
        assert after_one["backfill_status"] == after_one["running_backfill"] == "complete", after_one
        # The same blobs in another repository of the namespace are not counted again for the namespace, but
        # each repository's own total counts them.
        registry.push(repo2, "two", image)
    assert quota_report(client, org)["quota_bytes"] == image.size
    reports = repo_reports(client, org)
    for repo in (repo1, repo2):
        name = repo.split("/", 1)[1]
        assert reports[name] == {"quota_bytes": image.size, "configured_quota": GIB}, reports
    # Deleting a tag leaves the manifest for the time machine; usage only drops when GC purges it.
    expect(client.call("deleteFullTag", repository=repo1, tag="one"), 204)
    assert quota_report(client, org)["quota_bytes"] == image.size


# listOrganizationQuota marks the test as one of quota management: without FEATURE_QUOTA_MANAGEMENT (Quay's default)
# there is no quota_report, and the operation is absent from the target's discovery.
@pytest.mark.operation("getOrganization", "listOrganizationQuota")
def test_quota_report_of_an_unpushed_org(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    report = quota_report(owner.client(), org)
    assert report == {"quota_bytes": 0, "configured_quota": None, "running_backfill": "waiting",
                      "backfill_status": "waiting"}, report


# ---- enforcement boundaries ------------------------------------------------------------------------------------
def push_refused(registry: RegistryClient, repo: str, tag: str, image: Image) -> bool:
    try:
        registry.push(repo, tag, image)
    except RegistryError as exc:
        if exc.status != 403:
            raise
        assert exc.code == "DENIED" and exc.message == "Quota has been exceeded on namespace", exc.errors
        return True
    return False


@pytest.mark.operation("createOrganizationQuotaSuperUser", "changeOrganizationQuotaSuperUser",
                       "createOrganizationQuotaLimit", "getOrganization")
def test_reject_at_exactly_the_threshold_follows_the_targets_version(world: World, admin: QuayClient, target: Target,
                                                                     full_access: bool) -> None:
    """Quay's check_limits hits a limit once usage reaches int(limit_bytes * percent / 100) since 3.18 (>=; quay-api.md
    D5), and only when usage is above it before (>). It runs when a blob upload starts and again on the manifest PUT
    after the manifest's blobs are counted; a push refused at the manifest stays counted, one refused when its
    first upload starts counts nothing."""
    need_full_access(full_access)
    inclusive = target.profile.has("quota_limit_inclusive")
    rule = (f"Quay {BEHAVIOUR_SINCE['quota_limit_inclusive']} and later refuse once usage reaches the Reject "
            "threshold" if inclusive else
            f"Quay before {BEHAVIOUR_SINCE['quota_limit_inclusive']} refuses only once usage is above it")
    owner, org, quota_id = org_with_quota(world, admin, limit_bytes=GIB)
    repo = world.repo(org, as_=owner)
    first = make_image(f"{org}-a", n_layers=1)
    with registry_for(target, owner) as registry:
        registry.push(repo, "first", first)
        usage = quota_report(owner.client(), org)["quota_bytes"]
        assert usage == first.size, f"usage after one push is the image's {first.size} bytes, the target says {usage}"
        expect(admin.call("changeOrganizationQuotaSuperUser", namespace=org, quota_id=quota_id,
                          json={"limit_bytes": usage}), 200)
        add_limit(admin, org, quota_id, "Reject", 100)
        # The same image under another tag: no blob to upload and nothing new to count, usage stays == threshold.
        refused = push_refused(registry, repo, "again", first)
        assert refused is inclusive, (f"usage {usage} equals the Reject threshold; {rule}; the target "
                                      f"{'refused' if refused else 'accepted'} the push")
        second = make_image(f"{org}-b", n_layers=1)
        assert push_refused(registry, repo, "second", second), \
            "usage at or above the Reject threshold: Quay refuses a push of a new image"
        counted = usage if inclusive else usage + second.size
        got = quota_report(owner.client(), org)["quota_bytes"]
        where = ("when its first upload starts (nothing counted)" if inclusive
                 else "at its manifest, with its blobs counted")
        assert got == counted, f"{rule}, so the push is refused {where}: usage should be {counted}, not {got}"
        assert push_refused(registry, repo, "third", make_image(f"{org}-c", n_layers=1)), \
            "usage above the Reject threshold: Quay refuses every further push of new content"
        assert quota_report(owner.client(), org)["quota_bytes"] == counted, "a push refused at its start counts nothing"


@pytest.mark.operation("createOrganizationQuotaSuperUser", "createOrganizationQuotaLimit", "getOrganization")
def test_a_hit_warning_above_a_hit_reject_lets_pushes_through(world: World, admin: QuayClient, target: Target,
                                                              full_access: bool) -> None:
    """The severity is the type of the hit limit with the largest allowed bytes (D5), so once a Warning at 90% is
    exceeded it masks a Reject at 50%."""
    need_full_access(full_access)
    owner, org, quota_id = org_with_quota(world, admin, limit_bytes=4_000)
    add_limit(admin, org, quota_id, "Reject", 50)
    add_limit(admin, org, quota_id, "Warning", 90)
    repo = world.repo(org, as_=owner)
    with registry_for(target, owner) as registry:
        # One push of about 5 KB: above both thresholds once its manifest is counted, so Warning is the severity.
        assert not push_refused(registry, repo, "big", make_image(f"{org}-big", n_layers=1, layer_size=5_000))
        assert quota_report(owner.client(), org)["quota_bytes"] > 3_600
        assert not push_refused(registry, repo, "more", make_image(f"{org}-more", n_layers=1))


@pytest.mark.operation("createOrganizationQuotaSuperUser", "createOrganizationQuotaLimit", "getOrganization")
def test_push_crossing_a_reject_threshold_is_refused_at_the_manifest_and_stays_counted(
        world: World, admin: QuayClient, target: Target, full_access: bool) -> None:
    """Blob uploads are checked against current usage plus the bytes already received by uploads in progress in the
    repository (Quay checks before reading the request body, so a one-PUT upload adds nothing); the blobs count only
    once the manifest is written, and the manifest PUT is refused then. Its blobs stay counted until GC."""
    need_full_access(full_access)
    owner, org, quota_id = org_with_quota(world, admin, limit_bytes=2_000)
    add_limit(admin, org, quota_id, "Reject", 50)
    repo = world.repo(org, as_=owner)
    image = make_image(f"{org}-cross", n_layers=1, layer_size=2_400)
    with registry_for(target, owner) as registry:
        assert push_refused(registry, repo, "cross", image)
    report = quota_report(owner.client(), org)
    assert report["quota_bytes"] == image.size, \
        f"usage {report['quota_bytes']}: a refusal at the manifest PUT leaves the {image.size} bytes counted"


# ---- registry size ---------------------------------------------------------------------------------------------
@pytest.mark.operation("getRegistrySize", "queueRegistrySizeCalculation")
def test_registry_size_is_queued_and_reported(admin: QuayClient) -> None:
    first = admin.call("queueRegistrySizeCalculation")
    expect(first, (201, 202))  # 202 when a calculation was already queued or running
    assert first.json() == "", first.text
    state = expect(admin.call("getRegistrySize"), 200)
    assert isinstance(state, dict) and set(state) == REGISTRY_SIZE_KEYS, state
    assert isinstance(state["size_bytes"], int) and isinstance(state["queued"], bool)
    assert isinstance(state["running"], bool)
    assert state["last_ran"] is None or isinstance(state["last_ran"], int), state
    # Right after queueing, either the worker has not finished (queued/running) or it has run (last_ran set).
    assert state["queued"] or state["running"] or state["last_ran"] is not None, state
    if state["queued"] or state["running"]:
        again = admin.call("queueRegistrySizeCalculation")
        expect(again, (201, 202))
        # 201 only if the calculation finished in between.
        if again.status_code == 201:
            assert not (expect(admin.call("getRegistrySize"), 200)["running"])


@pytest.mark.operation("getRegistrySize", "queueRegistrySizeCalculation")
def test_registry_size_needs_a_superuser(world: World) -> None:
    client = world.user().client()
    expect(client.call("getRegistrySize"), 403, error_type="insufficient_scope")
    expect(client.call("queueRegistrySizeCalculation"), 403, error_type="insufficient_scope")
