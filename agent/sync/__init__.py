"""Upstream sync: summariser → consent gate → outbox (ledger table) → MQTT publisher."""
