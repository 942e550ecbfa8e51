"""The catalog reads a Swagger 2.0 discovery document and builds URLs by operationId."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from harness.catalog import Catalog
from harness.errors import HarnessError, UnknownOperation

DOC: dict[str, Any] = {
    "swagger": "2.0",
    "securityDefinitions": {"oauth2_implicit": {"scopes": {"repo:read": "", "repo:write": ""}}},
    "paths": {
        "/api/v1/repository/{repository}/tag/{tag}": {
            "parameters": [{"name": "repository", "in": "path", "required": True, "type": "string"},
                           {"name": "tag", "in": "path", "required": True, "type": "string"}],
            "put": {"operationId": "changeTag", "tags": ["tag"], "responses": {"201": {}},
                    "parameters": [{"name": "body", "in": "body", "required": True}],
                    "security": [{"oauth2_implicit": ["repo:write"]}]},
        },
        "/api/v1/user/": {"delete": {"operationId": "deleteCurrentUser", "tags": ["user"], "x-internal": True,
                                     "responses": {"204": {}}}},
        "/api/v1/organization/{orgname}/team/{teamname}": {
            "put": {"operationId": "updateOrganizationTeam", "tags": ["team"], "responses": {"200": {}},
                    "parameters": [{"name": "orgname", "in": "path", "required": True},
                                   {"name": "teamname", "in": "path", "required": True}]},
        },
    },
}


def test_operations_carry_method_path_scope_area_and_flags() -> None:
    catalog = Catalog(DOC)
    op = catalog["changeTag"]
    assert (op.method, op.path, op.scope, op.area, op.internal) == (
        "PUT", "/api/v1/repository/{repository}/tag/{tag}", "repo:write", "tag", False)
    assert set(op.path_params) == {"repository", "tag"}
    assert catalog["deleteCurrentUser"].internal is True
    assert catalog.scopes == ("repo:read", "repo:write")
    assert len(catalog) == 3 and "changeTag" in catalog and "nope" not in catalog


def test_resolve_inserts_repository_raw_and_quotes_the_rest() -> None:
    catalog = Catalog(DOC)
    assert catalog.resolve("changeTag", repository="ns/a/b", tag="v1 /x") == (
        "PUT", "/api/v1/repository/ns/a/b/tag/v1%20%2Fx")
    assert catalog.resolve("updateOrganizationTeam", orgname="o", teamname="t")[1] == \
        "/api/v1/organization/o/team/t"


def test_resolve_names_missing_and_unexpected_parameters() -> None:
    with pytest.raises(HarnessError, match=r"missing \['tag'\], unexpected \['tga'\]"):
        Catalog(DOC).resolve("changeTag", repository="a/b", tga="x")


def test_unknown_operation_is_its_own_error_not_a_target_failure() -> None:
    with pytest.raises(UnknownOperation) as info:
        Catalog(DOC).resolve("createRepoo")
    assert not isinstance(info.value, AssertionError)
    assert "createRepoo" in str(info.value)


def test_from_target_reads_internal_discovery_and_reports_bad_targets() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json=DOC)

    with httpx.Client(base_url="http://quay", transport=httpx.MockTransport(handler)) as http:
        assert "changeTag" in Catalog.from_target(http)
    assert seen == ["http://quay/api/v1/discovery?internal=true"]
    broken = httpx.MockTransport(lambda r: httpx.Response(404, text="nope"))
    with httpx.Client(base_url="http://quay", transport=broken) as http, pytest.raises(HarnessError, match="404"):
        Catalog.from_target(http)
