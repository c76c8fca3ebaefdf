"""Stored telemetry: contract reads, a device's series and raw points, retention."""
