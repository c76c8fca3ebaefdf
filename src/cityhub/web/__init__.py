"""The web shell: base templates, static files, navigation, login pages, home."""
