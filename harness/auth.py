"""Authentication flows as httpx.Auth classes, written against Quay's public behaviour (Appendix F of the
API notes), so they work the same on the reference server and on a real Quay.

* BearerAuth: `Authorization: Bearer <token>` (Quay's only non-session credential on /api/v1).
* SessionAuth: the browser flow: GET /csrf_token, POST /api/v1/signin, keep the session cookie, send the
  session's CSRF token as X-CSRF-Token on every non-GET request (Quay refuses session writes without it).
* mint_token: the OAuth implicit grant (POST /oauth/authorizeapp) to get a bearer token with chosen scopes.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx

from harness.errors import AuthError
from harness.reporting.redact import register_secret

CSRF_PATH = "/csrf_token"
SIGNIN_PATH = "/api/v1/signin"
SIGNOUT_PATH = "/api/v1/signout"
VERIFY_PATH = "/api/v1/signin/verify"
USER_PATH = "/api/v1/user/"
AUTHORIZE_APP_PATH = "/oauth/authorizeapp"
INITIALIZE_PATH = "/api/v1/user/initialize"
ALL_SCOPES = ("repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin",
              "super:user")
_SAFE = {"GET", "HEAD", "OPTIONS"}


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        register_secret(token)
        self._token = token

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self._token}"
        yield request

    def __repr__(self) -> str:
        return "BearerAuth(**********)"


class SessionAuth(httpx.Auth):
    """Signs in lazily on the first request and keeps its own cookie jar, so the requests it makes inside the
    flow (which httpx does not give the client's cookies) carry the session too.

    The session is this user's for good: a sign-in sent through it as someone else does not replace its cookie, and
    a session the target ended behind its back (Quay ends every session of a user when any of them signs out) is
    signed in again, once per request, unless this client signed itself out."""

    def __init__(self, username: str, password: str) -> None:
        register_secret(password)
        self.username = username
        self._password = password
        self._cookies = httpx.Cookies()
        self._csrf: str | None = None
        self.signed_out = False
        self.renewals = 0  # sessions signed in again after the target ended one

    def __repr__(self) -> str:
        return f"SessionAuth({self.username!r}, **********)"

    @property
    def csrf_token(self) -> str | None:
        return self._csrf

    def _send(self, request: httpx.Request) -> httpx.Request:
        request.headers.pop("Cookie", None)
        self._cookies.set_cookie_header(request)
        if request.method not in _SAFE and self._csrf:
            request.headers["X-CSRF-Token"] = self._csrf
        return request

    def _fetch_csrf(self, origin: httpx.URL) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield self._send(httpx.Request("GET", origin.join(CSRF_PATH)))
        self._cookies.extract_cookies(response)
        response.read()
        if response.status_code != 200:
            raise AuthError(f"GET {CSRF_PATH} answered {response.status_code}")
        try:
            token = response.json()["csrf_token"]
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"GET {CSRF_PATH} did not answer {{\"csrf_token\": ...}}") from None
        register_secret(token)
        self._csrf = str(token)

    def _sign_in(self, origin: httpx.URL) -> Generator[httpx.Request, httpx.Response, httpx.Response]:
        """Sign in afresh; returns the sign-in answer (raises AuthError when it is not 200)."""
        self._cookies = httpx.Cookies()
        yield from self._fetch_csrf(origin)
        signin = httpx.Request("POST", origin.join(SIGNIN_PATH),
                               json={"username": self.username, "password": self._password})
        response = yield self._send(signin)
        self._cookies.extract_cookies(response)
        response.read()
        if response.status_code != 200:
            raise AuthError(f"signing in as {self.username!r} failed: POST {SIGNIN_PATH} answered "
                            f"{response.status_code}")
        # Signing in starts a new session; fetch the CSRF token that belongs to it.
        yield from self._fetch_csrf(origin)
        self.signed_out = False
        return response

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        origin = request.url.copy_with(path="/", query=None, fragment=None)
        if self._csrf is None:
            yield from self._sign_in(origin)
        path = request.url.path
        response = yield self._send(request)
        if path != SIGNIN_PATH:
            self._cookies.extract_cookies(response)
        if path == SIGNOUT_PATH and request.method == "POST" and response.status_code == 200:
            self.signed_out = True
            return
        if path in (SIGNIN_PATH, SIGNOUT_PATH) or self.signed_out:
            return
        response.read()
        if _session_lost(response):
            try:
                yield from self._sign_in(origin)
                self.renewals += 1
            except AuthError:
                pass  # the credentials no longer work either: the request gets the target's refusal as it stands
            response = yield self._send(request)
            self._cookies.extract_cookies(response)
            response.read()
        if response.status_code == 401 and _is_fresh_login_required(response):
            # Quay wants a recent password entry for some operations (FRESH_LOGIN_TIMEOUT); re-verify once.
            verify = httpx.Request("POST", origin.join(VERIFY_PATH), json={"password": self._password})
            answer = yield self._send(verify)
            self._cookies.extract_cookies(answer)
            answer.read()
            if answer.status_code == 200:
                response = yield self._send(request)
                self._cookies.extract_cookies(response)

    requires_response_body = True


def _session_lost(response: httpx.Response) -> bool:
    """The target no longer knows the session: 401 "Requires authentication" (invalid_token), or the CSRF refusal
    Quay gives a write whose session (and so its CSRF token) is gone."""
    if response.status_code not in (401, 403):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    if not isinstance(body, dict):
        return False
    if response.status_code == 401:
        return body.get("error_type") == "invalid_token"
    return "CSRF token was invalid or missing" in str(body.get("error", ""))


def _is_fresh_login_required(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("error_type") == "fresh_login_required"


def _fragment_params(location: str) -> dict[str, str]:
    parts = urlsplit(location)
    found: dict[str, str] = {}
    for text in (parts.query, parts.fragment):
        for key, values in parse_qs(text).items():
            found[key] = values[0]
    return found


def mint_token(session_client: httpx.Client, client_id: str, redirect_uri: str,
               scopes: Iterable[str] | None = None) -> str:
    """The OAuth implicit grant: POST /oauth/authorizeapp as the signed-in user of `session_client` (whose auth
    must be a SessionAuth) and read access_token from the 302 Location fragment."""
    scope_text = " ".join(ALL_SCOPES if scopes is None else scopes)
    # An authenticated read first: a session the target ended is signed in again here (SessionAuth), before the
    # CSRF token the form carries is read.
    session_client.get(USER_PATH)
    csrf = session_client.get(CSRF_PATH)
    if csrf.status_code != 200:
        raise AuthError(f"GET {CSRF_PATH} answered {csrf.status_code}")
    csrf_token = str(csrf.json().get("csrf_token", ""))
    register_secret(csrf_token)
    form = {"client_id": client_id, "redirect_uri": redirect_uri, "scope": scope_text,
            "response_type": "token", "_csrf_token": csrf_token}
    response = session_client.post(AUTHORIZE_APP_PATH, data=form, follow_redirects=False)
    location = response.headers.get("location", "")
    params = _fragment_params(location)
    if response.status_code != 302 or "access_token" not in params:
        reason = params.get("error") or f"status {response.status_code}"
        raise AuthError(f"the OAuth implicit grant for scopes {scope_text!r} was refused: {reason}")
    token = params["access_token"]
    register_secret(token)
    return token


def initialize_first_user(http: httpx.Client, username: str, password: str,
                          email: str = "admin@example.com") -> str:
    """POST /api/v1/user/initialize on an empty registry (FEATURE_USER_INITIALIZE) and return the all-scopes
    OAuth token it mints."""
    register_secret(password)
    body: dict[str, Any] = {"username": username, "password": password, "email": email, "access_token": True}
    response = http.post(INITIALIZE_PATH, json=body)
    if response.status_code != 200:
        raise AuthError(f"POST {INITIALIZE_PATH} answered {response.status_code}: {response.text[:200]}")
    token = response.json().get("access_token")
    if not isinstance(token, str):
        raise AuthError(f"POST {INITIALIZE_PATH} returned no access_token")
    register_secret(token)
    http.cookies.clear()
    return token


def create_verified_user(http: httpx.Client, admin_token: str, username: str) -> str:
    """Create a user as the superuser (createInstallUser answers its generated password), verify it with a
    superuser e-mail change (Quay leaves such accounts unverified when mailing is on), return the password."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    email = f"{username}@example.com"
    response = http.post("/api/v1/superuser/users/", json={"username": username, "email": email}, headers=headers)
    if response.status_code not in (200, 201):
        raise AuthError(f"creating user {username} answered {response.status_code}: {response.text[:200]}")
    password = response.json().get("password")
    if not isinstance(password, str):
        raise AuthError(f"creating user {username} returned no password")
    register_secret(password)
    changed = http.put(f"/api/v1/superuser/users/{username}", json={"email": email}, headers=headers)
    if changed.status_code != 200:
        raise AuthError(f"verifying user {username} answered {changed.status_code}: {changed.text[:200]}")
    return password
