"""A bad model or mapping is a clear error when the config is checked, not at the first window."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from agent.cli import cli
from agent.config import config_from_mapping
from agent.daemon import Agent
from agent.errors import ConfigError
from agent.inference.check import load_models

from .conftest import ACTIVITY_INPUTS, activity_entry, hub

WRIST_CSV = "builtin:wrist_imu_test.csv"


def write_config(tmp_path: Path, models: list[dict[str, object]]) -> Path:
    document = hub(
        tmp_path, sources=[{"kind": "simulated", "name": "wrist", "file": WRIST_CSV}], models=models
    )
    lines = [f'[hub]\nid = "test-hub"\ndata_dir = "{tmp_path / "data"}"\n']
    lines.append(f'[[sources]]\nkind = "simulated"\nname = "wrist"\nfile = "{WRIST_CSV}"\n')
    for entry in document["models"]:  # type: ignore[attr-defined]
        lines.append(f'[[models]]\nname = "{entry["name"]}"\nmodel = "{entry["model"]}"\n')
        for key, value in entry.items():
            if key not in {"name", "model", "inputs"}:
                lines.append(f"{key} = {json.dumps(value)}\n")
        lines.append("[models.inputs]\n")
        lines.extend(f'{k} = "{v}"\n' for k, v in entry["inputs"].items())
    path = tmp_path / "hearth.toml"
    path.write_text("".join(lines), encoding="utf-8")
    tomllib.loads(path.read_text(encoding="utf-8"))
    return path


def check(path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["config", "check", str(path)])
    return result.exit_code, result.output


def rewrite_card(folder: Path, **changes: object) -> None:
    card = json.loads((folder / "card.json").read_text(encoding="utf-8"))
    card.update(changes)
    (folder / "card.json").write_text(json.dumps(card), encoding="utf-8")


def test_good_config_checks_ok(tmp_path: Path) -> None:
    code, output = check(write_config(tmp_path, [activity_entry()]))
    assert code == 0, output
    assert "1 models" in output


def test_sha_mismatch(tmp_path: Path, model_copy: Path) -> None:
    data = bytearray((model_copy / "model.tflite").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (model_copy / "model.tflite").write_bytes(bytes(data))
    code, output = check(write_config(tmp_path, [activity_entry(str(model_copy))]))
    assert code == 2
    assert "models[0].model" in output
    assert "'activity'" in output
    assert "does not match the card" in output


def test_corrupted_model_file(tmp_path: Path, model_copy: Path) -> None:
    import hashlib

    garbage = b"\x00not a flatbuffer\x00" * 64
    (model_copy / "model.tflite").write_bytes(garbage)
    rewrite_card(model_copy, sha256=hashlib.sha256(garbage).hexdigest())
    code, output = check(write_config(tmp_path, [activity_entry(str(model_copy))]))
    assert code == 2
    assert "models[0].model" in output
    assert "not a loadable TFLite model" in output


def test_input_shape_mismatch(tmp_path: Path, model_copy: Path) -> None:
    rewrite_card(model_copy, window=50, hop=50)
    code, output = check(write_config(tmp_path, [activity_entry(str(model_copy))]))
    assert code == 2
    assert "models[0].model" in output
    assert "input shape [1, 100, 6] does not match the card" in output


def test_unknown_stream(tmp_path: Path) -> None:
    code, output = check(write_config(tmp_path, [activity_entry(device="ankle")]))
    assert code == 2
    assert "models[0].inputs.acc_x" in output
    assert "'ankle.acc_x', which no configured source declares" in output


def test_unmapped_and_unknown_inputs(tmp_path: Path) -> None:
    entry = activity_entry()
    del entry["inputs"]["gyro_z"]  # type: ignore[attr-defined]
    code, output = check(write_config(tmp_path, [entry]))
    assert code == 2
    assert "models[0].inputs.gyro_z" in output
    entry["inputs"]["magnet"] = "wrist.acc_x"  # type: ignore[index]
    code, output = check(write_config(tmp_path, [entry]))
    assert code == 2
    assert "has no input 'magnet'" in output


def test_missing_model_and_bad_card(tmp_path: Path, model_copy: Path) -> None:
    code, output = check(write_config(tmp_path, [activity_entry("builtin:nope")]))
    assert code == 2
    assert "no built-in model 'nope'" in output
    (model_copy / "card.json").write_text("{", encoding="utf-8")
    code, output = check(write_config(tmp_path, [activity_entry(str(model_copy))]))
    assert code == 2
    assert "invalid model card" in output


def test_agent_start_fails_before_any_window(tmp_path: Path, model_copy: Path) -> None:
    rewrite_card(model_copy, window=50, hop=50)
    mapping = hub(
        tmp_path,
        sources=[{"kind": "simulated", "name": "wrist", "file": WRIST_CSV}],
        models=[activity_entry(str(model_copy))],
    )
    config = config_from_mapping(mapping)
    with pytest.raises(ConfigError, match=r"models\[0\]\.model: model 'activity'"):
        Agent(config)


def test_schema_rejects_bad_model_settings(tmp_path: Path) -> None:
    mapping = hub(tmp_path, sources=[], models=[activity_entry(num_threads=0)])
    with pytest.raises(ConfigError, match=r"models\[0\]\.num_threads"):
        config_from_mapping(mapping)


def test_load_models_maps_every_input(tmp_path: Path) -> None:
    mapping = hub(
        tmp_path,
        sources=[{"kind": "simulated", "name": "wrist", "file": WRIST_CSV}],
        models=[activity_entry(num_threads=2)],
    )
    (model,) = load_models(config_from_mapping(mapping))
    assert [i.name for i in model.card.inputs] == list(ACTIVITY_INPUTS)
    assert msgspec.structs.asdict(model.card.normalisation)["kind"] == "in_model"


def test_demo_config_loads_both_models(tmp_path: Path) -> None:
    from agent.demo import demo_config

    models = load_models(demo_config(tmp_path))
    assert [m.name for m in models] == ["activity", "appliance", "appliance"]  # the garage plug: appliance
