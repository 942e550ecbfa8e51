"""Conformance of the superuser panel's user, organization and token operations, and of bootstrap-token renewal.
Expectations come from Quay's behaviour (quay-api.md A rows 2, 199-200, 213-215, 220-222, 227-229, 234, B, C,
and quay-observed.md), never from the reference server. Superuser full access (FEATURE_SUPERUSERS_FULL_ACCESS,
off by default) is read from the target's behaviour, not assumed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.auth import BearerAuth
from harness.checks import expect
from harness.client import QuayClient
from harness.world import Target, World

pytestmark = pytest.mark.area("superuser")

GENERATED_PASSWORD = re.compile(r"^[A-Z0-9]{32}$")
USER_VIEW_KEYS = {"kind", "name", "username", "email", "verified", "avatar", "super_user", "enabled"}
CSRF_MESSAGE = "CSRF token was invalid or missing."
_full_access: dict[str, bool] = {}


def _superuser_has_full_access(world: World, admin: QuayClient) -> bool:
    """FEATURE_SUPERUSERS_FULL_ACCESS lets a superuser pass organization checks; probe it on an org the superuser
    does not administer."""
    key = world.target.base_url
    if key not in _full_access:
        org = world.org(owner=world.user())
        status = admin.call("getOrgRobots", orgname=org).status_code
        assert status in (200, 403), f"getOrgRobots by a non-member superuser answered {status}"
        _full_access[key] = status == 200
    return _full_access[key]


def _assert_user_view(body: Any, username: str) -> None:
    assert set(body) >= USER_VIEW_KEYS, f"missing {sorted(USER_VIEW_KEYS - set(body))}"
    assert body["kind"] == "user"
    assert body["name"] == body["username"] == username
    assert isinstance(body["verified"], bool) and isinstance(body["enabled"], bool)


def _outsider_refusals(world: World, operation: str, **kwargs: Any) -> None:
    """A plain user, and the superuser's own token without super:user, both get 403 insufficient_scope."""
    expect(world.user().client().call(operation, **kwargs), 403, error_type="insufficient_scope")
    no_super = world.admin.client(scopes=["user:admin", "org:admin", "repo:admin"])
    expect(no_super.call(operation, **kwargs), 403, error_type="insufficient_scope")


# -- users ----------------------------------------------------------------------------------------------------------
@pytest.mark.operation("listAllUsers")
def test_list_all_users_shows_users_with_superuser_flags(world: World, admin: QuayClient, target: Target) -> None:
    persona = world.user()
    body = expect(admin.call("listAllUsers"), 200)
    by_name = {u["username"]: u for u in body["users"]}
    _assert_user_view(by_name[persona.name], persona.name)
    assert by_name[persona.name]["super_user"] is False
    assert by_name[persona.name]["email"] == f"{persona.name}@example.com"
    assert by_name[target.admin_persona.name]["super_user"] is True
    assert all(not u["username"].endswith("+") and "+" not in u["username"] for u in body["users"]), \
        "robots are not users"


@pytest.mark.operation("listAllUsers", "changeInstallUser")
def test_list_all_users_can_leave_out_disabled_users(world: World, admin: QuayClient) -> None:
    persona = world.user()
    expect(admin.call("changeInstallUser", username=persona.name, json={"enabled": False}), 200)
    everyone = {u["username"]: u for u in expect(admin.call("listAllUsers"), 200)["users"]}
    assert everyone[persona.name]["enabled"] is False
    enabled = {u["username"] for u in expect(admin.call("listAllUsers", params={"disabled": "false"}), 200)["users"]}
    assert persona.name not in enabled


@pytest.mark.operation("listAllUsers")
def test_list_all_users_is_refused_to_non_superusers(world: World, anon: QuayClient) -> None:
    _outsider_refusals(world, "listAllUsers")
    expect(anon.call("listAllUsers"), 401, error_type="invalid_token")


@pytest.mark.operation("createInstallUser", "getInstallUser", "deleteInstallUser")
def test_create_install_user_returns_a_generated_password(admin: QuayClient, target: Target) -> None:
    username = target.next_name("installed")
    try:
        body = expect(admin.call("createInstallUser", json={"username": username,
                                                           "email": f"{username}@example.com"}), 200)
        assert body["username"] == username
        assert body["email"] == f"{username}@example.com"
        assert GENERATED_PASSWORD.match(body["password"]), "Quay generates 32 characters of A-Z0-9"
        assert isinstance(body["encrypted_password"], str) and body["encrypted_password"]
        _assert_user_view(expect(admin.call("getInstallUser", username=username), 200), username)
    finally:
        expect(admin.call("deleteInstallUser", username=username), (204, 404))


@pytest.mark.operation("createInstallUser")
def test_create_install_user_with_a_taken_name_is_400(world: World, admin: QuayClient) -> None:
    persona = world.user()
    expect(admin.call("createInstallUser", json={"username": persona.name,
                                                 "email": f"again-{persona.name}@example.com"}), 400)


@pytest.mark.operation("createInstallUser")
@pytest.mark.parametrize("body", [{}, {"username": 5}], ids=["missing-username", "username-not-string"])
def test_create_install_user_with_invalid_body_is_400(admin: QuayClient, body: dict[str, Any]) -> None:
    expect(admin.call("createInstallUser", json=body), 400, error_type="invalid_request")


@pytest.mark.operation("createInstallUser")
def test_create_install_user_is_refused_to_non_superusers(world: World, target: Target, anon: QuayClient) -> None:
    username = target.next_name("installed")
    try:
        _outsider_refusals(world, "createInstallUser", json={"username": username,
                                                             "email": f"{username}@example.com"})
        body = expect(anon.call("createInstallUser", json={"username": username}), 403, shape="error")
        assert body["error"] == CSRF_MESSAGE
        expect(anon.call("getUserInformation", username=username), 404)
    finally:
        expect(target.admin.call("deleteInstallUser", username=username), (204, 404))


@pytest.mark.operation("getInstallUser")
def test_get_install_user_shows_the_user_view(world: World, admin: QuayClient) -> None:
    persona = world.user()
    body = expect(admin.call("getInstallUser", username=persona.name), 200)
    _assert_user_view(body, persona.name)
    assert body["email"] == f"{persona.name}@example.com"
    assert body["super_user"] is False and body["enabled"] is True


@pytest.mark.operation("getInstallUser")
def test_get_install_user_of_unknown_robot_or_org_is_404(world: World, admin: QuayClient, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(owner.name)
    for name in (target.next_name("nouser"), org, robot.name):
        expect(admin.call("getInstallUser", username=name), 404, error_type="not_found")


@pytest.mark.operation("getInstallUser")
def test_get_install_user_is_refused_to_non_superusers(world: World) -> None:
    _outsider_refusals(world, "getInstallUser", username=world.user().name)


@pytest.mark.operation("changeInstallUser", "signinUser")
def test_change_install_user_password_and_email(world: World, admin: QuayClient) -> None:
    persona = world.user()
    new_email = f"moved-{persona.name}@example.com"
    body = expect(admin.call("changeInstallUser", username=persona.name,
                             json={"password": "Fresh-pass-1234", "email": new_email}), 200)
    _assert_user_view(body, persona.name)
    assert body["email"] == new_email
    assert isinstance(body["encrypted_password"], str) and body["encrypted_password"]
    assert expect(admin.call("getInstallUser", username=persona.name), 200)["email"] == new_email


@pytest.mark.operation("changeInstallUser", "getInstallUser")
def test_disabling_and_enabling_a_user_is_saved(world: World, admin: QuayClient) -> None:
    persona = world.user()
    # Quay answers with the account as read before the change, so the saved state is checked with a GET.
    _assert_user_view(expect(admin.call("changeInstallUser", username=persona.name, json={"enabled": False}), 200),
                      persona.name)
    assert expect(admin.call("getInstallUser", username=persona.name), 200)["enabled"] is False
    expect(admin.call("changeInstallUser", username=persona.name, json={"enabled": True}), 200)
    assert expect(admin.call("getInstallUser", username=persona.name), 200)["enabled"] is True


@pytest.mark.operation("changeInstallUser")
def test_a_superuser_cannot_be_changed(admin: QuayClient, target: Target) -> None:
    body = expect(admin.call("changeInstallUser", username=target.admin_persona.name, json={"enabled": True}),
                  400, error_type="invalid_request")
    assert body["detail"] == "Cannot update a superuser"


@pytest.mark.operation("changeInstallUser")
def test_change_unknown_install_user_is_404(admin: QuayClient, target: Target) -> None:
    expect(admin.call("changeInstallUser", username=target.next_name("nouser"), json={"enabled": True}),
           404, error_type="not_found")


@pytest.mark.operation("changeInstallUser")
def test_change_install_user_with_invalid_body_is_400(world: World, admin: QuayClient) -> None:
    persona = world.user()
    expect(admin.call("changeInstallUser", username=persona.name, json={"enabled": "no"}),
           400, error_type="invalid_request")


@pytest.mark.operation("changeInstallUser")
def test_change_install_user_is_refused_to_non_superusers(world: World) -> None:
    victim = world.user()
    _outsider_refusals(world, "changeInstallUser", username=victim.name, json={"enabled": False})
    assert expect(world.admin.client().call("getInstallUser", username=victim.name), 200)["enabled"] is True


@pytest.mark.operation("deleteInstallUser", "getInstallUser")
def test_delete_install_user_is_204_and_the_user_is_gone(world: World, admin: QuayClient) -> None:
    persona = world.user()
    response = admin.call("deleteInstallUser", username=persona.name)
    expect(response, 204)
    assert not response.content
    expect(admin.call("getInstallUser", username=persona.name), 404, error_type="not_found")


@pytest.mark.operation("deleteInstallUser", "changeInstallUser", "getInstallUser")
def test_deleting_a_disabled_user_removes_it_too(world: World, admin: QuayClient) -> None:
    """Deleting a user the superuser disabled earlier removes it like any other: 204, then 404 by name."""
    persona = world.user()
    expect(admin.call("changeInstallUser", username=persona.name, json={"enabled": False}), 200)
    expect(admin.call("deleteInstallUser", username=persona.name), 204)
    expect(admin.call("getInstallUser", username=persona.name), 404, error_type="not_found",
           why="deleting the disabled user answered 204, so it must be gone by name")


@pytest.mark.operation("deleteInstallUser")
def test_a_superuser_cannot_be_deleted(admin: QuayClient, target: Target) -> None:
    body = expect(admin.call("deleteInstallUser", username=target.admin_persona.name), 400,
                  error_type="invalid_request")
    assert body["detail"] == "Cannot delete a superuser"


@pytest.mark.operation("deleteInstallUser")
def test_delete_unknown_install_user_is_404(admin: QuayClient, target: Target) -> None:
    expect(admin.call("deleteInstallUser", username=target.next_name("nouser")), 404, error_type="not_found")


@pytest.mark.operation("deleteInstallUser")
def test_delete_install_user_is_refused_to_non_superusers(world: World) -> None:
    victim = world.user()
    _outsider_refusals(world, "deleteInstallUser", username=victim.name)
    expect(world.admin.client().call("getInstallUser", username=victim.name), 200)


@pytest.mark.operation("sendInstallUserRecoveryEmail")
def test_recovery_email_for_a_user_answers_its_address(world: World, admin: QuayClient) -> None:
    persona = world.user()
    body = expect(admin.call("sendInstallUserRecoveryEmail", username=persona.name), 200)
    assert body == {"email": f"{persona.name}@example.com"}


@pytest.mark.operation("sendInstallUserRecoveryEmail")
def test_recovery_email_for_a_superuser_is_400(admin: QuayClient, target: Target) -> None:
    expect(admin.call("sendInstallUserRecoveryEmail", username=target.admin_persona.name), 400,
           error_type="invalid_request")


@pytest.mark.operation("sendInstallUserRecoveryEmail")
def test_recovery_email_for_an_unknown_user_is_404(admin: QuayClient, target: Target) -> None:
    expect(admin.call("sendInstallUserRecoveryEmail", username=target.next_name("nouser")), 404,
           error_type="not_found")


@pytest.mark.operation("sendInstallUserRecoveryEmail")
def test_recovery_email_is_refused_to_non_superusers(world: World) -> None:
    _outsider_refusals(world, "sendInstallUserRecoveryEmail", username=world.user().name)


# -- organizations --------------------------------------------------------------------------------------------------
@pytest.mark.operation("listAllOrganizations")
def test_list_all_organizations_includes_every_org(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    body = expect(admin.call("listAllOrganizations"), 200)
    found = [o for o in body["organizations"] if o["name"] == org]
    assert len(found) == 1
    assert found[0]["email"] == f"{org}@example.com"
    assert isinstance(found[0]["avatar"], dict)


@pytest.mark.operation("listAllOrganizations")
def test_list_all_organizations_is_refused_to_non_superusers(world: World, anon: QuayClient) -> None:
    _outsider_refusals(world, "listAllOrganizations")
    expect(anon.call("listAllOrganizations"), 401, error_type="invalid_token")


@pytest.mark.operation("changeOrganization", "getOrganization")
def test_change_organization_renames_it(world: World, admin: QuayClient, target: Target) -> None:
    org = world.org(owner=world.user())
    new_name = target.next_name("renamed")
    try:
        body = expect(admin.call("changeOrganization", name=org, json={"name": new_name}), 200)
        assert body["name"] == new_name
        expect(target.anon.call("getOrganization", orgname=new_name), 200)
        expect(target.anon.call("getOrganization", orgname=org), 404)
    finally:
        # The World recorded the old name; remove the organization under its new one.
        expect(admin.call("deleteOrganization", name=new_name), (204, 404))


@pytest.mark.operation("changeOrganization")
def test_change_organization_with_invalid_body_is_400(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    expect(admin.call("changeOrganization", name=org, json={"name": 12}), 400, error_type="invalid_request")


@pytest.mark.operation("changeOrganization")
def test_change_organization_is_refused_to_non_superusers(world: World, target: Target) -> None:
    org = world.org(owner=world.user())
    _outsider_refusals(world, "changeOrganization", name=org, json={"name": target.next_name("renamed")})
    expect(target.anon.call("getOrganization", orgname=org), 200)


@pytest.mark.operation("deleteOrganization", "getOrganization")
def test_delete_organization_is_204_and_the_org_is_gone(world: World, admin: QuayClient, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    response = admin.call("deleteOrganization", name=org)
    expect(response, 204)
    assert not response.content
    expect(anon.call("getOrganization", orgname=org), 404, error_type="not_found")


@pytest.mark.operation("deleteOrganization")
def test_delete_organization_is_refused_to_non_superusers(world: World, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    _outsider_refusals(world, "deleteOrganization", name=org)
    expect(anon.call("getOrganization", orgname=org), 200)


@pytest.mark.operation("takeOwnership", "getOrganization")
def test_take_ownership_makes_the_superuser_an_org_admin(world: World, admin: QuayClient) -> None:
    org = world.org(owner=world.user())
    assert expect(admin.call("getOrganization", orgname=org), 200)["is_admin"] is \
        _superuser_has_full_access(world, admin)
    body = expect(admin.call("takeOwnership", namespace=org), 200)
    assert body == {"namespace": org}
    assert expect(admin.call("getOrganization", orgname=org), 200)["is_admin"] is True


@pytest.mark.operation("takeOwnership")
def test_take_ownership_of_a_superuser_is_400(admin: QuayClient, target: Target) -> None:
    body = expect(admin.call("takeOwnership", namespace=target.admin_persona.name), 400,
                  error_type="invalid_request")
    assert body["detail"] == "Cannot take ownership of a superuser"


@pytest.mark.operation("takeOwnership")
def test_take_ownership_of_an_unknown_namespace_is_404(admin: QuayClient, target: Target) -> None:
    expect(admin.call("takeOwnership", namespace=target.next_name("nons")), 404, error_type="not_found")


@pytest.mark.operation("takeOwnership")
def test_take_ownership_is_refused_to_non_superusers(world: World) -> None:
    org = world.org(owner=world.user())
    _outsider_refusals(world, "takeOwnership", namespace=org)


# -- app tokens, change log -----------------------------------------------------------------------------------------
@pytest.mark.operation("listAllAppTokens", "createAppToken")
def test_all_app_tokens_need_full_access_and_never_show_codes(world: World, admin: QuayClient) -> None:
    persona = world.user()
    token = expect(persona.client().call("createAppToken", json={"title": "audited"}), 200)["token"]
    response = admin.call("listAllAppTokens")
    if not _superuser_has_full_access(world, admin):
        # Quay lets a plain superuser see everyone's tokens only with FEATURE_SUPERUSERS_FULL_ACCESS.
        expect(response, 403, error_type="insufficient_scope")
        return
    body = expect(response, 200)
    listed = {t["uuid"]: t for t in body["tokens"]}
    assert token["uuid"] in listed
    assert all("token_code" not in t for t in body["tokens"])


@pytest.mark.operation("listAllAppTokens")
def test_all_app_tokens_are_refused_to_non_superusers(world: World, anon: QuayClient) -> None:
    _outsider_refusals(world, "listAllAppTokens")
    expect(anon.call("listAllAppTokens"), 401, error_type="invalid_token")


@pytest.mark.operation("getChangeLog")
def test_change_log_is_text(admin: QuayClient) -> None:
    body = expect(admin.call("getChangeLog"), 200)
    assert set(body) == {"log"}
    assert isinstance(body["log"], str)


@pytest.mark.operation("getChangeLog")
def test_change_log_is_refused_to_non_superusers(world: World, anon: QuayClient) -> None:
    _outsider_refusals(world, "getChangeLog")
    expect(anon.call("getChangeLog"), 401, error_type="invalid_token")


# -- bootstrap ------------------------------------------------------------------------------------------------------
@pytest.mark.area("bootstrap")
@pytest.mark.operation("renewBootstrapToken")
def test_bootstrap_renew_with_an_invalid_bearer_is_401(target: Target) -> None:
    client = target.make_client(BearerAuth("NOTABOOTSTRAPTOKEN" * 3), "invalid bootstrap token")
    body = expect(client.call("renewBootstrapToken"), 401, error_type="invalid_token")
    assert body["detail"] == "Requires valid bootstrap bearer token"


@pytest.mark.area("bootstrap")
@pytest.mark.operation("renewBootstrapToken")
def test_bootstrap_renew_with_an_ordinary_oauth_token_is_403(world: World) -> None:
    expect(world.user().client().call("renewBootstrapToken"), 403, error_type="insufficient_scope")
