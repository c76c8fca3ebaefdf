"""Quality: declarative checks on catalog entries' tables, scored per entry and per unit."""
