"""docs/fleet-documents.md stays true: its signing recipe works on a hub, its allow-list is the code's."""

from __future__ import annotations

import re
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config import load_config
from agent.fleet.document import canonical, decode, public_key_text
from agent.fleet.verify import MAY_CHANGE, Accepted, verify
from tests.conftest import REPO

DOC = (REPO / "docs" / "fleet-documents.md").read_text(encoding="utf-8")


def test_the_documented_signing_recipe_makes_a_document_a_hub_accepts(tmp_path: Path) -> None:
    [recipe] = re.findall(r"```python\n(.*?)```", DOC, re.DOTALL)
    namespace: dict[str, object] = {}
    exec(recipe, namespace)  # the documentation's own code, run as a reader would
    key = Ed25519PrivateKey.generate()
    # Quotes, a backslash, a tab and non-ASCII: the escaping rules the document states.
    config = '[store]\nflush_interval = "2s"  # "Küche" \\ \t ✓\n'
    payload = namespace["signed_document"](key, config, version=3, target="hub:doc-hub")  # type: ignore[operator]
    path = tmp_path / "hearth.toml"
    path.write_text(
        f'[hub]\nid = "doc-hub"\ndata_dir = "{tmp_path / "data"}"\n'
        f'[fleet]\npublic_key = "{public_key_text(key.public_key())}"\n'
        'broker = { host = "127.0.0.1", tls = false }\n'
    )
    result = verify(payload, key.public_key(), local=load_config(path), running_version=2, now=time.time())
    assert isinstance(result, Accepted), result
    assert canonical(decode(payload).envelope).startswith(b"hearth-fleet-config/1\x00{")


def test_the_documented_allow_list_is_the_one_the_hub_enforces() -> None:
    table = DOC.split("| may change | why it is safe |", 1)[1].split("\n\n", 1)[0]
    documented: set[str] = set()
    for row in table.splitlines()[2:]:
        first = row.split("|")[1]
        section = ""
        for name in re.findall(r"`([^`]+)`", first):
            if "." in name:
                section = name.split(".", 1)[0]
            bare = section and "." not in name and not name.startswith("[")
            documented.add(f"{section}.{name}" if bare else name)
    documented |= {f"[{s}]" for s in re.findall(r"`\[(\w+)\]` added or removed", table)}
    assert documented == set(MAY_CHANGE)
