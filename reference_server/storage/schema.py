"""SQLAlchemy Core tables. One schema serves SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

# Users, organizations and robots share one table and one name space, as in Quay.
user = Table(
    "user", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("username", String(255), nullable=False, unique=True),
    Column("email", String(255), nullable=True),
    Column("password_hash", String(255), nullable=True),
    Column("verified", Boolean, nullable=False, default=True),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("organization", Boolean, nullable=False, default=False),
    Column("robot", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("last_accessed", DateTime(timezone=True), nullable=True),
    Column("tag_expiration_s", Integer, nullable=False, default=1209600),
    Column("invoice_email", Boolean, nullable=False, default=False),
    Column("invoice_email_address", String(255), nullable=True),
    Column("description", Text, nullable=False, default=""),
    Column("unstructured_metadata", JSON, nullable=True),
    # Robots: the token is returned again by GET (Quay does), so it is kept encrypted; lookups use the hash.
    Column("robot_token_hash", String(128), nullable=True, index=True),
    Column("robot_token_enc", Text, nullable=True),
    Column("login_failures", Integer, nullable=False, default=0),
)
Index("ix_user_email", user.c.email)

deleted_namespace = Table(
    "deleted_namespace", metadata,
    Column("name", String(255), primary_key=True),
)

team = Table(
    "team", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    UniqueConstraint("org_id", "name"),
)

team_member = Table(
    "team_member", metadata,
    Column("team_id", Integer, ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
)
Index("ix_team_member_user", team_member.c.user_id)

team_invite = Table(
    "team_invite", metadata,
    Column("id", Integer, primary_key=True),
    Column("team_id", Integer, ForeignKey("team.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=True),
    Column("email", String(255), nullable=True),
    Column("inviter_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    Column("code_hash", String(128), nullable=False, unique=True),
)

repository = Table(
    "repository", metadata,
    Column("id", Integer, primary_key=True),
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("visibility", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("kind", String(16), nullable=False, default="image"),
    Column("state", String(32), nullable=False, default="NORMAL"),
    Column("trust_enabled", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("status_token", String(36), nullable=False),
    UniqueConstraint("namespace_id", "name"),
)

repo_permission = Table(
    "repo_permission", metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=True),
    Column("team_id", Integer, ForeignKey("team.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=False),
    UniqueConstraint("repository_id", "user_id", "team_id"),
)
Index("ix_repo_permission_user", repo_permission.c.user_id)
Index("ix_repo_permission_team", repo_permission.c.team_id)

star = Table(
    "star", metadata,
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), primary_key=True),
    Column("created", DateTime(timezone=True), nullable=False),
)

prototype = Table(
    "prototype", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("org_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    Column("activating_user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=True),
    Column("delegate_user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=True),
    Column("delegate_team_id", Integer, ForeignKey("team.id", ondelete="CASCADE"), nullable=True),
    Column("role", String(16), nullable=False),
)

robot_federation = Table(
    "robot_federation", metadata,
    Column("id", Integer, primary_key=True),
    Column("robot_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("issuer", String(512), nullable=False),
    Column("subject", String(512), nullable=False),
)

oauth_application = Table(
    "oauth_application", metadata,
    Column("id", Integer, primary_key=True),
    Column("org_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret_enc", Text, nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("redirect_uri", String(512), nullable=False, default=""),
    Column("application_uri", String(512), nullable=False, default=""),
    Column("avatar_email", String(255), nullable=True),
)

# Bearer tokens: only a keyed hash is stored; the token itself is shown once.
oauth_token = Table(
    "oauth_token", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("token_hash", String(128), nullable=False, unique=True),
    Column("application_id", Integer, ForeignKey("oauth_application.id", ondelete="CASCADE"), nullable=True),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("scope", String(255), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_accessed", DateTime(timezone=True), nullable=True),
    # Set for tokens minted through the organization application tokens API.
    Column("name", String(255), nullable=True),
    Column("created_by_id", Integer, ForeignKey("user.id", ondelete="SET NULL"), nullable=True),
)

assigned_authorization = Table(
    "assigned_authorization", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("application_id", Integer, ForeignKey("oauth_application.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False),
    Column("scope", String(255), nullable=False),
    Column("redirect_uri", String(512), nullable=False, default=""),
    Column("response_type", String(32), nullable=False, default="token"),
)

app_specific_token = Table(
    "app_specific_token", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(255), nullable=False),
    Column("token_hash", String(128), nullable=False, unique=True),
    # GET of one token returns its code again (Quay does), so the code is kept encrypted.
    Column("token_enc", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("expiration", DateTime(timezone=True), nullable=True),
    Column("last_accessed", DateTime(timezone=True), nullable=True),
)

user_notification = Table(
    "user_notification", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("kind", String(64), nullable=False),
    Column("metadata", JSON, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("dismissed", Boolean, nullable=False, default=False),
)

authorized_email = Table(
    "authorized_email", metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(255), nullable=False),
    Column("code_hash", String(128), nullable=False),
    Column("confirmed", Boolean, nullable=False, default=False),
    UniqueConstraint("repository_id", "email"),
)

# Outbound mail is recorded here instead of sent (the reference server has no mail relay).
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("recipient", String(255), nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
    Column("payload", JSON, nullable=False),
)

log_entry = Table(
    "log_entry", metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    Column("kind", String(64), nullable=False),
    Column("account_id", Integer, nullable=True),  # the namespace the entry belongs to
    Column("performer_id", Integer, nullable=True),
    Column("repository_id", Integer, nullable=True),
    Column("ip", String(64), nullable=True),
    Column("datetime", DateTime(timezone=True), nullable=False),
    Column("metadata", JSON, nullable=False),
)
Index("ix_log_account_time", log_entry.c.account_id, log_entry.c.datetime, log_entry.c.id)
Index("ix_log_repo_time", log_entry.c.repository_id, log_entry.c.datetime, log_entry.c.id)
Index("ix_log_performer_time", log_entry.c.performer_id, log_entry.c.datetime, log_entry.c.id)
Index("ix_log_time", log_entry.c.datetime, log_entry.c.id)

# Instance-wide secret material (HMAC key for token hashes, encryption key), made on first start.
instance_secret = Table(
    "instance_secret", metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# ---- registry (/v2): content-addressed blobs, manifests, tags, uploads, quota ----------------------------

# One row per distinct blob; the bytes live on disk under <data_dir>/blobs/sha256/<2 hex>/<hex>.
blob = Table(
    "blob", metadata,
    Column("id", Integer, primary_key=True),
    Column("digest", String(160), nullable=False, unique=True),
    Column("size", BigInteger, nullable=False),
    Column("path", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

# Blobs a repository may serve: uploaded or mounted into it, or referenced by one of its manifests.
repo_blob = Table(
    "repo_blob", metadata,
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(160), primary_key=True),
)

manifest = Table(
    "manifest", metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("digest", String(160), nullable=False),
    Column("media_type", String(255), nullable=False),
    Column("manifest_bytes", Text, nullable=False),
    Column("config_digest", String(160), nullable=True),
    Column("layers_compressed_size", BigInteger, nullable=True),
    Column("is_manifest_list", Boolean, nullable=False, default=False),
    Column("created", DateTime(timezone=True), nullable=False),
    UniqueConstraint("repository_id", "digest"),
)

manifest_blob = Table(
    "manifest_blob", metadata,
    Column("manifest_id", Integer, ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(160), primary_key=True),
)

manifest_child = Table(
    "manifest_child", metadata,
    Column("manifest_id", Integer, ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True),
    Column("child_manifest_id", Integer, ForeignKey("manifest.id", ondelete="CASCADE"), primary_key=True),
)

# One row per tag *version*: moving or deleting a tag ends the live row (lifetime_end_ms), which stays as
# history for the time machine. Times are epoch milliseconds, as in Quay.
tag = Table(
    "tag", metadata,
    Column("id", Integer, primary_key=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("manifest_id", Integer, ForeignKey("manifest.id", ondelete="CASCADE"), nullable=False),
    Column("lifetime_start_ms", BigInteger, nullable=False),
    Column("lifetime_end_ms", BigInteger, nullable=True),
    Column("reversion", Boolean, nullable=False, default=False),
    Column("hidden", Boolean, nullable=False, default=False),
    Column("immutable", Boolean, nullable=False, default=False),
)
# History pages (newest first) and name lookups stay index scans whatever the repository's tag count.
# The API tag list walks this index in its exact sort order, so a page costs the same at any repository size.
Index("ix_tag_repo_start", tag.c.repository_id, tag.c.lifetime_start_ms.desc(), tag.c.name, tag.c.id.desc())
Index("ix_tag_repo_name", tag.c.repository_id, tag.c.name)
# The next expiry in a repository (how long a cached page of live tags stays true).
Index("ix_tag_repo_end", tag.c.repository_id, tag.c.lifetime_end_ms)
Index("ix_tag_manifest", tag.c.manifest_id)

label = Table(
    "label", metadata,
    Column("id", Integer, primary_key=True),
    Column("manifest_id", Integer, ForeignKey("manifest.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("key", String(255), nullable=False),
    Column("value", Text, nullable=False),
    Column("source_type", String(32), nullable=False),
    Column("media_type", String(64), nullable=False),
)

blob_upload = Table(
    "blob_upload", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("byte_count", BigInteger, nullable=False, default=0),
    Column("temp_path", Text, nullable=False),
    Column("created", DateTime(timezone=True), nullable=False),
)

# Exact quota usage: each distinct blob referenced by a manifest in the namespace, counted once.
namespace_blob = Table(
    "namespace_blob", metadata,
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", String(160), primary_key=True),
    Column("size", BigInteger, nullable=False),
)

namespace_quota = Table(
    "namespace_quota", metadata,
    Column("id", Integer, primary_key=True),
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("limit_bytes", BigInteger, nullable=False),
)

quota_limit = Table(
    "quota_limit", metadata,
    Column("id", Integer, primary_key=True),
    Column("quota_id", Integer, ForeignKey("namespace_quota.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("type", String(16), nullable=False),  # "Warning" | "Reject"
    Column("percent", Integer, nullable=False),
)

# ---- policies: auto-prune and tag immutability (storage/policies.py) -------------------------------------

# Auto-prune policies. A namespace policy has no repository; a repository policy names one. `policy` holds
# Quay's config keys: method, value, tag_pattern, tag_pattern_matches.
autoprune_policy = Table(
    "autoprune_policy", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Column("policy", JSON, nullable=False),
)

# Quay's AutoPruneTaskStatus: one queued task per namespace, picked oldest `last_ran_ms` first.
autoprune_task = Table(
    "autoprune_task", metadata,
    Column("id", Integer, primary_key=True),
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("last_ran_ms", BigInteger, nullable=True),
    Column("status", Text, nullable=False, default="queued"),
)

# Immutability policies, same shape; `policy` holds tag_pattern and tag_pattern_matches.
immutability_policy = Table(
    "immutability_policy", metadata,
    Column("id", Integer, primary_key=True),
    Column("uuid", String(36), nullable=False, unique=True),
    Column("namespace_id", Integer, ForeignKey("user.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("repository_id", Integer, ForeignKey("repository.id", ondelete="CASCADE"), nullable=True,
           index=True),
    Column("policy", JSON, nullable=False),
)

# The superuser panel's registry size: a single row, rewritten by every calculation (Quay's QuotaRegistrySize).
registry_size = Table(
    "registry_size", metadata,
    Column("id", Integer, primary_key=True),
    Column("size_bytes", BigInteger, nullable=False, default=0),
    Column("running", Boolean, nullable=False, default=False),
    Column("queued", Boolean, nullable=False, default=False),
    Column("completed_ms", BigInteger, nullable=True),
)

# Audit entries keep the ids of namespaces, repositories and tags. PostgreSQL sequences never reuse an id, but
# SQLite hands a deleted row's id to the next insert unless AUTOINCREMENT is asked for, which would attach an
# old repository's history to a new one.
for _table in (user, repository, team, manifest, tag):
    _table.dialect_options["sqlite"]["autoincrement"] = True
