"""QuayClient: one httpx client per identity, calling operations by operationId through the catalog."""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Sequence
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import TYPE_CHECKING, Any

import httpx

from harness.catalog import Catalog
from harness.reporting.recorder import OPERATION_EXTENSION, Recorder, seeding
from harness.transport import make_transport

if TYPE_CHECKING:
    from harness.audit.ledger import Ledger

# Request extensions the audit ledger reads (harness/audit/ledger.py).
PARAMS_EXTENSION = "qh_path_params"
CALLER_EXTENSION = "qh_caller"
ANONYMOUS_EXTENSION = "qh_anonymous"
SENT_EXTENSION = "qh_sent"

# Operation ids called during the current test (outside seeding). The pytest plugin reads and resets it; a
# list guarded by a lock rather than a context variable because fixtures and tests run in different contexts.
_called_lock = threading.Lock()
_called: list[str] = []


def take_called_operations() -> list[str]:
    with _called_lock:
        out = list(dict.fromkeys(_called))
        _called.clear()
    return out


def _keeps_session(auth: httpx.Auth) -> bool:
    from harness.auth import SessionAuth

    return isinstance(auth, SessionAuth)


def _refusing_jar() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


class QuayClient:
    """`call("changeTag", repository="ns/r", tag="v1", json={...})` -> httpx.Response. `.http` is the underlying
    httpx.Client for endpoints outside the catalog (/csrf_token, /oauth/..., /v2/...).

    `identity` is the username behind the credentials (None: anonymous when there is no auth, else unknown); every
    request carries it, so the audit `ledger` knows who performed each mutating call."""

    def __init__(self, base_url: str, auth: httpx.Auth | None, catalog: Catalog, recorder: Recorder | None = None,
                 *, transport: httpx.BaseTransport | None = None, timeout: float = 30.0,
                 verify: bool | ssl.SSLContext = True, name: str = "anonymous", identity: str | None = None,
                 ledger: Ledger | None = None, on_response: Sequence[Callable[[httpx.Response], None]] = ()) -> None:
        self.base_url = base_url.rstrip("/")
        self.catalog = catalog
        self.name = name
        self.auth = auth
        self.identity = identity
        hooks: dict[str, list[Callable[..., Any]]] = {"request": [self._stamp], "response": []}
        if recorder is not None:
            for event, functions in recorder.hooks().items():
                hooks.setdefault(event, []).extend(functions)
        if ledger is not None:
            hooks["request"].append(ledger.before_request)
            hooks["response"].append(ledger.observe)
        hooks["response"].extend(on_response)
        # A token client keeps no cookies: a session cookie picked up from an answer (signinUser, /csrf_token)
        # would travel with the token and could make the target see another identity than the token's.
        cookies = None if auth is None or _keeps_session(auth) else _refusing_jar()
        self.http = httpx.Client(base_url=self.base_url, auth=auth, transport=make_transport(verify, transport),
                                 timeout=timeout, cookies=cookies, event_hooks=hooks, follow_redirects=False)

    def _stamp(self, request: httpx.Request) -> None:
        # Runs for the auth flow's own requests too (sign-in, fresh-login checks): they are the same identity's.
        request.extensions[CALLER_EXTENSION] = self.identity
        request.extensions[ANONYMOUS_EXTENSION] = self.auth is None
        request.extensions[SENT_EXTENSION] = time.time()

    def __repr__(self) -> str:
        return f"QuayClient({self.name!r} at {self.base_url})"

    def call(self, operation_id: str, *, json: Any = None, params: dict[str, Any] | None = None,
             data: Any = None, headers: dict[str, str] | None = None, content: bytes | str | None = None,
             **path_params: Any) -> httpx.Response:
        method, path = self.catalog.resolve(operation_id, **path_params)
        if not seeding.get():
            with _called_lock:
                _called.append(operation_id)
        return self.http.request(method, path, json=json, params=params, data=data, headers=headers,
                                 content=content, extensions={OPERATION_EXTENSION: operation_id,
                                                              PARAMS_EXTENSION: {k: str(v) for k, v in
                                                                                 path_params.items()}})

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> QuayClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
