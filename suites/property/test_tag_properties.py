"""Hypothesis properties of Quay's tag listing and tag lifecycle (quay-api.md D3; endpoints/api/tag.py and
data/model/oci/tag.py in quay/quay), checked against independent models.

* Pagination: over a repository with a random number of tags (some deleted, some moved, so the full history has
  dead rows), walking page=1.. with a random limit (below 1 and above 100 included) returns exactly the model's
  rows, each once; every page but the last holds min(max(limit, 1), 100) rows; has_additional is exact; rows come
  newest first.
* Lifecycle: a state machine creates, moves, deletes, restores tags and sets future expirations, and after each
  step compares listRepoTags (onlyActiveTags, and the full history) with a model of active tags and history rows.

Every example works in a new repository of one organization made per test, holding two images pushed through
/v2 (the base0/base1 tags); further tags are made with changeTag, which is cheap. The organization's deletion at
the end takes the repositories with it. Budgets come from the active Hypothesis profile."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.world import Target, World
from suites._images import ImagePusher, PushedImage

pytestmark = pytest.mark.area("tag")

PAGE_CAP = 100  # Quay clamps limit to 1..100
# Tags per pagination example: a multiple of the profile's example budget (so "thorough" also means "bigger"),
# capped so that walking with limit=1 stays affordable; above PAGE_CAP the clamp is exercised.
TAGS_PER_EXAMPLE = 3
MAX_TAGS = 130
# A cap on state-machine steps per example (Hypothesis' default is 50); examples come from the active profile.
MAX_STEPS = 20
NAMES = ["base0", "base1", "t0", "t1", "t2"]  # the machine's tag names: the pushed two and three of its own
EXPIRY_AHEAD = 7200  # seconds: past Quay's 1 h minimum (LABELED_EXPIRATION_MINIMUM), even with some clock skew
SLACK = 120  # seconds of clock difference tolerated between the harness and the target


def machine_settings() -> settings:
    """The active profile (dev/ci/thorough) with the steps per example capped."""
    active = settings()
    return settings(active, stateful_step_count=min(active.stateful_step_count, MAX_STEPS), deadline=None)


@dataclass
class Sandbox:
    """Where examples make their repositories: one organization owned by the superuser, who pushes."""

    world: World
    target: Target
    org: str
    pusher: ImagePusher
    made: int = 0

    def new_repo(self) -> tuple[QuayClient, str, list[PushedImage]]:
        """A new private repository with base0 -> image 0 and base1 -> image 1 (image 1 has two layers)."""
        repo = self.world.repo(self.org)
        self.made += 1
        images = [self.pusher.push_image(repo, f"base{i}", f"{repo}/{i}", layers=i + 1) for i in range(2)]
        return self.world.admin.client(), repo, images


@pytest.fixture
def sandbox(world: World, target: Target) -> Any:
    org = world.org()
    with ImagePusher(target, world.admin) as pusher:
        yield Sandbox(world, target, org, pusher)


def walk(client: QuayClient, repo: str, limit: int, active_only: bool) -> list[dict[str, Any]]:
    """Walk page=1.. until has_additional is false, checking each page's size and echo; return all rows."""
    effective = min(max(limit, 1), PAGE_CAP)
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        params: dict[str, Any] = {"page": page, "limit": limit}
        if active_only:
            params["onlyActiveTags"] = "true"
        response = client.call("listRepoTags", repository=repo, params=params)
        body = expect(response, 200)
        if set(body) != {"tags", "page", "has_additional"} or body["page"] != page:
            raise TargetMismatch(response, f"expected {{tags, page: {page}, has_additional}}")
        if len(body["tags"]) > effective:
            raise TargetMismatch(response, f"page holds {len(body['tags'])} rows, more than {effective}")
        if page > 1 and not body["tags"]:
            raise TargetMismatch(response, "the previous page said has_additional, but this page is empty")
        rows.extend(body["tags"])
        if not body["has_additional"]:
            return rows
        if len(body["tags"]) != effective:
            raise TargetMismatch(response, f"a page before the last must hold exactly {effective} rows")
        if page > 10_000:  # a target that always answers has_additional would loop forever
            raise TargetMismatch(response, "has_additional never became false")
        page += 1


def row_key(row: dict[str, Any]) -> tuple[str, str, bool]:
    """What identifies a history row in these models: (name, digest, ended)."""
    return row["name"], row["manifest_digest"], "end_ts" in row


# ---- pagination ------------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepoTags", "changeTag", "deleteFullTag")
def test_union_of_pages_is_the_full_listing_without_duplicates(sandbox: Sandbox) -> None:
    # @given inside the test: the sandbox is deliberately shared by the examples (each makes its own repository),
    # and the settings are the active profile's at run time. Examples are network round-trips, so no deadline
    # (the named profiles say so too; this covers a run where none was loaded).
    @settings(settings(), deadline=None)
    @given(data=st.data())
    def union_of_pages(data: st.DataObject) -> None:
        check_pagination(sandbox, data)

    union_of_pages()


def check_pagination(sandbox: Sandbox, data: st.DataObject) -> None:
    budget = min(MAX_TAGS, TAGS_PER_EXAMPLE * settings().max_examples)
    count = data.draw(st.integers(0, budget), label="tags")
    deleted = data.draw(st.sets(st.integers(0, max(count - 1, 0)), max_size=count // 3 + 1), label="deleted")
    moved = data.draw(st.sets(st.integers(0, max(count - 1, 0)), max_size=count // 3 + 1), label="moved")
    limit = data.draw(st.one_of(st.integers(-1, 5), st.integers(6, 150)), label="limit")
    active_only = data.draw(st.booleans(), label="onlyActiveTags")

    client, repo, images = sandbox.new_repo()
    # The model: (name, digest, ended) per history row.
    rows: Counter[tuple[str, str, bool]] = Counter({("base0", images[0].digest, False): 1,
                                                    ("base1", images[1].digest, False): 1})
    for i in range(count):
        name = f"p{i}"
        expect(client.call("changeTag", repository=repo, tag=name, json={"manifest_digest": images[i % 2].digest}),
               201)
        rows[(name, images[i % 2].digest, False)] += 1
    for i in sorted(moved & set(range(count))):
        name, old, new = f"p{i}", images[i % 2].digest, images[(i + 1) % 2].digest
        expect(client.call("changeTag", repository=repo, tag=name, json={"manifest_digest": new}), 201)
        rows[(name, old, False)] -= 1
        rows[(name, old, True)] += 1
        rows[(name, new, False)] += 1
    for i in sorted(deleted & set(range(count))):
        name = f"p{i}"
        live = next(key for key in rows if key[0] == name and not key[2] and rows[key])
        expect(client.call("deleteFullTag", repository=repo, tag=name), 204)
        rows[live] -= 1
        rows[(name, live[1], True)] += 1
    rows = +rows  # drop zero counts
    want = Counter({key: n for key, n in rows.items() if not key[2]}) if active_only else rows

    got = walk(client, repo, limit, active_only)
    seen = Counter(row_key(row) for row in got)
    duplicates = sorted(key for key, n in seen.items() if n > 1)
    assert not duplicates, f"rows listed twice across pages: {duplicates}"
    assert seen == want, (f"union of pages differs from the repository's tags (limit={limit}, onlyActiveTags="
                          f"{active_only}): missing {sorted((want - seen).elements())}, "
                          f"unexpected {sorted((seen - want).elements())}")
    starts = [row["start_ts"] for row in got]
    assert starts == sorted(starts, reverse=True), "rows are not newest first across pages"


# ---- lifecycle state machine -----------------------------------------------------------------------------------
@dataclass
class ModelRow:
    name: str
    digest: str
    reversion: bool = False
    end: int | None = None  # expiration in epoch seconds (in the future) while the row is live
    ended: bool = False  # ended by a delete, a move or a restore

    def active(self) -> bool:
        return not self.ended

    def key(self) -> tuple[str, str, bool, str]:
        state = "ended" if self.ended else ("open" if self.end is None else f"expires {self.end}")
        return self.name, self.digest, self.reversion, state


@dataclass
class TagModel:
    """Quay's tag rows for one repository: every version of every tag; at most one active row per name."""

    rows: list[ModelRow] = field(default_factory=list)

    def live(self, name: str) -> ModelRow | None:
        return next((r for r in self.rows if r.name == name and r.active()), None)

    def retarget(self, name: str, digest: str, reversion: bool) -> None:
        # The live row (if any) ends now and a new open row starts; its expiration is not carried over.
        current = self.live(name)
        if current is not None:
            current.ended = True
        self.rows.append(ModelRow(name, digest, reversion))

    def delete(self, name: str) -> bool:
        current = self.live(name)
        if current is None:
            return False
        current.ended = True
        return True

    def expire(self, name: str, when: int | None) -> bool:
        current = self.live(name)
        if current is None:
            return False
        current.end = when
        return True

    def active_map(self) -> dict[str, str]:
        return {r.name: r.digest for r in self.rows if r.active()}

    def reachable(self, digest: str) -> bool:
        """A live tag points at the manifest: only then may changeTag move a tag to it (restoreTag may always)."""
        return any(r.digest == digest and r.active() for r in self.rows)


def observed_key(row: dict[str, Any], now: float) -> tuple[str, str, bool, str]:
    end = row.get("end_ts")
    if end is None:
        state = "open"
    elif end > now + SLACK:
        state = f"expires {end}"
    else:
        state = "ended"
    return row["name"], row["manifest_digest"], bool(row["reversion"]), state


class TagLifecycle(RuleBasedStateMachine):
    """Set per test by `test_tag_lifecycle_matches_the_model` (Hypothesis builds the machine itself)."""

    sandbox: ClassVar[Sandbox]

    def __init__(self) -> None:
        super().__init__()
        self.model = TagModel()
        self.trace: list[str] = []
        self.client: QuayClient
        self.repo = ""
        self.digests: list[str] = []

    @initialize()
    def new_repository(self) -> None:
        self.client, self.repo, images = self.sandbox.new_repo()
        self.digests = [image.digest for image in images]
        for i, digest in enumerate(self.digests):
            self.model.rows.append(ModelRow(f"base{i}", digest))
        self.trace.append(f"push base0 -> image0, base1 -> image1 into {self.repo}")

    def _call(self, what: str, status: int, operation: str, **kwargs: Any) -> Any:
        self.trace.append(what)
        response = self.client.call(operation, repository=self.repo, **kwargs)
        if response.status_code != status:
            raise TargetMismatch(response, f"expected HTTP {status} per Quay's tag model after:\n" + self._steps())
        return expect(response, status)

    def _steps(self) -> str:
        return "\n".join(f"  {i + 1}. {step}" for i, step in enumerate(self.trace))

    @rule(name=st.sampled_from(NAMES), image=st.integers(0, 1))
    def put_tag(self, name: str, image: int) -> None:
        """Create the tag, or move it (also to the manifest it already has: Quay still starts a new row). Quay looks
        the manifest up among those a live tag reaches: one that only ended tags reach is 404 (restoreTag brings
        such a manifest back)."""
        digest = self.digests[image]
        if not self.model.reachable(digest):
            self._call(f"changeTag {name} -> image{image} (no live tag reaches it)", 404, "changeTag", tag=name,
                       json={"manifest_digest": digest})
            return
        body = self._call(f"changeTag {name} -> image{image}", 201, "changeTag", tag=name,
                          json={"manifest_digest": digest})
        assert body == "Updated", f"changeTag answered {body!r}, Quay answers \"Updated\""
        self.model.retarget(name, digest, reversion=False)

    @rule(name=st.sampled_from(NAMES))
    def delete_tag(self, name: str) -> None:
        exists = self.model.live(name) is not None
        self._call(f"deleteFullTag {name}", 204 if exists else 404, "deleteFullTag", tag=name)
        self.model.delete(name)

    @rule(name=st.sampled_from(NAMES), image=st.integers(0, 1))
    def restore_tag(self, name: str, image: int) -> None:
        """Restore to a manifest of the repository (dead or alive): a new reversion row."""
        body = self._call(f"restoreTag {name} -> image{image}", 200, "restoreTag", tag=name,
                          json={"manifest_digest": self.digests[image]})
        assert body == {}, f"restoreTag answered {body!r}, Quay answers {{}}"
        self.model.retarget(name, self.digests[image], reversion=True)

    @rule(name=st.sampled_from(NAMES), ahead=st.one_of(st.none(), st.integers(EXPIRY_AHEAD, 2 * EXPIRY_AHEAD)))
    def set_expiration(self, name: str, ahead: int | None) -> None:
        """A future expiration (or null, clearing it) changes the live row; no live row gives 404."""
        when = None if ahead is None else int(time.time()) + ahead
        exists = self.model.live(name) is not None
        self._call(f"changeTag {name} expiration={when}", 201 if exists else 404, "changeTag", tag=name,
                   json={"expiration": when})
        self.model.expire(name, when)

    @invariant()
    def listing_matches_the_model(self) -> None:
        if not self.repo:
            return
        now = time.time()
        active = walk(self.client, self.repo, PAGE_CAP, active_only=True)
        got_active = {row["name"]: row["manifest_digest"] for row in active}
        assert len(active) == len(got_active), f"a tag is listed twice among active tags after:\n{self._steps()}"
        assert got_active == self.model.active_map(), (
            f"active tags {got_active} differ from the model {self.model.active_map()} after:\n{self._steps()}")
        rows = walk(self.client, self.repo, PAGE_CAP, active_only=False)
        got = Counter(observed_key(row, now) for row in rows)
        want = Counter(r.key() for r in self.model.rows)
        assert got == want, (f"tag history differs from the model: missing {sorted((want - got).elements())}, "
                             f"unexpected {sorted((got - want).elements())} after:\n{self._steps()}")
        for row in rows:
            if "end_ts" in row:
                assert row["end_ts"] >= row["start_ts"], f"row ends before it starts: {row}"
        starts = [row["start_ts"] for row in rows]
        assert starts == sorted(starts, reverse=True), "history is not newest first"


@pytest.mark.operation("listRepoTags", "changeTag", "deleteFullTag", "restoreTag")
def test_tag_lifecycle_matches_the_model(sandbox: Sandbox) -> None:
    TagLifecycle.sandbox = sandbox
    run_state_machine_as_test(TagLifecycle, settings=machine_settings())
