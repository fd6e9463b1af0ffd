"""Use cases: one function per business verb, composed from ports."""
