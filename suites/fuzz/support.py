"""What the fuzz suite does to the target's discovery document before schemathesis reads it, the checks it runs,
and the bookkeeping behind the "fuzz cases run" figure. Kept apart from the test module so tests/ can exercise it
against a fake target without a Quay.

Two things are changed in the loaded copy of the document, and both are recorded:

* Known deviations of Quay's own document (known_deviations.yaml, one reviewed list): a status Quay really
  returns is added to an operation's responses; an operation Quay serves anonymously gets the optional `{}`
  security requirement. Nothing is switched off: every check still runs against the corrected document.
* The `oauth2_implicit` scheme is described as what it is on the wire, an `Authorization` header, because
  schemathesis only probes credentials of apiKey/basic/http schemes and Swagger 2.0 has no bearer type. Without
  this its `ignored_auth` check silently does nothing for Quay.
"""

from __future__ import annotations

import copy
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from requests.structures import CaseInsensitiveDict
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

SCHEME = "oauth2_implicit"
ERROR_DEFINITION = "ApiError"  # the definition every documented error response refers to
KNOWN_DEVIATIONS = Path(__file__).with_name("known_deviations.yaml")
# Reviewed by hand: answers seen on a running Quay that neither its document nor the API notes describe.
OBSERVED_ANSWERS = Path(__file__).with_name("observed_answers.yaml")
REPORT_NAME = "fuzz.yaml"  # beside results.yaml in reports/<run-id>/
REPORT_PATH_KEY = pytest.StashKey[Path]()  # where this process wrote it, for the terminal summary
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

# Operations never fuzzed, with the reason (reported with every run).
EXCLUDED: dict[str, str] = {
    "deleteCurrentUser": "deletes the fuzzing persona itself; every later case would lose its credentials",
    "convertUserToOrganization": "turns the fuzzing persona into an organization, which cannot hold a token",
    "signinUser": "session endpoint: a password sign-in answering with a cookie; the suite fuzzes the token API",
    "verifyUser": "session endpoint: re-verifies the password of a browser session (fresh login)",
    "logout": "session endpoint: ends a browser session",
}


@dataclass(frozen=True)
class KnownDeviation:
    """One reviewed difference between Quay's discovery document and what Quay does."""

    operation_id: str
    reason: str
    status: int | None = None  # a status Quay returns that its document does not list
    anonymous: bool = False  # Quay serves anonymous callers although the document declares a scope
    error_key: str | None = None  # an error body {key: value} Quay sends where the document says ApiError
    error_value: str = "string"  # the JSON type of that value: "string" or "object" (of strings)


@dataclass(frozen=True)
class Correction:
    """A known deviation applied to the loaded copy of the target's document."""

    operation_id: str
    change: str  # "added status 200" / "security made optional"
    reason: str

    def as_dict(self) -> dict[str, str]:
        return {"operationId": self.operation_id, "change": self.change, "reason": self.reason}


def load_known_deviations(*paths: Path) -> list[KnownDeviation]:
    """The deviations of the generated file and of the reviewed observations (or of the files given)."""
    out: list[KnownDeviation] = []
    for path in paths or (KNOWN_DEVIATIONS, OBSERVED_ANSWERS):
        out += _load(path)
    return out


def _load(path: Path) -> list[KnownDeviation]:
    data = yaml.safe_load(path.read_text()) or {}
    out: list[KnownDeviation] = []
    for entry in data.get("statuses") or []:
        out.append(KnownDeviation(str(entry["operationId"]), str(entry["reason"]), status=int(entry["status"])))
    for entry in data.get("anonymous") or []:
        out.append(KnownDeviation(str(entry["operationId"]), str(entry["reason"]), anonymous=True))
    for entry in data.get("error_bodies") or []:
        out.append(KnownDeviation(ERROR_DEFINITION, str(entry["reason"]), error_key=str(entry["key"]),
                                  error_value=str(entry.get("value", "string"))))
    return out


def iter_operations(document: Mapping[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation object) for every operation of a Swagger 2.0 document."""
    for path, entry in (document.get("paths") or {}).items():
        if not isinstance(entry, dict):
            continue
        for method in _METHODS:
            op = entry.get(method)
            if isinstance(op, dict) and "operationId" in op:
                yield path, method, op


def prepare_document(document: Mapping[str, Any], deviations: Iterable[KnownDeviation],
                     excluded: Iterable[str] = ()) -> tuple[dict[str, Any], list[Correction]]:
    """A copy of the target's document ready for schemathesis, and the corrections applied to it.

    A deviation is applied only where it is still true of this target's document: a status the target already
    documents, or an operation it does not offer, leaves nothing to correct and is not reported."""
    doc = copy.deepcopy(dict(document))
    scheme = (doc.get("securityDefinitions") or {}).get(SCHEME)
    if isinstance(scheme, dict):
        # Same name, so every operation's `security: [{oauth2_implicit: [...]}]` still refers to it.
        doc["securityDefinitions"][SCHEME] = {
            "type": "apiKey", "in": "header", "name": "Authorization",
            "description": "Bearer token from the OAuth implicit grant (declared as oauth2 by the target)"}
    by_id = {op["operationId"]: op for _, _, op in iter_operations(doc)}
    skipped = set(excluded)
    for path, entry in list(doc["paths"].items()):
        for method in _METHODS:
            op = entry.get(method) if isinstance(entry, dict) else None
            if isinstance(op, dict) and op.get("operationId") in skipped:
                del entry[method]
        if isinstance(entry, dict) and not any(m in entry for m in _METHODS):
            del doc["paths"][path]
    corrections: list[Correction] = []
    for deviation in deviations:
        if deviation.error_key is not None:
            corrections += _widen_error_definition(doc, deviation)
            continue
        op = by_id.get(deviation.operation_id)
        if op is None or deviation.operation_id in skipped:
            continue
        if deviation.status is not None:
            responses = op.setdefault("responses", {})
            if str(deviation.status) not in responses:
                responses[str(deviation.status)] = {"description": f"Known deviation: {deviation.reason}"}
                corrections.append(Correction(deviation.operation_id, f"added status {deviation.status}",
                                              deviation.reason))
        if deviation.anonymous:
            security = op.get("security")
            if security and {} not in security:
                op["security"] = [*security, {}]
                corrections.append(Correction(deviation.operation_id, "security made optional", deviation.reason))
    return doc, corrections


def _widen_error_definition(doc: dict[str, Any], deviation: KnownDeviation) -> list[Correction]:
    """Let ApiError also be {key: <text>}: the documented error responses keep their $ref and are checked
    against the widened definition, so any other body still fails."""
    definitions = doc.get("definitions") or {}
    current = definitions.get(ERROR_DEFINITION)
    if not isinstance(current, dict):
        return []
    key = str(deviation.error_key)
    value: dict[str, Any] = {"type": "string"}
    if deviation.error_value == "object":
        value = {"type": "object", "additionalProperties": {"type": "string"}}
    alternative = {"type": "object", "required": [key], "properties": {key: value}}
    options = list(current["anyOf"]) if "x-known-deviations" in current else [current]
    if alternative in options:
        return []
    definitions[ERROR_DEFINITION] = {"anyOf": [*options, alternative], "x-known-deviations": True}
    shown = "{...}" if deviation.error_value == "object" else "<text>"
    return [Correction(ERROR_DEFINITION, f'error body {{"{key}": {shown}}} accepted', deviation.reason)]


# -- checks -------------------------------------------------------------------------------------------------------
@dataclass
class FuzzStats:
    """Counts for the run's closing note. Thread-safe: hypothesis runs examples in the test's thread, but the
    harness may grow workers."""

    cases: Counter[str] = field(default_factory=Counter)
    auth_probed: set[str] = field(default_factory=set)  # operations ignored_auth re-sent without credentials
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, operation_id: str) -> None:
        with self._lock:
            self.cases[operation_id] += 1

    @property
    def total(self) -> int:
        return sum(self.cases.values())


CheckFunction = Callable[[Any, Any, Any], Any]


def make_ignored_auth(confirmed: set[str]) -> CheckFunction:
    """schemathesis's `ignored_auth`, with the run-wide memory of operations already shown to refuse missing and
    invalid credentials that its own runner keeps (CheckContext.auth_enforced_operations) and that
    `case.call_and_validate` leaves out. Without it every 2xx case of every operation is re-sent twice."""

    def ignored_auth(ctx: Any, response: Any, case: Any) -> Any:
        ctx.auth_enforced_operations = confirmed
        return openapi_checks.ignored_auth(ctx, response, case)

    return ignored_auth


def checks(confirmed_auth: set[str]) -> list[CheckFunction]:
    """The checks every fuzz case runs. content_type_conformance only bites when the document declares
    `produces`; Quay's does not, so it passes there and stays for targets that do."""
    return [
        not_a_server_error,
        openapi_checks.status_code_conformance,
        openapi_checks.response_schema_conformance,
        openapi_checks.content_type_conformance,
        make_ignored_auth(confirmed_auth),
    ]


def bearer_provider(token: str) -> type:
    """An auth provider class (schemathesis instantiates it without arguments) sending `Bearer <token>`."""

    class Bearer:
        def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
            return token

        def set(self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext) -> None:
            if not isinstance(case.headers, MutableMapping):  # negative cases may replace the container
                case.headers = CaseInsensitiveDict()
            case.headers["Authorization"] = f"Bearer {data}"

    return Bearer

