"""Server configuration read from a Quay-style config.yaml. Keys and defaults follow Quay's names."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# FEATURE_* switches and Quay's default for each. Unknown FEATURE_ keys in a config file are kept too.
FEATURE_DEFAULTS: dict[str, bool] = {
    "SUPER_USERS": True,
    "SUPERUSERS_FULL_ACCESS": False,
    "SUPERUSERS_ORG_CREATION_ONLY": False,
    "ANONYMOUS_ACCESS": True,
    "MAILING": True,
    "USER_CREATION": True,
    "DIRECT_LOGIN": True,
    "APP_SPECIFIC_TOKENS": True,
    "AGGREGATED_LOG_COUNT_RETRIEVAL": True,
    "LOG_EXPORT": True,
    "ASSIGN_OAUTH_TOKEN": True,
    "EXTENDED_REPOSITORY_NAMES": True,
    "CHANGE_TAG_EXPIRATION": True,
    "LIBRARY_SUPPORT": True,
    "PARTIAL_USER_AUTOCOMPLETE": True,
    "REQUIRE_TEAM_INVITE": True,
    "ORG_SHARED_EMAIL": False,
    "RESTRICTED_USERS": False,
    "PROGRAMMATIC_BOOTSTRAP": False,
    "BILLING": False,
    "RH_MARKETPLACE": False,
    "REPO_MIRROR": False,
    "ORG_MIRROR": False,
    "PROXY_CACHE": False,
    "QUOTA_MANAGEMENT": False,
    "EDIT_QUOTA": True,
    "VERIFY_QUOTA": True,
    "QUOTA_NOTIFICATIONS": False,
    "AUTO_PRUNE": False,
    "IMMUTABLE_TAGS": False,
    "SIGNING": False,
    "SECURITY_SCANNER": False,
    "TEAM_SYNCING": False,
    "IMAGE_PULL_STATS": False,
    "BUILD_SUPPORT": False,
    # Quay's key is PERMANENTLY_DELETE_TAGS, without the FEATURE_ prefix; from_mapping reads it.
    "PERMANENTLY_DELETE_TAGS": False,
    # Quay ships this off; the reference server turns it on so an empty server can be bootstrapped over
    # HTTP. Set FEATURE_USER_INITIALIZE: false to mirror Quay exactly.
    "USER_INITIALIZE": True,
}

# The Quay release whose API and behaviour the server follows (Quay's code at the commit the API notes were read
# from is later than this release, which its own changelog does not name yet). GET /config reports it.
QUAY_RELEASE = "3.18.0"

TAG_EXPIRATION_OPTIONS = ("0s", "1d", "1w", "2w", "4w")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_seconds(text: str) -> int:
    return int(text[:-1]) * _UNIT[text[-1]]


class ConfigError(ValueError):
    """A config file that cannot be used; the message names the key."""


@dataclass
class ServerConfig:
    server_hostname: str = "localhost"
    preferred_url_scheme: str = "http"
    features: dict[str, bool] = field(default_factory=lambda: dict(FEATURE_DEFAULTS))
    super_users: list[str] = field(default_factory=list)
    global_readonly_super_users: list[str] = field(default_factory=list)
    restricted_users_whitelist: list[str] | None = None
    fresh_login_timeout_s: int = 600
    tag_expiration_options: tuple[str, ...] = TAG_EXPIRATION_OPTIONS
    default_tag_expiration: str = "2w"
    app_specific_token_expiration_s: int | None = None
    registry_title: str = "Quay"
    # Ours, not Quay's: whether read requests share lookups and rendered pages (benchmarks switch it off to
    # measure the database path).
    read_cache: bool = True
    # Ours: argon2id at its lowest cost, for throwaway servers (the harness's own); never where passwords matter.
    fast_password_hashing: bool = False
    raw: dict[str, Any] = field(default_factory=dict)

    def feature(self, name: str) -> bool:
        return self.features.get(name, False)

    def is_superuser(self, username: str) -> bool:
        return self.feature("SUPER_USERS") and username in self.super_users and \
            username not in self.global_readonly_super_users

    def is_global_readonly(self, username: str) -> bool:
        return username in self.global_readonly_super_users

    @property
    def default_tag_expiration_s(self) -> int:
        return duration_seconds(self.default_tag_expiration)

    @property
    def tag_expiration_seconds(self) -> tuple[int, ...]:
        return tuple(duration_seconds(o) for o in self.tag_expiration_options)

    @classmethod
    def from_mapping(cls, data: dict[str, Any]) -> ServerConfig:
        if not isinstance(data, dict):
            raise ConfigError("config.yaml must hold a mapping of Quay config keys")
        cfg = cls(raw=dict(data))
        for key, value in data.items():
            if key.startswith("FEATURE_"):
                if not isinstance(value, bool):
                    raise ConfigError(f"{key} must be true or false, not {value!r}")
                cfg.features[key[len("FEATURE_"):]] = value
        if isinstance(data.get("PERMANENTLY_DELETE_TAGS"), bool):
            cfg.features["PERMANENTLY_DELETE_TAGS"] = data["PERMANENTLY_DELETE_TAGS"]
        cfg.server_hostname = str(data.get("SERVER_HOSTNAME", cfg.server_hostname))
        cfg.preferred_url_scheme = str(data.get("PREFERRED_URL_SCHEME", cfg.preferred_url_scheme))
        cfg.super_users = _names(data, "SUPER_USERS")
        cfg.global_readonly_super_users = _names(data, "GLOBAL_READONLY_SUPER_USERS")
        if "RESTRICTED_USERS_WHITELIST" in data:
            cfg.restricted_users_whitelist = _names(data, "RESTRICTED_USERS_WHITELIST")
        if "FRESH_LOGIN_TIMEOUT" in data:
            cfg.fresh_login_timeout_s = duration_seconds(str(data["FRESH_LOGIN_TIMEOUT"]))
        if "TAG_EXPIRATION_OPTIONS" in data:
            cfg.tag_expiration_options = tuple(str(o) for o in data["TAG_EXPIRATION_OPTIONS"])
        if "DEFAULT_TAG_EXPIRATION" in data:
            cfg.default_tag_expiration = str(data["DEFAULT_TAG_EXPIRATION"])
        if data.get("APP_SPECIFIC_TOKEN_EXPIRATION"):
            cfg.app_specific_token_expiration_s = duration_seconds(str(data["APP_SPECIFIC_TOKEN_EXPIRATION"]))
        if "REGISTRY_TITLE" in data:
            cfg.registry_title = str(data["REGISTRY_TITLE"])
        cfg.read_cache = _switch(data, "REFERENCE_READ_CACHE", cfg.read_cache)
        cfg.fast_password_hashing = _switch(data, "REFERENCE_FAST_PASSWORD_HASHING", cfg.fast_password_hashing)
        for option in (*cfg.tag_expiration_options, cfg.default_tag_expiration):
            if not option or option[-1] not in _UNIT or not option[:-1].isdigit():
                raise ConfigError(f"invalid duration {option!r} in tag expiration settings")
        return cfg

    @classmethod
    def load(cls, path: Path | None, extra_superusers: list[str] | None = None) -> ServerConfig:
        data: dict[str, Any] = {}
        if path is not None:
            try:
                loaded = yaml.safe_load(path.read_text())
            except OSError as exc:
                raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
            data = loaded or {}
        cfg = cls.from_mapping(data)
        for name in extra_superusers or []:
            if name not in cfg.super_users:
                cfg.super_users.append(name)
        return cfg


def _switch(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} must be true or false, not {value!r}")
    return value


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{key} must be a list of user names")
    return list(value)
