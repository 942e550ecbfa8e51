"""Conformance of the OAuth implicit grant (Appendix F): the consent data of GET /oauth/authorize?format=json, the
302 of POST /oauth/authorizeapp carrying `#access_token=...`, and the rule that the minted token holds exactly the
chosen scopes (scopes clamp roles: quay-api.md B). Only admins of the application's organization may authorize."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from harness.auth import BearerAuth, mint_token
from harness.checks import expect
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("oauth")

REDIRECT = "https://client.example.com/oauth/callback"


def _org_app(world: World) -> tuple[Persona, str, str]:
    owner = world.user()
    org = world.org(owner=owner)
    app = expect(owner.client().call("createOrganizationApplication", orgname=org,
                                     json={"name": world.target.next_name("app"), "redirect_uri": REDIRECT,
                                           "application_uri": "https://client.example.com/",
                                           "description": "oauth conformance"}), 200)
    return owner, org, str(app["client_id"])


def _authorize_query(client_id: str, scope: str, **extra: str) -> dict[str, str]:
    return {"client_id": client_id, "redirect_uri": REDIRECT, "scope": scope, "response_type": "token"} | extra


def _authorizeapp(http: httpx.Client, client_id: str, scope: str, redirect: str = REDIRECT) -> httpx.Response:
    csrf = http.get("/csrf_token").json()["csrf_token"]
    return http.post("/oauth/authorizeapp", data={"client_id": client_id, "redirect_uri": redirect, "scope": scope,
                                                  "response_type": "token", "_csrf_token": csrf},
                     follow_redirects=False)


def _location_params(response: httpx.Response) -> dict[str, str]:
    parts = urlsplit(response.headers.get("location", ""))
    found: dict[str, str] = {}
    for text in (parts.query, parts.fragment):
        found |= {k: v[0] for k, v in parse_qs(text).items()}
    return found


@pytest.mark.operation("createOrganizationApplication")
def test_authorize_json_shows_the_application_scopes_and_csrf_token(world: World) -> None:
    owner, org, client_id = _org_app(world)
    response = owner.session().http.get("/oauth/authorize",
                                        params=_authorize_query(client_id, "repo:read user:admin", format="json"))
    body: dict[str, Any] = expect(response, 200)
    assert body["application"]["name"].startswith(world.target.prefix)
    assert body["application"]["organization"]["name"] == org
    scopes = {s["scope"]: s for s in body["scopes"]}
    assert set(scopes) == {"repo:read", "user:admin"}
    assert scopes["user:admin"]["dangerous"] is True and scopes["repo:read"]["dangerous"] is False
    assert isinstance(body["csrf_token_val"], str) and body["csrf_token_val"]


@pytest.mark.operation("createOrganizationApplication")
def test_authorize_without_a_user_is_401_and_unknown_client_is_404(world: World, target: Target) -> None:
    owner, _, client_id = _org_app(world)
    anonymous = target.anon.http.get("/oauth/authorize", params=_authorize_query(client_id, "repo:read",
                                                                                 format="json"))
    assert anonymous.status_code == 401
    unknown = owner.session().http.get("/oauth/authorize", params=_authorize_query(
        target.next_name("nosuchclient"), "repo:read", format="json"))
    assert unknown.status_code == 404


@pytest.mark.operation("createOrganizationApplication")
def test_authorize_is_403_for_a_user_who_does_not_administer_the_apps_org(world: World) -> None:
    _, _, client_id = _org_app(world)
    stranger = world.user()
    response = stranger.session().http.get("/oauth/authorize", params=_authorize_query(client_id, "repo:read",
                                                                                       format="json"))
    assert response.status_code == 403


@pytest.mark.operation("createOrganizationApplication")
def test_authorizeapp_redirects_302_with_access_token_in_the_fragment(world: World) -> None:
    owner, _, client_id = _org_app(world)
    response = _authorizeapp(owner.session().http, client_id, "repo:read")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(REDIRECT)
    fragment = parse_qs(urlsplit(location).fragment)
    assert fragment["access_token"][0]
    assert fragment["token_type"] == ["Bearer"]
    assert int(fragment["expires_in"][0]) > 0


@pytest.mark.operation("createOrganizationApplication")
def test_authorizeapp_without_a_user_is_401(world: World, target: Target) -> None:
    _, _, client_id = _org_app(world)
    response = target.anon.http.post("/oauth/authorizeapp", data={"client_id": client_id, "redirect_uri": REDIRECT,
                                                                  "scope": "repo:read", "response_type": "token"})
    assert response.status_code == 401


@pytest.mark.operation("createOrganizationApplication")
def test_authorizeapp_for_a_non_admin_redirects_with_unauthorized_client(world: World) -> None:
    _, _, client_id = _org_app(world)
    response = _authorizeapp(world.user().session().http, client_id, "repo:read")
    assert response.status_code == 302
    params = _location_params(response)
    assert params.get("error") == "unauthorized_client"
    assert "access_token" not in params


@pytest.mark.operation("createOrganizationApplication")
def test_authorizeapp_with_an_unknown_scope_grants_nothing(world: World) -> None:
    owner, _, client_id = _org_app(world)
    response = _authorizeapp(owner.session().http, client_id, "repo:read repo:everything")
    assert "access_token" not in _location_params(response)
    if response.status_code == 302:
        assert _location_params(response).get("error") == "invalid_scope"


@pytest.mark.operation("createOrganizationApplication")
def test_authorizeapp_with_a_foreign_redirect_uri_grants_nothing(world: World) -> None:
    owner, _, client_id = _org_app(world)
    response = _authorizeapp(owner.session().http, client_id, "repo:read", redirect="https://evil.example.net/cb")
    assert "access_token" not in _location_params(response)
    assert not response.headers.get("location", "").startswith("https://evil.example.net")


@pytest.mark.operation("getLoggedInUser", "getRepo", "updateRepo")
def test_repo_read_token_reads_a_repo_gets_401_on_the_user_and_cannot_write(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    repo = world.repo(org, as_=owner)
    token = mint_token(owner.session().http, client_id, REDIRECT, ["repo:read"])
    client = target.make_client(BearerAuth(token), "repo:read token")
    body = expect(client.call("getRepo", repository=repo), 200)
    assert body["can_write"] is False and body["can_admin"] is False
    # GET /user/ without user:read answers like an anonymous call: 401 invalid_token, session_required false.
    assert expect(client.call("getLoggedInUser"), 401, error_type="invalid_token")["session_required"] is False
    expect(client.call("updateRepo", repository=repo, json={"description": "x"}), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("getLoggedInUser", "getRepo", "getOrganizationMembers")
def test_user_read_token_reads_the_user_but_no_repo_or_org_admin_data(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    repo = world.repo(org, as_=owner)
    token = mint_token(owner.session().http, client_id, REDIRECT, ["user:read"])
    client = target.make_client(BearerAuth(token), "user:read token")
    assert expect(client.call("getLoggedInUser"), 200)["username"] == owner.name
    expect(client.call("getRepo", repository=repo), 403, error_type="insufficient_scope")
    expect(client.call("getOrganizationMembers", orgname=org), 403, error_type="insufficient_scope")


@pytest.mark.operation("getOrganizationMembers", "getRepo")
def test_org_admin_token_administers_the_org_but_gets_no_repo_access(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    repo = world.repo(org, as_=owner)
    token = mint_token(owner.session().http, client_id, REDIRECT, ["org:admin"])
    client = target.make_client(BearerAuth(token), "org:admin token")
    expect(client.call("getOrganizationMembers", orgname=org), 200)
    expect(client.call("getRepo", repository=repo), 403, error_type="insufficient_scope")
