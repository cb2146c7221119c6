"""A fake bluetoothd for bleak's BlueZ backend: python-dbusmock's ``bluez5`` template, extended.

The stock template lacks what bleak reads or calls (the adapter's ``Roles``, the
``AdvertisementMonitorManager1`` that passive scanning registers with) and types ``ManufacturerData``
and ``ServiceData`` as arrays where BlueZ sends dictionaries. ``Advertise`` makes a device advertise
the way bluetoothd reports it: properties set on ``Device1`` plus ``PropertiesChanged``.

Runs inside dbusmock (Debian's python3-dbusmock, under /usr/bin/python3).
"""

# ruff: noqa: F403, F405, PLR0917
import dbus
from dbusmock import OBJECT_MANAGER_IFACE, mockobject
from dbusmock.templates import bluez5 as _stock
from dbusmock.templates.bluez5 import *

MONITOR_MANAGER_IFACE = "org.bluez.AdvertisementMonitorManager1"


def load(mock, parameters):
    _stock.load(mock, parameters)
    # {"passive": false} plays a BlueZ without AdvertisementMonitor (older, or no --experimental)
    mock.passive = bool(parameters.get("passive", True))


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ss", out_signature="s")
def AddAdapter(self, device_name, system_name):
    path = _stock.AddAdapter(self, device_name, system_name)
    adapter = mockobject.objects[path]
    roles = dbus.Array(["central", "peripheral"], signature="s", variant_level=1)
    adapter.props[ADAPTER_IFACE]["Roles"] = roles
    if not self.passive:
        adapter.EmitSignal(
            dbus.PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as", [ADAPTER_IFACE, {"Roles": roles}, []]
        )
        return path
    adapter.AddProperties(
        MONITOR_MANAGER_IFACE,
        {
            "SupportedMonitorTypes": dbus.Array(["or_patterns"], signature="s", variant_level=1),
            "SupportedFeatures": dbus.Array([], signature="s", variant_level=1),
        },
    )
    adapter.AddMethods(
        MONITOR_MANAGER_IFACE,
        [("RegisterMonitor", "o", "", ""), ("UnregisterMonitor", "o", "", "")],
    )
    adapter.EmitSignal(
        dbus.PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as", [ADAPTER_IFACE, {"Roles": roles}, []]
    )
    return path


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="sss", out_signature="s")
def AddDevice(self, adapter_device_name, device_address, alias):
    """Add a device as bluetoothd announces one it hears (dictionaries typed as BlueZ types them)."""
    adapter_path = "/org/bluez/" + adapter_device_name
    path = adapter_path + "/dev_" + device_address.replace(":", "_").upper()
    if path in mockobject.objects:
        return path
    if adapter_path not in mockobject.objects:
        raise dbus.exceptions.DBusException(
            f"Adapter {adapter_device_name} does not exist.", name=BLUEZ_MOCK_IFACE + ".NoSuchAdapter"
        )
    properties = {
        "Address": dbus.String(device_address, variant_level=1),
        "AddressType": dbus.String("random", variant_level=1),
        "Name": dbus.String(alias, variant_level=1),
        "Alias": dbus.String(alias, variant_level=1),
        "Adapter": dbus.ObjectPath(adapter_path, variant_level=1),
        "UUIDs": dbus.Array([], signature="s", variant_level=1),
        "Paired": dbus.Boolean(False, variant_level=1),
        "Bonded": dbus.Boolean(False, variant_level=1),
        "Connected": dbus.Boolean(False, variant_level=1),
        "Trusted": dbus.Boolean(False, variant_level=1),
        "Blocked": dbus.Boolean(False, variant_level=1),
        "LegacyPairing": dbus.Boolean(False, variant_level=1),
        "ServicesResolved": dbus.Boolean(False, variant_level=1),
        "ManufacturerData": dbus.Dictionary({}, signature="qv", variant_level=1),
        "ServiceData": dbus.Dictionary({}, signature="sv", variant_level=1),
    }
    self.AddObject(
        path,
        DEVICE_IFACE,
        properties,
        [
            ("Connect", "", "", _stock.Connect),
            ("Disconnect", "", "", _stock.Disconnect),
            ("Pair", "", "", _stock.Pair),
            ("CancelPairing", "", "", ""),
        ],
    )
    device = mockobject.objects[path]
    device.paired = False
    device.connected = False
    return path


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="sssnsayqay", out_signature="s")
def Advertise(self, adapter_device_name, device_address, alias, rssi, uuid, data, company, mdata):
    """Make a device advertise service data ``data`` for ``uuid`` (if set) and manufacturer data."""
    path = AddDevice(self, adapter_device_name, device_address, alias)
    device = mockobject.objects[path]
    # bluetoothd announces a device (InterfacesAdded) once it has heard its first advert
    announce = "RSSI" not in device.props[DEVICE_IFACE]
    service = dbus.Dictionary({}, signature="sv", variant_level=1)
    if uuid:
        service[uuid] = dbus.Array([dbus.Byte(b) for b in data], signature="y", variant_level=1)
    manufacturer = dbus.Dictionary({}, signature="qv", variant_level=1)
    if mdata:
        manufacturer[dbus.UInt16(company)] = dbus.Array(
            [dbus.Byte(b) for b in mdata], signature="y", variant_level=1
        )
    changed = {
        "RSSI": dbus.Int16(rssi, variant_level=1),
        "ServiceData": service,
        "ManufacturerData": manufacturer,
    }
    device.props[DEVICE_IFACE].update(changed)
    if announce:
        manager = mockobject.objects["/"]
        manager.EmitSignal(
            OBJECT_MANAGER_IFACE,
            "InterfacesAdded",
            "oa{sa{sv}}",
            [dbus.ObjectPath(path), {DEVICE_IFACE: device.props[DEVICE_IFACE]}],
        )
    else:
        device.EmitSignal(dbus.PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as", [DEVICE_IFACE, changed, []])
    return path


GATT_SERVICE_IFACE = "org.bluez.GattService1"
GATT_CHARACTERISTIC_IFACE = "org.bluez.GattCharacteristic1"


def _announce(path, interface, properties):
    mockobject.objects["/"].EmitSignal(
        OBJECT_MANAGER_IFACE,
        "InterfacesAdded",
        "oa{sa{sv}}",
        [dbus.ObjectPath(path), {interface: properties}],
    )


def _set_connected(device, connected):
    changed = {
        "Connected": dbus.Boolean(connected, variant_level=1),
        "ServicesResolved": dbus.Boolean(connected, variant_level=1),
    }
    device.connected = connected
    device.props[DEVICE_IFACE].update(changed)
    device.EmitSignal(dbus.PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as", [DEVICE_IFACE, changed, []])


def GattConnect(device):
    """Connecting resolves the services at once, as bluetoothd does for a cached device."""
    _set_connected(device, True)


def GattDisconnect(device):
    _set_connected(device, False)


def ReadValue(characteristic, _options):
    return characteristic.props[GATT_CHARACTERISTIC_IFACE]["Value"]


def WriteValue(characteristic, value, _options):
    characteristic.written.append(bytes(value))
    # Not a BlueZ signal: lets a test play the device's side without polling ``Written``.
    characteristic.EmitSignal(
        BLUEZ_MOCK_IFACE,
        "Wrote",
        "say",
        [characteristic.props[GATT_CHARACTERISTIC_IFACE]["UUID"], dbus.ByteArray(bytes(value))],
    )


def StartNotify(characteristic):
    characteristic.props[GATT_CHARACTERISTIC_IFACE]["Notifying"] = dbus.Boolean(True, variant_level=1)


def StopNotify(characteristic):
    characteristic.props[GATT_CHARACTERISTIC_IFACE]["Notifying"] = dbus.Boolean(False, variant_level=1)


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="sssa(sa(ssay))", out_signature="s")
def AddGattDevice(self, adapter_device_name, device_address, alias, services):
    """A connectable device with GATT ``services``: [(uuid, [(char uuid, flags, value)])].

    ``flags`` is one or more of ``notify``, ``read``, ``write``, ``write-without-response``, joined by
    commas; what the host writes to a characteristic is kept for ``Written``.
    """
    path = AddDevice(self, adapter_device_name, device_address, alias)
    device = mockobject.objects[path]
    device.AddMethods(
        DEVICE_IFACE, [("Connect", "", "", GattConnect), ("Disconnect", "", "", GattDisconnect)]
    )
    handle = 0x10
    for service_uuid, characteristics in services:
        service_path = f"{path}/service{handle:04x}"
        service_props = {
            "UUID": dbus.String(service_uuid, variant_level=1),
            "Device": dbus.ObjectPath(path, variant_level=1),
            "Primary": dbus.Boolean(True, variant_level=1),
            "Handle": dbus.UInt16(handle, variant_level=1),
        }
        self.AddObject(service_path, GATT_SERVICE_IFACE, service_props, [])
        _announce(service_path, GATT_SERVICE_IFACE, service_props)
        for char_uuid, flag, value in characteristics:
            handle += 1
            char_path = f"{service_path}/char{handle:04x}"
            char_props = {
                "UUID": dbus.String(char_uuid, variant_level=1),
                "Service": dbus.ObjectPath(service_path, variant_level=1),
                "Flags": dbus.Array(flag.split(","), signature="s", variant_level=1),
                "Value": dbus.Array([dbus.Byte(b) for b in value], signature="y", variant_level=1),
                "Notifying": dbus.Boolean(False, variant_level=1),
                "Handle": dbus.UInt16(handle, variant_level=1),
            }
            self.AddObject(
                char_path,
                GATT_CHARACTERISTIC_IFACE,
                char_props,
                [
                    ("ReadValue", "a{sv}", "ay", ReadValue),
                    ("WriteValue", "aya{sv}", "", WriteValue),
                    ("StartNotify", "", "", StartNotify),
                    ("StopNotify", "", "", StopNotify),
                ],
            )
            mockobject.objects[char_path].written = []
            _announce(char_path, GATT_CHARACTERISTIC_IFACE, char_props)
        handle = (handle | 0xF) + 1
    return path


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ssay", out_signature="")
def Notify(self, device_address, char_uuid, value):
    """The device notifies ``value`` on its characteristic ``char_uuid``."""
    obj = _characteristic(device_address, char_uuid)
    changed = {"Value": dbus.Array([dbus.Byte(b) for b in value], signature="y", variant_level=1)}
    obj.props[GATT_CHARACTERISTIC_IFACE].update(changed)
    obj.EmitSignal(
        dbus.PROPERTIES_IFACE, "PropertiesChanged", "sa{sv}as", [GATT_CHARACTERISTIC_IFACE, changed, []]
    )


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ss", out_signature="aay")
def Written(self, device_address, char_uuid):
    """Every value the host has written to the device's characteristic ``char_uuid``, oldest first."""
    obj = _characteristic(device_address, char_uuid)
    return dbus.Array([dbus.ByteArray(value) for value in obj.written], signature="ay")


def _characteristic(device_address, char_uuid):
    suffix = "/dev_" + device_address.replace(":", "_").upper() + "/"
    for path, obj in list(mockobject.objects.items()):
        props = obj.props.get(GATT_CHARACTERISTIC_IFACE)
        if suffix in path and props and props["UUID"] == char_uuid:
            return obj
    raise dbus.exceptions.DBusException(
        f"no characteristic {char_uuid}", name=BLUEZ_MOCK_IFACE + ".NoSuchObject"
    )


@dbus.service.method(BLUEZ_MOCK_IFACE, in_signature="ss", out_signature="")
def DropLink(self, adapter_device_name, device_address):
    """The radio link to the device drops (out of range, battery pulled)."""
    path = "/org/bluez/" + adapter_device_name + "/dev_" + device_address.replace(":", "_").upper()
    _set_connected(mockobject.objects[path], False)
