"""The tests' Mosquitto: the one in ``testbed``, which the benchmarks share."""

from testbed.mosquitto import MOSQUITTO, Mosquitto, accepts, free_port

__all__ = ["MOSQUITTO", "Mosquitto", "accepts", "free_port"]
