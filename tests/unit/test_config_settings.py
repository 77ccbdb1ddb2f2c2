"""router.yaml: defaults, secrets from the environment, paths relative to the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from router.config.callback_settings import CallbackSettings
from router.config.errors import ConfigError
from router.config.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[2]
ARI_SECRET = "ari-secret-6f1c2e"
TOKEN = "api-token-0a9b8c7d6e5f4a3b"
ENV = {"CLINIC_ROUTER_ARI_PASSWORD": ARI_SECRET, "CLINIC_ROUTER_API_TOKEN": TOKEN}


def _write(folder: Path, text: str, *, rules: bool = True) -> Path:
    path = folder / "router.yaml"
    path.write_text(text, encoding="utf-8")
    if rules:
        (folder / "rules.yaml").write_text("operators: []\n", encoding="utf-8")
    return path


def _errors(path: Path, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=ENV if env is None else env, source="router.yaml")
    return [str(i) for i in info.value.issues]


def test_the_example_settings_load() -> None:
    settings = load_settings(REPO / "config" / "router.yaml", env=ENV)
    assert settings.ari.url == "http://127.0.0.1:8088/ari"
    assert settings.ari.username == "clinic-router"
    assert settings.ari.app == "clinic-router"
    assert settings.ari.password.get_secret_value() == ARI_SECRET
    assert settings.http.token.get_secret_value() == TOKEN
    assert settings.database.url.get_secret_value() == f"sqlite+aiosqlite:///{REPO}/var/router.db"
    assert settings.routing.rules == REPO / "config" / "rules.yaml"
    assert settings.routing.ring_timeout_s == 15
    assert settings.logging.level == "info"


def test_every_section_has_defaults(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "logging:\n"), env=ENV)
    assert settings.ari.request_timeout_s == 5.0
    assert settings.ari.password_env == "CLINIC_ROUTER_ARI_PASSWORD"
    assert settings.http.host == "127.0.0.1"
    assert settings.http.port == 8080
    assert settings.logging.format == "text"
    assert settings.routing.rules == tmp_path / "rules.yaml"
    assert settings.routing.wrap_up_s == 0.0
    assert settings.database.url.get_secret_value() == f"sqlite+aiosqlite:///{tmp_path}/router.db"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, "logging: {level: DEBUG}\n"), env=ENV)
    assert settings.logging.level == "debug"
    with pytest.raises(ValueError, match="frozen"):
        settings.logging.level = "info"


def test_env_password_wins_over_inline(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  password: inline-secret\n")
    settings = load_settings(path, env=ENV)
    assert settings.ari.password.get_secret_value() == ARI_SECRET
    inline = load_settings(path, env={"CLINIC_ROUTER_API_TOKEN": TOKEN})
    assert inline.ari.password.get_secret_value() == "inline-secret"


def test_the_env_var_name_is_configurable(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  password_env: PBX_ARI_PASS\n")
    settings = load_settings(path, env={"PBX_ARI_PASS": "s3", "CLINIC_ROUTER_API_TOKEN": TOKEN})
    assert settings.ari.password.get_secret_value() == "s3"


def test_missing_secrets_name_the_env_var(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  username: clinic-router\nhttp:\n  port: 8080\n")
    assert _errors(path, env={}) == [
        "router.yaml:1:1: ari: no ARI password: set the environment variable"
        " CLINIC_ROUTER_ARI_PASSWORD (named by ari.password_env), or ari.password in this"
        " file (discouraged)",
        "router.yaml:3:1: http: no API token: set the environment variable"
        " CLINIC_ROUTER_API_TOKEN (named by http.token_env), or http.token in this file"
        " (discouraged)",
    ]


def test_an_empty_env_var_counts_as_missing(tmp_path: Path) -> None:
    path = _write(tmp_path, "http: {port: 8080}\n")
    env = {"CLINIC_ROUTER_ARI_PASSWORD": "", "CLINIC_ROUTER_API_TOKEN": TOKEN}
    assert "no ARI password" in _errors(path, env=env)[0]


def test_db_url_from_env_overrides_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "database:\n  url: sqlite+aiosqlite:///a.db\n")
    env = {**ENV, "CLINIC_ROUTER_DB_URL": "postgresql+asyncpg://router:pw@db/router"}
    settings = load_settings(path, env=env)
    assert settings.database.url.get_secret_value() == "postgresql+asyncpg://router:pw@db/router"
    assert settings.database.display_url == "postgresql+asyncpg://router:***@db/router"


@pytest.mark.parametrize(
    ("url", "resolved"),
    [
        ("sqlite+aiosqlite:///data/r.db", "sqlite+aiosqlite:///{base}/data/r.db"),
        ("sqlite+aiosqlite:///../r.db?mode=rwc", "sqlite+aiosqlite:///{parent}/r.db?mode=rwc"),
        ("sqlite+aiosqlite:////var/lib/r.db", "sqlite+aiosqlite:////var/lib/r.db"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_relative_sqlite_paths_resolve_against_the_file(
    tmp_path: Path, url: str, resolved: str
) -> None:
    settings = load_settings(_write(tmp_path, f"database:\n  url: '{url}'\n"), env=ENV)
    expected = resolved.format(base=tmp_path, parent=tmp_path.parent)
    assert settings.database.url.get_secret_value() == expected


def test_a_bad_db_url_from_env_says_where_it_came_from(tmp_path: Path) -> None:
    env = {**ENV, "CLINIC_ROUTER_DB_URL": "mysql://u:dbpass@h/db"}
    (error,) = _errors(_write(tmp_path, "logging: {level: info}\n"), env=env)
    assert "from the environment variable CLINIC_ROUTER_DB_URL" in error
    assert "dbpass" not in error


def test_secrets_never_print(tmp_path: Path) -> None:
    path = _write(tmp_path, "http:\n  token: inline-token-that-is-long-enough\n")
    env = {**ENV, "CLINIC_ROUTER_DB_URL": "postgresql+asyncpg://router:db-secret-77@db/router"}
    settings = load_settings(path, env=env)
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert ARI_SECRET not in text
        assert "inline-token-that-is-long-enough" not in text
        assert TOKEN not in text
        assert "db-secret-77" not in text


def test_secrets_never_appear_in_errors(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ari:\n  password: [not, text, secret-in-list]\n  pasword: secret-typo-value\n"
        "http:\n  token: short-secret\n",
    )
    errors = _errors(path, env={})
    text = "\n".join(errors)
    assert "secret-in-list" not in text
    assert "secret-typo-value" not in text
    assert "short-secret" not in text
    typo = "router.yaml:3:3: ari.pasword: unknown key 'pasword' (did you mean 'password'?)"
    assert typo in errors


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  password: {value: 12345678}\n")
    errors = _errors(path, env={"CLINIC_ROUTER_API_TOKEN": TOKEN})
    assert errors == ["router.yaml:2:13: ari.password: expected text, got a mapping"]


def test_a_numeric_inline_password_is_text(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  password: 12345678\n")
    settings = load_settings(path, env={"CLINIC_ROUTER_API_TOKEN": TOKEN})
    assert settings.ari.password.get_secret_value() == "12345678"


def test_the_error_chain_does_not_carry_pydantic_input(tmp_path: Path) -> None:
    path = _write(tmp_path, "ari:\n  password: pw-in-input\n  app: wrong\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={"CLINIC_ROUTER_API_TOKEN": TOKEN})
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


def test_rules_file_must_exist(tmp_path: Path) -> None:
    path = _write(tmp_path, "routing:\n  rules: elsewhere.yaml\n")
    assert _errors(path) == [
        f"router.yaml:2:10: routing.rules: the rules file {tmp_path}/elsewhere.yaml does not exist"
    ]


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "ari:\n  url: ftp://pbx\n  request_timeout_s: 0\nhttp:\n  port: 0\n"
        "logging:\n  level: loud\nrouting:\n  wrap_up_s: -1\nextra: 1\n",
    )
    errors = _errors(path)
    assert errors == [
        "router.yaml:2:8: ari.url: expected the ARI address like http://127.0.0.1:8088/ari,"
        " got 'ftp://pbx'",
        "router.yaml:3:22: ari.request_timeout_s: must be more than 0, got the number 0",
        "router.yaml:5:9: http.port: must be at least 1, got the number 0",
        "router.yaml:7:10: logging.level: expected one of debug, info, warning, error, got 'loud'",
        "router.yaml:9:14: routing.wrap_up_s: must be at least 0, got the number -1",
        "router.yaml:10:1: extra: unknown key 'extra' (valid keys: agi, ari, callbacks, console,"
        " crm, database, http, logging, retention, routing)",
    ]


def test_settings_are_a_pydantic_model() -> None:
    assert Settings.model_config.get("frozen") is True
    assert Settings.model_config.get("extra") == "forbid"


def test_callbacks_dial_and_keep_place_key_errors_say_what_is_valid(tmp_path: Path) -> None:
    path = _write(tmp_path, 'callbacks:\n  dial: "PJSIP/{foo}"\n  keep_place_key: "55"\n')
    assert _errors(path) == [
        "router.yaml:2:9: callbacks.dial: must contain {number} (or {e164}) and no other"
        " {field}, like PJSIP/{number}@patients; got 'PJSIP/{foo}'",
        "router.yaml:3:19: callbacks.keep_place_key: must be one key 0-9, * or #, or null to"
        " turn it off; got '55'",
    ]


@pytest.mark.parametrize(
    "dial",
    [
        "PJSIP/fixed",  # the same number for every patient
        "PJSIP/{foo}",
        "PJSIP/{number}@{trunk}",  # a known field does not excuse an unknown one
        "PJSIP/{}",
        "PJSIP/{0}",
        "PJSIP/{number.real}",
        "PJSIP/{number[0]}",
    ],
)
def test_a_dial_template_must_use_the_number_and_nothing_else(dial: str) -> None:
    with pytest.raises(ValueError, match=r"must contain \{number\} \(or \{e164\}\)"):
        CallbackSettings(dial=dial)


@pytest.mark.parametrize("dial", ["PJSIP/{number}@gw{", "PJSIP/{number!r}", "PJSIP/{number:>20}"])
def test_a_malformed_dial_template_gets_the_same_clear_message(dial: str) -> None:
    with pytest.raises(ValueError, match=r"must contain \{number\} \(or \{e164\}\)"):
        CallbackSettings(dial=dial)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("55", "must be one key 0-9, \\* or #, or null to turn it off; got '55'"),
        ("a", "must be one key"),
        ("5#", "must be one key"),
        ("", "must not be empty"),
        (" ", "must not be empty"),
    ],
)
def test_keep_place_key_is_one_key(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CallbackSettings(keep_place_key=key)


@pytest.mark.parametrize("key", ["0", "5", "9", "*", "#", None])
def test_keep_place_key_takes_any_phone_key_or_null(key: str | None) -> None:
    assert CallbackSettings(keep_place_key=key).keep_place_key == key


@pytest.mark.parametrize(
    ("dial", "expected"),
    [
        ("PJSIP/{number}@patients", "PJSIP/79161234567@patients"),
        ("PJSIP/{e164}@trunk", "PJSIP/+79161234567@trunk"),
        ("SIP/gw/8{number}", "SIP/gw/879161234567"),
        ("PJSIP/{number}@t/{e164}", "PJSIP/79161234567@t/+79161234567"),
    ],
)
def test_dial_string_fills_the_template(dial: str, expected: str) -> None:
    assert CallbackSettings(dial=dial).dial_string("+79161234567") == expected


def test_callbacks_defaults_dial_the_patients_trunk() -> None:
    cfg = CallbackSettings()
    assert cfg.dial_string("+79161234567") == "PJSIP/79161234567@patients"
    assert cfg.keep_place_key == "5" and cfg.enabled
