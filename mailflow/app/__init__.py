"""Use cases: lock the rows, call the domain, apply the Outcome it returns (never commit)."""
