"""用 apply: the programme cockpit — targets as data, their progress, history and status (issue 21)."""
