"""Export and import identities as one portable .zip: `gallery.json` (identities, embedding metadata, model
versions) and one `vectors_<k>.npy` float32 array per model version (rows in the order listed in the JSON).

An import is untrusted input: `gallery.json` is validated by the models below, sizes are checked from the zip
directory before anything is inflated, and vectors are streamed and refused when zero or non-finite. An export
is written 0600 under a temporary name and renamed, so a crash never leaves a truncated file under the name.
"""
from __future__ import annotations

import io
import json
import logging
import os
import zipfile
import zlib
from tokenize import TokenError
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Optional

import numpy as np
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from storage.db import Database
from storage.errors import EmbeddingError, StorageError
from storage.files import FILE_MODE, make_private_dir
from storage.identities import (IdentityRef, bump_revision, check_vectors, hidden_characters, insert_vectors,
                                resolve)
from storage.models import Embedding, Identity, ModelVersion

logger = logging.getLogger(__name__)

FORMAT = "skelwatch-gallery"
FORMAT_VERSION = 1
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB inflated: ~350k embeddings of 768 floats


class _Entry(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class VersionEntry(_Entry):
    version: Annotated[str, Field(min_length=1, max_length=200)]
    dim: Annotated[int, Field(ge=1, le=65536)]
    levels: dict[str, Any] = Field(default_factory=dict)
    file: Annotated[str, Field(pattern=r"^vectors_[0-9]{1,6}\.npy$")]


class EmbeddingEntry(_Entry):
    model_version: str
    row: Annotated[int, Field(ge=0)]
    t_start_s: Optional[Annotated[float, Field(allow_inf_nan=False)]] = None
    t_end_s: Optional[Annotated[float, Field(allow_inf_nan=False)]] = None


class IdentityEntry(_Entry):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    notes: Annotated[str, Field(max_length=100_000)] = ""
    watchlist: bool = False
    created_at: AwareDatetime
    embeddings: list[EmbeddingEntry]

    @field_validator("name")
    @classmethod
    def _visible(cls, name: str) -> str:
        if hidden_characters(name):
            raise ValueError(f"name {name!r} holds control or direction characters")
        return name


class GalleryFile(_Entry):
    """`gallery.json`: what an export holds, checked as a whole before anything is written."""

    format: Literal["skelwatch-gallery"]
    format_version: Annotated[int, Field(ge=1, le=FORMAT_VERSION)]
    model_versions: list[VersionEntry]
    identities: list[IdentityEntry]

    @model_validator(mode="after")
    def _consistent(self) -> "GalleryFile":
        versions = [v.version for v in self.model_versions]
        if len(set(versions)) != len(versions) or len({v.file for v in self.model_versions}) != len(versions):
            raise ValueError("a model version or vectors file is listed twice")
        names = [i.name.strip() for i in self.identities]
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("identity names must be unique and not blank")
        known = set(versions)
        for person in self.identities:
            for e in person.embeddings:
                if e.model_version not in known:
                    raise ValueError(f"identity {person.name!r} has an embedding of unlisted model version "
                                     f"{e.model_version!r}")
                if (e.t_start_s is None) != (e.t_end_s is None):
                    raise ValueError(f"identity {person.name!r}: an embedding has only one of t_start_s, t_end_s")
        return self

    def check_rows(self, rows: dict[str, int], path: Path) -> None:
        """Every embedding's row exists in its vectors file. Raises StorageError."""
        for person in self.identities:
            for e in person.embeddings:
                if e.row >= rows[e.model_version]:
                    raise StorageError(f"{path}: identity {person.name!r} names row {e.row} of model version "
                                       f"{e.model_version!r}, whose file has {rows[e.model_version]} vectors")


def export_gallery(db: Database, path: Path, refs: Optional[Sequence[IdentityRef]] = None) -> int:
    """Write the identities (all, or `refs` by id or name) and all their embeddings; returns how many."""
    with db.read() as s:
        people = ([resolve(s, r) for r in refs] if refs is not None
                  else list(s.scalars(select(Identity).order_by(Identity.id))))
        versions: dict[int, ModelVersion] = {}
        arrays: dict[int, list[bytes]] = {}
        records = []
        for person in people:
            rows = s.scalars(select(Embedding).where(Embedding.identity_id == person.id).order_by(Embedding.id))
            embs = []
            for e in rows:
                versions.setdefault(e.model_version_id, e.model_version)
                arrays.setdefault(e.model_version_id, []).append(e.vector)
                embs.append({"model_version": e.model_version.version, "row": len(arrays[e.model_version_id]) - 1,
                             "t_start_s": e.t_start_s, "t_end_s": e.t_end_s})
            records.append({"name": person.name, "notes": person.notes, "watchlist": person.watchlist,
                            "created_at": person.created_at.isoformat(), "embeddings": embs})
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "model_versions": [{"version": v.version, "dim": v.dim, "levels": v.levels,
                                    "file": f"vectors_{k}.npy"} for k, v in enumerate(versions.values())],
                "identities": records}
    if path.is_dir():
        raise StorageError(f"export target {path} is a folder; name the file, e.g. {path / 'gallery.zip'}")
    make_private_dir(path.parent)
    tmp = path.with_name(path.name + ".part")
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as raw, \
                zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("gallery.json", json.dumps(manifest, indent=1))
            for k, (vid, v) in enumerate(versions.items()):
                buf = io.BytesIO()
                np.save(buf, np.frombuffer(b"".join(arrays[vid]), np.float32).reshape(-1, v.dim))
                zf.writestr(f"vectors_{k}.npy", buf.getvalue())
        tmp.replace(path)  # a crash mid-export never leaves a truncated file under the final name
    except OSError as exc:
        raise StorageError(f"cannot write the export {path} ({exc.strerror}); pick a writable file path") from None
    finally:
        tmp.unlink(missing_ok=True)
    logger.info("exported %d identities to %s", len(records), path)
    return len(records)


def _read(path: Path, max_bytes: int) -> tuple[GalleryFile, dict[str, np.ndarray]]:
    """The export's manifest and its vectors by model version, checked before they are trusted.

    Sizes are checked from the zip directory before anything is inflated (the declared size bounds what
    zipfile returns, so a lying entry cannot inflate past it), and each vectors file is streamed in blocks of
    rows, each block checked for zero and non-finite vectors, so memory stays near the final array's size.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            infos = {info.filename: info for info in zf.infolist()}
            declared = sum(info.file_size for info in infos.values())
            if declared > max_bytes:
                raise StorageError(f"{path} inflates to {declared / 1e6:.1f} MB, over the import limit of "
                                   f"{max_bytes / 1e6:.1f} MB; raise storage.import_max_bytes if the file is trusted")
            if "gallery.json" not in infos:
                raise StorageError(f"{path} is not a skelwatch gallery export (no gallery.json); export it again "
                                   "with `./skelwatch gallery export`")
            manifest = _parse_manifest(path, zf.read("gallery.json"))
            arrays = {}
            for v in manifest.model_versions:
                if v.file not in infos:
                    raise StorageError(f"{path}: {v.file} (model version {v.version!r}) is missing from the file")
                with zf.open(infos[v.file]) as handle:
                    arrays[v.version] = _read_vectors(handle, v.dim, infos[v.file].file_size, f"{path}:{v.file}")
    except FileNotFoundError:
        raise StorageError(f"gallery file {path} does not exist") from None
    except IsADirectoryError:
        raise StorageError(f"gallery file {path} is a folder; pass the .zip written by `gallery export`") from None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError,
            zlib.error) as exc:
        raise StorageError(f"{path} is not a readable gallery export ({type(exc).__name__}: "
                           f"{' '.join(str(exc).split())[:200]}); export it again with "
                           "`./skelwatch gallery export`") from None
    return manifest, arrays


def _parse_manifest(path: Path, data: bytes) -> GalleryFile:
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise StorageError(f"{path}: gallery.json is not JSON text; export the gallery again") from None
    if isinstance(raw, dict) and (raw.get("format") != FORMAT or not isinstance(raw.get("format_version"), int)
                                  or raw["format_version"] > FORMAT_VERSION):
        raise StorageError(f"{path} is not a skelwatch gallery export of a version this skelwatch reads "
                           f"(format {raw.get('format')!r} v{raw.get('format_version')})")
    try:
        return GalleryFile.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "gallery.json"
        raise StorageError(f"{path}: gallery.json does not fit the export format ({where}: {err['msg']}); "
                           "export the gallery again") from None


def _read_vectors(handle: IO[bytes], dim: int, size: int, what: str, block_rows: int = 4096) -> np.ndarray:
    """An (N, dim) float32 .npy of `size` declared bytes from a stream, checked block by block.

    Raises:
        StorageError: not such an array, or a header promising more data than the entry holds;
        EmbeddingError: a zero or non-finite vector.
    """
    version = np.lib.format.read_magic(handle)
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    if version not in readers:
        raise StorageError(f"{what} is an .npy of version {version}, which skelwatch does not write")
    try:  # the header is a Python literal, parsed without eval or pickle; a crafted one fails in the tokenizer
        shape, fortran, dtype = readers[version](handle)
    except (ValueError, SyntaxError, TokenError, TypeError, KeyError) as exc:
        raise StorageError(f"{what} has a damaged .npy header ({type(exc).__name__}); export the gallery again") \
            from None
    if dtype != np.dtype("<f4") or fortran or len(shape) != 2 or shape[1] != dim:
        raise StorageError(f"{what} holds {dtype} {shape}{' (Fortran order)' if fortran else ''}, not "
                           f"(N, {dim}) little-endian float32 vectors; export the gallery again")
    if not 0 <= shape[0] * dim * 4 <= size:
        raise StorageError(f"{what}: its header promises {shape[0]} vectors, more than its {size} bytes hold")
    out = np.empty(shape, dtype=np.float32)  # (N, dim), at most the entry's declared size
    for start in range(0, shape[0], block_rows):
        rows = min(block_rows, shape[0] - start)
        data = handle.read(rows * dim * 4)
        if len(data) != rows * dim * 4:
            raise StorageError(f"{what} ends after {start + len(data) // (dim * 4)} of {shape[0]} vectors")
        block = np.frombuffer(data, dtype="<f4").reshape(rows, dim)
        bad = ~np.isfinite(block).all(axis=1) | ~(np.abs(block).max(axis=1, initial=0.0) > 0.0)
        if bad.any():
            raise EmbeddingError(f"{what}: vector {start + int(np.argmax(bad))} is all zeros or holds NaN/inf; "
                                 "such a vector matches nothing, so the file was damaged or not made by skelwatch")
        out[start:start + rows] = block
    return out


def import_gallery(db: Database, path: Path, *, on_conflict: str = "error",
                   max_bytes: int = DEFAULT_MAX_BYTES) -> list[int]:
    """Add the identities of an export file in one transaction; returns their ids.

    Args:
        on_conflict: what to do when a name exists: "error" (nothing imported), "merge" (add the embeddings the
            existing identity does not already hold, bit for bit) or "skip" (leave that identity out).
        max_bytes: largest total inflated size of the file's entries; a larger file is refused unread.
    Raises:
        StorageError: unreadable, oversized or malformed file, name conflict; EmbeddingError: a model version
            stored with another size, or a zero / non-finite vector.
    """
    if on_conflict not in ("error", "merge", "skip"):
        raise ValueError(f"on_conflict={on_conflict!r} is not error, merge or skip")
    manifest, arrays = _read(Path(path), max_bytes)
    manifest.check_rows({version: len(array) for version, array in arrays.items()}, path)
    ids: list[int] = []
    with db.write() as s:
        bump_revision(s)
        version_ids: dict[str, int] = {}
        for v in manifest.model_versions:
            row = s.scalars(select(ModelVersion).where(ModelVersion.version == v.version)).one_or_none()
            if row is None:
                row = ModelVersion(version=v.version, dim=v.dim, levels=v.levels)
                s.add(row)
                s.flush()
            elif row.dim != v.dim:
                raise EmbeddingError(f"{path}: model version {v.version!r} has dimension {v.dim} there but "
                                     f"{row.dim} in {db.url}; the files come from different models")
            arrays[v.version] = check_vectors(arrays[v.version], row.dim)
            version_ids[v.version] = row.id
        for rec in manifest.identities:
            existing = s.scalars(select(Identity).where(Identity.name == rec.name)).one_or_none()
            if existing is not None and on_conflict == "error":
                raise StorageError(f"{path}: identity {rec.name!r} already exists in {db.url}; nothing was "
                                   "imported. Rename it first, or import with --on-conflict merge (or skip)")
            if existing is not None and on_conflict == "skip":
                continue
            person = existing or Identity(name=rec.name, notes=rec.notes, watchlist=rec.watchlist,
                                          created_at=rec.created_at)
            s.add(person)
            s.flush()
            # merging the same export twice (or a gallery that already holds these windows) adds nothing twice
            held = {(v, blob) for v, blob in s.execute(select(Embedding.model_version_id, Embedding.vector)
                                                       .where(Embedding.identity_id == person.id))}
            for e in rec.embeddings:
                vec = arrays[e.model_version][e.row][None, :]
                key = (version_ids[e.model_version], vec.tobytes())
                if key in held:
                    continue
                held.add(key)
                span = None if e.t_start_s is None else np.array([[e.t_start_s, e.t_end_s]])
                insert_vectors(s, vec, identity_id=person.id, model_version_id=version_ids[e.model_version],
                               spans=span)
            ids.append(person.id)
    logger.info("imported %d identities from %s", len(ids), path)
    return ids
