"""Collection: sources in department systems and the sync jobs that bring their rows into the catalog."""
