"""Errors of the storage layer: each names the database, the problem and what to do about it."""
from core.errors import SkelwatchError


class StorageError(SkelwatchError):
    """The database or a gallery file cannot be used as asked; nothing stored was changed."""


class DatabaseLockedError(StorageError):
    """Another process held the write lock for longer than the busy timeout."""


class DatabaseUnavailableError(StorageError):
    """The database server cannot be reached (down, restarting, network); committed data is safe on it."""


class SchemaError(StorageError):
    """The database was written by another (usually newer) schema version, or is not a skelwatch database."""


class EmbeddingError(StorageError):
    """An embedding has the wrong size, dtype or non-finite values, or belongs to another model version."""


class NotFoundError(StorageError):
    """An identity, session, track or embedding named by the caller does not exist."""
