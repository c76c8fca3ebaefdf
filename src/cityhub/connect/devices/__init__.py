"""Device profiles, assets, devices and their credentials; the references other domains get."""
