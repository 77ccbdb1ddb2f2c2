"""`config/router.yaml`: how the router connects to things (Asterisk, database, HTTP).

Secrets come from the environment (the variable named by `*_env`) or, discouraged,
inline; either way they are held as `SecretStr` so they never print. Relative paths
resolve against the folder of the settings file, not the current directory, so the
router behaves the same whoever starts it from wherever.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    Field,
    SecretStr,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.config.agi_settings import AgiSettings
from router.config.callback_settings import CallbackSettings
from router.config.console_settings import ConsoleSettings
from router.config.errors import ConfigError, ConfigIssue
from router.config.fields import ConfigModel, Section, Text
from router.config.retention_settings import RetentionSettings
from router.config.validation import validate_document
from router.config.yamlsafe import YamlDocument, load_yaml

ENV_ARI_PASSWORD = "CLINIC_ROUTER_ARI_PASSWORD"
ENV_API_TOKEN = "CLINIC_ROUTER_API_TOKEN"
ENV_DB_URL = "CLINIC_ROUTER_DB_URL"
MIN_TOKEN_LENGTH = 16

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_APP = re.compile(r"clinic-router(-[A-Za-z0-9_.-]{1,60})?")
_DB_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
_SQLITE = "sqlite+aiosqlite:///"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@]*:)[^@/]*@")


def _env_name(value: str) -> str:
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"'{value}' is not an environment variable name: use letters, digits and '_'"
            " (like CLINIC_ROUTER_ARI_PASSWORD)"
        )
    return value


EnvName = Annotated[str, AfterValidator(_env_name)]


def _ctx(info: ValidationInfo, name: str) -> Any:
    context = info.context if isinstance(info.context, Mapping) else {}
    return context.get(name)


def _from_env(data: Any, info: ValidationInfo, *, key: str, env_key: str, default: str) -> Any:
    """Put the secret named by `<env_key>` (default `default`) into `data[key]`: env wins."""
    if not isinstance(data, Mapping):
        return data
    env: Mapping[str, str] = _ctx(info, "env") or {}
    name = data.get(env_key, default)
    if isinstance(name, str) and env.get(name):
        return {**data, key: env[name]}
    return data


def _secrets_wanted(info: ValidationInfo) -> bool:
    """False for commands that only use the database (`load_settings(secrets=False)`):
    they must not refuse to run for want of a password they never send."""
    return _ctx(info, "secrets") is not False


def _missing_secret(what: str, key: str, env_name: str | None, section: str) -> str:
    if env_name:
        return (
            f"no {what}: set the environment variable {env_name} (named by"
            f" {section}.{key}_env), or {section}.{key} in this file (discouraged)"
        )
    return f"no {what}: set {section}.{key}_env to an environment variable, or {section}.{key}"


class AriSettings(Section):
    """Asterisk REST Interface: where it is and how the router logs in."""

    url: str = "http://127.0.0.1:8088/ari"
    username: Text = "clinic-router"
    password_env: EnvName | None = ENV_ARI_PASSWORD
    # Empty until resolved; validation fails unless the environment or the file set it.
    password: SecretStr = Field(default=SecretStr(""), repr=False)
    app: str = "clinic-router"
    request_timeout_s: Annotated[StrictFloat, Field(gt=0, le=60)] = 5.0
    max_connections: Annotated[StrictInt, Field(ge=2, le=90)] = 32

    @model_validator(mode="before")
    @classmethod
    def _password_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        data = {} if data is None else data
        return _from_env(
            data, info, key="password", env_key="password_env", default=ENV_ARI_PASSWORD
        )

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.username or parts.password:
            raise ValueError(
                "the URL must not hold credentials: use ari.username and ari.password_env"
            )
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"expected the ARI address like http://127.0.0.1:8088/ari, got '{value}'"
            )
        return value.rstrip("/")

    @field_validator("app")
    @classmethod
    def _check_app(cls, value: str) -> str:
        if not _APP.fullmatch(value):
            raise ValueError(
                f"'{value}' cannot be the Stasis app name: the dialplan sends calls to apps"
                " matching ^clinic-router, so use 'clinic-router' or 'clinic-router-<node>'"
            )
        return value

    @model_validator(mode="after")
    def _require_password(self, info: ValidationInfo) -> AriSettings:
        if _secrets_wanted(info) and not self.password.get_secret_value():
            raise ValueError(_missing_secret("ARI password", "password", self.password_env, "ari"))
        return self


class DatabaseSettings(Section):
    """Where calls, journeys and callbacks are stored."""

    # SecretStr: a PostgreSQL URL may carry a password.
    url: SecretStr = Field(
        default=SecretStr("sqlite+aiosqlite:///router.db"), repr=False, validate_default=True
    )
    # Journey records gather this long before one transaction writes them: a longer
    # batch costs less CPU per call under load (measured: 0.1 s ~3 ms/call, 0.25 s
    # ~1.8 ms/call at 40 calls/s on SQLite); journeys appear that much later in the API.
    journal_batch_s: Annotated[StrictFloat, Field(ge=0, le=2)] = 0.25
    # Records held in memory while the database is away (~260 bytes each, measured):
    # at the bound journey detail is dropped, at twice it call records too; misses never.
    backlog_max: Annotated[StrictInt, Field(ge=1_000, le=10_000_000)] = 100_000

    @model_validator(mode="before")
    @classmethod
    def _url_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        data = {} if data is None else data
        env: Mapping[str, str] = _ctx(info, "env") or {}
        if isinstance(data, Mapping) and env.get(ENV_DB_URL):
            return {**data, "url": env[ENV_DB_URL]}
        return data

    @field_validator("url", mode="before")
    @classmethod
    def _check_url(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if not isinstance(value, str):
            return value
        scheme = value.partition("://")[0]
        if scheme not in _DB_SCHEMES:
            env: Mapping[str, str] = _ctx(info, "env") or {}
            origin = f" (from the environment variable {ENV_DB_URL})" if env.get(ENV_DB_URL) else ""
            raise ValueError(
                f"unsupported database URL{origin}: use sqlite+aiosqlite:///path/to/router.db"
                " or postgresql+asyncpg://user@host/dbname"
            )
        base: Path = _ctx(info, "base_dir") or Path.cwd()
        return _resolve_sqlite(value, base)

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for logs and `check` output."""
        return _PASSWORD_IN_URL.sub(r"\1***@", self.url.get_secret_value())


def _resolve_sqlite(url: str, base: Path) -> str:
    if not url.startswith(_SQLITE):
        return url
    path, sep, query = url.removeprefix(_SQLITE).partition("?")
    if path in ("", ":memory:") or path.startswith("/"):
        return url
    return f"{_SQLITE}{(base / path).resolve()}{sep}{query}"


class HttpSettings(Section):
    """The router's HTTP API and live dashboard."""

    host: Text = "127.0.0.1"
    port: Annotated[StrictInt, Field(ge=1, le=65535)] = 8080
    token_env: EnvName | None = ENV_API_TOKEN
    token: SecretStr = Field(default=SecretStr(""), repr=False)

    @model_validator(mode="before")
    @classmethod
    def _token_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        data = {} if data is None else data
        return _from_env(data, info, key="token", env_key="token_env", default=ENV_API_TOKEN)

    @model_validator(mode="after")
    def _require_token(self, info: ValidationInfo) -> HttpSettings:
        if not _secrets_wanted(info):
            return self
        if not self.token.get_secret_value():
            raise ValueError(_missing_secret("API token", "token", self.token_env, "http"))
        if len(self.token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(
                f"the API token is too short: use at least {MIN_TOKEN_LENGTH} random characters"
            )
        return self


LogLevel = Literal["debug", "info", "warning", "error"]


class LoggingSettings(Section):
    level: LogLevel = "info"
    format: Literal["text", "json"] = "text"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class RoutingSettings(Section):
    """Where the routing rules are, and timings that apply to every call."""

    rules: Path = Field(default=Path("rules.yaml"), validate_default=True)
    ring_timeout_s: Annotated[StrictInt, Field(ge=5, le=300)] = 15  # ARI takes whole seconds
    wrap_up_s: Annotated[StrictFloat, Field(ge=0, le=3600)] = 0.0
    # Rings in a row an operator lets ring out before being paused (reason no_answer); 0: never.
    pause_after_no_answers: Annotated[StrictInt, Field(ge=0, le=100)] = 3
    # Calls to a number no line lists, or that no route took: any operator, waiting this long.
    unrouted_max_wait_s: Annotated[StrictInt, Field(ge=0, le=3600)] = 0
    # Seconds of waiting worth one point of queue priority (nobody starves); 0: no ageing.
    ageing_s: Annotated[StrictInt, Field(ge=0, le=3600)] = 60
    # A phone shared by several patients: the prompt that asks which one, and how long to wait.
    shared_phone_prompt: Text = "clinic-which-patient"
    shared_phone_timeout_s: Annotated[StrictInt, Field(ge=1, le=30)] = 5

    @field_validator("rules", mode="before")
    @classmethod
    def _relative_to_config(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, Path):
            value = str(value)
        if not isinstance(value, str):
            return value
        if not value.strip():
            raise ValueError("must not be empty: the path of the rules file, like rules.yaml")
        base: Path = _ctx(info, "base_dir") or Path.cwd()
        return (base / value).resolve()


class CrmSettings(Section):
    """Optional patient lookup in the clinic's CRM over HTTP (see docs/configuration.md)."""

    url: Text
    phone_format: Literal["e164", "digits", "national"] = "e164"
    auth: Literal["none", "header", "bearer", "basic"] = "none"
    header_name: Text = "X-Api-Key"
    username: Text | None = None
    secret_env: EnvName | None = None
    secret: SecretStr = Field(default=SecretStr(""), repr=False)
    timeout_ms: Annotated[StrictInt, Field(ge=50, le=3000)] = 400
    cache_found_s: Annotated[StrictInt, Field(ge=0, le=86400)] = 300
    cache_not_found_s: Annotated[StrictInt, Field(ge=0, le=86400)] = 60
    breaker_failures: Annotated[StrictInt, Field(ge=1, le=100)] = 5
    breaker_open_s: Annotated[StrictInt, Field(ge=1, le=3600)] = 30
    list_path: Text | None = None
    fields: dict[str, Text] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _secret_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, Mapping) or not data.get("secret_env"):
            return data
        return _from_env(data, info, key="secret", env_key="secret_env", default="")

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an http(s) URL, like https://crm.local/api?phone={phone}")
        if "{phone}" not in value:
            raise ValueError("must contain {phone} where the caller's number goes")
        if parts.username or parts.password:
            raise ValueError("must not hold credentials: use crm.auth and crm.secret_env")
        return value

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = set(value) - set(CRM_FIELDS)
        if unknown:
            raise ValueError(
                f"unknown field(s) {', '.join(sorted(unknown))} (known: {', '.join(CRM_FIELDS)})"
            )
        return value

    @model_validator(mode="after")
    def _require_secret(self, info: ValidationInfo) -> CrmSettings:
        if _secrets_wanted(info) and self.auth != "none" and not self.secret.get_secret_value():
            raise ValueError(_missing_secret("CRM secret", "secret", self.secret_env, "crm"))
        return self


CRM_FIELDS = (
    "patient_id",
    "name",
    "phones",
    "assigned_operator",
    "team",
    "tags",
    "language",
    "preferred_branch",
    "do_not_call",
)

_SECTIONS = (
    "ari",
    "database",
    "http",
    "logging",
    "routing",
    "callbacks",
    "console",
    "agi",
)


class Settings(ConfigModel):
    """The whole of `router.yaml`. Every section may be left out to take its defaults
    (`retention` and `crm`: left out, off)."""

    ari: AriSettings
    database: DatabaseSettings
    http: HttpSettings
    logging: LoggingSettings
    routing: RoutingSettings
    callbacks: CallbackSettings
    console: ConsoleSettings
    agi: AgiSettings
    # None (no `retention:` section, e.g. a site upgraded from before it): nothing is
    # pruned. Deleting years of history must be asked for, never an upgrade's default.
    retention: RetentionSettings | None = None
    crm: CrmSettings | None = None

    @model_validator(mode="before")
    @classmethod
    def _sections_default(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {**{name: None for name in _SECTIONS}, **data}
        return data


def load_settings(
    path: str | Path,
    *,
    env: Mapping[str, str] | None = None,
    source: str | None = None,
    secrets: bool = True,
) -> Settings:
    """Read, validate and resolve `router.yaml`. Raises ConfigError with every problem.

    `env` defaults to `os.environ`; `source` is the file name used in messages.
    `secrets=False` (commands that only use the database) does not demand the ARI
    password, the API token or the CRM secret; they are then empty where not given.
    """
    doc = load_yaml(path, source=source)
    base_dir = Path(path).resolve().parent
    return settings_from_document(doc, base_dir=base_dir, env=env, secrets=secrets)


def settings_from_document(
    doc: YamlDocument,
    *,
    base_dir: Path,
    env: Mapping[str, str] | None = None,
    secrets: bool = True,
) -> Settings:
    context = {"base_dir": base_dir, "env": os.environ if env is None else env, "secrets": secrets}
    settings, issues = validate_document(Settings, doc, context)
    if settings is not None:
        issues.extend(_check_files(settings, doc))
    if issues or settings is None:
        raise ConfigError(issues)
    return settings


def _check_files(settings: Settings, doc: YamlDocument) -> list[ConfigIssue]:
    rules = settings.routing.rules
    if rules.is_file():
        return []
    problem = "is a folder, not a file" if rules.is_dir() else "does not exist"
    return [doc.issue(("routing", "rules"), f"the rules file {rules} {problem}")]
