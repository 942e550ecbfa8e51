"""Redaction: what the harness writes anywhere (reports, logs, exception messages) goes through here first.

Two layers: structural (known secret-bearing header names, JSON keys, form fields and URL parameters) and a
registry of every secret value the harness has learnt this process (tokens it minted, passwords it was given),
scrubbed from any text, so a token echoed in an unexpected place is still hidden."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "**********"
SECRET_KEYS = frozenset({
    "token", "password", "access_token", "token_code", "client_secret", "secret", "encrypted_password",
    "csrf_token", "_csrf_token", "new_password", "refresh_token", "private_key", "authorization",
})
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-csrf-token", "proxy-authorization"})
_MIN_SECRET_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret so `scrub` hides it wherever it shows up. Short values are ignored: masking 'abc'
    everywhere would make reports unreadable and they are not real credentials anyway."""
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            _secrets.add(value)


def scrub(text: str) -> str:
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return lowered in SECRET_KEYS or lowered.endswith(("_token", "_password", "_secret"))


def redact_json(value: Any) -> Any:
    """A copy of a JSON value with secret-named keys masked at any depth."""
    if isinstance(value, dict):
        # Only string values are masked: {"token": {...}} (an app token record) is walked into instead.
        return {k: (MASK if _is_secret_key(str(k)) and isinstance(v, str) and v else redact_json(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v) for v in value]
    if isinstance(value, str):
        return scrub(value)
    return value


def _redact_pairs(text: str) -> str:
    pairs = parse_qsl(text, keep_blank_values=True)
    if not pairs:
        return scrub(text)
    # Flags such as ?token=true are not secrets; anything long enough to be a credential is.
    return scrub(urlencode([(k, MASK if _is_secret_key(k) and len(v) >= _MIN_SECRET_LEN else v)
                            for k, v in pairs], safe="*/:"))


def redact_url(url: str) -> str:
    """Mask secret query parameters and fragment parameters (the implicit grant puts the token in the fragment)."""
    parts = urlsplit(url)
    query = _redact_pairs(parts.query) if parts.query else ""
    fragment = _redact_pairs(parts.fragment) if parts.fragment else ""
    return scrub(urlunsplit((parts.scheme, parts.netloc, parts.path, query, fragment)))


def redact_headers(headers: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers.items():
        lowered = str(key).lower()
        if lowered in SECRET_HEADERS:
            out[lowered] = MASK
        elif lowered == "location":
            out[lowered] = redact_url(str(value))
        else:
            out[lowered] = scrub(str(value))
    return out


def redact_body(raw: bytes | str, content_type: str = "", limit: int = 4000) -> str:
    """A readable, redacted, truncated rendering of a request or response body."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    if not text:
        return ""
    stripped = text.lstrip()
    rendered: str
    if stripped[:1] in ("{", "[") or "json" in content_type:
        try:
            rendered = json.dumps(redact_json(json.loads(text)), sort_keys=True)
        except ValueError:
            rendered = scrub(text)
    elif "x-www-form-urlencoded" in content_type:
        rendered = _redact_pairs(text)
    else:
        rendered = scrub(text)
    if len(rendered) > limit:
        rendered = rendered[:limit] + f"... [{len(rendered) - limit} more characters]"
    return rendered
