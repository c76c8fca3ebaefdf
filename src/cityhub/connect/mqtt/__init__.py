"""MQTT: the read-ahead client and publishers, the ingest worker, the broker's password and ACL files."""
