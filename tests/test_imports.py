"""The import rules of ARCHITECTURE.md, enforced."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(module, imported at top level?) for every import in a file."""
    tree = ast.parse(path.read_text())
    top = set(map(id, tree.body))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, id(node) in top))
    return out


def _files(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def test_suites_import_harness_never_reference_server() -> None:
    bad = [(str(p), m) for p in _files("suites") for m, _ in _imports(p) if m.startswith("reference_server")]
    assert bad == []


def test_harness_imports_reference_server_only_lazily_in_server_module() -> None:
    bad = []
    for path in _files("harness"):
        for module, top_level in _imports(path):
            if module.startswith("reference_server") and (path.name != "server.py" or top_level):
                bad.append((str(path), module))
    assert bad == []


def test_load_never_imports_reference_server() -> None:
    bad = [(str(p), m) for p in _files("load") for m, _ in _imports(p) if m.startswith("reference_server")]
    assert bad == []


def test_layers_inside_reference_server() -> None:
    allowed = {
        "storage": {"storage", "domain", "auth.scopes", "auth.authz", "auth.secrets"},
        "auth": {"auth", "storage", "domain"},
        "domain": {"domain"},
        "core": {"core", "auth", "storage", "domain", "config"},
        "api": {"api", "web", "core", "auth", "storage", "domain", "config"},
        "web": {"web", "api", "core", "auth", "storage", "domain", "config"},
        "registry": {"registry", "core", "auth", "storage", "domain", "config"},
        "workers": {"workers", "storage", "domain", "config"},
    }
    bad = []
    for layer, ok in allowed.items():
        for path in _files(f"reference_server/{layer}"):
            for module, _ in _imports(path):
                if not module.startswith("reference_server."):
                    continue
                target = module.split(".", 1)[1]
                if not any(target == a or target.startswith(a + ".") for a in ok):
                    bad.append((str(path.relative_to(ROOT)), module))
    assert bad == []


def test_only_the_app_imports_api() -> None:
    bad = []
    for path in _files("reference_server"):
        rel = path.relative_to(ROOT / "reference_server")
        if rel.parts[0] in ("api", "web") or rel.name == "app.py":
            continue
        bad += [(str(rel), m) for m, _ in _imports(path) if m.startswith("reference_server.api")]
    assert bad == []
