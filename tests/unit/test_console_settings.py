"""`console:` settings: the webhook needs its secret, zones and URLs are checked."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from router.config.console_settings import ConsoleSettings


def test_a_webhook_without_its_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="CLINIC_ROUTER_WEBHOOK_SECRET"):
        ConsoleSettings.model_validate({"webhook_url": "https://crm.example/pop"})


def test_the_secrets_come_from_the_environment() -> None:
    env = {"CLINIC_ROUTER_WEBHOOK_SECRET": "s3cret", "CLINIC_ROUTER_CONSOLE_SECRET": "k3y"}
    settings = ConsoleSettings.model_validate(
        {"webhook_url": "https://crm.example/pop"}, context={"env": env}
    )
    assert settings.webhook_secret.get_secret_value() == "s3cret"
    assert settings.secret.get_secret_value() == "k3y"
    assert "s3cret" not in repr(settings)


@pytest.mark.parametrize(
    "bad", [{"webhook_url": "ftp://crm"}, {"timezone": "Mars/Olympus"}, {"session_idle_min": 0}]
)
def test_bad_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ConsoleSettings.model_validate(bad)
