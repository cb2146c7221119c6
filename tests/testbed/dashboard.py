"""What the dashboard tests and the dashboard benchmark both run: Debian's Chromium and a context model."""

from __future__ import annotations

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Hub config lines: a replayed wrist IMU and the activity model reading it, for the context page.
WRIST_ACTIVITY = """
[[sources]]
kind = "simulated"
name = "wrist"
file = "builtin:wrist_imu_test.csv"
rate = 10.0

[[models]]
name = "activity"
model = "builtin:activity"
debounce = 1
[models.inputs]
acc_x = "wrist.acc_x"
acc_y = "wrist.acc_y"
acc_z = "wrist.acc_z"
gyro_x = "wrist.gyro_x"
gyro_y = "wrist.gyro_y"
gyro_z = "wrist.gyro_z"
"""
