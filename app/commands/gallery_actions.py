"""The actions of `gallery ...`, one function each; `app.commands.gallery` parses and dispatches to them.

Each takes the parsed arguments, the config and the open Gallery (`Action`), prints what it did, and leaves
errors to the CLI: every change is one storage transaction.
"""
from __future__ import annotations

import argparse
import shlex
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

import numpy as np

from app.config import SkelwatchConfig
from app.text import printable
from storage.errors import EmbeddingError, StorageError

if TYPE_CHECKING:  # the model, database and index stack load when an action runs, not for --help
    from storage.forget import ForgetReport
    from storage.gallery import Gallery
    from storage.identities import Removed
    from storage.matching import Calibration

Action = Callable[[argparse.Namespace, SkelwatchConfig, "Gallery"], None]


def _ref(text: str) -> Union[int, str]:
    """`#12` is the identity with id 12; anything else is a name (so "2" can be a name)."""
    if text.startswith("#") and text[1:].isdigit() and text[1:].isascii():
        return int(text[1:])
    return text


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


def list_identities(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    people = gallery.list_identities()
    for p in people:
        stale = f" ({p.stale_embeddings} stale)" if p.stale_embeddings else ""
        print(f"{p.id:>5}  {printable(p.name):<24} {p.embeddings:>6} embeddings{stale}"
              f"{'  [watchlist]' if p.watchlist else ''}")
    print(f"{len(people)} identities, index {gallery.index.kind} over {len(gallery.index)} embeddings")


def show(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    person = gallery.get(_ref(args.identity))
    print(f"#{person.id} {printable(person.name)}{'  [watchlist]' if person.watchlist else ''}")
    print(f"  created {person.created_at:%Y-%m-%d %H:%M:%S} UTC, updated {person.updated_at:%Y-%m-%d %H:%M:%S} UTC")
    if person.notes:
        print(f"  notes: {printable(person.notes)}")
    print(f"  {person.embeddings} embeddings ({person.stale_embeddings} of another model version)")
    for e in gallery.embeddings(person.id):
        span = f"{e.t_start_s:.2f}-{e.t_end_s:.2f} s" if e.t_start_s is not None and e.t_end_s is not None else "-"
        where = f"session {e.session_id} track {e.track_key}" if e.session_id is not None else "imported"
        print(f"  emb {e.id}: {e.model_version}{' (stale)' if e.stale else ''}, {where}, {span}")


def enrol_or_add(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    """`enrol` (a new identity) or `add` (to an existing one), from a session's track, an .npy file, stored
    unknown windows or a stored track's windows."""
    encoded = getattr(args, "encoded", None)
    if encoded is not None:
        _enrol_session_track(args, gallery, encoded)
        return
    act = args.action
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


def rename(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    gallery.rename(_ref(args.identity), args.new_name)
    print(f"renamed {args.identity} to {args.new_name}")


def watch(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    gallery.update(_ref(args.identity), watchlist=args.state == "on")
    print(f"{args.identity}: watchlist {args.state}")


def merge(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    moved = gallery.merge(_ref(args.keep), _ref(args.other))
    print(f"merged {args.other} into {args.keep} ({moved} embeddings moved)")


def split(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    new_id = gallery.split(_ref(args.identity), _ids(args.embedding_ids), args.name)
    print(f"split {len(_ids(args.embedding_ids))} embeddings of {args.identity} into #{new_id} {args.name}")


def remove(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    """`delete` (sightings stay, as unknown) or `forget` (every trace); both need --yes."""
    act = args.action
    if not args.yes:
        raise StorageError(f"gallery {act} {args.identity} cannot be undone: add --yes to confirm")
    if act == "forget":
        _print_forget(gallery.forget(_ref(args.identity), drop_raw=args.drop_raw, command="gallery forget"))
    else:
        _print_removed(act, gallery.delete(_ref(args.identity)))


def not_this(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    from storage.sessions import find_track

    track_id = find_track(gallery.db, args.track, args.track_session, gallery.get(_ref(args.identity)).id)
    detached = gallery.not_this(_ref(args.identity), track_id)
    print(f"track {args.track} is not {args.identity}; {detached} embeddings detached from it")


def export(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    count = gallery.export(args.file, [_ref(x) for x in args.identities] or None)
    print(f"exported {count} identities to {args.file}")


def import_file(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    ids = gallery.import_file(args.file, on_conflict=args.on_conflict, max_bytes=config.storage.import_max_bytes)
    print(f"imported {len(ids)} identities from {args.file}")


def calibrate(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    from storage.matching import calibrate_threshold

    fresh = [e for e in gallery.embeddings() if not e.stale]
    if not fresh:
        raise StorageError("calibrate needs enrolled embeddings of this model version; enrol people first")
    # A visit is the track (else the session) an embedding came from; enrolled windows without one stand alone.
    visits = np.array([f"t{e.track_id}" if e.track_id is not None else f"s{e.session_id}"
                       if e.session_id is not None else f"e{e.id}" for e in fresh])
    _print_calibration(calibrate_threshold(gallery.vectors([e.id for e in fresh]),
                                           np.array([e.identity_id for e in fresh]), groups=visits,
                                           target_far=args.far))


def retention(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    from storage.retention import apply_retention

    st = config.storage
    report = apply_retention(gallery.db, max_age_s=st.retention_max_age_s, max_bytes=st.retention_max_bytes,
                             skeleton_only=st.skeleton_only)
    print(f"retention: {len(report.sessions_deleted)} sessions deleted, {len(report.sessions_made_skeleton_only)}"
          f" made skeleton-only, {report.sightings_deleted} sightings, {report.bytes_freed} bytes freed")


def transits(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    from storage.transits import clear_transits, load_transits

    if args.clear is not None:
        pair = None
        if args.clear != "all":
            source, sep, target = (part.strip() for part in args.clear.partition("->"))
            if not sep or not source or not target:
                raise StorageError(f"--clear {args.clear!r}: name an ordered pair of cameras as 'A->B', or give "
                                   "no pair to forget every pair's times")
            pair = (source, target)
        print(f"{clear_transits(gallery.db, pair)} transit times forgotten")
        return
    learned = load_transits(gallery.db)
    for (source, target), gaps in sorted(learned.items()):
        print(f"{source} -> {target}: {len(gaps)} hand-offs, {min(gaps):.1f}-{max(gaps):.1f} s "
              f"(median {float(np.median(gaps)):.1f} s)")
    print(f"{len(learned)} pairs of cameras with learned transit times")


def unknowns(args: argparse.Namespace, config: SkelwatchConfig, gallery: Gallery) -> None:
    from app.compose import unknown_clustering
    from app.gallery_service import GalleryService  # imports the clustering stack only for this action

    candidates = GalleryService(gallery, unknown_clustering(config)).unknowns()
    if args.enrol is None:
        for cand in candidates:
            print(f"unknown #{cand.number}: {cand.size} windows, tracks {list(cand.track_ids)}, sessions "
                  f"{list(cand.session_ids)}, seen {cand.first_seen:%Y-%m-%d %H:%M} - {cand.last_seen:%H:%M} UTC")
        print(f"{len(candidates)} unknown candidates")
        return
    chosen = next((c for c in candidates if c.number == args.enrol), None)
    if chosen is None or not args.name:
        raise StorageError(f"--enrol {args.enrol} needs an existing candidate number (1..{len(candidates)}) and "
                           "--name NAME")
    new_id = gallery.enrol(args.name, embedding_ids=chosen.embedding_ids)
    print(f"enrolled unknown #{chosen.number} as #{new_id} {args.name} ({chosen.size} windows)")


ACTIONS: dict[str, Action] = {
    "list": list_identities, "show": show, "enrol": enrol_or_add, "add": enrol_or_add, "rename": rename,
    "watch": watch, "merge": merge, "split": split, "delete": remove, "forget": remove, "not-this": not_this,
    "export": export, "import": import_file, "unknowns": unknowns, "calibrate": calibrate, "retention": retention,
    "transits": transits,
}
