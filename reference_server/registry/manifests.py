"""Parsing and checking pushed manifests: Docker schema 2, OCI image manifest, OCI index, Docker manifest list."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from reference_server.registry.errors import RegistryError, manifest_invalid

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
IMAGE_TYPES = frozenset({DOCKER_MANIFEST, OCI_MANIFEST})
LIST_TYPES = frozenset({DOCKER_LIST, OCI_INDEX})
SUPPORTED_TYPES = IMAGE_TYPES | LIST_TYPES
# Schema 1 is accepted by old Quay releases only; this server refuses it like one with schema 1 switched off.
SCHEMA1_TYPES = frozenset({"application/vnd.docker.distribution.manifest.v1+json",
                           "application/vnd.docker.distribution.manifest.v1+prettyjws"})

DIGEST_RE = re.compile(r"^[A-Za-z0-9_+.-]+:[A-Fa-f0-9]+$")
SHA256_RE = re.compile(r"^sha256:[a-f0-9]{64}$")


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Descriptor:
    digest: str
    size: int
    media_type: str
    platform: dict[str, Any] | None = None
    foreign: bool = False  # a layer with `urls`: fetched from elsewhere, not required to exist here


@dataclass
class ParsedManifest:
    digest: str
    media_type: str
    raw: bytes
    config: Descriptor | None = None
    layers: list[Descriptor] = field(default_factory=list)
    children: list[Descriptor] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)

    @property
    def is_list(self) -> bool:
        return self.media_type in LIST_TYPES

    @property
    def blob_digests(self) -> list[str]:
        """Blobs this manifest needs stored here: its config and its non-foreign layers."""
        found = [self.config.digest] if self.config else []
        return found + [d.digest for d in self.layers if not d.foreign]


def _descriptor(value: Any, what: str) -> Descriptor:
    if not isinstance(value, dict):
        raise manifest_invalid(f"{what} is not an object")
    digest = value.get("digest")
    size = value.get("size")
    if not isinstance(digest, str) or not DIGEST_RE.match(digest):
        raise manifest_invalid(f"{what} has an invalid digest")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise manifest_invalid(f"{what} has an invalid size")
    media_type = value.get("mediaType")
    platform = value.get("platform")
    return Descriptor(digest=digest, size=size, media_type=media_type if isinstance(media_type, str) else "",
                      platform=platform if isinstance(platform, dict) else None,
                      foreign=bool(value.get("urls")))


def parse(raw: bytes, content_type: str | None) -> ParsedManifest:
    """Parse a pushed manifest. The Content-Type decides the format; without one (or plain JSON) the
    manifest's own mediaType does."""
    declared = (content_type or "").split(";")[0].strip()
    if declared in SCHEMA1_TYPES:
        raise manifest_invalid("manifest schema version not supported", 415)
    try:
        doc = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise manifest_invalid(f"failed to parse manifest: {exc}") from exc
    if not isinstance(doc, dict):
        raise manifest_invalid("failed to parse manifest: not a JSON object")
    inner = doc.get("mediaType")
    media_type = declared if declared and declared != "application/json" else (inner if isinstance(inner, str) else "")
    if not media_type and isinstance(doc.get("manifests"), list):
        media_type = OCI_INDEX
    elif not media_type and doc.get("schemaVersion") == 2:
        media_type = OCI_MANIFEST
    if media_type not in SUPPORTED_TYPES:
        raise manifest_invalid("manifest schema version not supported", 415)
    if doc.get("schemaVersion") != 2:
        raise manifest_invalid("failed to parse manifest: schemaVersion must be 2")
    if isinstance(inner, str) and inner != media_type:
        raise manifest_invalid("failed to parse manifest: mediaType does not match the Content-Type")
    parsed = ParsedManifest(digest=sha256_digest(raw), media_type=media_type, raw=raw)
    if media_type in LIST_TYPES:
        children = doc.get("manifests")
        if not isinstance(children, list):
            raise manifest_invalid("failed to parse manifest: manifests must be a list")
        parsed.children = [_descriptor(c, "manifest entry") for c in children]
        return parsed
    parsed.config = _descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise manifest_invalid("failed to parse manifest: layers must be a list")
    parsed.layers = [_descriptor(layer, "layer") for layer in layers]
    return parsed


def config_labels(config_bytes: bytes) -> dict[str, str]:
    """The image labels of a config blob (Quay turns them into manifest labels)."""
    try:
        doc = json.loads(config_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return {}
    if not isinstance(doc, dict):
        return {}
    config = doc.get("config")
    labels = config.get("Labels") if isinstance(config, dict) else None
    if not isinstance(labels, dict):
        return {}
    return {str(k): str(v) for k, v in labels.items()}


def check_digest_format(digest: str) -> RegistryError | None:
    if not SHA256_RE.match(digest):
        return RegistryError("DIGEST_INVALID", "provided digest did not match uploaded content", 400,
                             {"message": "only sha256 digests are supported"})
    return None
