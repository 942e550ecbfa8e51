"""Auto-prune against an independent model of Quay's prune rules (quay-api.md D6).

The model, written from D6 (endpoints/api/policy.py, data/model/autoprune.py, workers/autopruneworker.py):

* candidates are the **active** tags that are not immutable (hidden and signature tags do not occur here);
* a policy's `tagPattern` is an **unanchored** regular expression (`re.search`); `tagPatternMatches=true` keeps
  the matching candidates, `false` the others;
* `creation_date` prunes candidates whose start is older than now - value (`m` = minutes);
* `number_of_tags` orders the candidates by start, newest first, keeps the first N and prunes the rest (N counts
  among the pattern-filtered candidates);
* every creation_date policy runs before every number_of_tags policy; inside each group Quay reads the policies
  without an ORDER BY, so the model accepts the outcome of any order (`possible_survivors`).

The property: each example makes a fresh organization (the worker skips a namespace it ran recently, so a new one
runs as soon as the worker polls), one repository, one pushed image tagged "z0", then 3-8 tags with names from a
small alphabet created one by one with changeTag (so their starts differ and their order is known), some marked
immutable, and a last tag "z1". It creates 1-2 number_of_tags policies (random N, optional pattern) plus a sentinel
policy (keep 1 among tags matching "^z"), waits for the worker and compares the surviving active tags with the
model. The sentinel makes the wait decidable: "z1" is the newest tag, so no number_of_tags policy ever prunes it, and
the sentinel always prunes "z0"; "z0" gone means the worker has processed the repository.

The wait is bounded: `prune_wait_s` from the harness settings when it exists, else QH_PRUNE_WAIT_S (default 120 s),
polling listRepoTags. The reference server should run its worker with AUTO_PRUNING_POLL_PERIOD=1 and
AUTOPRUNE_TASK_RUN_MINIMUM_INTERVAL_MINUTES=0; a real Quay runs on its own schedule (30 s by default).
"""

from __future__ import annotations

import itertools
import os
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks import expect
from harness.config import HarnessConfig
from harness.oci import RegistryClient, make_image
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("policy")

OPERATIONS = ("createOrganization", "createRepo", "changeTag", "listRepoTags", "createRepositoryAutoPrunePolicy")
# Each example waits for the prune worker (about two seconds on the tuned reference server, up to a poll period on
# Quay); the profile's full budget (dev 10, ci 50) runs, a divisor can trade cases for time on a slow target.
EXAMPLE_DIVISOR = 1
DEFAULT_WAIT_S = 120.0
POLL_INTERVAL_S = 0.5
TAG_ALPHABET = "abc"  # never "z": the sentinel tags own that letter
SENTINEL_OLD, SENTINEL_NEW, SENTINEL_PATTERN = "z0", "z1", "^z"
NUMBER_OF_TAGS, CREATION_DATE = "number_of_tags", "creation_date"
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}


def prune_settings() -> settings:
    """The active profile (dev/ci/thorough) with its example budget scaled down for this slow property."""
    active = settings()
    return settings(active, max_examples=max(1, active.max_examples // EXAMPLE_DIVISOR), deadline=None,
                    suppress_health_check=[*active.suppress_health_check, HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


def prune_wait_budget(config: HarnessConfig) -> float:
    """Seconds to wait for the worker: a harness setting when the harness has one, else QH_PRUNE_WAIT_S."""
    configured = getattr(config, "prune_wait_s", None)
    if configured is not None:
        return float(configured)
    return float(os.environ.get("QH_PRUNE_WAIT_S", DEFAULT_WAIT_S))


# ---- the model ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelTag:
    name: str
    start_ms: int  # lifetime_start: when the tag was last created or moved
    immutable: bool = False


@dataclass(frozen=True)
class ModelPolicy:
    method: str  # number_of_tags | creation_date
    value: int | str  # N, or "<int><unit>"
    pattern: str | None = None
    matches: bool = True

    def body(self) -> dict[str, object]:
        body: dict[str, object] = {"method": self.method, "value": self.value}
        if self.pattern is not None:
            body["tagPattern"] = self.pattern
            body["tagPatternMatches"] = self.matches
        return body


def duration_ms(value: str) -> int:
    match = re.fullmatch(r"(\d+)([smhdwy])", value)
    if match is None:
        raise ValueError(f"not a creation_date value: {value!r}")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)] * 1000


def candidates(tags: Sequence[ModelTag], policy: ModelPolicy) -> list[ModelTag]:
    """The tags a policy may prune: not immutable, filtered by its unanchored pattern."""
    found = [t for t in tags if not t.immutable]
    if policy.pattern is not None:
        pattern = re.compile(policy.pattern)
        found = [t for t in found if (pattern.search(t.name) is not None) == policy.matches]
    return found


def prune_once(tags: Sequence[ModelTag], policy: ModelPolicy, now_ms: int) -> list[ModelTag]:
    """The active tags left after one policy ran."""
    eligible = candidates(tags, policy)
    if policy.method == CREATION_DATE:
        cutoff = now_ms - duration_ms(str(policy.value))
        pruned = {t.name for t in eligible if t.start_ms < cutoff}
    elif policy.method == NUMBER_OF_TAGS:
        newest_first = sorted(eligible, key=lambda t: t.start_ms, reverse=True)
        pruned = {t.name for t in newest_first[int(policy.value):]}
    else:
        raise ValueError(f"unknown method {policy.method!r}")
    return [t for t in tags if t.name not in pruned]


def survivors(tags: Sequence[ModelTag], policies: Sequence[ModelPolicy], now_ms: int) -> frozenset[str]:
    """Apply the policies in the given order, creation_date ones first (Quay's order between the two groups)."""
    ordered = [p for p in policies if p.method == CREATION_DATE] + [p for p in policies if p.method != CREATION_DATE]
    left = list(tags)
    for policy in ordered:
        left = prune_once(left, policy, now_ms)
    return frozenset(t.name for t in left)


def possible_survivors(tags: Sequence[ModelTag], policies: Sequence[ModelPolicy],
                       now_ms: int) -> set[frozenset[str]]:
    """Every outcome Quay may produce: the order of policies inside a method group is not defined."""
    return {survivors(tags, order, now_ms) for order in itertools.permutations(policies)}


# ---- strategies ---------------------------------------------------------------------------------------------------
tag_names = st.lists(st.text(alphabet=TAG_ALPHABET, min_size=1, max_size=3), min_size=3, max_size=8, unique=True)
patterns = st.sampled_from(["a", "b", "^a", "c$", "ab", "a|c", "^[bc]"])


@st.composite
def number_policies(draw: st.DrawFn) -> ModelPolicy:
    keep = draw(st.integers(min_value=1, max_value=6))
    if draw(st.booleans()):
        return ModelPolicy(NUMBER_OF_TAGS, keep, draw(patterns), draw(st.booleans()))
    return ModelPolicy(NUMBER_OF_TAGS, keep)


@dataclass(frozen=True)
class Scenario:
    names: list[str]  # creation order, oldest first
    immutable: frozenset[str]
    policies: list[ModelPolicy]


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    names = draw(tag_names)
    immutable = draw(st.frozensets(st.sampled_from(names), max_size=2))
    policies = draw(st.lists(number_policies(), min_size=1, max_size=2, unique=True))
    return Scenario(names, immutable, policies)


SENTINEL_POLICY = ModelPolicy(NUMBER_OF_TAGS, 1, SENTINEL_PATTERN, True)


# ---- the target side ----------------------------------------------------------------------------------------------
@dataclass
class Context:
    target: Target
    world: World
    owner: Persona
    registry: RegistryClient
    wait_s: float
    immutability: bool
    timed_out: bool = False  # once the worker missed the budget, later examples (shrinking) fail at once


@pytest.fixture
def context(target: Target, world: World, harness_config: HarnessConfig) -> Iterator[Context]:
    owner = world.admin if world.admin.password else world.user()
    registry = target.registry_client(owner.name, owner.password)
    # changeTag's `immutable` exists only with FEATURE_IMMUTABLE_TAGS, which brings the immutability operations.
    immutability = "createRepositoryImmutabilityPolicy" in target.catalog
    try:
        yield Context(target, world, owner, registry, prune_wait_budget(harness_config), immutability)
    finally:
        registry.close()


def active_tags(ctx: Context, repo: str) -> dict[str, bool]:
    """Active tag name -> immutable."""
    body = expect(ctx.owner.client().call("listRepoTags", repository=repo,
                                          params={"onlyActiveTags": "true", "limit": 100}), 200)
    return {row["name"]: bool(row.get("immutable", False)) for row in body["tags"]}


def set_tag(ctx: Context, repo: str, tag: str, digest: str, immutable: bool) -> None:
    client = ctx.owner.client()
    expect(client.call("changeTag", repository=repo, tag=tag, json={"manifest_digest": digest}), 201)
    if immutable:
        expect(client.call("changeTag", repository=repo, tag=tag, json={"immutable": True}), 201)
    # Distinct lifetime_start values (milliseconds in Quay) keep the model's newest-first order exact.
    time.sleep(0.005)


def build_repo(ctx: Context, scenario: Scenario) -> tuple[str, list[ModelTag]]:
    """A fresh org and repository holding z0, the scenario's tags (oldest first) and z1. Start times in the model
    are the creation order: only their order matters for number_of_tags."""
    org = ctx.world.org(owner=ctx.owner)
    repo = ctx.world.repo(org, as_=ctx.owner)
    digest = ctx.registry.push(repo, SENTINEL_OLD, make_image(f"{repo}/prune", n_layers=1, layer_size=64))
    tags = [ModelTag(SENTINEL_OLD, 0)]
    for position, name in enumerate(scenario.names, start=1):
        immutable = ctx.immutability and name in scenario.immutable
        set_tag(ctx, repo, name, digest, immutable)
        tags.append(ModelTag(name, position, immutable))
    set_tag(ctx, repo, SENTINEL_NEW, digest, False)
    tags.append(ModelTag(SENTINEL_NEW, len(scenario.names) + 1))
    return repo, tags


def wait_for_prune(ctx: Context, repo: str, expected: set[frozenset[str]]) -> frozenset[str]:
    """Poll until the sentinel's old tag is gone and the active set is a predicted one, or the budget ends."""
    deadline = time.monotonic() + ctx.wait_s
    while True:
        current = frozenset(active_tags(ctx, repo))
        if SENTINEL_OLD not in current and current in expected:
            return current
        if time.monotonic() >= deadline:
            return current
        time.sleep(POLL_INTERVAL_S)


def release_immutable(ctx: Context, repo: str) -> None:
    """Unset immutability so the World can delete the repository (unsetting needs repo admin: the owner)."""
    for name, immutable in active_tags(ctx, repo).items():
        if immutable:
            ctx.owner.client().call("changeTag", repository=repo, tag=name, json={"immutable": False})


@pytest.mark.operation(*OPERATIONS)
@prune_settings()
@given(scenario=scenarios())
def test_surviving_tags_match_the_prune_model(context: Context, scenario: Scenario) -> None:
    if context.timed_out:
        pytest.fail("the prune worker already missed the wait budget in this run")
    repo, tags = build_repo(context, scenario)
    try:
        before = active_tags(context, repo)
        assert set(before) == {t.name for t in tags}, f"the tags were not all created: {sorted(before)}"
        for tag in tags:
            assert before[tag.name] == tag.immutable, f"{tag.name}: immutable is {before[tag.name]}"

        policies = [*scenario.policies, SENTINEL_POLICY]
        for policy in policies:
            answer = expect(context.owner.client().call("createRepositoryAutoPrunePolicy", repository=repo,
                                                        json=policy.body()), 201)
            assert isinstance(answer, dict) and "uuid" in answer, answer

        expected = possible_survivors(tags, policies, now_ms=0)
        got = wait_for_prune(context, repo, expected)
        if SENTINEL_OLD in got:
            context.timed_out = True
            pytest.fail(f"the prune worker did not process {repo} within {context.wait_s:.0f} s "
                        f"(QH_PRUNE_WAIT_S); active tags: {sorted(got)}")
        assert got in expected, (f"survivors {sorted(got)}; the model predicts "
                                 f"{' or '.join(str(sorted(e)) for e in expected)} for tags (oldest first) "
                                 f"{[(t.name, t.immutable) for t in tags]} and policies {policies}")
    finally:
        release_immutable(context, repo)
