"""The role matrix: every operation of the identity-and-access areas x every persona -> Quay's answer.

Expectations come from suites/security/rules.py (Quay's rules, written independently of any server). A denied
persona must get exactly 401 (anonymous) or 403; an allowed one must get past authorization (anything but 401,
403 or a server error). Personas run from least to most privileged, so nothing an allowed persona changes can
turn a later refusal into a pass."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from harness.checks import expect
from harness.world import Persona, Target, World
from suites.security.calls import CALLS
from suites.security.cast import Cast
from suites.security.expectations import ALLOWED, PERSONAS, expected_status
from suites.security.rules import RULES

AREAS = {"user", "organization", "team", "repository", "permission", "prototype", "robot", "appspecifictokens",
         "organization_application_tokens", "search", "repotoken", "repoemail", "bootstrap", "capabilities",
         "discovery", "error", "tag", "manifest", "secscan", "namespacequota", "policy", "immutability_policy", "logs"}
# Superuser operations of this matrix; the others (service keys, messages, builds, mirror health) belong to later areas.
SUPERUSER_OPS = {"listAllUsers", "createInstallUser", "getInstallUser", "changeInstallUser", "deleteInstallUser",
                 "listAllOrganizations", "changeOrganization", "deleteOrganization", "listAllAppTokens",
                 "takeOwnership", "getChangeLog", "sendInstallUserRecoveryEmail",
                 "listOrganizationQuotaSuperUser", "createOrganizationQuotaSuperUser",
                 "changeOrganizationQuotaSuperUser", "deleteOrganizationQuotaSuperUser", "listUserQuotaSuperUser",
                 "createUserQuotaSuperUser", "changeUserQuotaSuperUser", "deleteUserQuotaSuperUser",
                 "getRegistrySize", "queueRegistrySizeCalculation", "listAllLogs", "listAllAggregateLogs"}
PROXY_CACHE_OPS = {"getProxyCacheConfig", "createProxyCacheConfig", "deleteProxyCacheConfig",
                   "validateProxyCacheConfig"}


@pytest.fixture(scope="module")
def cast(target: Target) -> Iterator[Cast]:
    world = target.world()
    try:
        yield Cast.assemble(target, world, target.global_readonly_persona())
    finally:
        world.close()


def _cells(op_id: str, cast: Cast, world: World, target: Target, full_access: bool) -> list[str]:
    rule = RULES[op_id]
    method = target.catalog[op_id].method
    problems = []
    base = cast.scene(world)
    for standing in PERSONAS:
        if not cast.has(standing):
            continue
        caller: Persona | None = None if standing.anonymous else cast.people[standing.name]
        scene = replace(base, caller=caller.name if caller else "",
                        caller_password=(caller.password or "") if caller else "", unique=cast.unique())
        call = CALLS[op_id](scene)
        client = cast.client(standing)
        if caller is not None and call.stand_in_needed(caller.name, caller.password or "", target.owns):
            stand_in = world.user()
            call = CALLS[op_id](replace(scene, caller=stand_in.name, caller_password=stand_in.password or ""))
            client = stand_in.client()
        response = client.call(op_id, json=call.json, params=call.params, **call.path)
        want = expected_status(rule, standing, method, full_access)
        got = response.status_code
        if want == ALLOWED:
            if got in (401, 403) or got >= 500:
                problems.append(f"{standing.name}: Quay lets this caller past authorization; the target answered {got} "
                                f"to {response.request.method} {response.request.url.path}: {response.text[:200]}")
        elif got != want:
            problems.append(f"{standing.name}: Quay refuses this caller with {want}; the target answered {got} to "
                                f"{response.request.method} {response.request.url.path}: {response.text[:200]}")
        elif want == 403 and method not in ("GET", "HEAD") and standing.anonymous:
            expect(response, 403, shape="error")  # the CSRF refusal
    return problems


@pytest.mark.area("security")
@pytest.mark.parametrize("op_id", [pytest.param(op, marks=pytest.mark.operation(op), id=op) for op in sorted(RULES)])
def test_role_matrix(op_id: str, cast: Cast, world: World, target: Target) -> None:
    """Every persona, holding every scope, is let past authorization or refused (401 anonymous, else 403) exactly
    as Quay's rules for the operation say (suites/security/rules.py)."""
    problems = _cells(op_id, cast, world, target, target.profile.full_access)
    assert not problems, f"{op_id}:\n  " + "\n  ".join(problems)


@pytest.mark.area("security")
def test_every_operation_of_these_areas_has_a_matrix_row(target: Target) -> None:
    """Coverage gate: an operation the target offers in these areas with no row in RULES fails the run."""
    missing = []
    for op in target.catalog.values():
        in_scope = op.area in AREAS or (op.area == "superuser" and op.operation_id in SUPERUSER_OPS)
        if in_scope and op.operation_id not in RULES and op.operation_id not in PROXY_CACHE_OPS:
            missing.append(op.operation_id)
    assert missing == [], f"operations without a role-matrix row: {missing}"
