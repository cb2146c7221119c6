"""Upstream sync: summariser → consent gate → outbox (``agent.consent.outbox``) → MQTT publisher."""
