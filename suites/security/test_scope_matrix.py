"""The scope matrix: every operation x a token holding exactly one scope (and none), all held by a superuser
who administers the organization and repository -> allowed only where Quay's scope caps allow.

Scopes cap roles, they never grant: the caller holds every role, so the token's scope alone decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.config import HarnessConfig
from harness.errors import HarnessError
from harness.world import Persona, Target, World
from suites.security.calls import CALLS, Scene
from suites.security.expectations import SCOPES, scope_allows
from suites.security.rules import RULES

COLUMNS = (*SCOPES, None)


@pytest.fixture(scope="module")
def holder(target: Target) -> Iterator[tuple[World, Persona, Scene]]:
    """The superuser, administering a fresh organization with a repository, team, robot and application."""
    world = target.world()
    try:
        admin = world.admin
        org = world.org(owner=admin)
        team = world.team(org, role="member")
        repo = world.repo(org)
        robot = world.robot(org)
        app = admin.client().call("createOrganizationApplication", orgname=org,
                                  json={"name": f"{org}app", "redirect_uri": "http://localhost/cb"}).json()
        other = world.user()
        yield world, admin, Scene(org=org, repo=repo, team=team, robot=robot.short, client_id=str(app["client_id"]),
                                  outsider=other.name, outsider_password=other.password or "", caller=admin.name,
                                  caller_password=admin.password or "", unique="s0")
    finally:
        world.close()


def _client_or_skip(persona: Persona, scope: str | None):  # type: ignore[no-untyped-def]
    try:
        return persona.client([scope] if scope else [])
    except HarnessError as exc:
        pytest.skip(f"the target cannot mint a token with {scope or 'no scope'}: {exc}")


@pytest.mark.area("security")
@pytest.mark.parametrize("op_id", [pytest.param(op, marks=pytest.mark.operation(op), id=op) for op in sorted(RULES)])
def test_scope_matrix(op_id: str, holder: tuple[World, Persona, Scene], world: World, target: Target,
                      harness_config: HarnessConfig) -> None:
    _, admin, scene = holder
    rule = RULES[op_id]
    problems = []
    for n, scope in enumerate(COLUMNS):
        # Each column gets its own objects to act on, so an allowed destructive call cannot affect the next.
        fresh = replace(scene, org=world.org(owner=admin), unique=f"s{n}x{scene.unique}")
        fresh = replace(fresh, repo=world.repo(fresh.org), team=world.team(fresh.org, role="member"))
        call = CALLS[op_id](fresh)
        persona = admin
        if call.throwaway_caller:
            persona = world.user()
            call = CALLS[op_id](replace(fresh, caller=persona.name, caller_password=persona.password or ""))
        response = _client_or_skip(persona, scope).call(op_id, json=call.json, params=call.params, **call.path)
        allowed = scope_allows(rule, scope, harness_config.superusers_full_access)
        got = response.status_code
        label = scope or "no scope"
        if allowed and (got in (401, 403) or got >= 500):
            problems.append(f"{label}: expected to pass authorization, got {got}: {response.text[:200]}")
        if not allowed and got != 403:
            problems.append(f"{label}: expected 403, got {got}: {response.text[:200]}")
    assert not problems, f"{op_id}:\n  " + "\n  ".join(problems)
