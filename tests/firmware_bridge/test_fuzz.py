"""Run the atheris fuzz harness for a short time, seeded with the golden vectors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parents[1] / "firmware_bridge" / "golden" / "vectors.json"


def test_fuzz_decoder_briefly(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    vectors = json.loads(VECTORS.read_text(encoding="utf-8"))
    for i, vector in enumerate(vectors["valid"] + vectors["malformed"]):
        (corpus / f"seed{i}").write_bytes(b"\x07" + bytes.fromhex(vector["wire"]))
    result = subprocess.run(
        [sys.executable, str(HERE / "fuzz_decoder.py"), "-max_total_time=12", "-seed=1", str(corpus)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Done" in result.stderr
