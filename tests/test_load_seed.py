"""Seeding against a fake Quay (API + registry) on httpx.MockTransport: names, idempotence, bounded concurrency,
the changeTag fallback and the refusals."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
import time
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from harness.catalog import Catalog
from load import seed as seeding
from load.profiles import load_profiles

TOKEN = "api-token-secret"
OPERATIONS = [
    ("GET", "/api/v1/user/", "getLoggedInUser"),
    ("GET", "/api/v1/organization/{orgname}", "getOrganization"),
    ("POST", "/api/v1/organization/", "createOrganization"),
    ("GET", "/api/v1/repository/{repository}", "getRepo"),
    ("PUT", "/api/v1/repository/{repository}", "updateRepo"),
    ("POST", "/api/v1/repository", "createRepo"),
    ("GET", "/api/v1/repository/{repository}/tag/", "listRepoTags"),
    ("PUT", "/api/v1/repository/{repository}/tag/{tag}", "changeTag"),
]


def catalog(without: tuple[str, ...] = ()) -> Catalog:
    paths: dict[str, Any] = {}
    for method, path, op in OPERATIONS:
        if op not in without:
            paths.setdefault(path, {})[method.lower()] = {"operationId": op}
    return Catalog({"paths": paths})


class FakeQuay:
    """Just enough of Quay's API and registry for the seeder, with counters and an in-flight gauge."""

    def __init__(self, registry: bool = True, page_size: int = 1000) -> None:
        self.registry = registry
        self.page_size = page_size
        self.orgs: set[str] = set()
        self.repos: dict[str, str] = {}  # name -> description
        self.tags: dict[str, dict[str, str]] = {}  # repo -> tag -> manifest digest
        self.blobs: set[str] = set()
        self.calls: list[tuple[str, str]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._uploads = 0

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            self.calls.append((request.method, request.url.path))
        try:
            if request.url.path.startswith("/v2/"):
                time.sleep(0.002)  # lets concurrent pushes overlap so the gauge can see them
                return self.v2(request)
            assert request.headers.get("authorization") == f"Bearer {TOKEN}"
            return self.api(request)
        finally:
            with self._lock:
                self.in_flight -= 1

    def api(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        body = json.loads(request.content) if request.content else {}
        if (method, path) == ("GET", "/api/v1/user/"):
            return httpx.Response(200, json={"username": "admin"})
        if match := re.fullmatch(r"/api/v1/organization/([^/]+)", path):
            return httpx.Response(200 if match.group(1) in self.orgs else 404, json={})
        if (method, path) == ("POST", "/api/v1/organization/"):
            self.orgs.add(body["name"])
            return httpx.Response(201, json="Created")
        if (method, path) == ("POST", "/api/v1/repository"):
            name = f"{body['namespace']}/{body['repository']}"
            self.repos[name] = body["description"]
            self.tags[name] = {}
            return httpx.Response(201, json={"namespace": body["namespace"], "name": body["repository"]})
        if match := re.fullmatch(r"/api/v1/repository/([^/]+/[^/]+)/tag/", path):
            names = sorted(self.tags[match.group(1)])
            page, limit = int(request.url.params["page"]), int(request.url.params["limit"])
            chunk = names[(page - 1) * limit:page * limit]
            return httpx.Response(200, json={"tags": [{"name": n, "manifest_digest": self.tags[match.group(1)][n]}
                                                      for n in chunk],
                                             "page": page, "has_additional": page * limit < len(names)})
        if match := re.fullmatch(r"/api/v1/repository/([^/]+/[^/]+)/tag/([^/]+)", path):
            repo, tag = match.groups()
            self.tags[repo][tag] = body["manifest_digest"]
            return httpx.Response(201, json="Updated")
        if match := re.fullmatch(r"/api/v1/repository/([^/]+/[^/]+)", path):
            repo = match.group(1)
            if repo not in self.repos:
                return httpx.Response(404, json={"detail": "Not Found"})
            if method == "PUT":
                self.repos[repo] = body["description"]
                return httpx.Response(200, json={"success": True})
            return httpx.Response(200, json={"description": self.repos[repo]})
        return httpx.Response(404)

    def v2(self, request: httpx.Request) -> httpx.Response:
        method, path = request.method, request.url.path
        if not self.registry:
            return httpx.Response(404)
        if path == "/v2/":
            return httpx.Response(401, headers={
                "WWW-Authenticate": 'Bearer realm="http://quay.test/v2/auth",service="quay.test"'})
        if path == "/v2/auth":
            expected = "Basic " + base64.b64encode(f"$oauthtoken:{TOKEN}".encode()).decode()
            assert request.headers["authorization"] == expected
            scope = request.url.params["scope"]
            return httpx.Response(200, json={"token": f"registry:{scope}"})
        repo = re.match(r"/v2/([^/]+/[^/]+)/", path)
        assert repo is not None
        assert request.headers["authorization"] == f"Bearer registry:repository:{repo.group(1)}:push,pull"
        name = repo.group(1)
        if path.endswith("/tags/list"):
            names = sorted(self.tags.get(name, {}))
            last = request.url.params.get("last")
            after = [n for n in names if last is None or n > last][:self.page_size]
            headers = {}
            if after and after[-1] != names[-1]:
                headers["Link"] = f'</v2/{name}/tags/list?n={self.page_size}&last={after[-1]}>; rel="next"'
            return httpx.Response(200, json={"name": name, "tags": after}, headers=headers)
        if match := re.fullmatch(r"/v2/[^/]+/[^/]+/blobs/(sha256:[0-9a-f]+)", path):
            return httpx.Response(200 if match.group(1) in self.blobs else 404)
        if method == "POST" and path.endswith("/blobs/uploads/"):
            self._uploads += 1
            return httpx.Response(202, headers={"Location": f"http://quay.test/v2/{name}/blobs/uploads/u{self._uploads}"})
        if method == "PUT" and "/blobs/uploads/" in path:
            digest = parse_qs(request.url.query.decode())["digest"][0]
            assert digest == "sha256:" + hashlib.sha256(request.content).hexdigest()
            self.blobs.add(digest)
            return httpx.Response(201)
        if match := re.fullmatch(r"/v2/[^/]+/[^/]+/manifests/([^/]+)", path):
            manifest = json.loads(request.content)
            assert {manifest["config"]["digest"], manifest["layers"][0]["digest"]} <= self.blobs
            self.tags[name][match.group(1)] = "sha256:" + hashlib.sha256(request.content).hexdigest()
            return httpx.Response(201)
        return httpx.Response(404)


def seeder(fake: FakeQuay, concurrency: int = 4, without: tuple[str, ...] = ()) -> seeding.Seeder:
    http = httpx.Client(base_url="http://quay.test", transport=fake.transport(),
                        headers={"Authorization": f"Bearer {TOKEN}"})
    return seeding.Seeder(http, catalog(without), TOKEN, concurrency=concurrency)


def manifest_puts(fake: FakeQuay) -> int:
    return sum(1 for method, path in fake.calls if method == "PUT" and "/manifests/" in path)


PLAN = seeding.SeedPlan("t1", "tag-listing", tag_counts=(100, 250))


def test_tags_are_pushed_concurrently_within_the_bound_and_marked_done() -> None:
    fake = FakeQuay()
    report = seeder(fake, concurrency=4).run(PLAN)
    assert fake.orgs == {"qhloadt1"}
    assert sorted(fake.tags["qhloadt1/tags250"]) == [f"t{i:06d}" for i in range(250)]
    assert len(fake.tags["qhloadt1/tags100"]) == 100
    assert set(fake.tags["qhloadt1/tags100"].values()) == {seeding.IMAGE.digest}
    assert fake.repos["qhloadt1/tags100"] == PLAN.marker("100 tags")
    assert 2 <= fake.max_in_flight <= 4
    assert report.created == 1 + 2 + 350
    assert TOKEN not in "\n".join(report.lines)


def test_a_second_run_only_reads_the_markers() -> None:
    fake = FakeQuay()
    seeder(fake).run(PLAN)
    before = len(fake.calls)
    report = seeder(fake).run(PLAN)
    new_calls = fake.calls[before:]
    assert report.created == 0
    assert all(method == "GET" and path.startswith("/api/v1/") for method, path in new_calls)
    assert any("already seeded" in line for line in report.lines)


def test_an_unfinished_repository_is_topped_up_following_tag_list_pages() -> None:
    fake = FakeQuay(page_size=30)
    fake.orgs.add("qhloadt1")
    fake.repos["qhloadt1/tags100"] = ""
    fake.tags["qhloadt1/tags100"] = {f"t{i:06d}": "sha256:old" for i in range(0, 100, 2)}
    seeder(fake).run(seeding.SeedPlan("t1", "tag-listing", tag_counts=(100,)))
    assert manifest_puts(fake) == 50
    assert len(fake.tags["qhloadt1/tags100"]) == 100
    assert fake.tags["qhloadt1/tags100"]["t000000"] == "sha256:old"  # existing tags are left alone


def test_without_a_registry_change_tag_points_new_names_at_an_existing_manifest() -> None:
    fake = FakeQuay(registry=False)
    fake.orgs.add("qhloadt1")
    fake.repos["qhloadt1/tags100"] = ""
    fake.tags["qhloadt1/tags100"] = {"latest": "sha256:abc"}
    seeder(fake).run(seeding.SeedPlan("t1", "tag-listing", tag_counts=(100,)))
    tags = fake.tags["qhloadt1/tags100"]
    assert len(tags) == 101 and set(tags.values()) == {"sha256:abc"}


def test_without_a_registry_or_a_manifest_seeding_refuses_clearly() -> None:
    fake = FakeQuay(registry=False)
    with pytest.raises(seeding.SeedError, match="no /v2 registry"):
        seeder(fake).run(seeding.SeedPlan("t1", "tag-listing", tag_counts=(100,)))
    with pytest.raises(seeding.SeedError, match="neither a /v2 registry nor changeTag"):
        seeder(FakeQuay(registry=False), without=("changeTag",)).run(
            seeding.SeedPlan("t1", "tag-listing", tag_counts=(100,)))


def test_tags_are_not_seeded_when_nothing_can_list_them() -> None:
    fake = FakeQuay()
    report = seeder(fake, without=("listRepoTags",)).run(PLAN)
    assert manifest_puts(fake) == 0
    assert "tags: skipped, the target has no listRepoTags" in report.lines


def test_missing_basic_operations_are_refused() -> None:
    with pytest.raises(seeding.SeedError, match="lacks createRepo"):
        seeder(FakeQuay(), without=("createRepo",)).run(PLAN)


def test_log_activity_goes_to_the_org_and_the_callers_namespace_once() -> None:
    fake = FakeQuay()
    plan = seeding.SeedPlan("t1", "log-queries", log_events=10)
    seeder(fake).run(plan)
    updates = [p for m, p in fake.calls if m == "PUT" and p.startswith("/api/v1/repository/")]
    assert len(updates) == 10 + 2  # the ten events shared out over the two repositories, then the markers
    assert fake.repos["qhloadt1/logs"] == fake.repos["admin/qhloadt1logs"] == plan.marker("10 log events")
    before = len(fake.calls)
    seeder(fake).run(plan)
    assert not [c for c in fake.calls[before:] if c[0] != "GET"]


def test_write_repositories_get_the_base_image_for_change_tag() -> None:
    fake = FakeQuay()
    seeder(fake).run(seeding.SeedPlan("t1", "mixed", write_repos=2))
    assert fake.tags["qhloadt1/write1"] == {"base": seeding.IMAGE.digest}


def test_plans_are_deterministic_and_validated() -> None:
    profiles = load_profiles()
    plan = seeding.SeedPlan.for_profile(profiles["tag-listing"], "42", 10_000)
    assert plan.tag_counts == (100, 1000, 10_000)
    assert plan.tag_repos == ["qhload42/tags100", "qhload42/tags1000", "qhload42/tags10000"]
    assert seeding.SeedPlan.for_profile(profiles["tag-listing"], "42").tag_counts == (100, 1000)
    assert seeding.SeedPlan.for_profile(profiles["smoke"], "42").plain_repos == ["qhload42/repo0", "qhload42/repo1"]
    assert seeding.SeedPlan.tag_name(7) == "t000007"
    with pytest.raises(seeding.SeedError):
        seeding.SeedPlan("Bad-Seed", "smoke")
    assert seeding.SeedImage.build() == seeding.IMAGE  # same bytes, same digest, on every machine


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(seeding.SeedError):
        seeder(FakeQuay(), concurrency=0)
