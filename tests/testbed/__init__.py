"""Set-ups the tests and the benchmarks share: a real Mosquitto, the dashboard and 20-sensor hubs.

Development only: the wheel ships ``agent`` and ``firmware_bridge``, never this.
"""
