"""Set-ups the tests and the benchmarks share: a real Mosquitto, the dashboard hub. Never shipped."""
