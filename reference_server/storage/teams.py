"""Storage queries for teams, team membership, team invites and team-invite notifications (a mixin of Db)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select, update

from reference_server.domain.models import Team, User
from reference_server.storage import schema as t
from reference_server.storage.base import (
    _USER_COLS,
    BaseQueries,
    inserted_id,
    new_uuid,
    now,
    team_from_row,
    user_from_row,
)

_TEAM_COLS = (t.team.c.id, t.team.c.org_id, t.team.c.name, t.team.c.role, t.team.c.description)


@dataclass(frozen=True)
class TeamSummary:
    """A team with the counts GET /organization/{org} shows."""

    team: Team
    repo_count: int
    member_count: int


@dataclass(frozen=True)
class TeamInvite:
    """A pending invitation: either to an existing user or to an e-mail address."""

    id: int
    team: Team
    user: User | None
    email: str | None
    inviter_id: int


class TeamQueries(BaseQueries):
    # ---- teams ------------------------------------------------------------------------------------------

    def team(self, org_id: int, name: str) -> Team | None:
        row = self.conn.execute(
            select(*_TEAM_COLS).where(t.team.c.org_id == org_id, t.team.c.name == name)).first()
        return team_from_row(row) if row else None

    def team_by_id(self, team_id: int) -> Team | None:
        row = self.conn.execute(select(*_TEAM_COLS).where(t.team.c.id == team_id)).first()
        return team_from_row(row) if row else None

    def teams_with_counts(self, org_id: int) -> list[TeamSummary]:
        """Every team of an organization in creation order, with repository and member counts."""
        teams = [team_from_row(r) for r in self.conn.execute(
            select(*_TEAM_COLS).where(t.team.c.org_id == org_id).order_by(t.team.c.id)).all()]
        ids = [team.id for team in teams]
        if not ids:
            return []
        repos = {int(r[0]): int(r[1]) for r in self.conn.execute(
            select(t.repo_permission.c.team_id, func.count())
            .where(t.repo_permission.c.team_id.in_(ids)).group_by(t.repo_permission.c.team_id)).all()}
        members = {int(r[0]): int(r[1]) for r in self.conn.execute(
            select(t.team_member.c.team_id, func.count())
            .where(t.team_member.c.team_id.in_(ids)).group_by(t.team_member.c.team_id)).all()}
        return [TeamSummary(team, int(repos.get(team.id, 0)), int(members.get(team.id, 0))) for team in teams]

    def create_team(self, org_id: int, name: str, role: str, description: str = "") -> Team:
        team_id = inserted_id(self.conn.execute(insert(t.team).values(
            org_id=org_id, name=name, role=role, description=description)))
        team = self.team_by_id(team_id)
        assert team is not None
        return team

    def update_team(self, team_id: int, *, role: str | None = None, description: str | None = None) -> Team:
        values: dict[str, Any] = {}
        if role is not None:
            values["role"] = role
        if description is not None:
            values["description"] = description
        if values:
            self.conn.execute(update(t.team).where(t.team.c.id == team_id).values(**values))
        team = self.team_by_id(team_id)
        assert team is not None
        return team

    def delete_team(self, team_id: int) -> None:
        # Prototypes naming the team go with it (the foreign key cascades), as Quay deletes recursively.
        self.conn.execute(delete(t.team).where(t.team.c.id == team_id))

    # ---- membership ---------------------------------------------------------------------------------

    def team_members(self, team_id: int) -> list[User]:
        rows = self.conn.execute(
            select(*_USER_COLS)
            .select_from(t.user.join(t.team_member, t.team_member.c.user_id == t.user.c.id))
            .where(t.team_member.c.team_id == team_id).order_by(t.user.c.username)).all()
        return [user_from_row(r) for r in rows]

    def is_team_member(self, team_id: int, user_id: int) -> bool:
        return self.conn.execute(select(t.team_member.c.team_id).where(
            t.team_member.c.team_id == team_id, t.team_member.c.user_id == user_id)).first() is not None

    def add_team_member(self, team_id: int, user_id: int) -> None:
        self.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=user_id))

    def remove_team_member(self, team_id: int, user_id: int) -> None:
        self.conn.execute(delete(t.team_member).where(
            t.team_member.c.team_id == team_id, t.team_member.c.user_id == user_id))

    def user_teams_in_org(self, org_id: int, user_id: int) -> list[Team]:
        rows = self.conn.execute(
            select(*_TEAM_COLS)
            .select_from(t.team.join(t.team_member, t.team_member.c.team_id == t.team.c.id))
            .where(t.team.c.org_id == org_id, t.team_member.c.user_id == user_id).order_by(t.team.c.id)).all()
        return [team_from_row(r) for r in rows]

    def user_admin_team_names(self, org_id: int, user_id: int) -> set[str]:
        return {team.name for team in self.user_teams_in_org(org_id, user_id) if team.role == "admin"}

    def is_org_member(self, org_id: int, user_id: int) -> bool:
        return bool(self.user_teams_in_org(org_id, user_id))

    # ---- invites -------------------------------------------------------------------------------------

    def create_team_invite(self, team_id: int, *, user_id: int | None, email: str | None, inviter_id: int,
                           code_hash: str) -> int:
        return inserted_id(self.conn.execute(insert(t.team_invite).values(
            team_id=team_id, user_id=user_id, email=email, inviter_id=inviter_id, code_hash=code_hash)))

    def _invites(self, *conditions: Any) -> list[TeamInvite]:
        inv = t.team_invite
        rows = self.conn.execute(
            select(inv.c.id.label("invite_id"), inv.c.user_id, inv.c.email, inv.c.inviter_id, *_TEAM_COLS)
            .select_from(inv.join(t.team, t.team.c.id == inv.c.team_id))
            .where(*conditions).order_by(inv.c.id)).all()
        out = []
        for row in rows:
            m = row._mapping
            invited = self.user_by_id(m["user_id"]) if m["user_id"] is not None else None
            out.append(TeamInvite(id=m["invite_id"], team=team_from_row(row), user=invited, email=m["email"],
                                  inviter_id=m["inviter_id"]))
        return out

    def team_invites(self, team_id: int) -> list[TeamInvite]:
        return self._invites(t.team_invite.c.team_id == team_id)

    def invite_by_code_hash(self, code_hash: str) -> TeamInvite | None:
        found = self._invites(t.team_invite.c.code_hash == code_hash)
        return found[0] if found else None

    def org_invites_for(self, org_id: int, user: User) -> list[TeamInvite]:
        """Invites in one organization addressed to the user, or to their e-mail when it is verified."""
        match = t.team_invite.c.user_id == user.id
        if user.verified and user.email:
            match = or_(match, t.team_invite.c.email == user.email)
        return self._invites(and_(t.team.c.org_id == org_id, match))

    def delete_team_invite(self, invite_id: int) -> None:
        self.conn.execute(delete(t.team_invite).where(t.team_invite.c.id == invite_id))

    def delete_user_invite(self, team_id: int, user_id: int) -> bool:
        result = self.conn.execute(delete(t.team_invite).where(
            t.team_invite.c.team_id == team_id, t.team_invite.c.user_id == user_id))
        return bool(result.rowcount)

    def delete_email_invite(self, team_id: int, email: str) -> bool:
        result = self.conn.execute(delete(t.team_invite).where(
            t.team_invite.c.team_id == team_id, t.team_invite.c.email == email))
        return bool(result.rowcount)

    # ---- what a team may do ---------------------------------------------------------------------------

    def team_repo_permissions(self, team_id: int) -> list[tuple[str, bool, str]]:
        """(repository name, is public, role) for each repository the team was granted."""
        rows = self.conn.execute(
            select(t.repository.c.name, t.repository.c.visibility, t.repo_permission.c.role)
            .select_from(t.repo_permission.join(t.repository,
                                                t.repository.c.id == t.repo_permission.c.repository_id))
            .where(t.repo_permission.c.team_id == team_id).order_by(t.repository.c.name)).all()
        return [(r[0], r[1] == "public", r[2]) for r in rows]

    # ---- notifications about invites ----------------------------------------------------------------

    def create_notification(self, user_id: int, kind: str, metadata: dict[str, Any]) -> None:
        self.conn.execute(insert(t.user_notification).values(
            uuid=new_uuid(), user_id=user_id, kind=kind, metadata=metadata, created=now(), dismissed=False))

    def delete_notifications(self, user_id: int, kind: str, **match: str) -> None:
        """Remove the user's notifications of one kind whose metadata has every given key/value."""
        rows = self.conn.execute(select(t.user_notification.c.id, t.user_notification.c.metadata).where(
            t.user_notification.c.user_id == user_id, t.user_notification.c.kind == kind)).all()
        doomed = [r[0] for r in rows if all((r[1] or {}).get(k) == v for k, v in match.items())]
        if doomed:
            self.conn.execute(delete(t.user_notification).where(t.user_notification.c.id.in_(doomed)))
