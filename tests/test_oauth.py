"""The OAuth implicit grant: consent data, authorizeapp redirects, and the scopes of minted tokens."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from reference_server.auth.authn import SESSION_COOKIE, Authenticator
from reference_server.storage import schema as t
from tests.conftest import Server

REDIRECT = "http://client.example/cb"


def sign_in(server: Server, username: str) -> str:
    """Give the test client a signed-in session cookie for the user; returns the session's CSRF token."""
    with server.storage.read() as db:
        user = db.user_by_name(username)
        assert user is not None
    session = Authenticator.signed_in(user.uuid)
    server.client.cookies.set(SESSION_COOKIE, Authenticator(server.storage.session_key).dump_session(session))
    assert session.csrf is not None
    return session.csrf


@pytest.fixture
def app(server: Server) -> dict[str, Any]:
    token = server.make_user("owner")
    r = server.call("POST", "/api/v1/organization/", token, json={"name": "acme", "email": "acme@ex.com"})
    assert r.status_code == 201
    r = server.call("POST", "/api/v1/organization/acme/applications", token,
                    json={"name": "harness", "redirect_uri": REDIRECT})
    assert r.status_code == 200
    return {"client_id": r.json()["client_id"], "owner_token": token}


def authorize_app(server: Server, csrf: str | None, client_id: str, scope: str, redirect_uri: str = REDIRECT,
                  token: str | None = None) -> Any:
    form = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope, "response_type": "token",
            "state": "xyz"}
    if csrf is not None:
        form["_csrf_token"] = csrf
    return server.client.post("/oauth/authorizeapp", data=form, headers=server.headers(token),
                              follow_redirects=False)


def fragment(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(location).fragment).items()}


def test_session_user_mints_token_with_exactly_the_chosen_scopes(server: Server, app: dict[str, Any]) -> None:
    csrf = sign_in(server, "owner")
    consent = server.client.get("/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "repo:read",
        "response_type": "token", "format": "json"})
    assert consent.status_code == 200, consent.text
    data = consent.json()
    assert data["csrf_token_val"] == csrf
    assert data["application"]["name"] == "harness" and data["application"]["organization"]["name"] == "acme"
    assert [s["scope"] for s in data["scopes"]] == ["repo:read"] and data["has_dangerous_scopes"] is False

    r = authorize_app(server, csrf, app["client_id"], "repo:read")
    assert r.status_code == 302, r.text
    location = r.headers["location"]
    assert location.startswith(REDIRECT + "?scope=repo%3Aread#access_token=")
    frag = fragment(location)
    assert frag["token_type"] == "Bearer" and frag["expires_in"] == str(315576000)
    token = frag["access_token"]
    assert len(token) == 40
    server.client.cookies.clear()

    # repo:read alone does not reach the user's account details.
    r = server.call("GET", "/api/v1/user/", token)
    # Quay's GET /user/ answers a token without user:read like an anonymous caller: 401 invalid_token.
    assert r.status_code == 401 and r.json()["error_type"] == "invalid_token"
    # The token is tied to the application and the user.
    with server.storage.read() as db:
        row = db.conn.execute(select(t.oauth_token.c.scope, t.oauth_token.c.application_id)
                              .where(t.oauth_token.c.token_hash == db.secrets.token_hash(token))).one()
        assert row[0] == "repo:read"
        assert row[1] == db.application_by_client_id(app["client_id"]).id  # type: ignore[union-attr]

    csrf = sign_in(server, "owner")
    r = authorize_app(server, csrf, app["client_id"], "repo:read user:read")
    assert r.status_code == 302
    token = fragment(r.headers["location"])["access_token"]
    server.client.cookies.clear()
    r = server.call("GET", "/api/v1/user/", token)
    assert r.status_code == 200 and r.json()["username"] == "owner"
    # user:read is not user:admin: the admin-only fields stay hidden, and org admin stays out of reach.
    assert "email" not in r.json()
    assert server.call("GET", "/api/v1/organization/acme/members", token).status_code == 403


def test_already_granted_scopes_skip_consent(server: Server, app: dict[str, Any]) -> None:
    csrf = sign_in(server, "owner")
    assert authorize_app(server, csrf, app["client_id"], "repo:write").status_code == 302
    r = server.client.get("/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "repo:read", "response_type": "token"},
        follow_redirects=False)
    assert r.status_code == 302
    assert "access_token=" in r.headers["location"]
    # A scope not granted yet needs consent again.
    r = server.client.get("/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "org:admin", "response_type": "token",
        "format": "json"}, follow_redirects=False)
    assert r.status_code == 200 and r.json()["has_dangerous_scopes"] is True


def test_local_handler_is_an_accepted_redirect(server: Server, app: dict[str, Any]) -> None:
    csrf = sign_in(server, "owner")
    local = "http://testserver/oauth/localapp"
    r = authorize_app(server, csrf, app["client_id"], "repo:read", redirect_uri=local)
    assert r.status_code == 302 and r.headers["location"].startswith(local + "?scope=")
    token = fragment(r.headers["location"])["access_token"]
    r = server.client.get("/oauth/localapp", params={"access_token": token, "scope": "repo:read", "format": "json"})
    assert r.status_code == 200 and r.json() == {"access_token": token}
    server.client.cookies.clear()
    assert server.client.get("/oauth/localapp", params={"format": "json"}).status_code == 401


def test_refusals(server: Server, app: dict[str, Any]) -> None:
    server.make_user("outsider")
    csrf = sign_in(server, "owner")
    # A redirect URI outside the application's is refused without redirecting.
    r = authorize_app(server, csrf, app["client_id"], "repo:read", redirect_uri="http://evil.example/cb")
    assert r.status_code == 400 and r.json() == {"error": "invalid_request"}
    r = authorize_app(server, csrf, app["client_id"], "repo:read", redirect_uri=REDIRECT + "/../x")
    assert r.status_code == 400
    # A sub-path of the registered URI is fine; unknown scopes come back as a redirect error.
    r = authorize_app(server, csrf, app["client_id"], "repo:read nonsense", redirect_uri=REDIRECT + "/sub")
    assert r.status_code == 302 and r.headers["location"] == REDIRECT + "/sub?error=invalid_scope"
    r = authorize_app(server, csrf, "nosuchclient", "repo:read")
    assert r.status_code == 302 and r.headers["location"] == REDIRECT + "?error=unauthorized_client"
    # A session write without the CSRF token is refused before anything else.
    r = authorize_app(server, None, app["client_id"], "repo:read")
    assert r.status_code == 403 and r.json() == {"error": "CSRF token was invalid or missing."}
    # Only admins of the application's organization may authorize it.
    csrf = sign_in(server, "outsider")
    r = authorize_app(server, csrf, app["client_id"], "repo:read")
    assert r.status_code == 302 and r.headers["location"] == REDIRECT + "?error=unauthorized_client"
    r = server.client.get("/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "repo:read", "format": "json"})
    assert r.status_code == 403
    r = server.client.get("/oauth/authorize", params={"client_id": app["client_id"], "redirect_uri": REDIRECT})
    assert r.status_code == 400 and r.json() == {"error": "Required param: scope"}
    r = server.client.get("/oauth/authorize", params={
        "client_id": "nosuchclient", "redirect_uri": REDIRECT, "scope": "repo:read"})
    assert r.status_code == 404
    server.client.cookies.clear()
    r = server.client.get("/oauth/authorize", params={
        "client_id": app["client_id"], "redirect_uri": REDIRECT, "scope": "repo:read"})
    assert r.status_code == 401


def test_bearer_caller_cannot_widen_its_own_scopes(server: Server, app: dict[str, Any]) -> None:
    narrow = server.make_user("owner", "repo:read org:admin")
    r = authorize_app(server, None, app["client_id"], "repo:read", token=narrow)
    assert r.status_code == 302 and "access_token=" in r.headers["location"]
    r = authorize_app(server, None, app["client_id"], "repo:read user:admin", token=narrow)
    assert r.status_code == 302 and r.headers["location"] == REDIRECT + "?error=access_denied"
    # A full-scope bearer token (as `initialize` gives) can mint any subset.
    r = authorize_app(server, None, app["client_id"], "user:read", token=app["owner_token"])
    token = fragment(r.headers["location"])["access_token"]
    assert server.call("GET", "/api/v1/user/", token).status_code == 200


def test_requests_with_a_minted_token_are_logged_with_the_application(server: Server,
                                                                       app: dict[str, Any]) -> None:
    r = authorize_app(server, None, app["client_id"], "org:admin", token=app["owner_token"])
    token = fragment(r.headers["location"])["access_token"]
    assert server.call("PUT", "/api/v1/organization/acme/team/devs", token, json={"role": "member"}).status_code \
        == 200
    with server.storage.read() as db:
        meta = db.conn.execute(select(t.log_entry.c.metadata)
                               .where(t.log_entry.c.kind == "org_create_team")).scalar_one()
    assert meta["oauth_token_application"] == "harness" and meta["team"] == "devs"
