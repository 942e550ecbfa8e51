"""Who is calling the registry, and what a `/v2/auth` scope request grants them (Quay's down-scoping rules)."""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from reference_server.auth import authz
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.scopes import RepoRole, Scope, TeamRole, parse_scopes
from reference_server.config import ServerConfig
from reference_server.domain.models import Repository, User
from reference_server.domain.names import valid_repository_name
from reference_server.registry.errors import (
    invalid_login,
    invalid_request,
    name_invalid,
    namespace_disabled,
    unsupported,
)
from reference_server.storage import Db

APP_TOKEN_USERNAME = "$app"
OAUTH_USERNAMES = ("$oauthtoken", "$token")
# Registry credentials other than OAuth tokens act with the account's full rights (no scope cap).
FULL = frozenset({Scope.DIRECT_LOGIN})


@dataclass(frozen=True)
class Caller:
    """An authenticated registry client, or the anonymous one."""

    user: User | None
    identity: Identity
    entity_kind: str  # user | robot | oauthtoken | appspecifictoken | anonymous
    entity_reference: str | None = None

    @property
    def anonymous(self) -> bool:
        return self.user is None


ANONYMOUS_CALLER = Caller(user=None, identity=Identity(kind=AuthKind.ANONYMOUS), entity_kind="anonymous")


def _basic(header: str) -> tuple[str, str] | None:
    kind, _, value = header.strip().partition(" ")
    if kind.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None


def authenticate(db: Db, config: ServerConfig, header: str | None) -> Caller:
    """The caller behind Basic credentials; raises 401 UNAUTHORIZED when credentials are sent but wrong."""
    if not header:
        return ANONYMOUS_CALLER
    creds = _basic(header)
    if creds is None:
        raise invalid_login()
    username, password = creds
    if username == APP_TOKEN_USERNAME:
        if not config.feature("APP_SPECIFIC_TOKENS"):
            raise invalid_login()
        found = db.app_token_owner(password)
        if found is None or not found[1].enabled:
            raise invalid_login("Invalid token")
        token, owner = found
        return Caller(owner, Identity(kind=AuthKind.SESSION, user=owner, scopes=FULL), "appspecifictoken", token.uuid)
    if username in OAUTH_USERNAMES:
        owner_row = db.oauth_token_owner(password)
        if owner_row is None or not owner_row[1].enabled or owner_row[1].robot:
            raise invalid_login("Invalid oauth access token")
        grant, owner = owner_row
        scopes = parse_scopes(grant.scope) or frozenset()
        token_id = grant.token_id
        return Caller(owner, Identity(kind=AuthKind.OAUTH, user=owner, scopes=scopes), "oauthtoken", str(token_id))
    if "+" in username:
        robot = db.verify_robot_token(username, password)
        if robot is None or not robot.enabled:
            raise invalid_login("Invalid robot account or token")
        return Caller(robot, Identity(kind=AuthKind.SESSION, user=robot, scopes=FULL), "robot", robot.username)
    user = db.verify_credentials(username, password)
    if user is None:
        raise invalid_login("Invalid Username or Password")
    if not user.enabled:
        raise invalid_login("This user has been disabled. Please contact your administrator.")
    return Caller(user, Identity(kind=AuthKind.SESSION, user=user, scopes=FULL), "user", user.uuid)


def caller_from_context(db: Db, subject: str, context: dict[str, Any]) -> Caller:
    """Rebuild the caller a registry token was issued to (for audit entries and the catalog)."""
    kind = str(context.get("entity_kind", "anonymous"))
    if kind == "anonymous":
        return ANONYMOUS_CALLER
    user = db.user_by_name(subject)
    if user is None or not user.enabled:
        return ANONYMOUS_CALLER
    return Caller(user, Identity(kind=AuthKind.SESSION, user=user, scopes=FULL), kind,
                  str(context.get("entity_reference") or ""))


def log_metadata(db: Db, caller: Caller) -> dict[str, Any]:
    """What Quay adds to an audit entry about the credential used."""
    user = caller.user
    if user is None:
        return {}
    meta: dict[str, Any] = {"username": user.username}
    if caller.entity_kind == "robot":
        meta["is_robot"] = True
    elif caller.entity_kind == "oauthtoken" and caller.entity_reference:
        token_id = int(caller.entity_reference)
        meta["oauth_token_id"] = token_id
        app = db.oauth_token_application(token_id)
        if app is not None:
            meta["oauth_token_application_id"], meta["oauth_token_application"] = app
    elif caller.entity_kind == "appspecifictoken" and caller.entity_reference:
        meta["app_specific_token"] = caller.entity_reference
        meta["app_specific_token_title"] = db.app_token_title(caller.entity_reference)
    return meta


def token_context(caller: Caller, repositories: list[str]) -> tuple[dict[str, Any], str]:
    """(JWT `context` claim, `sub` claim) for a caller, in the shape Quay signs."""
    if caller.user is None:
        context: dict[str, Any] = {"version": 2, "entity_kind": "anonymous", "kind": "anonymous"}
        subject = "(anonymous)"
    else:
        context = {"version": 2, "entity_kind": caller.entity_kind, "entity_reference": caller.entity_reference,
                   "kind": "oauth" if caller.entity_kind == "oauthtoken" else "user", "user": caller.user.username}
        subject = caller.user.username
    context["com.apostille.root"] = "$disabled"
    context["com.apostille.roots"] = {name: "$disabled" for name in repositories}
    return context, subject


# ---- scopes ------------------------------------------------------------------------------------------------


@dataclass
class ScopeResult:
    name: str  # as requested (may carry the registry host prefix)
    namespace: str
    repository: str
    actions: list[str] = field(default_factory=list)
    created: Repository | None = None


def scope_regex(hostname: str) -> re.Pattern[str]:
    return re.compile(
        r"^repository:((?:" + re.escape(hostname) + r"\/)?((?:[\.a-zA-Z0-9_\-]+\/)*[\.a-zA-Z0-9_\-]+))"
        r":((?:push|pull|\*)(?:,(?:push|pull|\*))*)$")


def _restricted(config: ServerConfig, user: User) -> bool:
    if not config.feature("RESTRICTED_USERS") or config.is_superuser(user.username):
        return False
    whitelist = config.restricted_users_whitelist
    return whitelist is None or user.username not in whitelist


def authorize_scope(db: Db, config: ServerConfig, caller: Caller, scope: str, hostnames: list[str]) -> ScopeResult:
    """Grant the requested actions the caller may have, silently dropping the rest. Pushing to a repository
    that does not exist creates it (private unless configured otherwise) when the caller may create there."""
    match = None
    for host in hostnames:
        match = scope_regex(host).match(scope)
        if match:
            break
    if match is None:
        raise invalid_request(f"Unable to decode repository and actions: {scope}")
    requested_name, full_name, action_text = match.group(1), match.group(2), match.group(3)
    requested = action_text.split(",")
    namespace_name, _, repo_name = full_name.partition("/")
    if not repo_name:
        # Quay maps a bare name to its library namespace; this server has none.
        namespace_name, repo_name = "library", full_name
    if not valid_repository_name(repo_name, config.feature("EXTENDED_REPOSITORY_NAMES")):
        if "/" in repo_name:
            raise name_invalid(f"Nested repositories are not supported. Found: {full_name}")
        raise name_invalid(f"Invalid repository name: {full_name}")
    result = ScopeResult(name=requested_name, namespace=namespace_name, repository=repo_name)
    namespace = db.user_by_name(namespace_name)
    if namespace is not None and not namespace.enabled:
        raise namespace_disabled(
            f"Namespace {namespace_name} has been disabled. Please contact a system administrator.")
    if namespace is None or namespace.robot:
        return result
    repo = db.repository(namespace_name, repo_name)
    user = caller.user
    wrong_kind = (f"This repository is for managing {repo.kind} and not container images."
                  if repo is not None and repo.kind != "image" else "")

    def repo_role() -> RepoRole:
        return authz.effective_repo_role(caller.identity, db.grants(user, namespace, repo))

    if "push" in requested and user is not None:
        if repo is not None:
            if repo_role() >= RepoRole.WRITE:
                if wrong_kind:
                    raise unsupported(wrong_kind)
                if repo.state == "NORMAL":
                    result.actions.append("push")
        else:
            team_role = authz.effective_team_role(caller.identity, db.grants(user, namespace, None))
            if team_role >= TeamRole.CREATOR and not (namespace.id == user.id and _restricted(config, user)):
                visibility = "private" if config.raw.get("CREATE_PRIVATE_REPO_ON_PUSH", True) else "public"
                repo = db.create_repository(namespace, repo_name, visibility=visibility, description="",
                                            kind="image")
                db.set_repo_user_grant(repo.id, user.id, "admin")
                if namespace.organization:
                    db.apply_default_permissions(repo, user)
                result.created = repo
                result.actions.append("push")
    if "pull" in requested:
        readable = repo is not None and (repo.is_public or repo_role() >= RepoRole.READ or (
            user is not None and config.is_global_readonly(user.username)))
        if readable:
            if wrong_kind:
                raise unsupported(wrong_kind)
            result.actions.append("pull")
    if "*" in requested and repo is not None and repo_role() >= RepoRole.ADMIN:
        if wrong_kind:
            raise unsupported(wrong_kind)
        if repo.state == "NORMAL":
            result.actions.append("*")
    return result

