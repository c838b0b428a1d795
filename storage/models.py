"""The SQLAlchemy 2 schema: identities and their embeddings, sessions and what was seen in them, alerts.

Every timestamp is timezone-aware UTC (`UTCDateTime` stores UTC and gives it back with its tzinfo, which SQLite
alone would drop). Times inside a session (`t_start_s`, `t_end_s`) are seconds from the session start.
Embeddings with `identity_id` NULL are the windows of unknown tracks, kept so they can be clustered and enrolled;
only embeddings of an identity enter the faiss index.
"""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Optional

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, MetaData, String
from sqlalchemy import Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """A DateTime that refuses naive values and always returns UTC-aware ones."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC time")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: Optional[datetime], dialect: Any) -> Optional[datetime]:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class GalleryState(Base):
    """One row: a revision number every gallery change increments, so other processes notice and re-index."""

    __tablename__ = "gallery_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"GalleryState(revision={self.revision})"


class ModelVersion(Base):
    """One embedding model (a checkpoint): its vector size and the slice of each level."""

    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(128), unique=True)
    dim: Mapped[int] = mapped_column(Integer)
    levels: Mapped[dict[str, list[int]]] = mapped_column(JSON, default=dict)  # name -> [start, stop)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"ModelVersion(id={self.id}, version={self.version!r}, dim={self.dim})"


class Identity(Base):
    __tablename__ = "identities"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: a deleted person's id stays dead
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    watchlist: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    embeddings: Mapped[list[Embedding]] = relationship(
        back_populates="identity", lazy="raise", cascade="all, delete-orphan", passive_deletes=True)

    def __repr__(self) -> str:
        return f"Identity(id={self.id}, name={self.name!r}, watchlist={self.watchlist})"


class Session(Base):
    """A recorded or live session: a folder with the raw stream, skeletons, tracks and a manifest."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(Text)
    device: Mapped[str] = mapped_column(String(200), default="")
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    ended_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    skeleton_only: Mapped[bool] = mapped_column(Boolean, default=False)
    recordings: Mapped[list[Recording]] = relationship(
        back_populates="session", lazy="selectin", cascade="all, delete-orphan", passive_deletes=True)

    def __repr__(self) -> str:
        return f"Session(id={self.id}, path={self.path!r}, started_at={self.started_at})"


class Recording(Base):
    """One file of a session; `kind` is raw (camera stream or video), skeletons, tracks or other."""

    __tablename__ = "recordings"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    deleted_at: Mapped[Optional[datetime]] = mapped_column(UTCDateTime)
    session: Mapped[Session] = relationship(back_populates="recordings", lazy="raise")

    def __repr__(self) -> str:
        return f"Recording(id={self.id}, session_id={self.session_id}, kind={self.kind!r}, path={self.path!r})"


class Track(Base):
    """A tracker id within a session; `identity_id` is the identity its votes settled on, if any."""

    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("session_id", "track_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    track_key: Mapped[int] = mapped_column(Integer)
    t_start_s: Mapped[float] = mapped_column(Float, default=0.0)
    t_end_s: Mapped[float] = mapped_column(Float, default=0.0)
    identity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"), index=True)

    def __repr__(self) -> str:
        return f"Track(id={self.id}, session_id={self.session_id}, track_key={self.track_key})"


class Embedding(Base):
    """One MSMR vector (float32 bytes) of one window; of an identity, or of an unknown track if identity is NULL."""

    __tablename__ = "embeddings"
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_versions.id"), index=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sessions.id", ondelete="SET NULL"), index=True)
    track_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"), index=True)
    t_start_s: Mapped[Optional[float]] = mapped_column(Float)
    t_end_s: Mapped[Optional[float]] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    identity: Mapped[Optional[Identity]] = relationship(back_populates="embeddings", lazy="raise")
    model_version: Mapped[ModelVersion] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"Embedding(id={self.id}, identity_id={self.identity_id}, dim={self.dim}, track_id={self.track_id})"


class Sighting(Base):
    """The matching outcome of one window of a track: distances per level and the open-set decision."""

    __tablename__ = "sightings"
    __table_args__ = (Index("ix_sightings_seen_at", "seen_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    embedding_id: Mapped[Optional[int]] = mapped_column(ForeignKey("embeddings.id", ondelete="SET NULL"))
    identity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("identities.id", ondelete="SET NULL"), index=True)
    decision: Mapped[str] = mapped_column(String(16))  # match | unknown | ambiguous
    distance: Mapped[Optional[float]] = mapped_column(Float)
    level_distances: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    t_start_s: Mapped[Optional[float]] = mapped_column(Float)
    t_end_s: Mapped[Optional[float]] = mapped_column(Float)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return (f"Sighting(id={self.id}, track_id={self.track_id}, identity_id={self.identity_id}, "
                f"decision={self.decision!r}, distance={self.distance})")


class NegativePair(Base):
    """'Not this person': a track (and so all its windows) must never be matched to this identity."""

    __tablename__ = "negative_pairs"
    __table_args__ = (UniqueConstraint("identity_id", "track_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"NegativePair(id={self.id}, identity_id={self.identity_id}, track_id={self.track_id})"


class AlertRule(Base):
    """Alert when `target` (watchlist | identity | unknown) is matched in n of the last m windows of a track."""

    __tablename__ = "alert_rules"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(16))
    identity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    n_windows: Mapped[int] = mapped_column(Integer, default=3)
    of_last: Mapped[int] = mapped_column(Integer, default=5)
    min_confidence: Mapped[float] = mapped_column(Float, default=0.5)
    cooldown_s: Mapped[float] = mapped_column(Float, default=60.0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"AlertRule(id={self.id}, name={self.name!r}, target={self.target!r}, identity_id={self.identity_id})"


class AlertEvent(Base):
    __tablename__ = "alert_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int] = mapped_column(ForeignKey("alert_rules.id", ondelete="CASCADE"), index=True)
    identity_id: Mapped[Optional[int]] = mapped_column(ForeignKey("identities.id", ondelete="CASCADE"), index=True)
    track_id: Mapped[Optional[int]] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    sighting_id: Mapped[Optional[int]] = mapped_column(ForeignKey("sightings.id", ondelete="SET NULL"))
    confidence: Mapped[float] = mapped_column(Float)
    fired_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    acknowledged: Mapped[bool] = mapped_column(Boolean, default=False)

    def __repr__(self) -> str:
        return f"AlertEvent(id={self.id}, rule_id={self.rule_id}, identity_id={self.identity_id}, at={self.fired_at})"


class Transit(Base):
    """How long one person took from leaving camera `source_camera` to entering `target_camera` (seconds, media
    time), from one confident hand-off: the hand-off book's learned transit times, kept across runs and shared by
    every machine on the database. Camera names, no identity: the newest KEEP_TRANSITS per pair are kept."""

    __tablename__ = "transits"
    __table_args__ = (Index("ix_transits_pair", "source_camera", "target_camera"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_camera: Mapped[str] = mapped_column(String(200))
    target_camera: Mapped[str] = mapped_column(String(200))
    gap_s: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"Transit({self.source_camera!r}->{self.target_camera!r}, {self.gap_s:.1f} s)"
