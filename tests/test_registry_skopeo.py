"""End to end: a real client (skopeo) pushes to and pulls from the reference server over HTTP, with every kind
of registry credential, and is refused by a Reject quota. CI installs skopeo; without it this test fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.registry_e2e import (
    QUOTA_EXCEEDED,
    LiveServer,
    build_layout,
    index_digest,
    live_server,
    reject_beyond_current_usage,
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as server:
        yield server


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
        assert index_digest(out) == pushed
        for blob in (source / "blobs" / "sha256").iterdir():
            assert (out / "blobs" / "sha256" / blob.name).read_bytes() == blob.read_bytes()

    tags = live.api("GET", "/api/v1/repository/admin/app").json()
    assert tags["is_public"] is False

    # 4. A Reject limit at the current usage: the next push of new content is refused by quota.
    reject_beyond_current_usage(live, "admin")
    other = tmp_path / "other"
    build_layout(other, "v2", "second")
    refused = skopeo.copy(f"oci:{other}:v2", dest.replace(":v1", ":v2"), "--dest-tls-verify=false",
                          "--dest-creds", "admin:password1")
    assert refused.returncode != 0
    assert QUOTA_EXCEEDED in refused.stderr, refused.stderr
