"""Common USB serial boards and adapters by USB vendor and product id, for ``hearth board list``."""

from __future__ import annotations

BOARDS: dict[tuple[int, int | None], str] = {
    (0x2341, 0x0043): "Arduino Uno",
    (0x2341, 0x0001): "Arduino Uno",
    (0x2341, 0x0042): "Arduino Mega 2560",
    (0x2341, 0x8036): "Arduino Leonardo",
    (0x2341, 0x8037): "Arduino Micro",
    (0x2341, 0x0058): "Arduino Nano Every",
    (0x2341, 0x805A): "Arduino Nano 33 BLE",
    (0x2341, 0x0070): "Arduino Nano ESP32",
    (0x2341, None): "Arduino board",
    (0x2E8A, 0x0005): "Raspberry Pi Pico (MicroPython)",
    (0x2E8A, 0x000A): "Raspberry Pi Pico",
    (0x2E8A, None): "Raspberry Pi RP2040/RP2350 board",
    (0x303A, 0x1001): "Espressif ESP32-S3/C3 (USB serial/JTAG)",
    (0x303A, 0x0002): "Espressif ESP32-S2",
    (0x303A, None): "Espressif board",
    (0x10C4, 0xEA60): "CP210x USB-UART (ESP32 dev boards)",
    (0x1A86, 0x7523): "CH340 USB-UART (Nano clones, NodeMCU)",
    (0x1A86, 0x55D4): "CH9102 USB-UART (ESP32 dev boards)",
    (0x0403, 0x6001): "FTDI FT232R USB-UART",
    (0x0403, 0x6015): "FTDI FT231X USB-UART",
    (0x239A, None): "Adafruit board",
    (0x16C0, 0x0483): "Teensy",
    (0x1366, None): "SEGGER J-Link (nRF dev kits)",
}


def board_name(vid: int | None, pid: int | None) -> str:
    """The common name of a USB serial device, or "" if it is not in the table."""
    if vid is None:
        return ""
    return BOARDS.get((vid, pid)) or BOARDS.get((vid, None), "")
