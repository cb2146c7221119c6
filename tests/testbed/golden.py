"""The firmware bridge's golden vectors (firmware_bridge/golden/vectors.json), for host-side tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[2] / "firmware_bridge" / "golden" / "vectors.json").read_text("utf-8")
)
# Each valid and malformed vector's wire bytes, by the vector's name.
GOLDEN: dict[str, bytes] = {
    v["name"]: bytes.fromhex(v["wire"]) for v in VECTORS["valid"] + VECTORS["malformed"]
}
