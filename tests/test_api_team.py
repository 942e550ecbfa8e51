"""Teams, team members, invitations and team permissions."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from reference_server.storage import schema as t
from tests.conftest import Server

OAUTH_KEYS = {"oauth_token_id", "oauth_token_application_id", "oauth_token_application"}
TEAM = "/api/v1/organization/acme/team"


def logs(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.read() as db:
        rows = db.conn.execute(select(t.log_entry.c.metadata).where(t.log_entry.c.kind == kind)).all()
    return [{k: v for k, v in r[0].items() if k not in OAUTH_KEYS} for r in rows]


def invite_code(server: Server, username: str) -> str:
    """The invitation code, as the invitee reads it from their notification."""
    with server.storage.read() as db:
        user = db.user_by_name(username)
        assert user is not None
        rows = db.conn.execute(select(t.user_notification.c.metadata).where(
            t.user_notification.c.user_id == user.id, t.user_notification.c.kind == "org_team_invite")).all()
    assert rows, "no invitation notification"
    return str(rows[-1][0]["code"])


@pytest.fixture
def owner(server: Server) -> str:
    token = server.make_user("owner")
    r = server.call("POST", "/api/v1/organization/", token, json={"name": "acme", "email": "acme@ex.com"})
    assert r.status_code == 201
    return token


def test_put_team_creates_then_updates(server: Server, owner: str) -> None:
    r = server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member", "description": "the devs"})
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "devs", "description": "the devs", "can_view": True, "role": "member",
                        "avatar": r.json()["avatar"], "new_team": True}
    assert r.json()["avatar"]["kind"] == "team"
    r = server.call("PUT", f"{TEAM}/devs", owner, json={"role": "creator", "description": "changed"})
    assert r.status_code == 200 and r.json()["new_team"] is False and r.json()["role"] == "creator"
    assert logs(server, "org_create_team") == [{"team": "devs"}]
    assert logs(server, "org_set_team_role") == [{"team": "devs", "role": "creator"}]
    assert logs(server, "org_set_team_description") == [{"team": "devs", "description": "changed"}]
    teams = server.call("GET", "/api/v1/organization/acme", owner).json()["ordered_teams"]
    assert teams == ["owners", "devs"]


def test_put_team_errors(server: Server, owner: str) -> None:
    r = server.call("PUT", f"{TEAM}/devs", owner, json={"role": "boss"})
    assert r.status_code == 400 and r.json()["error_type"] == "invalid_request"
    r = server.call("PUT", f"{TEAM}/Bad-Name", owner, json={"role": "member"})
    assert r.status_code == 400
    assert r.json()["message"].startswith("Invalid team name Bad-Name: Namespace must match expression")
    outsider = server.make_user("outsider")
    # Body validation comes before the permission check on organization endpoints.
    assert server.call("PUT", f"{TEAM}/devs", outsider, json={}).status_code == 400
    assert server.call("PUT", f"{TEAM}/devs", outsider, json={"role": "member"}).status_code == 403


def test_last_admin_team_guards(server: Server, owner: str) -> None:
    r = server.call("PUT", f"{TEAM}/owners", owner, json={"role": "member"})
    assert r.status_code == 400
    assert r.json() == {"message": "Cannot remove admin from team 'owners' because calling user would no longer "
                                   "have admin on org 'acme'"}
    r = server.call("DELETE", f"{TEAM}/owners", owner)
    assert r.status_code == 400
    assert r.json() == {"message": "Deleting team 'owners' would remove admin ability for user 'owner' in "
                                   "organization 'acme'"}
    r = server.call("DELETE", f"{TEAM}/owners/members/owner", owner)
    assert r.status_code == 400
    assert r.json() == {"message": "User cannot remove themselves from their only admin team."}
    r = server.call("DELETE", f"{TEAM}/ghosts", owner)
    assert r.status_code == 400 and r.json() == {"message": "Team 'ghosts' is not a team in org 'acme'"}
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    assert server.call("DELETE", f"{TEAM}/devs", owner).status_code == 204
    assert logs(server, "org_delete_team") == [{"team": "devs"}]


def test_member_add_invites_outsiders_and_adds_members_and_robots(server: Server, owner: str) -> None:
    server.make_user("bob")
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    assert server.call("PUT", f"{TEAM}/devs/members/nobody", owner).json()["detail"] == "Unknown user"
    r = server.call("PUT", f"{TEAM}/devs/members/bob", owner)
    assert r.status_code == 200
    assert r.json()["invited"] is True and r.json()["name"] == "bob" and r.json()["is_robot"] is False
    assert logs(server, "org_invite_team_member") == [{"user": "bob", "member": "bob", "team": "devs"}]
    members = server.call("GET", f"{TEAM}/devs/members", owner).json()
    assert members == {"name": "devs", "members": [], "can_edit": True}
    pending = server.call("GET", f"{TEAM}/devs/members", owner, params={"includePending": "true"}).json()
    assert [(m["name"], m["invited"]) for m in pending["members"]] == [("bob", True)]
    # The invitation was mailed (recorded) with the same code the notification carries.
    with server.storage.read() as db:
        mails = db.conn.execute(select(t.outbox.c.payload)).scalars().all()
    assert mails[-1]["code"] == invite_code(server, "bob")
    # The owner is already a member, so joins directly; again is refused.
    r = server.call("PUT", f"{TEAM}/devs/members/owner", owner)
    assert r.status_code == 200 and r.json()["invited"] is False
    r = server.call("PUT", f"{TEAM}/devs/members/owner", owner)
    assert r.status_code == 400 and r.json() == {"message": "User owner is already a member of team devs"}
    # Robots of the org join directly; others' robots are refused.
    with server.storage.transaction() as db:
        db.create_namespace("acme+bot", email=None, robot=True)
        db.create_namespace("owner+bot", email=None, robot=True)
    r = server.call("PUT", f"{TEAM}/devs/members/acme+bot", owner)
    assert r.status_code == 200 and r.json()["is_robot"] is True and r.json()["invited"] is False
    r = server.call("PUT", f"{TEAM}/devs/members/owner+bot", owner)
    assert r.status_code == 400 and "not a member of the organization" in r.json()["message"]
    names = [m["name"] for m in server.call("GET", f"{TEAM}/devs/members", owner).json()["members"]]
    assert names == ["acme+bot", "owner"]
    assert server.call("GET", f"{TEAM}/nope/members", owner).status_code == 404
    assert server.call("PUT", f"{TEAM}/nope/members/bob", owner).status_code == 404


def test_invite_accept_and_decline(server: Server, owner: str) -> None:
    bob = server.make_user("bob")
    carol = server.make_user("carol")
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    server.call("PUT", f"{TEAM}/devs/members/bob", owner)
    code = invite_code(server, "bob")
    # Someone else cannot use bob's code.
    r = server.call("PUT", f"/api/v1/teaminvite/{code}", carol)
    assert r.status_code == 400 and r.json()["message"].startswith('This invite is intended for user "bob".')
    assert server.call("PUT", "/api/v1/teaminvite/wrong", bob).json() == {"message": "Invalid confirmation code."}
    r = server.call("PUT", f"/api/v1/teaminvite/{code}", bob)
    assert r.status_code == 200 and r.json() == {"org": "acme", "team": "devs"}
    assert [m["name"] for m in server.call("GET", f"{TEAM}/devs/members", owner).json()["members"]] == ["bob"]
    assert logs(server, "org_team_member_invite_accepted") == [
        {"member": "bob", "team": "devs", "inviter": "owner"}]
    # Carol declines hers.
    server.call("PUT", f"{TEAM}/devs/members/carol", owner)
    code = invite_code(server, "carol")
    assert server.call("DELETE", f"/api/v1/teaminvite/{code}", bob).status_code == 400
    assert server.call("DELETE", f"/api/v1/teaminvite/{code}", carol).status_code == 204
    assert server.call("PUT", f"/api/v1/teaminvite/{code}", carol).status_code == 400
    assert logs(server, "org_team_member_invite_declined")[0]["member"] == "carol"
    # The invitee endpoints need user:admin.
    weak = server.make_user("bob", "repo:read")
    assert server.call("PUT", "/api/v1/teaminvite/whatever", weak).status_code == 403


def test_delete_member_removes_invite_first_then_membership(server: Server, owner: str) -> None:
    server.make_user("bob")
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    server.call("PUT", f"{TEAM}/devs/members/bob", owner)
    assert server.call("DELETE", f"{TEAM}/devs/members/bob", owner).status_code == 204
    assert logs(server, "org_delete_team_member_invite") == [{"user": "bob", "team": "devs", "member": "bob"}]
    r = server.call("DELETE", f"{TEAM}/devs/members/bob", owner)
    assert r.status_code == 400 and r.json() == {"message": "User bob does not belong to team devs"}
    assert server.call("DELETE", f"{TEAM}/devs/members/nobody", owner).status_code == 404
    server.call("PUT", f"{TEAM}/devs/members/owner", owner)
    assert server.call("DELETE", f"{TEAM}/devs/members/owner", owner).status_code == 204
    assert logs(server, "org_remove_team_member") == [{"member": "owner", "team": "devs"}]


def test_email_invites(server: Server, owner: str) -> None:
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    r = server.call("PUT", f"{TEAM}/devs/invite/dan@ex.com", owner)
    assert r.status_code == 200
    assert r.json()["email"] == "dan@ex.com" and r.json()["kind"] == "invite" and r.json()["invited"] is True
    pending = server.call("GET", f"{TEAM}/devs/members", owner, params={"includePending": "1"}).json()["members"]
    assert [m.get("email") for m in pending] == ["dan@ex.com"]
    assert server.call("DELETE", f"{TEAM}/devs/invite/dan@ex.com", owner).status_code == 204
    assert server.call("DELETE", f"{TEAM}/devs/invite/dan@ex.com", owner).status_code == 404
    assert logs(server, "org_delete_team_member_invite") == [
        {"email": "dan@ex.com", "team": "devs", "member": "dan@ex.com"}]


def test_without_required_invites_users_join_directly(make_server: Any) -> None:
    server = make_server({"FEATURE_REQUIRE_TEAM_INVITE": False})
    owner = server.make_user("owner")
    server.make_user("bob")
    server.call("POST", "/api/v1/organization/", owner, json={"name": "acme", "email": "acme@ex.com"})
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    r = server.call("PUT", f"{TEAM}/devs/members/bob", owner)
    assert r.status_code == 200 and r.json()["invited"] is False


def test_mailing_off_removes_invite_routes(make_server: Any) -> None:
    server = make_server({"FEATURE_MAILING": False})
    owner = server.make_user("owner")
    assert server.call("PUT", "/api/v1/teaminvite/abc", owner).status_code == 404
    assert server.call("PUT", f"{TEAM}/devs/invite/a@b.c", owner).status_code == 404


def test_team_members_visible_to_team_members_only(server: Server, owner: str) -> None:
    bob = server.make_user("bob")
    outsider = server.make_user("outsider")
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    with server.storage.transaction() as db:
        org, user = db.user_by_name("acme"), db.user_by_name("bob")
        assert org is not None and user is not None
        team = db.team(org.id, "devs")
        assert team is not None
        db.add_team_member(team.id, user.id)
    r = server.call("GET", f"{TEAM}/devs/members", bob)
    assert r.status_code == 200 and r.json()["can_edit"] is False
    assert server.call("GET", f"{TEAM}/owners/members", bob).status_code == 403
    assert server.call("GET", f"{TEAM}/devs/members", outsider).status_code == 403
    assert server.call("GET", f"{TEAM}/devs/members").status_code == 401
    # A token without any org-level scope cannot use the team membership either.
    weak = server.make_user("bob", "repo:read")
    assert server.call("GET", f"{TEAM}/devs/members", weak).status_code == 403


def test_team_permissions(server: Server, owner: str) -> None:
    server.call("PUT", f"{TEAM}/devs", owner, json={"role": "member"})
    with server.storage.transaction() as db:
        org = db.user_by_name("acme")
        assert org is not None
        team = db.team(org.id, "devs")
        assert team is not None
        from reference_server.storage.base import now
        repo_id = db.conn.execute(t.repository.insert().values(
            namespace_id=org.id, name="app", visibility="public", description="", kind="image", state="NORMAL",
            trust_enabled=False, created=now(), status_token="x")).inserted_primary_key[0]
        db.conn.execute(t.repo_permission.insert().values(repository_id=repo_id, team_id=team.id, role="write"))
    r = server.call("GET", f"{TEAM}/devs/permissions", owner)
    assert r.status_code == 200
    assert r.json() == {"permissions": [{"repository": {"name": "app", "is_public": True}, "role": "write"}]}
    assert server.call("GET", f"{TEAM}/nope/permissions", owner).status_code == 404
    summary = server.call("GET", "/api/v1/organization/acme", owner).json()["teams"]["devs"]
    assert summary["repo_count"] == 1
