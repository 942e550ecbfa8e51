"""Storage queries for organizations, their members and default permissions (a mixin of Db)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from reference_server.domain.models import Team, User
from reference_server.storage import schema as t
from reference_server.storage.base import (
    _USER_COLS,
    BaseQueries,
    inserted_id,
    new_uuid,
    team_from_row,
    user_from_row,
)


@dataclass(frozen=True)
class Prototype:
    """A default permission: when `activating_user` (anyone if None) creates a repository, grant `role`."""

    id: int
    uuid: str
    org_id: int
    role: str
    activating_user: User | None
    delegate_user: User | None
    delegate_team: Team | None


class OrgQueries(BaseQueries):
    # ---- organizations --------------------------------------------------------------------------------

    def organization(self, name: str) -> User | None:
        found = self.user_by_name(name)
        return found if found is not None and found.organization else None

    def create_organization(self, name: str, email: str | None, creator: User) -> User:
        """The organization plus its `owners` admin team holding the creator, as Quay sets it up."""
        org = self.create_namespace(name, email=email, organization=True)
        team_id = inserted_id(self.conn.execute(insert(t.team).values(
            org_id=org.id, name="owners", role="admin", description="")))
        self.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=creator.id))
        return org

    def email_in_use(self, email: str) -> bool:
        """Quay refuses an organization e-mail that any account (user or organization) already has."""
        return self.conn.execute(select(t.user.c.id).where(t.user.c.email == email)).first() is not None

    def update_namespace(self, namespace_id: int, **values: Any) -> User:
        self.conn.execute(update(t.user).where(t.user.c.id == namespace_id).values(**values))
        found = self.user_by_id(namespace_id)
        assert found is not None
        return found

    def delete_organization(self, org: User) -> None:
        """Remove the organization and everything it owns; its name is recorded as a deleted namespace."""
        # Robots are rows of their own named `org+short`; nothing links them to the org by key.
        prefix = org.username + "+"
        robots = self.conn.execute(select(t.user.c.id, t.user.c.username).where(
            t.user.c.robot.is_(True), t.user.c.username.startswith(prefix, autoescape=True))).all()
        robot_ids = [r[0] for r in robots if r[1].startswith(prefix)]
        if robot_ids:
            self.conn.execute(delete(t.user).where(t.user.c.id.in_(robot_ids)))
        self.conn.execute(delete(t.user).where(t.user.c.id == org.id))
        known = self.conn.execute(select(t.deleted_namespace.c.name).where(
            t.deleted_namespace.c.name == org.username)).first()
        if known is None:
            self.conn.execute(insert(t.deleted_namespace).values(name=org.username))

    # ---- members ----------------------------------------------------------------------------------------

    def org_memberships(self, org_id: int) -> list[tuple[User, Team]]:
        """(member, team) for every team membership in the organization, robots included."""
        rows = self.conn.execute(
            select(*_USER_COLS, t.team.c.id.label("team_id"), t.team.c.org_id, t.team.c.name.label("team_name"),
                   t.team.c.role, t.team.c.description.label("team_description"))
            .select_from(t.team_member.join(t.team, t.team.c.id == t.team_member.c.team_id)
                         .join(t.user, t.user.c.id == t.team_member.c.user_id))
            .where(t.team.c.org_id == org_id).order_by(t.user.c.username, t.team.c.id)).all()
        out = []
        for row in rows:
            m = row._mapping
            team = Team(id=m["team_id"], org_id=m["org_id"], name=m["team_name"], role=m["role"],
                        description=m["team_description"] or "")
            out.append((user_from_row(row), team))
        return out

    def org_direct_permissions(self, org_id: int, user_id: int | None = None) -> list[tuple[User, str]]:
        """(user, repository name) for each direct user permission on the organization's repositories."""
        query = (
            select(*_USER_COLS, t.repository.c.name.label("repo_name"))
            .select_from(t.repo_permission
                         .join(t.repository, t.repository.c.id == t.repo_permission.c.repository_id)
                         .join(t.user, t.user.c.id == t.repo_permission.c.user_id))
            .where(t.repository.c.namespace_id == org_id)
            .order_by(t.user.c.username, t.repository.c.name)
        )
        if user_id is not None:
            query = query.where(t.repo_permission.c.user_id == user_id)
        return [(user_from_row(r), r._mapping["repo_name"]) for r in self.conn.execute(query).all()]

    def org_admin_usernames(self, org_id: int) -> set[str]:
        """Humans sitting in at least one admin team of the organization."""
        return {user.username for user, team in self.org_memberships(org_id)
                if team.role == "admin" and not user.robot}

    def remove_org_member(self, org_id: int, user_id: int) -> None:
        """Drop the user from every team of the organization and from its repositories' permissions."""
        repo_ids = select(t.repository.c.id).where(t.repository.c.namespace_id == org_id)
        self.conn.execute(delete(t.repo_permission).where(
            t.repo_permission.c.user_id == user_id, t.repo_permission.c.repository_id.in_(repo_ids)))
        team_ids = select(t.team.c.id).where(t.team.c.org_id == org_id)
        self.conn.execute(delete(t.team_member).where(
            t.team_member.c.user_id == user_id, t.team_member.c.team_id.in_(team_ids)))

    # ---- prototypes (default permissions) ------------------------------------------------------------

    def _prototypes(self, *conditions: Any) -> list[Prototype]:
        p = t.prototype
        rows = self.conn.execute(select(p).where(*conditions).order_by(p.c.id)).all()
        out = []
        for row in rows:
            m = row._mapping
            team = None
            if m["delegate_team_id"] is not None:
                team_row = self.conn.execute(select(t.team).where(t.team.c.id == m["delegate_team_id"])).first()
                team = team_from_row(team_row) if team_row else None
            out.append(Prototype(
                id=m["id"], uuid=m["uuid"], org_id=m["org_id"], role=m["role"],
                activating_user=self.user_by_id(m["activating_user_id"]) if m["activating_user_id"] else None,
                delegate_user=self.user_by_id(m["delegate_user_id"]) if m["delegate_user_id"] else None,
                delegate_team=team,
            ))
        return out

    def prototypes(self, org_id: int) -> list[Prototype]:
        return self._prototypes(t.prototype.c.org_id == org_id)

    def prototype(self, org_id: int, uuid: str) -> Prototype | None:
        found = self._prototypes(t.prototype.c.org_id == org_id, t.prototype.c.uuid == uuid)
        return found[0] if found else None

    def create_prototype(self, org_id: int, role: str, activating_user: User | None,
                         delegate_user: User | None, delegate_team: Team | None) -> Prototype:
        uuid = new_uuid()
        self.conn.execute(insert(t.prototype).values(
            uuid=uuid, org_id=org_id, role=role,
            activating_user_id=activating_user.id if activating_user else None,
            delegate_user_id=delegate_user.id if delegate_user else None,
            delegate_team_id=delegate_team.id if delegate_team else None,
        ))
        created = self.prototype(org_id, uuid)
        assert created is not None
        return created

    def set_prototype_role(self, prototype_id: int, role: str) -> None:
        self.conn.execute(update(t.prototype).where(t.prototype.c.id == prototype_id).values(role=role))

    def delete_prototype(self, prototype_id: int) -> None:
        self.conn.execute(delete(t.prototype).where(t.prototype.c.id == prototype_id))
