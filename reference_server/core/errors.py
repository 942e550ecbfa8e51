"""Every refusal the server can give, in Quay's shapes. Handlers raise these; `render` is the one place
that turns them into responses."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Quay's ApiErrorType registry: type -> (HTTP status, human title used by GET /api/v1/error/{type}).
ERROR_TYPES: dict[str, tuple[int, str]] = {
    "invalid_request": (400, "The request is missing a required parameter or is otherwise malformed."),
    "invalid_response": (400, "The server could not produce a valid answer for this request."),
    "invalid_token": (401, "The access token is missing, expired, revoked or otherwise invalid."),
    "expired_token": (401, "The access token has expired."),
    "fresh_login_required": (401, "This operation needs a recent sign-in; sign in again and retry."),
    "exceeds_license": (402, "The action would exceed what the registry's license or plan allows."),
    "insufficient_scope": (403, "The caller's role or token scopes do not allow this operation."),
    "not_found": (404, "The requested resource does not exist."),
    "tag_immutable": (409, "The tag is immutable and cannot be changed."),
    "token_rotation_failed": (500, "The token could not be rotated."),
    "downstream_issue": (520, "A service this registry depends on failed."),
    "external_service_timeout": (520, "A service this registry depends on did not answer in time."),
}


class HttpError(Exception):
    """Base of every error the renderer knows."""

    status: int = 500


@dataclass
class ApiError(HttpError):
    """Quay's standard error body: status, type URL, title, detail and deprecated aliases."""

    error_type: str
    detail: str | None = None
    payload: dict[str, Any] | None = None

    @property
    def status(self) -> int:  # type: ignore[override]
        return ERROR_TYPES[self.error_type][0]


@dataclass
class Unauthorized(HttpError):
    """Not allowed. Rendered as 401 invalid_token for anonymous callers, 403 insufficient_scope otherwise."""

    payload: dict[str, Any] | None = None


@dataclass
class MessageError(HttpError):
    """Flask-style `{"message": ...}` bodies (abort with a message, DataModelException, 405, 415...)."""

    code: int
    message: str
    extra: dict[str, Any] | None = None

    @property
    def status(self) -> int:  # type: ignore[override]
        return self.code


@dataclass
class RawError(HttpError):
    """Bodies rendered verbatim: the CSRF refusal (`{"error": ...}` sent as text/html), the 410 of
    deprecated repo tokens, and similar one-offs."""

    code: int
    body: Any
    content_type: str = "application/json"
    headers: dict[str, str] | None = None

    @property
    def status(self) -> int:  # type: ignore[override]
        return self.code


def invalid_request(detail: str, **payload: Any) -> ApiError:
    return ApiError("invalid_request", detail, payload or None)


def not_found(detail: str = "Not Found") -> ApiError:
    return ApiError("not_found", detail)


def data_model_error(message: str) -> MessageError:
    """What Quay returns when a model-layer exception escapes a handler: 400 `{"message": ...}`."""
    return MessageError(400, message)


CSRF_MESSAGE = "CSRF token was invalid or missing."
BAD_JSON_MESSAGE = "The browser (or proxy) sent a request that this server could not understand."
NOT_JSON_MESSAGE = (
    "Did not attempt to load JSON data because the request Content-Type was not 'application/json'."
)
METHOD_NOT_ALLOWED_MESSAGE = "The method is not allowed for the requested URL."
TOO_LARGE_MESSAGE = "The data value transmitted exceeds the capacity limit."


def csrf_error() -> RawError:
    # Quay answers this refusal with a JSON text but a text/html content type; clients match both.
    return RawError(403, {"error": CSRF_MESSAGE}, content_type="text/html; charset=utf-8")


def standard_body(error_type: str, detail: str | None, base_url: str,
                  payload: dict[str, Any] | None = None) -> dict[str, Any]:
    status = ERROR_TYPES[error_type][0]
    body: dict[str, Any] = dict(payload or {})
    if detail is not None:
        body["detail"] = detail
        body["error_message"] = detail
    body["error_type"] = error_type
    body["title"] = error_type
    body["type"] = f"{base_url}/api/v1/error/{error_type}"
    body["status"] = status
    return body


def to_body(exc: HttpError, anonymous: bool, base_url: str) -> tuple[int, Any, str, dict[str, str]]:
    """(status, body, content type, extra headers) for any HttpError."""
    if isinstance(exc, Unauthorized):
        if anonymous:
            return 401, standard_body("invalid_token", "Requires authentication", base_url, exc.payload), \
                "application/json", {}
        return 403, standard_body("insufficient_scope", "Unauthorized", base_url, exc.payload), \
            "application/json", {}
    if isinstance(exc, ApiError):
        return exc.status, standard_body(exc.error_type, exc.detail, base_url, exc.payload), \
            "application/json", {}
    if isinstance(exc, MessageError):
        body: dict[str, Any] = {"message": exc.message}
        if exc.extra:
            body.update(exc.extra)
        return exc.status, body, "application/json", {}
    if isinstance(exc, RawError):
        return exc.status, exc.body, exc.content_type, dict(exc.headers or {})
    return 500, {"message": "Internal server error"}, "application/json", {}
