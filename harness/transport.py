"""The HTTP transport every harness client uses: kept-alive connections that expire before the target closes them,
and one retry of a request whose connection broke before any answer came, when sending it again is harmless.

A Quay served straight by gunicorn closes an idle keep-alive connection after 2 s (its default). A client that reuses
such a connection gets "Connection reset by peer" or "Server disconnected without sending a response": the request
never reached Quay. Idle connections are therefore dropped by the client after KEEPALIVE_EXPIRY_S, before gunicorn's
limit; a reset that still happens (a race, or a target with an even shorter limit) is retried once for the methods
HTTP defines as idempotent, and reported with what is known for the others."""

from __future__ import annotations

import logging
import ssl

import httpx

log = logging.getLogger("harness.transport")

# Below gunicorn's default keep-alive (2 s), so a pooled connection is never reused after the server gave up on it.
KEEPALIVE_EXPIRY_S = 1.5
# RFC 9110 section 9.2.2: sending these twice has the same effect on the server as sending them once.
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
# Errors raised before any byte of an answer arrived.
_BROKEN_BEFORE_ANSWER = (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError)


class ResetBeforeAnswer(httpx.TransportError):
    """The connection broke before the target answered a request that is not safe to send twice. The target may or
    may not have applied it."""


class NoAnswerInTime(httpx.ReadTimeout):
    """The target took the request and gave no answer within the client's timeout: the target's failure, which the
    outcome lattice reports as FAILED (not as a harness error), with the request and the time waited."""


class RetryOnReset(httpx.BaseTransport):
    """Wraps a transport: connection failures before an answer are retried once when that is harmless."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._handle(request)
        except (httpx.ReadTimeout, httpx.WriteTimeout) as exc:
            waited = (request.extensions.get("timeout") or {}).get("read")
            within = f" within {waited:g} s" if isinstance(waited, int | float) else " in time"
            raise NoAnswerInTime(f"{request.method} {request.url.path}: the target gave no answer{within}",
                                 request=request) from exc

    def _handle(self, request: httpx.Request) -> httpx.Response:
        try:
            return self.inner.handle_request(request)
        except httpx.ConnectError as exc:
            # Nothing was sent: any method may be tried again.
            log.info("retrying %s %s after a connection failure: %s", request.method, request.url.path, exc)
            return self.inner.handle_request(request)
        except _BROKEN_BEFORE_ANSWER as exc:
            if request.method in IDEMPOTENT:
                log.info("retrying %s %s once: the connection broke before an answer (%s)", request.method,
                         request.url.path, exc)
                return self.inner.handle_request(request)
            raise ResetBeforeAnswer(
                f"{request.method} {request.url.path}: the connection broke before the target answered ({exc}); "
                f"the target may or may not have applied the request, and it was not sent again because "
                f"{request.method} is not idempotent", request=request) from exc

    def close(self) -> None:
        self.inner.close()


def make_transport(verify: bool | ssl.SSLContext = True,
                   inner: httpx.BaseTransport | None = None) -> httpx.BaseTransport:
    """A transport for one client (closing a client closes its transport, so clients never share one)."""
    if inner is None:
        inner = httpx.HTTPTransport(verify=verify, limits=httpx.Limits(keepalive_expiry=KEEPALIVE_EXPIRY_S))
    return RetryOnReset(inner)
