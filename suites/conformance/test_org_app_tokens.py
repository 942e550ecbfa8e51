"""Conformance of organization application tokens (`/organization/{org}/applications/{client_id}/tokens`): minting
a bearer token for an org's OAuth application (200, secret shown once), listing without secrets, revoking, and the
rules on names, scopes and who may mint what. Expectations are Quay's (quay-api.md A rows 26-28, B, D10)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.auth import BearerAuth
from harness.checks import expect
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("organization_application_tokens")

TOKEN_VIEW_KEYS = {"uuid", "name", "scope", "expires_at", "created", "created_by", "last_accessed"}


def _org_app(world: World) -> tuple[Persona, str, str]:
    owner = world.user()
    org = world.org(owner=owner)
    app = expect(owner.client().call("createOrganizationApplication", orgname=org,
                                     json={"name": world.target.next_name("app")}), 200)
    return owner, org, str(app["client_id"])


def _mint(owner: Persona, org: str, client_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return dict(expect(owner.client().call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                                           json=body), 200))


@pytest.mark.operation("createOrganizationApplicationToken")
def test_mint_token_returns_200_with_the_view_and_the_secret_once(world: World) -> None:
    owner, org, client_id = _org_app(world)
    body = _mint(owner, org, client_id, {"name": "  ci deploy  ", "scope": "repo:read"})
    assert set(body) == TOKEN_VIEW_KEYS | {"token"}
    assert body["name"] == "ci deploy", "the name is trimmed"
    assert body["scope"] == "repo:read"
    assert body["created_by"] == owner.name
    assert body["last_accessed"] is None
    assert str(body["created"]).endswith("Z") and str(body["expires_at"]).endswith("Z")
    assert isinstance(body["token"], str) and body["token"]


@pytest.mark.operation("createOrganizationApplicationToken", "getRepo", "getLoggedInUser")
def test_minted_token_holds_exactly_its_scopes(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    repo = world.repo(org, as_=owner)
    token = _mint(owner, org, client_id, {"name": "reader", "scope": "repo:read"})["token"]
    client = target.make_client(BearerAuth(token), "org app token")
    expect(client.call("getRepo", repository=repo), 200)
    # GET /user/ without user:read answers like an anonymous call: 401 invalid_token, session_required false.
    assert expect(client.call("getLoggedInUser"), 401, error_type="invalid_token")["session_required"] is False
    expect(client.call("updateRepo", repository=repo, json={"description": "x"}), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("createOrganizationApplicationToken")
@pytest.mark.parametrize("body", [{"scope": "repo:read"}, {"name": "x"}, {"name": "", "scope": "repo:read"},
                                  {"name": "x", "scope": "repo:read", "expiration": 0}],
                         ids=["no-name", "no-scope", "empty-name", "zero-expiration"])
def test_mint_token_with_invalid_body_is_400(world: World, body: dict[str, Any]) -> None:
    owner, org, client_id = _org_app(world)
    expect(owner.client().call("createOrganizationApplicationToken", orgname=org, client_id=client_id, json=body),
           400, error_type="invalid_request")


@pytest.mark.operation("createOrganizationApplicationToken")
def test_mint_token_with_blank_name_or_unknown_scope_is_400_message(world: World) -> None:
    owner, org, client_id = _org_app(world)
    client = owner.client()
    expect(client.call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                       json={"name": "   ", "scope": "repo:read"}), 400, shape="message")
    body = expect(client.call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                              json={"name": "x", "scope": "repo:bogus"}), 400, shape="message")
    assert body["message"] == "Invalid scope: repo:bogus"


@pytest.mark.operation("createOrganizationApplicationToken")
def test_minting_a_scope_the_caller_does_not_hold_is_403(world: World) -> None:
    owner, org, client_id = _org_app(world)
    # The owner is no superuser, so it cannot hand out super:user.
    expect(owner.client().call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                               json={"name": "x", "scope": "super:user"}), 403, error_type="insufficient_scope")
    # A bearer caller may only mint scopes its own token has.
    narrow = owner.client(["org:admin"])
    expect(narrow.call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                       json={"name": "x", "scope": "repo:read"}), 403, error_type="insufficient_scope")


@pytest.mark.operation("createOrganizationApplicationToken")
def test_mint_token_is_403_for_outsider_and_404_for_unknown_app(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    expect(world.user().client().call("createOrganizationApplicationToken", orgname=org, client_id=client_id,
                                      json={"name": "x", "scope": "repo:read"}), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("createOrganizationApplicationToken", orgname=org,
                               client_id=target.next_name("nosuch"), json={"name": "x", "scope": "repo:read"}),
           404, error_type="not_found")


@pytest.mark.operation("listOrganizationApplicationTokens")
def test_list_tokens_shows_views_without_secrets(world: World) -> None:
    owner, org, client_id = _org_app(world)
    first = _mint(owner, org, client_id, {"name": "one", "scope": "repo:read"})
    second = _mint(owner, org, client_id, {"name": "two", "scope": "repo:read repo:write"})
    body = expect(owner.client().call("listOrganizationApplicationTokens", orgname=org, client_id=client_id), 200)
    by_uuid = {t["uuid"]: t for t in body["tokens"]}
    assert set(by_uuid) == {first["uuid"], second["uuid"]}
    for token in body["tokens"]:
        assert "token" not in token
        assert set(token) >= TOKEN_VIEW_KEYS
    assert by_uuid[first["uuid"]]["name"] == "one"


@pytest.mark.operation("listOrganizationApplicationTokens")
def test_list_tokens_is_403_for_outsider_401_for_anonymous_and_404_for_unknown_app(world: World,
                                                                                   target: Target) -> None:
    owner, org, client_id = _org_app(world)
    expect(world.user().client().call("listOrganizationApplicationTokens", orgname=org, client_id=client_id), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("listOrganizationApplicationTokens", orgname=org, client_id=client_id), 401,
           error_type="invalid_token")
    expect(owner.client().call("listOrganizationApplicationTokens", orgname=org,
                               client_id=target.next_name("nosuch")), 404, error_type="not_found")


@pytest.mark.operation("deleteOrganizationApplicationToken", "listOrganizationApplicationTokens", "getRepo")
def test_revoking_a_token_is_204_and_it_stops_working(world: World, target: Target) -> None:
    owner, org, client_id = _org_app(world)
    repo = world.repo(org, as_=owner)
    minted = _mint(owner, org, client_id, {"name": "gone", "scope": "repo:read"})
    client = target.make_client(BearerAuth(minted["token"]), "revoked token")
    expect(client.call("getRepo", repository=repo), 200)
    assert expect(owner.client().call("deleteOrganizationApplicationToken", orgname=org, client_id=client_id,
                                      token_uuid=minted["uuid"]), 204) is None
    assert expect(owner.client().call("listOrganizationApplicationTokens", orgname=org, client_id=client_id),
                  200)["tokens"] == []
    # An invalid token counts as anonymous: a private repo answers 401.
    expect(client.call("getRepo", repository=repo), 401, error_type="invalid_token")
    expect(owner.client().call("deleteOrganizationApplicationToken", orgname=org, client_id=client_id,
                               token_uuid=minted["uuid"]), 404, error_type="not_found")


@pytest.mark.operation("deleteOrganizationApplicationToken", "listOrganizationApplicationTokens")
def test_revoking_a_token_is_403_for_outsider(world: World) -> None:
    owner, org, client_id = _org_app(world)
    minted = _mint(owner, org, client_id, {"name": "kept", "scope": "repo:read"})
    expect(world.user().client().call("deleteOrganizationApplicationToken", orgname=org, client_id=client_id,
                                      token_uuid=minted["uuid"]), 403, error_type="insufficient_scope")
    assert len(expect(owner.client().call("listOrganizationApplicationTokens", orgname=org, client_id=client_id),
                      200)["tokens"]) == 1
