"""``hearth forecast``: what the hub forecasts, its latest forecasts, how good they are on its own history."""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent.cli.options import config_option

if TYPE_CHECKING:
    from agent.config.schema import Config
    from agent.store.readings import ReadingsStore


@click.group()
def forecast() -> None:
    """Forecasts, anomalies and battery estimates of the streams [prediction] names."""


def _load(config_path: Path) -> tuple[Config, ReadingsStore]:
    from agent.config import load_config
    from agent.errors import ConfigError
    from agent.store.readings import open_readings

    config = load_config(config_path)
    if config.prediction is None:
        raise ConfigError(
            "there is no [prediction] section", source=str(config_path), hint="see docs/prediction.md"
        )
    return config, open_readings(Path(config.hub.data_dir), read_only=True)


def _forecast_streams(config: Config, store: ReadingsStore) -> list[str]:
    from agent.prediction.service import forecasts
    from agent.store.forecasts import stream_units

    assert config.prediction is not None
    return sorted(n for n in stream_units(store.conn) if forecasts(config.prediction.streams, n))


def _time(ts: float, config: Config) -> str:
    from agent.config import HubClock

    return HubClock.of(config).format(ts, "%Y-%m-%d %H:%M")


@forecast.command("list")
@config_option
def list_forecasts(config_path: Path) -> None:
    """List the forecast streams with their latest forecasts (point and interval) and anomaly state.

    Example: hearth forecast list -c /etc/hearth/hearth.toml
    """
    from rich.console import Console
    from rich.table import Table

    from agent.prediction.service import Settings
    from agent.prediction.strands import anomaly_strand, forecast_strand, parse_interval
    from agent.store.forecasts import latest_of

    config, store = _load(config_path)
    try:
        settings = Settings.of(config)
        streams = _forecast_streams(config, store)
        names = {forecast_strand(s, h * settings.step) for s in streams for h in settings.horizons}
        latest = latest_of(store.conn, names | {anomaly_strand(s) for s in streams})
    finally:
        store.close()
    table = Table(
        title=f"forecasts of hub {config.hub.id} ({round(settings.level * 100)} % intervals;"
        f" times in {config.hub.timezone})"
    )
    table.add_column("stream")
    table.add_column("made")
    for h in settings.horizons:
        table.add_column(f"+{_horizon(h * settings.step)}")
    table.add_column("anomaly")
    for stream in streams:
        made = ""
        cells = []
        for h in settings.horizons:
            found = latest.get(forecast_strand(stream, h * settings.step))
            if found is None:
                cells.append("—")
                continue
            made = _time(found[0], config)
            interval = parse_interval(found[2])
            band = "" if interval is None else f" [{interval.low:.4g}..{interval.high:.4g}]"
            cells.append(f"{found[1]:.4g}{band}")
        anomaly = latest.get(anomaly_strand(stream))
        flag = "no" if anomaly is None or anomaly[1] == 0 else f"yes ({anomaly[1]:.3g}, {anomaly[2]})"
        table.add_row(stream, made or "not yet", *cells, flag)
    console = Console()
    console.print(table)
    if not streams:
        console.print("no recorded stream matches [prediction] streams", style="dim")


def _horizon(seconds: float) -> str:
    from agent.prediction.strands import horizon_name

    return horizon_name(seconds)


@forecast.command("show")
@config_option
@click.argument("stream")
def show(config_path: Path, stream: str) -> None:
    """Show STREAM's latest forecast per horizon with its interval and its recent error.

    Example: hearth forecast show -c hearth.toml bedroom.temperature
    """
    from rich.console import Console
    from rich.table import Table

    from agent.prediction.service import Settings, decode_state
    from agent.prediction.strands import anomaly_strand, forecast_strand, parse_interval
    from agent.store.forecasts import latest_of, saved_state

    config, store = _load(config_path)
    try:
        settings = Settings.of(config)
        streams = _forecast_streams(config, store)
        if stream not in streams:
            shown = ", ".join(streams) or "none recorded yet"
            raise click.BadParameter(f"{stream!r} is not forecast here (forecast streams: {shown})")
        names = {forecast_strand(stream, h * settings.step): h for h in settings.horizons}
        latest = latest_of(store.conn, {*names, anomaly_strand(stream)})
        saved = saved_state(store.conn, stream)
    finally:
        store.close()
    model = None
    if saved is not None and saved[0] == settings.fingerprint:
        try:
            model = decode_state(saved[1], settings)[0]
        except ValueError:
            model = None
    table = Table(
        title=f"{stream}: forecasts ({round(settings.level * 100)} % interval;"
        f" times in {config.hub.timezone})"
    )
    for column in ("horizon", "for the step ending", "forecast", "interval", "recent mean abs. error"):
        table.add_column(column)
    for name, h in names.items():
        found = latest.get(name)
        error = None if model is None else model.recent_error(h)
        error_text = "—" if error is None else f"{error:.3g}"
        if found is None:
            table.add_row(_horizon(h * settings.step), "—", "—", "—", error_text)
            continue
        interval = parse_interval(found[2])
        band = "—" if interval is None else f"{interval.low:.4g} .. {interval.high:.4g}"
        target = found[0] + h * settings.step
        table.add_row(_horizon(h * settings.step), _time(target, config), f"{found[1]:.4g}", band, error_text)
    console = Console()
    console.print(table)
    anomaly = latest.get(anomaly_strand(stream))
    if anomaly is None:
        console.print("no anomaly seen")
    else:
        state = "anomalous" if anomaly[1] else "normal again"
        console.print(
            f"latest anomaly event {_time(anomaly[0], config)} {config.hub.timezone}: {state}"
            f" (score {anomaly[1]:.3g}; {anomaly[2]})"
        )


@forecast.command("eval")
@config_option
@click.argument("stream", required=False)
@click.option("--days", type=click.IntRange(2, 3650), default=28, show_default=True, help="History to use.")
def evaluate(config_path: Path, stream: str | None, days: int) -> None:
    """Backtest the forecaster on the hub's own history (rolling origin) next to seasonal naive.

    The first 75 % of the history is learned; from every step of the rest each horizon is forecast before
    it is seen. MASE below 1 beats "the same time yesterday"; coverage should be near the interval level.

    Example: hearth forecast eval -c hearth.toml bedroom.temperature --days 60
    """
    import time

    from rich.console import Console
    from rich.table import Table

    from agent.prediction.evaluate import backtest
    from agent.prediction.service import Settings
    from agent.store.forecasts import step_means

    config, store = _load(config_path)
    try:
        settings = Settings.of(config)
        streams = _forecast_streams(config, store)
        if stream is not None:
            if stream not in streams:
                shown = ", ".join(streams) or "none recorded yet"
                raise click.BadParameter(f"{stream!r} is not forecast here (forecast streams: {shown})")
            streams = [stream]
        end = math.floor(time.time() / settings.step) * settings.step
        history = step_means(store.conn, streams, start=end - days * 86400, end=end, step=settings.step)
    finally:
        store.close()
    table = Table(
        title=f"backtest on {days} days of the hub's history ({round(settings.level * 100)} % interval)"
    )
    for column in ("stream", "horizon", "MASE", "seasonal naive MASE", "coverage", "origins"):
        table.add_column(column)
    console = Console()
    for name in streams:
        cells = history.get(name, {})
        if not cells:
            table.add_row(name, "", "no history", "", "", "")
            continue
        first, last = min(cells), max(cells)
        grid = range(first, last + 1)
        values = [cells[i][0] / cells[i][1] if i in cells else math.nan for i in grid]
        try:
            scores = backtest(
                [float(i * settings.step) for i in grid],
                values,
                season=settings.season,
                horizons=settings.horizons,
                level=settings.level,
                every=max(1, len(grid) // 2000),
            )
        except ValueError as exc:
            table.add_row(name, "", f"too little history ({exc})", "", "", "")
            continue
        table.add_row(
            name,
            "all",
            f"{scores.mean_mase:.3f}",
            f"{scores.mean_naive_mase:.3f}",
            f"{scores.mean_coverage:.2f}",
            str(scores.origins),
        )
        for k, h in enumerate(settings.horizons):
            table.add_row(
                "",
                _horizon(h * settings.step),
                f"{scores.mase[k]:.3f}",
                f"{scores.naive_mase[k]:.3f}",
                f"{scores.coverage[k]:.2f}",
                "",
            )
    console.print(table)
