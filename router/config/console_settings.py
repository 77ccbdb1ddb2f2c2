"""`console:` in router.yaml: the browser console for operators and supervisors.

The session cookie's key is derived from the API token unless `secret_env` names a
secret of its own: sessions then survive restarts with no new secret to manage, and
rotating the token signs everyone out.
"""

from __future__ import annotations

from collections.abc import Mapping
from ipaddress import ip_address
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    StrictBool,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from router.config.fields import Section, Text
from router.domain.console_access import Role

ENV_CONSOLE_SECRET = "CLINIC_ROUTER_CONSOLE_SECRET"
ENV_WEBHOOK_SECRET = "CLINIC_ROUTER_WEBHOOK_SECRET"


class ConsoleSettings(Section):
    """The console under `/console` on the router's HTTP port (docs/console.md)."""

    enabled: StrictBool = True
    # An environment variable holding the cookie key material (any long random text);
    # unset or empty: derived from the API token.
    secret_env: Text | None = ENV_CONSOLE_SECRET
    secret: SecretStr = Field(default=SecretStr(""), repr=False)
    # A session ends after this long without a request, and after `session_max_h` in any case.
    session_idle_min: Annotated[StrictInt, Field(ge=1, le=24 * 60)] = 30
    session_max_h: Annotated[StrictInt, Field(ge=1, le=7 * 24)] = 12
    # The cookie's `Secure` flag: `auto` sets it whenever the request came over HTTPS
    # (ours, or `X-Forwarded-Proto: https` from a `trusted_proxies` address); `true`
    # always (the console is only ever reached over HTTPS); `false` never.
    secure_cookie: Literal["auto"] | StrictBool = "auto"
    trusted_proxies: tuple[Text, ...] = ("127.0.0.1", "::1")
    # Roles that see whole phone numbers; everyone else sees `+7 916 ***-**-67` (the
    # operator on a call always sees their own caller's number).
    full_numbers_for: tuple[Role, ...] = ()
    # Failed sign-ins in a minute before further ones are refused for a growing delay.
    signin_failures_per_user: Annotated[StrictInt, Field(ge=1, le=100)] = 5
    signin_failures_per_address: Annotated[StrictInt, Field(ge=1, le=1000)] = 20
    # The wallboard: "today" starts at midnight in this zone; the service level counts
    # calls answered within `service_level_s` of arrival; a callback task is overdue once
    # its due time is `callback_overdue_min` past.
    timezone: Text = "Europe/Moscow"
    service_level_s: Annotated[StrictInt, Field(ge=1, le=3600)] = 20
    callback_overdue_min: Annotated[StrictInt, Field(ge=1, le=7 * 24 * 60)] = 30
    # The longest period the reports page and `GET /api/reports/...` read (the CLI has
    # no limit): a longer one is refused with 400 rather than read into memory.
    report_max_days: Annotated[StrictInt, Field(ge=1, le=3660)] = 366

    # Screen pop: POSTed when an operator's phone starts ringing (docs/console.md); the
    # body is signed with the secret in the variable named by `webhook_secret_env`.
    webhook_url: Text | None = None
    webhook_secret_env: Text = ENV_WEBHOOK_SECRET
    webhook_secret: SecretStr = Field(default=SecretStr(""), repr=False)
    webhook_timeout_ms: Annotated[StrictInt, Field(ge=100, le=10_000)] = 2000

    @field_validator("webhook_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"expected an http:// or https:// address, got '{value}'")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for address in value:
            try:
                ip_address(address)
            except ValueError:
                raise ValueError(f"expected an IP address, got '{address}'") from None
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (like Europe/Moscow)") from None
        return value

    @model_validator(mode="before")
    @classmethod
    def _secret_from_env(cls, data: Any, info: ValidationInfo) -> Any:
        data = {} if data is None else data  # the section left out: the env still counts
        if not isinstance(data, Mapping):
            return data
        context = info.context if isinstance(info.context, Mapping) else {}
        env: Mapping[str, str] = context.get("env") or {}
        secrets = (("secret", ENV_CONSOLE_SECRET), ("webhook_secret", ENV_WEBHOOK_SECRET))
        for key, default in secrets:
            name = data.get(f"{key}_env", default)
            if isinstance(name, str) and env.get(name):
                data = {**data, key: env[name]}
        return data

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> ConsoleSettings:
        if self.webhook_url and not self.webhook_secret.get_secret_value():
            raise ValueError(
                f"console.webhook_url needs a shared secret: set {self.webhook_secret_env}"
            )
        return self
