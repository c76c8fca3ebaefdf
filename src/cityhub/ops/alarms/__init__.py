"""Alarms (raise, acknowledge, clear, assign), the routing table, and alarm events out through the outbox."""
