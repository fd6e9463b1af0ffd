"""Python client for the facegate API."""
