"""Expectations on responses, and the outcome lattice.

DISABLED < SKIPPED < PASSED < FAILED < ERROR. FAILED means the target is wrong (an AssertionError, which
TargetMismatch is); ERROR means our own code broke (any other exception). SKIPPED: the target lacks the feature.
DISABLED: switched off in the configuration (a skip whose reason starts with "disabled:")."""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Any, Literal, NoReturn

import httpx
import pytest

from harness.errors import MissingCredential, UnknownOperation
from harness.reporting.redact import redact_body, redact_url
from harness.transport import NoAnswerInTime

Shape = Literal["standard", "message", "error"]
DISABLED_PREFIX = "disabled:"
# Keys of Quay's ApiException body (`detail`/`error_message` are absent when there is no description).
STANDARD_REQUIRED = ("status", "type", "title", "error_type")


class Outcome(enum.IntEnum):
    DISABLED = 0
    SKIPPED = 1
    PASSED = 2
    FAILED = 3
    ERROR = 4

    @property
    def label(self) -> str:
        return self.name.lower()


def worst(*outcomes: Outcome) -> Outcome:
    return max(outcomes, default=Outcome.PASSED)


def classify(exc: BaseException | None) -> Outcome:
    """The outcome a test's exception stands for."""
    if exc is None:
        return Outcome.PASSED
    if isinstance(exc, pytest.skip.Exception):
        return Outcome.DISABLED if str(exc.msg).startswith(DISABLED_PREFIX) else Outcome.SKIPPED
    if isinstance(exc, UnknownOperation | MissingCredential):
        return Outcome.SKIPPED
    if isinstance(exc, AssertionError | pytest.fail.Exception | NoAnswerInTime):
        return Outcome.FAILED  # the target answered wrongly, or not at all within the timeout
    if isinstance(exc, BaseExceptionGroup):
        inner = [classify(e) for e in exc.exceptions]
        return worst(*inner) if inner else Outcome.ERROR
    return Outcome.ERROR


def disable(reason: str) -> NoReturn:
    """Skip a test because the configuration switched it off (reported as DISABLED)."""
    pytest.skip(f"{DISABLED_PREFIX} {reason}")


class TargetMismatch(AssertionError):
    """The target answered differently from Quay. The message is redacted and readable."""

    def __init__(self, response: httpx.Response, problem: str, why: str | None = None) -> None:
        request = response.request
        operation = request.extensions.get("qh_operation")
        label = f"{operation}: " if operation else ""
        body = redact_body(response.content, response.headers.get("content-type", ""), 600)
        if why:
            problem = f"{why}: {problem}"
        message = (f"{label}{request.method} {redact_url(str(request.url))}\n  {problem}\n"
                   f"  got HTTP {response.status_code} ({response.headers.get('content-type', 'no content-type')})"
                   f"\n  body: {body or '(empty)'}")
        super().__init__(message)
        self.status = response.status_code
        self.problem = problem


def _json(response: httpx.Response, why: str | None = None) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise TargetMismatch(response, "expected a JSON body", why) from None


def expect(response: httpx.Response, status: int | Collection[int], *, error_type: str | None = None,
           shape: Shape | None = None, why: str | None = None) -> Any:
    """Check status (and error shape) and return the parsed JSON body (None when empty).

    `error_type` implies shape "standard" and checks its `title`/`error_type`. Shapes: "standard" is Quay's
    {status, type, title, detail, error_message, error_type}; "message" is {"message": ...}; "error" is
    {"error": ...}. Bodies are parsed as JSON whatever their Content-Type: Quay sends some JSON as text/html.
    `why` says in words what Quay does here; a failure message starts with it."""
    allowed = {status} if isinstance(status, int) else set(status)
    if response.status_code not in allowed:
        want = " or ".join(str(s) for s in sorted(allowed))
        raise TargetMismatch(response, f"expected HTTP {want}", why)
    if error_type is not None and shape is None:
        shape = "standard"
    if shape is None:
        return _json(response, why)
    body = _json(response, why)
    if not isinstance(body, dict):
        raise TargetMismatch(response, f"expected a JSON object of shape {shape!r}", why)
    if shape == "standard":
        missing = [k for k in STANDARD_REQUIRED if k not in body]
        if missing:
            raise TargetMismatch(response, f"expected Quay's standard error body; missing {missing}", why)
        if body["status"] != response.status_code:
            raise TargetMismatch(response, f"body status {body['status']!r} differs from the HTTP status", why)
        if body["error_type"] != body["title"]:
            raise TargetMismatch(response, "error_type and title differ", why)
        if "detail" in body and body.get("error_message") != body["detail"]:
            raise TargetMismatch(response, "error_message and detail differ", why)
        if not str(body["type"]).endswith(f"/api/v1/error/{body['title']}"):
            raise TargetMismatch(response, "type is not the URL of /api/v1/error/<title>", why)
        if error_type is not None and body["title"] != error_type:
            raise TargetMismatch(response, f"expected error_type {error_type!r}, got {body['title']!r}", why)
    else:
        key = "message" if shape == "message" else "error"
        if not isinstance(body.get(key), str):
            raise TargetMismatch(response, f"expected a body {{{key!r}: <text>}}", why)
    return body
