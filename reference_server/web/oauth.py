"""The OAuth implicit grant (/oauth/authorize, /oauth/authorizeapp, /oauth/localapp).

This is how clients mint a bearer token with exactly the scopes they choose: an admin of the application's
organization authorizes it, and the token comes back in the fragment of a 302 to the redirect URI.
Errors after the client is known are redirects carrying `error=...`, as in Quay's OAuth provider.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlparse, urlunparse

from reference_server.auth.authn import Authenticator, SessionData
from reference_server.auth.identity import AuthKind
from reference_server.auth.scopes import SCOPE_DESCRIPTIONS, Scope, TeamRole, parse_scopes
from reference_server.core.context import Ctx
from reference_server.core.errors import RawError, Unauthorized, csrf_error, not_found
from reference_server.core.operation import HandlerChecks, Operation, query_param
from reference_server.core.render import Reply, avatar
from reference_server.domain.models import User
from reference_server.storage.apps import Application

LOCAL_HANDLER = "/oauth/localapp"
# Quay's implicit-grant tokens last ten years.
TOKEN_EXPIRES_IN = int(60 * 60 * 24 * 365.25 * 10)
_IMPLIED = {Scope.REPO_ADMIN: {Scope.REPO_WRITE, Scope.REPO_READ}, Scope.REPO_WRITE: {Scope.REPO_READ}}
# Our own short titles for the consent screen; the longer text comes from SCOPE_DESCRIPTIONS.
SCOPE_TITLES = {
    Scope.REPO_READ: "Read repositories", Scope.REPO_WRITE: "Read and write repositories",
    Scope.REPO_ADMIN: "Administer repositories", Scope.REPO_CREATE: "Create repositories",
    Scope.USER_READ: "Read account details", Scope.USER_ADMIN: "Administer the account",
    Scope.ORG_ADMIN: "Administer organizations", Scope.SUPERUSER: "Superuser access",
}
DANGEROUS = {Scope.USER_ADMIN, Scope.ORG_ADMIN, Scope.SUPERUSER}
_HTML = "text/html; charset=utf-8"


# ---- helpers -----------------------------------------------------------------------------------------------


def _with_query(url: str, extra: dict[str, str]) -> str:
    """The URL with extra query parameters merged in (later values win), keeping its fragment."""
    parts = urlparse(url)
    query = dict(parse_qsl(parts.query, keep_blank_values=True))
    query.update(extra)
    return urlunparse((parts.scheme, parts.netloc, parts.path, parts.params, urlencode(query), parts.fragment))


def _redirect(location: str) -> Reply:
    return Reply(status=302, headers={"Location": location}, content_type=_HTML, raw=b"")


def _redirect_error(redirect_uri: str | None, error: str) -> Reply:
    if not redirect_uri:
        return _invalid_redirect()
    return _redirect(_with_query(redirect_uri, {"error": error}))


def _invalid_redirect() -> Reply:
    # The OAuth provider's answer when it cannot redirect: a JSON error, not cacheable.
    return Reply({"error": "invalid_request"}, status=400, content_type="application/json;charset=UTF-8",
                 headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _valid_redirect(ctx: Ctx, app: Application | None, redirect_uri: str | None) -> bool:
    """The server's own local handler always qualifies; otherwise the URI must extend the application's."""
    if not redirect_uri:
        return False
    local = {ctx.base_url + LOCAL_HANDLER,
             f"{ctx.config.preferred_url_scheme}://{ctx.config.server_hostname}{LOCAL_HANDLER}"}
    if redirect_uri in local:
        return True
    if app is None or not app.redirect_uri:
        return False
    configured, given = urlparse(app.redirect_uri), urlparse(redirect_uri)
    if configured.scheme != given.scheme or configured.netloc != given.netloc:
        return False
    if given.username or given.password or "@" in given.path or ".." in unquote(given.path):
        return False
    if not given.path.startswith(configured.path):
        return False
    # Percent-escapes past the registered prefix could smuggle a different path past the prefix check.
    return "%" not in given.path[len(configured.path):]


def _implied(scopes: frozenset[Scope]) -> set[Scope]:
    out = set(scopes)
    for scope in scopes:
        out |= _IMPLIED.get(scope, set())
    return out


def _is_app_admin(ctx: Ctx, user: User, app: Application) -> bool:
    # Quay asks the database directly whether the user sits in an admin team of the application's org.
    return ctx.db.org_team_role(user.id, app.org_id) >= TeamRole.ADMIN


def _required(ctx: Ctx, *names: str) -> None:
    for name in names:
        if ctx.query.get(name) is None:
            raise RawError(400, {"error": f"Required param: {name}"})


def _token_response(ctx: Ctx, user: User, client_id: str | None, redirect_uri: str | None,
                    scope: str | None) -> Reply:
    """Mint a token for the application and redirect with it in the fragment, or redirect with an error."""
    app = ctx.db.application_by_client_id(client_id) if client_id else None
    if app is None or not _is_app_admin(ctx, user, app):
        return _redirect_error(redirect_uri, "unauthorized_client")
    if not _valid_redirect(ctx, app, redirect_uri):
        return _invalid_redirect()
    assert redirect_uri is not None
    requested = parse_scopes(scope or "")
    if not requested:
        return _redirect_error(redirect_uri, "invalid_scope")
    # A bearer-token caller may hand on only scopes its own token has, so no token can widen itself.
    if ctx.identity.kind is AuthKind.OAUTH and not requested <= _implied(ctx.identity.scopes):
        return _redirect_error(redirect_uri, "access_denied")
    assert scope is not None
    token, _ = ctx.db.create_oauth_token(
        user, scope, app.id, expires_at=datetime.now(UTC) + timedelta(seconds=TOKEN_EXPIRES_IN))
    location = _with_query(redirect_uri, {"scope": scope})
    location += f"#access_token={token}&token_type=Bearer&expires_in={TOKEN_EXPIRES_IN}"
    return _redirect(location)


def _csrf_token(ctx: Ctx) -> str:
    session: SessionData = ctx.state["session"]
    if session.csrf:
        return session.csrf
    fresh = SessionData(user_uuid=session.user_uuid, csrf=Authenticator.new_csrf(), login_time=session.login_time)
    ctx.state["set_session"] = fresh
    assert fresh.csrf is not None
    return fresh.csrf


# ---- endpoints ---------------------------------------------------------------------------------------------


def authorize(ctx: Ctx) -> Any:
    _required(ctx, "client_id", "redirect_uri", "scope")
    user = ctx.user
    if user is None:
        raise Unauthorized()
    client_id: str = ctx.query["client_id"]
    redirect_uri: str = ctx.query["redirect_uri"]
    scope: str = ctx.query["scope"]
    app = ctx.db.application_by_client_id(client_id)
    requested = parse_scopes(scope)
    if app is not None and requested is not None:
        granted: frozenset[Scope] = frozenset()
        for text in ctx.db.granted_scope_strings(app.id, user.id):
            granted |= parse_scopes(text) or frozenset()
        if requested <= _implied(granted):
            # Already granted: no consent needed; the implicit grant answers at once.
            if ctx.query.get("response_type") == "token":
                return _token_response(ctx, user, client_id, redirect_uri, scope)
            return _redirect_error(redirect_uri, "unsupported_response_type")
    if not _valid_redirect(ctx, app, redirect_uri):
        if app is None:
            raise not_found()
        return _redirect_error(app.redirect_uri, "redirect_uri_mismatch")
    if not requested or app is None:
        raise not_found()
    if not _is_app_admin(ctx, user, app):
        raise Unauthorized()
    org = ctx.db.user_by_id(app.org_id)
    assert org is not None
    scopes = [{"scope": s.value, "title": SCOPE_TITLES[s], "description": SCOPE_DESCRIPTIONS[s],
               "dangerous": s in DANGEROUS} for s in sorted(requested)]
    consent = {
        "application": {
            "name": app.name, "description": app.description, "url": app.application_uri,
            "avatar": avatar(app.name, app.avatar_email or org.email, "app"),
            "organization": {"name": org.username, "avatar": avatar(org.username, org.email, "org")},
        },
        "scopes": scopes,
        "has_dangerous_scopes": any(s["dangerous"] for s in scopes),
        "client_id": client_id,
        "redirect_uri": redirect_uri,
        "scope": scope,
        "csrf_token_val": _csrf_token(ctx),
    }
    if ctx.query.get("format") == "json":
        return consent
    items = "".join(f"<li>{html.escape(str(s['title']))}</li>" for s in scopes)
    page = (f"<!DOCTYPE html><html><head><title>Authorize {html.escape(app.name)}</title></head><body>"
            f"<h1>{html.escape(app.name)} asks for access</h1><ul>{items}</ul></body></html>")
    return Reply(content_type=_HTML, raw=page.encode())


def _verify_csrf(ctx: Ctx, form: dict[str, str]) -> None:
    """Quay's authorizeapp checks the CSRF token itself, after refusing a caller with no user (401)."""
    if ctx.identity.kind is AuthKind.OAUTH:
        return
    session: SessionData = ctx.state["session"]
    sent = ctx.request.headers.get("x-csrf-token") or ctx.request.query_params.get("_csrf_token") \
        or form.get("_csrf_token")
    if not session.csrf or not sent or sent != session.csrf:
        raise csrf_error()


def authorize_application(ctx: Ctx) -> Any:
    user = ctx.user
    if user is None:
        raise Unauthorized()
    form: dict[str, str] = ctx.body or {}
    _verify_csrf(ctx, form)
    # Quay always answers this form with the implicit grant, whatever response_type says.
    return _token_response(ctx, user, form.get("client_id"), form.get("redirect_uri"), form.get("scope"))


def local_app(ctx: Ctx) -> Any:
    if ctx.user is None:
        raise Unauthorized()
    if ctx.query.get("format") == "json":
        return {"access_token": ctx.query.get("access_token")}
    message = "Authorization canceled" if not ctx.query.get("scope") else "Your access token was generated"
    page = f"<!DOCTYPE html><html><head><title>{message}</title></head><body><p>{message}</p></body></html>"
    return Reply(content_type=_HTML, raw=page.encode())


_FORMAT = query_param("format", "Set to json for a JSON answer instead of a page.")

OPERATIONS = (
    Operation("GET", "/oauth/authorize", "web.oauthAuthorize", "",
              "Ask the signed-in user to authorize an application, or grant at once if already authorized.",
              authorize, None, HandlerChecks("the OAuth provider answers refusals itself"),
              params=(query_param("client_id", "The application's client id."),
                      query_param("redirect_uri", "Where to send the user back."),
                      query_param("scope", "The scopes asked for."),
                      query_param("response_type", "token for the implicit grant.", default="code"),
                      query_param("state", "Opaque value of the client."), _FORMAT),
              web=True),
    Operation("POST", "/oauth/authorizeapp", "web.oauthAuthorizeApp", "",
              "Grant an application a token with the chosen scopes and redirect with it.",
              authorize_application, None, HandlerChecks("the OAuth provider answers refusals with redirects"),
              web=True, form_body=True, csrf_exempt=True),
    Operation("GET", LOCAL_HANDLER, "web.oauthLocalApp", "",
              "Show (or with format=json echo) a token issued to the registry's own local handler.",
              local_app, None, HandlerChecks("only signed-in users see issued tokens"),
              params=(query_param("access_token", "The issued token, when the client passes it on."),
                      query_param("scope", "The granted scopes."), _FORMAT),
              web=True),
)
