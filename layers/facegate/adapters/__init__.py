"""Adapters of the ports: in-memory, DynamoDB, KMS."""
