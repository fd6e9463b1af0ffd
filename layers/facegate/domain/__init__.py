"""Domain model and pure decision logic."""
