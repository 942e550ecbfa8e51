"""End to end: a real client (skopeo) pushes to and pulls from the reference server over HTTP, with every kind
of registry credential, and is refused by a Reject quota. CI installs skopeo; without it this test fails."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "quay-harness"


def _free_port() -> int:
    for port in range(18500, 18600):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 18500-18599")


class LiveServer:
    def __init__(self, port: int, data_dir: Path, process: subprocess.Popen[bytes]) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.token = ""

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return httpx.request(method, self.url + path, headers=headers, timeout=30, **kwargs)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    port = _free_port()
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    config = tmp_path / "config.yaml"
    config.write_text("FEATURE_QUOTA_MANAGEMENT: true\nSUPER_USERS: [admin]\n")
    process = subprocess.Popen(
        [str(CLI), "serve", "--port", str(port), "--data-dir", str(data_dir), "--superuser", "admin",
         "--config", str(config)], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    server = LiveServer(port, data_dir, process)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(server.url + "/v2/", timeout=2).status_code == 401:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"reference server did not start on port {port}")
            time.sleep(0.2)
        answer = server.api("POST", "/api/v1/user/initialize", json={
            "username": "admin", "password": "password1", "email": "admin@example.com", "access_token": True})
        assert answer.status_code == 200, answer.text
        server.token = answer.json()["access_token"]
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---- an OCI image layout built from scratch -----------------------------------------------------------------


def _sha(data: bytes) -> str:
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
    return gzip.compress(uncompressed, mtime=0), _sha(uncompressed)


def build_layout(directory: Path, tag: str, seed: str, layer_count: int = 3) -> str:
    """Write an OCI image layout with a multi-layer image under `tag`; returns the manifest digest."""
    blobs = directory / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> str:
        digest = _sha(data)
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


# ---- skopeo ---------------------------------------------------------------------------------------------------


class Skopeo:
    def __init__(self, tmp_path: Path) -> None:
        found = shutil.which("skopeo")
        if found is None:
            pytest.fail("skopeo is not installed: this end-to-end test needs it (apt-get install skopeo)")
        self.binary = found
        self.policy = tmp_path / "policy.json"
        self.policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        # Keep skopeo away from the user's own registry logins and configuration.
        home = tmp_path / "home"
        home.mkdir()
        self.env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
                    "REGISTRY_AUTH_FILE": str(home / "auth.json")}

    def copy(self, source: str, dest: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "--policy", str(self.policy), "copy", "--retry-times", "0", *args,
                               source, dest], capture_output=True, text=True, env=self.env, timeout=60)


def _index_digest(layout: Path) -> str:
    return str(json.loads((layout / "index.json").read_text())["manifests"][0]["digest"])


def test_skopeo_push_and_pull_with_every_credential_and_quota(live: LiveServer, tmp_path: Path) -> None:
    skopeo = Skopeo(tmp_path)
    source = tmp_path / "image"
    pushed = build_layout(source, "v1", "first")
    dest = f"docker://127.0.0.1:{live.port}/admin/app:v1"

    # 1. The user's password; this push creates admin/app.
    done = skopeo.copy(f"oci:{source}:v1", dest, "--dest-tls-verify=false", "--dest-creds", "admin:password1")
    assert done.returncode == 0, done.stderr

    # 2. A robot token, after granting the robot write access.
    robot = live.api("PUT", "/api/v1/user/robots/ci", json={})
    assert robot.status_code == 201, robot.text
    grant = live.api("PUT", "/api/v1/repository/admin/app/permissions/user/admin+ci", json={"role": "write"})
    assert grant.status_code == 200, grant.text
    robot_creds = f"admin+ci:{robot.json()['token']}"
    done = skopeo.copy(f"oci:{source}:v1", dest.replace(":v1", ":robot"), "--dest-tls-verify=false",
                       "--dest-creds", robot_creds)
    assert done.returncode == 0, done.stderr

    # 3. An app-specific token, with the `$app` user name.
    app_token = live.api("POST", "/api/v1/user/apptoken", json={"title": "skopeo"})
    assert app_token.status_code == 200, app_token.text
    app_creds = "$app:" + app_token.json()["token"]["token_code"]
    done = skopeo.copy(f"oci:{source}:v1", dest.replace(":v1", ":app"), "--dest-tls-verify=false",
                       "--dest-creds", app_creds)
    assert done.returncode == 0, done.stderr

    # Pull each tag back out with a different credential; the manifest digest survives the round trip.
    for tag, creds in (("v1", "admin:password1"), ("robot", robot_creds), ("app", app_creds)):
        out = tmp_path / f"pulled-{tag}"
        done = skopeo.copy(dest.replace(":v1", f":{tag}"), f"oci:{out}:{tag}", "--src-tls-verify=false",
                           "--src-creds", creds)
        assert done.returncode == 0, done.stderr
        assert _index_digest(out) == pushed
        for blob in (source / "blobs" / "sha256").iterdir():
            assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()

    tags = live.api("GET", "/api/v1/repository/admin/app").json()
    assert tags["is_public"] is False

    # 4. A Reject limit at the current usage: the next push of new content is refused by quota.
    with sqlite3.connect(live.data_dir / "quay.db") as conn:
        admin_id = conn.execute("SELECT id FROM user WHERE username = 'admin'").fetchone()[0]
        usage = conn.execute("SELECT SUM(size) FROM namespace_blob WHERE namespace_id = ?", (admin_id,)).fetchone()[0]
        assert usage > 0
        quota_id = conn.execute("INSERT INTO namespace_quota (namespace_id, limit_bytes) VALUES (?, ?)",
                                (admin_id, usage)).lastrowid
        conn.execute("INSERT INTO quota_limit (quota_id, type, percent) VALUES (?, 'Reject', 100)", (quota_id,))
    other = tmp_path / "other"
    build_layout(other, "v2", "second")
    refused = skopeo.copy(f"oci:{other}:v2", dest.replace(":v1", ":v2"), "--dest-tls-verify=false",
                          "--dest-creds", "admin:password1")
    assert refused.returncode != 0
    assert "Quota has been exceeded on namespace" in refused.stderr, refused.stderr
