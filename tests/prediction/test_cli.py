"""``hearth forecast list|show|eval`` on a hub's real readings file."""

from __future__ import annotations

from pathlib import Path

from agent.prediction.service import Prediction
from agent.store.readings import open_readings
from tests.conftest import eventually, hearth
from tests.hub.test_fake_hub import make_hub, running, set_up
from tests.prediction.test_feature import fill_history

WIDE = {"COLUMNS": "220"}


def write_config(
    tmp_path: Path, prediction: str = '[prediction]\nstreams = ["bedroom.temperature"]\n'
) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(f'[hub]\nid = "home"\ndata_dir = "{tmp_path / "data"}"\n{prediction}')
    return path


async def test_list_show_and_eval_read_the_hubs_own_forecasts_and_history(tmp_path: Path) -> None:
    hub = make_hub(tmp_path, prediction={"streams": ["bedroom.temperature"]})
    fill_history(hub.data_dir, days=21)
    prediction = set_up(hub, "prediction")
    assert isinstance(prediction, Prediction)
    async with running(hub):
        await eventually(prediction.ready.is_set, "the history to be learned")
        await eventually(lambda: hub.recorder.committed >= 3, "the forecasts to be committed")
    config = write_config(tmp_path)

    listed = hearth("forecast", "list", "-c", str(config), env_extra=WIDE)
    assert listed.returncode == 0, listed.stderr
    assert "bedroom.temperature" in listed.stdout
    assert "+1h" in listed.stdout
    assert "+6h" in listed.stdout
    assert " .." in listed.stdout or ".." in listed.stdout  # the interval

    shown = hearth("forecast", "show", "-c", str(config), "bedroom.temperature", env_extra=WIDE)
    assert shown.returncode == 0, shown.stderr
    rows = [line for line in shown.stdout.splitlines() if line.strip().startswith(("│ 1h", "│ 2h", "│ 6h"))]
    assert len(rows) == 3
    assert "—" not in rows[0]  # a forecast, an interval and its recent error
    assert "no anomaly seen" in shown.stdout

    evaluated = hearth("forecast", "eval", "-c", str(config), env_extra=WIDE)
    assert evaluated.returncode == 0, evaluated.stderr
    lines = evaluated.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "bedroom.temperature" in line)
    rows = [[c.strip() for c in line.split("│")[1:-1]] for line in lines[at : at + 4]]
    assert [row[1] for row in rows] == ["all", "1h", "2h", "6h"]
    for row in rows:
        mase, naive, coverage = float(row[2]), float(row[3]), float(row[4])
        assert mase > 0
        assert 0.9 < naive < 1.1  # seasonal naive on a daily cycle: about its own in-sample error
        assert 0 <= coverage <= 1


def test_a_stream_that_is_not_forecast_and_a_config_without_prediction_are_clear_errors(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    open_readings(tmp_path / "data").close()
    config = write_config(tmp_path)
    unknown = hearth("forecast", "show", "-c", str(config), "garage.humidity")
    assert unknown.returncode == 2
    assert "Invalid value: 'garage.humidity' is not forecast here" in unknown.stderr
    assert "config:" not in unknown.stderr
    assert "Traceback" not in unknown.stderr
    plain = write_config(tmp_path, prediction="")
    missing = hearth("forecast", "list", "-c", str(plain))
    assert missing.returncode == 2
    assert "there is no [prediction] section" in missing.stderr
