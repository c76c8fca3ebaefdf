"""数 sharing: requests between departments, their review deadlines, grants, the grant's reads and access log."""
