"""A push never changes where data goes, unless the hub's owner allowed exactly that change.

Real signed documents through the pure verify step: every difference from the running config outside the
allow-list is refused with a reason naming the key; an allowed push (sources, rules, models, store) still
passes; and a destination change passes only as the owner wrote it in ``[fleet.allow]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fleet_support import CLIMATE, PLUG, document, model

from agent.config import Config, load_config
from agent.consent import destination
from agent.consent.ledger import verify_audit
from agent.errors import ConfigError
from agent.fleet import history
from agent.fleet.document import public_key_text
from agent.fleet.verify import Accepted, Change, Rejected, verify
from agent.store.ledger import open_ledger

UPSTREAM = """
[upstream]
host = "broker.example.org"
ca_file = "/etc/hearth/upstream-ca.pem"
username = "hub-d"
password_file = "/etc/hearth/upstream.password"
topic_prefix = "hearth/v1"
"""

LOCAL = """
[local_mqtt]
host = "homeassistant.local"
"""

RULE = """
[[rules]]
name = "kettle-on"
when = { stream = "plug.power", above = 1500 }
actions = [{ kind = "log", message = "kettle on" }]
"""


def _hub(tmp_path: Path, key: Ed25519PrivateKey, *, body: str = PLUG + UPSTREAM, allow: str = "") -> Config:
    path = tmp_path / "hearth.toml"
    path.write_text(
        f'[hub]\nid = "hub-d"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[fleet]\npublic_key = "{public_key_text(key.public_key())}"\n'
        'broker = { host = "127.0.0.1", port = 1883, tls = false }\n'
        f"{allow}\n{body}"
    )
    return load_config(path)


def _verify(key: Ed25519PrivateKey, local: Config, pushed: str, tmp_path: Path) -> Accepted | Rejected:
    payload = document(key, pushed, version=2, target="hub:hub-d")
    return verify(
        payload, key.public_key(), local=local, running_version=1, now=time.time(), base_dir=tmp_path
    )


REFUSED = [
    ("add local_mqtt", PLUG + UPSTREAM + '\n[local_mqtt]\nhost = "evil.example.org"\n', "[local_mqtt] added"),
    ("add local_mqtt on its defaults", PLUG + UPSTREAM + "\n[local_mqtt]\n", "[local_mqtt] added"),
    ("add a market", PLUG + UPSTREAM + '\n[market]\nhost = "evil.example.org"\n', "[market] added"),
    ("upstream host", PLUG + UPSTREAM.replace("broker.example.org", "evil.example.org"), "upstream.host"),
    ("upstream port", PLUG + UPSTREAM + "port = 9999\n", "upstream.port"),
    ("topic prefix", PLUG + UPSTREAM.replace('"hearth/v1"', '"evil/v1"'), "upstream.topic_prefix"),
    ("trust anchor", PLUG + UPSTREAM.replace("upstream-ca.pem", "evil-ca.pem"), "upstream.ca_file"),
    ("TLS off", PLUG + UPSTREAM + "tls = false\n", "upstream.tls"),
    (
        "client certificate",
        PLUG + UPSTREAM + 'cert_file = "/tmp/c.pem"\nkey_file = "/tmp/c.key"\n',
        "cert_file",
    ),
    ("credentials", PLUG + UPSTREAM.replace('"hub-d"', '"someone"'), "upstream.username"),
    ("password", PLUG + UPSTREAM.replace("upstream.password", "other.password"), "upstream.password_file"),
    ("upstream removed", PLUG, "[upstream] removed"),
    ("dashboard on the network", PLUG + UPSTREAM + '\n[web]\nlisten = "0.0.0.0"\n', "web.listen"),
]


@pytest.mark.parametrize(("pushed", "key_named"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_a_push_that_changes_where_data_goes_is_rejected_naming_the_key(
    tmp_path: Path, fleet_key: Ed25519PrivateKey, pushed: str, key_named: str
) -> None:
    local = _hub(tmp_path, fleet_key)
    result = _verify(fleet_key, local, pushed, tmp_path)
    assert isinstance(result, Rejected), result
    assert result.reason.startswith("a push cannot change where data goes: ")
    assert key_named in result.reason
    assert "[fleet.allow]" in result.reason


LOCAL_REFUSED = [
    ("discovery prefix", '\ndiscovery_prefix = "elsewhere"\n', "local_mqtt.discovery_prefix"),
    ("state topics", '\nbase_topic = "somewhere/else"\n', "local_mqtt.base_topic"),
    ("discovery switched on", "\ndiscovery = false\n", "local_mqtt.discovery"),
    ("local broker moved", "", "local_mqtt.host"),
]


@pytest.mark.parametrize(
    ("extra", "key_named"), [c[1:] for c in LOCAL_REFUSED], ids=[c[0] for c in LOCAL_REFUSED]
)
def test_the_home_broker_and_home_assistant_discovery_stay_where_they_are(
    tmp_path: Path, fleet_key: Ed25519PrivateKey, extra: str, key_named: str
) -> None:
    # "discovery switched on": the hub runs with discovery off, the push leaves it at its default, on.
    running = LOCAL + ("discovery = false\n" if "discovery = false" in extra else "")
    local = _hub(tmp_path, fleet_key, body=PLUG + UPSTREAM + running)
    pushed_local = LOCAL.replace("homeassistant.local", "elsewhere.local") if not extra else LOCAL + extra
    if "discovery = false" in extra:
        pushed_local = LOCAL
    result = _verify(fleet_key, local, PLUG + UPSTREAM + pushed_local, tmp_path)
    assert isinstance(result, Rejected), result
    assert key_named in result.reason


ALLOWED = [
    ("sources", PLUG + CLIMATE + UPSTREAM),
    ("rules", PLUG + UPSTREAM + RULE),
    ("models", PLUG + UPSTREAM + model()),
    ("store", '[store]\nflush_interval = "2s"\nretention = { raw = "3d" }\n' + PLUG + UPSTREAM),
    (
        "upstream pacing",
        PLUG + UPSTREAM + 'summarise_interval = "1m"\nmax_inflight = 8\nmessage_ttl = "2d"\n',
    ),
    ("hub name and groups", '[hub]\nname = "Kitchen"\ngroups = ["kitchens"]\n' + PLUG + UPSTREAM),
    ("dashboard on loopback", PLUG + UPSTREAM + "\n[web]\nport = 8751\n"),
]


@pytest.mark.parametrize("pushed", [c[1] for c in ALLOWED], ids=[c[0] for c in ALLOWED])
def test_a_push_that_changes_only_the_hubs_work_is_accepted(
    tmp_path: Path, fleet_key: Ed25519PrivateKey, pushed: str
) -> None:
    local = _hub(tmp_path, fleet_key)
    result = _verify(fleet_key, local, pushed, tmp_path)
    assert isinstance(result, Accepted), result
    assert result.destinations == ()
    up, before = result.config.upstream, local.upstream
    assert up is not None
    assert before is not None
    assert (up.host, up.port, up.tls, up.ca_file, up.topic_prefix) == (
        before.host,
        before.port,
        before.tls,
        before.ca_file,
        before.topic_prefix,
    )


def test_the_owner_allows_exactly_one_upstream_host_and_nothing_near_it(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    allow = '[fleet.allow]\nupstream = { host = "broker2.example.org", ca_file = "ca2.pem" }\n'
    local = _hub(tmp_path, fleet_key, allow=allow)
    moved = UPSTREAM.replace("broker.example.org", "broker2.example.org")
    result = _verify(fleet_key, local, PLUG + moved, tmp_path)
    assert isinstance(result, Accepted), result
    assert result.destinations == (Change("upstream.host", "broker.example.org", "broker2.example.org"),)
    # The CA the owner named relative to the config file, pushed as an absolute path: the same file.
    anchored = moved.replace("/etc/hearth/upstream-ca.pem", str(tmp_path / "ca2.pem"))
    assert isinstance(_verify(fleet_key, local, PLUG + anchored, tmp_path), Accepted)
    for other in (
        UPSTREAM.replace("broker.example.org", "broker3.example.org"),
        moved.replace('"hearth/v1"', '"hearth/v2"'),
        moved + "port = 8884\n",
    ):
        result = _verify(fleet_key, local, PLUG + other, tmp_path)
        assert isinstance(result, Rejected), other


def test_the_owner_allows_adding_exactly_their_home_broker(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    allow = '[fleet.allow.local_mqtt]\nhost = "homeassistant.local"\ndiscovery_prefix = "ha"\n'
    local = _hub(tmp_path, fleet_key, allow=allow)
    exact = PLUG + UPSTREAM + LOCAL + 'discovery_prefix = "ha"\n'
    result = _verify(fleet_key, local, exact, tmp_path)
    assert isinstance(result, Accepted), result
    assert {c.key for c in result.destinations} == {
        "[local_mqtt]",
        "local_mqtt.host",
        "local_mqtt.discovery_prefix",
    }
    for near in (
        PLUG + UPSTREAM + LOCAL,  # discovery under another prefix
        PLUG + UPSTREAM + '\n[local_mqtt]\ndiscovery_prefix = "ha"\n',  # another broker (localhost)
        exact + 'base_topic = "elsewhere"\n',
    ):
        result = _verify(fleet_key, local, near, tmp_path)
        assert isinstance(result, Rejected), near


def test_the_owner_may_let_a_push_remove_the_home_broker(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    local = _hub(
        tmp_path, fleet_key, body=PLUG + UPSTREAM + LOCAL, allow="[fleet.allow]\nlocal_mqtt = false\n"
    )
    assert isinstance(_verify(fleet_key, local, PLUG + UPSTREAM, tmp_path), Accepted)
    # Leave to remove it is not leave to move it.
    moved = PLUG + UPSTREAM + LOCAL.replace("homeassistant.local", "evil.example.org")
    assert isinstance(_verify(fleet_key, local, moved, tmp_path), Rejected)


def test_the_owner_may_open_the_dashboard_to_the_home_network(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    local = _hub(tmp_path, fleet_key, allow='[fleet.allow.web]\nlisten = "0.0.0.0"\n')
    result = _verify(fleet_key, local, PLUG + UPSTREAM + '\n[web]\nlisten = "0.0.0.0"\n', tmp_path)
    assert isinstance(result, Accepted), result
    assert isinstance(
        _verify(fleet_key, local, PLUG + UPSTREAM + '\n[web]\nlisten = "10.0.0.2"\n', tmp_path), Rejected
    )


def test_a_push_cannot_widen_the_owners_allowance(tmp_path: Path, fleet_key: Ed25519PrivateKey) -> None:
    local = _hub(tmp_path, fleet_key)
    pushed = (
        PLUG
        + UPSTREAM.replace("broker.example.org", "evil.example.org")
        + '\n[fleet]\npublic_key = "x"\n[fleet.allow]\nupstream = { host = "evil.example.org" }\n'
    )
    result = _verify(fleet_key, local, pushed, tmp_path)
    assert isinstance(result, Rejected)
    assert "fleet: set at provisioning" in result.reason


@pytest.mark.parametrize(
    ("allow", "message"),
    [
        ("[fleet.allow]\nsources = false\n", "fleet.allow.sources: not a section that holds a destination"),
        (
            '[fleet.allow.upstream]\nhots = "b"\n',
            "fleet.allow.upstream: Object contains unknown field `hots`",
        ),
        ('[fleet.allow.upstream]\nport = "high"\n', "fleet.allow.upstream.port"),
        ("[fleet.allow]\nupstream = true\n", "fleet.allow.upstream: expected a table of keys, or false"),
    ],
)
def test_a_mistake_in_the_owners_allowance_is_a_config_error(
    tmp_path: Path, fleet_key: Ed25519PrivateKey, allow: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace(".", r"\.")):
        _hub(tmp_path, fleet_key, allow=allow)


def test_a_destination_change_is_audited_when_it_runs_and_again_when_rolled_back(
    tmp_path: Path, fleet_key: Ed25519PrivateKey
) -> None:
    config = _hub(tmp_path, fleet_key)
    ledger = open_ledger(tmp_path / "data")
    try:
        moved = Change("upstream.host", "broker.example.org", "broker2.example.org")
        history.begin(ledger, 3, "b" * 64, "# v3\n", [moved])
        history.finish(ledger, 3, "b" * 64, "rolled_back", "upstream connects: refused")
        moves = destination.history(ledger)
        problems = verify_audit(ledger)
    finally:
        ledger.close()
    assert problems == []
    assert [(m.key, m.before, m.after, m.version, m.rolled_back) for m in moves if not m.refused] == [
        ("upstream.host", "broker.example.org", "broker2.example.org", 3, False),
        ("upstream.host", "broker2.example.org", "broker.example.org", 3, True),
    ]
    shown = destination.lines(config, moves)
    assert shown[0] == (
        "consented data goes to mqtts://broker.example.org:8883, topics hearth/v1/hub-d/<recipient>/<strand>"
    )
    assert shown[1].endswith(
        'fleet push v3 changed upstream.host: "broker.example.org" -> "broker2.example.org" '
        "(allowed by the owner ([fleet.allow]))"
    )
    assert shown[2].endswith('upstream.host: "broker2.example.org" -> "broker.example.org" (rolled back)')
