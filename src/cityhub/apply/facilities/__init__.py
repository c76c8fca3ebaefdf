"""The data-channel and data-centre registers (联, 云)."""
