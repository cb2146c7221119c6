"""The ``[upstream]`` section: clear errors; secrets from a file or a variable, never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.config import parse_config
from agent.errors import ConfigError
from agent.sync.service import mqtt_settings

BASE = '[hub]\nid = "hub-1"\ndata_dir = "/tmp/x"\n[upstream]\nhost = "broker.example.org"\n'


def test_defaults_verify_tls_and_use_the_hub_id() -> None:
    settings = mqtt_settings(parse_config(BASE))
    assert settings.tls
    assert settings.port == 8883
    assert settings.client_id == "hub-1"
    assert settings.status_topic == "hearth/v1/hub-1/status"


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("max_inflight = 0\n", "upstream.max_inflight"),
        ('message_ttl = "forever"\n', "upstream.message_ttl"),
        ("grants = []\n", "upstream"),
        ('topic_prefix = "a/#"\n', "upstream.topic_prefix"),
    ],
    ids=["inflight", "ttl", "grants-are-not-config", "prefix"],
)
def test_bad_upstream_keys_are_named(extra: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(BASE + extra)
    assert key in str(caught.value)


def test_password_from_a_file_is_read_and_never_shown(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("s3cret-value\n")
    settings = mqtt_settings(parse_config(BASE + f'username = "hub"\npassword_file = "{secret}"\n'))
    assert settings.password == "s3cret-value"
    assert "s3cret" not in repr(settings)


def test_missing_password_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEARTH_TEST_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match="HEARTH_TEST_PASSWORD is not set"):
        mqtt_settings(parse_config(BASE + 'password_env = "HEARTH_TEST_PASSWORD"\n'))
