"""Storage: SQLAlchemy models, the session factory, repositories and migrations.

Nothing above this package writes SQL; this package imports nothing above it.
"""

from storage.db import Database, RecordNotFound, StorageError
from storage.models import (
    AuthorKind,
    ConversationStatus,
    DeliveryState,
    Direction,
    OutboxStatus,
    TouchpointKind,
)

__all__ = [
    "AuthorKind",
    "ConversationStatus",
    "Database",
    "DeliveryState",
    "Direction",
    "OutboxStatus",
    "RecordNotFound",
    "StorageError",
    "TouchpointKind",
]
