"""Manifests of a repository and their labels (discovery tag `manifest`), plus manifest pull statistics."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reference_server.api.tag import WRITE_GUARDS, iso_date
from reference_server.auth.scopes import RepoRole, Scope
from reference_server.core.context import Ctx
from reference_server.core.errors import MessageError, data_model_error, not_found
from reference_server.core.operation import REPOSITORY, Body, Operation, RepoPermission, path_param, query_param
from reference_server.core.render import Reply, format_date
from reference_server.domain.models import Repository
from reference_server.storage.registry import LabelRecord, ManifestRecord

# Quay routes a manifest reference only when it looks like `algorithm:hex`; anything else is not found.
DIGEST_RE = re.compile(r"^[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+$")
LABEL_KEY_PATTERN = r"^[a-z0-9](([a-z0-9]|[-.](?![.-]))*[a-z0-9])?$"
_LABEL_KEY_RE = re.compile(LABEL_KEY_PATTERN)
LABEL_MEDIA_TYPES = ("text/plain", "application/json")
# Reverse-DNS prefixes Quay keeps for itself and for image tooling (DEFAULT_LABEL_KEY_RESERVED_PREFIXES);
# LABEL_KEY_RESERVED_PREFIXES in the config adds more.
DEFAULT_RESERVED_PREFIXES = (
    "com.docker.", "io.docker.", "org.dockerproject.", "org.opencontainers.", "io.cncf.", "io.kubernetes.",
    "io.k8s.", "io.quay", "com.coreos", "com.tectonic", "internal", "quay",
)
# Labels from the image's own config, or set by Quay itself, cannot be removed through the API.
MUTABLE_LABEL_SOURCES = ("api",)
_MAX_CONFIG_BYTES = 16 * 1024 * 1024


def manifest_or_404(ctx: Ctx, repo: Repository, reference: str) -> ManifestRecord:
    if not DIGEST_RE.match(reference):
        raise not_found()
    manifest = ctx.db.manifest_by_digest(repo.id, reference)
    if manifest is None:
        raise not_found()
    return manifest


# ---- getRepoManifest -------------------------------------------------------------------------------------


def _json_object(raw: bytes | str) -> dict[str, Any]:
    try:
        doc = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _config_history(ctx: Ctx, repo: Repository, config_digest: str | None) -> list[dict[str, Any]]:
    """The image config's history entries that produced a filesystem layer, in layer order."""
    if not config_digest:
        return []
    blob = ctx.db.repo_blob(repo.id, config_digest)
    root = ctx.state.get("blob_root")
    if blob is None or not isinstance(root, Path) or blob.size > _MAX_CONFIG_BYTES:
        return []
    try:
        raw = (root / blob.path).read_bytes()
    except OSError:
        return []
    history = _json_object(raw).get("history")
    if not isinstance(history, list):
        return []
    return [h for h in history if isinstance(h, dict) and not h.get("empty_layer")]


def _history_date(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    # RFC 3339 with up to nanoseconds; Python reads at most microseconds.
    text = re.sub(r"(\.\d{6})\d+", r"\1", value.strip()).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return format_date(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _command(created_by: Any) -> list[Any] | None:
    """Quay shows a layer's command as a list: a JSON array as is, a plain string wrapped."""
    if not created_by or not isinstance(created_by, str):
        return None
    try:
        value = json.loads(created_by)
    except ValueError:
        return [created_by]
    return value if isinstance(value, list) else [created_by]


def _layers(ctx: Ctx, repo: Repository, doc: dict[str, Any]) -> list[dict[str, Any]]:
    layers = [d for d in doc.get("layers") or [] if isinstance(d, dict)]
    config = doc.get("config") if isinstance(doc.get("config"), dict) else {}
    history = _config_history(ctx, repo, config.get("digest") if isinstance(config, dict) else None)
    if len(history) != len(layers):
        history = []  # without a history entry per layer, layers carry no build details
    out = []
    for index, layer in enumerate(layers):
        entry = history[index] if history else {}
        urls = layer.get("urls")
        out.append({
            "index": index, "compressed_size": layer.get("size"), "is_remote": bool(urls),
            "urls": urls if isinstance(urls, list) and urls else None,
            "command": _command(entry.get("created_by")), "comment": entry.get("comment"),
            "author": entry.get("author"), "blob_digest": layer.get("digest"),
            "created_datetime": _history_date(entry.get("created")),
        })
    return out


def get_repo_manifest(ctx: Ctx, repository: str, manifestref: str) -> Any:
    repo = ctx.repository()
    manifest = manifest_or_404(ctx, repo, manifestref)
    doc = _json_object(manifest.manifest_bytes)
    config = doc.get("config")
    layers = None if manifest.is_manifest_list else _layers(ctx, repo, doc)
    return {
        "digest": manifest.digest,
        "is_manifest_list": manifest.is_manifest_list,
        "manifest_data": manifest.manifest_bytes,
        "config_media_type": config.get("mediaType") if isinstance(config, dict) else None,
        "layers_compressed_size": manifest.layers_compressed_size,
        "layers": layers or None,
    }


# ---- labels ----------------------------------------------------------------------------------------------


def _label_view(label: LabelRecord) -> dict[str, Any]:
    return {"id": label.uuid, "key": label.key, "value": label.value, "source_type": label.source_type,
            "media_type": label.media_type}


def _reserved(ctx: Ctx, key: str) -> bool:
    extra = ctx.config.raw.get("LABEL_KEY_RESERVED_PREFIXES") or []
    prefixes = (*DEFAULT_RESERVED_PREFIXES, *(p for p in extra if isinstance(p, str)))
    return any(key.startswith(p) for p in prefixes)


def _inferred_media_type(value: str) -> str:
    """Without a media type, a value that parses as a JSON object or array is JSON, anything else text."""
    if value.startswith(("{", "[")):
        try:
            json.loads(value)
            return "application/json"
        except ValueError:
            pass
    return "text/plain"


def list_manifest_labels(ctx: Ctx, repository: str, manifestref: str) -> Any:
    repo = ctx.repository()
    manifest = manifest_or_404(ctx, repo, manifestref)
    labels = ctx.db.manifest_labels(manifest.id, key_prefix=ctx.query["filter"] or None)
    return {"labels": [_label_view(label) for label in labels]}


def add_manifest_label(ctx: Ctx, repository: str, manifestref: str) -> Any:
    body = ctx.body
    key, value, media_type = body["key"], body["value"], body["media_type"]
    # Quay refuses reserved prefixes before it even looks the repository up.
    if _reserved(ctx, key):
        raise MessageError(400, "Label has a reserved prefix")
    repo = ctx.repository()
    manifest = manifest_or_404(ctx, repo, manifestref)
    if not key or len(key) > 255 or not _LABEL_KEY_RE.match(key):
        raise MessageError(400, "Label is of an invalid format or missing please use "
                                f"{LABEL_KEY_PATTERN} format for labels")
    label = ctx.db.add_label(manifest.id, key, value, source_type="api",
                             media_type=media_type or _inferred_media_type(value))
    ctx.log("manifest_label_add", namespace=ctx.namespace, repo=repo, metadata={
        "id": label.uuid, "key": label.key, "value": label.value, "manifest_digest": manifestref,
        "media_type": label.media_type, "namespace": repo.namespace, "repo": repo.name})
    location = f"/api/v1/repository/{repo.namespace}/{repo.name}/manifest/{manifestref}/labels/{label.uuid}"
    return Reply({"label": _label_view(label)}, status=201, headers={"Location": location})


def _label_or_404(ctx: Ctx, repository: str, manifestref: str, labelid: str) -> tuple[Repository, LabelRecord]:
    repo = ctx.repository()
    manifest = manifest_or_404(ctx, repo, manifestref)
    label = ctx.db.manifest_label(manifest.id, labelid)
    if label is None:
        raise not_found()
    return repo, label


def get_manifest_label(ctx: Ctx, repository: str, manifestref: str, labelid: str) -> Any:
    _, label = _label_or_404(ctx, repository, manifestref, labelid)
    return _label_view(label)


def delete_manifest_label(ctx: Ctx, repository: str, manifestref: str, labelid: str) -> Any:
    repo, label = _label_or_404(ctx, repository, manifestref, labelid)
    if label.source_type not in MUTABLE_LABEL_SOURCES:
        raise data_model_error("Cannot delete immutable label")
    ctx.db.delete_label(label.id)
    ctx.log("manifest_label_delete", namespace=ctx.namespace, repo=repo, metadata={
        "id": labelid, "key": label.key, "value": label.value, "manifest_digest": manifestref,
        "namespace": repo.namespace, "repo": repo.name})
    return Reply(status=204)


# ---- getManifestPullStatistics --------------------------------------------------------------------------


def get_manifest_pull_statistics(ctx: Ctx, repository: str, manifestref: str) -> Any:
    repo = ctx.repository()
    manifest = manifest_or_404(ctx, repo, manifestref)
    count, last = ctx.db.pull_counts(repo.id, manifest_digest=manifest.digest)
    return {"manifest_digest": manifest.digest, "manifest_pull_count": count,
            "last_manifest_pull_date": iso_date(last)}


# ---- declarations ---------------------------------------------------------------------------------------

MANIFESTREF = path_param("manifestref", "The manifest's digest, algorithm:hex.")
LABELID = path_param("labelid", "The label's id.")

ADD_LABEL = Body("AddLabel", {
    "type": "object",
    "description": "A key/value label to attach to a manifest.",
    "required": ["key", "value", "media_type"],
    "properties": {
        "key": {"type": "string", "description": "Lower-case dotted key; reserved prefixes are refused."},
        "value": {"type": "string", "description": "The label's value."},
        "media_type": {"type": ["string", "null"], "enum": [*LABEL_MEDIA_TYPES, None],
                       "description": "How the value is to be read; null guesses from the value."},
    },
})

_MANIFEST = "/api/v1/repository/{repository}/manifest/{manifestref}"
_READ = RepoPermission(RepoRole.READ, global_readonly=True)

OPERATIONS = (
    Operation("GET", _MANIFEST, "getRepoManifest", "manifest",
              "Show a manifest of the repository with its layers.", get_repo_manifest, Scope.REPO_READ, _READ,
              params=(REPOSITORY, MANIFESTREF,
                      query_param("include_modelcard", "Also return the model card text when the image has one.",
                                  "boolean", default=False))),
    Operation("GET", _MANIFEST + "/labels", "listManifestLabels", "manifest",
              "List the labels of a manifest.", list_manifest_labels, Scope.REPO_READ, _READ,
              params=(REPOSITORY, MANIFESTREF,
                      query_param("filter", "Only labels whose key starts with this text."))),
    Operation("POST", _MANIFEST + "/labels", "addManifestLabel", "manifest",
              "Attach a label to a manifest.", add_manifest_label, Scope.REPO_WRITE,
              RepoPermission(RepoRole.WRITE), params=(REPOSITORY, MANIFESTREF), body=ADD_LABEL, success=201,
              guards=WRITE_GUARDS, other_statuses=(503,)),
    Operation("GET", _MANIFEST + "/labels/{labelid}", "getManifestLabel", "manifest",
              "Show one label of a manifest.", get_manifest_label, Scope.REPO_READ, _READ,
              params=(REPOSITORY, MANIFESTREF, LABELID)),
    Operation("DELETE", _MANIFEST + "/labels/{labelid}", "deleteManifestLabel", "manifest",
              "Remove a label from a manifest.", delete_manifest_label, Scope.REPO_WRITE,
              RepoPermission(RepoRole.WRITE), params=(REPOSITORY, MANIFESTREF, LABELID), success=204,
              guards=WRITE_GUARDS, other_statuses=(503,)),
    Operation("GET", _MANIFEST + "/pull_statistics", "getManifestPullStatistics", "manifest",
              "Count the pulls of a manifest.", get_manifest_pull_statistics, Scope.REPO_READ, _READ,
              params=(REPOSITORY, MANIFESTREF), feature="IMAGE_PULL_STATS"),
)
