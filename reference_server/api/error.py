"""GET /api/v1/error/{error_type}: what each error type means."""

from __future__ import annotations

from typing import Any

from reference_server.core.context import Ctx
from reference_server.core.errors import ERROR_TYPES, not_found
from reference_server.core.operation import Anyone, Operation, path_param


def get_error_description(ctx: Ctx, error_type: str) -> Any:
    if error_type not in ERROR_TYPES:
        raise not_found()
    return {"type": f"{ctx.base_url}/api/v1/error/{error_type}", "title": error_type,
            "description": ERROR_TYPES[error_type][1]}


OPERATIONS = (
    Operation("GET", "/api/v1/error/{error_type}", "getErrorDescription", "error",
              "Describe one error type.", get_error_description, None, Anyone(),
              params=(path_param("error_type", "The error type, as in an error body's title."),)),
)
