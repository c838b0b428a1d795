"""Export and import identities as one portable .zip: `gallery.json` (identities, embedding metadata, model
versions) and one `vectors_<k>.npy` float32 array per model version (rows in the order listed in the JSON)."""
from __future__ import annotations

import io
import json
import logging
import zipfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Optional

import numpy as np
from sqlalchemy import select

from storage.db import Database
from storage.errors import EmbeddingError, StorageError
from storage.identities import IdentityRef, bump_revision, check_vectors, insert_vectors, resolve
from storage.models import Embedding, Identity, ModelVersion

logger = logging.getLogger(__name__)

FORMAT = "skelwatch-gallery"
FORMAT_VERSION = 1


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gallery.json", json.dumps(manifest, indent=1))
        for k, (vid, v) in enumerate(versions.items()):
            buf = io.BytesIO()
            np.save(buf, np.frombuffer(b"".join(arrays[vid]), np.float32).reshape(-1, v.dim))
            zf.writestr(f"vectors_{k}.npy", buf.getvalue())
    tmp.replace(path)  # a crash mid-export never leaves a truncated file under the final name
    logger.info("exported %d identities to %s", len(records), path)
    return len(records)


def _read(path: Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("gallery.json"))
            if manifest.get("format") != FORMAT or manifest.get("format_version", 99) > FORMAT_VERSION:
                raise StorageError(f"{path} is not a skelwatch gallery export of a version this skelwatch reads "
                                   f"(format {manifest.get('format')!r} v{manifest.get('format_version')})")
            arrays = {v["version"]: np.load(io.BytesIO(zf.read(v["file"])), allow_pickle=False)
                      for v in manifest["model_versions"]}
    except FileNotFoundError:
        raise StorageError(f"gallery file {path} does not exist") from None
    except (zipfile.BadZipFile, KeyError, ValueError, json.JSONDecodeError) as exc:
        raise StorageError(f"{path} is not a readable gallery export ({exc}); export it again with "
                           "`./skelwatch gallery export`") from None
    return manifest, arrays


def import_gallery(db: Database, path: Path, *, on_conflict: str = "error") -> list[int]:
    """Add the identities of an export file in one transaction; returns their ids.

    Args:
        on_conflict: what to do when a name exists: "error" (nothing imported), "merge" (add the embeddings the
            existing identity does not already hold, bit for bit) or "skip" (leave that identity out).
    Raises:
        StorageError: unreadable file, name conflict; EmbeddingError: a model version stored with another size.
    """
    if on_conflict not in ("error", "merge", "skip"):
        raise ValueError(f"on_conflict={on_conflict!r} is not error, merge or skip")
    manifest, arrays = _read(Path(path))
    ids: list[int] = []
    with db.write() as s:
        bump_revision(s)
        version_ids: dict[str, int] = {}
        for v in manifest["model_versions"]:
            row = s.scalars(select(ModelVersion).where(ModelVersion.version == v["version"])).one_or_none()
            if row is None:
                row = ModelVersion(version=v["version"], dim=int(v["dim"]), levels=v.get("levels", {}))
                s.add(row)
                s.flush()
            elif row.dim != int(v["dim"]):
                raise EmbeddingError(f"{path}: model version {v['version']!r} has dimension {v['dim']} there but "
                                     f"{row.dim} in {db.url}; the files come from different models")
            arrays[v["version"]] = check_vectors(arrays[v["version"]], row.dim)
            version_ids[v["version"]] = row.id
        for rec in manifest["identities"]:
            existing = s.scalars(select(Identity).where(Identity.name == rec["name"])).one_or_none()
            if existing is not None and on_conflict == "error":
                raise StorageError(f"{path}: identity {rec['name']!r} already exists in {db.url}; nothing was "
                                   "imported. Rename it first, or import with --on-conflict merge (or skip)")
            if existing is not None and on_conflict == "skip":
                continue
            person = existing or Identity(name=rec["name"], notes=rec.get("notes", ""),
                                          watchlist=bool(rec.get("watchlist", False)),
                                          created_at=datetime.fromisoformat(rec["created_at"]))
            s.add(person)
            s.flush()
            # merging the same export twice (or a gallery that already holds these windows) adds nothing twice
            held = {(v, blob) for v, blob in s.execute(select(Embedding.model_version_id, Embedding.vector)
                                                       .where(Embedding.identity_id == person.id))}
            for e in rec["embeddings"]:
                vec = arrays[e["model_version"]][e["row"]][None, :]
                key = (version_ids[e["model_version"]], vec.tobytes())
                if key in held:
                    continue
                held.add(key)
                span = None if e.get("t_start_s") is None else np.array([[e["t_start_s"], e["t_end_s"]]])
                insert_vectors(s, vec, identity_id=person.id, model_version_id=version_ids[e["model_version"]],
                               spans=span)
            ids.append(person.id)
    logger.info("imported %d identities from %s", len(ids), path)
    return ids
