"""联 Connect: devices, MQTT and HTTP ingestion, telemetry store, simulator."""
