"""Persistent state: the SQLAlchemy database, the faiss gallery index, identities, sessions, retention."""
