"""Conformance of robot accounts, user and organization (create = PUT, tokens, permissions, federation).
Expectations come from Quay's behaviour (quay-api.md A rows 90-98 and 284-292, B, C, D1, D7 and the robot
transcript in quay-observed.md), never from the reference server."""

from __future__ import annotations

import re
from typing import Any

import pytest

from harness.checks import expect
from harness.client import QuayClient
from harness.world import Persona, Robot, Target, World

pytestmark = pytest.mark.area("robot")

RFC2822 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} [-+]\d{4}$")
ROBOT_TOKEN = re.compile(r"^[A-Z0-9]{64}$")
NAME_RULE = "^([a-z0-9]+(?:[._-][a-z0-9]+)*)$"
CSRF_MESSAGE = "CSRF token was invalid or missing."
ISSUER = "https://issuer.example.com"


def _assert_robot(body: Any, full_name: str, *, token: bool, metadata: bool) -> None:
    assert body["name"] == full_name
    assert isinstance(body["created"], str) and RFC2822.match(body["created"]), body["created"]
    assert body["last_accessed"] is None
    assert isinstance(body["description"], str)
    if token:
        assert ROBOT_TOKEN.match(str(body["token"])), "a robot token is 64 characters of A-Z0-9"
    else:
        assert "token" not in body
    assert ("unstructured_metadata" in body) is metadata


def _expect_csrf(response: Any) -> None:
    body = expect(response, 403, shape="error")
    assert body["error"] == CSRF_MESSAGE


def _add_to_team(world: World, owner: Persona, org: str, team: str, member: Persona | Robot) -> None:
    """Add `member` to `team` as the org's owner. (World.team(members=...) adds members with the superuser's
    client, which Quay refuses on an organization the superuser does not administer unless it has full access.)"""
    world.add_member(org, team, member, as_=owner)


def _member(world: World, org: str, owner: Persona) -> Persona:
    """A user in a member-role team of `org` (not an admin)."""
    member = world.user()
    team = world.team(org, role="member", as_=owner)
    _add_to_team(world, owner, org, team, member)
    return member


# -- user robots ----------------------------------------------------------------------------------------------------
@pytest.mark.operation("createUserRobot")
def test_user_robot_create_is_put_and_returns_201_with_token(world: World, target: Target) -> None:
    persona = world.user()
    short = target.next_name("bot")
    response = persona.client().call("createUserRobot", robot_shortname=short,
                                     json={"description": "CI robot", "unstructured_metadata": {"team": "x"}})
    body = expect(response, 201)
    _assert_robot(body, f"{persona.name}+{short}", token=True, metadata=True)
    assert body["description"] == "CI robot"
    assert body["unstructured_metadata"] == {"team": "x"}


@pytest.mark.operation("createUserRobot")
def test_user_robot_create_without_body_has_empty_description(world: World, target: Target) -> None:
    persona = world.user()
    short = target.next_name("bot")
    body = expect(persona.client().call("createUserRobot", robot_shortname=short), 201)
    _assert_robot(body, f"{persona.name}+{short}", token=True, metadata=True)
    assert body["description"] == ""


@pytest.mark.operation("createUserRobot")
def test_existing_user_robot_name_is_400(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("createUserRobot", robot_shortname=robot.short),
                  400, error_type="invalid_request")
    assert body["detail"] == f"Existing robot with name: {robot.name}"


@pytest.mark.operation("createUserRobot")
def test_invalid_user_robot_name_is_400_with_the_rule(world: World) -> None:
    persona = world.user()
    body = expect(persona.client().call("createUserRobot", robot_shortname="Bad-Name"),
                  400, error_type="invalid_request")
    assert body["detail"] == (f"The name for the robot 'Bad-Name' is invalid: Namespace must match expression "
                              f"{NAME_RULE}")


@pytest.mark.operation("createUserRobot")
@pytest.mark.parametrize("body", [{"description": "x" * 256}, {"unstructured_metadata": "text"}],
                         ids=["description-too-long", "metadata-not-object"])
def test_user_robot_with_invalid_body_is_400(world: World, target: Target, body: dict[str, Any]) -> None:
    persona = world.user()
    expect(persona.client().call("createUserRobot", robot_shortname=target.next_name("bot"), json=body),
           400, error_type="invalid_request")


@pytest.mark.operation("createUserRobot")
def test_user_robot_create_needs_user_admin_scope(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read", "org:admin"]).call("createUserRobot",
                                                                  robot_shortname=target.next_name("bot")),
           403, error_type="insufficient_scope")


@pytest.mark.operation("createUserRobot")
def test_anonymous_user_robot_create_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf(anon.call("createUserRobot", robot_shortname="somebot"))


@pytest.mark.operation("getUserRobot")
def test_get_user_robot_shows_token_and_metadata(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("getUserRobot", robot_shortname=robot.short), 200)
    _assert_robot(body, robot.name, token=True, metadata=True)
    assert body["token"] == robot.token


@pytest.mark.operation("getUserRobot")
def test_unknown_user_robot_is_400_message(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("getUserRobot", robot_shortname=target.next_name("nobot")), 400, shape="message")


@pytest.mark.operation("getUserRobot")
def test_anonymous_get_user_robot_is_401(anon: QuayClient) -> None:
    expect(anon.call("getUserRobot", robot_shortname="somebot"), 401, error_type="invalid_token")


@pytest.mark.operation("getUserRobots")
def test_user_robot_list_includes_tokens_by_default(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("getUserRobots"), 200)
    assert set(body) == {"robots"}
    entries = [r for r in body["robots"] if r["name"] == robot.name]
    assert len(entries) == 1
    assert entries[0]["token"] == robot.token
    assert isinstance(entries[0]["created"], str) and RFC2822.match(entries[0]["created"])


@pytest.mark.operation("getUserRobots")
def test_user_robot_list_without_token_hides_it_and_permissions_add_teams_and_repositories(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    body = expect(persona.client().call("getUserRobots", params={"token": "false", "permissions": "true"}), 200)
    entry = next(r for r in body["robots"] if r["name"] == robot.name)
    assert "token" not in entry
    assert entry["teams"] == []
    assert entry["repositories"] == []


@pytest.mark.operation("getUserRobots")
def test_user_robot_list_limit(world: World) -> None:
    persona = world.user()
    world.robot(persona.name)
    world.robot(persona.name)
    body = expect(persona.client().call("getUserRobots", params={"limit": 1}), 200)
    assert len(body["robots"]) == 1


@pytest.mark.operation("getUserRobots")
def test_fresh_user_has_no_robots(world: World) -> None:
    persona = world.user()
    assert expect(persona.client().call("getUserRobots"), 200) == {"robots": []}


@pytest.mark.operation("getUserRobots")
def test_user_robot_list_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    expect(persona.client(scopes=["user:read"]).call("getUserRobots"), 403, error_type="insufficient_scope")


@pytest.mark.operation("deleteUserRobot", "getUserRobot")
def test_delete_user_robot_is_204_and_then_unknown(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    client = persona.client()
    response = client.call("deleteUserRobot", robot_shortname=robot.short)
    expect(response, 204)
    assert not response.content
    expect(client.call("getUserRobot", robot_shortname=robot.short), 400, shape="message")


@pytest.mark.operation("deleteUserRobot")
def test_deleting_an_unknown_user_robot_is_400_message(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("deleteUserRobot", robot_shortname=target.next_name("nobot")), 400, shape="message")


@pytest.mark.operation("deleteUserRobot")
def test_anonymous_delete_user_robot_is_refused_by_csrf(anon: QuayClient) -> None:
    _expect_csrf(anon.call("deleteUserRobot", robot_shortname="somebot"))


@pytest.mark.operation("regenerateUserRobotToken", "getUserRobot")
def test_regenerated_user_robot_token_replaces_the_old_one(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    client = persona.client()
    body = expect(client.call("regenerateUserRobotToken", robot_shortname=robot.short), 200)
    assert body["name"] == robot.name
    assert ROBOT_TOKEN.match(body["token"]) and body["token"] != robot.token
    assert expect(client.call("getUserRobot", robot_shortname=robot.short), 200)["token"] == body["token"]


@pytest.mark.operation("regenerateUserRobotToken")
def test_regenerating_an_unknown_user_robot_is_400_message(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("regenerateUserRobotToken", robot_shortname=target.next_name("nobot")),
           400, shape="message")


@pytest.mark.operation("regenerateUserRobotToken")
def test_regenerate_user_robot_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    expect(persona.client(scopes=["user:read"]).call("regenerateUserRobotToken", robot_shortname=robot.short),
           403, error_type="insufficient_scope")


@pytest.mark.operation("getUserRobotPermissions")
def test_user_robot_permissions_list_its_repositories_and_roles(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    repo = world.repo(persona.name, visibility="private")
    world.grant(repo, user=robot, role="write")
    body = expect(persona.client().call("getUserRobotPermissions", robot_shortname=robot.short), 200)
    assert body == {"permissions": [{"repository": {"name": repo.split("/")[1], "is_public": False},
                                     "role": "write"}]}


@pytest.mark.operation("getUserRobotPermissions")
def test_unknown_user_robot_permissions_is_400_message(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("getUserRobotPermissions", robot_shortname=target.next_name("nobot")),
           400, shape="message")


@pytest.mark.operation("getUserRobotPermissions")
def test_anonymous_user_robot_permissions_is_401(anon: QuayClient) -> None:
    expect(anon.call("getUserRobotPermissions", robot_shortname="somebot"), 401, error_type="invalid_token")


# -- user robot federation ------------------------------------------------------------------------------------------
def _issuers(entries: Any) -> set[tuple[str, str]]:
    assert isinstance(entries, list)
    return {(e["issuer"], e["subject"]) for e in entries}


@pytest.mark.operation("createUserRobotFederation", "getUserRobotFederation", "deleteUserRobotFederation")
def test_user_robot_federation_is_replaced_read_and_deleted(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    client = persona.client()
    assert expect(client.call("getUserRobotFederation", robot_shortname=robot.short), 200) == []
    config = [{"issuer": ISSUER, "subject": "repo:ci"}, {"issuer": ISSUER, "subject": "repo:cd"}]
    created = expect(client.call("createUserRobotFederation", robot_shortname=robot.short, json=config), 200)
    assert _issuers(created) == {(ISSUER, "repo:ci"), (ISSUER, "repo:cd")}
    replaced = expect(client.call("createUserRobotFederation", robot_shortname=robot.short,
                                  json=[{"issuer": ISSUER, "subject": "only"}]), 200)
    assert _issuers(replaced) == {(ISSUER, "only")}
    read = expect(client.call("getUserRobotFederation", robot_shortname=robot.short), 200)
    assert _issuers(read) == {(ISSUER, "only")}
    expect(client.call("deleteUserRobotFederation", robot_shortname=robot.short), 204)
    assert expect(client.call("getUserRobotFederation", robot_shortname=robot.short), 200) == []


@pytest.mark.operation("createUserRobotFederation")
@pytest.mark.parametrize("config", [
    [{"issuer": "issuer.example.com", "subject": "s"}],
    [{"issuer": ISSUER, "subject": "s"}, {"issuer": ISSUER, "subject": "s"}],
], ids=["issuer-not-a-url", "duplicate-entry"])
def test_invalid_user_robot_federation_is_400(world: World, config: list[dict[str, str]]) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    expect(persona.client().call("createUserRobotFederation", robot_shortname=robot.short, json=config),
           400, error_type="invalid_request")


@pytest.mark.operation("createUserRobotFederation")
@pytest.mark.parametrize("config", [{"issuer": ISSUER, "subject": "s"}, [{"issuer": ISSUER}]],
                         ids=["object-not-array", "missing-subject"])
def test_user_robot_federation_body_must_match_the_schema(world: World, config: Any) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    expect(persona.client().call("createUserRobotFederation", robot_shortname=robot.short, json=config),
           400, error_type="invalid_request")


@pytest.mark.operation("getUserRobotFederation")
def test_user_robot_federation_of_an_unknown_robot_is_400_message(world: World, target: Target) -> None:
    persona = world.user()
    expect(persona.client().call("getUserRobotFederation", robot_shortname=target.next_name("nobot")),
           400, shape="message")


@pytest.mark.operation("getUserRobotFederation", "createUserRobotFederation", "deleteUserRobotFederation")
def test_user_robot_federation_needs_user_admin_scope(world: World) -> None:
    persona = world.user()
    robot = world.robot(persona.name)
    reader = persona.client(scopes=["user:read"])
    expect(reader.call("getUserRobotFederation", robot_shortname=robot.short), 403, error_type="insufficient_scope")
    expect(reader.call("createUserRobotFederation", robot_shortname=robot.short,
                       json=[{"issuer": ISSUER, "subject": "s"}]), 403, error_type="insufficient_scope")
    expect(reader.call("deleteUserRobotFederation", robot_shortname=robot.short), 403,
           error_type="insufficient_scope")


# -- organization robots --------------------------------------------------------------------------------------------
@pytest.mark.operation("createOrgRobot")
def test_org_robot_create_is_put_and_returns_201_with_token(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    short = target.next_name("bot")
    body = expect(owner.client().call("createOrgRobot", orgname=org, robot_shortname=short,
                                      json={"description": "org robot"}), 201)
    _assert_robot(body, f"{org}+{short}", token=True, metadata=True)
    assert body["description"] == "org robot"
    assert body["unstructured_metadata"] is None or body["unstructured_metadata"] == {}


@pytest.mark.operation("createOrgRobot")
def test_existing_org_robot_name_is_400(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    body = expect(owner.client().call("createOrgRobot", orgname=org, robot_shortname=robot.short),
                  400, error_type="invalid_request")
    assert body["detail"] == f"Existing robot with name: {robot.name}"


@pytest.mark.operation("createOrgRobot")
def test_invalid_org_robot_name_is_400_with_the_rule(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    body = expect(owner.client().call("createOrgRobot", orgname=org, robot_shortname="Bad-Name"),
                  400, error_type="invalid_request")
    assert body["detail"] == (f"The name for the robot 'Bad-Name' is invalid: Namespace must match expression "
                              f"{NAME_RULE}")


@pytest.mark.operation("createOrgRobot")
def test_org_robot_body_is_validated_before_permission(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    expect(outsider.client().call("createOrgRobot", orgname=org, robot_shortname="somebot",
                                  json={"description": "x" * 256}), 400, error_type="invalid_request")


@pytest.mark.operation("createOrgRobot")
def test_outsider_cannot_create_org_robot(world: World, target: Target) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    expect(outsider.client().call("createOrgRobot", orgname=org, robot_shortname=target.next_name("bot")),
           403, error_type="insufficient_scope")


@pytest.mark.operation("createOrgRobot")
def test_org_member_cannot_create_org_robot(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    member = _member(world, org, owner)
    expect(member.client().call("createOrgRobot", orgname=org, robot_shortname=target.next_name("bot")),
           403, error_type="insufficient_scope")


@pytest.mark.operation("createOrgRobot")
def test_org_admin_token_without_org_admin_scope_cannot_create_org_robot(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client(scopes=["repo:admin", "user:admin"]).call("createOrgRobot", orgname=org,
                                                                  robot_shortname=target.next_name("bot")),
           403, error_type="insufficient_scope")


@pytest.mark.operation("createOrgRobot")
def test_anonymous_org_robot_create_is_refused_by_csrf(world: World, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    _expect_csrf(anon.call("createOrgRobot", orgname=org, robot_shortname="somebot"))


@pytest.mark.operation("getOrgRobot")
def test_get_org_robot_shows_token_and_metadata_to_an_admin(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    body = expect(owner.client().call("getOrgRobot", orgname=org, robot_shortname=robot.short), 200)
    _assert_robot(body, robot.name, token=True, metadata=True)
    assert body["token"] == robot.token


@pytest.mark.operation("getOrgRobot")
def test_unknown_org_robot_is_400_message(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client().call("getOrgRobot", orgname=org, robot_shortname=target.next_name("nobot")),
           400, shape="message")


@pytest.mark.operation("getOrgRobot")
def test_org_member_cannot_read_an_org_robot(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    member = _member(world, org, owner)
    expect(member.client().call("getOrgRobot", orgname=org, robot_shortname=robot.short),
           403, error_type="insufficient_scope")


@pytest.mark.operation("getOrgRobot")
def test_anonymous_get_org_robot_is_401(world: World, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    expect(anon.call("getOrgRobot", orgname=org, robot_shortname="somebot"), 401, error_type="invalid_token")


@pytest.mark.operation("getOrgRobots")
def test_org_robot_list_for_an_admin_includes_tokens(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    body = expect(owner.client().call("getOrgRobots", orgname=org), 200)
    entry = next(r for r in body["robots"] if r["name"] == robot.name)
    assert entry["token"] == robot.token


@pytest.mark.operation("getOrgRobots")
def test_org_robot_list_with_permissions_shows_teams_and_repositories(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    team = world.team(org)
    _add_to_team(world, owner, org, team, robot)
    repo = world.repo(org)
    world.grant(repo, user=robot, role="read")
    body = expect(owner.client().call("getOrgRobots", orgname=org, params={"permissions": "true",
                                                                          "token": "false"}), 200)
    entry = next(r for r in body["robots"] if r["name"] == robot.name)
    assert "token" not in entry
    assert [t["name"] for t in entry["teams"]] == [team]
    assert entry["repositories"] == [repo.split("/")[1]]


@pytest.mark.operation("getOrgRobots")
def test_org_member_lists_robots_without_tokens(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    member = _member(world, org, owner)
    body = expect(member.client().call("getOrgRobots", orgname=org), 200)
    entry = next(r for r in body["robots"] if r["name"] == robot.name)
    assert "token" not in entry


@pytest.mark.operation("getOrgRobots")
def test_outsider_cannot_list_org_robots(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    expect(outsider.client().call("getOrgRobots", orgname=org), 403, error_type="insufficient_scope")


@pytest.mark.operation("getOrgRobots")
def test_anonymous_org_robot_list_is_401(world: World, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    expect(anon.call("getOrgRobots", orgname=org), 401, error_type="invalid_token")


@pytest.mark.operation("deleteOrgRobot", "getOrgRobot")
def test_delete_org_robot_is_204_and_then_unknown(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    client = owner.client()
    response = client.call("deleteOrgRobot", orgname=org, robot_shortname=robot.short)
    expect(response, 204)
    assert not response.content
    expect(client.call("getOrgRobot", orgname=org, robot_shortname=robot.short), 400, shape="message")


@pytest.mark.operation("deleteOrgRobot")
def test_outsider_cannot_delete_org_robot(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    expect(outsider.client().call("deleteOrgRobot", orgname=org, robot_shortname=robot.short),
           403, error_type="insufficient_scope")
    expect(owner.client().call("getOrgRobot", orgname=org, robot_shortname=robot.short), 200)


@pytest.mark.operation("regenerateOrgRobotToken", "getOrgRobot")
def test_regenerated_org_robot_token_replaces_the_old_one(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    client = owner.client()
    body = expect(client.call("regenerateOrgRobotToken", orgname=org, robot_shortname=robot.short), 200)
    assert body["name"] == robot.name
    assert ROBOT_TOKEN.match(body["token"]) and body["token"] != robot.token
    assert expect(client.call("getOrgRobot", orgname=org, robot_shortname=robot.short), 200)["token"] == \
        body["token"]


@pytest.mark.operation("regenerateOrgRobotToken")
def test_outsider_cannot_regenerate_org_robot_token(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    expect(outsider.client().call("regenerateOrgRobotToken", orgname=org, robot_shortname=robot.short),
           403, error_type="insufficient_scope")


@pytest.mark.operation("regenerateOrgRobotToken")
def test_regenerating_an_unknown_org_robot_is_400_message(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client().call("regenerateOrgRobotToken", orgname=org, robot_shortname=target.next_name("nobot")),
           400, shape="message")


@pytest.mark.operation("getOrgRobotPermissions")
def test_org_robot_permissions_list_its_repositories_and_roles(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    repo = world.repo(org, visibility="public")
    world.grant(repo, user=robot, role="admin")
    body = expect(owner.client().call("getOrgRobotPermissions", orgname=org, robot_shortname=robot.short), 200)
    assert body == {"permissions": [{"repository": {"name": repo.split("/")[1], "is_public": True},
                                     "role": "admin"}]}


@pytest.mark.operation("getOrgRobotPermissions")
def test_org_member_gets_a_plain_403_message_for_robot_permissions(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    member = _member(world, org, owner)
    expect(member.client().call("getOrgRobotPermissions", orgname=org, robot_shortname=robot.short),
           403, shape="message")


@pytest.mark.operation("getOrgRobotPermissions")
def test_org_robot_permissions_need_user_admin_scope_even_for_an_org_admin(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    expect(owner.client(scopes=["org:admin"]).call("getOrgRobotPermissions", orgname=org,
                                                   robot_shortname=robot.short),
           403, error_type="insufficient_scope")


@pytest.mark.operation("getOrgRobotPermissions")
def test_anonymous_org_robot_permissions_is_401(world: World, anon: QuayClient) -> None:
    org = world.org(owner=world.user())
    expect(anon.call("getOrgRobotPermissions", orgname=org, robot_shortname="somebot"), 401,
           error_type="invalid_token")


@pytest.mark.operation("createOrgRobotFederation", "getOrgRobotFederation", "deleteOrgRobotFederation")
def test_org_robot_federation_is_replaced_read_and_deleted(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    client = owner.client()
    assert expect(client.call("getOrgRobotFederation", orgname=org, robot_shortname=robot.short), 200) == []
    created = expect(client.call("createOrgRobotFederation", orgname=org, robot_shortname=robot.short,
                                 json=[{"issuer": ISSUER, "subject": "system:serviceaccount:ci"}]), 200)
    assert _issuers(created) == {(ISSUER, "system:serviceaccount:ci")}
    read = expect(client.call("getOrgRobotFederation", orgname=org, robot_shortname=robot.short), 200)
    assert _issuers(read) == {(ISSUER, "system:serviceaccount:ci")}
    response = client.call("deleteOrgRobotFederation", orgname=org, robot_shortname=robot.short)
    expect(response, 204)
    assert expect(client.call("getOrgRobotFederation", orgname=org, robot_shortname=robot.short), 200) == []


@pytest.mark.operation("createOrgRobotFederation")
def test_org_robot_federation_body_is_validated_before_permission(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    expect(outsider.client().call("createOrgRobotFederation", orgname=org, robot_shortname=robot.short,
                                  json={"issuer": ISSUER}), 400, error_type="invalid_request")


@pytest.mark.operation("createOrgRobotFederation")
def test_org_robot_federation_issuer_must_be_a_url(world: World) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    expect(owner.client().call("createOrgRobotFederation", orgname=org, robot_shortname=robot.short,
                               json=[{"issuer": "ftp://issuer.example.com", "subject": "s"}]),
           400, error_type="invalid_request")


@pytest.mark.operation("getOrgRobotFederation", "createOrgRobotFederation", "deleteOrgRobotFederation")
def test_outsider_cannot_touch_org_robot_federation(world: World) -> None:
    owner, outsider = world.user(), world.user()
    org = world.org(owner=owner)
    robot = world.robot(org)
    client = outsider.client()
    expect(client.call("getOrgRobotFederation", orgname=org, robot_shortname=robot.short),
           403, error_type="insufficient_scope")
    expect(client.call("createOrgRobotFederation", orgname=org, robot_shortname=robot.short,
                       json=[{"issuer": ISSUER, "subject": "s"}]), 403, error_type="insufficient_scope")
    expect(client.call("deleteOrgRobotFederation", orgname=org, robot_shortname=robot.short),
           403, error_type="insufficient_scope")


@pytest.mark.operation("getOrgRobotFederation")
def test_org_robot_federation_of_an_unknown_robot_is_400_message(world: World, target: Target) -> None:
    owner = world.user()
    org = world.org(owner=owner)
    expect(owner.client().call("getOrgRobotFederation", orgname=org, robot_shortname=target.next_name("nobot")),
           400, shape="message")
