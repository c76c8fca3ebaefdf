"""cityhub — 城市智能中枢: one platform over a city's cloud, sensing network, data, compute and programme."""

__version__ = "0.1.0"
