"""The `search` area: entity autocomplete, repository search, search-everything and external linking."""

from __future__ import annotations

from typing import Any

import pytest

from reference_server.api.search import similarity
from tests.conftest import Server
from tests.test_api_repository import add_team, create_repo, make_org, make_robot

pytestmark = pytest.mark.area("search")


def names(results: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in results]


@pytest.mark.operation("getMatchingEntities")
def test_entities_match_users_by_prefix(server: Server) -> None:
    alice = server.make_user("alice")
    server.make_user("alicia")
    server.make_user("bob")
    make_robot(server, "alice+builder")
    r = server.call("GET", "/api/v1/entities/ali")
    assert r.status_code == 200
    results = r.json()["results"]
    assert names(results) == ["alice", "alicia"]
    assert results[0] == {"name": "alice", "kind": "user", "is_robot": False, "avatar": results[0]["avatar"]}
    # The exact match comes first; the query is folded to lower case without spaces.
    assert names(server.call("GET", "/api/v1/entities/Ali cia").json()["results"]) == ["alicia"]
    # Robots only appear for their own namespace, and only to its owner.
    assert "alice+builder" not in names(server.call("GET", "/api/v1/entities/builder?namespace=alice").json()
                                        ["results"])
    own = server.call("GET", "/api/v1/entities/bu?namespace=alice", alice).json()["results"]
    assert [(e["name"], e["is_robot"]) for e in own] == [("alice+builder", True)]


def test_exact_user_autocomplete_when_partial_is_off(make_server: Any) -> None:
    server = make_server({"FEATURE_PARTIAL_USER_AUTOCOMPLETE": False})
    server.make_user("alice")
    server.make_user("alicia")
    assert names(server.call("GET", "/api/v1/entities/ali").json()["results"]) == []
    assert names(server.call("GET", "/api/v1/entities/alice").json()["results"]) == ["alice"]


@pytest.mark.operation("getMatchingEntities")
def test_entities_in_an_organization(server: Server) -> None:
    boss = server.make_user("boss")
    outsider = server.make_user("bystander")
    server.make_user("devon")
    make_org(server, "acme", "boss")
    add_team(server, "acme", "devs", "member", ["devon"])
    make_robot(server, "acme+deployer")
    query = "/api/v1/entities/{}?namespace=acme&includeTeams=true&includeOrgs=true"
    results = server.call("GET", query.format("de"), boss).json()["results"]
    assert [(e["name"], e["kind"]) for e in results] == [("devs", "team"), ("acme+deployer", "user"),
                                                        ("devon", "user")]
    assert all(e["is_org_member"] for e in results)
    org = server.call("GET", query.format("ac"), boss).json()["results"]
    assert [(e["name"], e["kind"]) for e in org] == [("acme", "org")]
    # Outsiders get neither teams, robots nor the organization, and see who is a member.
    seen = server.call("GET", query.format("b"), outsider).json()["results"]
    assert {e["name"]: e["is_org_member"] for e in seen} == {"boss": True, "bystander": False}
    devon = server.call("GET", query.format("de"), outsider).json()["results"]
    assert [{k: v for k, v in e.items() if k != "avatar"} for e in devon] == [
        {"name": "devon", "kind": "user", "is_robot": False, "is_org_member": True}]
    assert devon[0]["avatar"] == results[2]["avatar"]


@pytest.mark.operation("conductRepoSearch")
def test_repository_search_respects_visibility_and_pages(server: Server) -> None:
    alice = server.make_user("alice")
    bob = server.make_user("bob")
    create_repo(server, alice, "webapp", visibility="public", description="the site")
    create_repo(server, alice, "webhidden")
    create_repo(server, alice, "other", visibility="public", description="for the web team")
    anon = server.call("GET", "/api/v1/find/repositories?query=web").json()
    assert anon["page"] == 1
    assert (anon["page_size"], anon["start_index"], anon["has_additional"]) == (10, 0, False)
    # Name matches rank before description-only matches.
    assert names(anon["results"]) == ["webapp", "other"]
    hit = anon["results"][0]
    assert (hit["kind"], hit["title"], hit["href"], hit["is_public"]) == (
        "repository", "repo", "/repository/alice/webapp", True)
    # Usage fields come only with includeUsage.
    assert "stars" not in hit and "popularity" not in hit
    usage = server.call("GET", "/api/v1/find/repositories?query=web&includeUsage=true").json()["results"][0]
    assert (usage["stars"], usage["popularity"]) == (0, 0.0)
    assert hit["namespace"]["name"] == "alice"
    assert hit["namespace"]["kind"] == "user"
    assert names(server.call("GET", "/api/v1/find/repositories?query=web", alice).json()["results"]) == [
        "webapp", "webhidden", "other"]
    assert "webhidden" not in names(server.call("GET", "/api/v1/find/repositories?query=web", bob)
                                    .json()["results"])
    with server.storage.transaction() as db:
        owner = db.user_by_name("alice")
        assert owner is not None
        for i in range(12):
            db.create_repository(owner, f"bulk{i:02d}", visibility="public", description="", kind="image")
    first = server.call("GET", "/api/v1/find/repositories?query=bulk").json()
    assert (len(first["results"]), first["has_additional"]) == (10, True)
    second = server.call("GET", "/api/v1/find/repositories?query=bulk&page=2").json()
    assert (names(second["results"]), second["start_index"], second["has_additional"]) == (
        ["bulk10", "bulk11"], 10, False)
    assert server.call("GET", "/api/v1/find/repositories?query=bulk&page=99").json()["page"] == 10
    assert server.call("GET", "/api/v1/find/repositories?page=zz").status_code == 400


@pytest.mark.operation("conductSearch")
def test_search_everything(server: Server) -> None:
    alice = server.make_user("alice")
    server.make_user("zed")
    create_repo(server, alice, "alpha", visibility="public")
    make_org(server, "alphaorg", "alice")
    add_team(server, "alphaorg", "alphateam", "member", ["alice"])
    make_robot(server, "alice+alphabot")
    assert server.call("GET", "/api/v1/find/all").json() == {"results": []}
    results = server.call("GET", "/api/v1/find/all?query=alpha", alice).json()["results"]
    kinds = {(r["kind"], r["name"]) for r in results}
    assert ("repository", "alpha") in kinds
    assert ("team", "alphateam") in kinds
    assert ("robot", "alice+alphabot") in kinds
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    robot = next(r for r in results if r["kind"] == "robot")
    assert robot["short_name"] == "alphabot"
    assert robot["href"] == "/user/alice?tab=robots&showRobot=alice+alphabot"
    # Anonymous callers only find public repositories and the namespaces holding them.
    anon = server.call("GET", "/api/v1/find/all?query=al").json()["results"]
    assert {(r["kind"], r["name"]) for r in anon} == {("repository", "alpha"), ("user", "alice")}


def test_similarity_scores() -> None:
    assert similarity("alpha", "alpha") == 1.0
    assert similarity("alpha", "") == 0.8
    assert similarity("alpha", "zz") == 0.0
    assert similarity("al", "alpha") == 0.0
    assert 0.8 < similarity("alphabet", "alpha") < 1.0
    assert similarity("alphabet", "alpha") > similarity("xalphabet", "alpha")


@pytest.mark.operation("linkExternalUser")
def test_link_external_user_without_federated_login_is_404(server: Server) -> None:
    alice = server.make_user("alice")
    r = server.call("POST", "/api/v1/entities/link/someone", alice)
    assert r.status_code == 404
    assert "message" in r.json()
    # The CSRF rule still comes first for callers without a token.
    assert server.call("POST", "/api/v1/entities/link/someone").status_code == 403
