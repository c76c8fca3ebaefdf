"""云长 scorecards: one unit's score from its ratios, DR gaps, idle case and usage, and the ranking of all units."""
