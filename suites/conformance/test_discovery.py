"""Conformance of the self-describing endpoints: discovery, error descriptions, registry capabilities, the
signed-in user, and Quay's CSRF rule for credential-less writes. Expectations come from Quay's behaviour
(quay-api.md sections 0, B, C, D14 and quay-observed.md), not from the reference server."""

from __future__ import annotations

from typing import Any

import pytest

from harness.auth import BearerAuth
from harness.checks import TargetMismatch, expect
from harness.client import QuayClient
from harness.world import Target

QUAY_SCOPES = {"repo:read", "repo:write", "repo:admin", "repo:create", "user:read", "user:admin", "org:admin",
               "super:user"}
# ApiErrorType in Quay's endpoints/exception.py: every value has a description page.
ERROR_TYPES = ("invalid_request", "invalid_response", "invalid_token", "expired_token", "fresh_login_required",
               "exceeds_license", "insufficient_scope", "not_found", "tag_immutable", "token_rotation_failed",
               "downstream_issue", "external_service_timeout")
CSRF_MESSAGE = "CSRF token was invalid or missing."
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def _operations(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for entry in document["paths"].values():
        for method in METHODS:
            if method in entry:
                op = entry[method]
                found[op.get("operationId", f"<missing:{method}>")] = op
    return found


@pytest.fixture(scope="module")
def public_doc(anon: QuayClient) -> dict[str, Any]:
    return dict(expect(anon.call("discovery"), 200))


@pytest.fixture(scope="module")
def internal_doc(anon: QuayClient) -> dict[str, Any]:
    return dict(expect(anon.call("discovery", params={"internal": "true"}), 200))


@pytest.mark.operation("discovery")
def test_discovery_is_a_swagger_2_document(public_doc: dict[str, Any]) -> None:
    assert public_doc["swagger"] == "2.0"
    for key in ("info", "paths", "definitions", "securityDefinitions", "host", "basePath"):
        assert key in public_doc, f"discovery lacks {key!r}"
    assert public_doc["basePath"] == "/"
    assert isinstance(public_doc["paths"], dict) and public_doc["paths"]
    # Every operation lives under /api/v1/. Quay also lists handlers of its API blueprint that are not operations
    # (`/userfiles/{file_id}`, with no method), which may sit elsewhere.
    outside = [path for path, entry in public_doc["paths"].items()
               if not path.startswith("/api/v1/") and any(method in entry for method in METHODS)]
    assert outside == [], f"Quay serves every documented operation under /api/v1/; these are elsewhere: {outside}"
    assert "ApiError" in public_doc["definitions"]


@pytest.mark.operation("discovery")
def test_discovery_declares_oauth2_implicit_with_quays_eight_scopes(public_doc: dict[str, Any]) -> None:
    scheme = public_doc["securityDefinitions"]["oauth2_implicit"]
    assert scheme["type"] == "oauth2"
    assert scheme["flow"] == "implicit"
    assert str(scheme["authorizationUrl"]).endswith("/oauth/authorize")
    assert set(scheme["scopes"]) == QUAY_SCOPES


@pytest.mark.operation("discovery")
def test_every_operation_has_a_unique_id_tags_and_status_keyed_responses(internal_doc: dict[str, Any]) -> None:
    seen: list[str] = []
    for path, entry in internal_doc["paths"].items():
        for method in METHODS:
            if method not in entry:
                continue
            op = entry[method]
            where = f"{method.upper()} {path}"
            assert op.get("operationId"), f"{where} has no operationId"
            assert isinstance(op.get("tags"), list) and op["tags"], f"{where} has no tags"
            responses = op.get("responses")
            assert isinstance(responses, dict) and responses, f"{where} has no responses"
            # Quay documents a 2xx even where it answers otherwise (retired repo tokens answer 410), so only the
            # form is a contract here: every key is an HTTP status.
            bad = [c for c in responses if not (str(c).isdigit() and 100 <= int(c) <= 599) and c != "default"]
            assert not bad, f"{where} has response keys that are not HTTP statuses: {bad}"
            seen.append(op["operationId"])
    duplicates = sorted({op for op in seen if seen.count(op) > 1})
    assert not duplicates, f"duplicate operationIds: {duplicates}"


@pytest.mark.operation("discovery")
def test_every_documented_scope_is_one_the_scheme_offers(internal_doc: dict[str, Any]) -> None:
    offered = set(internal_doc["securityDefinitions"]["oauth2_implicit"]["scopes"])
    for op_id, op in _operations(internal_doc).items():
        for requirement in op.get("security", []):
            assert set(requirement) == {"oauth2_implicit"}, f"{op_id} uses another security scheme"
            assert set(requirement["oauth2_implicit"]) <= offered, f"{op_id} names an unknown scope"


@pytest.mark.operation("discovery")
def test_internal_discovery_adds_operations_and_public_hides_the_flagged_ones(
        public_doc: dict[str, Any], internal_doc: dict[str, Any]) -> None:
    public, internal = _operations(public_doc), _operations(internal_doc)
    assert set(public) <= set(internal), f"only public: {sorted(set(public) - set(internal))}"
    assert set(internal) - set(public), "?internal=true shows nothing more than the public document"
    flagged_public = sorted(op for op, body in public.items() if body.get("x-internal"))
    assert not flagged_public, f"the public document lists x-internal operations: {flagged_public}"
    leaked = sorted(op for op, body in internal.items() if body.get("x-internal") and op in public)
    assert not leaked, f"x-internal operations also in the public document: {leaked}"


@pytest.mark.operation("getErrorDescription")
@pytest.mark.parametrize("error_type", ERROR_TYPES)
def test_error_type_has_a_description(anon: QuayClient, error_type: str) -> None:
    body = expect(anon.call("getErrorDescription", error_type=error_type), 200)
    assert body["title"] == error_type
    assert str(body["type"]).endswith(f"/api/v1/error/{error_type}")
    assert isinstance(body["description"], str) and body["description"]


@pytest.mark.operation("getErrorDescription")
def test_unknown_error_type_is_not_found(anon: QuayClient) -> None:
    expect(anon.call("getErrorDescription", error_type="no_such_error_type"), 404, error_type="not_found")


@pytest.mark.operation("getRegistryCapabilities")
def test_registry_capabilities_describe_sparse_manifests_and_mirror_architectures(anon: QuayClient) -> None:
    body = expect(anon.call("getRegistryCapabilities"), 200)
    sparse = body["sparse_manifests"]
    assert isinstance(sparse["supported"], bool)
    assert isinstance(sparse["required_architectures"], list)
    assert isinstance(sparse["optional_architectures_allowed"], bool)
    architectures = body["mirror_architectures"]
    assert isinstance(architectures, list) and architectures
    assert all(isinstance(a, str) for a in architectures)


@pytest.mark.operation("getLoggedInUser")
def test_anonymous_current_user_is_401_with_session_required_false(anon: QuayClient) -> None:
    body = expect(anon.call("getLoggedInUser"), 401, error_type="invalid_token")
    assert body["session_required"] is False
    assert body["detail"] == "Requires authentication"


@pytest.mark.operation("getLoggedInUser")
def test_invalid_bearer_token_is_treated_as_anonymous(target: Target) -> None:
    stranger = target.make_client(BearerAuth("NOTAVALIDTOKEN" * 3), "invalid token")
    body = expect(stranger.call("getLoggedInUser"), 401, error_type="invalid_token")
    assert body["session_required"] is False


@pytest.mark.operation("getLoggedInUser")
def test_superuser_sees_itself(admin: QuayClient, target: Target) -> None:
    body = expect(admin.call("getLoggedInUser"), 200)
    assert body["username"] == target.admin_persona.name
    assert body["anonymous"] is False
    assert body["super_user"] is True


@pytest.mark.operation("createOrganization")
@pytest.mark.parametrize("token", [None, "NOTAVALIDTOKEN" * 3], ids=["anonymous", "invalid-token"])
def test_write_without_session_csrf_or_valid_token_is_refused_by_csrf(target: Target, token: str | None) -> None:
    client = target.make_client(BearerAuth(token) if token else None, "no credentials")
    name = target.next_name("csrf")
    response = client.call("createOrganization", json={"name": name, "email": f"{name}@example.com"})
    body = expect(response, 403, shape="error")
    assert body["error"] == CSRF_MESSAGE
    # Quay's util.http.abort renders this JSON body with an HTML content type.
    content_type = response.headers.get("content-type", "")
    if not content_type.startswith("text/html"):
        raise TargetMismatch(response, "expected Content-Type text/html for the CSRF refusal")
    # And nothing was created: the organization is unknown.
    expect(target.anon.call("getOrganization", orgname=name), 404)
