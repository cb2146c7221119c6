"""BLE collection: adverts of adopted sensors and GATT devices, as readings.

The data flow, one module a step::

    scanner.py (bleak) ─> source.py ─> dedup.py ─> adoption.py (adopted only) ─> decoders.py ─> Sink
    gatt.py (bleak-retry-connector) ─> gatt_parsers.py, nus.py (board_link) ─────────────────────┘

``watchdog.py`` decides when a quiet or failing scanner is restarted and when the adapter is reset
(``recovery.py``); ``simulated.py`` replays real advert payloads behind the scanner interface.
"""

from agent.sources.ble.advert import Advert, AdvertScanner
from agent.sources.ble.source import BleSource

__all__ = ["Advert", "AdvertScanner", "BleSource"]
