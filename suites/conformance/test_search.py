"""Conformance of the `search` area: entity autocomplete, the global search, repository search and external-user
linking. Expectations come from Quay's behaviour (quay-api.md A rows 5, 6, 10, 11, C, D14), never from the
reference server."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.world import Target, World

pytestmark = pytest.mark.area("search")

PAGE_SIZE = 10  # SEARCH_RESULTS_PER_PAGE default
MAX_PAGE = 10  # SEARCH_MAX_RESULT_PAGE_COUNT default


def _assert_avatar(avatar: Any) -> None:
    assert isinstance(avatar, dict)
    for key in ("name", "hash", "color", "kind"):
        assert key in avatar, f"avatar lacks {key!r}"


# -- getMatchingEntities --------------------------------------------------------------------------------------------
@pytest.mark.operation("getMatchingEntities")
def test_entity_search_finds_a_user_for_anonymous(world: World, anon: QuayClient) -> None:
    persona = world.user()
    body = expect(anon.call("getMatchingEntities", prefix=persona.name), 200)
    assert set(body) == {"results"}
    found = [r for r in body["results"] if r["name"] == persona.name]
    assert len(found) == 1
    assert found[0]["kind"] == "user"
    assert found[0]["is_robot"] is False
    _assert_avatar(found[0]["avatar"])
    assert "is_org_member" not in found[0]  # only present when ?namespace names an organization


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_lowercases_the_prefix(world: World, anon: QuayClient) -> None:
    persona = world.user()
    body = expect(anon.call("getMatchingEntities", prefix=persona.name.upper()), 200)
    assert persona.name in {r["name"] for r in body["results"]}


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_in_an_org_shows_its_robots_and_teams_to_members(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    team = world.team(org)
    client = owner.client()
    # Robots are matched by their short name inside ?namespace; teams by name with includeTeams.
    body = expect(client.call("getMatchingEntities", prefix=robot.short, params={"namespace": org}), 200)
    found = next(r for r in body["results"] if r["name"] == robot.name)
    assert found["kind"] == "user" and found["is_robot"] is True and found["is_org_member"] is True
    body = expect(client.call("getMatchingEntities", prefix=team,
                              params={"namespace": org, "includeTeams": "true"}), 200)
    found = next(r for r in body["results"] if r["name"] == team)
    assert found["kind"] == "team" and found["is_org_member"] is True
    _assert_avatar(found["avatar"])


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_includes_the_org_for_its_admin(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("getMatchingEntities", prefix=org,
                                      params={"namespace": org, "includeOrgs": "true"}), 200)
    orgs = [r for r in body["results"] if r["kind"] == "org"]
    assert len(orgs) == 1
    assert orgs[0]["name"] == org and orgs[0]["is_org_member"] is True
    _assert_avatar(orgs[0]["avatar"])


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_hides_org_robots_and_teams_from_outsiders(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    team = world.team(org)
    client = outsider.client()
    body = expect(client.call("getMatchingEntities", prefix=robot.short, params={"namespace": org}), 200)
    assert robot.name not in {r["name"] for r in body["results"]}
    body = expect(client.call("getMatchingEntities", prefix=team,
                              params={"namespace": org, "includeTeams": "true"}), 200)
    assert team not in {r["name"] for r in body["results"]}


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_marks_whether_users_are_org_members(world: World) -> None:
    owner, member, outsider = world.user(), world.user(), world.user()
    org = world.org(owner=owner)
    team = world.team(org)
    world.add_member(org, team, member, as_=owner)
    client = owner.client()
    for persona, expected in ((member, True), (outsider, False)):
        response = client.call("getMatchingEntities", prefix=persona.name, params={"namespace": org})
        body = expect(response, 200)
        entry = next(r for r in body["results"] if r["name"] == persona.name)
        if entry.get("is_org_member") is not expected:
            who = "a member of a team of the org" if expected else "in no team of the org"
            raise TargetMismatch(response, f"Quay marks a user {who} is_org_member: {str(expected).lower()}; the "
                                           f"target said {entry.get('is_org_member')!r} for {persona.name}")


@pytest.mark.operation("getMatchingEntities")
def test_entity_search_in_own_user_namespace_shows_own_robots(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("getMatchingEntities", prefix=robot.short,
                                        params={"namespace": persona.name}), 200)
    assert robot.name in {r["name"] for r in body["results"]}


# -- conductSearch --------------------------------------------------------------------------------------------------
@pytest.mark.operation("conductSearch")
def test_search_with_empty_query_is_empty(anon: QuayClient) -> None:
    assert expect(anon.call("conductSearch", params={"query": ""}), 200) == {"results": []}


@pytest.mark.operation("conductSearch")
def test_search_finds_a_public_repository_for_anonymous(world: World, anon: QuayClient) -> None:
    owner = world.user()
    repo = world.repo(owner.name, visibility="public")
    namespace, name = repo.split("/")
    body = expect(anon.call("conductSearch", params={"query": name}), 200)
    found = [r for r in body["results"] if r.get("kind") == "repository" and r["name"] == name]
    assert len(found) == 1
    result = found[0]
    assert result["title"] == "repo"
    assert result["namespace"]["name"] == namespace
    assert result["is_public"] is True
    assert result["href"] == f"/repository/{namespace}/{name}"
    assert isinstance(result["score"], int | float)
    scores = [r["score"] for r in body["results"]]
    assert scores == sorted(scores, reverse=True), "results are ordered by score"


@pytest.mark.operation("conductSearch")
def test_search_hides_private_repositories_from_outsiders_and_shows_them_to_the_owner(world: World,
                                                                                     anon: QuayClient) -> None:
    owner, outsider = world.user(), world.user()
    name = world.repo(owner.name, visibility="private").split("/")[1]

    def repo_names(client: QuayClient) -> set[str]:
        body = expect(client.call("conductSearch", params={"query": name}), 200)
        return {r["name"] for r in body["results"] if r.get("kind") == "repository"}

    assert name not in repo_names(anon)
    assert name not in repo_names(outsider.client())
    assert name in repo_names(owner.client())


@pytest.mark.operation("conductSearch")
def test_search_finds_own_robots_with_their_short_name(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("conductSearch", params={"query": robot.short}), 200)
    found = [r for r in body["results"] if r.get("kind") == "robot" and r["name"] == robot.name]
    assert len(found) == 1
    assert found[0]["short_name"] == robot.short
    assert found[0]["title"] == "robot"


@pytest.mark.operation("conductSearch")
def test_search_finds_namespaces_through_their_visible_repositories(world: World, anon: QuayClient) -> None:
    owner = world.user()
    org, empty_org = world.org(owner=owner), world.org(owner=owner)
    world.repo(org, visibility="public")

    def orgs(query: str) -> list[dict[str, Any]]:
        body = expect(anon.call("conductSearch", params={"query": query}), 200)
        return [r for r in body["results"] if r.get("kind") == "organization" and r["name"] == query]

    found = orgs(org)
    assert len(found) == 1
    assert found[0]["title"] == "org" and found[0]["href"] == f"/organization/{org}"
    assert orgs(empty_org) == []


# -- conductRepoSearch ----------------------------------------------------------------------------------------------
@pytest.mark.operation("conductRepoSearch")
def test_repo_search_is_paged_by_ten(world: World, anon: QuayClient) -> None:
    owner = world.user()
    repo = world.repo(owner.name, visibility="public")
    namespace, name = repo.split("/")
    body = expect(anon.call("conductRepoSearch", params={"query": name}), 200)
    assert set(body) == {"results", "has_additional", "page", "page_size", "start_index"}
    assert body["page"] == 1 and body["page_size"] == PAGE_SIZE and body["start_index"] == 0
    assert body["has_additional"] is False
    assert len(body["results"]) == 1
    result = body["results"][0]
    assert (result["namespace"]["name"], result["name"]) == (namespace, name)
    assert result["kind"] == "repository" and result["is_public"] is True
    for usage in ("stars", "popularity"):
        assert usage not in result, f"{usage!r} only comes with includeUsage"


@pytest.mark.operation("conductRepoSearch")
@pytest.mark.parametrize(("asked", "page"), [(0, 1), (-3, 1), (99, MAX_PAGE)])
def test_repo_search_clamps_the_page(anon: QuayClient, target: Target, asked: int, page: int) -> None:
    body = expect(anon.call("conductRepoSearch", params={"query": target.next_name("nothing"), "page": asked}), 200)
    assert body["page"] == page
    assert body["start_index"] == (page - 1) * PAGE_SIZE
    assert body["results"] == [] and body["has_additional"] is False


@pytest.mark.operation("conductRepoSearch")
def test_repo_search_with_usage_adds_stars_and_popularity(world: World, anon: QuayClient) -> None:
    owner = world.user()
    name = world.repo(owner.name, visibility="public").split("/")[1]
    body = expect(anon.call("conductRepoSearch", params={"query": name, "includeUsage": "true"}), 200)
    result = next(r for r in body["results"] if r["name"] == name)
    assert result["stars"] == 0
    assert result["popularity"] == 0


@pytest.mark.operation("conductRepoSearch")
def test_repo_search_shows_private_repositories_only_to_readers(world: World, anon: QuayClient) -> None:
    owner, reader, outsider = world.user(), world.user(), world.user()
    repo = world.repo(owner.name, visibility="private")
    world.grant(repo, user=reader, role="read")
    name = repo.split("/")[1]

    def names(client: QuayClient) -> list[str]:
        return [r["name"] for r in expect(client.call("conductRepoSearch", params={"query": name}), 200)["results"]]

    assert names(anon) == []
    assert names(outsider.client()) == []
    assert names(reader.client()) == [name]
    assert names(owner.client()) == [name]


@pytest.mark.operation("conductRepoSearch")
def test_repo_search_reports_additional_pages(world: World, anon: QuayClient, target: Target) -> None:
    owner = world.user()
    stem = target.next_name("many")
    for i in range(PAGE_SIZE + 1):
        world.repo(owner.name, name=f"{stem}x{i}", visibility="public")
    first = expect(anon.call("conductRepoSearch", params={"query": stem}), 200)
    assert len(first["results"]) == PAGE_SIZE and first["has_additional"] is True
    second = expect(anon.call("conductRepoSearch", params={"query": stem, "page": 2}), 200)
    assert len(second["results"]) == 1 and second["has_additional"] is False
    assert second["start_index"] == PAGE_SIZE
    seen = {r["name"] for r in first["results"]} | {r["name"] for r in second["results"]}
    assert seen == {f"{stem}x{i}" for i in range(PAGE_SIZE + 1)}


# -- linkExternalUser -----------------------------------------------------------------------------------------------
@pytest.mark.operation("linkExternalUser")
def test_link_external_user_is_404_without_a_federated_login_service(world: World) -> None:
    # The harness seeds users with createInstallUser, which Quay allows only with Database authentication; with
    # Database authentication there is no federated service, and Quay answers a plain 404.
    persona = world.user()
    expect(persona.client().call("linkExternalUser", username=persona.name), 404, shape="message")


@pytest.mark.operation("linkExternalUser")
def test_anonymous_link_external_user_is_refused_by_csrf(anon: QuayClient) -> None:
    body = expect(anon.call("linkExternalUser", username="someone"), 403, shape="error")
    assert body["error"] == "CSRF token was invalid or missing."
