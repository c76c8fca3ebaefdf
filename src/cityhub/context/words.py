"""Entity types, attribute names and units in words, for pages (「空气质量监测」, not `AirQualityObserved`).

People read 「PM2.5」 and 「µg/m³」, not expanded IRIs and codes.

An entity type is named by `TYPES` (the Smart Data Models types a city's systems send most — environment,
transport, parking, lighting, water, waste, buildings, devices), else by its term split into words, like an
attribute.

An attribute is named, in order: by this table (the common attributes of Smart Data Models — Device,
AirQualityObserved, WeatherObserved, NoiseLevelObserved, TrafficFlowObserved, Parking … — and of connect's
bridged devices and assets), by the device profile's metric of that key (its Chinese and English names, from
connect), else by the term itself, its last IRI segment split into words (`https://example.org/ns#airTemp` →
"air temp"). The raw term is kept for a tooltip. Units: a UN/CEFACT `unitCode` by its symbol.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cityhub.context import bridge
from cityhub.kit.i18n import gettext, lazy

# Smart Data Models' and the bridge's attribute terms, by their English names (translated by the catalogue)
ATTRIBUTES = {
    "name": lazy("Name"), "alternateName": lazy("Other name"), "description": lazy("Description"),
    "category": lazy("Category"), "deviceState": lazy("Device state"), "status": lazy("Status"),
    "controlledAsset": lazy("Monitored asset"), "refParent": lazy("Part of"), "refDevice": lazy("Device"),
    "location": lazy("Location"), "address": lazy("Address"), "areaServed": lazy("Area served"),
    "serialNumber": lazy("Serial number"), "owner": lazy("Owner"), "dataProvider": lazy("Data provider"),
    "source": lazy("Data source"), "dateObserved": lazy("Observed on"), "batteryLevel": lazy("Battery level"),
    "pm25": lazy("PM2.5"), "pm10": lazy("PM10"), "pm1": lazy("PM1"), "no2": lazy("Nitrogen dioxide"),
    "so2": lazy("Sulphur dioxide"), "o3": lazy("Ozone"), "co": lazy("Carbon monoxide"),
    "co2": lazy("Carbon dioxide"), "airQualityIndex": lazy("Air quality index"),
    "airQualityLevel": lazy("Air quality level"), "temperature": lazy("Temperature"),
    "relativeHumidity": lazy("Relative humidity"), "humidity": lazy("Humidity"),
    "atmosphericPressure": lazy("Atmospheric pressure"), "windSpeed": lazy("Wind speed"),
    "windDirection": lazy("Wind direction"), "precipitation": lazy("Precipitation"),
    "illuminance": lazy("Illuminance"), "LAeq": lazy("Equivalent sound level"), "LAmax": lazy("Maximum sound level"),
    "intensity": lazy("Traffic volume"), "averageVehicleSpeed": lazy("Average vehicle speed"),
    "occupancy": lazy("Occupancy"), "congested": lazy("Congested"),
    "availableSpotNumber": lazy("Free spaces"), "totalSpotNumber": lazy("Total spaces"),
    "waterLevel": lazy("Water level"), "flow": lazy("Flow"), "pH": lazy("pH"),
    "dissolvedOxygen": lazy("Dissolved oxygen"), "turbidity": lazy("Turbidity"), "strain": lazy("Strain"),
    "displacement": lazy("Displacement"), "vibration": lazy("Vibration"), "tilt": lazy("Tilt"),
    "accuracy": lazy("Accuracy"), "unitText": lazy("Unit of measure"), "raw": lazy("Raw reading"),
    "readings": lazy("Readings"),
}
# Smart Data Models' entity types, by their English names (translated by the catalogue)
TYPES = {
    "AirQualityObserved": lazy("Air quality observation"), "AirQualityMonitoring": lazy("Air quality monitoring"),
    "WeatherObserved": lazy("Weather observation"), "WeatherForecast": lazy("Weather forecast"),
    "WeatherAlert": lazy("Weather alert"), "NoiseLevelObserved": lazy("Noise level observation"),
    "WaterQualityObserved": lazy("Water quality observation"), "WaterObserved": lazy("Water observation"),
    "FloodMonitoring": lazy("Flood monitoring"), "TrafficFlowObserved": lazy("Traffic flow observation"),
    "CrowdFlowObserved": lazy("Crowd flow observation"), "Road": lazy("Road"), "RoadSegment": lazy("Road segment"),
    "Vehicle": lazy("Vehicle"), "ParkingSpot": lazy("Parking space"), "OffStreetParking": lazy("Car park"),
    "OnStreetParking": lazy("On-street parking"), "EVChargingStation": lazy("EV charging station"),
    "BikeHireDockingStation": lazy("Bike hire station"), "Streetlight": lazy("Street light"),
    "StreetlightControlCabinet": lazy("Street light cabinet"), "WasteContainer": lazy("Waste container"),
    "Building": lazy("Building"), "PointOfInterest": lazy("Point of interest"), "Alert": lazy("Alert"),
    "Device": lazy("Device"), "DeviceModel": lazy("Device model"), "DeviceMeasurement": lazy("Device measurement"),
    "Sensor": lazy("Sensor"), "Camera": lazy("Camera"), "Museum": lazy("Museum"), "Park": lazy("Public park"),
    "Garden": lazy("Garden"), "GreenspaceRecord": lazy("Green space record"),
}
# UN/CEFACT common codes as symbols (the bridge's own table, inverted, and a few more)
UNITS = {**{code: symbol for symbol, code in bridge.UNIT_CODES.items()},
         "KEL": "K", "MTS": "m/s", "HTZ": "Hz", "MBR": "mbar", "HPA": "hPa", "LTR": "L", "MQH": "m³/h",
         "KGM": "kg", "GRM": "g", "KWT": "kW", "KWH": "kWh", "SEC": "s", "MIN": "min", "HUR": "h", "59": "ppm",
         "61": "ppb", "C62": "", "E30": "", "A99": "bit"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


@dataclass(frozen=True)
class Metric:
    """A device profile's metric, named in both languages (from connect's profiles)."""

    name: str
    name_en: str
    unit: str


def term_of(short: str) -> str:
    """The term an attribute name stands for: itself, or the last segment of an IRI."""
    if "://" in short or short.startswith("urn:"):
        return re.split(r"[#/:]", short.rstrip("/#"))[-1] or short
    return short


def _words(term: str) -> str:
    """A camel-case or snake-case term as lower-case words (acronyms kept): `airTemp` → "air temp"."""
    words = _CAMEL.sub(" ", term).replace("_", " ").split()
    return " ".join(w.lower() if w[1:].islower() else w for w in words) or term


def type_label(short: str) -> str:
    """An entity type (its name compacted with the core context) in words, in the page's language."""
    term = term_of(short)
    if term in TYPES:
        return gettext(TYPES[term])
    words = _words(term)
    return words[:1].upper() + words[1:]


def attribute_label(short: str, metrics: Mapping[str, Metric], english: bool) -> str:
    """An attribute (its name compacted with the core context) in words, in the page's language."""
    term = term_of(short)
    if term in ATTRIBUTES:
        return gettext(ATTRIBUTES[term])
    metric = metrics.get(term)
    if metric is not None:
        return (metric.name_en if english else metric.name) or metric.name or term
    return _words(term)


def unit_symbol(code: str) -> str:
    """A unitCode as its symbol (the code itself when unknown: it is still what the sender gave)."""
    return UNITS.get(code, code)
