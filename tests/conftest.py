"""Shared fixtures: a data dir with a development identity, databases (SQLite; PostgreSQL in CI)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from faces import DlibBackend
from likeness.db import make_engine, upgrade
from media import read_image
from provenance import ManifestRepository, ProvenanceIdentity, init_identity, load_identity

SHARED_DATA = Path(os.environ.get("LIKENESS_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
POSTGRES_URL = os.environ.get("LIKENESS_TEST_POSTGRES_URL")
# The schema's migrations (they import the packages' models, not the gateway): run by the kernel's runner.
MIGRATIONS = Path(__file__).resolve().parents[1] / "gateway" / "migrations"


def shared_clips() -> list[Path]:
    return sorted((SHARED_DATA / "clips").glob("*.mp4"))


@pytest.fixture
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"test media not present at {SHARED_DATA} (set LIKENESS_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def grace_hopper() -> np.ndarray:
    """A real frontal portrait (Grace Hopper, public domain, shipped with matplotlib), 512x600 RGB, read-only:
    the face is ~185 px wide."""
    image = read_image(Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    image.setflags(write=False)
    return image


@pytest.fixture(scope="session")
def dlib_backend() -> DlibBackend:
    """The dlib identity backend (its model ships with the face_recognition_models package), loaded once."""
    return DlibBackend()


@pytest.fixture(scope="session")
def migrations() -> Path:
    """The schema's Alembic scripts, for tests that migrate a database themselves."""
    return MIGRATIONS


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    keys = tmp_path_factory.mktemp("identity") / "keys"
    init_identity(keys)
    return keys


@pytest.fixture(scope="session")
def identity(keys_dir: Path) -> ProvenanceIdentity:
    return load_identity(keys_dir=keys_dir)


def _database_urls() -> list[object]:
    urls: list[object] = [pytest.param("sqlite", id="sqlite")]
    marks = [pytest.mark.postgres]
    if not POSTGRES_URL:
        marks.append(pytest.mark.skip(reason="LIKENESS_TEST_POSTGRES_URL not set (.ci/run starts PostgreSQL)"))
    urls.append(pytest.param("postgres", id="postgres", marks=marks))
    return urls


@pytest.fixture(params=_database_urls())
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database: a fresh SQLite file, or a fresh schema in the CI PostgreSQL."""
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'test.db'}")
        upgrade(eng, script_location=MIGRATIONS)
        yield eng
        eng.dispose()
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    eng = make_engine(f"{POSTGRES_URL}?options=-csearch_path%3D{schema}")
    upgrade(eng, script_location=MIGRATIONS)
    yield eng
    eng.dispose()
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def repository(engine: Engine) -> ManifestRepository:
    return ManifestRepository(engine)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` skip, with the reason, where CUDA is not available."""
    gpu_items = [item for item in items if "gpu" in item.keywords]
    if gpu_items and not _cuda_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
        for item in gpu_items:
            item.add_marker(skip)
