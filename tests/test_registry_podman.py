"""End to end: a real client (podman) pushes to and pulls from the reference server over HTTP, with every kind of
registry credential, and is refused by a Reject quota. CI installs podman; without it this test fails.

Podman runs as a plain command here: no daemon, no systemd, no journald, nothing of the machine's own container
configuration or image store. Each `Podman` has its own containers.conf, storage.conf (vfs driver, so no overlay
mounts or fuse are needed), registries.conf and signature policy under the test's temporary directory; pulls go
into a fresh store each, so every blob really comes over the wire. Secrets reach podman on stdin
(`login --password-stdin`) into an auth file per credential, never on a command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.registry_e2e import (
    QUOTA_EXCEEDED,
    LiveServer,
    build_layout,
    image_parts,
    live_server,
    read_blob,
    reject_beyond_current_usage,
    uncompressed_layer_digests,
)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(tmp_path) as server:
        yield server


class Podman:
    """podman with a throwaway configuration and image store under `base`."""

    def __init__(self, base: Path) -> None:
        found = shutil.which("podman")
        if found is None:
            pytest.fail("podman is not installed: this end-to-end test needs it (apt-get install podman)")
        self.binary = found
        home = base / "home"
        (home / ".config" / "containers").mkdir(parents=True)
        # Found through $HOME before /etc/containers/policy.json, so the machine's policy does not matter.
        (home / ".config" / "containers" / "policy.json").write_text(
            json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
        tmp = base / "tmp"
        tmp.mkdir()

        def toml(value: Path) -> str:
            return json.dumps(str(value))  # a JSON string is a valid TOML basic string

        # No systemd here: cgroupfs instead of the systemd cgroup manager, events to a file instead of journald.
        # File locks instead of the shared-memory segment /dev/shm/libpod_lock every root podman shares.
        (base / "containers.conf").write_text(
            "[engine]\n"
            'cgroup_manager = "cgroupfs"\n'
            'events_logger = "file"\n'
            f"events_logfile_path = {toml(base / 'events.log')}\n"
            'lock_type = "file"\n'
            f"tmp_dir = {toml(base / 'libpod')}\n"
            f"image_copy_tmp_dir = {toml(tmp)}\n")
        (base / "storage.conf").write_text(
            "[storage]\n"
            'driver = "vfs"\n'
            f"graphroot = {toml(base / 'root')}\n"
            f"runroot = {toml(base / 'runroot')}\n")
        (base / "registries.conf").write_text("")  # only fully qualified names; no search registries
        env = {**os.environ, "HOME": str(home), "XDG_RUNTIME_DIR": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
               "TMPDIR": str(tmp), "CONTAINERS_CONF": str(base / "containers.conf"),
               "CONTAINERS_STORAGE_CONF": str(base / "storage.conf"),
               "CONTAINERS_REGISTRIES_CONF": str(base / "registries.conf")}
        env.pop("REGISTRY_AUTH_FILE", None)  # every registry command names its auth file
        self.env = env

    def run(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, *args], input=stdin, capture_output=True, text=True, env=self.env,
                              timeout=60)

    def check(self, *args: str, stdin: str | None = None) -> str:
        done = self.run(*args, stdin=stdin)
        assert done.returncode == 0, f"podman {args[0]} failed:\n{done.stderr}"
        return done.stdout.strip()

    def load(self, layout: Path, tag: str) -> str:
        """Bring an OCI layout's image into this store; returns its image ID (the config digest)."""
        return self.check("pull", "--quiet", f"oci:{layout}:{tag}").splitlines()[-1]

    def login(self, registry: str, username: str, secret: str, authfile: Path) -> Path:
        # The http registry: --tls-verify=false lets podman fall back from https to plain http on 127.0.0.1.
        self.check("login", "--authfile", str(authfile), "--tls-verify=false", "--username", username,
                   "--password-stdin", registry, stdin=secret)
        return authfile

    def push(self, image: str, dest: str, authfile: Path, digestfile: Path) -> subprocess.CompletedProcess[str]:
        return self.run("push", "--authfile", str(authfile), "--tls-verify=false", "--digestfile", str(digestfile),
                        image, dest)

    def pull(self, ref: str, authfile: Path) -> str:
        return self.check("pull", "--quiet", "--authfile", str(authfile), "--tls-verify=false", ref).splitlines()[-1]

    def inspect(self, ref: str) -> dict[str, Any]:
        found: list[dict[str, Any]] = json.loads(self.check("image", "inspect", ref))
        return found[0]


def test_podman_push_and_pull_with_every_credential_and_quota(live: LiveServer, tmp_path: Path) -> None:
    local = Podman(tmp_path / "local")
    source = tmp_path / "image"
    build_layout(source, "v1", "first")
    config_digest, diff_ids = image_parts(source)
    image_id = local.load(source, "v1")
    assert f"sha256:{image_id}" == config_digest
    repo = f"{live.registry}/admin/app"

    def push(auth: Path, tag: str) -> str:
        digestfile = tmp_path / f"digest-{tag}"
        done = local.push(image_id, f"{repo}:{tag}", auth, digestfile)
        assert done.returncode == 0, done.stderr
        return digestfile.read_text().strip()

    # 1. The user's password; this push creates admin/app.
    auths = {"v1": local.login(live.registry, "admin", "password1", tmp_path / "auth-user.json")}
    pushed = {"v1": push(auths["v1"], "v1")}

    # 2. A robot token, after granting the robot write access.
    robot = live.api("PUT", "/api/v1/user/robots/ci", json={})
    assert robot.status_code == 201, robot.text
    grant = live.api("PUT", "/api/v1/repository/admin/app/permissions/user/admin+ci", json={"role": "write"})
    assert grant.status_code == 200, grant.text
    auths["robot"] = local.login(live.registry, "admin+ci", robot.json()["token"], tmp_path / "auth-robot.json")
    pushed["robot"] = push(auths["robot"], "robot")

    # 3. An app-specific token, with the `$app` user name.
    app_token = live.api("POST", "/api/v1/user/apptoken", json={"title": "podman"})
    assert app_token.status_code == 200, app_token.text
    auths["app"] = local.login(live.registry, "$app", app_token.json()["token"]["token_code"],
                               tmp_path / "auth-app.json")
    pushed["app"] = push(auths["app"], "app")

    for tag, digest in pushed.items():
        assert live.tag_digest("admin/app", tag) == digest

    # Pull each tag back out with its credential into an empty store: same manifest, config and layer contents.
    # (podman recompresses layers on push, so compare layers uncompressed, against the config's diff_ids.)
    for tag, auth in auths.items():
        puller = Podman(tmp_path / f"pull-{tag}")
        assert f"sha256:{puller.pull(f'{repo}:{tag}', auth)}" == config_digest
        assert puller.inspect(f"{repo}:{tag}")["Digest"] == pushed[tag]
        saved = tmp_path / f"saved-{tag}"
        puller.check("save", "--format", "oci-dir", "--output", str(saved), f"{repo}:{tag}")
        assert image_parts(saved) == (config_digest, diff_ids)
        assert read_blob(saved, config_digest) == read_blob(source, config_digest)
        assert uncompressed_layer_digests(saved) == diff_ids

    # 4. A Reject limit at the current usage: the next push of new content is refused by quota, and no tag appears.
    reject_beyond_current_usage(live, "admin")
    other = tmp_path / "other"
    build_layout(other, "v2", "second")
    refused = local.push(local.load(other, "v2"), f"{repo}:v2", auths["v1"], tmp_path / "digest-v2")
    assert refused.returncode != 0
    assert f"denied: {QUOTA_EXCEEDED}" in refused.stderr, refused.stderr
    assert live.tag_digest("admin/app", "v2") is None
