"""Conformance of the tag area: listing tag history, creating/moving tags, expirations, soft deletes and restores,
and the feature-gated time-machine removal and pull statistics. Expectations are Quay's (quay-api.md A rows
171-176, B, C, D1 tag names, D3; quay-observed.md tag list bodies), never the reference server's declarations.

Images are pushed once per test through /v2 (suites/_images.py); further tags are made with changeTag, which is
cheap."""

from __future__ import annotations

import calendar
import re
import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Target, World
from suites._images import SeededRepo, seed_repo

pytestmark = pytest.mark.area("tag")

UNKNOWN_DIGEST = "sha256:" + "0" * 64
# Keys a tag row always has, and every key it may have (immutable only with FEATURE_IMMUTABLE_TAGS; end_ts and
# expiration only when the row has an end; the manifest-list keys only for manifest lists).
ROW_REQUIRED = {"name", "reversion", "start_ts", "manifest_digest", "is_manifest_list", "size", "last_modified"}
ROW_ALLOWED = ROW_REQUIRED | {"immutable", "end_ts", "expiration", "is_sparse", "child_manifest_count",
                              "present_child_count", "child_manifests_presence"}
RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} [-+]\d{4}$")
TAG_ERROR_FRAGMENT = "Invalid tag"
# Quay keeps an expiration between 1 hour and 104 weeks after the tag's start (LABELED_EXPIRATION_MINIMUM/MAXIMUM
# defaults in data/model/oci/tag.py change_tag_expiration); 2 hours is inside, even with some clock skew.
HOURS_2 = 7200
MIN_EXPIRY = 3600
MAX_EXPIRY = 104 * 7 * 86400


# ---- helpers ---------------------------------------------------------------------------------------------------
def rfc2822_epoch(value: Any) -> int:
    """Epoch seconds of Quay's format_date text ("Fri, 27 Nov 2026 08:57:18 -0000"), after checking its shape."""
    assert isinstance(value, str) and RFC2822.match(value), f"not an RFC 2822 date: {value!r}"
    parsed = parsedate_to_datetime(value)
    # "-0000" parses as a naive datetime meaning UTC.
    return calendar.timegm(parsed.utctimetuple())


def list_tags(client: QuayClient, repo: str, **params: Any) -> dict[str, Any]:
    body = expect(client.call("listRepoTags", repository=repo, params=params or None), 200)
    assert isinstance(body, dict) and set(body) == {"tags", "page", "has_additional"}, body
    return body


def all_rows(client: QuayClient, repo: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of the listing, walking pages of 100."""
    rows: list[dict[str, Any]] = []
    page = 1
    while True:
        body = list_tags(client, repo, page=page, limit=100, **params)
        rows.extend(body["tags"])
        if not body["has_additional"]:
            return rows
        page += 1


def active(client: QuayClient, repo: str) -> dict[str, str]:
    """Active tag name -> manifest digest."""
    return {row["name"]: row["manifest_digest"] for row in all_rows(client, repo, onlyActiveTags="true")}


def history(client: QuayClient, repo: str, tag: str) -> list[dict[str, Any]]:
    return all_rows(client, repo, specificTag=tag)


def set_tag(client: QuayClient, repo: str, tag: str, **body: Any) -> None:
    answer = expect(client.call("changeTag", repository=repo, tag=tag, json=body), 201)
    assert answer == "Updated", f"changeTag answered {answer!r}, Quay answers the JSON string \"Updated\""


def check_row(row: dict[str, Any]) -> None:
    """Field names and types of one tag row (D3)."""
    assert ROW_REQUIRED <= set(row) <= ROW_ALLOWED, f"tag row keys {sorted(row)}"
    assert isinstance(row["name"], str) and isinstance(row["reversion"], bool)
    assert isinstance(row["start_ts"], int) and not isinstance(row["start_ts"], bool)
    assert isinstance(row["manifest_digest"], str) and row["manifest_digest"].startswith("sha256:")
    assert isinstance(row["is_manifest_list"], bool)
    assert row["size"] is None or isinstance(row["size"], int)
    assert rfc2822_epoch(row["last_modified"]) == row["start_ts"]
    # expiration is present exactly when the row has an end, and is the same instant.
    assert ("end_ts" in row) == ("expiration" in row), f"end_ts/expiration pairing in {row}"
    if "end_ts" in row:
        assert isinstance(row["end_ts"], int) and not isinstance(row["end_ts"], bool)
        assert rfc2822_epoch(row["expiration"]) == row["end_ts"]


@pytest.fixture
def seeded(world: World, target: Target) -> SeededRepo:
    return seed_repo(world, target, images=2)


def _reader(world: World, seeded: SeededRepo, role: str = "read") -> Persona:
    user = world.user()
    world.grant(seeded.repo, user=user, role=role, as_=seeded.owner)
    return user


# ---- listRepoTags ----------------------------------------------------------------------------------------------
@pytest.mark.operation("listRepoTags")
def test_list_tags_of_an_empty_repo_is_an_empty_first_page(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    repo = world.repo(org, as_=owner)
    assert list_tags(owner.client(), repo) == {"tags": [], "page": 1, "has_additional": False}


@pytest.mark.operation("listRepoTags")
def test_list_tags_rows_have_quays_field_names_and_types(seeded: SeededRepo) -> None:
    body = list_tags(seeded.owner.client(), seeded.repo)
    assert body["page"] == 1 and body["has_additional"] is False
    by_name = {row["name"]: row for row in body["tags"]}
    assert set(by_name) == {"base0", "base1"}
    for i, image in enumerate(seeded.images):
        row = by_name[f"base{i}"]
        check_row(row)
        assert row["manifest_digest"] == image.digest and row["is_manifest_list"] is False
        assert row["reversion"] is False
        # size is the sum of the compressed layer sizes (the config blob does not count).
        assert row["size"] == image.size
        # An active tag without expiration has no end at all.
        assert "end_ts" not in row and "expiration" not in row
        assert abs(row["start_ts"] - time.time()) < 600


@pytest.mark.operation("listRepoTags")
def test_history_is_ordered_newest_first(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "later", manifest_digest=seeded.images[0].digest)
    rows = list_tags(client, seeded.repo)["tags"]
    starts = [row["start_ts"] for row in rows]
    assert starts == sorted(starts, reverse=True)


@pytest.mark.operation("listRepoTags", "changeTag")
def test_limit_above_100_is_clamped_to_100_not_an_error(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    for i in range(100):  # 2 pushed + 100 = 102 rows, more than one clamped page
        set_tag(client, seeded.repo, f"many{i}", manifest_digest=seeded.images[i % 2].digest)
    body = list_tags(client, seeded.repo, limit=1000, onlyActiveTags="true")
    assert len(body["tags"]) == 100 and body["has_additional"] is True
    second = list_tags(client, seeded.repo, limit=1000, page=2, onlyActiveTags="true")
    assert len(second["tags"]) == 2 and second["has_additional"] is False and second["page"] == 2
    names = [row["name"] for row in body["tags"] + second["tags"]]
    assert len(set(names)) == 102


@pytest.mark.operation("listRepoTags")
@pytest.mark.parametrize("limit", [0, -5])
def test_limit_below_one_is_clamped_to_one(seeded: SeededRepo, limit: int) -> None:
    body = list_tags(seeded.owner.client(), seeded.repo, limit=limit)
    assert len(body["tags"]) == 1 and body["has_additional"] is True


@pytest.mark.operation("listRepoTags")
@pytest.mark.parametrize("page", [0, -3])
def test_page_below_one_is_page_one(seeded: SeededRepo, page: int) -> None:
    client = seeded.owner.client()
    first = list_tags(client, seeded.repo, limit=1)
    body = list_tags(client, seeded.repo, limit=1, page=page)
    assert body == first and body["page"] == 1


@pytest.mark.operation("listRepoTags")
def test_page_past_the_end_is_empty(seeded: SeededRepo) -> None:
    body = list_tags(seeded.owner.client(), seeded.repo, page=5)
    assert body == {"tags": [], "page": 5, "has_additional": False}


@pytest.mark.operation("listRepoTags")
def test_filter_tag_name_without_colon_is_400_message(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("listRepoTags", repository=seeded.repo,
                                          params={"filter_tag_name": "base0"})
    body = expect(response, 400, shape="message")
    assert "Unsupported syntax for filter_tag_name" in body["message"]


@pytest.mark.operation("listRepoTags", "changeTag")
def test_filter_tag_name_like_is_a_case_insensitive_substring_and_eq_is_exact(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    for name in ("Alpha-one", "alpha-two", "beta"):
        set_tag(client, seeded.repo, name, manifest_digest=seeded.images[0].digest)
    like = {row["name"] for row in list_tags(client, seeded.repo, filter_tag_name="like:ALPHA")["tags"]}
    assert like == {"Alpha-one", "alpha-two"}
    eq = [row["name"] for row in list_tags(client, seeded.repo, filter_tag_name="eq:beta")["tags"]]
    assert eq == ["beta"]
    # An unknown operation is ignored rather than refused.
    every = {row["name"] for row in list_tags(client, seeded.repo, filter_tag_name="regex:x")["tags"]}
    assert every == {"base0", "base1", "Alpha-one", "alpha-two", "beta"}


@pytest.mark.operation("listRepoTags", "changeTag")
def test_specific_tag_lists_only_that_tags_versions(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", manifest_digest=seeded.images[1].digest)
    rows = list_tags(client, seeded.repo, specificTag="base0")["tags"]
    assert [row["name"] for row in rows] == ["base0", "base0"]
    assert list_tags(client, seeded.repo, specificTag="nosuchtag")["tags"] == []


@pytest.mark.operation("listRepoTags")
def test_list_tags_of_unknown_repo_is_404_for_the_namespace_admin(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("listRepoTags", repository=f"{seeded.org}/nosuchrepo")
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("listRepoTags")
def test_list_tags_of_private_repo_is_401_anonymous_403_outsider_200_reader(world: World, target: Target,
                                                                            seeded: SeededRepo) -> None:
    expect(target.anon.call("listRepoTags", repository=seeded.repo), 401, error_type="invalid_token")
    expect(world.user().client().call("listRepoTags", repository=seeded.repo), 403,
           error_type="insufficient_scope")
    rows = list_tags(_reader(world, seeded).client(), seeded.repo)["tags"]
    assert {row["name"] for row in rows} == {"base0", "base1"}


@pytest.mark.operation("listRepoTags")
def test_list_tags_of_public_repo_is_open_to_anonymous(world: World, target: Target) -> None:
    seeded = seed_repo(world, target, images=1, visibility="public")
    rows = list_tags(target.anon, seeded.repo)["tags"]
    assert [row["name"] for row in rows] == ["base0"]


# ---- changeTag -------------------------------------------------------------------------------------------------
@pytest.mark.operation("changeTag", "listRepoTags")
def test_change_tag_creates_a_tag_with_201_updated(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "fresh", manifest_digest=seeded.images[1].digest)
    rows = history(client, seeded.repo, "fresh")
    assert len(rows) == 1
    check_row(rows[0])
    assert rows[0]["manifest_digest"] == seeded.images[1].digest and rows[0]["reversion"] is False
    assert "end_ts" not in rows[0]


@pytest.mark.operation("changeTag", "listRepoTags")
def test_moving_a_tag_ends_the_old_row_and_adds_a_history_row(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", manifest_digest=seeded.images[1].digest)
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 2
    for row in rows:
        check_row(row)
    live = [row for row in rows if "end_ts" not in row]
    ended = [row for row in rows if "end_ts" in row]
    assert len(live) == 1 and len(ended) == 1
    assert live[0]["manifest_digest"] == seeded.images[1].digest
    assert ended[0]["manifest_digest"] == seeded.images[0].digest
    # The old version ends when the new one starts.
    assert ended[0]["end_ts"] == live[0]["start_ts"]
    assert active(client, seeded.repo) == {"base0": seeded.images[1].digest, "base1": seeded.images[1].digest}


@pytest.mark.operation("changeTag", "listRepoTags")
def test_change_tag_with_empty_body_is_201_and_changes_nothing(seeded: SeededRepo) -> None:
    # Quay acts only on the keys present (expiration, manifest_digest), and answers "Updated" regardless.
    client = seeded.owner.client()
    before = all_rows(client, seeded.repo)
    set_tag(client, seeded.repo, "nosuchtag")
    set_tag(client, seeded.repo, "base0")
    assert all_rows(client, seeded.repo) == before


@pytest.mark.operation("changeTag")
def test_change_tag_to_an_unknown_manifest_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("changeTag", repository=seeded.repo, tag="x",
                                          json={"manifest_digest": UNKNOWN_DIGEST})
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("changeTag")
@pytest.mark.parametrize("name", [".dot", "-dash", "x" * 129, "a+b"], ids=["dot", "dash", "129-chars", "plus"])
def test_change_tag_with_invalid_name_is_400(seeded: SeededRepo, name: str) -> None:
    response = seeded.owner.client().call("changeTag", repository=seeded.repo, tag=name,
                                          json={"manifest_digest": seeded.images[0].digest})
    assert response.status_code == 400, response.text
    assert TAG_ERROR_FRAGMENT in response.text


@pytest.mark.operation("changeTag")
@pytest.mark.parametrize("name", ["_under", "A.b-c_9", "x" * 128], ids=["underscore", "mixed", "128-chars"])
def test_change_tag_accepts_names_matching_quays_tag_rule(seeded: SeededRepo, name: str) -> None:
    set_tag(seeded.owner.client(), seeded.repo, name, manifest_digest=seeded.images[0].digest)


@pytest.mark.operation("changeTag")
@pytest.mark.parametrize("body", [{"manifest_digest": 5}, {"expiration": "soon"}], ids=["digest-int", "exp-str"])
def test_change_tag_with_invalid_body_is_400_schema_error(seeded: SeededRepo, body: dict[str, Any]) -> None:
    response = seeded.owner.client().call("changeTag", repository=seeded.repo, tag="base0", json=body)
    expect(response, 400, error_type="invalid_request")


@pytest.mark.operation("changeTag", "listRepoTags")
def test_future_expiration_sets_end_ts_and_expiration_and_keeps_the_tag_active(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    when = int(time.time()) + HOURS_2
    set_tag(client, seeded.repo, "base0", expiration=when)
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 1, "an expiration changes the row, it does not add one"
    check_row(rows[0])
    assert rows[0]["end_ts"] == when
    assert "base0" in active(client, seeded.repo)
    # null clears it again.
    set_tag(client, seeded.repo, "base0", expiration=None)
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 1 and "end_ts" not in rows[0] and "expiration" not in rows[0]


@pytest.mark.operation("changeTag", "listRepoTags")
def test_expiration_sooner_than_an_hour_is_raised_to_an_hour_after_the_tag_start(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", expiration=int(time.time()) + 120)
    row = history(client, seeded.repo, "base0")[0]
    assert row["end_ts"] == row["start_ts"] + MIN_EXPIRY


@pytest.mark.operation("changeTag", "listRepoTags")
def test_expiration_beyond_104_weeks_is_lowered_to_104_weeks_after_the_tag_start(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", expiration=int(time.time()) + 2 * MAX_EXPIRY)
    row = history(client, seeded.repo, "base0")[0]
    assert row["end_ts"] == row["start_ts"] + MAX_EXPIRY


@pytest.mark.operation("changeTag")
def test_expiration_in_the_past_is_400(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("changeTag", repository=seeded.repo, tag="base0",
                                          json={"expiration": int(time.time()) - 3600})
    assert response.status_code == 400, response.text


@pytest.mark.operation("changeTag")
def test_expiration_on_unknown_tag_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("changeTag", repository=seeded.repo, tag="nosuchtag",
                                          json={"expiration": int(time.time()) + HOURS_2})
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("changeTag", "listRepoTags")
def test_reader_and_outsider_cannot_change_tag(world: World, seeded: SeededRepo) -> None:
    body = {"manifest_digest": seeded.images[1].digest}
    for persona in (_reader(world, seeded), world.user()):
        expect(persona.client().call("changeTag", repository=seeded.repo, tag="base0", json=body), 403,
               error_type="insufficient_scope")
    # Permission is checked before the body: an invalid body from a reader is still 403.
    expect(_reader(world, seeded).client().call("changeTag", repository=seeded.repo, tag="base0",
                                                json={"manifest_digest": 5}), 403, error_type="insufficient_scope")
    assert active(seeded.owner.client(), seeded.repo)["base0"] == seeded.images[0].digest


@pytest.mark.operation("changeTag")
def test_writer_can_change_tag(world: World, seeded: SeededRepo) -> None:
    writer = _reader(world, seeded, role="write")
    set_tag(writer.client(), seeded.repo, "bywriter", manifest_digest=seeded.images[0].digest)


@pytest.mark.operation("changeTag")
def test_anonymous_change_tag_is_refused_by_csrf(target: Target, seeded: SeededRepo) -> None:
    response = target.anon.call("changeTag", repository=seeded.repo, tag="base0",
                                json={"manifest_digest": seeded.images[1].digest})
    expect(response, 403, shape="error")


# ---- deleteFullTag ---------------------------------------------------------------------------------------------
@pytest.mark.operation("deleteFullTag", "listRepoTags")
def test_delete_tag_is_204_and_a_soft_delete_into_history(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    response = client.call("deleteFullTag", repository=seeded.repo, tag="base0")
    expect(response, 204)
    assert response.content == b""
    assert set(active(client, seeded.repo)) == {"base1"}
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 1
    check_row(rows[0])
    assert rows[0]["manifest_digest"] == seeded.images[0].digest
    assert "end_ts" in rows[0] and rows[0]["end_ts"] >= rows[0]["start_ts"]
    assert abs(rows[0]["end_ts"] - time.time()) < 600


@pytest.mark.operation("deleteFullTag")
def test_delete_unknown_or_already_deleted_tag_is_404(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="nosuchtag"), 404, error_type="not_found")
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="base0"), 204)
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="base0"), 404, error_type="not_found")


@pytest.mark.operation("deleteFullTag", "changeTag")
def test_deleting_a_tag_with_future_expiration_ends_it_now(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", expiration=int(time.time()) + HOURS_2)
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="base0"), 204)
    assert "base0" not in active(client, seeded.repo)
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 1 and rows[0]["end_ts"] <= time.time() + 5


@pytest.mark.operation("deleteFullTag", "listRepoTags")
def test_reader_and_outsider_cannot_delete_tag(world: World, target: Target, seeded: SeededRepo) -> None:
    for persona in (_reader(world, seeded), world.user()):
        expect(persona.client().call("deleteFullTag", repository=seeded.repo, tag="base0"), 403,
               error_type="insufficient_scope")
    expect(target.anon.call("deleteFullTag", repository=seeded.repo, tag="base0"), 403, shape="error")
    assert "base0" in active(seeded.owner.client(), seeded.repo)


# ---- restoreTag ------------------------------------------------------------------------------------------------
@pytest.mark.operation("restoreTag", "deleteFullTag", "listRepoTags")
def test_restore_deleted_tag_is_200_empty_object_and_adds_a_reversion_row(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    digest = seeded.images[0].digest
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="base0"), 204)
    body = expect(client.call("restoreTag", repository=seeded.repo, tag="base0", json={"manifest_digest": digest}),
                  200)
    assert body == {}
    assert active(client, seeded.repo)["base0"] == digest
    rows = history(client, seeded.repo, "base0")
    assert len(rows) == 2
    for row in rows:
        check_row(row)
    live = [row for row in rows if "end_ts" not in row]
    assert len(live) == 1 and live[0]["reversion"] is True and live[0]["manifest_digest"] == digest


@pytest.mark.operation("restoreTag", "changeTag", "listRepoTags")
def test_restore_live_tag_to_its_previous_manifest_moves_it_back(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    set_tag(client, seeded.repo, "base0", manifest_digest=seeded.images[1].digest)
    expect(client.call("restoreTag", repository=seeded.repo, tag="base0",
                       json={"manifest_digest": seeded.images[0].digest}), 200)
    assert active(client, seeded.repo)["base0"] == seeded.images[0].digest
    assert len(history(client, seeded.repo, "base0")) == 3


@pytest.mark.operation("restoreTag")
def test_restore_without_manifest_digest_is_400(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("restoreTag", repository=seeded.repo, tag="base0", json={})
    body = expect(response, 400, error_type="invalid_request")
    assert body.get("detail") == "Missing manifest_digest"


@pytest.mark.operation("restoreTag")
def test_restore_to_unknown_manifest_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("restoreTag", repository=seeded.repo, tag="base0",
                                          json={"manifest_digest": UNKNOWN_DIGEST})
    expect(response, 404, error_type="not_found")


@pytest.mark.operation("restoreTag", "listRepoTags")
def test_reader_and_outsider_cannot_restore_tag(world: World, target: Target, seeded: SeededRepo) -> None:
    body = {"manifest_digest": seeded.images[1].digest}
    for persona in (_reader(world, seeded), world.user()):
        expect(persona.client().call("restoreTag", repository=seeded.repo, tag="base0", json=body), 403,
               error_type="insufficient_scope")
    expect(target.anon.call("restoreTag", repository=seeded.repo, tag="base0", json=body), 403, shape="error")
    assert active(seeded.owner.client(), seeded.repo)["base0"] == seeded.images[0].digest


# ---- removeTagFromTimemachine (only with PERMANENTLY_DELETE_TAGS) --------------------------------------------------
@pytest.mark.operation("removeTagFromTimemachine", "deleteFullTag")
def test_remove_deleted_tag_from_time_machine_is_200(seeded: SeededRepo) -> None:
    client = seeded.owner.client()
    expect(client.call("deleteFullTag", repository=seeded.repo, tag="base0"), 204)
    expect(client.call("removeTagFromTimemachine", repository=seeded.repo, tag="base0",
                       json={"manifest_digest": seeded.images[0].digest, "is_alive": False}), 200)


@pytest.mark.operation("removeTagFromTimemachine")
def test_remove_dead_tag_from_time_machine_without_digest_is_400(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("removeTagFromTimemachine", repository=seeded.repo, tag="base0",
                                          json={"is_alive": False})
    assert response.status_code == 400, response.text


@pytest.mark.operation("removeTagFromTimemachine")
def test_remove_from_time_machine_with_nothing_to_update_is_404(seeded: SeededRepo) -> None:
    response = seeded.owner.client().call("removeTagFromTimemachine", repository=seeded.repo, tag="nosuchtag",
                                          json={"manifest_digest": seeded.images[0].digest, "is_alive": False})
    assert response.status_code == 404, response.text


@pytest.mark.operation("removeTagFromTimemachine")
def test_reader_cannot_remove_tag_from_time_machine(world: World, seeded: SeededRepo) -> None:
    response = _reader(world, seeded).client().call("removeTagFromTimemachine", repository=seeded.repo,
                                                    tag="base0", json={"manifest_digest": seeded.images[0].digest})
    expect(response, 403, error_type="insufficient_scope")


# ---- getTagPullStatistics (only with IMAGE_PULL_STATS) -----------------------------------------------------------
@pytest.mark.operation("getTagPullStatistics")
def test_tag_pull_statistics_names_the_tag_and_its_manifest(seeded: SeededRepo) -> None:
    body = expect(seeded.owner.client().call("getTagPullStatistics", repository=seeded.repo, tag="base0"), 200)
    assert set(body) >= {"tag_name", "tag_pull_count", "last_tag_pull_date", "current_manifest_digest",
                         "manifest_pull_count", "last_manifest_pull_date"}
    assert body["tag_name"] == "base0" and body["current_manifest_digest"] == seeded.images[0].digest
    assert isinstance(body["tag_pull_count"], int) and isinstance(body["manifest_pull_count"], int)


@pytest.mark.operation("getTagPullStatistics")
def test_tag_pull_statistics_of_private_repo_is_401_anonymous_403_outsider(world: World, target: Target,
                                                                          seeded: SeededRepo) -> None:
    expect(target.anon.call("getTagPullStatistics", repository=seeded.repo, tag="base0"), 401,
           error_type="invalid_token")
    expect(world.user().client().call("getTagPullStatistics", repository=seeded.repo, tag="base0"), 403,
           error_type="insufficient_scope")
