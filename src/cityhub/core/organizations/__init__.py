"""Organisations: the tree (cached per process and in the push cache), the bureau, units' heads."""
