"""Storage queries for repositories, their permissions, authorized e-mails and search (a mixin of Db)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, delete, false, func, insert, or_, select, update

from reference_server.domain.models import Repository, Team, User
from reference_server.storage import schema as t
from reference_server.storage.base import (
    _REPO_COLS,
    _USER_COLS,
    BaseQueries,
    inserted_id,
    new_uuid,
    now,
    repo_from_row,
    team_from_row,
    user_from_row,
)

DELETED_STATE = "MARKED_FOR_DELETION"


@dataclass(frozen=True)
class UserGrant:
    """A direct permission row of a user (or robot) on one repository."""

    user: User
    role: str


@dataclass(frozen=True)
class TeamGrant:
    team: Team
    role: str


@dataclass(frozen=True)
class AuthorizedEmail:
    email: str
    confirmed: bool


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _prefix(column: Any, text: str) -> ColumnElement[bool]:
    """Case-sensitive prefix match (names are lower case already), safe against LIKE wildcards."""
    return column.like(_like_escape(text) + "%", escape="\\")  # type: ignore[no-any-return]


def _contains(column: Any, text: str) -> ColumnElement[bool]:
    return func.lower(column).like("%" + _like_escape(text.lower()) + "%", escape="\\")


class RepoQueries(BaseQueries):
    # ---- repositories ---------------------------------------------------------------------------------

    def _repo_select(self) -> Any:
        return select(*_REPO_COLS).select_from(
            t.repository.join(t.user, t.user.c.id == t.repository.c.namespace_id))

    def repo_status_token(self, repo_id: int) -> str:
        value = self.conn.execute(
            select(t.repository.c.status_token).where(t.repository.c.id == repo_id)).scalar()
        return str(value or "")

    def create_repository(self, namespace: User, name: str, *, visibility: str, description: str,
                          kind: str) -> Repository:
        result = self.conn.execute(insert(t.repository).values(
            namespace_id=namespace.id, name=name, visibility=visibility, description=description,
            kind=kind, state="NORMAL", trust_enabled=False, created=now(), status_token=new_uuid(),
        ))
        repo = self.repository_by_id(inserted_id(result))
        assert repo is not None
        return repo

    def update_repository(self, repo_id: int, **values: Any) -> None:
        self.conn.execute(update(t.repository).where(t.repository.c.id == repo_id).values(**values))

    def delete_repository(self, repo_id: int) -> None:
        """Remove the repository; permissions, stars and authorized e-mails go with it (ON DELETE CASCADE)."""
        self.conn.execute(delete(t.repository).where(t.repository.c.id == repo_id))

    def repo_is_starred(self, user_id: int, repo_id: int) -> bool:
        return self._cached(("starred", user_id, repo_id), lambda: self.conn.execute(select(t.star.c.user_id).where(
            t.star.c.user_id == user_id, t.star.c.repository_id == repo_id)).first() is not None)

    def starred_repo_ids(self, user_id: int) -> set[int]:
        return set(self.conn.execute(
            select(t.star.c.repository_id).where(t.star.c.user_id == user_id)).scalars().all())

    def _visible(self, user_id: int | None, include_public: bool, see_all: bool) -> ColumnElement[bool]:
        """Quay's visibility rule: public (when asked for), a direct or team permission, an org where the
        user sits in an admin team, or the user's own namespace."""
        if see_all:
            return t.repository.c.state != DELETED_STATE
        conds: list[ColumnElement[bool]] = []
        if include_public:
            conds.append(t.repository.c.visibility == "public")
        if user_id is not None:
            my_teams = select(t.team_member.c.team_id).where(t.team_member.c.user_id == user_id)
            granted = select(t.repo_permission.c.repository_id).where(or_(
                t.repo_permission.c.user_id == user_id, t.repo_permission.c.team_id.in_(my_teams)))
            admin_orgs = select(t.team.c.org_id).select_from(
                t.team.join(t.team_member, t.team_member.c.team_id == t.team.c.id)
            ).where(t.team_member.c.user_id == user_id, t.team.c.role == "admin")
            conds += [t.repository.c.id.in_(granted), t.repository.c.namespace_id.in_(admin_orgs),
                      t.repository.c.namespace_id == user_id]
        if not conds:
            return false()
        return and_(t.repository.c.state != DELETED_STATE, or_(*conds))

    def visible_repositories(self, *, user_id: int | None, include_public: bool, see_all: bool = False,
                             namespace: str | None = None, kind: str | None = "image",
                             start_id: int | None = None, limit: int | None = None,
                             only_ids: set[int] | None = None) -> list[Repository]:
        query = self._repo_select().where(self._visible(user_id, include_public, see_all))
        if namespace is not None:
            query = query.where(t.user.c.username == namespace)
        if kind is not None:
            query = query.where(t.repository.c.kind == kind)
        if start_id is not None:
            query = query.where(t.repository.c.id >= start_id)
        if only_ids is not None:
            query = query.where(t.repository.c.id.in_(only_ids))
        query = query.order_by(t.repository.c.id)
        if limit is not None:
            query = query.limit(limit)
        return [repo_from_row(r) for r in self.conn.execute(query).all()]

    def repo_action_counts(self, repo_id: int, since: datetime) -> dict[date, int]:
        """Audit entries per UTC day for one repository (Quay's daily action counts)."""
        rows = self.conn.execute(select(t.log_entry.c.datetime).where(
            t.log_entry.c.repository_id == repo_id, t.log_entry.c.datetime >= since)).scalars().all()
        counts: dict[date, int] = {}
        for when in rows:
            counts[when.date()] = counts.get(when.date(), 0) + 1
        return counts

    def repo_action_sums(self, repo_ids: list[int], days: int = 7) -> dict[int, int]:
        """Audit entries per repository over the last `days` whole days. Quay sums daily counts that a
        worker computes for finished days, so today's activity is not in the figure yet."""
        if not repo_ids:
            return {}
        midnight = now().replace(hour=0, minute=0, second=0, microsecond=0)
        rows = self.conn.execute(
            select(t.log_entry.c.repository_id, func.count())
            .where(t.log_entry.c.repository_id.in_(repo_ids),
                   t.log_entry.c.datetime >= midnight - timedelta(days=days),
                   t.log_entry.c.datetime < midnight)
            .group_by(t.log_entry.c.repository_id)).all()
        return {int(r[0]): int(r[1]) for r in rows}

    def star_counts(self, repo_ids: list[int]) -> dict[int, int]:
        if not repo_ids:
            return {}
        rows = self.conn.execute(
            select(t.star.c.repository_id, func.count()).where(t.star.c.repository_id.in_(repo_ids))
            .group_by(t.star.c.repository_id)).all()
        return {int(r[0]): int(r[1]) for r in rows}

    # ---- permissions ----------------------------------------------------------------------------------

    def repo_user_grants(self, repo_id: int) -> list[UserGrant]:
        rows = self.conn.execute(
            select(t.repo_permission.c.role, *_USER_COLS)
            .select_from(t.repo_permission.join(t.user, t.user.c.id == t.repo_permission.c.user_id))
            .where(t.repo_permission.c.repository_id == repo_id).order_by(t.user.c.username)
        ).all()
        return [UserGrant(user_from_row(r), r._mapping["role"]) for r in rows]

    def repo_team_grants(self, repo_id: int) -> list[TeamGrant]:
        rows = self.conn.execute(
            select(t.repo_permission.c.role.label("perm_role"), t.team.c.id, t.team.c.org_id, t.team.c.name,
                   t.team.c.role, t.team.c.description)
            .select_from(t.repo_permission.join(t.team, t.team.c.id == t.repo_permission.c.team_id))
            .where(t.repo_permission.c.repository_id == repo_id).order_by(t.team.c.name)
        ).all()
        return [TeamGrant(team_from_row(r), r._mapping["perm_role"]) for r in rows]

    def repo_user_grant(self, repo_id: int, user_id: int) -> str | None:
        value = self.conn.execute(select(t.repo_permission.c.role).where(
            t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.user_id == user_id)).scalar()
        return str(value) if value is not None else None

    def repo_team_grant(self, repo_id: int, team_id: int) -> str | None:
        value = self.conn.execute(select(t.repo_permission.c.role).where(
            t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.team_id == team_id)).scalar()
        return str(value) if value is not None else None

    def set_repo_user_grant(self, repo_id: int, user_id: int, role: str) -> None:
        # The unique constraint cannot catch duplicates (team_id is NULL), so look before inserting.
        if self.repo_user_grant(repo_id, user_id) is not None:
            self.conn.execute(update(t.repo_permission).where(
                t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.user_id == user_id
            ).values(role=role))
        else:
            self.conn.execute(insert(t.repo_permission).values(repository_id=repo_id, user_id=user_id,
                                                               team_id=None, role=role))

    def set_repo_team_grant(self, repo_id: int, team_id: int, role: str) -> None:
        if self.repo_team_grant(repo_id, team_id) is not None:
            self.conn.execute(update(t.repo_permission).where(
                t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.team_id == team_id
            ).values(role=role))
        else:
            self.conn.execute(insert(t.repo_permission).values(repository_id=repo_id, user_id=None,
                                                               team_id=team_id, role=role))

    def delete_repo_user_grant(self, repo_id: int, user_id: int) -> bool:
        result = self.conn.execute(delete(t.repo_permission).where(
            t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.user_id == user_id))
        return bool(result.rowcount)

    def delete_repo_team_grant(self, repo_id: int, team_id: int) -> bool:
        result = self.conn.execute(delete(t.repo_permission).where(
            t.repo_permission.c.repository_id == repo_id, t.repo_permission.c.team_id == team_id))
        return bool(result.rowcount)

    def user_repo_grant_roles(self, user_id: int, repo_id: int) -> list[str]:
        """Every permission row that applies to the user on the repository: direct ones and via teams."""
        my_teams = select(t.team_member.c.team_id).where(t.team_member.c.user_id == user_id)
        return [str(r) for r in self.conn.execute(
            select(t.repo_permission.c.role).where(
                t.repo_permission.c.repository_id == repo_id,
                or_(t.repo_permission.c.user_id == user_id, t.repo_permission.c.team_id.in_(my_teams)),
            ).order_by(t.repo_permission.c.id)).scalars().all()]

    def org_member_ids(self, org_id: int) -> set[int]:
        """Users sitting in at least one team of the organization."""
        return set(self.conn.execute(
            select(t.team_member.c.user_id).select_from(
                t.team_member.join(t.team, t.team.c.id == t.team_member.c.team_id))
            .where(t.team.c.org_id == org_id)).scalars().all())

    def org_team_named(self, org_id: int, name: str) -> Team | None:
        row = self.conn.execute(select(t.team).where(t.team.c.org_id == org_id, t.team.c.name == name)).first()
        return team_from_row(row) if row else None

    def apply_default_permissions(self, repo: Repository, creator: User) -> None:
        """Apply the organization's prototypes: a prototype for this creator beats a generic one for the
        same delegate; the creator never gets a row from a prototype (they are admin already)."""
        proto = t.prototype
        rows = self.conn.execute(
            select(proto.c.activating_user_id, proto.c.delegate_user_id, proto.c.delegate_team_id,
                   proto.c.role)
            .where(proto.c.org_id == repo.namespace_id,
                   or_(proto.c.activating_user_id == creator.id, proto.c.activating_user_id.is_(None)))
            .order_by(proto.c.id)).all()
        chosen: dict[tuple[str, int], str] = {}
        for row in rows:
            m = row._mapping
            if m["delegate_team_id"] is not None:
                key = ("team", int(m["delegate_team_id"]))
            elif m["delegate_user_id"] is not None:
                key = ("user", int(m["delegate_user_id"]))
            else:
                continue
            if key in chosen and m["activating_user_id"] is None:
                continue
            chosen[key] = m["role"]
        for (kind, entity_id), role in chosen.items():
            if kind == "team":
                self.set_repo_team_grant(repo.id, entity_id, role)
            elif entity_id != creator.id:
                self.set_repo_user_grant(repo.id, entity_id, role)

    # ---- authorized e-mails ---------------------------------------------------------------------------

    def repo_email_code(self, repo_id: int, email: str) -> str:
        """The confirmation code for (repository, address). Derived with the instance's HMAC key so that
        GET can return it again (Quay does) while only its hash is stored."""
        return self.secrets.token_hash(f"repo-email:{repo_id}:{email}")[:40]

    def authorized_email(self, repo_id: int, email: str) -> AuthorizedEmail | None:
        row = self.conn.execute(select(t.authorized_email.c.email, t.authorized_email.c.confirmed).where(
            t.authorized_email.c.repository_id == repo_id, t.authorized_email.c.email == email)).first()
        if row is None:
            return None
        return AuthorizedEmail(email=row._mapping["email"], confirmed=bool(row._mapping["confirmed"]))

    def create_authorized_email(self, repo_id: int, email: str) -> AuthorizedEmail:
        code = self.repo_email_code(repo_id, email)
        self.conn.execute(insert(t.authorized_email).values(
            repository_id=repo_id, email=email, code_hash=self.secrets.token_hash(code), confirmed=False))
        return AuthorizedEmail(email=email, confirmed=False)

    # ---- search ---------------------------------------------------------------------------------------

    def matching_repositories(self, text: str, *, user_id: int | None, offset: int,
                              limit: int) -> list[Repository]:
        """Visible repositories whose name or description contains `text`; name matches first."""
        query = self._repo_select().where(self._visible(user_id, True, False))
        name_hit = _contains(t.repository.c.name, text)
        if text:
            query = query.where(or_(name_hit, _contains(t.repository.c.description, text)))
            # Quay weighs a name match above a description-only match.
            query = query.order_by(case((name_hit, 0), else_=1), t.repository.c.id)
        else:
            query = query.order_by(t.repository.c.id)
        return [repo_from_row(r) for r in self.conn.execute(query.offset(offset).limit(limit)).all()]

    def matching_namespaces(self, prefix: str, *, user_id: int | None, limit: int) -> list[User]:
        """Users and organizations named with the prefix that hold at least one repository visible to
        the caller (public ones included)."""
        visible_ns = select(t.repository.c.namespace_id).where(self._visible(user_id, True, False))
        rows = self.conn.execute(
            select(*_USER_COLS).where(_prefix(t.user.c.username, prefix), t.user.c.robot.is_(False),
                                      t.user.c.id.in_(visible_ns))
            .order_by(t.user.c.username).limit(limit)).all()
        return [user_from_row(r) for r in rows]

    def matching_robots(self, prefix: str, *, user: User, limit: int) -> list[User]:
        """Robots of the user's own namespace and of organizations the user administers."""
        admin_orgs = self.conn.execute(
            select(t.user.c.username).select_from(
                t.user.join(t.team, t.team.c.org_id == t.user.c.id)
                .join(t.team_member, t.team_member.c.team_id == t.team.c.id))
            .where(t.team_member.c.user_id == user.id, t.team.c.role == "admin")).scalars().all()
        owners = [user.username, *admin_orgs]
        checks = [_prefix(t.user.c.username, f"{owner}+{prefix}") for owner in owners]
        rows = self.conn.execute(
            select(*_USER_COLS).where(t.user.c.robot.is_(True), or_(*checks))
            .order_by(t.user.c.username).limit(limit)).all()
        return [user_from_row(r) for r in rows]

    def matching_teams(self, prefix: str, *, user_id: int, admined: bool, limit: int) -> list[tuple[Team, User]]:
        """Teams named with the prefix: those the user sits in, or (admined) all teams of orgs the user
        administers. Returns (team, organization)."""
        if admined:
            orgs = select(t.team.c.org_id).select_from(
                t.team.join(t.team_member, t.team_member.c.team_id == t.team.c.id)
            ).where(t.team_member.c.user_id == user_id, t.team.c.role == "admin")
            scope = t.team.c.org_id.in_(orgs)
        else:
            mine = select(t.team_member.c.team_id).where(t.team_member.c.user_id == user_id)
            scope = t.team.c.id.in_(mine)
        rows = self.conn.execute(
            select(t.team.c.id, t.team.c.org_id, t.team.c.name, t.team.c.role, t.team.c.description)
            .where(_prefix(t.team.c.name, prefix), scope).order_by(t.team.c.name).limit(limit)).all()
        out = []
        for row in rows:
            team = team_from_row(row)
            org = self.user_by_id(team.org_id)
            if org is not None:
                out.append((team, org))
        return out

    def matching_users(self, prefix: str, *, robot_namespace: str | None, exact_only: bool,
                       limit: int) -> list[User]:
        """Enabled users (and the robots of `robot_namespace`) for entity autocomplete, the exact match
        first so that the limit never cuts it off."""

        def condition(exact: bool) -> ColumnElement[bool]:
            if exact:
                human: ColumnElement[bool] = t.user.c.username == prefix
            else:
                human = _prefix(t.user.c.username, prefix)
            cond = and_(human, t.user.c.robot.is_(False))
            if robot_namespace:
                robot_name = f"{robot_namespace}+{prefix}"
                robot = t.user.c.username == robot_name if exact else _prefix(t.user.c.username, robot_name)
                cond = or_(cond, and_(robot, t.user.c.robot.is_(True)))
            return and_(cond, t.user.c.organization.is_(False), t.user.c.enabled.is_(True))

        exact_rows = self.conn.execute(select(*_USER_COLS).where(condition(True)).limit(1)).all()
        found = [user_from_row(r) for r in exact_rows]
        if exact_only:
            return found
        rows = self.conn.execute(
            select(*_USER_COLS).where(condition(False)).order_by(t.user.c.username).limit(limit)).all()
        for row in rows:
            user = user_from_row(row)
            if len(found) >= limit:
                break
            if all(user.id != f.id for f in found):
                found.append(user)
        return found

    def org_teams_with_prefix(self, org_id: int, prefix: str) -> list[Team]:
        rows = self.conn.execute(select(t.team).where(t.team.c.org_id == org_id, _prefix(t.team.c.name, prefix))
                                 .order_by(t.team.c.name)).all()
        return [team_from_row(r) for r in rows]
