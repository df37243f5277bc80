"""Patterns that bound the work a call may do: retries with backoff and a retry budget,
request budgets (deadlines), and bulkheads."""
