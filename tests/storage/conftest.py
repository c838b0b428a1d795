"""Real temporary databases and small labelled embedding sets for the storage tests.

Every test that takes `db_url`, `db` or `gallery` runs twice: on a SQLite file and on a fresh database of a real
PostgreSQL server that the session starts once (`tests/storage/pg_cluster.py`). A test that also takes `db_path`
reads the SQLite file itself, so it runs on SQLite only; any test pins a back-end with
`@pytest.mark.parametrize("backend", ["sqlite"])`.
"""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from storage.db import Database, open_database
from storage.gallery import Gallery
from storage.matching import Thresholds
from tests.storage.pg_cluster import PgCluster

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


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgCluster]:
    cluster = PgCluster()
    yield cluster
    cluster.destroy()


BACKENDS = ("sqlite", "postgresql")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Both back-ends for every test on a database, unless it reads the SQLite file or names its back-end."""
    if "backend" not in metafunc.fixturenames or any(
            "backend" in str(m.args[0]) for m in metafunc.definition.iter_markers("parametrize")):
        return
    metafunc.parametrize("backend", ["sqlite"] if "db_path" in metafunc.fixturenames else BACKENDS)


@pytest.fixture
def db_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A path (SQLite, the same as `db_path`) or a URL (PostgreSQL) of a new, empty database."""
    if backend == "sqlite":
        yield str(tmp_path / "skelwatch.db")
        return
    server: PgCluster = request.getfixturevalue("pg_server")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = open_database(db_url, busy_timeout_s=0.5)
    yield database
    database.dispose()


@pytest.fixture
def gallery(db: Database) -> Gallery:
    return Gallery(db, "model-a", thresholds=THRESHOLDS)
