"""One settings object for a harness run. Precedence: CLI overrides > environment (QH_*) > YAML file > defaults.
Secrets are SecretStr, so the printed and repr forms never show them."""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from harness.errors import ConfigError

SUITES = ("conformance", "security", "property", "fuzz")
HYPOTHESIS_PROFILES = ("dev", "ci", "thorough")
_RUN_ID = re.compile(r"^[a-z0-9]{1,16}$")
_PREFIX = re.compile(r"^[a-z][a-z0-9]{0,15}$")

# The YAML file of the load in progress. A context variable (not a class attribute) so concurrent loads in one
# process cannot see each other's file.
_yaml_data: ContextVar[dict[str, Any] | None] = ContextVar("_yaml_data", default=None)


def new_run_id() -> str:
    """Short, sortable, lowercase alphanumeric: it ends up inside user and org names on the target."""
    return f"{int(time.time()):x}"[-5:] + secrets.token_hex(2)


def _split(value: Any) -> Any:
    # Lists come from the environment as "a,b,c" rather than JSON: easier to type in CI files.
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class _YamlSource(PydanticBaseSettingsSource):
    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        data = _yaml_data.get() or {}
        return data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_yaml_data.get() or {})


class HarnessConfig(BaseSettings):
    """Everything a run needs to know. Build it with `load_config`."""

    model_config = SettingsConfigDict(env_prefix="QH_", extra="forbid", validate_default=True,
                                      hide_input_in_errors=True)

    # -- the target ------------------------------------------------------------------------------------------
    target_url: str | None = Field(None, description="Quay base URL; unset = start the reference server")
    token: SecretStr | None = Field(None, description="superuser OAuth token with every scope")
    username: str | None = Field(None, description="superuser name (with password, instead of a token)")
    password: SecretStr | None = None
    verify_tls: bool = True
    request_timeout: float = Field(30.0, gt=0)
    registry_timeout: float = Field(300.0, gt=0, description="seconds a /v2 request may wait for an answer: Quay "
                                    "holds a blob upload while another takes the blob's lock (up to 120 s)")
    # -- the reference server (only when target_url is unset) --------------------------------------------------
    data_dir: Path | None = Field(None, description="reference server data; unset = a temporary directory")
    db_url: SecretStr | None = Field(None, description="postgresql://... instead of SQLite (may hold a password)")
    readonly_username: str | None = Field(None, description="the target's global read-only superuser (reference "
                                          "server: created as qhreadonly)")
    readonly_password: SecretStr | None = None
    superusers_full_access: bool = Field(False, description="FEATURE_SUPERUSERS_FULL_ACCESS on the reference server")
    server_features: dict[str, bool] = Field(default_factory=dict,
                                             description="extra FEATURE_* switches for the reference server")
    superuser_name: str = "admin"
    # -- naming and reports ----------------------------------------------------------------------------------
    run_id: str = Field(default_factory=new_run_id)
    namespace_prefix: str = "qh"
    reports_dir: Path = Path("reports")
    # -- what runs -----------------------------------------------------------------------------------------
    suites: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(SUITES))
    disabled_areas: Annotated[list[str], NoDecode] = Field(default_factory=list)
    disabled_operations: Annotated[list[str], NoDecode] = Field(default_factory=list)
    fuzz_max_examples: int = Field(50, ge=1)
    hypothesis_profile: Literal["dev", "ci", "thorough"] = "dev"
    workers: str = "auto"  # pytest-xdist workers; each seeds its own world under its own prefix
    audit_log_check: bool = Field(True, description="verify that every successful mutating call of a test appears "
                                  "in the target's audit log (listAllLogs as the superuser)")
    inventory_check: bool = Field(True, description="list what exists on the target before and after the run, and "
                                  "fail the run (exit 2) if anything outside its prefix changed or anything of its "
                                  "own survived cleanup")
    audit_log_retry_s: float = Field(0.0, ge=0, description="wait this long before the second read of the log "
                                     "when an entry is missing (for log backends that index asynchronously)")

    @classmethod
    def settings_customise_sources(cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
                                   env_settings: PydanticBaseSettingsSource,
                                   dotenv_settings: PydanticBaseSettingsSource,
                                   file_secret_settings: PydanticBaseSettingsSource,
                                   ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Earlier sources win: explicit overrides, then QH_* variables, then the YAML file.
        return init_settings, env_settings, _YamlSource(settings_cls)

    @field_validator("suites", "disabled_areas", "disabled_operations", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return _split(value)

    @field_validator("suites")
    @classmethod
    def _known_suites(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - set(SUITES))
        if unknown:
            raise ValueError(f"unknown suite(s) {', '.join(unknown)}; choose from {', '.join(SUITES)}")
        return value

    @field_validator("target_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        assert value is not None
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("run_id")
    @classmethod
    def _run_id(cls, value: str) -> str:
        if not _RUN_ID.match(value):
            raise ValueError("must be 1-16 lowercase letters or digits (it becomes part of names on the target)")
        return value

    @field_validator("namespace_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _PREFIX.match(value):
            raise ValueError("must be a lowercase letter followed by up to 15 lowercase letters or digits")
        return value

    @field_validator("workers")
    @classmethod
    def _workers(cls, value: Any) -> str:
        text = str(value).strip()
        if text != "auto" and not text.isdigit():
            raise ValueError("must be 'auto' or a number")
        return text

    @model_validator(mode="after")
    def _credentials(self) -> HarnessConfig:
        if (self.username is None) != (self.password is None):
            raise ValueError("username and password go together")
        return self

    # -- derived -------------------------------------------------------------------------------------------
    @property
    def run_dir(self) -> Path:
        return self.reports_dir / self.run_id

    def worker_prefix(self, worker: str | None) -> str:
        """Names on the target start with this: unique per run and per xdist worker ("gw3" -> "w3")."""
        tag = "m" if not worker or worker == "master" else "w" + "".join(ch for ch in worker if ch.isdigit())
        return f"{self.namespace_prefix}{self.run_id}{tag}"

    def describe(self) -> dict[str, Any]:
        """A printable view: secrets shown as '**********' or absent."""
        out: dict[str, Any] = {}
        for name, value in self:
            if isinstance(value, SecretStr):
                out[name] = "**********"
            elif isinstance(value, Path):
                out[name] = str(value)
            else:
                out[name] = value
        return out

    def to_env(self) -> dict[str, str]:
        """QH_* variables that rebuild this object in a child process (pytest workers). Holds secrets: only for
        a child's environment, never for printing."""
        env: dict[str, str] = {}
        for name, value in self:
            if value is None:
                continue
            key = f"QH_{name.upper()}"
            if isinstance(value, SecretStr):
                env[key] = value.get_secret_value()
            elif isinstance(value, list):
                env[key] = ",".join(value)
            elif isinstance(value, dict):
                env[key] = json.dumps(value)  # pydantic-settings reads complex values from the env as JSON
            elif isinstance(value, bool):
                env[key] = "true" if value else "false"
            else:
                env[key] = str(value)
        return env


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"config file {path} must hold a mapping of settings")
    # Accept the environment spelling too (target-url, TARGET_URL): people copy them between the two.
    return {str(k).lower().replace("-", "_"): v for k, v in loaded.items()}


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "config"
    message = first["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"invalid setting {where} (QH_{where.upper()}): {message}{more}"


def load_config(path: Path | None = None, **overrides: Any) -> HarnessConfig:
    """Build the settings; raise ConfigError with one readable line when they cannot be used."""
    if path is None and os.environ.get("QH_CONFIG"):
        path = Path(os.environ["QH_CONFIG"])
    data = _read_yaml(path) if path is not None else {}
    token = _yaml_data.set(data)
    try:
        return HarnessConfig(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None
    except SettingsError as exc:  # e.g. a QH_* variable for a mapping that is not JSON
        raise ConfigError(str(exc).splitlines()[0]) from None
    finally:
        _yaml_data.reset(token)
