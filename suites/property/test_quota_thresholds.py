"""Quota enforcement on push against an independent model of Quay's rule.

Each example makes a fresh organization (usage starts at 0), gives it a quota of `limit_bytes` with 1-3 Warning /
Reject limits, then pushes 2-5 small images through /v2 into two repositories of that organization. Before every push
the model predicts "accepted" or "refused" and the namespace usage afterwards; the target must agree on both (a
refusal is HTTP 403 with errors[0].code == "DENIED"; usage is read from getOrganization's quota_report).

The model is written from Quay's code (data/model/namespacequota.py check_limits, data/model/quota.py update_sizes,
endpoints/v2/blob.py and manifest.py), which quay-api.md D5 describes:

* usage = the sum of the compressed sizes of the distinct blobs (config and layers) that manifests in the namespace
  reference; a blob already counted in the namespace is not counted again, whichever repository it is pushed to.
* a limit is hit when usage >= int(limit_bytes * percent / 100) on Quay 3.18 and later, and when usage > that before
  (check_limits compared strictly until 3.18; quay-api.md D5 describes the newer `>=`). The model takes the
  comparison of the target's version (see `usage_hits`).
* the severity is the type of the hit limit with the largest allowed bytes, so a hit Warning above a hit Reject
  masks the Reject (D5: "the highest allowed-bytes hit gives the severity"). Only severity Reject refuses.
* the check runs when a blob upload starts or finishes (current usage: the harness uploads each blob in one PUT,
  so no bytes are in flight), and again on the manifest PUT after the manifest's blobs have been added to usage.
  A push refused there keeps its blobs counted (Quay gives the manifest an expired temporary tag; only GC frees it).

Routes: the quota itself is made with createOrganizationQuotaSuperUser, which every superuser may call. Limits can
only be added by createOrganizationQuotaLimit, which Quay gives to superusers with FEATURE_SUPERUSERS_FULL_ACCESS
alone (an org admin and a plain superuser get 403; user namespaces have no limit route at all). So with full access
the property draws 1-3 Warning/Reject limits; without it the quota has no limit, and the property checks what still
holds: no push is ever refused, and usage counts each distinct blob of the namespace once. Reject thresholds cannot
be checked without full access, because no route of Quay's API can add one.
"""

from __future__ import annotations

import gzip
import io
import random
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.checks import expect
from harness.oci import Image, RegistryClient, RegistryError, default_config
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("namespacequota")

OPERATIONS = ("createOrganizationQuotaSuperUser", "listOrganizationQuotaSuperUser", "getOrganization",
              "createOrganization", "createRepo")
REPOS_PER_EXAMPLE = 2
# A fraction of the profile's examples: each one creates an organization, two repositories, a quota and up to five
# image pushes, about ten times the round trips of an RBAC step.
EXAMPLE_DIVISOR = 2


def quota_settings() -> settings:
    """The active profile (dev/ci/thorough) with its example budget scaled down for this expensive property. The
    fixture is function-scoped on purpose (one owner and registry client for all examples; each example makes its
    own organization) and network round trips make deadlines meaningless, even when no named profile is loaded."""
    active = settings()
    return settings(active, max_examples=max(1, active.max_examples // EXAMPLE_DIVISOR), deadline=None,
                    suppress_health_check=[*active.suppress_health_check, HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


# ---- the model ----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Limit:
    kind: str  # "Warning" or "Reject"
    percent: int


def allowed_bytes(limit_bytes: int, limit: Limit) -> int:
    return int(limit_bytes * limit.percent / 100)


def usage_hits(usage: int, allowed: int, inclusive: bool) -> bool:
    return usage >= allowed if inclusive else usage > allowed


def severity(usage: int, limit_bytes: int, limits: list[Limit], inclusive: bool) -> str | None:
    """The type of the hit limit with the largest allowed bytes (None: nothing hit). Percents are distinct and
    limit_bytes >= 100, so allowed bytes are distinct and there is no tie to break."""
    hit = [(allowed_bytes(limit_bytes, lim), lim.kind) for lim in limits
           if usage_hits(usage, allowed_bytes(limit_bytes, lim), inclusive)]
    return max(hit)[1] if hit else None


@dataclass
class QuotaModel:
    limit_bytes: int
    limits: list[Limit]
    inclusive: bool  # the target's comparison: >= since Quay 3.18 (profile.has("quota_limit_inclusive"))
    usage: int = 0
    counted: set[str] = field(default_factory=set)  # blob digests already in the namespace's usage

    def severity(self) -> str | None:
        return severity(self.usage, self.limit_bytes, self.limits, self.inclusive)

    def push(self, blobs: dict[str, int]) -> bool:
        """Apply one push of these blobs (digest -> size); True when Quay accepts it."""
        if self.severity() == "Reject":
            return False  # refused when the first blob upload starts; nothing is counted
        for digest, size in blobs.items():
            if digest not in self.counted:
                self.counted.add(digest)
                self.usage += size
        # The manifest PUT checks again after its blobs were added, and they stay counted when it is refused.
        return self.severity() != "Reject"


# ---- images -------------------------------------------------------------------------------------------------------
def layer(payload: bytes) -> bytes:
    """A gzipped one-file tar (a real layer, so a real Quay accepts it); random payloads do not compress, so the
    blob is a little larger than the payload."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo("data.bin")
        info.size, info.mtime = len(payload), 0
        tar.addfile(info, io.BytesIO(payload))
    return gzip.compress(raw.getvalue(), mtime=0)


@dataclass(frozen=True)
class PushPlan:
    repo_index: int
    fresh: tuple[int, ...]  # payload sizes of new layers
    reuse: tuple[int, ...]  # picks among the layers made so far (taken modulo their number)


push_plans = st.builds(
    PushPlan,
    repo_index=st.integers(0, REPOS_PER_EXAMPLE - 1),
    fresh=st.lists(st.integers(200, 6_000), min_size=1, max_size=2).map(tuple),
    reuse=st.lists(st.integers(0, 50), max_size=1).map(tuple),
)
limit_sets = st.lists(st.builds(Limit, kind=st.sampled_from(["Warning", "Reject"]), percent=st.integers(1, 100)),
                      min_size=1, max_size=3, unique_by=lambda lim: lim.percent)


def describe(limit_bytes: int, limits: list[Limit]) -> str:
    parts = [f"{lim.kind} {lim.percent}% (allowed {allowed_bytes(limit_bytes, lim)})" for lim in limits]
    return f"limit_bytes={limit_bytes}, limits: {', '.join(parts)}"


# ---- the property -------------------------------------------------------------------------------------------------
@dataclass
class Context:
    target: Target
    world: World
    owner: Persona
    registry: RegistryClient


@pytest.fixture
def context(target: Target, world: World) -> Iterator[Context]:
    owner = world.user()
    registry = target.registry_client(owner.name, owner.password)
    try:
        yield Context(target, world, owner, registry)
    finally:
        registry.close()


def setup_namespace(ctx: Context, limit_bytes: int, limits: list[Limit]) -> tuple[str, list[str]]:
    admin = ctx.target.admin
    org = ctx.world.org(owner=ctx.owner)
    answer = expect(admin.call("createOrganizationQuotaSuperUser", namespace=org,
                               json={"limit_bytes": limit_bytes}), 201)
    assert answer == "Created", answer
    quotas = expect(admin.call("listOrganizationQuotaSuperUser", namespace=org), 200)
    assert isinstance(quotas, list) and len(quotas) == 1, quotas
    for lim in limits:
        expect(admin.call("createOrganizationQuotaLimit", orgname=org, quota_id=quotas[0]["id"],
                          json={"type": lim.kind, "threshold_percent": lim.percent}), 201,
               why="a superuser with full access adds a quota limit with 201")
    repos = [ctx.world.repo(org, as_=ctx.owner) for _ in range(REPOS_PER_EXAMPLE)]
    return org, repos


def namespace_usage(ctx: Context, org: str) -> int:
    body = expect(ctx.owner.client().call("getOrganization", orgname=org), 200)
    report = body.get("quota_report") if isinstance(body, dict) else None
    assert isinstance(report, dict), f"getOrganization for an org admin has no quota_report: {body}"
    return int(report["quota_bytes"])


def push_refused(ctx: Context, repo: str, tag: str, image: Image) -> bool:
    try:
        ctx.registry.push(repo, tag, image)
    except RegistryError as exc:
        if exc.status == 403:
            assert exc.code == "DENIED", f"a quota refusal is 403 DENIED, got codes {exc.codes}"
            return True
        raise
    return False


@pytest.mark.operation(*OPERATIONS)
@quota_settings()
@given(limit_bytes=st.integers(2_000, 40_000), data=st.data(),
       plans=st.lists(push_plans, min_size=2, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_pushes_are_refused_exactly_when_quays_rule_says(context: Context, limit_bytes: int, data: st.DataObject,
                                                         plans: list[PushPlan], seed: int) -> None:
    ctx = context
    profile = ctx.target.profile
    # Without full access no route adds a limit (see the module docstring): the quota stands alone.
    limits = data.draw(limit_sets, label="limits") if profile.full_access else []
    org, repos = setup_namespace(ctx, limit_bytes, limits)
    model = QuotaModel(limit_bytes, limits, inclusive=profile.has("quota_limit_inclusive"))
    rng = random.Random(seed)  # payload bytes only; sizes and structure come from Hypothesis
    made: list[bytes] = []
    comparison = ">=" if model.inclusive else ">"
    trace = [f"{describe(limit_bytes, limits)}; a limit is hit when usage {comparison} allowed "
             f"(Quay {profile.version or 'of unknown version'})"]
    for step, plan in enumerate(plans):
        layers = [layer(rng.randbytes(size)) for size in plan.fresh]
        made.extend(layers)
        layers += [made[pick % len(made)] for pick in plan.reuse if made[pick % len(made)] not in layers]
        # A label unique to the push makes its config (and so its manifest) new, so every push uploads a blob.
        image = Image(tuple(layers), default_config(layers, {"io.quay-harness.push": f"{org}/{step}"}))
        blobs = dict(zip(image.digests, [len(image.config_bytes), *(len(b) for b in layers)], strict=True))
        before = model.usage
        accepted = model.push(blobs)
        refused = push_refused(ctx, repos[plan.repo_index], f"push{step}", image)
        trace.append(f"push {step} to repo {plan.repo_index}: {len(blobs)} blobs, usage {before} -> {model.usage}, "
                     f"model {'accepts' if accepted else 'refuses'}, target {'refused' if refused else 'accepted'}")
        if refused == accepted:
            rule = ("a push is refused once usage reaches a Reject limit" if model.inclusive
                    else "a push is refused once usage is above a Reject limit") if limits else \
                "a quota without limits refuses nothing"
            raise AssertionError(f"Quay {'accepts' if accepted else 'refuses'} push {step} ({rule}); the target "
                                 f"{'refused' if refused else 'accepted'} it. Steps:\n" + "\n".join(trace))
        observed = namespace_usage(ctx, org)
        assert observed == model.usage, (
            f"Quay counts each distinct blob of the namespace once: usage should be {model.usage} bytes, the "
            f"target's getOrganization quota_report.quota_bytes says {observed}. Steps:\n" + "\n".join(trace))
