"""Real temporary SQLite databases and small labelled embedding sets for the storage tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from storage.db import Database, open_database
from storage.gallery import Gallery
from storage.matching import Thresholds

DIM = 768


def people(n_people: int, per_person: int, *, dim: int = DIM, spread: float = 0.15, seed: int = 0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Embeddings of `n_people` separated identities: (centres (P, D), vectors (P*per, D), labels (P*per,)).

    Centres have norm ~sqrt(D); each vector is its centre plus Gaussian noise of `spread` per dimension, so
    same-person distances are ~spread*sqrt(2D) and different-person ones ~sqrt(2D).
    """
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim)).astype(np.float32)
    labels = np.repeat(np.arange(n_people), per_person)
    vectors = centres[labels] + spread * rng.normal(size=(len(labels), dim)).astype(np.float32)
    return centres, vectors.astype(np.float32), labels


def near(centre: np.ndarray, seed: int, spread: float = 0.15) -> np.ndarray:
    """A fresh window of the person at `centre`."""
    return (centre + spread * np.random.default_rng(seed).normal(size=centre.shape)).astype(np.float32)


# With spread 0.15 and D 768: genuine distances ~5.9, impostor ones ~39; 15 sits safely between.
THRESHOLDS = Thresholds(accept_distance=15.0, ambiguity_ratio=0.9)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "skelwatch.db"


@pytest.fixture
def db(db_path: Path) -> Database:
    database = open_database(db_path, busy_timeout_s=0.5)
    yield database
    database.dispose()


@pytest.fixture
def gallery(db: Database) -> Gallery:
    return Gallery(db, "model-a", thresholds=THRESHOLDS)
