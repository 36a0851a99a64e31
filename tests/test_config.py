"""Settings from TOML and the environment (the environment wins), every value checked
for its type and range when it is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load


@pytest.fixture(autouse=True)
def empty_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty directory: a developer's own ./aedgw.toml changes no test here."""
    monkeypatch.chdir(tmp_path)


def test_the_file_in_the_current_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / "aedgw.toml").write_text('listen = "0.0.0.0:9001"\n')
    assert load(environ={}).listen == "0.0.0.0:9001"
    assert load(environ={}).given == {"listen"}


def test_defaults() -> None:
    settings = load(environ={})
    assert settings.listen == "127.0.0.1:8080"
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert settings.database_url is None
    assert settings.embedded_dir == Path("var/pg")


def test_file_then_environment(tmp_path: Path) -> None:
    file = tmp_path / "aedgw.toml"
    file.write_text(
        'listen = "0.0.0.0:9000"\n[limits]\nmax_items = 10\n'
        '[[targets]]\nname = "cbp"\nurl = "https://t.example/v1"\n'
        'routes = { destination_countries = ["US", "PR"] }\nbatch_size = 50\n'
    )
    settings = load(
        file, {"AEDGW_LIMITS__MAX_ITEMS": "20", "AEDGW_DATABASE_URL": "postgresql:///x"}
    )
    assert settings.listen == "0.0.0.0:9000"
    assert settings.limits.max_items == 20
    assert settings.database_url == "postgresql:///x"
    [target] = settings.targets
    assert (target.name, target.batch_size) == ("cbp", 50)
    assert target.receives("alpha", "US") and not target.receives("alpha", "DE")


def test_targets_from_the_environment() -> None:
    simple = load(environ={"AEDGW_TARGETS": "a=http://a.example,b=http://b.example"})
    assert [(t.name, t.url) for t in simple.targets] == [
        ("a", "http://a.example"),
        ("b", "http://b.example"),
    ]
    full = load(
        environ={
            "AEDGW_TARGETS": '[{"name": "eu", "url": "http://e", '
            '"routes": {"operators": ["beta"]}, "retry": {"max_attempts": 3}}]'
        }
    )
    [eu] = full.targets
    assert eu.retry.max_attempts == 3
    assert eu.receives("beta", "DE") and not eu.receives("alpha", "DE")


@pytest.mark.parametrize(
    "environ",
    [
        {"AEDGW_LIMITS__MAX_ITEMS": "many"},
        {"AEDGW_NO_SUCH_SETTING": "1"},
        {"AEDGW_TARGETS": "just-a-name"},
        {"AEDGW_TARGETS": "[not json"},
    ],
)
def test_bad_settings_name_the_setting(environ: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        load(environ=environ)


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("listen = 8080", "listen = 8080: a string is expected"),
        ('listen = "8080"', "listen = '8080': is \"HOST:PORT\""),
        ('listen = "localhost:http"', "is \"HOST:PORT\""),
        ("pool_max_size = 0", "pool_max_size = 0: at least 1"),
        ('pool_max_size = "ten"', "pool_max_size = 'ten': a whole number is expected"),
        ("metrics_auth = 1", "metrics_auth = 1: a boolean is expected"),
        ('log_format = "xml"', "log_format = 'xml': is one of json, console, auto"),
        ("[limits]\nmax_items = -5", "limits.max_items = -5: at least 1"),
        ("limits = 3", "limits: a table of settings is expected"),
        ('[[targets]]\nname = "cbp"\nurl = "https://t.example"\nbatch_size = -1',
         "targets[0].batch_size = -1: at least 1"),
        ('[[targets]]\nname = "cbp"\nurl = "https://t.example"\nbatch_size = 1.5',
         "targets[0].batch_size = 1.5: a whole number is expected"),
        ('[[targets]]\nname = "cbp"', "targets[0].url is required"),
        ('[[targets]]\nname = "cbp"\nurl = "t.example"', "targets[0].url = 't.example'"),
        ('[[targets]]\nname = "callback:alpha"\nurl = "https://t"', "targets[0].name"),
        ('[[targets]]\nname = "cbp"\nurl = "https://t"\n'
         'routes = { destination_country = ["US"] }', "unknown route 'destination_country'"),
        ('[[targets]]\nname = "cbp"\nurl = "https://t"\nroutes = { operators = "alpha" }',
         "targets[0].routes.operators: a list of strings is expected"),
        ('[[targets]]\nname = "cbp"\nurl = "https://a"\n[[targets]]\nname = "cbp"\n'
         'url = "https://b"', "the name 'cbp' is used twice"),
        ('[[targets]]\nname = "cbp"\nurl = "https://t"\n[targets.retry]\nmax_attempts = 0',
         "targets[0].retry.max_attempts = 0: at least 1"),
    ],
)
def test_values_are_type_and_range_checked_naming_the_setting(
    tmp_path: Path, toml: str, message: str
) -> None:
    file = tmp_path / "settings.toml"
    file.write_text(toml + "\n")
    with pytest.raises(ConfigError) as refused:
        load(file, {})
    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"AEDGW_METRICS_AUTH": "maybe"}, "metrics_auth = 'maybe': true or false is expected"),
        ({"AEDGW_LIMITS__MAX_BODY_BYTES": "0"}, "limits.max_body_bytes = 0: at least 1"),
        ({"AEDGW_LISTEN__PORT": "1"}, "listen = {'port': '1'}: a string is expected"),
    ],
)
def test_environment_values_are_checked_too(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load(environ=environ)
    assert message in str(refused.value)


def test_environment_booleans() -> None:
    assert load(environ={"AEDGW_METRICS_AUTH": "true"}).metrics_auth is True
    assert load(environ={"AEDGW_METRICS_AUTH": "0"}).metrics_auth is False
