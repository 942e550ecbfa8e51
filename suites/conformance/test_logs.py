"""Conformance of the logs area: the audit log listings of a repository, an organization and the caller's own
namespace, and their aggregated counts. Expectations are Quay's (quay-api.md A rows 19, 47, 119, 142, 241, 265;
B; C (plain-abort `{"message"}` shape); D4), never the reference server's declarations.

Every test makes its own namespace, so the listings hold only what the test did."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World
from suites._images import seed_repo

pytestmark = pytest.mark.area("logs")

PAGE_SIZE = 20
LOG_KEYS = {"kind", "metadata", "ip", "datetime"}
PERFORMER_KEYS = {"kind", "name", "is_robot", "avatar"}
DATE_FORMAT = "%m/%d/%Y"
# Metadata keys Quay writes (D4; set_repo_description from endpoints/api/repository.py).
CREATE_REPO_KEYS = {"repo", "namespace"}
CREATE_TAG_KEYS = {"username", "repo", "tag", "namespace", "manifest_digest"}
SET_DESCRIPTION_KEYS = {"repo", "namespace"}


def _day(offset_days: int = 0) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=offset_days)).strftime(DATE_FORMAT)


# Yesterday through today (the end date counts as a whole day): holds everything a test just did, even around
# midnight UTC, and is well inside the 31-day aggregate limit.
WINDOW = {"starttime": _day(-1), "endtime": _day(0)}


def _page(client: QuayClient, op: str, params: dict[str, str] | None = None, **path: str) -> dict[str, Any]:
    body = expect(client.call(op, params=params, **path), 200)
    assert isinstance(body, dict) and isinstance(body.get("logs"), list), body
    assert {"start_time", "end_time"} <= set(body), f"a log page carries start_time and end_time: {sorted(body)}"
    for entry in body["logs"]:
        assert set(entry) >= LOG_KEYS, f"log entry lacks {LOG_KEYS - set(entry)}: {entry}"
        assert isinstance(entry["metadata"], dict), entry
    return body


def _all_logs(client: QuayClient, op: str, params: dict[str, str] | None = None, **path: str,
              ) -> list[dict[str, Any]]:
    """Every entry, following next_page until it is absent (bounded, so a token that never ends fails)."""
    entries: list[dict[str, Any]] = []
    token: str | None = None
    for _ in range(100):
        query = dict(params or {})
        if token:
            query["next_page"] = token
        body = _page(client, op, query or None, **path)
        entries.extend(body["logs"])
        token = body.get("next_page")
        if not token:
            return entries
    raise AssertionError(f"{op}: next_page still present after 100 pages")


def _kinds(entries: list[dict[str, Any]]) -> Counter[str]:
    return Counter(str(e["kind"]) for e in entries)


def _of_kind(entries: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["kind"] == kind]


def _aggregated(client: QuayClient, op: str, params: dict[str, str] | None = None, **path: str) -> Counter[str]:
    body = expect(client.call(op, params=params, **path), 200)
    assert isinstance(body, dict) and isinstance(body.get("aggregated"), list), body
    counts: Counter[str] = Counter()
    for item in body["aggregated"]:
        assert {"kind", "count", "datetime"} <= set(item), item
        assert isinstance(item["count"], int) and item["count"] > 0, item
        counts[str(item["kind"])] += item["count"]
    return counts


def _check_performer(entry: dict[str, Any], name: str) -> None:
    performer = entry.get("performer")
    assert isinstance(performer, dict) and set(performer) >= PERFORMER_KEYS, entry
    assert performer["name"] == name and performer["kind"] == "user" and performer["is_robot"] is False, performer


def _owned_org(world: World) -> tuple[Persona, str]:
    owner = world.user()
    return owner, world.org(owner=owner)


# ---- what is logged ------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepoLogs", "listOrgLogs", "createRepo", "updateRepo", "changeTag")
def test_repo_and_org_logs_record_create_describe_and_tag(world: World, target: Target) -> None:
    seeded = seed_repo(world, target, images=1)
    client, repo, performer = seeded.owner.client(), seeded.repo, seeded.owner.name
    namespace, name = repo.split("/", 1)
    expect(client.call("updateRepo", repository=repo, json={"description": "logged description"}), 200)
    expect(client.call("changeTag", repository=repo, tag="logged", json={"manifest_digest": seeded.images[0].digest}),
           201)

    for op, path in (("listRepoLogs", {"repository": repo}), ("listOrgLogs", {"orgname": seeded.org})):
        entries = _all_logs(client, op, **path)
        created = _of_kind(entries, "create_repo")
        assert len(created) == 1, f"{op}: expected one create_repo, got kinds {_kinds(entries)}"
        assert set(created[0]["metadata"]) >= CREATE_REPO_KEYS, created[0]
        assert created[0]["metadata"]["repo"] == name and created[0]["metadata"]["namespace"] == namespace
        _check_performer(created[0], performer)

        described = _of_kind(entries, "set_repo_description")
        assert len(described) == 1, f"{op}: expected one set_repo_description, got kinds {_kinds(entries)}"
        assert set(described[0]["metadata"]) >= SET_DESCRIPTION_KEYS, described[0]
        assert described[0]["metadata"]["repo"] == name
        _check_performer(described[0], performer)

        tagged = [e for e in _of_kind(entries, "create_tag") if e["metadata"].get("tag") == "logged"]
        assert len(tagged) == 1, f"{op}: expected create_tag for 'logged', got {_of_kind(entries, 'create_tag')}"
        meta = tagged[0]["metadata"]
        assert set(meta) >= CREATE_TAG_KEYS, meta
        assert meta["repo"] == name and meta["namespace"] == namespace
        assert meta["manifest_digest"] == seeded.images[0].digest and meta["username"] == performer
        _check_performer(tagged[0], performer)


@pytest.mark.operation("listRepoLogs")
def test_repo_logs_are_newest_first(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    expect(owner.client().call("updateRepo", repository=repo, json={"description": "later"}), 200)
    entries = _all_logs(owner.client(), "listRepoLogs", repository=repo)
    kinds = [e["kind"] for e in entries]
    assert kinds.index("set_repo_description") < kinds.index("create_repo"), kinds


@pytest.mark.operation("listUserLogs", "createRepo", "updateRepo")
def test_user_logs_hold_the_callers_own_namespace(world: World) -> None:
    user = world.user()
    repo = world.repo(user.name, as_=user)
    expect(user.client().call("updateRepo", repository=repo, json={"description": "mine"}), 200)
    entries = _all_logs(user.client(), "listUserLogs")
    created = [e for e in _of_kind(entries, "create_repo") if e["metadata"].get("repo") == repo.split("/", 1)[1]]
    assert len(created) == 1, _kinds(entries)
    _check_performer(created[0], user.name)
    assert len(_of_kind(entries, "set_repo_description")) == 1
    # Another user's namespace is not in this user's listing.
    other = world.user()
    assert not _of_kind(_all_logs(other.client(), "listUserLogs"), "set_repo_description")


# ---- paging ----------------------------------------------------------------------------------------------------
DESCRIPTIONS = 25


@pytest.mark.operation("listRepoLogs", "updateRepo")
def test_walking_next_page_returns_every_entry_exactly_once(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    client = owner.client()
    texts = [f"description {i}" for i in range(DESCRIPTIONS)]
    for text in texts:
        expect(client.call("updateRepo", repository=repo, json={"description": text}), 200)

    first = _page(client, "listRepoLogs", repository=repo)
    assert len(first["logs"]) == PAGE_SIZE, f"a full first page holds {PAGE_SIZE} entries"
    assert first.get("next_page"), "more than one page of entries: the first page carries next_page"

    entries = _all_logs(client, "listRepoLogs", repository=repo)
    kinds = _kinds(entries)
    assert kinds["set_repo_description"] == DESCRIPTIONS and kinds["create_repo"] == 1, kinds
    assert len(entries) == DESCRIPTIONS + 1, kinds
    described = [e["metadata"].get("description") for e in _of_kind(entries, "set_repo_description")]
    if all(isinstance(d, str) for d in described):
        # Quay writes the new description into the metadata: each one appears exactly once.
        assert sorted(described) == sorted(texts), described


@pytest.mark.operation("listRepoLogs")
def test_an_invalid_next_page_token_restarts_from_the_first_page(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    fresh = _page(owner.client(), "listRepoLogs", repository=repo)
    restarted = _page(owner.client(), "listRepoLogs", {"next_page": "not-a-token"}, repository=repo)
    assert _kinds(restarted["logs"]) == _kinds(fresh["logs"])


# ---- aggregates ------------------------------------------------------------------------------------------------
def _activity(world: World) -> tuple[Persona, str, str]:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    for i in range(3):
        expect(owner.client().call("updateRepo", repository=repo, json={"description": f"d{i}"}), 200)
    return owner, org, repo


@pytest.mark.operation("getAggregateRepoLogs", "listRepoLogs")
def test_repo_aggregate_counts_equal_the_detailed_counts(world: World) -> None:
    owner, _, repo = _activity(world)
    detailed = _kinds(_all_logs(owner.client(), "listRepoLogs", WINDOW, repository=repo))
    assert detailed["set_repo_description"] == 3
    assert _aggregated(owner.client(), "getAggregateRepoLogs", WINDOW, repository=repo) == detailed


@pytest.mark.operation("getAggregateOrgLogs", "listOrgLogs")
def test_org_aggregate_counts_equal_the_detailed_counts(world: World) -> None:
    owner, org, _ = _activity(world)
    detailed = _kinds(_all_logs(owner.client(), "listOrgLogs", WINDOW, orgname=org))
    assert detailed["set_repo_description"] == 3 and detailed["create_repo"] == 1
    assert _aggregated(owner.client(), "getAggregateOrgLogs", WINDOW, orgname=org) == detailed


@pytest.mark.operation("getAggregateUserLogs", "listUserLogs")
def test_user_aggregate_counts_equal_the_detailed_counts(world: World) -> None:
    user = world.user()
    repo = world.repo(user.name, as_=user)
    expect(user.client().call("updateRepo", repository=repo, json={"description": "x"}), 200)
    detailed = _kinds(_all_logs(user.client(), "listUserLogs", WINDOW))
    assert detailed["set_repo_description"] == 1
    assert _aggregated(user.client(), "getAggregateUserLogs", WINDOW) == detailed


@pytest.mark.operation("getAggregateRepoLogs")
def test_aggregate_over_more_than_31_days_is_400(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    response = owner.client().call("getAggregateRepoLogs", repository=repo,
                                   params={"starttime": _day(-60), "endtime": _day(0)})
    body = expect(response, 400)
    assert "Invalid date range for logs" in json.dumps(body), body


# ---- the time window -------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepoLogs")
def test_a_window_in_the_past_holds_none_of_todays_entries(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = _page(owner.client(), "listRepoLogs", {"starttime": "01/01/2020", "endtime": "01/02/2020"},
                 repository=repo)
    assert body["logs"] == [] and not body.get("next_page")
    assert _of_kind(_page(owner.client(), "listRepoLogs", WINDOW, repository=repo)["logs"], "create_repo")


@pytest.mark.operation("listRepoLogs")
@pytest.mark.parametrize("params", [{"starttime": "2020-01-01"}, {"endtime": "yesterday"},
                                    {"starttime": "13/45/2020", "endtime": "nonsense"}],
                         ids=["iso-start", "word-end", "both-bad"])
def test_unparseable_dates_are_ignored(world: World, params: dict[str, str]) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    body = _page(owner.client(), "listRepoLogs", params, repository=repo)
    assert len(_of_kind(body["logs"], "create_repo")) == 1, "the default window (the last day) applies"


@pytest.mark.operation("listRepoLogs", "listOrgLogs", "listUserLogs")
def test_end_before_start_is_400(world: World) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    reversed_window = {"starttime": _day(0), "endtime": _day(-5)}
    client = owner.client()
    for response in (client.call("listRepoLogs", repository=repo, params=reversed_window),
                     client.call("listOrgLogs", orgname=org, params=reversed_window),
                     client.call("listUserLogs", params=reversed_window)):
        expect(response, 400, shape="message")


# ---- who may ---------------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepoLogs", "getAggregateRepoLogs")
def test_repo_logs_are_403_for_outsider_and_writer_401_anonymous(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    repo = world.repo(org, as_=owner)
    outsider, writer = world.user(), world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    for client in (outsider.client(), writer.client()):
        expect(client.call("listRepoLogs", repository=repo), 403, error_type="insufficient_scope")
        expect(client.call("getAggregateRepoLogs", repository=repo), 403, error_type="insufficient_scope")
    expect(target.anon.call("listRepoLogs", repository=repo), 401, error_type="invalid_token")
    expect(target.anon.call("getAggregateRepoLogs", repository=repo), 401, error_type="invalid_token")


@pytest.mark.operation("listOrgLogs", "getAggregateOrgLogs")
def test_org_logs_are_403_for_outsider_401_anonymous(world: World, target: Target) -> None:
    _, org = _owned_org(world)
    outsider = world.user()
    expect(outsider.client().call("listOrgLogs", orgname=org), 403, error_type="insufficient_scope")
    expect(outsider.client().call("getAggregateOrgLogs", orgname=org), 403, error_type="insufficient_scope")
    expect(target.anon.call("listOrgLogs", orgname=org), 401, error_type="invalid_token")
    expect(target.anon.call("getAggregateOrgLogs", orgname=org), 401, error_type="invalid_token")


@pytest.mark.operation("listUserLogs", "getAggregateUserLogs")
def test_user_logs_are_401_anonymous(target: Target) -> None:
    expect(target.anon.call("listUserLogs"), 401, error_type="invalid_token")
    expect(target.anon.call("getAggregateUserLogs"), 401, error_type="invalid_token")


@pytest.mark.operation("listRepoLogs")
def test_repo_logs_of_unknown_repo_is_404_for_namespace_admin(world: World) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("listRepoLogs", repository=f"{org}/nosuchrepo"), 404, error_type="not_found")
