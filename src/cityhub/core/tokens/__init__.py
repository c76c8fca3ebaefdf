"""API tokens: creation, bearer authentication, revocation."""
