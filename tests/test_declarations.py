"""Meta-tests: declarations, routing and discovery agree, and the document is valid Swagger 2.0."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

from reference_server.api import OPERATIONS
from reference_server.api.discovery import build_document
from reference_server.app import enabled_operations
from reference_server.config import FEATURE_DEFAULTS, ServerConfig
from reference_server.core.operation import Anyone, HandlerChecks
from reference_server.core.routing import Router

QUAY_DISCOVERY = Path(__file__).resolve().parents[2] / "shared" / "quay-discovery-internal.json"
ALL_ON = ServerConfig.from_mapping({f"FEATURE_{name}": True for name in FEATURE_DEFAULTS})
API_OPS = [op for op in OPERATIONS if not op.web]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_operation_ids_are_unique() -> None:
    ids = [op.operation_id for op in OPERATIONS]
    assert len(ids) == len(set(ids))


def test_method_and_path_pairs_are_unique() -> None:
    pairs = [(op.method, op.path) for op in OPERATIONS]
    assert len(pairs) == len(set(pairs))


def test_handlers_are_named_after_their_operation() -> None:
    wrong = [(op.operation_id, op.handler.__name__) for op in API_OPS
             if op.handler.__name__ != _snake(op.operation_id)]
    assert wrong == []


def test_guarded_operations_declare_a_scope() -> None:
    missing = [op.operation_id for op in API_OPS
               if op.scope is None and not isinstance(op.permission, Anyone | HandlerChecks)
               and not op.extra.get("no_scope_metadata")]
    assert missing == []


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.operation_id)
def test_every_declared_operation_is_routed(op: object) -> None:
    router = Router(enabled_operations(ALL_ON))
    assert op in enabled_operations(ALL_ON)
    sample = re.sub(r"{repository}", "ns/repo", op.path)  # type: ignore[attr-defined]
    sample = re.sub(r"{\w+}", "x1", sample)
    found = router.match(sample)
    assert found is not None, sample
    route, _ = found
    assert route.operations.get(op.method) is op  # type: ignore[attr-defined]


def test_discovery_lists_exactly_the_enabled_api_operations() -> None:
    doc = build_document(enabled_operations(ALL_ON), "http://localhost", internal=True)
    listed = {(m.upper(), path) for path, item in doc["paths"].items()
              for m in item if m in ("get", "post", "put", "delete")}
    assert listed == {(op.method, op.path) for op in API_OPS}
    public = build_document(enabled_operations(ALL_ON), "http://localhost", internal=False)
    public_ids = {o["operationId"] for item in public["paths"].values() for k, o in item.items()
                  if k in ("get", "post", "put", "delete")}
    assert public_ids == {op.operation_id for op in API_OPS if not op.internal}


def test_switched_off_feature_removes_route_and_discovery_entry() -> None:
    gated = [op for op in API_OPS if op.feature]
    if not gated:
        pytest.skip("no feature-gated operation declared yet")
    off = ServerConfig.from_mapping({f"FEATURE_{f}": False for op in gated for f in op.feature.split("+")})
    enabled = enabled_operations(off)
    assert not any(op in enabled for op in gated)


def test_discovery_is_valid_swagger_2() -> None:
    doc = build_document(enabled_operations(ALL_ON), "http://localhost", internal=True)
    validate(json.loads(json.dumps(doc)))


def test_coverage_against_quays_own_discovery(capsys: pytest.CaptureFixture[str]) -> None:
    if not QUAY_DISCOVERY.exists():
        pytest.skip("../shared/quay-discovery-internal.json is not beside the project")
    quay = json.loads(QUAY_DISCOVERY.read_text())
    theirs = {(m.upper(), path, o["operationId"]) for path, item in quay["paths"].items()
              for m, o in item.items() if m in ("get", "post", "put", "delete")}
    ours = {(op.method, op.path, op.operation_id) for op in API_OPS}
    # Every operation we declare must be Quay's, verbatim (method, path and operationId together).
    assert ours - theirs == set()
    with capsys.disabled():
        print(f"\ncoverage: {len(ours & theirs)} of {len(theirs)} operations in Quay's internal discovery")
