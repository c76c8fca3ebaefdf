"""The audit log: append-only rows of every action, their queries and CSV export."""
