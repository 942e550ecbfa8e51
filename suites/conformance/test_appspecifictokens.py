"""Conformance of app-specific tokens (/api/v1/user/apptoken, FEATURE_APP_SPECIFIC_TOKENS). Expectations come from
Quay's behaviour (quay-api.md A rows 242-245, B, C, D10), never from the reference server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Target, World

pytestmark = pytest.mark.area("appspecifictokens")

RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} [-+]\d{4}$")
TOKEN_FIELDS = {"uuid", "title", "last_accessed", "created", "expiration"}
CSRF_MESSAGE = "CSRF token was invalid or missing."


def _create(client: QuayClient, title: str) -> dict[str, Any]:
    body = expect(client.call("createAppToken", json={"title": title}), 200)
    assert set(body) == {"token"}
    return dict(body["token"])


@pytest.mark.operation("createAppToken")
def test_create_app_token_is_200_with_the_code_shown_once(world: World) -> None:
    persona = world.user()
    token = _create(persona.client(), "ci pipeline")
    assert set(token) == TOKEN_FIELDS | {"token_code"}
    assert token["title"] == "ci pipeline"
    assert isinstance(token["uuid"], str) and token["uuid"]
    assert isinstance(token["created"], str) and RFC2822.match(token["created"]), token["created"]
    assert token["last_accessed"] is None
    code = token["token_code"]
    # 60-character lookup prefix + 60-character secret.
    assert isinstance(code, str) and len(code) == 120


@pytest.mark.operation("createAppToken")
@pytest.mark.parametrize("body", [{}, {"title": 7}], ids=["missing-title", "title-not-string"])
def test_create_app_token_with_invalid_body_is_400(world: World, body: dict[str, Any]) -> None:
    persona = world.user()
    expect(persona.client().call("createAppToken", json=body), 400, error_type="invalid_request")


@pytest.mark.operation("createAppToken")
def test_create_app_token_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("createAppToken", json={"title": "nope"}),
           403, error_type="insufficient_scope")


@pytest.mark.operation("createAppToken")
def test_anonymous_create_app_token_is_refused_by_csrf(anon: QuayClient) -> None:
    body = expect(anon.call("createAppToken", json={"title": "nope"}), 403, shape="error")
    assert body["error"] == CSRF_MESSAGE


@pytest.mark.operation("createAppToken", "listAppTokens")
def test_list_shows_own_tokens_without_their_codes(world: World) -> None:
    persona, other = world.user(), world.user()
    mine = _create(persona.client(), "mine")
    theirs = _create(other.client(), "theirs")
    body = expect(persona.client().call("listAppTokens"), 200)
    assert set(body) == {"tokens", "only_expiring"}
    listed = {t["uuid"]: t for t in body["tokens"]}
    assert mine["uuid"] in listed
    assert theirs["uuid"] not in listed
    for token in body["tokens"]:
        assert set(token) == TOKEN_FIELDS, "the list must never carry token_code"
    assert listed[mine["uuid"]]["title"] == "mine"
    assert listed[mine["uuid"]]["created"] == mine["created"]


@pytest.mark.operation("createAppToken", "listAppTokens")
def test_expiring_list_leaves_out_tokens_without_expiration(world: World) -> None:
    persona = world.user()
    token = _create(persona.client(), "lasting")
    body = expect(persona.client().call("listAppTokens", params={"expiring": "true"}), 200)
    assert body["only_expiring"] is True
    if token["expiration"] is None:
        assert all(t["uuid"] != token["uuid"] for t in body["tokens"])


@pytest.mark.operation("listAppTokens")
def test_fresh_user_has_no_app_tokens(world: World) -> None:
    persona = world.user()
    assert expect(persona.client().call("listAppTokens"), 200)["tokens"] == []


@pytest.mark.operation("listAppTokens")
def test_list_app_tokens_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("listAppTokens"), 403, error_type="insufficient_scope")


@pytest.mark.operation("listAppTokens")
def test_anonymous_list_app_tokens_is_401(anon: QuayClient) -> None:
    expect(anon.call("listAppTokens"), 401, error_type="invalid_token")


@pytest.mark.operation("createAppToken", "getAppToken")
def test_get_app_token_shows_the_same_code_again(world: World) -> None:
    persona = world.user()
    created = _create(persona.client(), "again")
    body = expect(persona.client().call("getAppToken", token_uuid=created["uuid"]), 200)
    assert body == {"token": created}


@pytest.mark.operation("createAppToken", "getAppToken")
def test_another_users_app_token_is_404(world: World) -> None:
    owner, other = world.user(), world.user()
    created = _create(owner.client(), "private")
    expect(other.client().call("getAppToken", token_uuid=created["uuid"]), 404, error_type="not_found")


@pytest.mark.operation("getAppToken")
def test_unknown_app_token_is_404(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("getAppToken", token_uuid=target.next_name("notoken")), 404, error_type="not_found")


@pytest.mark.operation("getAppToken")
def test_get_app_token_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    created = _create(persona.client(), "scoped")
    expect(persona.client(scopes=["user:read"]).call("getAppToken", token_uuid=created["uuid"]),
           403, error_type="insufficient_scope")


@pytest.mark.operation("getAppToken")
def test_anonymous_get_app_token_is_401(anon: QuayClient) -> None:
    expect(anon.call("getAppToken", token_uuid="someuuid"), 401, error_type="invalid_token")


@pytest.mark.operation("createAppToken", "revokeAppToken", "getAppToken", "listAppTokens")
def test_revoke_app_token_is_204_and_the_token_is_gone(world: World) -> None:
    persona = world.user()
    client = persona.client()
    created = _create(client, "short lived")
    response = client.call("revokeAppToken", token_uuid=created["uuid"])
    expect(response, 204)
    assert not response.content
    expect(client.call("getAppToken", token_uuid=created["uuid"]), 404, error_type="not_found")
    assert all(t["uuid"] != created["uuid"] for t in expect(client.call("listAppTokens"), 200)["tokens"])
    expect(client.call("revokeAppToken", token_uuid=created["uuid"]), 404, error_type="not_found")


@pytest.mark.operation("createAppToken", "revokeAppToken", "getAppToken")
def test_another_user_cannot_revoke_an_app_token(world: World) -> None:
    owner, other = world.user(), world.user()
    created = _create(owner.client(), "keep")
    expect(other.client().call("revokeAppToken", token_uuid=created["uuid"]), 404, error_type="not_found")
    expect(owner.client().call("getAppToken", token_uuid=created["uuid"]), 200)


@pytest.mark.operation("revokeAppToken")
def test_revoke_app_token_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    created = _create(persona.client(), "scoped")
    expect(persona.client(scopes=["user:read"]).call("revokeAppToken", token_uuid=created["uuid"]),
           403, error_type="insufficient_scope")


@pytest.mark.operation("revokeAppToken")
def test_anonymous_revoke_app_token_is_refused_by_csrf(anon: QuayClient) -> None:
    body = expect(anon.call("revokeAppToken", token_uuid="someuuid"), 403, shape="error")
    assert body["error"] == CSRF_MESSAGE


@pytest.mark.operation("createAppToken", "getAppToken")
def test_session_with_a_fresh_sign_in_may_manage_app_tokens(world: World) -> None:
    persona = world.user()
    session = persona.session()
    created = _create(session, "from the UI")
    expect(session.call("getAppToken", token_uuid=created["uuid"]), 200)
