"""Rules on telemetry: definitions and their 24-hour preview, the engine, live evaluation, the telemetry queue."""
