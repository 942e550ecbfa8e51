"""GET /api/v1/discovery: a Swagger 2.0 document generated from our own declarations."""

from __future__ import annotations

from typing import Any

from reference_server.auth.scopes import GRANTABLE_SCOPES, SCOPE_DESCRIPTIONS
from reference_server.core.context import Ctx
from reference_server.core.operation import Anyone, Operation, query_param

TAG_DESCRIPTIONS: dict[str, str] = {
    "appspecifictokens": "Application-specific registry passwords of the signed-in user.",
    "bootstrap": "Rotation of the programmatic bootstrap token.",
    "capabilities": "What the registry supports.",
    "discovery": "This API description.",
    "error": "Descriptions of the API's error types.",
    "namespacequota": "Storage quotas of users and organizations, with their warning and reject limits.",
    "organization": "Organizations, their members and OAuth applications.",
    "organization_application_tokens": "Bearer tokens minted for an organization's OAuth application.",
    "permission": "Repository permissions of users and teams.",
    "prototype": "Default permissions given to new repositories of an organization.",
    "repoemail": "E-mail addresses authorized to receive repository notifications.",
    "repository": "Repositories: listing, creation, settings and deletion.",
    "repotoken": "Repository access tokens, retired by Quay.",
    "robot": "Robot accounts of users and organizations.",
    "search": "Search over users, organizations, teams, robots and repositories.",
    "superuser": "Registry-wide administration for superusers.",
    "team": "Teams of an organization and their members.",
    "user": "The signed-in user and public user information.",
}

_ERROR_RESPONSE = {"$ref": "#/definitions/ApiError"}
_STATUS_TEXT = {
    200: "Successful invocation", 201: "Successful creation", 202: "Accepted", 204: "Deleted",
    400: "Bad Request", 401: "Session required", 403: "Unauthorized access", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 410: "Gone", 413: "Request too large",
    415: "Unsupported media type", 429: "Too many requests", 501: "Not implemented",
    503: "Service unavailable",
}
API_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["status", "type", "title"],
    "properties": {
        "status": {"type": "integer", "description": "The HTTP status of the answer."},
        "type": {"type": "string", "description": "URL of the error type's description."},
        "title": {"type": "string", "description": "Short code naming the error type."},
        "detail": {"type": "string", "description": "What went wrong in this request."},
        "error_message": {"type": "string", "description": "Older name of detail."},
        "error_type": {"type": "string", "description": "Older name of title."},
    },
}
ERROR_DESCRIPTION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "description"],
    "properties": {
        "type": {"type": "string", "description": "URL of this error type."},
        "title": {"type": "string", "description": "Short code naming the error type."},
        "description": {"type": "string", "description": "What the error type means."},
    },
}


def _parameter(param: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": param.name, "in": param.location, "type": param.type,
                           "description": param.description, "required": param.required}
    if param.enum:
        out["enum"] = list(param.enum)
    if param.default is not None and param.location == "query":
        out["default"] = param.default
    return out


# Draft-4 keywords that Swagger 2.0 schema objects lack (Quay publishes them anyway, e.g. the quota bodies'
# oneOf): shown as vendor extensions, so the document stays valid Swagger 2.0 and still states the rule.
_NOT_SWAGGER_2 = ("oneOf", "anyOf", "not")


def _published_schema(schema: dict[str, Any]) -> dict[str, Any]:
    return {(f"x-{key}" if key in _NOT_SWAGGER_2 else key): value for key, value in schema.items()}


def build_document(operations: list[Operation], base_url: str, internal: bool) -> dict[str, Any]:
    scheme, _, host = base_url.partition("://")
    paths: dict[str, dict[str, Any]] = {}
    definitions: dict[str, Any] = {"ApiError": API_ERROR_SCHEMA, "ApiErrorDescription": ERROR_DESCRIPTION_SCHEMA}
    tags: set[str] = set()
    for op in operations:
        if op.web or (op.internal and not internal):
            continue
        tags.add(op.tag)
        entry = paths.setdefault(op.path, {
            "parameters": [_parameter(p) for p in op.params if p.location == "path"],
            "x-path": op.path, "x-tag": op.tag,
        })
        parameters = [_parameter(p) for p in op.query_params]
        if op.body is not None:
            known = definitions.get(op.body.name)
            published = _published_schema(op.body.schema)
            if known is not None and known != published:
                raise ValueError(f"two different schemas named {op.body.name}")
            definitions[op.body.name] = published
            parameters.append({"name": "body", "in": "body", "required": op.body.required,
                               "description": "The request body.",
                               "schema": {"$ref": f"#/definitions/{op.body.name}"}})
        responses: dict[str, Any] = {str(op.success): {"description": _STATUS_TEXT.get(op.success, "Success")}}
        for status in sorted({400, 401, 403, 404, 405, *op.other_statuses} - {op.success}):
            responses[str(status)] = {"description": _STATUS_TEXT.get(status, "Error"),
                                      "schema": _ERROR_RESPONSE}
        if op.body is not None:
            responses.setdefault("415", {"description": _STATUS_TEXT[415]})
            responses.setdefault("413", {"description": _STATUS_TEXT[413]})
        method: dict[str, Any] = {
            "operationId": op.operation_id, "description": op.description, "tags": [op.tag],
            "parameters": parameters, "responses": responses,
            "x-internal": op.internal, "x-requires-fresh-login": op.fresh_login,
        }
        if op.scope is not None:
            method["security"] = [{"oauth2_implicit": [op.scope.value]}]
        entry[op.method.lower()] = method
    return {
        "swagger": "2.0",
        "host": host,
        "basePath": "/",
        "schemes": [scheme],
        "info": {"title": "Quay-compatible registry API (quay-harness reference server)", "version": "v1",
                 "description": "Repositories, organizations, users and their permissions, over HTTP.",
                 "termsOfService": "", "contact": {"email": "noreply@localhost"}},
        "securityDefinitions": {"oauth2_implicit": {
            "type": "oauth2", "flow": "implicit", "authorizationUrl": f"{base_url}/oauth/authorize",
            "scopes": {s.value: SCOPE_DESCRIPTIONS[s] for s in GRANTABLE_SCOPES},
        }},
        "paths": paths,
        "definitions": definitions,
        "tags": [{"name": t, "description": TAG_DESCRIPTIONS.get(t, "")} for t in sorted(tags)],
    }


def discovery(ctx: Ctx) -> Any:
    return build_document(ctx.state["operations"], ctx.base_url, bool(ctx.query["internal"]))


OPERATIONS = (
    Operation("GET", "/api/v1/discovery", "discovery", "discovery",
              "Describe every API operation as a Swagger 2.0 document.", discovery, None, Anyone(),
              params=(query_param("internal", "Include operations meant for the web UI only.", "boolean",
                                  default=False),)),
)
