"""数 Data: the government data resource catalog, 三清单, sharing requests, grading and masking."""
