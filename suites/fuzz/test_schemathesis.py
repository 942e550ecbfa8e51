"""Schemathesis over the target's own discovery document (GET /api/v1/discovery?internal=true).

Every operation the target documents is fuzzed with schema-valid and schema-violating data, as a throwaway
persona (never the superuser) that owns a fresh organization and repositories under the run prefix. Checks: no 5xx,
statuses and bodies as documented, content types where documented, and `ignored_auth` (an operation that declares
a scope must refuse the same request without credentials and with invalid ones).

The document is corrected only by the reviewed known_deviations.yaml (see support.py); each applied correction,
the excluded operations and the number of cases sent are written to reports/<run-id>/fuzz.yaml and shown in
pytest's terminal summary.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import hypothesis
import pytest
import schemathesis
import yaml

from harness.auth import ALL_SCOPES
from harness.config import HarnessConfig
from harness.world import Persona, Target, World
from suites.fuzz import support

pytestmark = pytest.mark.area("fuzz")


@dataclass
class FuzzRun:
    """The objects the fuzzer aims at, and what the run has done so far."""

    persona: Persona
    other: Persona  # a second user, for {username} and {membername}
    org: str
    repo: str  # "org/name": every {repository}
    spare_org: str  # the only {orgname} that deleteAdminedOrganization may delete
    spare_repo: str  # the only {repository} that deleteRepository may delete
    max_examples: int
    derandomize: bool
    corrections: list[support.Correction] = field(default_factory=list)
    stats: support.FuzzStats = field(default_factory=support.FuzzStats)
    confirmed_auth: set[str] = field(default_factory=set)

    def pin_body(self, operation_id: str, case: schemathesis.Case[Any]) -> None:
        """Keep what a case may create or rename inside the run's namespaces. Path parameters are pinned in the
        schemathesis configuration; these few names travel in bodies."""
        body = case.body
        if not isinstance(body, dict):
            return
        if operation_id == "createOrganization" and "name" in body:
            # Taken until deleteAdminedOrganization removes it; the World deletes it either way.
            body["name"] = self.spare_org
        elif operation_id == "createNewUser" and "username" in body:
            body["username"] = self.other.name  # exists, so sign-up is refused rather than adding a stray user
        elif operation_id == "createRepo" and "namespace" in body:
            body["namespace"] = self.org
        elif operation_id == "changeUserDetails":
            # A new username would leave the persona outside the cleanup journal (and outside the run prefix);
            # a new password could end the session the World signs in with.
            for key in ("username", "password"):
                body.pop(key, None)

    def report(self, started: float) -> dict[str, Any]:
        return {
            "fuzz_cases_run": self.stats.total,
            "operations_fuzzed": len(self.stats.cases),
            "max_examples_per_operation": self.max_examples,
            "derandomized": self.derandomize,
            "seconds": round(time.monotonic() - started, 1),
            "auth_checked_operations": len(self.confirmed_auth),
            "corrections_applied": [c.as_dict() for c in self.corrections],
            "excluded_operations": dict(support.EXCLUDED),
            "cases_per_operation": dict(sorted(self.stats.cases.items())),
        }


def _restore_spare_org(run: FuzzRun) -> None:
    """deleteAdminedOrganization may have removed the spare organization. The World's cleanup would then ask to
    delete an organization that is gone, which Quay answers with 403 to a non-superuser (the admin check comes
    before the lookup) and the World counts as left behind; recreating it keeps the cleanup clean."""
    client = run.persona.client()
    if client.call("getOrganization", orgname=run.spare_org).status_code == 404:
        client.call("createOrganization", json={"name": run.spare_org, "email": f"{run.spare_org}@example.com"})


def _budget(config: HarnessConfig) -> tuple[int, bool]:
    """Examples per operation: the loaded Hypothesis profile (dev small, ci moderate, thorough large), capped
    by the harness's fuzz_max_examples; derandomized whenever the profile is (ci)."""
    profile = hypothesis.settings()  # the values of the profile in force
    return min(profile.max_examples, config.fuzz_max_examples), bool(profile.derandomize)


@pytest.fixture(scope="module")
def fuzz_world(target: Target) -> Iterator[World]:
    """One World for the whole module: the lazy schema runs every operation inside one test."""
    with target.world() as world:
        yield world


@pytest.fixture(scope="module")
def fuzz_run(target: Target, fuzz_world: World, harness_config: HarnessConfig,
             pytestconfig: pytest.Config) -> Iterator[FuzzRun]:
    persona = fuzz_world.user()
    other = fuzz_world.user()
    org = fuzz_world.org(owner=persona)
    spare_org = fuzz_world.org(owner=persona)
    max_examples, derandomize = _budget(harness_config)
    run = FuzzRun(persona=persona, other=other, org=org, repo=fuzz_world.repo(org, as_=persona),
                  spare_org=spare_org, spare_repo=fuzz_world.repo(org, as_=persona),
                  max_examples=max_examples, derandomize=derandomize)
    # Schemathesis sends its requests around the harness's clients, and may delete or rename what was just seeded:
    # hold the seeding to the audit-log invariant now, while its namespaces are as they were made.
    target.audit.flush()
    started = time.monotonic()
    yield run
    report = run.report(started)
    _restore_spare_org(run)
    path = harness_config.run_dir / support.REPORT_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(report, sort_keys=False, width=200))
    pytestconfig.stash[support.REPORT_PATH_KEY] = path


@pytest.fixture(scope="module")
def fuzz_schema(target: Target, fuzz_run: FuzzRun, harness_config: HarnessConfig) -> schemathesis.BaseSchema:
    document, fuzz_run.corrections = support.prepare_document(
        target.catalog.document, support.load_known_deviations(), excluded=support.EXCLUDED)
    run = fuzz_run
    persona_email = f"{run.persona.name}@example.com"
    config = schemathesis.Config.from_dict({
        "base-url": target.base_url,
        "request-timeout": harness_config.request_timeout,
        "tls-verify": harness_config.verify_tls,
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        "generation": {"mode": "all", "max-examples": run.max_examples,
                       "deterministic": run.derandomize, "database": "none"},
        # Fuzzing only: the coverage phase enumerates boundary values without a bound on their number, and the
        # stateful phase chains operations the budget does not cover.
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        # Path parameters naming real objects of the run, so positive cases reach them; the rest are generated.
        "parameters": {"path.repository": run.repo, "path.orgname": run.org, "path.namespace": run.org,
                       "path.name": run.spare_org, "path.username": run.other.name,
                       "path.membername": run.other.name, "path.email": persona_email},
        "operations": [
            {"include-operation-id": "deleteRepository", "parameters": {"path.repository": run.spare_repo}},
            # A read-only or mirrored repository answers every tag write with Quay's 503: keep the main one NORMAL.
            {"include-operation-id": "changeRepoState", "parameters": {"path.repository": run.spare_repo}},
            # A public repository rightly answers anonymous reads, which ignored_auth would then report.
            {"include-operation-id": "changeRepoVisibility", "parameters": {"path.repository": run.spare_repo}},
            {"include-operation-id": "deleteAdminedOrganization", "parameters": {"path.orgname": run.spare_org}},
        ],
    })
    schema = schemathesis.openapi.from_dict(document, config=config)
    # A token of its own with every scope, so scope caps hide nothing; the persona is no superuser.
    token = target.mint(run.persona, sorted(ALL_SCOPES))
    schema.auth.auth(refresh_interval=None)(support.bearer_provider(token))
    return schema


@pytest.fixture(autouse=True)
def _lazy_schema_node_id(request: pytest.FixtureRequest) -> None:
    """schemathesis 4.32's lazy schema reads and renames the running item through `Node._nodeid`, which pytest
    9.2 replaced (`Node._id`); without this the suite dies with AttributeError before the first case. The
    renaming then has no effect: every operation reports as a subtest of this one item, labelled
    "METHOD /path"."""
    if not hasattr(request.node, "_nodeid"):
        request.node._nodeid = request.node.nodeid


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
def test_target_honours_its_discovery_document(case: schemathesis.Case[Any], fuzz_run: FuzzRun) -> None:
    operation_id = str(case.operation.definition.raw.get("operationId", case.operation.label))
    fuzz_run.pin_body(operation_id, case)
    fuzz_run.stats.count(operation_id)
    case.call_and_validate(checks=support.checks(fuzz_run.confirmed_auth))
