"""Information systems: inventory and migration, 上云率/整合率 and their snapshots, DR levels and drills."""
