"""The bare-framework baseline: a Starlette JSON endpoint with nothing behind it."""

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


async def repo(request: Request) -> JSONResponse:
    return JSONResponse({"namespace": "bench", "name": "repo", "kind": "image", "description": "",
                         "is_public": False, "is_organization": True, "tags": {}})


app = Starlette(routes=[Route("/api/v1/repository/{ns}/{name}", repo)])
