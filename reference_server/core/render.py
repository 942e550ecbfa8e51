"""Shapes shared by many handlers: dates, avatars, and explicit replies."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import formatdate
from typing import Any

_AVATAR_COLORS = (
    "#969696", "#aec7e8", "#ff7f0e", "#ffbb78", "#2ca02c", "#98df8a", "#d62728", "#ff9896",
    "#9467bd", "#c5b0d5", "#8c564b", "#c49c94", "#e377c2", "#f7b6d2", "#7f7f7f", "#c7c7c7",
    "#bcbd22", "#1f77b4", "#17becf", "#9edae5", "#393b79",
)


def format_date(value: datetime | None) -> str | None:
    """RFC 2822 in UTC with Quay's `-0000` zone, e.g. `Fri, 27 Nov 2026 08:57:18 -0000`."""
    if value is None:
        return None
    return formatdate(value.timestamp(), localtime=False)


def avatar(name: str, email: str | None, kind: str) -> dict[str, str]:
    digest = hashlib.sha256((email or name).strip().lower().encode()).hexdigest()
    return {"name": name, "hash": digest, "color": _AVATAR_COLORS[int(digest[:8], 16) % len(_AVATAR_COLORS)],
            "kind": kind}


@dataclass
class Reply:
    """A handler's answer when the declared success status or a JSON body is not what Quay sends."""

    body: Any = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    raw: bytes | None = None  # sent as is, bypassing JSON encoding
    # For operations declared `shared_response`: until when (epoch ms) this answer holds if nothing is written.
    shared_until_ms: float | None = None
