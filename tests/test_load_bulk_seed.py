"""Bulk seeding of a reference server this process started: tags and a long audit history written straight
into its database, then seen through the API exactly as the load profiles read them."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from harness.auth import BearerAuth, initialize_first_user
from harness.catalog import Catalog
from harness.server import ReferenceServer
from load import seed as seeding


@pytest.fixture
def started(tmp_path: Path) -> Iterator[tuple[ReferenceServer, httpx.Client, str]]:
    with ReferenceServer(data_dir=tmp_path / "data") as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            token = initialize_first_user(http, "admin", "bulk-seed-password")
        with httpx.Client(base_url=server.url, auth=BearerAuth(token), timeout=60) as http:
            yield server, http, token


def _seed(server: ReferenceServer, http: httpx.Client, token: str, plan: seeding.SeedPlan) -> seeding.SeedReport:
    direct = server.direct_writer()
    try:
        return seeding.Seeder(http, Catalog.from_target(http), token, direct=direct).run(plan)
    finally:
        direct.close()


def test_bulk_tags_read_back_in_creation_order(started: tuple[ReferenceServer, httpx.Client, str]) -> None:
    server, http, token = started
    plan = seeding.SeedPlan("bulk", "tag-listing", tag_counts=(1000,))
    repo = plan.tag_repo(1000)
    # The server has read the repository before the bulk write: the API write that ends seeding must empty
    # its read cache, or this stale first page would be served again.
    http.post("/api/v1/organization/", json={"name": plan.org, "email": "bulk@example.com"})
    http.post("/api/v1/repository", json={"namespace": plan.org, "repository": "tags1000",
                                          "visibility": "private", "description": ""})
    assert http.get(f"/api/v1/repository/{repo}/tag/").json()["tags"] == []
    report = _seed(server, http, token, plan)
    assert any("written in bulk" in line for line in report.lines)
    first = http.get(f"/api/v1/repository/{repo}/tag/", params={"limit": 50, "page": 1}).json()
    assert [t["name"] for t in first["tags"]][:3] == ["t000999", "t000998", "t000997"]
    assert first["has_additional"] is True and first["tags"][0]["manifest_digest"] == seeding.IMAGE.digest
    last = http.get(f"/api/v1/repository/{repo}/tag/", params={"limit": 50, "page": 20}).json()
    assert [t["name"] for t in last["tags"]][-1] == "t000000" and last["has_additional"] is False
    # The tags are real: the registry serves the manifest behind any of them.
    registry = seeding.Seeder(http, Catalog.from_target(http), token)
    assert registry.registry_tags(repo) >= {"t000000", "t000500", "t000999"}
    # Seeding again finds the marker and writes nothing.
    again = _seed(server, http, token, plan)
    assert again.created == 0 and any("already seeded" in line for line in again.lines)


def test_bulk_log_history_pages_and_aggregates(started: tuple[ReferenceServer, httpx.Client, str]) -> None:
    server, http, token = started
    plan = seeding.SeedPlan("bulk", "log-queries", log_events=3001)
    report = _seed(server, http, token, plan)
    assert report.created == 3 + 3001 and any("in bulk" in line for line in report.lines)  # org, 2 repos
    today = datetime.now(UTC)
    window = {"starttime": (today - timedelta(days=30)).strftime("%m/%d/%Y"),
              "endtime": today.strftime("%m/%d/%Y")}
    page = http.get(f"/api/v1/repository/{plan.log_repo}/logs", params=window).json()
    assert len(page["logs"]) == 20 and "next_page" in page
    assert page["logs"][0]["kind"] == "set_repo_description"  # the marker, written last through the API
    # 1501 and 1500 entries over 60 days: the last 30 days hold about half of each. Besides the history, only
    # the seeder's own API writes (creating the repository, the marker) are there, once each.
    counts = http.get(f"/api/v1/repository/{plan.log_repo}/aggregatelogs", params=window).json()["aggregated"]
    by_kind: dict[str, int] = {}
    for item in counts:
        by_kind[item["kind"]] = by_kind.get(item["kind"], 0) + item["count"]
    assert by_kind.pop("create_repo") == 1
    assert set(by_kind) <= {"pull_repo", "push_repo", "create_tag", "move_tag", "delete_tag",
                            "set_repo_description", "change_repo_permission", "create_robot", "revert_tag"}
    assert max(by_kind, key=lambda kind: by_kind[kind]) == "pull_repo"  # pulls dominate, as in real trails
    assert 700 <= sum(by_kind.values()) <= 800, by_kind
    user_page = http.get("/api/v1/user/logs", params=window).json()
    assert len(user_page["logs"]) == 20
