"""Conformance of the team area: creating and changing teams, their members, e-mail invites, their repository
permissions and accepting/declining invites. Expectations are Quay's (quay-api.md A rows 99-106 and 235-236, B, C,
D8). Whether a user who is in no team of the org gets an invite (Quay's default: MAILING and REQUIRE_TEAM_INVITE
both on) or is added directly is read from the target's profile, the one rule every suite uses."""

from __future__ import annotations

from typing import Any

import pytest

from harness.checks import TargetMismatch, expect
from harness.world import Persona, Robot, Target, World

pytestmark = pytest.mark.area("team")

TEAM_VIEW_KEYS = {"name", "description", "can_view", "role", "avatar", "new_team"}
MEMBER_VIEW_KEYS = {"name", "kind", "is_robot", "avatar", "invited"}


def _invite_code(member: Persona, org: str, team: str) -> str | None:
    notes = expect(member.client().call("listUserNotifications"), 200)["notifications"]
    for note in notes:
        meta = note.get("metadata") or {}
        if note.get("kind") == "org_team_invite" and meta.get("org") == org and meta.get("team") == team:
            return str(meta["code"])
    return None


def _team_with(world: World, owner: Persona, org: str, *members: Persona | Robot, role: str = "member") -> str:
    return world.team(org, role=role, members=members, as_=owner)


def _owned_org(world: World) -> tuple[Persona, str]:
    owner = world.user()
    return owner, world.org(owner=owner)


def _needs_invites(target: Target) -> None:
    if not target.profile.team_invites:
        pytest.skip("the target adds users to teams directly (MAILING or REQUIRE_TEAM_INVITE is off), so it makes "
                    "no invites to check")


def _invite(world: World, owner: Persona, org: str) -> tuple[Persona, str, str]:
    """(invitee, team, code): a user in no team of the org, invited to a fresh team."""
    _needs_invites(world.target)
    invitee = world.user()
    team = world.team(org, as_=owner)
    body = expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=invitee.name), 200)
    assert body["invited"] is True
    code = _invite_code(invitee, org, team)
    assert code, "the invitee got no org_team_invite notification carrying the code"
    return invitee, team, code


def _member_names(owner: Persona, org: str, team: str, pending: bool = False) -> list[str]:
    params = {"includePending": "true"} if pending else None
    body = expect(owner.client().call("getOrganizationTeamMembers", orgname=org, teamname=team, params=params), 200)
    return [m.get("name", m.get("email")) for m in body["members"]]


# ---- updateOrganizationTeam ----------------------------------------------------------------------------------
@pytest.mark.operation("updateOrganizationTeam", "getOrganization")
def test_team_put_creates_with_200_and_new_team_true(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    name = target.next_name("team")
    try:
        body = expect(owner.client().call("updateOrganizationTeam", orgname=org, teamname=name,
                                          json={"role": "creator", "description": "builds things"}), 200)
        assert set(body) == TEAM_VIEW_KEYS
        assert body["name"] == name
        assert body["role"] == "creator"
        assert body["description"] == "builds things"
        assert body["new_team"] is True
        assert body["can_view"] is True
        assert body["avatar"]["kind"] == "team"
        teams = expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]
        assert teams[name]["role"] == "creator" and teams[name]["member_count"] == 0
    finally:
        owner.client().call("deleteOrganizationTeam", orgname=org, teamname=name)


@pytest.mark.operation("updateOrganizationTeam", "getOrganization")
def test_team_put_on_existing_team_changes_role_and_description_with_new_team_false(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, role="member", as_=owner)
    body = expect(owner.client().call("updateOrganizationTeam", orgname=org, teamname=team,
                                      json={"role": "admin", "description": "now admins"}), 200)
    assert body["new_team"] is False
    assert body["role"] == "admin" and body["description"] == "now admins"
    teams = expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]
    assert teams[team]["role"] == "admin" and teams[team]["description"] == "now admins"


@pytest.mark.operation("updateOrganizationTeam")
@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": "admin", "description": 5}],
                         ids=["no-role", "unknown-role", "non-string-description"])
def test_team_put_with_invalid_body_is_400_invalid_request(world: World, target: Target,
                                                           body: dict[str, Any]) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("updateOrganizationTeam", orgname=org, teamname=target.next_name("team"), json=body),
           400, error_type="invalid_request")


@pytest.mark.operation("updateOrganizationTeam", "getOrganization")
@pytest.mark.parametrize("shape", ["{p}Upper", "-{p}", "{p}..x", "x"])
def test_team_put_with_invalid_team_name_is_400_message(world: World, target: Target, shape: str) -> None:
    owner, org = _owned_org(world)
    name = shape.format(p=target.next_name("team"))
    response = owner.client().call("updateOrganizationTeam", orgname=org, teamname=name, json={"role": "member"})
    body = expect(response, 400, shape="message")
    assert str(body["message"]).startswith(f"Invalid team name {name}")
    assert name not in expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]


@pytest.mark.operation("updateOrganizationTeam")
def test_team_put_is_403_for_member_outsider_and_token_without_org_admin(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    _team_with(world, owner, org, member)
    for client in (member.client(), world.user().client(), owner.client(["repo:admin", "user:admin"])):
        expect(client.call("updateOrganizationTeam", orgname=org, teamname=target.next_name("team"),
                           json={"role": "member"}), 403, error_type="insufficient_scope")


@pytest.mark.operation("updateOrganizationTeam", "getOrganization")
def test_lowering_callers_only_admin_team_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    body = expect(owner.client().call("updateOrganizationTeam", orgname=org, teamname="owners",
                                      json={"role": "member"}), 400, shape="message")
    assert "would no longer have admin" in body["message"]
    assert expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]["owners"]["role"] == "admin"


@pytest.mark.operation("updateOrganizationTeam", "getOrganization")
def test_lowering_owners_is_allowed_when_caller_has_another_admin_team(world: World) -> None:
    owner, org = _owned_org(world)
    _team_with(world, owner, org, owner, role="admin")
    body = expect(owner.client().call("updateOrganizationTeam", orgname=org, teamname="owners",
                                      json={"role": "member"}), 200)
    assert body["role"] == "member"


# ---- deleteOrganizationTeam -----------------------------------------------------------------------------------
@pytest.mark.operation("deleteOrganizationTeam", "getOrganization")
def test_team_delete_is_204_and_the_team_is_gone(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    assert expect(owner.client().call("deleteOrganizationTeam", orgname=org, teamname=team), 204) is None
    body = expect(owner.client().call("getOrganization", orgname=org), 200)
    assert team not in body["teams"] and team not in body["ordered_teams"]


@pytest.mark.operation("deleteOrganizationTeam", "getOrganization")
def test_deleting_callers_last_admin_team_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    body = expect(owner.client().call("deleteOrganizationTeam", orgname=org, teamname="owners"), 400,
                  shape="message")
    assert "would remove admin ability" in body["message"]
    assert "owners" in expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]


@pytest.mark.operation("deleteOrganizationTeam")
def test_deleting_an_unknown_team_is_400_message(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    name = target.next_name("team")
    body = expect(owner.client().call("deleteOrganizationTeam", orgname=org, teamname=name), 400, shape="message")
    assert name in body["message"]


@pytest.mark.operation("deleteOrganizationTeam", "getOrganization")
def test_team_delete_is_403_for_a_team_member(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    expect(member.client().call("deleteOrganizationTeam", orgname=org, teamname=team), 403,
           error_type="insufficient_scope")
    assert team in expect(owner.client().call("getOrganization", orgname=org), 200)["teams"]


# ---- getOrganizationTeamMembers -------------------------------------------------------------------------------
@pytest.mark.operation("getOrganizationTeamMembers")
def test_team_members_lists_users_and_robots_with_can_edit_for_admins(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    robot = world.robot(org, as_=owner)
    team = _team_with(world, owner, org, member, robot)
    body = expect(owner.client().call("getOrganizationTeamMembers", orgname=org, teamname=team), 200)
    assert body["name"] == team
    assert body["can_edit"] is True
    by_name = {m["name"]: m for m in body["members"]}
    assert set(by_name) == {member.name, robot.name}
    assert set(by_name[member.name]) >= MEMBER_VIEW_KEYS
    assert by_name[member.name]["kind"] == "user" and by_name[member.name]["is_robot"] is False
    assert by_name[member.name]["invited"] is False
    assert by_name[robot.name]["is_robot"] is True


@pytest.mark.operation("getOrganizationTeamMembers")
def test_team_member_may_list_own_team_without_can_edit(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    body = expect(member.client().call("getOrganizationTeamMembers", orgname=org, teamname=team), 200)
    assert body["can_edit"] is False
    assert [m["name"] for m in body["members"]] == [member.name]


@pytest.mark.operation("getOrganizationTeamMembers")
def test_team_members_is_403_for_member_of_another_team_and_outsider(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    _team_with(world, owner, org, member)
    for client in (member.client(), world.user().client()):
        expect(client.call("getOrganizationTeamMembers", orgname=org, teamname="owners"), 403,
               error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationTeamMembers", orgname=org, teamname="owners"), 401,
           error_type="invalid_token")


@pytest.mark.operation("getOrganizationTeamMembers")
def test_team_members_of_unknown_team_is_404_for_org_admin(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("getOrganizationTeamMembers", orgname=org, teamname=target.next_name("team")), 404,
           error_type="not_found")


@pytest.mark.operation("getOrganizationTeamMembers", "updateOrganizationTeamMember")
def test_include_pending_shows_invites_to_admins_only(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, _ = _invite(world, owner, org)
    member = world.user()
    world.add_member(org, team, member, as_=owner)
    assert invitee.name not in _member_names(owner, org, team)
    body = expect(owner.client().call("getOrganizationTeamMembers", orgname=org, teamname=team,
                                      params={"includePending": "true"}), 200)
    pending = [m for m in body["members"] if m.get("name") == invitee.name]
    assert len(pending) == 1 and pending[0]["invited"] is True and pending[0]["kind"] == "user"
    seen_by_member = expect(member.client().call("getOrganizationTeamMembers", orgname=org, teamname=team,
                                                 params={"includePending": "true"}), 200)
    assert invitee.name not in [m.get("name") for m in seen_by_member["members"]]


# ---- updateOrganizationTeamMember ----------------------------------------------------------------------------
@pytest.mark.operation("updateOrganizationTeamMember", "getOrganizationTeamMembers")
def test_adding_a_user_in_no_team_of_the_org_invites_or_adds_by_the_targets_rule(world: World,
                                                                                 target: Target) -> None:
    owner, org = _owned_org(world)
    newcomer = world.user()
    team = world.team(org, as_=owner)
    body = expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=newcomer.name), 200)
    assert set(body) == MEMBER_VIEW_KEYS
    assert body["name"] == newcomer.name and body["kind"] == "user" and body["is_robot"] is False
    if target.profile.team_invites:
        assert body["invited"] is True, "with invites required, Quay invites a user who is in no team of the org"
        assert newcomer.name not in _member_names(owner, org, team), "an invitee is no member until it accepts"
        assert _invite_code(newcomer, org, team), "the invitee gets an org_team_invite notification"
    else:
        assert body["invited"] is False, "without invites, Quay adds the user at once and answers invited: false"
        assert newcomer.name in _member_names(owner, org, team), "the user added without an invite is a member"


@pytest.mark.operation("updateOrganizationTeamMember", "getOrganizationTeamMembers")
def test_existing_org_member_and_org_robot_are_added_directly(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    _team_with(world, owner, org, member)
    robot = world.robot(org, as_=owner)
    team = world.team(org, as_=owner)
    for who, is_robot in ((member.name, False), (robot.name, True)):
        body = expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                          membername=who), 200)
        assert body["invited"] is False and body["is_robot"] is is_robot and body["name"] == who
    assert set(_member_names(owner, org, team)) == {member.name, robot.name}


@pytest.mark.operation("updateOrganizationTeamMember")
def test_adding_an_unknown_user_is_400_unknown_user(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    body = expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=target.next_name("nosuch")), 400, error_type="invalid_request")
    assert body["detail"] == "Unknown user"


@pytest.mark.operation("updateOrganizationTeamMember")
def test_adding_to_an_unknown_team_is_404(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=target.next_name("team"),
                               membername=owner.name), 404, error_type="not_found")


@pytest.mark.operation("updateOrganizationTeamMember")
def test_adding_a_robot_of_another_namespace_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    foreign = world.robot(world.org(owner=owner), as_=owner)
    team = world.team(org, as_=owner)
    response = owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                   membername=foreign.name)
    if response.status_code == 200 and not world.target.profile.team_invites:
        raise TargetMismatch(response, "Quay refuses a robot of another namespace with 400 (\"...not a member of "
                                       "the organization\"); this target added it, because it checks the robot's "
                                       "namespace only when invites are required (a known Quay bug)")
    body = expect(response, 400, shape="message")
    assert "not a member of the organization" in body["message"]


@pytest.mark.operation("updateOrganizationTeamMember")
def test_adding_a_current_team_member_again_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    body = expect(owner.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=member.name), 400, shape="message")
    assert "already a member" in body["message"]


@pytest.mark.operation("updateOrganizationTeamMember")
def test_adding_a_team_member_is_403_for_plain_member(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    expect(member.client().call("updateOrganizationTeamMember", orgname=org, teamname=team,
                                membername=world.user().name), 403, error_type="insufficient_scope")


# ---- deleteOrganizationTeamMember ----------------------------------------------------------------------------
@pytest.mark.operation("deleteOrganizationTeamMember", "getOrganizationTeamMembers")
def test_removing_a_team_member_is_204(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    assert expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=member.name), 204) is None
    assert _member_names(owner, org, team) == []


@pytest.mark.operation("deleteOrganizationTeamMember", "getOrganizationTeamMembers")
def test_removing_an_invited_user_deletes_the_pending_invite(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, _ = _invite(world, owner, org)
    expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                               membername=invitee.name), 204)
    assert invitee.name not in _member_names(owner, org, team, pending=True)


@pytest.mark.operation("deleteOrganizationTeamMember")
def test_removing_a_user_not_in_the_team_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    outsider = world.user()
    body = expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                                      membername=outsider.name), 400, shape="message")
    assert "does not belong to team" in body["message"]


@pytest.mark.operation("deleteOrganizationTeamMember")
def test_removing_unknown_user_or_from_unknown_team_is_404(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                               membername=target.next_name("nosuch")), 404, error_type="not_found")
    expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname=target.next_name("team"),
                               membername=owner.name), 404, error_type="not_found")


@pytest.mark.operation("deleteOrganizationTeamMember", "getOrganizationTeamMembers")
def test_removing_yourself_from_your_only_admin_team_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    body = expect(owner.client().call("deleteOrganizationTeamMember", orgname=org, teamname="owners",
                                      membername=owner.name), 400, shape="message")
    assert "only admin team" in body["message"]
    assert _member_names(owner, org, "owners") == [owner.name]


@pytest.mark.operation("deleteOrganizationTeamMember")
def test_removing_a_team_member_is_403_for_plain_member(world: World) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    expect(member.client().call("deleteOrganizationTeamMember", orgname=org, teamname="owners",
                                membername=owner.name), 403, error_type="insufficient_scope")
    expect(member.client().call("deleteOrganizationTeamMember", orgname=org, teamname=team,
                                membername=member.name), 403, error_type="insufficient_scope")


# ---- e-mail invites ---------------------------------------------------------------------------------------------
@pytest.mark.operation("inviteTeamMemberEmail", "getOrganizationTeamMembers")
def test_email_invite_returns_the_invite_view_and_shows_as_pending(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    email = f"{target.next_name('mail')}@example.com"
    body = expect(owner.client().call("inviteTeamMemberEmail", orgname=org, teamname=team, email=email), 200)
    assert body["email"] == email
    assert body["kind"] == "invite"
    assert body["invited"] is True
    assert set(body["avatar"]) >= {"name", "hash", "color", "kind"}
    assert email in _member_names(owner, org, team, pending=True)
    assert email not in _member_names(owner, org, team)


@pytest.mark.operation("inviteTeamMemberEmail", "deleteTeamMemberEmailInvite", "getOrganizationTeamMembers")
def test_deleting_an_email_invite_is_204_then_404(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    email = f"{target.next_name('mail')}@example.com"
    expect(owner.client().call("inviteTeamMemberEmail", orgname=org, teamname=team, email=email), 200)
    assert expect(owner.client().call("deleteTeamMemberEmailInvite", orgname=org, teamname=team, email=email),
                  204) is None
    assert email not in _member_names(owner, org, team, pending=True)
    expect(owner.client().call("deleteTeamMemberEmailInvite", orgname=org, teamname=team, email=email), 404,
           error_type="not_found")


@pytest.mark.operation("inviteTeamMemberEmail", "deleteTeamMemberEmailInvite")
def test_email_invites_to_unknown_team_are_404(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    missing = target.next_name("team")
    expect(owner.client().call("inviteTeamMemberEmail", orgname=org, teamname=missing, email="a@example.com"), 404,
           error_type="not_found")
    expect(owner.client().call("deleteTeamMemberEmailInvite", orgname=org, teamname=missing,
                               email="a@example.com"), 404, error_type="not_found")


@pytest.mark.operation("inviteTeamMemberEmail", "deleteTeamMemberEmailInvite")
def test_email_invites_are_403_for_plain_member(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    email = f"{target.next_name('mail')}@example.com"
    expect(member.client().call("inviteTeamMemberEmail", orgname=org, teamname=team, email=email), 403,
           error_type="insufficient_scope")
    expect(owner.client().call("inviteTeamMemberEmail", orgname=org, teamname=team, email=email), 200)
    expect(member.client().call("deleteTeamMemberEmailInvite", orgname=org, teamname=team, email=email), 403,
           error_type="insufficient_scope")


# ---- getOrganizationTeamPermissions -------------------------------------------------------------------------
@pytest.mark.operation("getOrganizationTeamPermissions")
def test_team_permissions_list_repositories_and_roles(world: World) -> None:
    owner, org = _owned_org(world)
    team = world.team(org, as_=owner)
    repo = world.repo(org, as_=owner)
    world.grant(repo, team=team, role="write", as_=owner)
    body = expect(owner.client().call("getOrganizationTeamPermissions", orgname=org, teamname=team), 200)
    assert body == {"permissions": [{"repository": {"name": repo.split("/", 1)[1], "is_public": False},
                                     "role": "write"}]}


@pytest.mark.operation("getOrganizationTeamPermissions")
def test_team_permissions_is_404_for_unknown_team_and_403_for_team_member(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    member = world.user()
    team = _team_with(world, owner, org, member)
    expect(owner.client().call("getOrganizationTeamPermissions", orgname=org, teamname=target.next_name("team")),
           404, error_type="not_found")
    expect(member.client().call("getOrganizationTeamPermissions", orgname=org, teamname=team), 403,
           error_type="insufficient_scope")
    expect(target.anon.call("getOrganizationTeamPermissions", orgname=org, teamname=team), 401,
           error_type="invalid_token")


# ---- team invites: accept / decline ---------------------------------------------------------------------------
@pytest.mark.operation("acceptOrganizationTeamInvite", "getOrganizationTeamMembers", "getOrganization")
def test_accepting_an_invite_returns_org_and_team_and_joins_the_team(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, code = _invite(world, owner, org)
    body = expect(invitee.client().call("acceptOrganizationTeamInvite", code=code), 200)
    assert body == {"org": org, "team": team}
    assert invitee.name in _member_names(owner, org, team)
    assert expect(invitee.client().call("getOrganization", orgname=org), 200)["is_member"] is True
    assert _invite_code(invitee, org, team) is None, "accepting removes the invite notification"


@pytest.mark.operation("acceptOrganizationTeamInvite")
def test_accepting_an_unknown_code_is_400_message(world: World, target: Target) -> None:
    user = world.user()
    body = expect(user.client().call("acceptOrganizationTeamInvite", code=target.next_name("nocode")), 400,
                  shape="message")
    assert body["message"] == "Invalid confirmation code."


@pytest.mark.operation("acceptOrganizationTeamInvite", "getOrganizationTeamMembers")
def test_accepting_another_users_invite_is_400_message(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, code = _invite(world, owner, org)
    thief = world.user()
    body = expect(thief.client().call("acceptOrganizationTeamInvite", code=code), 400, shape="message")
    assert "intended for user" in body["message"]
    assert thief.name not in _member_names(owner, org, team, pending=True)
    assert invitee.name in _member_names(owner, org, team, pending=True)


@pytest.mark.operation("acceptOrganizationTeamInvite", "getOrganizationTeamMembers")
def test_accepting_an_invite_with_token_lacking_user_admin_is_403(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, code = _invite(world, owner, org)
    expect(invitee.client(["user:read", "repo:read"]).call("acceptOrganizationTeamInvite", code=code), 403,
           error_type="insufficient_scope")
    assert invitee.name not in _member_names(owner, org, team)


@pytest.mark.operation("declineOrganizationTeamInvite", "getOrganizationTeamMembers")
def test_declining_an_invite_is_204_and_drops_it(world: World) -> None:
    owner, org = _owned_org(world)
    invitee, team, code = _invite(world, owner, org)
    assert expect(invitee.client().call("declineOrganizationTeamInvite", code=code), 204) is None
    assert invitee.name not in _member_names(owner, org, team, pending=True)
    expect(invitee.client().call("acceptOrganizationTeamInvite", code=code), 400, shape="message")


@pytest.mark.operation("declineOrganizationTeamInvite", "getOrganizationTeamMembers")
def test_declining_an_unknown_or_foreign_code_is_400_message(world: World, target: Target) -> None:
    owner, org = _owned_org(world)
    invitee, team, code = _invite(world, owner, org)
    other = world.user()
    for client, what in ((other.client(), code), (invitee.client(), target.next_name("nocode"))):
        body = expect(client.call("declineOrganizationTeamInvite", code=what), 400, shape="message")
        assert body["message"] == "Invalid confirmation code."
    assert invitee.name in _member_names(owner, org, team, pending=True)
