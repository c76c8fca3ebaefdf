"""Providers: accounts (credentials encrypted at rest), regions, resource pools, the service catalog, the reconciler."""
