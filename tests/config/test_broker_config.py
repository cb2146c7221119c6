"""One broker description for [upstream], [local_mqtt] and [fleet.broker], and its client arguments."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import pytest

from agent.config import parse_config
from agent.config.schema import BrokerConfig
from agent.connection import connection
from agent.errors import ConfigError
from tests.conftest import hearth

HUB = '[hub]\nid = "hub-1"\ndata_dir = "/tmp/x"\n'
FLEET = f'[fleet]\npublic_key = "{base64.b64encode(bytes(32)).decode()}"\n'


def test_a_fleet_without_a_broker_and_without_upstream_exits_2_naming_fleet_broker(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(HUB + FLEET)
    result = hearth("config", "check", str(path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[0].startswith(f"error: {path}: fleet.broker")


def test_a_fleet_without_a_broker_shares_the_upstream_one() -> None:
    config = parse_config(HUB + '[upstream]\nhost = "broker.example.org"\n' + FLEET)
    assert config.fleet is not None
    assert config.fleet.broker is None


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ('[fleet.broker]\nhost = "b"\ntls_ca_file = "ca.pem"\n', "fleet.broker: .* `tls_ca_file`"),
        ('[upstream]\nhost = "b"\ntls_ca = "ca.pem"\n', "upstream: .* `tls_ca`"),
        ('[local_mqtt]\nhost = "b"\npassword = "hunter2"\n', "local_mqtt: .* `password`"),
    ],
    ids=["old-fleet-key", "typo", "password-in-config"],
)
def test_unknown_broker_keys_are_named(section: str, key: str) -> None:
    fleet = FLEET if section.startswith("[fleet") else ""
    with pytest.raises(ConfigError, match=f"{key}") as caught:
        parse_config(HUB + fleet + section)
    assert "hunter2" not in str(caught.value)


def test_every_section_takes_the_same_keys_with_its_own_defaults() -> None:
    keys = 'port = 1884\nprotocol = "5"\nusername = "u"\npassword_env = "HEARTH_PW"\n'
    config = parse_config(
        HUB
        + f'[upstream]\nhost = "up"\n{keys}[local_mqtt]\n{keys}'
        + FLEET
        + f'[fleet.broker]\nhost = "f"\n{keys}'
    )
    assert config.upstream is not None
    assert config.local_mqtt is not None
    assert config.fleet is not None
    for section in (config.upstream, config.local_mqtt, config.fleet.broker):
        assert isinstance(section, BrokerConfig)
        assert (section.port, section.protocol, section.username) == (1884, "5", "u")
    assert config.upstream.tls
    assert not config.local_mqtt.tls
    assert config.local_mqtt.host == "localhost"


def test_relative_broker_files_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = parse_config(
        HUB + FLEET + '[fleet.broker]\nhost = "f"\nca_file = "ca.pem"\npassword_file = "pw"\n',
        base_dir=tmp_path,
    )
    assert config.fleet is not None
    assert config.fleet.broker is not None
    assert config.fleet.broker.ca_file == str(tmp_path / "ca.pem")
    assert config.fleet.broker.password_file == str(tmp_path / "pw")


def test_connection_verifies_tls_and_never_shows_the_password(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("s3cret-value\n")
    reach = connection(BrokerConfig(host="b", username="hub", password_file=str(secret)), "upstream")
    assert reach.port == 8883
    assert reach.password == "s3cret-value"
    assert "s3cret" not in repr(reach)
    assert reach.tls_context is not None
    assert reach.tls_context.verify_mode == ssl.CERT_REQUIRED
    assert reach.tls_context.check_hostname
    args = reach.client_args()
    assert (args["hostname"], args["port"], args["username"]) == ("b", 8883, "hub")


def test_connection_without_tls_uses_1883() -> None:
    reach = connection(BrokerConfig(host="b", tls=False), "local_mqtt")
    assert reach.port == 1883
    assert reach.tls_context is None


@pytest.mark.parametrize(
    ("broker", "words"),
    [
        (BrokerConfig(host="b", password_file="/nonexistent/pw"), "fleet.broker.password_file"),
        (
            BrokerConfig(host="b", password_env="HEARTH_NO_SUCH_VARIABLE"),
            "HEARTH_NO_SUCH_VARIABLE is not set",
        ),
        (BrokerConfig(host="b", ca_file="/nonexistent/ca.pem"), "cannot load TLS files for fleet.broker"),
    ],
    ids=["password-file", "password-env", "ca-file"],
)
def test_connection_errors_name_the_section(broker: BrokerConfig, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        connection(broker, "fleet.broker")
