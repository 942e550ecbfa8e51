"""Conformance of the deprecated repository tokens (`/repository/{r}/tokens/...`): every operation answers 410
`{"message"}` once the caller passes the repo-admin check (which runs first: 401 anonymous, 403 non-admins), and
the POST/PUT bodies are still validated after it. Expectations are Quay's (quay-api.md A rows 177-181, C item 4)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("repotoken")

# (operationId, extra path params, body)
CALLS: list[tuple[str, dict[str, str], Any]] = [
    ("listRepoTokens", {}, None),
    ("createToken", {}, {"friendlyName": "ci"}),
    ("getTokens", {"code": "sometokencode"}, None),
    ("changeToken", {"code": "sometokencode"}, {"role": "read"}),
    ("deleteToken", {"code": "sometokencode"}, None),
]


def _params(calls: list[tuple[str, dict[str, str], Any]]) -> list[Any]:
    # The operation marker rides on each parameter set, so the plugin gates and reports per operationId.
    return [pytest.param(op, params, body, id=op, marks=pytest.mark.operation(op)) for op, params, body in calls]


def _call(client: QuayClient, op: str, repo: str, params: dict[str, str], body: Any) -> Any:
    return client.call(op, repository=repo, json=body, **params)


def _org_repo(world: World) -> tuple[Persona, str]:
    owner = world.user()
    org = world.org(owner=owner)
    return owner, world.repo(org, as_=owner)


@pytest.mark.parametrize(("op", "params", "body"), _params(CALLS))
def test_repo_token_operation_is_410_gone_for_repo_admin(world: World, op: str, params: dict[str, str],
                                                         body: Any) -> None:
    owner, repo = _org_repo(world)
    answer = expect(_call(owner.client(), op, repo, params, body), 410, shape="message")
    assert "no longer supported" in answer["message"]


@pytest.mark.parametrize(("op", "params", "body"), _params(CALLS))
def test_repo_token_operation_is_403_for_writer_and_401_for_anonymous(world: World, target: Target, op: str,
                                                                      params: dict[str, str], body: Any) -> None:
    owner, repo = _org_repo(world)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(_call(writer.client(), op, repo, params, body), 403, error_type="insufficient_scope")
    if op in ("listRepoTokens", "getTokens"):  # anonymous writes stop at CSRF before any permission check
        expect(_call(target.anon, op, repo, params, body), 401, error_type="invalid_token")


@pytest.mark.parametrize(("op", "params", "body"), _params(CALLS))
def test_repo_token_operation_is_410_for_unknown_repo_of_namespace_admin(world: World, target: Target, op: str,
                                                                         params: dict[str, str], body: Any) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(_call(owner.client(), op, f"{org}/{target.next_name('repo')}", params, body), 410, shape="message")


@pytest.mark.parametrize(("op", "params", "body"), _params([CALLS[1], CALLS[3]]))
def test_repo_token_write_with_invalid_body_is_400_for_admin(world: World, op: str, params: dict[str, str],
                                                             body: Any) -> None:
    owner, repo = _org_repo(world)
    expect(_call(owner.client(), op, repo, params, {"unexpected": True}), 400, error_type="invalid_request")
