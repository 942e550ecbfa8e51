"""The scope matrix: every operation x a token holding exactly one scope (and none), all held by a superuser
who administers the organization and repository -> allowed only where Quay's scope caps allow.

Scopes cap roles, they never grant: the caller holds every role, so the token's scope alone decides."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.client import QuayClient
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


def _client(persona: Persona, scope: str | None) -> QuayClient | None:
    """A token holding exactly `scope` (or none); None when the target refuses to mint it."""
    try:
        return persona.client([scope] if scope else [])
    except HarnessError as exc:
        if scope is None and "invalid_scope" in str(exc):
            return None  # Quay refuses an empty scope set at authorization; any other failure is ours
        raise


@pytest.mark.area("security")
@pytest.mark.operation("getLoggedInUser", "getRepo", "getOrganizationMembers")
def test_a_token_without_scopes_is_refused_or_powerless(holder: tuple[World, Persona, Scene]) -> None:
    _, admin, scene = holder
    client = _client(admin, None)
    if client is None:
        return  # the grant itself refused an empty scope set: nothing to misuse
    assert client.call("getLoggedInUser").status_code == 401
    assert client.call("getRepo", repository=scene.repo).status_code == 403
    assert client.call("getOrganizationMembers", orgname=scene.org).status_code == 403


@pytest.mark.area("security")
@pytest.mark.parametrize("op_id", [pytest.param(op, marks=pytest.mark.operation(op), id=op) for op in sorted(RULES)])
def test_scope_matrix(op_id: str, holder: tuple[World, Persona, Scene], world: World, target: Target) -> None:
    """A token holding one scope (or none) is let past authorization exactly where Quay's scope caps allow the
    operation for a caller who holds every role (suites/security/expectations.py)."""
    _, admin, scene = holder
    rule = RULES[op_id]
    problems = []
    for n, scope in enumerate(COLUMNS):
        # Each column gets its own objects to act on, so an allowed destructive call cannot affect the next.
        fresh = replace(scene, org=world.org(owner=admin), unique=f"s{n}x{scene.unique}")
        fresh = replace(fresh, repo=world.repo(fresh.org), team=world.team(fresh.org, role="member"))
        call = CALLS[op_id](fresh)
        persona = admin
        if call.stand_in_needed(persona.name, persona.password or "", world.target.owns):
            persona = world.user()
            call = CALLS[op_id](replace(fresh, caller=persona.name, caller_password=persona.password or ""))
        client = _client(persona, scope)
        if client is None:
            continue  # no token with an empty scope set exists on this target (checked above)
        response = client.call(op_id, json=call.json, params=call.params, **call.path)
        allowed = scope_allows(rule, scope, target.profile.full_access)
        got = response.status_code
        label = scope or "no scope"
        if allowed and (got in (401, 403) or got >= 500):
            problems.append(f"{label}: Quay lets this token past authorization; the target answered {got} to "
                            f"{response.request.method} {response.request.url.path}: {response.text[:200]}")
        if not allowed and got != rule.refusal:
            problems.append(f"{label}: Quay refuses this token with {rule.refusal}; the target answered {got} to "
                            f"{response.request.method} {response.request.url.path}: {response.text[:200]}")
    assert not problems, f"{op_id}:\n  " + "\n  ".join(problems)
