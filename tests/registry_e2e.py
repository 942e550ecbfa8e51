"""Shared by the registry end-to-end tests (skopeo, podman): a reference server in a subprocess on a free port, OCI
image layouts built from scratch, and a Reject quota set at the namespace's current usage."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import sqlite3
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from harness.server import ReferenceServer

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
# What the registry says when a push would take a namespace past its Reject limit (Quay's wording).
QUOTA_EXCEEDED = "Quota has been exceeded on namespace"


class LiveServer:
    """The running server, and the admin user's bearer token for its API."""

    def __init__(self, port: int, data_dir: Path) -> None:
        self.port = port
        self.data_dir = data_dir
        self.url = f"http://127.0.0.1:{port}"
        self.registry = f"127.0.0.1:{port}"
        self.token = ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)

    def tag_digest(self, repository: str, tag: str) -> str | None:
        """The manifest digest the server holds under `tag`, or None when there is no such tag."""
        answer = self.api("GET", f"/api/v1/repository/{repository}/tag/", params={"specificTag": tag})
        assert answer.status_code == 200, answer.text
        tags = answer.json()["tags"]
        return str(tags[0]["manifest_digest"]) if tags else None


@contextmanager
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A reference server with quota management on (harness.server picks a free port and retries when another
    process takes it first, so xdist workers do not collide), and its first user `admin` / `password1`."""
    with ReferenceServer(data_dir=tmp_path / "data") as server:
        live = LiveServer(server.port, server.data_dir)
        answer = live.api("POST", "/api/v1/user/initialize", json={
            "username": "admin", "password": "password1", "email": "admin@example.com", "access_token": True})
        assert answer.status_code == 200, answer.text
        live.token = answer.json()["access_token"]
        yield live


def reject_beyond_current_usage(live: LiveServer, namespace: str) -> None:
    """Give `namespace` a quota of exactly its current usage with a Reject limit at 100 %, so the next push of new
    content is refused."""
    with sqlite3.connect(live.data_dir / "quay.db") as conn:
        namespace_id = conn.execute("SELECT id FROM user WHERE username = ?", (namespace,)).fetchone()[0]
        usage = conn.execute("SELECT SUM(size) FROM namespace_blob WHERE namespace_id = ?",
                             (namespace_id,)).fetchone()[0]
        assert usage > 0
        quota_id = conn.execute("INSERT INTO namespace_quota (namespace_id, limit_bytes) VALUES (?, ?)",
                                (namespace_id, usage)).lastrowid
        conn.execute("INSERT INTO quota_limit (quota_id, type, percent) VALUES (?, 'Reject', 100)", (quota_id,))


# ---- an OCI image layout built from scratch -----------------------------------------------------------------


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, bytes]) -> tuple[bytes, str]:
    """(gzip-compressed tar, digest of the uncompressed tar) with fixed metadata, so digests are stable."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    return gzip.compress(uncompressed, mtime=0), sha(uncompressed)


def build_layout(directory: Path, tag: str, seed: str, layer_count: int = 3) -> str:
    """Write an OCI image layout with a multi-layer image under `tag`; returns the manifest digest."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = sha(data)
        (blobs / digest.split(":")[1]).write_bytes(data)
        return digest

    layers = [_layer({f"layer{i}/file.txt": f"{seed} layer {i}\n".encode() * (i + 1) * 200})
              for i in range(layer_count)]
    config = json.dumps({
        "architecture": "amd64", "os": "linux", "config": {"Labels": {"seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": [diff for _, diff in layers]},
        "history": [{"created_by": f"layer {i}"} for i in range(layer_count)],
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": put(blob),
                    "size": len(blob)} for blob, _ in layers],
    }).encode()
    manifest_digest = put(manifest)
    (directory / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    (directory / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [{
        "mediaType": OCI_MANIFEST, "digest": manifest_digest, "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": tag}}]}))
    return manifest_digest


def read_blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def index_digest(layout: Path) -> str:
    """The digest of the (single) manifest an OCI layout's index names."""
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def image_parts(layout: Path) -> tuple[str, list[str]]:
    """(config digest, the config's diff_ids: digests of the uncompressed layers) of a layout's image."""
    manifest = json.loads(read_blob(layout, index_digest(layout)))
    config_digest = str(manifest["config"]["digest"])
    config = json.loads(read_blob(layout, config_digest))
    return config_digest, [str(d) for d in config["rootfs"]["diff_ids"]]


def uncompressed_layer_digests(layout: Path) -> list[str]:
    """Digests of a layout's layers after decompression, in manifest order (layers may be stored either way)."""
    manifest = json.loads(read_blob(layout, index_digest(layout)))
    digests = []
    for layer in manifest["layers"]:
        data = read_blob(layout, layer["digest"])
        digests.append(sha(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data))
    return digests
