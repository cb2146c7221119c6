"""The forecast plot of a stream page: history, forecast, band and anomaly marks on one time axis."""

from __future__ import annotations

from agent.web.forecast_plot import HEIGHT, WIDTH, draw

H = 3600.0


def coords(points: str) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b in (p.split(",") for p in points.split())]


def test_history_then_forecast_then_band_share_one_axis() -> None:
    history = [(i * H, 20.0 + i) for i in range(5)]  # 20..24 over hours 0..4
    forecast = [(5 * H, 25.0, 24.0, 26.0), (6 * H, 26.0, 24.0, 28.0)]
    plot = draw(history, forecast, [(2 * H, "anomaly, score 2: expected 21..22, saw 25")], level=0.8)
    assert plot is not None
    drawn = coords(plot.history)
    assert drawn[0][0] == 0.0
    assert drawn[-1][0] == round(4 / 6 * WIDTH, 1)
    assert drawn[0][1] > drawn[-1][1]  # rising: lower values are further down
    ahead = coords(plot.forecast)
    assert ahead[0] == drawn[-1]  # the forecast continues from the last value seen
    assert ahead[-1][0] == WIDTH
    band = coords(plot.band)
    assert band[0] == band[-1] == drawn[-1]
    assert min(y for _, y in band) >= 0
    assert max(y for _, y in band) <= HEIGHT
    assert plot.now_x == drawn[-1][0]
    assert [m.x for m in plot.marks] == [round(2 / 6 * WIDTH, 1)]
    assert (plot.low, plot.high, plot.level) == (20.0, 28.0, 80)


def test_nothing_to_draw() -> None:
    assert draw([], [], [], level=0.8) is None
    only_history = draw([(0.0, 1.0), (H, 2.0)], [], [], level=0.8)
    assert only_history is not None
    assert only_history.forecast == ""
    assert only_history.band == ""
