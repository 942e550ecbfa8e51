"""The fuzz suite's own machinery (suites/fuzz/support.py, derive_known_deviations.py), against tiny fake targets:
`ignored_auth` must really re-send a scoped operation without credentials and with invalid ones, catch a target
that ignores them, and pass one that refuses; known deviations must correct the document and nothing else."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from suites.fuzz import derive_known_deviations as derive
from suites.fuzz import support

TOKEN = "good-token"

# A Swagger 2.0 document shaped like Quay's discovery: oauth2_implicit, one scoped and one public operation.
DOCUMENT: dict[str, Any] = {
    "swagger": "2.0",
    "info": {"title": "fake quay", "version": "1"},
    "host": "localhost",
    "basePath": "/",
    "securityDefinitions": {"oauth2_implicit": {"type": "oauth2", "flow": "implicit",
                                                "authorizationUrl": "http://localhost/oauth/authorize",
                                                "scopes": {"repo:read": "read"}}},
    "definitions": {"ApiError": {"type": "object", "required": ["status", "type", "title"],
                                 "properties": {"status": {"type": "integer"}, "type": {"type": "string"},
                                                "title": {"type": "string"}}}},
    "paths": {
        "/api/v1/thing": {"get": {
            "operationId": "getThing",
            "security": [{"oauth2_implicit": ["repo:read"]}],
            "responses": {"200": {"description": "ok"},
                          "401": {"description": "no", "schema": {"$ref": "#/definitions/ApiError"}}}}},
        "/api/v1/open": {"post": {
            "operationId": "createOpen",
            "responses": {"201": {"description": "created"},
                          "400": {"description": "bad", "schema": {"$ref": "#/definitions/ApiError"}}}}},
        "/api/v1/user/": {"delete": {"operationId": "deleteCurrentUser", "responses": {"204": {"description": "x"}}}},
    },
}
UNAUTHORIZED = {"status": 401, "type": "http://localhost/api/v1/error/invalid_token", "title": "invalid_token"}


def _app(enforce_auth: bool, open_status: int = 201, open_body: Any = "Created") -> Starlette:
    async def thing(request: Request) -> JSONResponse:
        if enforce_auth and request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse(UNAUTHORIZED, status_code=401)
        return JSONResponse({"name": "thing"})

    async def create_open(request: Request) -> JSONResponse:
        return JSONResponse(open_body, status_code=open_status)

    return Starlette(routes=[Route("/api/v1/thing", thing), Route("/api/v1/open", create_open, methods=["POST"])])


def _schema(app: Starlette, deviations: list[support.KnownDeviation] | None = None) -> Any:
    document, _ = support.prepare_document(DOCUMENT, deviations or [], excluded=support.EXCLUDED)
    schema = schemathesis.openapi.from_dict(document)
    schema.app = app
    schema.auth.auth(refresh_interval=None)(support.bearer_provider(TOKEN))
    return schema


def _run(schema: Any, path: str, method: str) -> tuple[int, set[str]]:
    """Fuzz one operation for a few examples; (cases sent, failure titles)."""
    operation = schema[path][method]
    confirmed: set[str] = set()
    sent: list[int] = []
    failures: set[str] = set()

    @settings(max_examples=5, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(auth_storage=schema.auth))
    def fuzz(case: schemathesis.Case[Any]) -> None:
        sent.append(1)
        try:
            case.call_and_validate(checks=support.checks(confirmed))
        except FailureGroup as group:
            failures.update(f.title for f in group.exceptions)

    fuzz()
    return len(sent), failures


def test_ignored_auth_catches_a_target_that_ignores_credentials() -> None:
    sent, failures = _run(_schema(_app(enforce_auth=False)), "/api/v1/thing", "GET")
    assert sent > 0
    assert "API accepts requests without authentication" in failures


def test_ignored_auth_passes_a_target_that_refuses_missing_and_invalid_credentials() -> None:
    schema = _schema(_app(enforce_auth=True))
    sent, failures = _run(schema, "/api/v1/thing", "GET")
    assert sent > 0
    assert failures == set()


def test_the_bearer_token_satisfies_the_declared_scheme() -> None:
    # Without the rewrite schemathesis ignores oauth2 schemes, and ignored_auth would have nothing to probe.
    document, _ = support.prepare_document(DOCUMENT, [])
    scheme = document["securityDefinitions"][support.SCHEME]
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert document["paths"]["/api/v1/thing"]["get"]["security"] == [{"oauth2_implicit": ["repo:read"]}]


def test_an_undocumented_status_fails_unless_listed() -> None:
    app = _app(enforce_auth=True, open_status=200, open_body={"ok": True})
    _, failures = _run(_schema(app), "/api/v1/open", "POST")
    assert failures == {"Undocumented status code"}
    listed = [support.KnownDeviation("createOpen", "Quay answers 200 here", status=200)]
    _, failures = _run(_schema(app, listed), "/api/v1/open", "POST")
    assert failures == set()


def test_prepare_document_records_only_corrections_it_applied() -> None:
    deviations = [
        support.KnownDeviation("createOpen", "real 200", status=200),
        support.KnownDeviation("createOpen", "already documented", status=201),
        support.KnownDeviation("noSuchOperation", "not offered by this target", status=200),
        support.KnownDeviation("getThing", "served anonymously", anonymous=True),
        support.KnownDeviation(support.ERROR_DEFINITION, "flask abort", error_key="message"),
    ]
    original = copy.deepcopy(DOCUMENT)
    document, corrections = support.prepare_document(DOCUMENT, deviations, excluded=support.EXCLUDED)
    assert original == DOCUMENT  # the target's document itself is never touched
    assert [(c.operation_id, c.change) for c in corrections] == [
        ("createOpen", "added status 200"), ("getThing", "security made optional"),
        ("ApiError", 'error body {"message": <text>} accepted')]
    assert "200" in document["paths"]["/api/v1/open"]["post"]["responses"]
    assert {} in document["paths"]["/api/v1/thing"]["get"]["security"]
    assert "/api/v1/user/" not in document["paths"]  # deleteCurrentUser is excluded


def test_the_committed_deviations_load_and_each_names_a_reason() -> None:
    deviations = support.load_known_deviations()
    assert deviations
    assert all(d.reason for d in deviations)
    assert all((d.status is None) or (200 <= d.status < 500) for d in deviations)  # a 5xx is never excused


ROWS = """\
| # | METHOD path | nickname | OAuth scope (metadata) | who is allowed | success | notes |
|---|---|---|---|---|---|---|
| 1 | POST `/api/v1/open` | createOpen | — | ANON | 200 | 200 not 201; 429 if busy; description<=255 |
| 2 | GET `/api/v1/thing` | getThing | repo:read | ANON | 200 | |
| 3 | GET `/api/v1/gone` | missingHere | — | ANON | 200 | |
"""


def test_the_derivation_compares_the_document_with_the_notes() -> None:
    result = derive.derive(DOCUMENT, derive.parse_table(ROWS))
    assert [(e["operationId"], e["status"]) for e in result["statuses"]] == [("createOpen", 200),
                                                                             ("createOpen", 429)]
    assert [e["operationId"] for e in result["anonymous"]] == ["getThing"]


@pytest.mark.skipif(not (derive.SHARED / "quay-api.md").exists(), reason="../shared is not beside the project")
def test_the_committed_file_matches_the_derivation() -> None:
    notes = (derive.SHARED / "quay-api.md").read_text()
    document = json.loads((derive.SHARED / "quay-discovery-internal.json").read_text())
    expected = {**derive.derive(document, derive.parse_table(notes)), "error_bodies": derive.error_shapes(notes)}
    assert derive.render(expected) == support.KNOWN_DEVIATIONS.read_text()
