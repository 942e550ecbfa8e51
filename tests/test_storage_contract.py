"""One contract every storage backend passes: SQLite always, PostgreSQL when QH_TEST_PG_URL names a server
(the `storage` fixture in conftest.py)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from reference_server.auth.scopes import RepoRole, TeamRole
from reference_server.storage import Storage
from reference_server.storage import schema as t
from reference_server.storage.base import new_uuid, now


def test_backend_is_the_one_asked_for(storage: Storage, request: pytest.FixtureRequest) -> None:
    assert storage.backend == request.node.callspec.params["storage"]


def test_namespaces_share_one_name_space(storage: Storage) -> None:
    with storage.transaction() as db:
        db.create_namespace("alice", email="a@example.com", password="password1")
        db.create_namespace("acme", email=None, organization=True)
    with storage.transaction() as db:
        assert db.name_taken("alice") and db.name_taken("acme") and not db.name_taken("bob")
        alice = db.user_by_name("alice")
        assert alice is not None and alice.has_password and not alice.organization
        assert db.user_by_uuid(alice.uuid) == alice
        assert db.user_by_email("a@example.com") == alice


def test_failed_transaction_leaves_nothing_behind(storage: Storage) -> None:
    with pytest.raises(RuntimeError), storage.transaction() as db:
        db.create_namespace("ghost", email=None)
        raise RuntimeError("handler failed")
    with storage.transaction() as db:
        assert db.user_by_name("ghost") is None


def test_bearer_tokens_are_stored_as_hashes_and_expire(storage: Storage) -> None:
    with storage.transaction() as db:
        user = db.create_namespace("alice", email=None)
        token, _ = db.create_oauth_token(user, "repo:read", None)
        expired, _ = db.create_oauth_token(user, "repo:read", None, expires_at=now() - timedelta(seconds=1))
    with storage.transaction() as db:
        stored = [r[0] for r in db.conn.execute(select(t.oauth_token.c.token_hash)).all()]
        assert token not in stored and storage.secrets.token_hash(token) in stored
        found = db.oauth_token_owner(token)
        assert found is not None and found[1].username == "alice"
        assert db.oauth_token_owner(expired) is None
        assert db.oauth_token_owner("x" * 40) is None


def test_grants_combine_direct_team_and_namespace_roles(storage: Storage) -> None:
    with storage.transaction() as db:
        org = db.create_namespace("acme", email=None, organization=True)
        alice = db.create_namespace("alice", email=None)
        bob = db.create_namespace("bob", email=None)
        repo_id = db.conn.execute(insert(t.repository).values(
            namespace_id=org.id, name="app", visibility="private", description="", kind="image",
            state="NORMAL", trust_enabled=False, created=now(), status_token=new_uuid())).inserted_primary_key[0]
        team_id = db.conn.execute(insert(t.team).values(org_id=org.id, name="readers", role="member",
                                                        description="")).inserted_primary_key[0]
        db.conn.execute(insert(t.team_member).values(team_id=team_id, user_id=bob.id))
        db.conn.execute(insert(t.repo_permission).values(repository_id=repo_id, team_id=team_id, role="read"))
        db.conn.execute(insert(t.repo_permission).values(repository_id=repo_id, user_id=alice.id, role="write"))
    with storage.transaction() as db:
        repo = db.repository("acme", "app")
        assert repo is not None and repo.namespace_is_org and not repo.is_public
        assert db.grants(alice, org, repo).repo_role == RepoRole.WRITE
        bob_grants = db.grants(bob, org, repo)
        assert bob_grants.repo_role == RepoRole.READ and bob_grants.team_role == TeamRole.MEMBER
        assert db.grants(org, org, repo).own_namespace


def test_audit_log_entries_round_trip(storage: Storage) -> None:
    with storage.transaction() as db:
        user = db.create_namespace("alice", email=None)
        db.write_log("create_repo", account_id=user.id, performer_id=user.id, repository_id=None,
                     ip="127.0.0.1", metadata={"repo": "app", "namespace": "alice"})
    with storage.transaction() as db:
        rows = db.logs_for(account_id=user.id)
        assert [(r.kind, r.metadata) for r in rows] == [("create_repo", {"repo": "app", "namespace": "alice"})]


def test_instance_secrets_survive_a_restart(tmp_path: Path) -> None:
    first = Storage.open(None, tmp_path)
    digest = first.secrets.token_hash("abc")
    first.close()
    again = Storage.open(None, tmp_path)
    assert again.secrets.token_hash("abc") == digest
    again.close()


def test_servers_making_an_instance_secret_at_once_agree_on_the_first_stored(storage: Storage) -> None:
    # Regression: two servers started together on a new database both made the registry's signing key and the
    # second one died on the unique name.
    def make_while_another_server_stores_its_own() -> str:
        assert storage.instance_secret("race", lambda: "theirs") == "theirs"  # the other one inserts first
        return "ours"

    assert storage.instance_secret("race", make_while_another_server_stores_its_own) == "theirs"
    assert storage.instance_secret("race", lambda: "never made") == "theirs"


def test_token_owner_is_the_tokens_user_not_a_row_with_the_tokens_id(storage: Storage) -> None:
    # Regression: an unlabelled token id once shadowed the user id, so a token acted as another account.
    with storage.transaction() as db:
        users = [db.create_namespace(f"user{i}", email=None) for i in range(3)]
        tokens = [db.create_oauth_token(users[2], "repo:read", None)[0] for _ in range(2)]
    with storage.transaction() as db:
        for token in tokens:
            found = db.oauth_token_owner(token)
            assert found is not None
            assert (found[1].id, found[1].username) == (users[2].id, "user2")
