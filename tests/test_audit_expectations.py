"""Meta-tests of the audit-log expectation table (harness/audit/expectations.py): it cannot silently fall behind the
reference server's operations, and what it expects is made of Quay's own names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from harness.audit.expectations import LOGGED, UNLOGGED
from harness.audit.ledger import MUTATING, MutatingCall
from harness.catalog import Catalog
from reference_server.config import FEATURE_DEFAULTS

SHARED = Path(__file__).resolve().parents[2] / "shared"
QUAY_DISCOVERY = SHARED / "quay-discovery-internal.json"
QUAY_API_NOTES = SHARED / "quay-api.md"
ALL_FEATURES = {f"FEATURE_{name}": True for name in FEATURE_DEFAULTS}


def _mutating(catalog: Catalog) -> set[str]:
    return {op for op, info in catalog.items() if info.method in MUTATING}


@pytest.fixture
def reference_catalog(make_server: Any) -> Catalog:
    """The discovery document of a started reference server with every feature switched on."""
    server = make_server(ALL_FEATURES)
    response = server.client.get("/api/v1/discovery", params={"internal": "true"})
    assert response.status_code == 200
    return Catalog(response.json())


def test_every_mutating_operation_of_the_reference_server_is_declared_logged_or_unlogged(
        reference_catalog: Catalog) -> None:
    mutating = _mutating(reference_catalog)
    assert len(mutating) > 50, "the discovery document lost its operations"
    undeclared = sorted(mutating - set(LOGGED) - set(UNLOGGED))
    assert undeclared == [], f"add these to LOGGED (with Quay's log kind) or UNLOGGED (with the reason): {undeclared}"


def test_no_operation_is_both_logged_and_unlogged() -> None:
    assert sorted(set(LOGGED) & set(UNLOGGED)) == []


def test_every_unlogged_operation_says_why() -> None:
    assert [op for op, reason in UNLOGGED.items() if len(reason.split()) < 4] == []


def test_every_declared_operation_is_one_of_quays() -> None:
    """A typo in an operationId would leave the real operation undeclared and the typo unnoticed."""
    if not QUAY_DISCOVERY.exists():
        pytest.skip(f"{QUAY_DISCOVERY} is not available")
    quay = Catalog(json.loads(QUAY_DISCOVERY.read_text()))
    unknown = sorted(op for op in [*LOGGED, *UNLOGGED] if op not in quay)
    assert unknown == []
    assert sorted(op for op in [*LOGGED, *UNLOGGED] if quay[op].method not in MUTATING) == []


def _quay_log_kinds() -> set[str]:
    if not QUAY_API_NOTES.exists():
        pytest.skip(f"{QUAY_API_NOTES} is not beside the project (CI has it)")
    text = QUAY_API_NOTES.read_text()
    found = re.search(r"Log kinds seeded by `initdb.py` \(\d+\):(.*?)Metadata examples", text, re.S)
    assert found, "quay-api.md D4 no longer lists the log kinds"
    return {kind.strip(" .\n") for kind in found.group(1).split(",") if kind.strip(" .\n")}


FULL_BODY: dict[str, Any] = {
    "namespace": "ns", "repository": "r", "description": "d", "visibility": "public", "state": "NORMAL",
    "role": "read", "expiration": 4102444800, "immutable": True, "manifest_digest": "sha256:0", "key": "k",
    "value": "v", "media_type": "text/plain", "name": "n", "email": "e@example.com", "invoice_email": True,
    "tag_expiration_s": 60, "password": "pw", "enabled": True, "title": "t", "method": "number_of_tags",
    "tagPattern": "a", "tagPatternMatches": True, "limit_bytes": 1, "type": "Warning", "threshold_percent": 10,
    "delegate": {"kind": "user", "name": "u"}, "username": "u", "scope": "repo:read", "is_alive": False,
}
REPLIES: list[dict[str, Any]] = [
    {"new_team": True, "invited": True, "id": "i", "client_id": "c", "uuid": "u", "org": "o", "team": "t",
     "label": {"id": "l"}, "token": {"uuid": "u"}},
    {"new_team": False, "invited": False},
]


def _synthetic_calls(op: str, catalog: Catalog) -> list[MutatingCall]:
    info = catalog[op]
    params = {name: ("ns/r" if name == "repository" else "x") for name in info.path_params}
    return [MutatingCall(op, info.method, info.path, params, body, 200, reply, "alice", False)
            for body in (FULL_BODY, {}) for reply in REPLIES]


def test_every_expected_kind_is_a_quay_log_kind_and_every_logged_operation_expects_an_entry(
        reference_catalog: Catalog) -> None:
    kinds = _quay_log_kinds()
    assert {"create_repo", "change_repo_permission", "org_create_quota"} <= kinds
    unknown: dict[str, set[str]] = {}
    nothing_required = []
    for op in sorted(set(LOGGED) & set(reference_catalog)):
        expected = [e for call in _synthetic_calls(op, reference_catalog) for e in LOGGED[op].rule(call)]
        unknown.update({op: bad} for bad in [{k for e in expected for k in e.kinds} - kinds] if bad)
        if not any(e.required for e in expected):
            nothing_required.append(op)
    assert unknown == {}
    assert nothing_required == [], "these LOGGED operations never expect an entry: declare them UNLOGGED"
