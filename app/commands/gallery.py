"""`gallery ...`: list and edit the identities of the gallery, cluster unknowns, calibrate, prune, move galleries.

Identities are named by name, or by id written `#N` (so an identity may be named "2"). Enrolment takes
embeddings from an .npy file of (N, D) vectors
made by `gallery.model_version`, from stored unknown windows (`--embedding-ids`), from the stored windows of a
track (`--track-id`), or by encoding one track of a recorded session folder (`--session DIR --track K`, with
the checkpoint of `--model` or the pipeline's, whose version the gallery then uses). Each action is one function
of `app.commands.gallery_actions`.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from app.config import SkelwatchConfig
from storage.errors import StorageError

if TYPE_CHECKING:  # the model, database and index stack load when an action runs, not for --help
    from storage.gallery import Gallery


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gallery", help="list and edit identities, cluster unknowns, export/import the gallery",
        description="Identity gallery operations. Each change is one transaction: it happens completely or not at "
        "all. Identities are named by name, or by id as #N (e.g. #2).")
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
        p.add_argument("identity", help="the new name" if name == "enrol" else "name, or #ID")
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
    p.add_argument("identities", nargs="*", help="names or #IDs (default: all)")
    p = sub.add_parser("import", help="add the identities of an exported .zip")
    p.add_argument("file", type=Path)
    p.add_argument("--on-conflict", choices=["error", "merge", "skip"], default="error")
    p = sub.add_parser("unknowns", help="cluster unknown windows into candidates; optionally enrol one")
    p.add_argument("--enrol", type=int, metavar="K", help="enrol candidate 'unknown #K' ...")
    p.add_argument("--name", help="... under this name")
    p = sub.add_parser("calibrate", help="pick accept_distance from the enrolled embeddings at a false-accept rate")
    p.add_argument("--far", type=float, default=0.01, help="target false-accept rate (default 0.01)")
    p = sub.add_parser("retention", help="apply the storage.retention_* policy now")
    p = sub.add_parser("transits", help="the walk times between cameras that hand-offs learned; --clear to forget")
    p.add_argument("--clear", nargs="?", const="all", metavar="A->B",
                   help="forget the times of one ordered pair of cameras (default: of every pair), as after moving "
                        "a camera")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace, config: SkelwatchConfig) -> int:
    from app.commands.gallery_actions import ACTIONS, encode_session_track

    if getattr(args, "session", None) is not None:
        if args.track is None:
            raise StorageError(f"gallery {args.action} --session needs --track K (the tracker's id in that session)")
        args.encoded = encode_session_track(args.session, args.track, config, args.model)
        args.model_version = args.encoded.model_version
    encoded = getattr(args, "encoded", None)
    gallery = open_gallery(args, config, dim=None if encoded is None else encoded.vectors.shape[1])
    try:
        ACTIONS[args.action](args, config, gallery)
        return 0
    finally:
        gallery.db.dispose()


def open_gallery(args: argparse.Namespace, config: SkelwatchConfig, dim: Optional[int] = None) -> Gallery:
    """The Gallery the command line means: --db / --model-version over the config."""
    from app.compose import UNTRAINED_VERSION, encoder_meta, open_gallery as compose_gallery

    meta = encoder_meta(config)
    version = args.model_version or config.gallery.model_version or (meta.model_version if meta else None)
    # The pipeline's encoder decides the version, so the command and the pipeline read the same embeddings.
    return compose_gallery(config, version or UNTRAINED_VERSION, dim, meta=meta, db_url=args.db)
