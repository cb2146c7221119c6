"""Prediction: forecasts, anomalies and battery life from each stream's own history, on the hub.

    hourly series of a stream ─> forecast.py (Holt-Winters, daily season in local time, empirical intervals)
                                   ├─> anomaly.py (runs outside the one-step interval)
                                   └─> evaluate.py (rolling-origin backtest against seasonal naive)
    battery readings ───────────> battery.py (Theil-Sen slope, Sen's interval, date of empty)

Pure NumPy: no I/O, no clock; the caller feeds times and values.
"""
