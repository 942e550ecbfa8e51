"""The tag API: history list and its paging/filters, create/move/expire/lock, delete, restore, time machine,
pull statistics, the write guards, and getRepo/listRepos tag fields."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime
from typing import Any

import pytest

import reference_server.api.tag as tag_api
import reference_server.app as app_module
from reference_server.config import ConfigError
from tests.conftest import Server
from tests.test_registry import image, put_manifest, registry_token

TAGS = "/api/v1/repository/admin/app/tag/"


def tag_url(name: str) -> str:
    return f"/api/v1/repository/admin/app/tag/{name}"


def push(server: Server, tags: list[str], label: str = "x") -> str:
    """Push one small image to admin/app under each tag; return its manifest digest."""
    token = registry_token(server, "repository:admin/app:push,pull")
    manifest, manifest_digest = image(server, "admin/app", token, [f"layer-{label}".encode()], label=label)
    for ref in tags or [manifest_digest]:
        assert put_manifest(server, "admin/app", ref, token, manifest).status_code == 201
    return manifest_digest


def logs(server: Server, kind: str) -> list[dict[str, Any]]:
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        rows = db.logs_for(repository_id=repo.id, limit=200)
    return [dict(r._mapping["metadata"]) for r in rows if r._mapping["kind"] == kind]


def listing(server: Server, **params: Any) -> Any:
    answer = server.call("GET", TAGS, server.admin_token, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_list_shows_each_version_newest_first_with_quays_fields(server: Server) -> None:
    first = push(server, ["v1"], "a")
    time.sleep(0.002)
    second = push(server, ["v2"], "b")
    body = listing(server)
    assert body["page"] == 1 and body["has_additional"] is False
    assert [t["name"] for t in body["tags"]] == ["v2", "v1"]
    item = body["tags"][0]
    assert set(item) == {"name", "reversion", "start_ts", "manifest_digest", "is_manifest_list", "size",
                         "last_modified"}
    assert item["manifest_digest"] == second and body["tags"][1]["manifest_digest"] == first
    assert item["reversion"] is False and item["is_manifest_list"] is False
    assert abs(item["start_ts"] - time.time()) < 60  # epoch seconds, not milliseconds
    assert int(parsedate_to_datetime(item["last_modified"]).timestamp()) == item["start_ts"]
    assert item["last_modified"].endswith("-0000")
    assert item["size"] == len(b"layer-b")


def test_page_and_limit_are_clamped_and_has_additional_is_computed(server: Server) -> None:
    for n in range(3):
        push(server, [f"t{n}"], str(n))
        time.sleep(0.002)
    page1 = listing(server, limit=2)
    assert [t["name"] for t in page1["tags"]] == ["t2", "t1"] and page1["has_additional"] is True
    page2 = listing(server, limit=2, page=2)
    assert [t["name"] for t in page2["tags"]] == ["t0"] and page2["has_additional"] is False
    assert listing(server, limit=0)["tags"][0]["name"] == "t2" and len(listing(server, limit=0)["tags"]) == 1
    assert len(listing(server, limit=1000)["tags"]) == 3
    low = listing(server, page=-4, limit=1)
    assert low["page"] == 1 and low["tags"][0]["name"] == "t2"


def test_filters_specific_tag_and_bad_filter_syntax(server: Server) -> None:
    push(server, ["alpha", "Beta-1", "beta_2"])
    assert sorted(t["name"] for t in listing(server, filter_tag_name="like:BETA")["tags"]) == ["Beta-1", "beta_2"]
    assert [t["name"] for t in listing(server, filter_tag_name="like:_")["tags"]] == ["beta_2"]  # not a wildcard
    assert [t["name"] for t in listing(server, filter_tag_name="eq:alpha")["tags"]] == ["alpha"]
    assert len(listing(server, filter_tag_name="regex:a")["tags"]) == 3  # an unknown operation filters nothing
    assert [t["name"] for t in listing(server, specificTag="alpha")["tags"]] == ["alpha"]
    bad = server.call("GET", TAGS, server.admin_token, params={"filter_tag_name": "alpha"})
    assert bad.status_code == 400 and bad.json()["message"].startswith("Unsupported syntax for filter_tag_name")


def test_create_and_move_a_tag_log_and_keep_history(server: Server) -> None:
    first = push(server, ["v1"], "a")
    second = push(server, ["v2"], "b")
    created = server.call("PUT", tag_url("copy"), server.admin_token, json={"manifest_digest": first})
    assert created.status_code == 201 and created.json() == "Updated"
    moved = server.call("PUT", tag_url("copy"), server.admin_token, json={"manifest_digest": second})
    assert moved.status_code == 201
    [create_log] = logs(server, "create_tag")
    assert create_log["tag"] == "copy" and create_log["manifest_digest"] == first
    assert create_log["original_manifest_digest"] is None and create_log["username"] == "admin"
    [move_log] = logs(server, "move_tag")
    assert move_log["original_manifest_digest"] == first and move_log["manifest_digest"] == second
    history = [t for t in listing(server, specificTag="copy")["tags"]]
    assert [t["manifest_digest"] for t in history] == [second, first]
    assert "end_ts" in history[1] and "expiration" in history[1] and "end_ts" not in history[0]
    active = listing(server, specificTag="copy", onlyActiveTags=True)["tags"]
    assert [t["manifest_digest"] for t in active] == [second]


def test_a_tag_moves_only_to_a_manifest_a_live_tag_reaches_and_restore_brings_back_the_rest(server: Server) -> None:
    """Quay looks the manifest of changeTag up among those a live, visible tag reaches: one pushed by digest (kept
    only by a hidden temporary tag) or left only by ended tags is 404; restoreTag takes either."""
    by_digest = push(server, [], "b")
    assert server.call("PUT", tag_url("t"), server.admin_token, json={"manifest_digest": by_digest}).status_code == 404
    old = push(server, ["v1"], "a")
    assert server.call("DELETE", tag_url("v1"), server.admin_token).status_code == 204
    assert server.call("PUT", tag_url("t"), server.admin_token, json={"manifest_digest": old}).status_code == 404
    restored = server.call("POST", tag_url("v1") + "/restore", server.admin_token, json={"manifest_digest": old})
    assert restored.status_code == 200
    assert server.call("PUT", tag_url("t"), server.admin_token, json={"manifest_digest": old}).status_code == 201


def test_change_tag_refusals(server: Server) -> None:
    push(server, ["v1"])
    bad_name = server.call("PUT", tag_url("-bad"), server.admin_token, json={"manifest_digest": "sha256:00"})
    assert bad_name.status_code == 400 and bad_name.json()["message"].startswith("Invalid tag:")
    missing = server.call("PUT", tag_url("new"), server.admin_token, json={"manifest_digest": "sha256:" + "0" * 64})
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    no_body = server.call("PUT", tag_url("v1"), server.admin_token)
    assert no_body.status_code == 400 and no_body.json()["detail"] == "Missing JSON body"
    past = server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": time.time() - 10})
    assert past.status_code == 400 and "message" in past.json()
    unknown = server.call("PUT", tag_url("nope"), server.admin_token, json={"expiration": time.time() + 7200})
    assert unknown.status_code == 404


def test_expiration_is_set_clamped_and_cleared(server: Server) -> None:
    push(server, ["v1"])
    start = listing(server)["tags"][0]["start_ts"]
    wanted = int(time.time()) + 86400
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": wanted}).status_code == 201
    item = listing(server, onlyActiveTags=True)["tags"][0]
    assert abs(item["end_ts"] - wanted) <= 1 and "expiration" in item
    # Too soon is raised to one hour after the tag's start (Quay's minimum).
    soon = int(time.time()) + 5
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": soon}).status_code == 201
    assert listing(server, onlyActiveTags=True)["tags"][0]["end_ts"] == start + 3600
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": None}).status_code == 201
    assert "end_ts" not in listing(server, onlyActiveTags=True)["tags"][0]
    kinds = logs(server, "change_tag_expiration")
    assert len(kinds) == 3 and kinds[-1]["expiration_date"] == wanted


def test_delete_is_soft_and_restore_brings_the_tag_back(server: Server) -> None:
    digest = push(server, ["v1"])
    assert server.call("DELETE", tag_url("v1"), server.admin_token).status_code == 204
    assert listing(server, onlyActiveTags=True)["tags"] == []
    [dead] = listing(server)["tags"]
    assert "end_ts" in dead and "expiration" in dead
    assert server.call("DELETE", tag_url("v1"), server.admin_token).status_code == 404
    deleted = logs(server, "delete_tag")[0]
    assert {k: deleted[k] for k in ("username", "repo", "namespace", "tag")} == {
        "username": "admin", "repo": "app", "namespace": "admin", "tag": "v1"}
    assert deleted["oauth_token_application"] == "automation"  # OAuth callers' entries name the application
    missing = server.call("POST", tag_url("v1") + "/restore", server.admin_token, json={})
    assert missing.status_code == 400 and missing.json()["detail"] == "Missing manifest_digest"
    restored = server.call("POST", tag_url("v1") + "/restore", server.admin_token, json={"manifest_digest": digest})
    assert restored.status_code == 200 and restored.json() == {}
    [alive] = listing(server, onlyActiveTags=True)["tags"]
    assert alive["reversion"] is True and alive["manifest_digest"] == digest
    assert logs(server, "revert_tag")[0]["manifest_digest"] == digest
    gone = server.call("POST", tag_url("v1") + "/restore", server.admin_token,
                       json={"manifest_digest": "sha256:" + "1" * 64})
    assert gone.status_code == 404


def test_immutable_tags_refuse_changes_and_unlocking_needs_admin(make_server: Any) -> None:
    server = make_server({"FEATURE_IMMUTABLE_TAGS": True})
    digest = push(server, ["v1"])
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"immutable": True}).status_code == 201
    assert listing(server)["tags"][0]["immutable"] is True
    assert logs(server, "change_tag_immutability")[0]["immutable"] is True
    refused = server.call("DELETE", tag_url("v1"), server.admin_token)
    assert refused.status_code == 409 and refused.json()["error_type"] == "tag_immutable"
    move = server.call("PUT", tag_url("v1"), server.admin_token, json={"manifest_digest": digest})
    assert move.status_code == 409
    restore = server.call("POST", tag_url("v1") + "/restore", server.admin_token, json={"manifest_digest": digest})
    assert restore.status_code == 409
    expire = server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": time.time() + 7200})
    assert expire.status_code == 400 and "immutable" in expire.json()["message"]
    writer = server.make_user("writer")
    with server.storage.transaction() as db:
        repo, user = db.repository("admin", "app"), db.user_by_name("writer")
        assert repo is not None and user is not None
        db.set_repo_user_grant(repo.id, user.id, "write")
    unlock = server.call("PUT", tag_url("v1"), writer, json={"immutable": False})
    assert unlock.status_code == 403
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"immutable": False}).status_code == 201
    assert server.call("DELETE", tag_url("v1"), server.admin_token).status_code == 204


def test_writes_need_write_permission_a_normal_repository_and_an_unrestricted_user(make_server: Any) -> None:
    server = make_server({"FEATURE_RESTRICTED_USERS": True, "RESTRICTED_USERS_WHITELIST": ["admin"]})
    digest = push(server, ["v1"])
    outsider = server.make_user("outsider")
    assert server.call("GET", TAGS, outsider).status_code == 403
    assert server.call("GET", TAGS).status_code == 401
    assert server.call("DELETE", tag_url("v1"), outsider).status_code == 403
    # Permission comes first: a bad body from an outsider is still 403.
    assert server.call("PUT", tag_url("v1"), outsider, json={"expiration": "soon"}).status_code == 403
    with server.storage.transaction() as db:
        repo = db.repository("admin", "app")
        assert repo is not None
        db.update_repository(repo.id, state="READ_ONLY")
    frozen = server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": "not a number"})
    assert frozen.status_code == 503
    assert frozen.json() == {"message": "Repository is in read only or mirror mode: RepositoryState.READ_ONLY"}
    assert server.call("GET", TAGS, server.admin_token).status_code == 200
    # A restricted (not whitelisted) user cannot change tags in their own namespace.
    carol = server.make_user("carol")
    with server.storage.transaction() as db:
        user = db.user_by_name("carol")
        assert user is not None
        own = db.create_repository(user, "app", visibility="private", description="", kind="image")
        db.set_repo_user_grant(own.id, user.id, "admin")
    refused = server.call("PUT", "/api/v1/repository/carol/app/tag/v1", carol, json={"manifest_digest": digest})
    assert refused.status_code == 403
    assert refused.json() == {"message": "Operation not allowed on restricted user owned namespace"}


def test_time_machine_removal_exists_only_when_configured(make_server: Any) -> None:
    plain = make_server()
    push(plain, ["v1"])
    assert plain.call("POST", tag_url("v1") + "/expire", plain.admin_token, json={}).status_code in (404, 405)
    server = make_server({"PERMANENTLY_DELETE_TAGS": True})
    digest = push(server, ["v1"])
    assert server.call("DELETE", tag_url("v1"), server.admin_token).status_code == 204
    need_digest = server.call("POST", tag_url("v1") + "/expire", server.admin_token, json={"is_alive": False})
    assert need_digest.status_code == 400
    done = server.call("POST", tag_url("v1") + "/expire", server.admin_token, json={"manifest_digest": digest})
    assert done.status_code == 200
    [row] = listing(server)["tags"]
    assert row["end_ts"] < time.time() - 1209600 + 60  # pushed beyond the two-week window
    again = server.call("POST", tag_url("v1") + "/expire", server.admin_token, json={"manifest_digest": digest})
    assert again.status_code == 404
    push(server, ["v2"])
    alive = server.call("POST", tag_url("v2") + "/expire", server.admin_token, json={"is_alive": True})
    assert alive.status_code == 200 and listing(server, onlyActiveTags=True)["tags"] == []
    assert len(logs(server, "permanently_delete_tag")) == 2


def test_pull_statistics_count_audited_pulls(make_server: Any) -> None:
    server = make_server({"FEATURE_IMAGE_PULL_STATS": True})
    digest = push(server, ["v1"])
    token = registry_token(server, "repository:admin/app:pull")
    for _ in range(2):
        assert server.client.get("/v2/admin/app/manifests/v1", headers={"Authorization": f"Bearer {token}"}
                                 ).status_code == 200
    assert server.client.get(f"/v2/admin/app/manifests/{digest}", headers={"Authorization": f"Bearer {token}"}
                             ).status_code == 200
    stats = server.call("GET", tag_url("v1") + "/pull_statistics", server.admin_token).json()
    assert stats["tag_name"] == "v1" and stats["tag_pull_count"] == 2
    assert stats["current_manifest_digest"] == digest and stats["manifest_pull_count"] == 1
    assert stats["last_tag_pull_date"].endswith("Z")
    assert server.call("GET", tag_url("nope") + "/pull_statistics", server.admin_token).status_code == 404


def test_get_repo_tags_map_and_list_repos_last_modified(server: Server) -> None:
    digest = push(server, ["v1", "v2"])
    assert server.call("DELETE", tag_url("v2"), server.admin_token).status_code == 204
    repo = server.call("GET", "/api/v1/repository/admin/app", server.admin_token).json()
    assert set(repo["tags"]) == {"v1"}
    assert repo["tags"]["v1"]["manifest_digest"] == digest and repo["tags"]["v1"]["size"] == len(b"layer-x")
    assert "last_modified" in repo["tags"]["v1"]
    no_tags = server.call("GET", "/api/v1/repository/admin/app", server.admin_token,
                          params={"includeTags": "false"}).json()
    assert "tags" not in no_tags
    listed = server.call("GET", "/api/v1/repository", server.admin_token,
                         params={"namespace": "admin", "last_modified": "true"}).json()["repositories"]
    assert listed[0]["last_modified"] == listing(server, specificTag="v1")["tags"][0]["start_ts"]


def test_cached_pages_follow_writes_and_expiry_without_a_write(server: Server, monkeypatch: Any) -> None:
    """Rendered tag pages are shared between read requests; a write, or the first expiry among the live tags,
    must end that sharing (an expiry happens with no request at all)."""
    push(server, ["v1", "v2"])
    assert [t["name"] for t in listing(server, onlyActiveTags=True)["tags"]] == ["v2", "v1"]
    wanted = int(time.time()) + 86400
    assert server.call("PUT", tag_url("v1"), server.admin_token, json={"expiration": wanted}).status_code == 201
    first = listing(server, onlyActiveTags=True)
    assert [t["name"] for t in first["tags"]] == ["v2", "v1"] and first["tags"][1]["end_ts"] == wanted
    assert listing(server, onlyActiveTags=True) == first  # served again, from the cache or not
    history = listing(server)
    # A day and a second later v1 has expired by itself: the live listing drops it, the history keeps it.
    later = tag_api.now_ms() + 86_401_000
    monkeypatch.setattr(tag_api, "now_ms", lambda: later)
    monkeypatch.setattr(app_module, "now_ms", lambda: later)  # the clock of shared whole answers
    assert [t["name"] for t in listing(server, onlyActiveTags=True)["tags"]] == ["v2"]
    assert listing(server) == history
    # A write (a new tag) shows at once on every cached page.
    monkeypatch.undo()
    push(server, ["v3"], "c")
    assert [t["name"] for t in listing(server, onlyActiveTags=True)["tags"]] == ["v3", "v2", "v1"]
    assert listing(server)["tags"][0]["name"] == "v3"


def test_the_read_cache_can_be_switched_off(make_server: Any) -> None:
    with pytest.raises(ConfigError, match="REFERENCE_READ_CACHE"):
        make_server({"REFERENCE_READ_CACHE": "no"})
    server = make_server({"REFERENCE_READ_CACHE": False})
    assert server.storage.read_cache.enabled is False
    push(server, ["v1"])
    assert [t["name"] for t in listing(server)["tags"]] == ["v1"]
    push(server, ["v2"], "b")
    assert [t["name"] for t in listing(server)["tags"]] == ["v2", "v1"]
