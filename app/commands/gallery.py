"""`gallery ...`: list and edit the identities of the gallery, cluster unknowns, calibrate, prune, move galleries.

Identities are named by id (digits) or by name. Enrolment takes embeddings from an .npy file of (N, D) vectors
made by `gallery.model_version`, from stored unknown windows (`--embedding-ids`), from the stored windows of a
track (`--track-id`), or by encoding one track of a recorded session folder (`--session DIR --track K`, with
the checkpoint of `--model` or the pipeline's, whose version the gallery then uses).
"""
from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np

from app.config import SkelwatchConfig
from storage.errors import EmbeddingError, StorageError

if TYPE_CHECKING:  # the model, database and index stack load when an action runs, not for --help
    from storage.forget import ForgetReport
    from storage.gallery import Gallery
    from storage.identities import Removed
    from storage.matching import Calibration

def _ref(text: str) -> Union[int, str]:
    return int(text) if text.isdigit() else text


def _ids(text: Optional[str]) -> list[int]:
    if not text:
        return []
    try:
        return [int(x) for x in text.replace(" ", "").split(",") if x]
    except ValueError:
        raise StorageError(f"--embedding-ids {text!r} must be comma-separated integers, e.g. 12,13,20") from None


def _load_npy(path: Path, dim: int) -> np.ndarray:
    try:
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EmbeddingError(f"embedding file {path} does not exist") from None
    except (ValueError, OSError) as exc:
        raise EmbeddingError(f"{path} is not a readable .npy array ({exc}); save (N, {dim}) float32 with "
                             "numpy.save") from None
    return arr


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gallery", help="list and edit identities, cluster unknowns, export/import the gallery",
        description="Identity gallery operations. Each change is one transaction: it happens completely or not at "
        "all. Identities are named by id or name.")
    parser.add_argument("--db", default=None, help="database file or SQLAlchemy URL (default: storage.url, or "
                        "<home>/skelwatch.db)")
    parser.add_argument("--model-version", default=None, help="embedding model version (default: "
                        "gallery.model_version)")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="every identity with its embedding count")
    p = sub.add_parser("show", help="one identity and its embeddings")
    p.add_argument("identity")
    for name in ("enrol", "add"):
        p = sub.add_parser(name, help="create an identity from embeddings" if name == "enrol"
                           else "add embeddings to an existing identity")
        p.add_argument("identity", help="the new name" if name == "enrol" else "id or name")
        p.add_argument("--npy", type=Path, help="(N, D) float32 embeddings of this model version")
        p.add_argument("--embedding-ids", help="comma-separated ids of stored unknown windows")
        p.add_argument("--track-id", type=int, help="take every stored window of this track (database id)")
        p.add_argument("--session", type=Path, help="a recorded session folder: encode track --track of it")
        p.add_argument("--track", type=int, help="the tracker's id of the person in --session")
        p.add_argument("--model", type=Path, help="encoder checkpoint for --session (default: pipeline.model_dir,"
                       " then the shipped model); its version becomes the gallery's")
        if name == "enrol":
            p.add_argument("--notes", default="")
            p.add_argument("--watchlist", action="store_true", help="alert when this person is seen")
    p = sub.add_parser("rename", help="rename an identity")
    p.add_argument("identity")
    p.add_argument("new_name")
    p = sub.add_parser("watch", help="put an identity on the watchlist (on) or take it off (off)")
    p.add_argument("identity")
    p.add_argument("state", choices=["on", "off"])
    p = sub.add_parser("merge", help="fold the second identity into the first")
    p.add_argument("keep")
    p.add_argument("other")
    p = sub.add_parser("split", help="move chosen embeddings to a new identity")
    p.add_argument("identity")
    p.add_argument("--embedding-ids", required=True)
    p.add_argument("--name", required=True, help="name of the new identity")
    for name, text in (("delete", "delete an identity and its embeddings (sightings stay, as unknown)"),
                       ("forget", "remove every trace of a person (embeddings, sightings, tracks, alerts)")):
        p = sub.add_parser(name, help=text)
        p.add_argument("identity")
        p.add_argument("--yes", action="store_true", help="confirm")
    p.add_argument("--drop-raw", action="store_true", help="also delete the raw recordings (images of everyone "
                   "there) of the sessions the person was recorded in; without it they are listed")
    p = sub.add_parser("not-this", help="mark a track as not this person")
    p.add_argument("identity")
    p.add_argument("--track", type=int, required=True, metavar="K",
                   help="the tracker's number (drawn in the window; `gallery show` prints 'session S track K')")
    p.add_argument("--session", dest="track_session", default=None, metavar="S",
                   help="the session id S or the session folder, when track K is in several sessions")
    p = sub.add_parser("export", help="write identities to a portable .zip")
    p.add_argument("file", type=Path)
    p.add_argument("identities", nargs="*", help="ids or names (default: all)")
    p = sub.add_parser("import", help="add the identities of an exported .zip")
    p.add_argument("file", type=Path)
    p.add_argument("--on-conflict", choices=["error", "merge", "skip"], default="error")
    p = sub.add_parser("unknowns", help="cluster unknown windows into candidates; optionally enrol one")
    p.add_argument("--enrol", type=int, metavar="K", help="enrol candidate 'unknown #K' ...")
    p.add_argument("--name", help="... under this name")
    p = sub.add_parser("calibrate", help="pick accept_distance from the enrolled embeddings at a false-accept rate")
    p.add_argument("--far", type=float, default=0.01, help="target false-accept rate (default 0.01)")
    p = sub.add_parser("retention", help="apply the storage.retention_* policy now")
    parser.set_defaults(func=run)


@dataclass(frozen=True)
class SessionTrack:
    """The encoded windows of one track of a recorded session folder."""

    folder: Path
    track_key: int
    vectors: np.ndarray  # (N, D) MSMR
    spans: np.ndarray  # (N, 2) window start/end, seconds (the session's timestamps)
    model_version: str
    manifest: dict[str, Any]


def encode_session_track(folder: Path, track_key: int, config: SkelwatchConfig,
                         model_dir: Optional[Path] = None) -> SessionTrack:
    """Cut the stored joints of track `track_key` into non-overlapping f-frame windows (split at frame gaps)
    and encode them with the checkpoint. Raises SkelwatchError subclasses naming the folder or track."""
    import torch

    from app.compose import load_encoder
    from app.session import load_tracks, read_manifest
    from capture.buffer import camera_to_model
    from reid.skeleton import root_centre

    manifest = read_manifest(folder)
    records = load_tracks(folder)
    mine = sorted((r for r in records if r.track_id == track_key), key=lambda r: r.frame_index)
    if not mine:
        known = sorted({r.track_id for r in records})
        raise StorageError(f"{folder}: no track {track_key}; its tracks are {known[:20]}")
    encoder = load_encoder(config, model_dir)
    model, frames, version = encoder.model, encoder.frames, encoder.version
    runs: list[list[Any]] = [[mine[0]]]
    for prev, rec in zip(mine, mine[1:]):
        if rec.frame_index != prev.frame_index + 1:
            runs.append([])
        runs[-1].append(rec)
    windows, spans = [], []
    for run in runs:
        for start in range(0, len(run) - frames + 1, frames):
            part = run[start:start + frames]
            windows.append(np.stack([r.joints for r in part]))
            spans.append((part[0].timestamp_s, part[-1].timestamp_s))
    if not windows:
        raise StorageError(f"{folder}: track {track_key} has at most {max(len(r) for r in runs)} consecutive frames;"
                           f" a window needs {frames}. Pick a longer track")
    # Stored joints are in the camera frame; the encoder takes the training convention, as the live buffer gives it.
    data = root_centre(camera_to_model(np.stack(windows)))  # (N, f, 20, 3)
    vectors = model.encode(torch.from_numpy(data)).cpu().numpy().astype(np.float32)
    return SessionTrack(folder, track_key, vectors, np.asarray(spans, np.float64), version, asdict(manifest))


def open_gallery(args: argparse.Namespace, config: SkelwatchConfig, dim: Optional[int] = None) -> Gallery:
    """The Gallery the command line means: --db / --model-version over the config."""
    from app.compose import UNTRAINED_VERSION, encoder_meta, open_gallery as compose_gallery

    meta = encoder_meta(config)
    version = args.model_version or config.gallery.model_version or (meta.model_version if meta else None)
    # The pipeline's encoder decides the version, so the command and the pipeline read the same embeddings.
    return compose_gallery(config, version or UNTRAINED_VERSION, dim, meta=meta, db_url=args.db)


def _show(gallery: Gallery, ref: Union[int, str]) -> None:
    person = gallery.get(ref)
    print(f"#{person.id} {person.name}{'  [watchlist]' if person.watchlist else ''}")
    print(f"  created {person.created_at:%Y-%m-%d %H:%M:%S} UTC, updated {person.updated_at:%Y-%m-%d %H:%M:%S} UTC")
    if person.notes:
        print(f"  notes: {person.notes}")
    print(f"  {person.embeddings} embeddings ({person.stale_embeddings} of another model version)")
    for e in gallery.embeddings(person.id):
        span = f"{e.t_start_s:.2f}-{e.t_end_s:.2f} s" if e.t_start_s is not None and e.t_end_s is not None else "-"
        where = f"session {e.session_id} track {e.track_key}" if e.session_id is not None else "imported"
        print(f"  emb {e.id}: {e.model_version}{' (stale)' if e.stale else ''}, {where}, {span}")


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    encoded = None
    if getattr(args, "session", None) is not None:
        if args.track is None:
            raise StorageError(f"gallery {args.action} --session needs --track K (the tracker's id in that session)")
        encoded = encode_session_track(args.session, args.track, config, args.model)
        args.model_version = encoded.model_version
    gallery = open_gallery(args, config, dim=None if encoded is None else encoded.vectors.shape[1])
    try:
        return _dispatch(args, config, gallery, encoded)
    finally:
        gallery.db.dispose()


def _enrol_session_track(args: argparse.Namespace, gallery: Gallery, encoded: SessionTrack) -> None:
    from storage.sessions import find_or_create_session, track_id_for

    m = encoded.manifest
    started = datetime.fromisoformat(m["started_utc"]) if m.get("started_utc") else None
    ended = datetime.fromisoformat(m["ended_utc"]) if m.get("ended_utc") else None
    session_id = find_or_create_session(gallery.db, encoded.folder, device=str(m.get("device", "")), manifest=m,
                                        started_at=started, ended_at=ended)
    with gallery.db.write() as s:
        track_id = track_id_for(s, session_id, encoded.track_key, float(encoded.spans[0, 0]),
                                float(encoded.spans[-1, 1]))
    source = dict(spans=encoded.spans, session_id=session_id, track_id=track_id)
    if args.action == "enrol":
        new_id = gallery.enrol(args.identity, encoded.vectors, notes=args.notes, watchlist=args.watchlist, **source)
        print(f"enrolled #{new_id} {args.identity} with {len(encoded.vectors)} windows of track {encoded.track_key}"
              f" in {encoded.folder} (model {encoded.model_version})")
    else:
        gallery.add(_ref(args.identity), encoded.vectors, **source)
        print(f"added {len(encoded.vectors)} windows of track {encoded.track_key} to {args.identity}")


def _print_removed(act: str, removed: Removed) -> None:
    print(f"{act}: removed #{removed.identity_id} {removed.name}: {removed.embeddings} embeddings, "
          f"{removed.index_entries} index entries, {removed.sightings} sightings, {removed.window_embeddings} "
          f"windows, {removed.tracks} tracks, {removed.negative_pairs} not-this marks, {removed.alert_rules} "
          f"alert rules, {removed.alert_events} alert events")


def _print_forget(report: ForgetReport) -> None:
    _print_removed("forget", report.removed)
    print(f"  free pages and WAL {'wiped' if report.free_pages_wiped else 'NOT wiped'}; "
          f"{len(report.sessions_scrubbed)} session folders scrubbed ({report.track_lines_removed} track records, "
          f"{report.skeletons_removed} skeletons removed)")
    for path in report.raw_deleted:
        print(f"  deleted raw recording {path}")
    if report.raw_left:
        print("  these recordings still show the person (images of everyone there); delete them with:")
        print("    rm -f " + " ".join(shlex.quote(p) for p in report.raw_left))
    for note in report.notes:
        print(f"  note: {note}")
    if report.log_path:
        print(f"  logged in {report.log_path} (no name, vector or skeleton)")


def _print_calibration(cal: Calibration) -> None:
    print(f"accept_distance {cal.accept_distance:.6g}: false-accept rate {cal.false_accept_rate:.4f} (target "
          f"{cal.target_far:g}), false-reject rate {cal.false_reject_rate:.4f} ({cal.genuine} genuine, "
          f"{cal.impostor} impostor probes, {cal.identities} identities)")
    for warning in cal.warnings:
        print(f"WARNING: {warning}")
    if cal.usable:
        print(f"Set it with --set gallery.accept_distance={cal.accept_distance:.6g} or in the config")
    else:
        print("No distance suggested: this one is not fit for use (see the warnings); keep the current "
              "gallery.accept_distance")


def _dispatch(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery,  # noqa: C901 (one per action)
              encoded: Optional[SessionTrack] = None) -> int:
    act = args.action
    if act == "list":
        people = gallery.list_identities()
        for p in people:
            stale = f" ({p.stale_embeddings} stale)" if p.stale_embeddings else ""
            print(f"{p.id:>5}  {p.name:<24} {p.embeddings:>6} embeddings{stale}{'  [watchlist]' if p.watchlist else ''}")
        print(f"{len(people)} identities, index {gallery.index.kind} over {len(gallery.index)} embeddings")
    elif act == "show":
        _show(gallery, _ref(args.identity))
    elif act in ("enrol", "add") and encoded is not None:
        _enrol_session_track(args, gallery, encoded)
    elif act in ("enrol", "add"):
        vectors = _load_npy(args.npy, gallery.dim) if args.npy else None
        sources = dict(embedding_ids=_ids(args.embedding_ids), track_id=args.track_id)
        if vectors is None and not sources["embedding_ids"] and args.track_id is None:
            raise StorageError(f"gallery {act}: give --npy FILE, --embedding-ids, --track-id or --session/--track")
        if act == "enrol":
            new_id = gallery.enrol(args.identity, vectors, notes=args.notes, watchlist=args.watchlist, **sources)
            print(f"enrolled #{new_id} {args.identity} with {gallery.get(new_id).embeddings} embeddings")
        else:
            added = gallery.add(_ref(args.identity), vectors, **sources)
            print(f"added {added} embeddings to {args.identity}")
    elif act == "rename":
        gallery.rename(_ref(args.identity), args.new_name)
        print(f"renamed {args.identity} to {args.new_name}")
    elif act == "watch":
        gallery.update(_ref(args.identity), watchlist=args.state == "on")
        print(f"{args.identity}: watchlist {args.state}")
    elif act == "merge":
        moved = gallery.merge(_ref(args.keep), _ref(args.other))
        print(f"merged {args.other} into {args.keep} ({moved} embeddings moved)")
    elif act == "split":
        new_id = gallery.split(_ref(args.identity), _ids(args.embedding_ids), args.name)
        print(f"split {len(_ids(args.embedding_ids))} embeddings of {args.identity} into #{new_id} {args.name}")
    elif act in ("delete", "forget"):
        if not args.yes:
            raise StorageError(f"gallery {act} {args.identity} cannot be undone: add --yes to confirm")
        if act == "forget":
            _print_forget(gallery.forget(_ref(args.identity), drop_raw=args.drop_raw, command="gallery forget"))
        else:
            _print_removed(act, gallery.delete(_ref(args.identity)))
    elif act == "not-this":
        from storage.sessions import find_track

        track_id = find_track(gallery.db, args.track, args.track_session, gallery.get(_ref(args.identity)).id)
        detached = gallery.not_this(_ref(args.identity), track_id)
        print(f"track {args.track} is not {args.identity}; {detached} embeddings detached from it")
    elif act == "export":
        count = gallery.export(args.file, [_ref(x) for x in args.identities] or None)
        print(f"exported {count} identities to {args.file}")
    elif act == "import":
        ids = gallery.import_file(args.file, on_conflict=args.on_conflict)
        print(f"imported {len(ids)} identities from {args.file}")
    elif act == "unknowns":
        return _unknowns(args, config, gallery)
    elif act == "calibrate":
        from storage.matching import calibrate_threshold

        people = gallery.embeddings()
        fresh = [e for e in people if not e.stale]
        if not fresh:
            raise StorageError("calibrate needs enrolled embeddings of this model version; enrol people first")
        _print_calibration(calibrate_threshold(gallery.vectors([e.id for e in fresh]),
                                               np.array([e.identity_id for e in fresh]), target_far=args.far))
    elif act == "retention":
        from storage.retention import apply_retention

        st = config.storage
        report = apply_retention(gallery.db, max_age_s=st.retention_max_age_s, max_bytes=st.retention_max_bytes,
                                 skeleton_only=st.skeleton_only)
        print(f"retention: {len(report.sessions_deleted)} sessions deleted, {len(report.sessions_made_skeleton_only)}"
              f" made skeleton-only, {report.sightings_deleted} sightings, {report.bytes_freed} bytes freed")
    return 0


def _unknowns(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> int:
    from app.compose import unknown_clustering
    from app.gallery_service import GalleryService  # imports the clustering stack only for this action

    candidates = GalleryService(gallery, unknown_clustering(config)).unknowns()
    if args.enrol is None:
        for cand in candidates:
            print(f"unknown #{cand.number}: {cand.size} windows, tracks {list(cand.track_ids)}, sessions "
                  f"{list(cand.session_ids)}, seen {cand.first_seen:%Y-%m-%d %H:%M} - {cand.last_seen:%H:%M} UTC")
        print(f"{len(candidates)} unknown candidates")
        return 0
    chosen = next((c for c in candidates if c.number == args.enrol), None)
    if chosen is None or not args.name:
        raise StorageError(f"--enrol {args.enrol} needs an existing candidate number (1..{len(candidates)}) and "
                           "--name NAME")
    new_id = gallery.enrol(args.name, embedding_ids=chosen.embedding_ids)
    print(f"enrolled unknown #{chosen.number} as #{new_id} {args.name} ({chosen.size} windows)")
    return 0
