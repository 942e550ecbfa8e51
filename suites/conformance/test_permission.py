"""Conformance of repository permissions for users and teams (`/repository/{r}/permissions/...`): maps keyed by
name, create-or-update PUTs, Quay's 400s for missing rows (a `{"message"}` body on GET, the standard body on
DELETE), the namespace-owner guard, and the transitive view. Expectations are Quay's (quay-api.md A rows 161-169,
B, C, D9), never the reference server's declarations."""

from __future__ import annotations

import pytest

from harness.checks import expect
from harness.world import Persona, Target, World

pytestmark = pytest.mark.area("permission")

NO_USER_ROW = "User does not have permission for repo."
NO_TEAM_ROW = "Team does not have permission for repo."
OWNER_GUARD = "Namespace owner must always be admin."


def _org_repo(world: World) -> tuple[Persona, str, str]:
    owner = world.user()
    org = world.org(owner=owner)
    return owner, org, world.repo(org, as_=owner)


# ---- user permissions ------------------------------------------------------------------------------------------
@pytest.mark.operation("changeUserPermissions", "getRepo")
def test_granting_a_user_returns_200_with_the_permission_view(world: World) -> None:
    owner, _, repo = _org_repo(world)
    reader = world.user()
    expect(reader.client().call("getRepo", repository=repo), 403, error_type="insufficient_scope")
    body = expect(owner.client().call("changeUserPermissions", repository=repo, username=reader.name,
                                      json={"role": "read"}), 200)
    assert body["role"] == "read"
    assert body["name"] == reader.name
    assert body["is_robot"] is False
    assert body["is_org_member"] is False
    assert set(body["avatar"]) >= {"name", "hash", "color", "kind"}
    expect(reader.client().call("getRepo", repository=repo), 200)


@pytest.mark.operation("changeUserPermissions", "getUserPermissions")
def test_changing_a_user_role_updates_the_existing_row(world: World) -> None:
    owner, _, repo = _org_repo(world)
    user = world.user()
    world.grant(repo, user=user, role="read", as_=owner)
    body = expect(owner.client().call("changeUserPermissions", repository=repo, username=user.name,
                                      json={"role": "admin"}), 200)
    assert body["role"] == "admin"
    assert expect(owner.client().call("getUserPermissions", repository=repo, username=user.name),
                  200)["role"] == "admin"


@pytest.mark.operation("changeUserPermissions")
def test_granting_the_user_namespace_owner_is_400(world: World) -> None:
    owner = world.user()
    repo = world.repo(owner.name)
    body = expect(owner.client().call("changeUserPermissions", repository=repo, username=owner.name,
                                      json={"role": "read"}), 400, error_type="invalid_request")
    assert body["detail"] == OWNER_GUARD


@pytest.mark.operation("changeUserPermissions")
def test_granting_an_unknown_user_is_400(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    name = target.next_name("nosuch")
    body = expect(owner.client().call("changeUserPermissions", repository=repo, username=name,
                                      json={"role": "read"}), 400, error_type="invalid_request")
    assert body["detail"] == f"Invalid username: {name}"


@pytest.mark.operation("changeUserPermissions")
def test_granting_a_robot_of_another_namespace_is_400(world: World) -> None:
    owner, org, repo = _org_repo(world)
    foreign = world.robot(world.org(owner=owner), as_=owner)
    body = expect(owner.client().call("changeUserPermissions", repository=repo, username=foreign.name,
                                      json={"role": "read"}), 400, error_type="invalid_request")
    assert body["detail"] == f"Cannot add robot {foreign.name} under namespace {org}"


@pytest.mark.operation("changeUserPermissions")
@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": 1}], ids=["no-role", "bad-role", "int-role"])
def test_granting_with_invalid_body_is_400_for_admin(world: World, body: dict[str, object]) -> None:
    owner, _, repo = _org_repo(world)
    expect(owner.client().call("changeUserPermissions", repository=repo, username=world.user().name, json=body),
           400, error_type="invalid_request")


@pytest.mark.operation("changeUserPermissions", "listRepoUserPermissions")
def test_granting_is_403_for_writer_outsider_and_token_without_repo_admin(world: World) -> None:
    owner, _, repo = _org_repo(world)
    writer, other = world.user(), world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    for client in (writer.client(), world.user().client(), owner.client(["repo:write", "org:admin"])):
        expect(client.call("changeUserPermissions", repository=repo, username=other.name, json={"role": "admin"}),
               403, error_type="insufficient_scope")
    # Repository endpoints check permission before the body: a bad body from an outsider is still 403.
    expect(world.user().client().call("changeUserPermissions", repository=repo, username=other.name,
                                      json={"role": "owner"}), 403, error_type="insufficient_scope")
    perms = expect(owner.client().call("listRepoUserPermissions", repository=repo), 200)["permissions"]
    assert other.name not in perms


@pytest.mark.operation("listRepoUserPermissions")
def test_user_permission_list_is_a_map_keyed_by_name(world: World) -> None:
    owner, org, repo = _org_repo(world)
    reader = world.user()
    robot = world.robot(org, as_=owner)
    world.grant(repo, user=reader, role="read", as_=owner)
    world.grant(repo, user=robot, role="write", as_=owner)
    body = expect(owner.client().call("listRepoUserPermissions", repository=repo), 200)
    perms = body["permissions"]
    assert set(perms) == {owner.name, reader.name, robot.name}
    assert perms[owner.name]["role"] == "admin" and perms[owner.name]["is_org_member"] is True
    assert perms[reader.name] | {"avatar": None} == {"role": "read", "name": reader.name, "is_robot": False,
                                                     "is_org_member": False, "avatar": None}
    assert perms[robot.name]["is_robot"] is True and perms[robot.name]["is_org_member"] is True
    assert perms[robot.name]["role"] == "write"


@pytest.mark.operation("listRepoUserPermissions", "listRepoTeamPermissions")
def test_permission_lists_are_403_for_reader_and_401_for_anonymous(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    for op in ("listRepoUserPermissions", "listRepoTeamPermissions"):
        expect(reader.client().call(op, repository=repo), 403, error_type="insufficient_scope")
        expect(target.anon.call(op, repository=repo), 401, error_type="invalid_token")


@pytest.mark.operation("getUserPermissions")
def test_get_user_permission_returns_the_view(world: World) -> None:
    owner, _, repo = _org_repo(world)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    body = expect(owner.client().call("getUserPermissions", repository=repo, username=reader.name), 200)
    assert body["role"] == "read" and body["name"] == reader.name and body["is_robot"] is False


@pytest.mark.operation("getUserPermissions")
def test_get_missing_user_permission_is_400_message(world: World) -> None:
    owner, _, repo = _org_repo(world)
    body = expect(owner.client().call("getUserPermissions", repository=repo, username=world.user().name), 400,
                  shape="message")
    assert body["message"] == NO_USER_ROW


@pytest.mark.operation("getUserPermissions")
def test_get_user_permission_is_403_for_writer(world: World) -> None:
    owner, _, repo = _org_repo(world)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("getUserPermissions", repository=repo, username=writer.name), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("deleteUserPermissions", "getUserPermissions", "getRepo")
def test_deleting_a_user_permission_is_204_and_revokes_access(world: World) -> None:
    owner, _, repo = _org_repo(world)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    expect(reader.client().call("getRepo", repository=repo), 200)
    assert expect(owner.client().call("deleteUserPermissions", repository=repo, username=reader.name), 204) is None
    expect(owner.client().call("getUserPermissions", repository=repo, username=reader.name), 400, shape="message")
    expect(reader.client().call("getRepo", repository=repo), 403, error_type="insufficient_scope")


@pytest.mark.operation("deleteUserPermissions")
def test_deleting_a_missing_user_permission_is_400(world: World) -> None:
    owner, _, repo = _org_repo(world)
    body = expect(owner.client().call("deleteUserPermissions", repository=repo, username=world.user().name), 400,
                  error_type="invalid_request")
    assert body["detail"] == NO_USER_ROW


@pytest.mark.operation("deleteUserPermissions")
def test_deleting_the_user_namespace_owner_permission_is_400(world: World) -> None:
    owner = world.user()
    repo = world.repo(owner.name)
    body = expect(owner.client().call("deleteUserPermissions", repository=repo, username=owner.name), 400,
                  error_type="invalid_request")
    assert body["detail"] == OWNER_GUARD


@pytest.mark.operation("deleteUserPermissions", "getUserPermissions")
def test_deleting_a_user_permission_is_403_for_writer(world: World) -> None:
    owner, _, repo = _org_repo(world)
    writer, reader = world.user(), world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    world.grant(repo, user=reader, role="read", as_=owner)
    expect(writer.client().call("deleteUserPermissions", repository=repo, username=reader.name), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("getUserPermissions", repository=repo, username=reader.name), 200)


# ---- team permissions ------------------------------------------------------------------------------------------
@pytest.mark.operation("changeTeamPermissions", "listRepoTeamPermissions", "getTeamPermissions")
def test_granting_a_team_returns_200_and_lists_it_by_name(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    body = expect(owner.client().call("changeTeamPermissions", repository=repo, teamname=team,
                                      json={"role": "write"}), 200)
    assert body["role"] == "write" and body["name"] == team
    assert body["avatar"]["kind"] == "team"
    listed = expect(owner.client().call("listRepoTeamPermissions", repository=repo), 200)["permissions"]
    assert listed == {team: body}
    assert expect(owner.client().call("getTeamPermissions", repository=repo, teamname=team), 200) == \
        {"role": "write"}


@pytest.mark.operation("changeTeamPermissions", "getRepo")
def test_team_grant_gives_its_members_access(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    member = world.user()
    world.add_member(org, team, member, as_=owner)
    expect(member.client().call("getRepo", repository=repo), 403, error_type="insufficient_scope")
    world.grant(repo, team=team, role="read", as_=owner)
    body = expect(member.client().call("getRepo", repository=repo), 200)
    assert body["can_write"] is False


@pytest.mark.operation("changeTeamPermissions")
def test_granting_a_team_of_another_org_is_400(world: World) -> None:
    owner, org, repo = _org_repo(world)
    other = world.org(owner=owner)
    foreign = world.team(other, as_=owner)
    body = expect(owner.client().call("changeTeamPermissions", repository=repo, teamname=foreign,
                                      json={"role": "read"}), 400, error_type="invalid_request")
    assert body["detail"] == f"No team {foreign} in organization {org}"


@pytest.mark.operation("changeTeamPermissions")
def test_granting_a_team_is_403_for_writer_and_400_for_bad_role(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("changeTeamPermissions", repository=repo, teamname=team, json={"role": "read"}),
           403, error_type="insufficient_scope")
    expect(owner.client().call("changeTeamPermissions", repository=repo, teamname=team, json={"role": "none"}),
           400, error_type="invalid_request")


@pytest.mark.operation("getTeamPermissions")
def test_get_missing_team_permission_is_400_message(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    body = expect(owner.client().call("getTeamPermissions", repository=repo, teamname=team), 400, shape="message")
    assert body["message"] == NO_TEAM_ROW


@pytest.mark.operation("getTeamPermissions")
def test_get_team_permission_is_403_for_outsider(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    world.grant(repo, team=team, role="read", as_=owner)
    expect(world.user().client().call("getTeamPermissions", repository=repo, teamname=team), 403,
           error_type="insufficient_scope")


@pytest.mark.operation("deleteTeamPermissions", "listRepoTeamPermissions")
def test_deleting_a_team_permission_is_204_then_400(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    world.grant(repo, team=team, role="read", as_=owner)
    assert expect(owner.client().call("deleteTeamPermissions", repository=repo, teamname=team), 204) is None
    assert expect(owner.client().call("listRepoTeamPermissions", repository=repo), 200) == {"permissions": {}}
    body = expect(owner.client().call("deleteTeamPermissions", repository=repo, teamname=team), 400,
                  error_type="invalid_request")
    assert body["detail"] == NO_TEAM_ROW


@pytest.mark.operation("deleteTeamPermissions", "getTeamPermissions")
def test_deleting_a_team_permission_is_403_for_writer(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    world.grant(repo, team=team, role="read", as_=owner)
    writer = world.user()
    world.grant(repo, user=writer, role="write", as_=owner)
    expect(writer.client().call("deleteTeamPermissions", repository=repo, teamname=team), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("getTeamPermissions", repository=repo, teamname=team), 200)


# ---- transitive --------------------------------------------------------------------------------------------------
@pytest.mark.operation("getUserTransitivePermission")
def test_transitive_permission_includes_team_derived_roles(world: World) -> None:
    owner, org, repo = _org_repo(world)
    team = world.team(org, as_=owner)
    member = world.user()
    world.add_member(org, team, member, as_=owner)
    world.grant(repo, team=team, role="write", as_=owner)
    body = expect(owner.client().call("getUserTransitivePermission", repository=repo, username=member.name), 200)
    assert body == {"permissions": [{"role": "write"}]}
    world.grant(repo, user=member, role="read", as_=owner)
    body = expect(owner.client().call("getUserTransitivePermission", repository=repo, username=member.name), 200)
    assert sorted(p["role"] for p in body["permissions"]) == ["read", "write"]


@pytest.mark.operation("getUserTransitivePermission")
def test_transitive_permission_is_404_without_any_role_or_for_unknown_user(world: World, target: Target) -> None:
    owner, _, repo = _org_repo(world)
    for name in (world.user().name, target.next_name("nosuch")):
        expect(owner.client().call("getUserTransitivePermission", repository=repo, username=name), 404,
               error_type="not_found")


@pytest.mark.operation("getUserTransitivePermission")
def test_transitive_permission_is_403_for_reader(world: World) -> None:
    owner, _, repo = _org_repo(world)
    reader = world.user()
    world.grant(repo, user=reader, role="read", as_=owner)
    expect(reader.client().call("getUserTransitivePermission", repository=repo, username=reader.name), 403,
           error_type="insufficient_scope")
