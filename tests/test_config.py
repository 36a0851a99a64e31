"""Settings from TOML and the environment (the environment wins)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import ConfigError, load


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
