"""Data standards (数据标准): data elements, code lists and the conformance of catalog resources (issue 20)."""
