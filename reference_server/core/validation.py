"""Request-body and query-string checks, with Quay's error texts."""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

from reference_server.core.errors import (
    BAD_JSON_MESSAGE,
    NOT_JSON_MESSAGE,
    MessageError,
    invalid_request,
)
from reference_server.core.operation import Operation, Param

_TRUE = {"true", "1", "yes", "on"}
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1


_VALIDATORS: dict[int, Draft4Validator] = {}


def _validator(op: Operation) -> Draft4Validator:
    assert op.body is not None
    found = _VALIDATORS.get(id(op))
    if found is None:
        found = _VALIDATORS[id(op)] = Draft4Validator(op.body.schema)
    return found


def storable(value: Any) -> bool:
    """Whether every string in a value can be stored: no NUL characters (PostgreSQL refuses them) and no lone
    UTF-16 surrogates (they cannot be encoded as UTF-8)."""
    if isinstance(value, str):
        if "\x00" in value:
            return False
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return False
        return True
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


UNSTORABLE_MESSAGE = "The request holds a NUL character or an invalid Unicode code point"


def parse_json_body(op: Operation, raw: bytes, content_type: str) -> Any:
    if op.body is None:
        return None
    if not raw.strip():
        return None
    if content_type.split(";")[0].strip().lower() not in ("application/json", ""):
        raise MessageError(415, NOT_JSON_MESSAGE)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise MessageError(400, BAD_JSON_MESSAGE) from None
    if not storable(body):
        raise invalid_request(UNSTORABLE_MESSAGE)
    return body


def validate_body(op: Operation, body: Any) -> None:
    if op.body is None:
        return
    if body is None:
        if op.body.required:
            raise invalid_request("Missing JSON body")
        return
    error = best_match(_validator(op).iter_errors(body))
    if error is not None:
        raise invalid_request(str(error))


def parse_query(op: Operation, query: Any) -> dict[str, Any]:
    """Typed values for the declared query parameters (undeclared ones are ignored, as in Quay)."""
    out: dict[str, Any] = {}
    for param in op.query_params:
        raw = query.get(param.name)
        if raw is not None and not storable(raw):
            raise invalid_request(UNSTORABLE_MESSAGE)
        out[param.name] = param.default if raw is None else _convert(param, raw)
    return out


def _convert(param: Param, raw: str) -> Any:
    if param.type == "boolean":
        return raw.strip().lower() in _TRUE
    if param.type == "integer":
        try:
            value = int(raw)
        except ValueError:
            raise invalid_request(f"Invalid value for {param.name}: {raw!r} is not an integer") from None
        # Bounded so that offsets computed from it (page * limit) always fit a 64-bit database integer.
        if not _INT_MIN <= value <= _INT_MAX:
            raise invalid_request(f"Invalid value for {param.name}: out of range")
        return value
    if param.enum is not None and raw not in param.enum:
        raise invalid_request(f"Invalid value for {param.name}: must be one of {list(param.enum)}")
    return raw
