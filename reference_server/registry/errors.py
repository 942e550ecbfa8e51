"""Registry-protocol refusals: `{"errors": [{"code", "message", "detail"}]}` with Quay's codes and statuses."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RegistryError(Exception):
    code: str
    message: str
    status: int = 400
    detail: Any = None
    # A 401 carries the Bearer challenge naming this repository and these actions.
    repository: str | None = None
    scopes: tuple[str, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)

    def body(self) -> dict[str, Any]:
        return {"errors": [{"code": self.code, "message": self.message,
                            "detail": self.detail if self.detail is not None else {}}]}


def blob_unknown() -> RegistryError:
    return RegistryError("BLOB_UNKNOWN", "blob unknown to registry", 404)


def blob_upload_invalid(detail: Any = None) -> RegistryError:
    return RegistryError("BLOB_UPLOAD_INVALID", "blob upload invalid", 400, detail)


def blob_upload_unknown() -> RegistryError:
    return RegistryError("BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404)


def digest_invalid(detail: Any = None) -> RegistryError:
    return RegistryError("DIGEST_INVALID", "provided digest did not match uploaded content", 400, detail)


def manifest_invalid(message: str | None = None, status: int = 400) -> RegistryError:
    return RegistryError("MANIFEST_INVALID", "manifest invalid", status,
                         {"message": message} if message else None)


def manifest_blob_unknown(digest: str) -> RegistryError:
    return RegistryError("MANIFEST_BLOB_UNKNOWN", "manifest blob unknown to registry", 400, {"digest": digest})


def manifest_unknown() -> RegistryError:
    return RegistryError("MANIFEST_UNKNOWN", "manifest unknown", 404)


def tag_expired(tag: str) -> RegistryError:
    return RegistryError("TAG_EXPIRED", f"Tag {tag} was deleted or has expired. To pull, revive via time machine",
                         404)


def name_invalid(message: str = "invalid repository name") -> RegistryError:
    return RegistryError("NAME_INVALID", message, 400)


def name_unknown() -> RegistryError:
    return RegistryError("NAME_UNKNOWN", "repository name not known to registry", 404)


def unauthorized(repository: str | None = None, scopes: tuple[str, ...] = ()) -> RegistryError:
    return RegistryError("UNAUTHORIZED", "access to the requested resource is not authorized", 401,
                         repository=repository, scopes=scopes)


def invalid_login(message: str = "Specified credentials are invalid") -> RegistryError:
    return RegistryError("UNAUTHORIZED", message, 401)


def invalid_request(message: str = "Invalid request") -> RegistryError:
    return RegistryError("INVALID_REQUEST", message, 400)


def unsupported(message: str = "The operation is unsupported.") -> RegistryError:
    return RegistryError("UNSUPPORTED", message, 405)


def namespace_disabled(message: str) -> RegistryError:
    return RegistryError("DENIED", message, 405)


def quota_exceeded() -> RegistryError:
    return RegistryError("DENIED", "Quota has been exceeded on namespace", 403, {})


def tag_immutable(tag: str) -> RegistryError:
    # Our own wording: the tag exists and is immutable, so a push may not move it.
    return RegistryError("TAG_INVALID", f"tag {tag} is immutable", 409)
