"""Pins the RBAC model of suites/property/rbac_model.py with concrete cases taken from Quay's rules (quay-api.md
section 0 "Role model", B, D2, D8, D9), so the state machine that trusts it compares against the right thing."""

from __future__ import annotations

import pytest

from suites.property.rbac_model import (
    OWNERS_TEAM,
    SESSION,
    Model,
    Refused,
    RepoRole,
    TeamRole,
    repo_cap,
    team_cap,
)

R, W, A, NONE = RepoRole.READ, RepoRole.WRITE, RepoRole.ADMIN, RepoRole.NONE


def scopes(*names: str) -> frozenset[str]:
    return frozenset(names)


@pytest.fixture
def model() -> Model:
    """alice owns org "acme" (owners team) and the user namespace "alice"; bob and carol start as outsiders."""
    m = Model()
    for user in ("alice", "bob", "carol"):
        m.add_user(user)
    m.create_org("acme", "alice")
    m.create_repo("acme/private", public=False, creator="alice")
    m.create_repo("acme/public", public=True, creator="alice")
    m.create_repo("alice/mine", public=False, creator="alice")
    return m


def join(m: Model, org: str, team: str, user: str) -> None:
    """Add and, when Quay invites, accept."""
    if m.add_member(org, team, user):
        m.accept_invites(user, org)


def test_scope_caps_follow_quay_tables() -> None:
    assert repo_cap(scopes("repo:read")) == R
    assert repo_cap(scopes("repo:write")) == W
    assert repo_cap(scopes("repo:admin")) == A
    assert repo_cap(scopes("org:admin")) == NONE  # org:admin grants nothing on repositories
    assert repo_cap(scopes("repo:create")) == NONE
    assert repo_cap(SESSION) == A
    assert repo_cap(scopes("repo:read", "repo:write")) == W  # the best scope wins
    assert team_cap(scopes("repo:create")) == TeamRole.CREATOR
    assert team_cap(scopes("org:admin")) == TeamRole.ADMIN
    assert team_cap(scopes("repo:admin")) == TeamRole.NONE  # repo:* gives no org role, not even member
    assert team_cap(SESSION) == TeamRole.ADMIN


def test_namespace_owner_administers_its_repositories(model: Model) -> None:
    assert model.repo_role("alice", "alice/mine") == A
    assert model.can_create_repo("alice", "alice")
    assert not model.can_create_repo("bob", "alice")
    assert model.repo_role("bob", "alice/mine") == NONE


def test_org_creator_is_org_admin_through_owners(model: Model) -> None:
    assert model.orgs["acme"].teams[OWNERS_TEAM].role == TeamRole.ADMIN
    assert model.can_admin_org("alice", "acme")
    assert model.repo_role("alice", "acme/private") == A


def test_admin_team_administers_every_org_repo(model: Model) -> None:
    model.set_team("acme", "ops", TeamRole.ADMIN)
    join(model, "acme", "ops", "bob")
    assert model.repo_role("bob", "acme/private") == A
    assert model.can_admin_org("bob", "acme")
    assert model.row_roles("bob", "acme/private") == []  # org-wide admin is no permission row


@pytest.mark.parametrize("role", [TeamRole.MEMBER, TeamRole.CREATOR])
def test_member_and_creator_teams_give_no_org_wide_repo_access(model: Model, role: TeamRole) -> None:
    model.set_team("acme", "devs", role)
    join(model, "acme", "devs", "bob")
    assert model.repo_role("bob", "acme/private") == NONE
    assert not model.can_admin_org("bob", "acme")
    assert model.can_create_repo("bob", "acme") == (role == TeamRole.CREATOR)


def test_repo_role_is_the_best_of_direct_and_team_rows(model: Model) -> None:
    model.set_team("acme", "readers", TeamRole.MEMBER)
    join(model, "acme", "readers", "bob")
    model.set_team_permission("acme/private", "readers", R)
    assert model.repo_role("bob", "acme/private") == R
    model.set_user_permission("acme/private", "bob", W)
    assert model.repo_role("bob", "acme/private") == W
    assert model.row_roles("bob", "acme/private") == [R, W]
    model.set_team_permission("acme/private", "readers", A)
    assert model.repo_role("bob", "acme/private") == A
    model.delete_team_permission("acme/private", "readers")
    assert model.repo_role("bob", "acme/private") == W  # a downgrade back to the direct row
    model.delete_user_permission("acme/private", "bob")
    assert model.repo_role("bob", "acme/private") == NONE


def test_public_repositories_are_readable_by_everyone_but_not_writable(model: Model) -> None:
    assert model.repo_role(None, "acme/public") == R
    assert model.repo_role("carol", "acme/public") == R
    assert model.repo_role("carol", "acme/public", scopes("org:admin")) == R  # scopes do not hide public repos
    assert model.capped_repo_role("carol", "acme/public") == NONE  # can_write/can_admin stay false
    assert model.repo_role(None, "acme/private") == NONE


@pytest.mark.parametrize(("token", "expected"), [
    (scopes("repo:read"), R), (scopes("repo:write"), W), (scopes("repo:admin"), A),
    (scopes("org:admin"), NONE), (scopes("repo:create"), NONE), (scopes("user:read"), NONE),
])
def test_scopes_cap_an_admin_grant(model: Model, token: frozenset[str], expected: RepoRole) -> None:
    model.set_user_permission("acme/private", "bob", A)
    assert model.repo_role("bob", "acme/private", token) == expected


def test_scopes_never_raise_a_role(model: Model) -> None:
    model.set_user_permission("acme/private", "bob", R)
    assert model.repo_role("bob", "acme/private", scopes("repo:admin")) == R


def test_repo_create_scope_caps_the_org_role_at_creator(model: Model) -> None:
    token = scopes("repo:create")
    assert model.org_role("alice", "acme", token) == TeamRole.CREATOR
    assert model.can_create_repo("alice", "acme", token)
    assert not model.can_admin_org("alice", "acme", token)
    assert model.can_create_repo("alice", "alice", token)  # own namespace counts as admin, capped to creator


def test_org_admin_path_needs_repo_scopes(model: Model) -> None:
    assert model.repo_role("alice", "acme/private", scopes("org:admin")) == NONE
    assert model.can_admin_org("alice", "acme", scopes("org:admin"))
    assert model.can_create_repo("alice", "acme", scopes("org:admin"))
    assert model.repo_role("alice", "acme/private", scopes("repo:read", "org:admin")) == R
    assert not model.can_admin_org("alice", "acme", scopes("repo:admin"))


def test_invite_gives_nothing_until_accepted(model: Model) -> None:
    model.set_team("acme", "ops", TeamRole.ADMIN)
    model.set_team("acme", "devs", TeamRole.MEMBER)
    assert model.add_member("acme", "ops", "bob") is True  # in no team of acme yet: an invite
    assert model.add_member("acme", "devs", "bob") is True
    assert model.repo_role("bob", "acme/private") == NONE
    assert model.org_members("acme") == {"alice": {OWNERS_TEAM}}
    model.accept_invites("bob", "acme")  # confirms both invites of that org
    assert model.repo_role("bob", "acme/private") == A
    assert model.org_members("acme") == {"alice": {OWNERS_TEAM}, "bob": {"ops", "devs"}}
    model.set_team("acme", "qa", TeamRole.MEMBER)
    assert model.add_member("acme", "qa", "bob") is False  # already in the org: added directly


def test_withdrawn_invite_and_removed_member(model: Model) -> None:
    model.set_team("acme", "ops", TeamRole.ADMIN)
    model.add_member("acme", "ops", "bob")
    model.remove_member("acme", "ops", "bob")
    assert model.pending_invites("bob", "acme") == []
    join(model, "acme", "ops", "bob")
    model.remove_member("acme", "ops", "bob")
    assert model.repo_role("bob", "acme/private") == NONE
    with pytest.raises(Refused):
        model.remove_member("acme", "ops", "bob")


def test_robots_join_teams_of_their_own_org_directly(model: Model) -> None:
    model.add_robot("acme+bot")
    model.add_robot("alice+bot")
    model.set_team("acme", "builders", TeamRole.MEMBER)
    assert model.add_member("acme", "builders", "acme+bot") is False
    with pytest.raises(Refused):
        model.add_member("acme", "builders", "alice+bot")
    model.set_team_permission("acme/private", "builders", W)
    assert model.row_roles("acme+bot", "acme/private") == [W]
    assert "acme+bot" not in model.org_members("acme")  # robots are not listed as members


def test_team_role_changes_apply_at_once(model: Model) -> None:
    model.set_team("acme", "ops", TeamRole.MEMBER)
    join(model, "acme", "ops", "bob")
    assert model.repo_role("bob", "acme/private") == NONE
    model.set_team("acme", "ops", TeamRole.ADMIN)
    assert model.repo_role("bob", "acme/private") == A
    model.set_team("acme", "ops", TeamRole.CREATOR)
    assert model.repo_role("bob", "acme/private") == NONE
    assert model.can_create_repo("bob", "acme")


def test_deleting_a_team_drops_its_rows_and_memberships(model: Model) -> None:
    model.set_team("acme", "readers", TeamRole.MEMBER)
    join(model, "acme", "readers", "bob")
    model.set_team_permission("acme/private", "readers", R)
    model.delete_team("acme", "readers")
    assert model.repo_role("bob", "acme/private") == NONE
    assert "readers" not in model.repos["acme/private"].teams
    assert not model.in_org("bob", "acme")


def test_creator_gets_an_admin_row(model: Model) -> None:
    assert model.direct_rows("acme/private") == {"alice": A}
    assert model.direct_rows("alice/mine") == {"alice": A}
    model.set_team("acme", "makers", TeamRole.CREATOR)
    join(model, "acme", "makers", "bob")
    model.create_repo("acme/bobs", public=False, creator="bob")
    assert model.repo_role("bob", "acme/bobs") == A
    assert model.direct_rows("acme/bobs") == {"bob": A}


def test_refused_permission_changes(model: Model) -> None:
    with pytest.raises(Refused):
        model.set_user_permission("alice/mine", "alice", R)  # the namespace owner is always admin
    with pytest.raises(Refused):
        model.delete_user_permission("alice/mine", "alice")
    model.add_robot("alice+bot")
    with pytest.raises(Refused):
        model.set_user_permission("acme/private", "alice+bot", R)  # robot of another namespace
    with pytest.raises(Refused):
        model.delete_user_permission("acme/private", "bob")  # no such row
    with pytest.raises(Refused):
        model.set_team_permission("alice/mine", "owners", R)  # no teams in a user namespace
    model.set_user_permission("alice/mine", "alice+bot", R)
    assert model.direct_rows("alice/mine") == {"alice": A, "alice+bot": R}


def test_outsider_has_nothing_in_an_org(model: Model) -> None:
    assert model.org_role("carol", "acme") == TeamRole.NONE
    assert not model.can_create_repo("carol", "acme")
    assert not model.can_admin_org(None, "acme")
    assert not model.can_create_repo(None, "acme")
