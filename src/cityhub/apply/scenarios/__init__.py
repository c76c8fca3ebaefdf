"""The application-scenario register: batches, status flow, links to components and catalog entries."""
