"""数 datastore: mounted resources, CSV/XLSX parsing and loading, masked reads, file resources."""
