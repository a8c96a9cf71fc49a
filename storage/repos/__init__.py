"""Repositories: every query the upper layers need, as plain async functions on a session."""
