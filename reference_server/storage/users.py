"""Storage queries for the users area (a mixin of Db): accounts, sign-in, stars, the user's inbox
notifications, the OAuth grants a user holds, and app-specific tokens."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update

from reference_server.auth.secrets import new_app_token
from reference_server.domain.models import Repository, User
from reference_server.storage import schema as t
from reference_server.storage.base import (
    _REPO_COLS,
    _USER_COLS,
    BaseQueries,
    aware,
    inserted_id,
    new_uuid,
    now,
    repo_from_row,
    user_from_row,
)


@dataclass(frozen=True)
class UserAppToken:
    id: int
    uuid: str
    user_id: int
    title: str
    token_enc: str
    created: datetime | None
    expiration: datetime | None
    last_accessed: datetime | None


@dataclass(frozen=True)
class UserNotification:
    id: int
    uuid: str
    kind: str
    metadata: dict[str, Any]
    created: datetime | None
    dismissed: bool
    # Set when the notification targets an organization the user administers rather than the user.
    organization: str | None


@dataclass(frozen=True)
class AppInfo:
    """The OAuth application side of a grant, with its owning organization."""

    name: str
    client_id: str
    description: str
    application_uri: str
    avatar_email: str | None
    org_name: str
    org_email: str | None


@dataclass(frozen=True)
class Authorization:
    id: int
    uuid: str
    scope: str
    app: AppInfo


@dataclass(frozen=True)
class AssignedAuthorization:
    id: int
    uuid: str
    scope: str
    redirect_uri: str
    response_type: str
    app: AppInfo


def _app_token(row: Any) -> UserAppToken:
    m = row._mapping
    return UserAppToken(id=m["id"], uuid=m["uuid"], user_id=m["user_id"], title=m["title"], token_enc=m["token_enc"],
                    created=aware(m["created"]), expiration=aware(m["expiration"]),
                    last_accessed=aware(m["last_accessed"]))


_ORG = t.user.alias("app_org")
_APP_COLS = (
    t.oauth_application.c.name.label("app_name"), t.oauth_application.c.client_id,
    t.oauth_application.c.description.label("app_description"), t.oauth_application.c.application_uri,
    t.oauth_application.c.avatar_email, _ORG.c.username.label("org_name"), _ORG.c.email.label("org_email"),
)


def _app_info(row: Any) -> AppInfo:
    m = row._mapping
    return AppInfo(name=m["app_name"], client_id=m["client_id"], description=m["app_description"] or "",
                   application_uri=m["application_uri"] or "", avatar_email=m["avatar_email"],
                   org_name=m["org_name"], org_email=m["org_email"])


class UserQueries(BaseQueries):

    # ---- accounts -------------------------------------------------------------------------------------

    def organizations_of(self, user_id: int) -> list[User]:
        """Organizations where the user sits in at least one team."""
        # A subquery rather than DISTINCT: PostgreSQL cannot compare the JSON metadata column for DISTINCT.
        org_ids = select(t.team.c.org_id).join(t.team_member, t.team_member.c.team_id == t.team.c.id) \
            .where(t.team_member.c.user_id == user_id)
        rows = self.conn.execute(
            select(*_USER_COLS).where(t.user.c.id.in_(org_ids)).order_by(t.user.c.username)
        ).all()
        return [user_from_row(r) for r in rows]

    def namespace_by_email(self, email: str) -> User | None:
        """A user or organization with this e-mail address (Quay's find_user_by_email looks at both)."""
        row = self.conn.execute(
            select(*_USER_COLS).where(t.user.c.email == email, t.user.c.robot.is_(False))
            .order_by(t.user.c.id)
        ).first()
        return user_from_row(row) if row else None

    def nonrobot_user(self, username: str) -> User | None:
        """A plain user (not an organization, not a robot) by name."""
        found = self.user_by_name(username)
        return found if found is not None and not found.organization and not found.robot else None

    def verify_credentials(self, username_or_email: str, password: str) -> User | None:
        """The user these credentials belong to, or None. Quay accepts the user name or the e-mail address
        and counts failed attempts on the account."""
        row = self.conn.execute(
            select(*_USER_COLS).where(
                t.user.c.robot.is_(False), t.user.c.organization.is_(False),
                or_(t.user.c.username == username_or_email, t.user.c.email == username_or_email))
            .order_by(t.user.c.id)
        ).first()
        if row is None:
            return None
        user = user_from_row(row)
        if self.secrets.verify_password(row._mapping["password_hash"], password):
            self.conn.execute(update(t.user).where(t.user.c.id == user.id).values(login_failures=0))
            return user
        self.conn.execute(update(t.user).where(t.user.c.id == user.id)
                          .values(login_failures=t.user.c.login_failures + 1))
        return None

    def set_password(self, user_id: int, password: str) -> None:
        self.conn.execute(update(t.user).where(t.user.c.id == user_id)
                          .values(password_hash=self.secrets.hash_password(password), login_failures=0))

    def update_user_fields(self, user_id: int, **values: Any) -> None:
        """Set plain columns of a namespace row (email, verified, invoice settings, tag expiration...)."""
        if values:
            self.conn.execute(update(t.user).where(t.user.c.id == user_id).values(**values))

    # ---- stars ----------------------------------------------------------------------------------------

    def star_repository(self, user_id: int, repo_id: int) -> None:
        """Idempotent: starring twice leaves one star."""
        exists = self.conn.execute(select(t.star.c.user_id).where(
            t.star.c.user_id == user_id, t.star.c.repository_id == repo_id)).first()
        if exists is None:
            self.conn.execute(insert(t.star).values(user_id=user_id, repository_id=repo_id, created=now()))

    def unstar_repository(self, user_id: int, repo_id: int) -> None:
        self.conn.execute(delete(t.star).where(t.star.c.user_id == user_id, t.star.c.repository_id == repo_id))

    def is_starred(self, user_id: int, repo_id: int) -> bool:
        return self.conn.execute(select(t.star.c.user_id).where(
            t.star.c.user_id == user_id, t.star.c.repository_id == repo_id)).first() is not None

    def starred_repositories(self, user_id: int, after_id: int, limit: int) -> list[Repository]:
        """Starred image repositories not being deleted, by ascending id after `after_id` (keyset paging)."""
        rows = self.conn.execute(
            select(*_REPO_COLS)
            .select_from(t.repository.join(t.user, t.user.c.id == t.repository.c.namespace_id)
                         .join(t.star, t.star.c.repository_id == t.repository.c.id))
            .where(t.star.c.user_id == user_id, t.repository.c.id > after_id,
                   t.repository.c.state != "MARKED_FOR_DELETION", t.repository.c.kind == "image")
            .order_by(t.repository.c.id).limit(limit)
        ).all()
        return [repo_from_row(r) for r in rows]

    # ---- inbox notifications --------------------------------------------------------------------------

    def create_user_notification(self, target: User, kind: str, metadata: dict[str, Any]) -> str:
        """Put a notification in a user's (or an organization's admins') inbox; returns its uuid."""
        uuid = new_uuid()
        self.conn.execute(insert(t.user_notification).values(
            uuid=uuid, user_id=target.id, kind=kind, metadata=metadata, created=now(), dismissed=False))
        return uuid

    def user_notifications(self, user_id: int, *, uuid: str | None = None, include_dismissed: bool = False,
                           offset: int = 0, limit: int | None = None) -> list[UserNotification]:
        """The user's own notifications plus those of organizations where they sit in an admin team,
        newest first."""
        note = t.user_notification
        target = t.user.alias("target")
        admin_orgs = (select(t.team.c.org_id)
                      .select_from(t.team.join(t.team_member, t.team_member.c.team_id == t.team.c.id))
                      .where(t.team_member.c.user_id == user_id, t.team.c.role == "admin"))
        conds = [or_(note.c.user_id == user_id, note.c.user_id.in_(admin_orgs))]
        if uuid is not None:
            conds.append(note.c.uuid == uuid)
        if not include_dismissed:
            conds.append(note.c.dismissed.is_(False))
        query = (select(note, target.c.username.label("target_name"),
                        target.c.organization.label("target_is_org"))
                 .select_from(note.join(target, target.c.id == note.c.user_id))
                 .where(and_(*conds)).order_by(note.c.created.desc(), note.c.id.desc()))
        if offset:
            query = query.offset(offset)
        if limit is not None:
            query = query.limit(limit)
        out = []
        for row in self.conn.execute(query).all():
            m = row._mapping
            out.append(UserNotification(
                id=m["id"], uuid=m["uuid"], kind=m["kind"], metadata=m["metadata"] or {},
                created=aware(m["created"]), dismissed=bool(m["dismissed"]),
                organization=m["target_name"] if m["target_is_org"] else None))
        return out

    def set_notification_dismissed(self, notification_id: int, dismissed: bool) -> None:
        self.conn.execute(update(t.user_notification).where(t.user_notification.c.id == notification_id)
                          .values(dismissed=dismissed))

    def delete_notifications_by_kind(self, user_id: int, kind: str) -> None:
        self.conn.execute(delete(t.user_notification).where(
            t.user_notification.c.user_id == user_id, t.user_notification.c.kind == kind))

    # ---- OAuth grants held by the user ----------------------------------------------------------------

    def user_authorizations(self, user_id: int, uuid: str | None = None) -> list[Authorization]:
        """OAuth access tokens issued to the user through an application (tokens with no application,
        such as bootstrap ones, are not grants and are left out)."""
        tok = t.oauth_token
        app = t.oauth_application
        conds = [tok.c.user_id == user_id]
        if uuid is not None:
            conds.append(tok.c.uuid == uuid)
        rows = self.conn.execute(
            select(tok.c.id, tok.c.uuid, tok.c.scope, *_APP_COLS)
            .select_from(tok.join(app, app.c.id == tok.c.application_id).join(_ORG, _ORG.c.id == app.c.org_id))
            .where(and_(*conds)).order_by(tok.c.id)
        ).all()
        return [Authorization(id=r._mapping["id"], uuid=r._mapping["uuid"], scope=r._mapping["scope"],
                              app=_app_info(r)) for r in rows]

    def delete_oauth_token(self, token_id: int) -> None:
        self.conn.execute(delete(t.oauth_token).where(t.oauth_token.c.id == token_id))

    def assigned_authorizations(self, user_id: int, uuid: str | None = None) -> list[AssignedAuthorization]:
        aa = t.assigned_authorization
        app = t.oauth_application
        conds = [aa.c.user_id == user_id]
        if uuid is not None:
            conds.append(aa.c.uuid == uuid)
        rows = self.conn.execute(
            select(aa.c.id, aa.c.uuid, aa.c.scope, aa.c.redirect_uri, aa.c.response_type, *_APP_COLS)
            .select_from(aa.join(app, app.c.id == aa.c.application_id).join(_ORG, _ORG.c.id == app.c.org_id))
            .where(and_(*conds)).order_by(aa.c.id)
        ).all()
        return [AssignedAuthorization(
            id=r._mapping["id"], uuid=r._mapping["uuid"], scope=r._mapping["scope"],
            redirect_uri=r._mapping["redirect_uri"] or "", response_type=r._mapping["response_type"],
            app=_app_info(r)) for r in rows]

    def delete_assigned_authorization(self, assignment_id: int) -> None:
        self.conn.execute(delete(t.assigned_authorization).where(t.assigned_authorization.c.id == assignment_id))

    # ---- app-specific tokens --------------------------------------------------------------------------

    def create_user_app_token(self, user: User, title: str, expiration: datetime | None) -> tuple[UserAppToken, str]:
        """Mint a token; returns (token, code). The code is kept encrypted (GET shows it again) and
        looked up by its keyed hash."""
        code = new_app_token()
        token_id = inserted_id(self.conn.execute(insert(t.app_specific_token).values(
            uuid=new_uuid(), user_id=user.id, title=title, token_hash=self.secrets.token_hash(code),
            token_enc=self.secrets.encrypt(code), created=now(), expiration=expiration)))
        row = self.conn.execute(select(t.app_specific_token).where(t.app_specific_token.c.id == token_id)).one()
        return _app_token(row), code

    def user_app_tokens(self, user_id: int, *, expiring_before: datetime | None = None) -> list[UserAppToken]:
        """A user's tokens; with `expiring_before`, only those still valid that expire by then."""
        ast = t.app_specific_token
        query = select(ast).where(ast.c.user_id == user_id)
        if expiring_before is not None:
            query = query.where(ast.c.expiration.is_not(None), ast.c.expiration <= expiring_before,
                                ast.c.expiration > now())
        return [_app_token(r) for r in self.conn.execute(query.order_by(ast.c.id)).all()]

    def user_app_token(self, user_id: int, uuid: str) -> UserAppToken | None:
        ast = t.app_specific_token
        row = self.conn.execute(select(ast).where(ast.c.user_id == user_id, ast.c.uuid == uuid)).first()
        return _app_token(row) if row else None

    def delete_user_app_token(self, token_id: int) -> None:
        self.conn.execute(delete(t.app_specific_token).where(t.app_specific_token.c.id == token_id))

    def user_app_token_code(self, token: UserAppToken) -> str | None:
        return self.secrets.decrypt(token.token_enc)

    def app_token_owner(self, code: str) -> tuple[UserAppToken, User] | None:
        """Registry login with `$app` and a token code: the (token, owner), or None when unknown or expired.
        Marks the token as used."""
        ast = t.app_specific_token
        row = self.conn.execute(select(ast).where(ast.c.token_hash == self.secrets.token_hash(code))).first()
        if row is None:
            return None
        token = _app_token(row)
        if token.expiration is not None and token.expiration <= now():
            return None
        owner = self.user_by_id(token.user_id)
        if owner is None:
            return None
        self.conn.execute(update(ast).where(ast.c.id == token.id).values(last_accessed=now()))
        return token, owner
