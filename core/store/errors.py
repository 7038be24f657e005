"""The store's error type: every message is one sentence that says what to fix."""

from core.errors import WhyLMError


class StoreError(WhyLMError):
    """A problem with the run database, explained in one sentence for the user."""


class StoreBusyError(StoreError):
    """The database was locked by another connection (SQLite's busy error)."""
