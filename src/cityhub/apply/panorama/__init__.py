"""The 全景 screen: the whole programme across the five layers on one page."""
