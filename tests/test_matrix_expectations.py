"""The security matrices' expectations (suites/security/expectations.py) for the rule flavours of the tag, manifest,
quota, policy and logs areas, checked against Quay's rules as quay-api.md states them, persona by persona."""

from __future__ import annotations

import pytest

from suites.security.calls import CALLS, NO_MANIFEST, Scene
from suites.security.expectations import ALLOWED, PERSONAS, SCOPES, expected_status, scope_allows
from suites.security.rules import A_GRO, OA, OA_GRO, OM_GRO, RULES, SU, SU_FA_ONLY, SU_GRO, USER_ADMIN, A, Rule, W

WHO = {standing.name: standing for standing in PERSONAS}
SIGNED_IN = [name for name in WHO if name != "anonymous"]


def allowed(rule: Rule, method: str, full_access: bool) -> set[str]:
    return {name for name, who in WHO.items() if expected_status(rule, who, method, full_access) == ALLOWED}


def scopes_allowed(rule: Rule, full_access: bool) -> set[str | None]:
    return {scope for scope in (*SCOPES, None) if scope_allows(rule, scope, full_access)}


# -- SU_FA_ONLY: an organization's own quota writes ---------------------------------------------------------------
@pytest.mark.parametrize("op", ["createOrganizationQuota", "changeOrganizationQuota", "deleteOrganizationQuota",
                                "createOrganizationQuotaLimit", "changeOrganizationQuotaLimit",
                                "deleteOrganizationQuotaLimit"])
def test_organization_quota_writes_are_for_a_full_access_superuser_only(op: str) -> None:
    assert RULES[op] == SU_FA_ONLY


def test_a_plain_org_admin_is_refused_an_org_quota_write_with_403() -> None:
    for full_access in (False, True):
        assert expected_status(SU_FA_ONLY, WHO["org_admin"], "POST", full_access) == 403


def test_an_org_quota_write_needs_full_access_even_for_a_superuser() -> None:
    assert expected_status(SU_FA_ONLY, WHO["superuser"], "PUT", False) == 403
    assert expected_status(SU_FA_ONLY, WHO["superuser"], "PUT", True) == ALLOWED
    assert allowed(SU_FA_ONLY, "POST", True) == {"superuser"}
    assert allowed(SU_FA_ONLY, "POST", False) == set()


def test_the_global_read_only_superuser_never_writes_a_quota() -> None:
    assert expected_status(SU_FA_ONLY, WHO["global_readonly"], "DELETE", True) == 403


def test_an_anonymous_org_quota_write_is_refused_by_csrf() -> None:
    assert expected_status(SU_FA_ONLY, WHO["anonymous"], "POST", True) == 403


def test_an_org_quota_write_by_token_needs_super_user_and_full_access() -> None:
    assert scopes_allowed(SU_FA_ONLY, True) == {"super:user"}
    assert scopes_allowed(SU_FA_ONLY, False) == set()
    # org:admin is the scope of an org admin, and an org admin is refused: the holder's admin role does not count
    assert not scope_allows(SU_FA_ONLY, "org:admin", True)


# -- the superuser panel's quota, logs and registry size ----------------------------------------------------------
@pytest.mark.parametrize("op", ["createOrganizationQuotaSuperUser", "changeUserQuotaSuperUser",
                                "deleteOrganizationQuotaSuperUser", "queueRegistrySizeCalculation"])
def test_superuser_panel_writes_need_no_full_access(op: str) -> None:
    rule = RULES[op]
    assert rule == SU
    assert allowed(rule, "POST", False) == allowed(rule, "POST", True) == {"superuser"}
    assert scopes_allowed(rule, False) == {"super:user"}


@pytest.mark.parametrize("op", ["listAllLogs", "listAllAggregateLogs", "getRegistrySize",
                                "listOrganizationQuotaSuperUser", "listUserQuotaSuperUser"])
def test_superuser_panel_reads_also_admit_the_global_read_only_superuser(op: str) -> None:
    rule = RULES[op]
    assert rule == SU_GRO
    assert allowed(rule, "GET", False) == {"superuser", "global_readonly"}
    assert expected_status(rule, WHO["anonymous"], "GET", False) == 401
    assert expected_status(rule, WHO["org_admin"], "GET", True) == 403
    # Section B: with a token the superuser need exists only under super:user
    assert scopes_allowed(rule, True) == {"super:user"}


# -- quota reads --------------------------------------------------------------------------------------------------
def test_organization_quota_reads_are_for_members_readonly_and_full_access() -> None:
    rule = RULES["listOrganizationQuota"]
    assert rule == OM_GRO
    members = {"org_member", "team_creator", "org_admin"}
    assert allowed(rule, "GET", False) == members | {"global_readonly"}
    assert allowed(rule, "GET", True) == members | {"global_readonly", "superuser"}
    assert expected_status(rule, WHO["repo_admin"], "GET", True) == 403  # a repository role is no org membership
    assert scopes_allowed(rule, False) == {"repo:create", "org:admin"}
    assert scopes_allowed(rule, True) == {"repo:create", "org:admin", "super:user"}


def test_the_own_quota_is_any_signed_in_user_with_user_admin() -> None:
    rule = RULES["getUserQuotaLimit"]
    assert rule == USER_ADMIN
    assert allowed(rule, "GET", False) == set(SIGNED_IN)
    assert scopes_allowed(rule, True) == {"user:admin"}


# -- tags and manifests -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["changeTag", "deleteFullTag", "restoreTag", "addManifestLabel", "deleteManifestLabel"])
def test_tag_and_label_writes_need_repo_write_and_never_admit_readonly(op: str) -> None:
    rule = RULES[op]
    assert rule == W
    assert allowed(rule, "PUT", False) == {"repo_writer", "repo_admin", "org_admin"}
    assert scopes_allowed(rule, False) == {"repo:write", "repo:admin"}
    assert scopes_allowed(rule, True) == {"repo:write", "repo:admin", "super:user"}


@pytest.mark.parametrize("op", ["listRepoTags", "getRepoManifest", "listManifestLabels", "getManifestLabel",
                                "getRepoManifestSecurity"])
def test_tag_and_manifest_reads_need_repo_read_or_readonly(op: str) -> None:
    assert allowed(RULES[op], "GET", False) == {"repo_reader", "repo_writer", "global_readonly", "repo_admin",
                                                "org_admin"}
    assert expected_status(RULES[op], WHO["anonymous"], "GET", False) == 401  # the matrix repository is private


# -- policies and logs --------------------------------------------------------------------------------------------
def test_namespace_policies_and_logs_are_org_admin_with_readonly_reads() -> None:
    assert RULES["createOrganizationAutoPrunePolicy"] == RULES["deleteOrgImmutabilityPolicy"] == OA
    assert RULES["listOrganizationAutoPrunePolicies"] == RULES["getOrgImmutabilityPolicy"] == OA_GRO
    assert allowed(OA, "POST", False) == {"org_admin"}
    assert allowed(OA_GRO, "GET", False) == {"org_admin", "global_readonly"}
    assert scopes_allowed(OA, False) == {"org:admin"}


def test_repository_policies_and_logs_are_repo_admin() -> None:
    assert RULES["createRepositoryImmutabilityPolicy"] == RULES["exportRepoLogs"] == A
    assert RULES["listRepoLogs"] == RULES["getRepositoryAutoPrunePolicy"] == A_GRO
    assert allowed(A, "POST", True) == {"repo_admin", "org_admin", "superuser"}
    assert scopes_allowed(A, False) == {"repo:admin"}


def test_the_read_only_superuser_may_export_org_logs_but_not_repository_logs() -> None:
    assert expected_status(RULES["exportOrgLogs"], WHO["global_readonly"], "POST", False) == ALLOWED
    assert expected_status(RULES["exportRepoLogs"], WHO["global_readonly"], "POST", False) == 403


def test_own_logs_and_policies_are_user_admin() -> None:
    for op in ("listUserLogs", "exportUserLogs", "createUserAutoPrunePolicy", "getUserAutoPrunePolicy"):
        assert RULES[op] == USER_ADMIN


# -- calls --------------------------------------------------------------------------------------------------------
SCENE = Scene(org="o", repo="o/r", team="t", robot="b", client_id="c", outsider="u", outsider_password="p",
              caller="me", caller_password="pw", unique="x")


def test_creates_send_valid_bodies_so_only_authorization_decides() -> None:
    assert CALLS["createOrganizationAutoPrunePolicy"](SCENE).json == {"method": "number_of_tags", "value": 10}
    assert CALLS["createRepositoryImmutabilityPolicy"](SCENE).json == {"tagPattern": "^v.*"}
    assert CALLS["createOrganizationQuota"](SCENE).json == {"limit_bytes": 1000000}
    assert CALLS["createOrganizationQuotaLimit"](SCENE).json == {"type": "Warning", "threshold_percent": 80}
    assert CALLS["exportOrgLogs"](SCENE).json == {"callback_email": "x@example.com"}


def test_sub_objects_are_placeholders_that_do_not_exist() -> None:
    assert NO_MANIFEST == "sha256:" + "0" * 64
    assert CALLS["getRepoManifest"](SCENE).path == {"repository": "o/r", "manifestref": NO_MANIFEST}
    assert CALLS["changeOrganizationQuota"](SCENE).path["quota_id"] == "999999"


def test_a_real_policy_on_ones_own_namespace_is_made_by_a_throwaway_user() -> None:
    assert CALLS["createUserAutoPrunePolicy"](SCENE).throwaway_caller
