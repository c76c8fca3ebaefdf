"""The 5G base-station register: stations, the operators' CSV returns, density per district."""
