"""Tenancies: one per department, quotas, requests and approval, placement, jobs, metering, idle rule."""
