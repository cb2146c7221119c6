"""docs/intents.md and config/hearth.toml say what the code does: the vocabulary and the [market] keys."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from agent.config.schema import MarketConfig
from agent.intents.inbox import Limits
from agent.intents.model import CATEGORIES

REPO = Path(__file__).parents[2]


def test_the_vocabulary_in_the_docs_is_the_one_the_hub_accepts() -> None:
    text = (REPO / "docs" / "intents.md").read_text()
    rows = dict(re.findall(r"^\| `([a-z]+)` \| (.+) \|$", text, flags=re.MULTILINE))
    assert rows == CATEGORIES


def test_every_market_key_is_documented_with_its_default() -> None:
    text = (REPO / "config" / "hearth.toml").read_text()
    section = text[text.index("# [market]") :].split("\n\n", 1)[0]
    documented = dict(re.findall(r"^# (\w+) = (\S+)", section, flags=re.MULTILINE))
    defaults = msgspec.to_builtins(MarketConfig(host="-"))
    own = {f.name for f in msgspec.structs.fields(MarketConfig)} - {
        f.name for f in msgspec.structs.fields(MarketConfig.__mro__[1])
    }
    assert own <= set(documented)
    for key in own:
        assert documented[key].strip('"') == str(defaults[key]), key
    # The pure layer's defaults are the config's.
    assert Limits().max_size == defaults["offer_max_size"]
    assert Limits().per_period == defaults["offers_per_period"]
    assert Limits().inbox_cap == defaults["inbox_cap"]
