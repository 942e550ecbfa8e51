"""Redaction: what the harness writes anywhere (reports, logs, exception messages) goes through here first.

Two layers: structural (known secret-bearing header names, JSON keys, form fields and URL parameters) and a
registry of every secret value the harness has learnt this process (tokens it minted, passwords it was given),
scrubbed from any text, so a token echoed in an unexpected place is still hidden."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import ahocorasick  # type: ignore[import-not-found]

MASK = "**********"
SECRET_KEYS = frozenset({
    "token", "password", "access_token", "token_code", "client_secret", "secret", "encrypted_password",
    "csrf_token", "_csrf_token", "new_password", "refresh_token", "private_key", "authorization",
})
SECRET_HEADERS = frozenset({"authorization", "cookie", "set-cookie", "x-csrf-token", "proxy-authorization"})
_MIN_SECRET_LEN = 6

_lock = threading.Lock()
_secrets: set[str] = set()
# Every known secret in one Aho-Corasick automaton: a run learns thousands of tokens, and looking for each one in
# turn made scrubbing the harness's biggest cost. Rebuilt on the first scrub after a new secret.
_matcher: Any = None


def register_secret(value: str | None) -> None:
    """Remember a secret so `scrub` hides it wherever it shows up. Short values are ignored: masking 'abc'
    everywhere would make reports unreadable and they are not real credentials anyway."""
    global _matcher
    if value and len(value) >= _MIN_SECRET_LEN:
        with _lock:
            if value not in _secrets:
                _secrets.add(value)
                _matcher = None


def _current_matcher() -> Any:
    global _matcher
    with _lock:
        if _matcher is None and _secrets:
            automaton = ahocorasick.Automaton()
            for secret in _secrets:
                automaton.add_word(secret, len(secret))
            automaton.make_automaton()
            _matcher = automaton
        return _matcher


def scrub(text: str) -> str:
    """`text` with every character covered by a known secret masked; overlapping or adjacent occurrences become
    one mask."""
    matcher = _current_matcher()
    if matcher is None or not text:
        return text
    spans = sorted((end + 1 - length, end + 1) for end, length in matcher.iter(text))
    if not spans:
        return text
    out: list[str] = []
    done = 0  # text[:done] is already in `out`
    start, stop = spans[0]
    for begin, end in spans[1:]:
        if begin <= stop:  # overlaps or touches the current run
            stop = max(stop, end)
            continue
        out += [text[done:start], MASK]
        done, (start, stop) = stop, (begin, end)
    out += [text[done:start], MASK, text[stop:]]
    return "".join(out)


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
