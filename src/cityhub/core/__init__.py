"""Core: organisations, people, roles, API tokens, permission checks, audit log, working-day calendar."""
