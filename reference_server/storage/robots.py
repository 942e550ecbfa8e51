"""Storage queries for robots, plus the registry-wide listings and namespace changes of the superuser panel
(a mixin of Db).

A robot is a row of the `user` table with robot=True named "<namespace>+<short>". Its 64-character token is
stored twice: a keyed hash for lookups and a Fernet ciphertext, because Quay's API shows the token again on GET.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, insert, select, update

from reference_server.auth.secrets import new_robot_token
from reference_server.domain.models import User
from reference_server.storage import schema as t
from reference_server.storage.base import (
    _USER_COLS,
    BaseQueries,
    aware,
    inserted_id,
    new_uuid,
    now,
    user_from_row,
)


@dataclass(frozen=True)
class RobotRecord:
    id: int
    name: str  # the full name, namespace+short
    created: datetime | None
    last_accessed: datetime | None
    description: str
    unstructured_metadata: dict[str, Any] | None
    token_enc: str | None


@dataclass(frozen=True)
class RobotGrant:
    repository: str  # the repository's name inside the robot's namespace
    visibility: str
    role: str


@dataclass(frozen=True)
class AppTokenRecord:
    uuid: str
    title: str
    created: datetime | None
    expiration: datetime | None
    last_accessed: datetime | None


_ROBOT_COLS = (
    t.user.c.id, t.user.c.username, t.user.c.created, t.user.c.last_accessed, t.user.c.description,
    t.user.c.unstructured_metadata, t.user.c.robot_token_enc,
)


def _robot_from_row(row: Any) -> RobotRecord:
    m = row._mapping
    return RobotRecord(id=m["id"], name=m["username"], created=aware(m["created"]),
                       last_accessed=aware(m["last_accessed"]), description=m["description"] or "",
                       unstructured_metadata=m["unstructured_metadata"], token_enc=m["robot_token_enc"])


def _prefix_filter(namespace: str) -> Any:
    """Robots of one namespace. A LIKE pattern would treat `_` in the name as a wildcard, so compare text."""
    prefix = namespace + "+"
    return func.substr(t.user.c.username, 1, len(prefix)) == prefix


class RobotQueries(BaseQueries):
    # ---- robots ---------------------------------------------------------------------------------------

    def robot(self, full_name: str) -> RobotRecord | None:
        row = self.conn.execute(
            select(*_ROBOT_COLS).where(t.user.c.username == full_name, t.user.c.robot.is_(True))
        ).first()
        return _robot_from_row(row) if row else None

    def robot_token(self, robot: RobotRecord) -> str | None:
        return self.secrets.decrypt(robot.token_enc) if robot.token_enc else None

    def create_robot(self, full_name: str, description: str,
                     metadata: dict[str, Any] | None) -> tuple[RobotRecord, str]:
        token = new_robot_token()
        # Robots have no e-mail of their own; Quay fills the column with a random UUID.
        self.conn.execute(insert(t.user).values(
            uuid=new_uuid(), username=full_name, email=new_uuid(), password_hash=None, verified=True,
            enabled=True, organization=False, robot=True, created=now(), tag_expiration_s=1209600,
            invoice_email=False, description=description[:255], unstructured_metadata=metadata or {},
            robot_token_hash=self.secrets.token_hash(token), robot_token_enc=self.secrets.encrypt(token),
            login_failures=0,
        ))
        robot = self.robot(full_name)
        assert robot is not None
        return robot, token

    def regenerate_robot_token(self, robot: RobotRecord) -> str:
        """A new token (the old one stops working at once); the robot also gets a new uuid and e-mail."""
        token = new_robot_token()
        self.conn.execute(update(t.user).where(t.user.c.id == robot.id).values(
            uuid=new_uuid(), email=new_uuid(), robot_token_hash=self.secrets.token_hash(token),
            robot_token_enc=self.secrets.encrypt(token),
        ))
        return token

    def verify_robot_token(self, full_name: str, token: str) -> User | None:
        """The robot when `token` is its current token (for registry-side credentials)."""
        row = self.conn.execute(
            select(*_USER_COLS).where(t.user.c.username == full_name, t.user.c.robot.is_(True),
                                      t.user.c.robot_token_hash == self.secrets.token_hash(token))
        ).first()
        return user_from_row(row) if row else None

    def delete_robot(self, robot_id: int) -> None:
        self.conn.execute(delete(t.user).where(t.user.c.id == robot_id, t.user.c.robot.is_(True)))

    def list_robots(self, namespace: str, limit: int | None = None) -> list[RobotRecord]:
        # Quay orders by last access, most recent first; among never-used robots the newest comes first.
        query = (select(*_ROBOT_COLS)
                 .where(t.user.c.robot.is_(True), _prefix_filter(namespace))
                 .order_by(t.user.c.last_accessed.is_(None), t.user.c.last_accessed.desc(), t.user.c.id.desc()))
        if limit is not None:
            query = query.limit(max(limit, 0))
        return [_robot_from_row(r) for r in self.conn.execute(query).all()]

    def robot_team_names(self, robot_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {i: [] for i in robot_ids}
        if not robot_ids:
            return out
        rows = self.conn.execute(
            select(t.team_member.c.user_id, t.team.c.name)
            .select_from(t.team_member.join(t.team, t.team.c.id == t.team_member.c.team_id))
            .where(t.team_member.c.user_id.in_(robot_ids)).order_by(t.team.c.name)
        ).all()
        for user_id, name in rows:
            out[user_id].append(name)
        return out

    def robot_repository_names(self, robot_ids: list[int]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {i: [] for i in robot_ids}
        if not robot_ids:
            return out
        rows = self.conn.execute(
            select(t.repo_permission.c.user_id, t.repository.c.name)
            .select_from(t.repo_permission.join(t.repository,
                                                t.repository.c.id == t.repo_permission.c.repository_id))
            .where(t.repo_permission.c.user_id.in_(robot_ids)).order_by(t.repository.c.name)
        ).all()
        for user_id, name in rows:
            if name not in out[user_id]:
                out[user_id].append(name)
        return out

    def robot_grants(self, robot_id: int) -> list[RobotGrant]:
        """The robot's direct repository permissions."""
        rows = self.conn.execute(
            select(t.repository.c.name, t.repository.c.visibility, t.repo_permission.c.role)
            .select_from(t.repo_permission.join(t.repository,
                                                t.repository.c.id == t.repo_permission.c.repository_id))
            .where(t.repo_permission.c.user_id == robot_id).order_by(t.repository.c.name)
        ).all()
        return [RobotGrant(repository=r[0], visibility=r[1], role=r[2]) for r in rows]

    # ---- robot federation -----------------------------------------------------------------------------

    def robot_federation(self, robot_id: int) -> list[dict[str, str]]:
        rows = self.conn.execute(
            select(t.robot_federation.c.issuer, t.robot_federation.c.subject)
            .where(t.robot_federation.c.robot_id == robot_id).order_by(t.robot_federation.c.id)
        ).all()
        return [{"issuer": r[0], "subject": r[1]} for r in rows]

    def set_robot_federation(self, robot_id: int, entries: list[dict[str, str]]) -> None:
        """Replace the robot's whole federation configuration."""
        self.conn.execute(delete(t.robot_federation).where(t.robot_federation.c.robot_id == robot_id))
        if entries:
            self.conn.execute(insert(t.robot_federation), [
                {"robot_id": robot_id, "issuer": e["issuer"], "subject": e["subject"]} for e in entries])

    # ---- superuser panel: listings ---------------------------------------------------------------------

    def users_after(self, after_id: int, limit: int | None, include_disabled: bool) -> list[User]:
        """Human users with id > after_id, in id order (the keyset pagination of the superuser panel)."""
        conds = [t.user.c.robot.is_(False), t.user.c.organization.is_(False), t.user.c.id > after_id]
        if not include_disabled:
            conds.append(t.user.c.enabled.is_(True))
        query = select(*_USER_COLS).where(and_(*conds)).order_by(t.user.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [user_from_row(r) for r in self.conn.execute(query).all()]

    def organizations_after(self, after_id: int, limit: int | None) -> list[User]:
        query = (select(*_USER_COLS)
                 .where(t.user.c.organization.is_(True), t.user.c.id > after_id).order_by(t.user.c.id))
        if limit is not None:
            query = query.limit(limit)
        return [user_from_row(r) for r in self.conn.execute(query).all()]

    def all_app_tokens(self, expiring_within: timedelta | None = None) -> list[AppTokenRecord]:
        tok = t.app_specific_token
        query = select(tok.c.uuid, tok.c.title, tok.c.created, tok.c.expiration, tok.c.last_accessed)
        if expiring_within is not None:
            current = now()
            query = query.where(tok.c.expiration.is_not(None), tok.c.expiration > current,
                                tok.c.expiration <= current + expiring_within)
        rows = self.conn.execute(query.order_by(tok.c.id)).all()
        return [AppTokenRecord(uuid=r[0], title=r[1], created=aware(r[2]), expiration=aware(r[3]),
                               last_accessed=aware(r[4])) for r in rows]

    # ---- superuser panel: changes ----------------------------------------------------------------------

    def account_email_in_use(self, email: str, except_id: int | None = None) -> bool:
        conds = [t.user.c.email == email, t.user.c.organization.is_(False), t.user.c.robot.is_(False)]
        if except_id is not None:
            conds.append(t.user.c.id != except_id)
        return self.conn.execute(select(t.user.c.id).where(and_(*conds))).first() is not None

    def update_account(self, user_id: int, *, password: str | None = None, email: str | None = None,
                       enabled: bool | None = None) -> None:
        values: dict[str, Any] = {}
        if password is not None:
            values.update(password_hash=self.secrets.hash_password(password), login_failures=0)
        if email is not None:
            values.update(email=email, verified=True)
        if enabled is not None:
            values["enabled"] = enabled
        if values:
            self.conn.execute(update(t.user).where(t.user.c.id == user_id).values(**values))

    def rename_namespace(self, namespace: User, new_name: str) -> None:
        """Rename a user or organization together with its robots (their names embed the namespace)."""
        for robot in self.list_robots(namespace.username):
            short = robot.name.split("+", 1)[1]
            self.conn.execute(update(t.user).where(t.user.c.id == robot.id)
                              .values(username=f"{new_name}+{short}"))
        self.conn.execute(update(t.user).where(t.user.c.id == namespace.id).values(username=new_name))

    def delete_namespace(self, namespace: User) -> None:
        """Remove a user or organization, its robots and (by cascade) everything it owns; the name stays
        reserved, as Quay keeps a DeletedNamespace row."""
        robot_ids = [r.id for r in self.list_robots(namespace.username)]
        if robot_ids:
            self.conn.execute(delete(t.user).where(t.user.c.id.in_(robot_ids)))
        self.conn.execute(delete(t.user).where(t.user.c.id == namespace.id))
        taken = self.conn.execute(select(t.deleted_namespace.c.name)
                                  .where(t.deleted_namespace.c.name == namespace.username)).first()
        if taken is None:
            self.conn.execute(insert(t.deleted_namespace).values(name=namespace.username))

    def add_org_admin(self, org: User, user: User) -> None:
        """Put `user` in the organization's first admin team, creating an `owners` team if it has none."""
        team_id = self.conn.execute(
            select(t.team.c.id).where(t.team.c.org_id == org.id, t.team.c.role == "admin").order_by(t.team.c.id)
        ).scalar()
        if team_id is None:
            team_id = inserted_id(self.conn.execute(insert(t.team).values(
                org_id=org.id, name="owners", role="admin", description="")))
        present = self.conn.execute(select(t.team_member.c.user_id).where(
            t.team_member.c.team_id == team_id, t.team_member.c.user_id == user.id)).first()
        if present is None:
            self.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=user.id))

    def convert_to_organization(self, account: User, admin: User) -> None:
        """Turn a user account into an organization administered by `admin` (Quay's take-ownership of a
        user): the account can no longer sign in."""
        self.conn.execute(update(t.user).where(t.user.c.id == account.id)
                          .values(organization=True, password_hash=None))
        # An organization cannot act by itself: drop its bearer tokens and its own repository grants.
        self.conn.execute(delete(t.oauth_token).where(t.oauth_token.c.user_id == account.id))
        self.conn.execute(delete(t.repo_permission).where(t.repo_permission.c.user_id == account.id))
        converted = self.user_by_id(account.id)
        assert converted is not None
        self.add_org_admin(converted, admin)

    # ---- bootstrap token -------------------------------------------------------------------------------

    def bootstrap_application(self, application_id: int) -> tuple[int, int] | None:
        """(application id, owner id) when the application is the one `user/initialize` created for the
        first user (named `automation`, client id = the owner's name); None for any other application."""
        app = t.oauth_application
        row = self.conn.execute(
            select(app.c.id, app.c.org_id)
            .select_from(app.join(t.user, t.user.c.id == app.c.org_id))
            .where(app.c.id == application_id, app.c.name == "automation",
                   app.c.client_id == t.user.c.username)
        ).first()
        return (int(row[0]), int(row[1])) if row else None

    def oauth_token_scope(self, token_id: int) -> tuple[str, datetime | None] | None:
        row = self.conn.execute(select(t.oauth_token.c.scope, t.oauth_token.c.expires_at)
                                .where(t.oauth_token.c.id == token_id)).first()
        return (str(row[0]), aware(row[1])) if row else None

    def delete_application_tokens(self, application_id: int, keep_token_id: int) -> None:
        self.conn.execute(delete(t.oauth_token).where(
            t.oauth_token.c.application_id == application_id, t.oauth_token.c.id != keep_token_id))
