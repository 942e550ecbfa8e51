"""The request context handed to every handler."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, NoReturn

from starlette.requests import Request

from reference_server.auth import authz
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.scopes import RepoRole, TeamRole
from reference_server.config import ServerConfig
from reference_server.core.errors import Unauthorized, not_found
from reference_server.domain.models import Repository, User
from reference_server.storage import Db


class RunInThread(Exception):
    """Raised by an offloaded operation's handler on the event loop when its answer is not at hand: the app runs
    the request again in a worker thread, where the handler computes it (ctx.in_thread)."""


@dataclass
class Ctx:
    request: Request
    db: Db
    identity: Identity
    config: ServerConfig
    query: dict[str, Any]
    body: Any
    ip: str
    base_url: str
    # Resolved by the permission check when the operation names a namespace or repository.
    namespace: User | None = None
    repo: Repository | None = None
    state: dict[str, Any] = field(default_factory=dict)
    # For offloaded operations: False on the first, event-loop attempt (answer from the cache or RunInThread).
    in_thread: bool = True

    # ---- who is calling --------------------------------------------------------------------------------

    @property
    def user(self) -> User | None:
        return self.identity.user

    def require_user(self) -> User:
        if self.identity.user is None:
            raise Unauthorized()
        return self.identity.user

    @cached_property
    def privilege(self) -> authz.Privilege:
        user = self.identity.user
        if user is None:
            return authz.Privilege()
        return authz.Privilege(
            superuser=self.config.is_superuser(user.username),
            global_readonly=self.config.is_global_readonly(user.username),
            full_access_enabled=self.config.feature("SUPERUSERS_FULL_ACCESS"),
        )

    def is_superuser(self) -> bool:
        return authz.is_superuser(self.identity, self.privilege)

    def is_global_readonly(self) -> bool:
        return authz.is_global_readonly(self.identity, self.privilege)

    def has_full_access(self) -> bool:
        return authz.has_full_access(self.identity, self.privilege)

    def org_role(self, namespace: User | None) -> TeamRole:
        return authz.effective_team_role(self.identity, self.db.grants(self.user, namespace, None))

    def repo_role(self, repo: Repository) -> RepoRole:
        namespace = self.db.user_by_id(repo.namespace_id)
        return authz.effective_repo_role(self.identity, self.db.grants(self.user, namespace, repo))

    def is_org_admin(self, namespace: User | None) -> bool:
        return self.org_role(namespace) >= TeamRole.ADMIN or self.has_full_access()

    def unauthorized(self) -> NoReturn:
        raise Unauthorized()

    # ---- resolved resources ----------------------------------------------------------------------------

    def org(self) -> User:
        """The organization of the path, or 404 (after the permission check has passed)."""
        if self.namespace is None or not self.namespace.organization:
            raise not_found()
        return self.namespace

    def repository(self) -> Repository:
        if self.repo is None:
            raise not_found()
        return self.repo

    # ---- audit log -------------------------------------------------------------------------------------

    def log(self, kind: str, *, namespace: User | None, repo: Repository | None = None,
            metadata: dict[str, Any] | None = None, performer: User | None = None) -> None:
        """Write an audit entry in the request's transaction, with Quay's OAuth metadata additions."""
        meta = dict(metadata or {})
        token = self.identity.token
        if self.identity.kind is AuthKind.OAUTH and token is not None:
            meta["oauth_token_id"] = token.token_id
            if token.application_id is not None:
                meta["oauth_token_application_id"] = token.application_id
                meta["oauth_token_application"] = token.application_name
        who = performer if performer is not None else self.identity.user
        self.db.write_log(
            kind,
            account_id=namespace.id if namespace is not None else (repo.namespace_id if repo else None),
            performer_id=who.id if who is not None else None,
            repository_id=repo.id if repo is not None else None,
            ip=self.ip, metadata=meta,
        )
