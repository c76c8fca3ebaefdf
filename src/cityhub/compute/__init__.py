"""算 compute: the capability hub — registry, access, gateway with quotas, metering, built-in components."""
