"""The 大屏: one snapshot of alarms, incidents, indicators and devices, and the demo's counts."""
