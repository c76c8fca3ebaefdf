"""The working-day calendar and working-day deadline arithmetic."""
