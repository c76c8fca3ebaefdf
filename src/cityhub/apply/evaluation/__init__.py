"""The annual evaluation (年度评比): schemes as data, yearly runs, adjustments, freeze, scorecards, export."""
