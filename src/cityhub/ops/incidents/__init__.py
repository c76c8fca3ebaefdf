"""Incidents: opening, dispatch, the state table and SLAs, comments, shares, attachments, citizen reports."""
