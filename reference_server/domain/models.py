"""Plain records the storage layer hands to handlers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class User:
    """A row of the namespace table: a user, an organization or a robot (they share one name space)."""

    id: int
    username: str
    email: str | None
    uuid: str
    organization: bool = False
    robot: bool = False
    enabled: bool = True
    verified: bool = True
    created: datetime | None = None
    tag_expiration_s: int = 1209600
    invoice_email: bool = False
    invoice_email_address: str | None = None
    description: str = ""
    unstructured_metadata: dict[str, Any] | None = None
    last_accessed: datetime | None = None
    has_password: bool = False


@dataclass(frozen=True)
class Repository:
    id: int
    namespace_id: int
    namespace: str
    name: str
    visibility: str  # "public" | "private"
    description: str
    kind: str
    state: str
    trust_enabled: bool
    namespace_is_org: bool
    created: datetime | None = None
    status_token: str = ""

    @property
    def is_public(self) -> bool:
        return self.visibility == "public"

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.name}"


@dataclass(frozen=True)
class Team:
    id: int
    org_id: int
    name: str
    role: str
    description: str
