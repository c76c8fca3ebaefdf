"""The digital-economy registers: parks and big-data / intelligence enterprises."""
