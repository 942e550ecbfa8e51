"""GET /api/v1/registry/capabilities."""

from __future__ import annotations

from typing import Any

from reference_server.core.context import Ctx
from reference_server.core.operation import Anyone, Operation

MIRROR_ARCHITECTURES = ["amd64", "arm64", "ppc64le", "s390x"]


def get_registry_capabilities(ctx: Ctx) -> Any:
    sparse = ctx.config.feature("SPARSE_INDEX")
    return {
        "sparse_manifests": {"supported": sparse, "required_architectures": [],
                             "optional_architectures_allowed": sparse},
        "mirror_architectures": MIRROR_ARCHITECTURES,
    }


OPERATIONS = (
    Operation("GET", "/api/v1/registry/capabilities", "getRegistryCapabilities", "capabilities",
              "Report which optional registry behaviours are supported.", get_registry_capabilities, None,
              Anyone()),
)
