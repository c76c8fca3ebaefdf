"""Ingest: one path for MQTT and HTTP (parse and validate, device facts, storage, idempotency keys)."""
