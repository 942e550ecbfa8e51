"""The ASGI application: routing, authentication, the enforcement pipeline, and rendering."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
import time
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from reference_server.api import OPERATIONS
from reference_server.auth.authn import SESSION_COOKIE, Authenticator, SessionData
from reference_server.auth.identity import AuthKind, Identity
from reference_server.auth.secrets import FAST_HASHER, STANDARD_HASHER
from reference_server.config import ServerConfig
from reference_server.core import permissions
from reference_server.core.context import Ctx, RunInThread
from reference_server.core.errors import (
    METHOD_NOT_ALLOWED_MESSAGE,
    TOO_LARGE_MESSAGE,
    HttpError,
    MessageError,
    csrf_error,
    invalid_request,
    to_body,
)
from reference_server.core.operation import Operation
from reference_server.core.render import Reply
from reference_server.core.routing import Router
from reference_server.core.validation import (
    UNSTORABLE_MESSAGE,
    parse_json_body,
    parse_query,
    storable,
    validate_body,
)
from reference_server.registry import RegistryApp
from reference_server.storage import Storage
from reference_server.storage.cache import Shared
from reference_server.storage.registry import now_ms

OFFLOAD_THREADS = 4
log = logging.getLogger("reference_server")

MAX_BODY_BYTES = 10 * 1024 * 1024
_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "DELETE, GET, HEAD, OPTIONS, POST, PUT",
    "Access-Control-Max-Age": "21600",
    "Access-Control-Allow-Headers": "AUTHORIZATION, CONTENT-TYPE, X-REQUESTED-WITH",
}


_CORS_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in CORS_HEADERS.items()]


def enabled_operations(config: ServerConfig, operations: tuple[Operation, ...] = OPERATIONS) -> list[Operation]:
    """Operations whose feature switch is on: a switched-off feature has no route and no discovery entry."""
    out = []
    for op in operations:
        features = op.feature.split("+") if op.feature else []
        if all(config.feature(f) for f in features):
            out.append(op)
    return out


class QuayApp:
    def __init__(self, config: ServerConfig, storage: Storage) -> None:
        self.config = config
        self.storage = storage
        storage.read_cache.enabled = config.read_cache
        storage.secrets.password_hasher = FAST_HASHER if config.fast_password_hashing else STANDARD_HASHER
        self.operations = enabled_operations(config)
        self.router = Router(self.operations)
        self.authn = Authenticator(storage.session_key)
        self.started = time.time()
        self.registry = RegistryApp(config, storage)
        # Worker threads for offloaded operations: a few are enough to keep the loop free on a small machine;
        # more would only make long queries compete for the same cores. Made on first use (needs the loop).
        self._offload_limiter: anyio.CapacityLimiter | None = None
        # Keys the hash of credentials in shared-answer keys; per process, like the cache itself.
        self._share_salt = secrets.token_bytes(32)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"] == "/v2" or scope["path"].startswith("/v2/"):
            await self.registry(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self.handle(request)
        await response(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # Background jobs (the auto-prune worker) live exactly as long as the served app.
        from reference_server.workers import BackgroundWorkers

        workers = BackgroundWorkers(self.config, self.storage)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                workers.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                # Requests are drained by now; the worker finishes its current namespace before the engine goes.
                workers.stop()
                self.storage.close()
                await send({"type": "lifespan.shutdown.complete"})
                return

    # ---- shared answers ----------------------------------------------------------------------------------

    def _shared_key(self, scope: Scope) -> tuple[Any, ...] | None:
        """The key under which a GET's whole answer may be shared: path, query and a keyed hash of the
        credentials (so the cache never holds a token). Requests with a cookie are never shared: a session's
        identity and CSRF state live there."""
        credentials = b""
        for name, value in scope["headers"]:
            if name == b"authorization":
                credentials = credentials or value
            elif name == b"cookie":
                return None
        digest = hashlib.blake2b(credentials, key=self._share_salt, digest_size=16).digest() if credentials else b""
        return ("shared", scope["path"], scope["query_string"], digest)

    def _share(self, key: tuple[Any, ...], request: Request, op: Operation, result: Any, ctx: Ctx,
               response: Response) -> None:
        """Keep a shared_response operation's 200 answer for identical requests by the same caller, until the
        next write (the read cache's generation), the handler's own limit, or the caller's token expiry."""
        if not (isinstance(result, Reply) and result.shared_until_ms is not None and response.status_code == 200
                and "set_session" not in ctx.state):
            return
        # Only queries made of declared parameters: the key is the raw query, so a client adding throwaway
        # parameters would otherwise fill the cache with copies and empty it for everyone. Checked here, when
        # storing, rather than in the key: such a query's lookup simply misses, and a hit never pays for parsing.
        if not op.query_param_names.issuperset(request.query_params.keys()):
            return
        token = ctx.identity.token
        until = result.shared_until_ms
        if token is not None and token.expires_at_ms is not None:
            until = min(until, token.expires_at_ms)
        # A copy, taken before `handle` adds the CORS headers (it adds them to a kept answer too).
        kept = Shared(bytes(response.body), list(response.raw_headers))
        self.storage.read_cache.share(key, kept, until, ctx.db.cache_generation)

    # ---- dispatch ----------------------------------------------------------------------------------------

    def base_url(self, request: Request) -> str:
        host = request.headers.get("host") or self.config.server_hostname
        return f"{request.scope.get('scheme', 'http')}://{host}"

    async def handle(self, request: Request) -> Response:
        path: str = request.scope["path"]
        found = self.router.match(path)
        if found is None:
            return self._unknown_path(request)
        route, path_params = found
        method = request.method
        op = route.operations.get("GET" if method == "HEAD" else method)
        if op is None:
            cors = CORS_HEADERS if route.is_api else {}
            if method == "OPTIONS":
                return Response(b"null", 200, {**cors, "Allow": route.allow}, media_type="application/json")
            body = json.dumps({"message": METHOD_NOT_ALLOWED_MESSAGE}).encode()
            return Response(body, 405, {**cors, "Allow": route.allow}, media_type="application/json")
        # An operation that shares answers looks for a kept one first: nothing else (authentication, permission,
        # the handler) runs for it. Only such operations pay for the key.
        shared_key = self._shared_key(request.scope) if op.shared_response and method == "GET" else None
        kept: Shared | None = None if shared_key is None else self.storage.read_cache.peek_until(shared_key,
                                                                                                   now_ms())
        if kept is not None:
            response: Response = _KeptResponse(kept)
        else:
            response = await self._run(request, op, path_params, shared_key)
        if not op.web:
            # Pre-encoded: cheaper than four MutableHeaders assignments on every request.
            response.raw_headers.extend(_CORS_RAW)
        if method == "HEAD":
            response.body = b""
        return response

    def _unknown_path(self, request: Request) -> Response:
        path = request.url.path
        if not path.endswith("/"):
            # Werkzeug's answer for an unknown path without a trailing slash: a permanent redirect.
            target = str(request.url.replace(path=path + "/"))
            html = (f'<!doctype html>\n<html lang=en>\n<title>Redirecting...</title>\n<h1>Redirecting...</h1>\n'
                    f'<p>You should be redirected automatically to the target URL: <a href="{target}">'
                    f"{target}</a>. If not, click the link.\n")
            return Response(html, 308, {"Location": target}, media_type="text/html; charset=utf-8")
        html = "<!DOCTYPE html>\n<html><head><title>Not Found</title></head><body><h1>Not Found</h1></body></html>\n"
        return Response(html, 404, media_type="text/html; charset=utf-8")

    async def _run(self, request: Request, op: Operation, path_params: dict[str, str],
                   shared_key: tuple[Any, ...] | None = None) -> Response:
        # Most API clients send no cookie at all; parsing cookies is only worth it when there is one.
        cookie = request.cookies.get(SESSION_COOKIE) if "cookie" in request.headers else None
        session = self.authn.load_session(cookie)
        raw = b""
        if request.method not in _SAFE_METHODS:
            declared = request.headers.get("content-length")
            if declared and declared.isascii() and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                return self._error(MessageError(413, TOO_LARGE_MESSAGE), True, request)
            raw = await request.body()
            if len(raw) > MAX_BODY_BYTES:
                return self._error(MessageError(413, TOO_LARGE_MESSAGE), True, request)
        form: dict[str, str] = {}
        if op.form_body and raw:
            form = {k: str(v) for k, v in (await request.form()).items()}
        identity: Identity | None = None  # who asked, for the error body's shape

        def execute(in_thread: bool = False) -> tuple[Any, Ctx]:
            nonlocal identity
            with self.storage.transaction(read_only=request.method in _SAFE_METHODS) as db:
                identity, _invalid_token = self.authn.authenticate(
                    db, request.headers.get("authorization"), session)
                if request.method not in _SAFE_METHODS and not (op.csrf_exempt or identity.kind is AuthKind.OAUTH):
                    sent = request.headers.get("x-csrf-token") or request.query_params.get("_csrf_token") \
                        or form.get("_csrf_token")
                    if not session.csrf or not sent or sent != session.csrf:
                        raise csrf_error()
                if op.fresh_login:
                    permissions.check_fresh_login(identity, db, self.config)
                if not storable(path_params):
                    raise invalid_request(UNSTORABLE_MESSAGE)
                ctx = Ctx(request=request, db=db, identity=identity, config=self.config,
                          query=parse_query(op, request.query_params if request.scope.get("query_string") else {}),
                          body=form or None,
                          ip=request.client.host if request.client else "", base_url=self.base_url(request))
                ctx.in_thread = in_thread or not op.offload
                ctx.state["session"] = session
                ctx.state["operations"] = self.operations
                ctx.state["blob_root"] = self.registry.blobs.root
                if op.order == "validate-first":
                    self._load_body(ctx, op, raw, request)
                    permissions.check(ctx, op, path_params)
                    for guard in op.guards:
                        guard(ctx)
                else:
                    permissions.check(ctx, op, path_params)
                    for guard in op.guards:
                        guard(ctx)
                    self._load_body(ctx, op, raw, request)
                return op.handler(ctx, **path_params), ctx

        try:
            try:
                result, ctx = execute()
            except RunInThread:
                # A long read-only query (a log page or count over a big history) runs in a worker thread, so the
                # event loop keeps serving other requests meanwhile; the database driver releases the GIL.
                # Answers already in the cache were served above without the thread hop.
                if self._offload_limiter is None:
                    self._offload_limiter = anyio.CapacityLimiter(OFFLOAD_THREADS)
                result, ctx = await anyio.to_thread.run_sync(execute, True, limiter=self._offload_limiter)
        except HttpError as exc:
            return self._error(exc, identity is None or identity.is_anonymous, request)
        except Exception:
            log.exception("unhandled error in %s", op.operation_id)
            return Response(json.dumps({"message": "Internal server error"}).encode(), 500,
                            media_type="application/json")
        response = self._render(op, result, ctx)
        if shared_key is not None:
            self._share(shared_key, request, op, result, ctx, response)
        return response

    @staticmethod
    def _load_body(ctx: Ctx, op: Operation, raw: bytes, request: Request) -> None:
        if op.form_body:
            return
        body = parse_json_body(op, raw, request.headers.get("content-type", ""))
        validate_body(op, body)
        ctx.body = body

    def _render(self, op: Operation, result: Any, ctx: Ctx) -> Response:
        headers: dict[str, str] = {}
        content_type = "application/json"
        if isinstance(result, Reply):
            status = result.status or op.success
            headers.update(result.headers)
            content_type = result.content_type
            payload = result.raw if result.raw is not None else (
                b"" if status == 204 else json.dumps(result.body).encode())
        else:
            status = op.success
            payload = b"" if status == 204 else json.dumps(result).encode()
        response = Response(payload, status, headers, media_type=content_type)
        new_session: SessionData | None = ctx.state.get("set_session")
        if new_session is not None:
            response.set_cookie(SESSION_COOKIE, self.authn.dump_session(new_session), httponly=True,
                                samesite="lax")
        return response

    def _error(self, exc: HttpError, anonymous: bool, request: Request) -> Response:
        status, body, content_type, headers = to_body(exc, anonymous, self.base_url(request))
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        return Response(payload, status, headers, media_type=content_type)


class _KeptResponse(Response):
    """A kept whole answer sent again: status, body and headers were rendered when it was kept."""

    def __init__(self, kept: Shared) -> None:
        self.status_code = 200
        self.body = kept.body
        self.raw_headers = list(kept.headers)  # a copy: `handle` appends the CORS headers to it
        self.background = None


def create_app(config: ServerConfig, storage: Storage) -> QuayApp:
    return QuayApp(config, storage)
