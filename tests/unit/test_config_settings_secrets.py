"""`load_settings(secrets=False)`: what the database-only commands load."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.errors import ConfigError
from router.config.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
CRM = """crm:
  url: "https://crm.example/api/patients?phone={phone}"
  auth: bearer
  secret_env: CRM_SECRET
"""


def _write(folder: Path, text: str) -> Path:
    (folder / "rules.yaml").write_text("operators: []\n", encoding="utf-8")
    path = folder / "router.yaml"
    path.write_text("routing:\n  rules: rules.yaml\n" + text, encoding="utf-8")
    return path


def test_no_secret_is_demanded(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, CRM), env={}, secrets=False)
    assert settings.ari.password.get_secret_value() == ""
    assert settings.http.token.get_secret_value() == ""
    assert settings.crm is not None and settings.crm.secret.get_secret_value() == ""


def test_by_default_every_secret_is_demanded(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, CRM), env={})
    text = str(info.value)
    assert "no ARI password" in text and "no API token" in text and "no CRM secret" in text


def test_the_rest_is_still_checked(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(_write(tmp_path, "http:\n  port: 0\n"), env={}, secrets=False)
    assert "http.port" in str(info.value)
