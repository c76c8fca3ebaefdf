"""Base databases as data: feeds from several units' entries merged into one golden record per key."""
