"""City indicators: definitions, bands, recorded and computed values."""
