"""Domain-free building blocks: settings, database, errors, pagination, schemas, clock, i18n, web helpers."""
