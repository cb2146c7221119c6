"""Per-hub broker identities: credentials and ACLs for Mosquitto's dynamic security plugin.

Each hub gets its own broker user (its hub id) and its own role::

    publish   <prefix>/<hub>/#                          its status, presence and upstream topics
    subscribe <prefix>/fleet/hub/<hub>                  documents addressed to it
              <prefix>/fleet/group/<group>              ... and to each of its groups
    receive   those topics only

The manager role alone may publish on ``<prefix>/fleet/#`` (fleet documents) and read every hub's
status and presence. The commands are the plugin's JSON control API (what ``mosquitto_ctrl dynsec``
sends), published on ``$CONTROL/dynamic-security/v1`` by the broker's dynsec admin; building them is pure.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Sequence
from typing import Any

import aiomqtt

from agent.config.schema import BrokerConfig
from agent.connection import port_of
from agent.errors import AgentError
from agent.fleet.mqtt import client, document_topic, presence_topic, status_topic

CONTROL = "$CONTROL/dynamic-security/v1"
MANAGER_ROLE = "hearth-fleet-manager"
ANSWER_WITHIN = 10.0  # seconds the plugin has to answer a batch of commands
_ALLOW, _DENY_ALL = 10, 0  # ACL priorities: a role's allows are checked before its catch-all deny

Command = dict[str, Any]


def hub_role(hub: str) -> str:
    """The dynsec role holding ``hub``'s ACLs."""
    return f"hearth-hub-{hub}"


def _acl(acltype: str, topic: str, *, allow: bool = True) -> dict[str, Any]:
    return {"acltype": acltype, "topic": topic, "priority": _ALLOW if allow else _DENY_ALL, "allow": allow}


def hub_acls(prefix: str, hub: str, groups: Sequence[str]) -> list[dict[str, Any]]:
    """What ``hub`` may do on the broker: publish under its own namespace, read what is addressed to it."""
    readable = [document_topic(prefix, f"hub:{hub}")] + [document_topic(prefix, f"group:{g}") for g in groups]
    acls = [_acl("publishClientSend", f"{prefix}/{hub}/#")]
    for topic in readable:
        acls += [_acl("subscribeLiteral", topic), _acl("publishClientReceive", topic)]
    acls += [_acl("publishClientSend", "#", allow=False), _acl("publishClientReceive", "#", allow=False)]
    return acls


def manager_acls(prefix: str) -> list[dict[str, Any]]:
    """What a fleet manager may do: publish (and clear) fleet documents, read every hub's reports."""
    reports = [status_topic(prefix, "+"), presence_topic(prefix, "+")]
    acls = [_acl("publishClientSend", f"{prefix}/fleet/#")]
    for topic in reports:
        acls += [_acl("subscribePattern", topic), _acl("publishClientReceive", topic)]
    return acls


def enrol_commands(username: str, password: str, role: str, acls: list[dict[str, Any]]) -> list[Command]:
    """Commands that (re)make ``username`` with ``password`` and exactly the role ``role`` with ``acls``.

    The delete commands fail harmlessly for a first enrolment; enrolling again rotates the password and
    replaces the ACLs.
    """
    return [
        {"command": "deleteClient", "username": username},
        {"command": "deleteRole", "rolename": role},
        {"command": "createRole", "rolename": role, "textname": "hearth fleet", "acls": acls},
        {
            "command": "createClient",
            "username": username,
            "password": password,
            "textname": "hearth fleet",
            "roles": [{"rolename": role, "priority": 0}],
        },
    ]


def new_password() -> str:
    """A fresh broker password (192 random bits, URL-safe)."""
    return secrets.token_urlsafe(24)


async def apply(admin: BrokerConfig, commands: list[Command]) -> None:
    """Send ``commands`` to the broker's dynsec plugin as its admin; raise naming the first that failed."""
    responses: list[dict[str, Any]] = []
    try:
        async with client(admin, identifier=None) as mqtt:
            await mqtt.subscribe(f"{CONTROL}/response", qos=1)
            await mqtt.publish(CONTROL, json.dumps({"commands": commands}).encode(), qos=1)
            async with asyncio.timeout(ANSWER_WITHIN):
                async for message in mqtt.messages:
                    responses = json.loads(message.payload).get("responses", [])
                    break
    except TimeoutError:
        raise AgentError(
            f"the broker {admin.host}:{port_of(admin)} did not answer on {CONTROL}",
            hint="is Mosquitto's dynamic security plugin loaded, and is this its admin user?",
        ) from None
    except aiomqtt.MqttError as exc:
        raise AgentError(f"cannot reach {admin.host}:{port_of(admin)} as the dynsec admin: {exc}") from None
    for command, response in zip(commands, responses, strict=False):
        error = response.get("error")
        if error and not command["command"].startswith("delete"):
            raise AgentError(f"the broker refused {command['command']}: {error}")
