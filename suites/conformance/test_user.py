"""Conformance of the `user` area: the signed-in user, sign-in/out, account changes, stars, inbox notifications,
OAuth authorizations, client keys and account conversion. Expectations come from Quay's behaviour
(quay-api.md sections 0, A rows 3, 8, 111, 194-196, 237-259, 273-275, 293-296, B, C, D10, D11, D14, and
quay-observed.md), never from the reference server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.auth import SessionAuth
from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.world import Target, World

pytestmark = pytest.mark.area("user")

CSRF_MESSAGE = "CSRF token was invalid or missing."
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} [-+]\d{4}$")
REDACTION_DOT = "\u2022"


# -- helpers --------------------------------------------------------------------------------------------------------
def _browser(target: Target, name: str = "browser") -> QuayClient:
    """A credential-less client holding a session cookie and its CSRF token, like Quay's web UI before sign-in."""
    client = target.make_client(None, name)
    answer = client.http.get("/csrf_token")
    if answer.status_code != 200:
        raise TargetMismatch(answer, "expected GET /csrf_token to answer 200 {\"csrf_token\": ...}")
    client.http.headers["X-CSRF-Token"] = str(answer.json()["csrf_token"])
    return client


def _own_session(target: Target, name: str, password: str) -> QuayClient:
    """A separate signed-in session (not the persona's cached one), for tests that end or break sessions."""
    return target.make_client(SessionAuth(name, password), f"{name}[own session]")


def _expect_csrf_refusal(response: Any) -> None:
    body = expect(response, 403, shape="error")
    assert str(body["error"]).startswith(CSRF_MESSAGE)


def _assert_avatar(avatar: Any) -> None:
    assert isinstance(avatar, dict), f"avatar is {avatar!r}"
    for key in ("name", "hash", "color", "kind"):
        assert key in avatar, f"avatar lacks {key!r}"


def _assert_rfc2822(value: Any) -> None:
    assert isinstance(value, str) and RFC2822.match(value), f"{value!r} is not an RFC 2822 date"


def _mailing_on(target: Target) -> bool:
    # POST /api/v1/recovery exists only with FEATURE_MAILING (show_if), so discovery tells whether mail is on.
    return "requestRecoveryEmail" in target.catalog


# -- getLoggedInUser ------------------------------------------------------------------------------------------------
@pytest.mark.operation("getLoggedInUser")
def test_current_user_with_all_scopes_sees_its_private_fields(world: World) -> None:
    persona = world.user()
    body = expect(persona.client().call("getLoggedInUser"), 200)
    assert body["username"] == persona.name
    assert body["anonymous"] is False
    _assert_avatar(body["avatar"])
    assert body["email"] == f"{persona.name}@example.com"
    assert isinstance(body["verified"], bool)
    assert body["can_create_repo"] is True
    assert body["is_me"] is True
    assert isinstance(body["logins"], list)
    assert isinstance(body["organizations"], list)
    assert isinstance(body["tag_expiration_s"], int)
    assert "super_user" not in body  # Quay adds the flag only for a superuser caller


@pytest.mark.operation("getLoggedInUser")
def test_current_user_with_user_read_only_hides_admin_fields(world: World) -> None:
    persona = world.user()
    body = expect(persona.client(scopes=["user:read"]).call("getLoggedInUser"), 200)
    assert body["username"] == persona.name
    assert body["anonymous"] is False
    assert isinstance(body["organizations"], list)
    for admin_only in ("email", "is_me", "logins", "can_create_repo"):
        assert admin_only not in body, f"{admin_only!r} shown to a token without user:admin"


@pytest.mark.operation("getLoggedInUser")
def test_current_user_with_token_lacking_user_scopes_is_401_session_not_required(world: World) -> None:
    persona = world.user()
    body = expect(persona.client(scopes=["repo:read"]).call("getLoggedInUser"), 401, error_type="invalid_token")
    assert body["session_required"] is False


@pytest.mark.operation("getLoggedInUser")
def test_anonymous_current_user_is_401_invalid_token(anon: QuayClient) -> None:
    body = expect(anon.call("getLoggedInUser"), 401, error_type="invalid_token")
    assert body["session_required"] is False
    assert body["detail"] == "Requires authentication"


@pytest.mark.operation("getLoggedInUser")
def test_session_sign_in_sees_the_same_user(world: World) -> None:
    persona = world.user()
    body = expect(persona.session().call("getLoggedInUser"), 200)
    assert body["username"] == persona.name
    assert body["email"] == f"{persona.name}@example.com"


# -- getUserInformation ---------------------------------------------------------------------------------------------
@pytest.mark.operation("getUserInformation")
def test_public_user_information_is_open_to_anonymous_without_private_fields(world: World,
                                                                           anon: QuayClient) -> None:
    persona = world.user()
    body = expect(anon.call("getUserInformation", username=persona.name), 200)
    assert body["username"] == persona.name
    assert body["anonymous"] is False
    _assert_avatar(body["avatar"])
    for private in ("email", "verified", "logins", "organizations", "is_me"):
        assert private not in body, f"{private!r} leaked to an anonymous caller"


@pytest.mark.operation("getUserInformation")
def test_user_information_of_another_user_hides_email_from_a_signed_in_outsider(world: World) -> None:
    subject, outsider = world.user(), world.user()
    body = expect(outsider.client().call("getUserInformation", username=subject.name), 200)
    assert body["username"] == subject.name
    assert "email" not in body


@pytest.mark.operation("getUserInformation")
def test_unknown_user_information_is_404(anon: QuayClient, target: Target) -> None:
    response = anon.call("getUserInformation", username=target.next_name("nouser"))
    expect(response, 404)


@pytest.mark.operation("getUserInformation")
def test_robot_and_organization_are_not_users_for_user_information(world: World, anon: QuayClient) -> None:
    owner = world.user()
    robot = world.robot(owner.name)
    org = world.org(owner=owner)
    expect(anon.call("getUserInformation", username=robot.name), 404)
    expect(anon.call("getUserInformation", username=org), 404)


# -- createNewUser --------------------------------------------------------------------------------------------------
def _drop_user(target: Target, username: str) -> None:
    expect(target.admin.call("deleteInstallUser", username=username), (204, 404))


@pytest.mark.operation("createNewUser", "deleteInstallUser")
def test_create_new_user_answers_200_awaiting_verification_or_the_user(target: Target) -> None:
    username = target.next_name("signup")
    browser = _browser(target)
    try:
        body = expect(browser.call("createNewUser", json={"username": username, "password": "S3cure-pass-word",
                                                           "email": f"{username}@example.com"}), 200)
        if _mailing_on(target):
            # FEATURE_MAILING: a confirmation e-mail goes out and nobody is signed in yet.
            assert body == {"awaiting_verification": True}
        else:
            assert body["username"] == username
            assert body["anonymous"] is False
        expect(target.anon.call("getUserInformation", username=username), 200)
    finally:
        _drop_user(target, username)


@pytest.mark.operation("createNewUser")
def test_create_new_user_with_a_taken_name_is_400(world: World, target: Target) -> None:
    existing = world.user()
    body = expect(_browser(target).call("createNewUser", json={"username": existing.name,
                                                                "password": "S3cure-pass-word",
                                                                "email": f"other-{existing.name}@example.com"}),
                  400, error_type="invalid_request")
    assert body["detail"] == "The username already exists"


@pytest.mark.operation("createNewUser", "requestRecoveryEmail")
def test_create_new_user_without_email_is_400_when_mailing_is_on(target: Target) -> None:
    username = target.next_name("signup")
    try:
        body = expect(_browser(target).call("createNewUser", json={"username": username,
                                                                    "password": "S3cure-pass-word"}),
                      400, error_type="invalid_request")
        assert body["detail"] == "Email address is required"
    finally:
        _drop_user(target, username)


@pytest.mark.operation("createNewUser")
def test_create_new_user_without_password_is_400_schema(target: Target) -> None:
    username = target.next_name("signup")
    try:
        expect(_browser(target).call("createNewUser", json={"username": username,
                                                             "email": f"{username}@example.com"}),
               400, error_type="invalid_request")
    finally:
        _drop_user(target, username)


@pytest.mark.operation("createNewUser")
def test_create_new_user_without_csrf_is_refused(target: Target, anon: QuayClient) -> None:
    username = target.next_name("signup")
    try:
        _expect_csrf_refusal(anon.call("createNewUser", json={"username": username, "password": "S3cure-pass-word",
                                                              "email": f"{username}@example.com"}))
        expect(anon.call("getUserInformation", username=username), 404)
    finally:
        _drop_user(target, username)


# -- changeUserDetails ----------------------------------------------------------------------------------------------
@pytest.mark.operation("changeUserDetails", "signinUser")
def test_changed_password_signs_in_and_the_old_one_does_not(world: World, target: Target) -> None:
    persona = world.user()
    assert persona.password is not None
    new_password = "N3w-password-" + persona.name
    body = expect(persona.client().call("changeUserDetails", json={"password": new_password}), 200)
    assert body["username"] == persona.name
    ok = expect(_browser(target).call("signinUser", json={"username": persona.name, "password": new_password}), 200)
    assert ok == {"success": True}
    old = expect(_browser(target).call("signinUser", json={"username": persona.name,
                                                           "password": persona.password}), 403)
    assert old["invalidCredentials"] is True


@pytest.mark.operation("changeUserDetails")
def test_changing_email_waits_for_confirmation_when_mailing_is_on(world: World, target: Target) -> None:
    persona = world.user()
    new_email = f"changed-{persona.name}@example.com"
    body = expect(persona.client().call("changeUserDetails", json={"email": new_email}), 200)
    expected = f"{persona.name}@example.com" if _mailing_on(target) else new_email
    assert body["email"] == expected
    assert expect(persona.client().call("getLoggedInUser"), 200)["email"] == expected


@pytest.mark.operation("changeUserDetails")
def test_changing_email_to_one_in_use_is_400(world: World) -> None:
    persona, other = world.user(), world.user()
    body = expect(persona.client().call("changeUserDetails", json={"email": f"{other.name}@example.com"}),
                  400, error_type="invalid_request")
    assert body["detail"] == "E-mail address already used"


@pytest.mark.operation("changeUserDetails")
def test_too_short_password_is_400(world: World) -> None:
    persona = world.user()
    expect(persona.client().call("changeUserDetails", json={"password": "short"}), 400, error_type="invalid_request")


@pytest.mark.operation("changeUserDetails")
@pytest.mark.parametrize("body", [{"tag_expiration_s": -1}, {"invoice_email": "yes"}, {"email": 42}],
                         ids=["negative-tag-expiration", "invoice-email-not-bool", "email-not-string"])
def test_change_user_details_with_invalid_body_is_400(world: World, body: dict[str, Any]) -> None:
    persona = world.user()
    expect(persona.client().call("changeUserDetails", json=body), 400, error_type="invalid_request")


@pytest.mark.operation("changeUserDetails")
def test_change_user_details_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("changeUserDetails", json={"invoice_email": True}),
           403, error_type="insufficient_scope")


@pytest.mark.operation("changeUserDetails")
def test_anonymous_change_user_details_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("changeUserDetails", json={"invoice_email": True}))


# -- deleteCurrentUser ----------------------------------------------------------------------------------------------
@pytest.mark.operation("deleteCurrentUser", "getUserInformation")
def test_delete_current_user_is_204_and_the_user_is_gone(world: World, anon: QuayClient) -> None:
    throwaway = world.user()
    response = throwaway.client().call("deleteCurrentUser")
    expect(response, 204)
    assert not response.content
    expect(anon.call("getUserInformation", username=throwaway.name), 404)


@pytest.mark.operation("deleteCurrentUser")
def test_delete_current_user_needs_user_admin_scope(world: World, anon: QuayClient) -> None:
    throwaway = world.user()
    expect(throwaway.client(scopes=["user:read"]).call("deleteCurrentUser"), 403, error_type="insufficient_scope")
    expect(anon.call("getUserInformation", username=throwaway.name), 200)


@pytest.mark.operation("deleteCurrentUser")
def test_anonymous_delete_current_user_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("deleteCurrentUser"))


# -- signinUser / verifyUser / logout -------------------------------------------------------------------------------
@pytest.mark.operation("signinUser", "getLoggedInUser")
def test_signin_answers_success_and_starts_a_session(world: World, target: Target) -> None:
    persona = world.user()
    browser = _browser(target)
    body = expect(browser.call("signinUser", json={"username": persona.name, "password": persona.password}), 200)
    assert body == {"success": True}
    # Signing in starts a new session with its own CSRF token; reads need none.
    assert expect(browser.call("getLoggedInUser"), 200)["username"] == persona.name


@pytest.mark.operation("signinUser")
def test_signin_with_wrong_password_is_403_invalid_credentials(world: World, target: Target) -> None:
    persona = world.user()
    body = expect(_browser(target).call("signinUser", json={"username": persona.name, "password": "wrong-password"}),
                  403, shape="message")
    assert body["invalidCredentials"] is True
    assert body["needsEmailVerification"] is False


@pytest.mark.operation("signinUser")
def test_signin_of_unknown_user_is_403_invalid_credentials(target: Target) -> None:
    body = expect(_browser(target).call("signinUser", json={"username": target.next_name("nouser"),
                                                            "password": "whatever-password"}), 403)
    assert body["invalidCredentials"] is True


@pytest.mark.operation("signinUser")
def test_signin_without_password_is_400_schema(world: World, target: Target) -> None:
    persona = world.user()
    expect(_browser(target).call("signinUser", json={"username": persona.name}), 400, error_type="invalid_request")


@pytest.mark.operation("signinUser")
def test_signin_without_csrf_token_is_refused(world: World, anon: QuayClient) -> None:
    persona = world.user()
    _expect_csrf_refusal(anon.call("signinUser", json={"username": persona.name, "password": persona.password}))


@pytest.mark.operation("verifyUser")
def test_verify_with_the_right_password_succeeds_for_a_session(world: World, target: Target) -> None:
    persona = world.user()
    assert persona.password is not None
    session = _own_session(target, persona.name, persona.password)
    body = expect(session.call("verifyUser", json={"password": persona.password}), 200)
    assert body == {"success": True}


@pytest.mark.operation("verifyUser")
def test_verify_with_a_wrong_password_is_403_invalid_credentials(world: World) -> None:
    persona = world.user()
    body = expect(persona.client().call("verifyUser", json={"password": "not-the-password"}), 403, shape="message")
    assert body["invalidCredentials"] is True


@pytest.mark.operation("verifyUser")
def test_verify_without_password_is_400(world: World) -> None:
    persona = world.user()
    expect(persona.client().call("verifyUser", json={}), 400, error_type="invalid_request")


@pytest.mark.operation("verifyUser")
def test_verify_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("verifyUser", json={"password": persona.password}),
           403, error_type="insufficient_scope")


@pytest.mark.operation("verifyUser")
def test_anonymous_verify_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("verifyUser", json={"password": "whatever-password"}))


@pytest.mark.operation("logout", "getLoggedInUser")
def test_logout_answers_success_and_ends_the_session(world: World, target: Target) -> None:
    throwaway = world.user()
    assert throwaway.password is not None
    session = _own_session(target, throwaway.name, throwaway.password)
    expect(session.call("getLoggedInUser"), 200)
    body = expect(session.call("logout"), 200)
    assert body == {"success": True}
    expect(session.call("getLoggedInUser"), 401, error_type="invalid_token")


@pytest.mark.operation("logout")
def test_logout_without_a_user_still_answers_success(target: Target) -> None:
    assert expect(_browser(target).call("logout"), 200) == {"success": True}


@pytest.mark.operation("logout")
def test_logout_without_csrf_is_refused(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("logout"))


# -- external logins ------------------------------------------------------------------------------------------------
@pytest.mark.operation("detachExternalLogin")
def test_detaching_an_unattached_login_service_answers_success(world: World, target: Target) -> None:
    persona = world.user()
    body = expect(persona.client().call("detachExternalLogin", service_id=target.next_name("service")), 200)
    assert body == {"success": True}


@pytest.mark.operation("detachExternalLogin")
def test_detach_external_login_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("detachExternalLogin", service_id="github"),
           403, error_type="insufficient_scope")


@pytest.mark.operation("detachExternalLogin")
def test_anonymous_detach_external_login_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("detachExternalLogin", service_id="github"))


@pytest.mark.operation("retrieveExternalLoginAuthorizationUrl")
def test_external_login_url_for_an_unknown_service_is_400(target: Target) -> None:
    expect(_browser(target).call("retrieveExternalLoginAuthorizationUrl", service_id=target.next_name("service"),
                                 json={"kind": "login"}), 400, error_type="invalid_request")


@pytest.mark.operation("retrieveExternalLoginAuthorizationUrl")
@pytest.mark.parametrize("body", [{}, {"kind": "steal"}], ids=["missing-kind", "unknown-kind"])
def test_external_login_url_with_invalid_kind_is_400(target: Target, body: dict[str, Any]) -> None:
    expect(_browser(target).call("retrieveExternalLoginAuthorizationUrl", service_id="github", json=body),
           400, error_type="invalid_request")


@pytest.mark.operation("retrieveExternalLoginAuthorizationUrl")
def test_external_login_url_without_csrf_is_refused(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("retrieveExternalLoginAuthorizationUrl", service_id="github",
                                   json={"kind": "login"}))


# -- requestRecoveryEmail -------------------------------------------------------------------------------------------
@pytest.mark.operation("requestRecoveryEmail")
def test_recovery_for_an_unknown_address_still_answers_sent(target: Target) -> None:
    body = expect(_browser(target).call("requestRecoveryEmail",
                                        json={"email": f"{target.next_name('nobody')}@example.com"}), 200)
    assert body == {"status": "sent"}


@pytest.mark.operation("requestRecoveryEmail")
def test_recovery_for_a_user_answers_sent(world: World, target: Target) -> None:
    persona = world.user()
    body = expect(_browser(target).call("requestRecoveryEmail", json={"email": f"{persona.name}@example.com"}), 200)
    assert body == {"status": "sent"}


@pytest.mark.operation("requestRecoveryEmail")
def test_recovery_for_an_organization_address_answers_org_with_a_redacted_name(world: World,
                                                                              target: Target) -> None:
    org = world.org(owner=world.user())
    email = f"{org}@example.com"
    body = expect(_browser(target).call("requestRecoveryEmail", json={"email": email}), 200)
    assert body["status"] == "org"
    assert body["orgemail"] == email
    redacted = body["orgname"]
    assert isinstance(redacted, str) and len(redacted) == len(org)
    assert redacted[0] == org[0] and redacted[-1] == org[-1]
    assert REDACTION_DOT in redacted and redacted != org


@pytest.mark.operation("requestRecoveryEmail")
def test_recovery_without_email_is_400(target: Target) -> None:
    expect(_browser(target).call("requestRecoveryEmail", json={}), 400, error_type="invalid_request")


@pytest.mark.operation("requestRecoveryEmail")
def test_recovery_without_csrf_is_refused(anon: QuayClient) -> None:
    _expect_csrf_refusal(anon.call("requestRecoveryEmail", json={"email": "someone@example.com"}))


# -- generateUserClientKey ------------------------------------------------------------------------------------------
@pytest.mark.operation("generateUserClientKey")
def test_client_key_for_the_right_password_is_an_encrypted_string(world: World) -> None:
    persona = world.user()
    body = expect(persona.client().call("generateUserClientKey", json={"password": persona.password}), 200)
    assert set(body) == {"key"}
    assert isinstance(body["key"], str) and body["key"]
    assert body["key"] != persona.password


@pytest.mark.operation("generateUserClientKey")
def test_client_key_for_a_wrong_password_is_400(world: World) -> None:
    persona = world.user()
    expect(persona.client().call("generateUserClientKey", json={"password": "not-the-password"}),
           400, error_type="invalid_request")


@pytest.mark.operation("generateUserClientKey")
def test_client_key_without_password_is_400(world: World) -> None:
    persona = world.user()
    expect(persona.client().call("generateUserClientKey", json={}), 400, error_type="invalid_request")


@pytest.mark.operation("generateUserClientKey")
def test_client_key_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("generateUserClientKey", json={"password": persona.password}),
           403, error_type="insufficient_scope")


# -- convertUserToOrganization --------------------------------------------------------------------------------------
@pytest.mark.operation("convertUserToOrganization", "getOrganization")
def test_converted_user_becomes_an_organization_administered_by_the_admin_user(world: World,
                                                                              target: Target) -> None:
    throwaway, future_admin = world.user(), world.user()
    try:
        body = expect(throwaway.client().call("convertUserToOrganization",
                                              json={"adminUser": future_admin.name,
                                                    "adminPassword": future_admin.password}), 200)
        assert body == {"success": True}
        org = expect(future_admin.client().call("getOrganization", orgname=throwaway.name), 200)
        assert org["name"] == throwaway.name
        assert org["is_admin"] is True
        expect(target.anon.call("getUserInformation", username=throwaway.name), 404)
    finally:
        # The World recorded a user; the namespace is now an organization, so remove it as one.
        expect(target.admin.call("deleteOrganization", name=throwaway.name), (204, 404))


@pytest.mark.operation("convertUserToOrganization")
def test_convert_with_wrong_admin_credentials_is_400(world: World, anon: QuayClient) -> None:
    throwaway, future_admin = world.user(), world.user()
    body = expect(throwaway.client().call("convertUserToOrganization",
                                          json={"adminUser": future_admin.name, "adminPassword": "wrong-password"}),
                  400, error_type="invalid_request")
    assert body["detail"] == "The admin user credentials are not valid"
    expect(anon.call("getUserInformation", username=throwaway.name), 200)


@pytest.mark.operation("convertUserToOrganization")
def test_convert_with_oneself_as_admin_is_400(world: World) -> None:
    throwaway = world.user()
    body = expect(throwaway.client().call("convertUserToOrganization",
                                          json={"adminUser": throwaway.name, "adminPassword": throwaway.password}),
                  400, error_type="invalid_request")
    assert body["detail"] == "The admin user is not valid"


@pytest.mark.operation("convertUserToOrganization")
def test_convert_without_admin_password_is_400_schema(world: World) -> None:
    throwaway, future_admin = world.user(), world.user()
    expect(throwaway.client().call("convertUserToOrganization", json={"adminUser": future_admin.name}),
           400, error_type="invalid_request")


@pytest.mark.operation("convertUserToOrganization")
def test_convert_needs_user_admin_scope(world: World) -> None:
    throwaway, future_admin = world.user(), world.user()
    expect(throwaway.client(scopes=["user:read"]).call("convertUserToOrganization",
                                                      json={"adminUser": future_admin.name,
                                                            "adminPassword": future_admin.password}),
           403, error_type="insufficient_scope")


# -- stars ----------------------------------------------------------------------------------------------------------
@pytest.mark.operation("createStar", "listStarredRepos", "deleteStar")
def test_star_list_and_unstar_a_repository(world: World) -> None:
    persona = world.user()
    repo = world.repo(persona.name, visibility="public")
    namespace, name = repo.split("/")
    client = persona.client()
    created = client.call("createStar", json={"namespace": namespace, "repository": name})
    assert expect(created, 201) == {"namespace": namespace, "repository": name}
    listed = expect(client.call("listStarredRepos"), 200)
    entries = [r for r in listed["repositories"] if (r["namespace"], r["name"]) == (namespace, name)]
    assert len(entries) == 1
    assert entries[0]["is_public"] is True
    assert "description" in entries[0]
    deleted = client.call("deleteStar", repository=repo)
    expect(deleted, 204)
    listed = expect(client.call("listStarredRepos"), 200)
    assert all((r["namespace"], r["name"]) != (namespace, name) for r in listed["repositories"])


@pytest.mark.operation("createStar")
def test_starring_twice_is_idempotent_201(world: World) -> None:
    persona = world.user()
    namespace, name = world.repo(persona.name).split("/")
    client = persona.client()
    expect(client.call("createStar", json={"namespace": namespace, "repository": name}), 201)
    expect(client.call("createStar", json={"namespace": namespace, "repository": name}), 201)
    listed = expect(client.call("listStarredRepos"), 200)
    assert sum((r["namespace"], r["name"]) == (namespace, name) for r in listed["repositories"]) == 1


@pytest.mark.operation("createStar")
def test_star_of_unknown_repository_is_200_null(world: World, target: Target) -> None:
    persona = world.user()
    response = persona.client().call("createStar", json={"namespace": persona.name,
                                                         "repository": target.next_name("norepo")})
    assert expect(response, 200) is None


@pytest.mark.operation("createStar", "listStarredRepos")
def test_star_has_no_visibility_check_on_a_private_repository(world: World) -> None:
    owner, outsider = world.user(), world.user()
    namespace, name = world.repo(owner.name, visibility="private").split("/")
    expect(outsider.client().call("createStar", json={"namespace": namespace, "repository": name}), 201)


@pytest.mark.operation("createStar")
def test_star_without_repository_is_400_schema(world: World) -> None:
    persona = world.user()
    expect(persona.client().call("createStar", json={"namespace": persona.name}), 400, error_type="invalid_request")


@pytest.mark.operation("createStar", "listStarredRepos", "deleteStar")
def test_stars_need_user_admin_scope(world: World) -> None:
    persona = world.user()
    namespace, name = world.repo(persona.name).split("/")
    reader = persona.client(scopes=["repo:read"])
    expect(reader.call("createStar", json={"namespace": namespace, "repository": name}),
           403, error_type="insufficient_scope")
    expect(reader.call("listStarredRepos"), 403, error_type="insufficient_scope")
    expect(reader.call("deleteStar", repository=f"{namespace}/{name}"), 403, error_type="insufficient_scope")


@pytest.mark.operation("listStarredRepos")
def test_anonymous_starred_list_is_401(anon: QuayClient) -> None:
    expect(anon.call("listStarredRepos"), 401, error_type="invalid_token")


@pytest.mark.operation("deleteStar")
def test_unstar_of_unknown_repository_is_200_null(world: World, target: Target) -> None:
    persona = world.user()
    response = persona.client().call("deleteStar", repository=f"{persona.name}/{target.next_name('norepo')}")
    assert expect(response, 200) is None


# -- inbox notifications --------------------------------------------------------------------------------------------
def _invite(world: World, persona: Any, count: int = 1) -> str:
    """Invite `persona` into `count` teams of a new org (MAILING + REQUIRE_TEAM_INVITE make that an invite and a
    notification); skip when the target adds members directly."""
    if not world.target.profile.team_invites:
        pytest.skip("the target adds users to teams directly (MAILING or REQUIRE_TEAM_INVITE is off), so it makes "
                    "no invite notifications")
    org = world.org()
    for _ in range(count):
        team = world.team(org)
        body = expect(world.admin.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                                membername=persona.name), 200)
        assert body.get("invited") is True, "with invites required, Quay invites a user who is in no team of the org"
    return org


@pytest.mark.operation("listUserNotifications", "getUserNotification", "updateOrganizationTeamMember")
def test_team_invite_arrives_as_a_notification(world: World) -> None:
    persona = world.user()
    org = _invite(world, persona)
    client = persona.client()
    listed = expect(client.call("listUserNotifications"), 200)
    assert listed["additional"] is False
    notes = [n for n in listed["notifications"] if n["kind"] == "org_team_invite"]
    assert len(notes) == 1
    note = notes[0]
    assert isinstance(note["id"], str) and note["id"]
    assert note["organization"] is None  # the notification targets the user, not an organization
    assert note["dismissed"] is False
    _assert_rfc2822(note["created"])
    assert note["metadata"]["org"] == org
    assert expect(client.call("getUserNotification", uuid=note["id"]), 200) == note


@pytest.mark.operation("listUserNotifications")
def test_fresh_user_has_no_notifications(world: World) -> None:
    persona = world.user()
    assert expect(persona.client().call("listUserNotifications"), 200) == {"notifications": [],
                                                                          "additional": False}


@pytest.mark.operation("listUserNotifications", "updateOrganizationTeamMember")
def test_notification_limit_reports_additional(world: World) -> None:
    persona = world.user()
    _invite(world, persona, count=2)
    client = persona.client()
    first = expect(client.call("listUserNotifications", params={"limit": 1}), 200)
    assert len(first["notifications"]) == 1 and first["additional"] is True
    both = expect(client.call("listUserNotifications", params={"limit": 2}), 200)
    assert len(both["notifications"]) == 2 and both["additional"] is False
    # Newest first.
    assert both["notifications"][0]["id"] == first["notifications"][0]["id"]


@pytest.mark.operation("updateUserNotification", "getUserNotification", "updateOrganizationTeamMember")
def test_dismissing_a_notification_is_saved(world: World) -> None:
    persona = world.user()
    _invite(world, persona)
    client = persona.client()
    note = expect(client.call("listUserNotifications"), 200)["notifications"][0]
    body = expect(client.call("updateUserNotification", uuid=note["id"], json={"dismissed": True}), 200)
    assert body["id"] == note["id"] and body["dismissed"] is True
    assert expect(client.call("getUserNotification", uuid=note["id"]), 200)["dismissed"] is True
    # The inbox lists only notifications not yet dismissed.
    listed = expect(client.call("listUserNotifications"), 200)
    assert all(n["id"] != note["id"] for n in listed["notifications"])


@pytest.mark.operation("updateUserNotification", "updateOrganizationTeamMember")
def test_update_notification_with_invalid_body_is_400(world: World) -> None:
    persona = world.user()
    _invite(world, persona)
    client = persona.client()
    note = expect(client.call("listUserNotifications"), 200)["notifications"][0]
    expect(client.call("updateUserNotification", uuid=note["id"], json={"dismissed": "yes"}),
           400, error_type="invalid_request")


@pytest.mark.operation("getUserNotification", "updateUserNotification", "updateOrganizationTeamMember")
def test_another_users_notification_is_404(world: World) -> None:
    persona, other = world.user(), world.user()
    _invite(world, persona)
    note = expect(persona.client().call("listUserNotifications"), 200)["notifications"][0]
    expect(other.client().call("getUserNotification", uuid=note["id"]), 404, error_type="not_found")
    expect(other.client().call("updateUserNotification", uuid=note["id"], json={"dismissed": True}),
           404, error_type="not_found")


@pytest.mark.operation("getUserNotification")
def test_unknown_notification_is_404(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("getUserNotification", uuid=target.next_name("nonote")), 404,
           error_type="not_found")


@pytest.mark.operation("listUserNotifications", "getUserNotification", "updateUserNotification")
def test_notifications_need_user_admin_scope(world: World) -> None:
    persona = world.user()
    reader = persona.client(scopes=["user:read"])
    expect(reader.call("listUserNotifications"), 403, error_type="insufficient_scope")
    expect(reader.call("getUserNotification", uuid="someuuid"), 403, error_type="insufficient_scope")
    expect(reader.call("updateUserNotification", uuid="someuuid", json={"dismissed": True}),
           403, error_type="insufficient_scope")


@pytest.mark.operation("listUserNotifications")
def test_anonymous_notifications_are_401(anon: QuayClient) -> None:
    expect(anon.call("listUserNotifications"), 401, error_type="invalid_token")


# -- OAuth authorizations -------------------------------------------------------------------------------------------
def _authorization_for(listing: dict[str, Any], scopes: set[str]) -> dict[str, Any]:
    found = [a for a in listing["authorizations"] if {s["scope"] for s in a["scopes"]} == scopes]
    assert found, f"no authorization with scopes {sorted(scopes)} in {listing}"
    return found[0]


@pytest.mark.operation("listUserAuthorizations", "getUserAuthorization")
def test_granted_tokens_are_listed_as_authorizations(world: World) -> None:
    persona = world.user()
    persona.client(scopes=["user:read"])  # grant one narrow token through the OAuth flow
    client = persona.client()
    listing = expect(client.call("listUserAuthorizations"), 200)
    auth = _authorization_for(listing, {"user:read"})
    assert isinstance(auth["uuid"], str) and auth["uuid"]
    application = auth["application"]
    for key in ("name", "description", "url", "avatar", "organization"):
        assert key in application, f"application lacks {key!r}"
    assert isinstance(application["organization"]["name"], str)
    _assert_avatar(application["organization"]["avatar"])
    for scope in auth["scopes"]:
        assert isinstance(scope["dangerous"], bool)
        assert isinstance(scope["description"], str)
    assert expect(client.call("getUserAuthorization", access_token_uuid=auth["uuid"]), 200) == auth


@pytest.mark.operation("deleteUserAuthorization", "getUserAuthorization", "getLoggedInUser")
def test_deleting_an_authorization_revokes_its_token(world: World) -> None:
    persona = world.user()
    narrow = persona.client(scopes=["user:read"])
    expect(narrow.call("getLoggedInUser"), 200)
    client = persona.client()
    auth = _authorization_for(expect(client.call("listUserAuthorizations"), 200), {"user:read"})
    response = client.call("deleteUserAuthorization", access_token_uuid=auth["uuid"])
    expect(response, 204)
    expect(narrow.call("getLoggedInUser"), 401, error_type="invalid_token")
    expect(client.call("getUserAuthorization", access_token_uuid=auth["uuid"]), 404, error_type="not_found")


@pytest.mark.operation("getUserAuthorization", "deleteUserAuthorization")
def test_another_users_authorization_is_404(world: World) -> None:
    persona, other = world.user(), world.user()
    persona.client(scopes=["user:read"])
    auth = _authorization_for(expect(persona.client().call("listUserAuthorizations"), 200), {"user:read"})
    expect(other.client().call("getUserAuthorization", access_token_uuid=auth["uuid"]), 404, error_type="not_found")
    expect(other.client().call("deleteUserAuthorization", access_token_uuid=auth["uuid"]),
           404, error_type="not_found")


@pytest.mark.operation("listUserAuthorizations", "getUserAuthorization", "deleteUserAuthorization")
def test_authorizations_need_user_admin_scope(world: World) -> None:
    persona = world.user()
    reader = persona.client(scopes=["user:read"])
    expect(reader.call("listUserAuthorizations"), 403, error_type="insufficient_scope")
    expect(reader.call("getUserAuthorization", access_token_uuid="someuuid"), 403, error_type="insufficient_scope")
    expect(reader.call("deleteUserAuthorization", access_token_uuid="someuuid"), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("listUserAuthorizations")
def test_anonymous_authorizations_are_401(anon: QuayClient) -> None:
    expect(anon.call("listUserAuthorizations"), 401, error_type="invalid_token")


@pytest.mark.operation("listAssignedAuthorizations")
def test_fresh_user_has_no_assigned_authorizations(world: World) -> None:
    persona = world.user()
    assert expect(persona.client().call("listAssignedAuthorizations"), 200) == {"authorizations": []}


@pytest.mark.operation("deleteAssignedAuthorization")
def test_deleting_an_unknown_assigned_authorization_is_404(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("deleteAssignedAuthorization",
                                 assigned_authorization_uuid=target.next_name("noassign")),
           404, error_type="not_found")


@pytest.mark.operation("listAssignedAuthorizations", "deleteAssignedAuthorization")
def test_assigned_authorizations_need_user_admin_scope(world: World) -> None:
    persona = world.user()
    reader = persona.client(scopes=["user:read"])
    expect(reader.call("listAssignedAuthorizations"), 403, error_type="insufficient_scope")
    expect(reader.call("deleteAssignedAuthorization", assigned_authorization_uuid="someuuid"),
           403, error_type="insufficient_scope")


@pytest.mark.operation("listAssignedAuthorizations")
def test_anonymous_assigned_authorizations_are_401(anon: QuayClient) -> None:
    expect(anon.call("listAssignedAuthorizations"), 401, error_type="invalid_token")
