"""Watchlist alerts: a rule fires when its target is matched in n of the last m windows of a track.

Targets: "watchlist" (any identity with the watchlist flag), "identity" (one identity) or "unknown" (any window
decided unknown; its confidence is 1 minus the best candidate's). A rule does not fire again for the same
subject (the identity, or the track for unknowns) within `cooldown_s`; the cooldown is read from the stored
events, so it holds across restarts. Events are stored in the same transaction as the sighting that fired them.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Optional

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session as OrmSession

from storage.db import Database
from storage.errors import NotFoundError, StorageError
from storage.identities import IdentityRef, resolve
from storage.matching import MatchResult
from storage.models import AlertEvent, AlertRule, Identity

logger = logging.getLogger(__name__)

TARGETS = ("watchlist", "identity", "unknown")


@dataclass(frozen=True)
class AlertFired:
    event_id: int
    rule_id: int
    rule_name: str
    identity_id: Optional[int]
    track_id: Optional[int]
    confidence: float
    fired_at: datetime


def add_rule(db: Database, name: str, target: str, *, identity: Optional[IdentityRef] = None, n_windows: int = 3,
             of_last: int = 5, min_confidence: float = 0.5, cooldown_s: float = 60.0) -> int:
    """Store an alert rule; returns its id. Raises StorageError for an inconsistent rule."""
    if target not in TARGETS:
        raise StorageError(f"alert target {target!r} is not one of {TARGETS}")
    if not 1 <= n_windows <= of_last or not 0 <= min_confidence <= 1 or cooldown_s < 0:
        raise StorageError(f"alert rule {name!r}: need 1 <= n_windows ({n_windows}) <= of_last ({of_last}), "
                           f"0 <= min_confidence ({min_confidence}) <= 1 and cooldown_s ({cooldown_s}) >= 0")
    if (target == "identity") != (identity is not None):
        raise StorageError(f"alert rule {name!r}: name an identity exactly when the target is 'identity'")
    with db.write() as s:
        identity_id = resolve(s, identity).id if identity is not None else None
        rule = AlertRule(name=name, target=target, identity_id=identity_id, n_windows=n_windows, of_last=of_last,
                         min_confidence=min_confidence, cooldown_s=cooldown_s)
        s.add(rule)
        s.flush()
        return rule.id


def remove_rule(db: Database, rule_id: int) -> None:
    with db.write() as s:
        rule = s.get(AlertRule, rule_id)
        if rule is None:
            raise NotFoundError(f"no alert rule with id {rule_id}")
        s.delete(rule)


def rules_query() -> Select[tuple[AlertRule]]:
    return select(AlertRule).order_by(AlertRule.id)


def events_query(*, since: Optional[datetime] = None, rule_id: Optional[int] = None,
                 identity_id: Optional[int] = None, unacknowledged: bool = False) -> Select[tuple[AlertEvent]]:
    """Alert events, newest first, filtered by time, rule, identity and acknowledgement."""
    stmt = select(AlertEvent).order_by(AlertEvent.fired_at.desc(), AlertEvent.id.desc())
    if since is not None:
        stmt = stmt.where(AlertEvent.fired_at >= since)
    if rule_id is not None:
        stmt = stmt.where(AlertEvent.rule_id == rule_id)
    if identity_id is not None:
        stmt = stmt.where(AlertEvent.identity_id == identity_id)
    if unacknowledged:
        stmt = stmt.where(AlertEvent.acknowledged.is_(False))
    return stmt


def acknowledge(db: Database, event_id: int) -> None:
    with db.write() as s:
        event = s.get(AlertEvent, event_id)
        if event is None:
            raise NotFoundError(f"no alert event with id {event_id}")
        event.acknowledged = True


class AlertEngine:
    """Keeps the recent windows of each (rule, track) and fires rules. Rules are re-read by `reload()`."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rules: list[AlertRule] = []
        self._recent: dict[tuple[int, int], deque[tuple[Optional[int], float]]] = {}
        self.reload()

    def reload(self) -> None:
        with self.db.read() as s:
            self._rules = list(s.scalars(rules_query().where(AlertRule.enabled.is_(True))))
        live = {r.id for r in self._rules}
        self._recent = {key: q for key, q in self._recent.items() if key[0] in live}

    def _subject(self, s: OrmSession, rule: AlertRule, track_id: int, result: MatchResult) -> Optional[int]:
        """The subject this window counts for under `rule` (identity id, or track id for unknowns), or None."""
        if rule.target == "unknown":
            hit = result.decision == "unknown" and 1.0 - result.confidence >= rule.min_confidence
            return track_id if hit else None
        if result.decision != "match" or result.identity_id is None or result.confidence < rule.min_confidence:
            return None
        if rule.target == "identity":
            return result.identity_id if result.identity_id == rule.identity_id else None
        identity = s.get(Identity, result.identity_id)
        return result.identity_id if identity is not None and identity.watchlist else None

    def evaluate(self, s: OrmSession, *, track_id: int, result: MatchResult, sighting_id: Optional[int],
                 now: datetime) -> list[AlertFired]:
        """Feed one window's result inside the caller's transaction; store and return the events it fires."""
        fired: list[AlertFired] = []
        for rule in self._rules:
            recent = self._recent.setdefault((rule.id, track_id), deque(maxlen=rule.of_last))
            subject = self._subject(s, rule, track_id, result)
            conf = 1.0 - result.confidence if rule.target == "unknown" else result.confidence
            recent.append((subject, conf))
            if subject is None:
                continue
            hits = [c for subj, c in recent if subj == subject]
            if len(hits) < rule.n_windows:
                continue
            identity_id = None if rule.target == "unknown" else subject
            if s.get(AlertRule, rule.id) is None:  # removed since reload() (its identity was deleted, say)
                continue
            last = s.scalar(select(func.max(AlertEvent.fired_at)).where(
                AlertEvent.rule_id == rule.id,
                AlertEvent.track_id == track_id if identity_id is None else AlertEvent.identity_id == identity_id))
            if last is not None and last > now - timedelta(seconds=rule.cooldown_s):
                continue
            event = AlertEvent(rule_id=rule.id, identity_id=identity_id, track_id=track_id, sighting_id=sighting_id,
                               confidence=sum(hits) / len(hits), fired_at=now)
            s.add(event)
            s.flush()
            logger.info("alert %r fired: identity %s, track %s", rule.name, identity_id, track_id)
            fired.append(AlertFired(event.id, rule.id, rule.name, identity_id, track_id, event.confidence, now))
        return fired

    def drop_track(self, track_id: int) -> None:
        self._recent = {key: q for key, q in self._recent.items() if key[1] != track_id}

    @property
    def tracks_held(self) -> int:
        """Tracks with recent windows kept for some rule (what `drop_track` releases)."""
        return len({track for _, track in list(self._recent)})  # a copy: other threads may ask

