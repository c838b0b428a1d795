"""A seeded, bounded fuzz of what skelwatch reads from disk: session folders (manifest, skeletons.jsonl,
tracks.jsonl, recording.db3), gallery export zips, config files, model folders (model.json, weights) and dataset
files (skeleton text files, the authors' npy windows).

Each case mutates a valid input (bytes flipped, cut or inserted, lines dropped, duplicated or swapped, JSON values
replaced by values of other types, keys dropped or added) and feeds it to the real readers and commands. The
contract: every outcome is a success or a `SkelwatchError` (one line from the CLI, exit code 2, never an
"unexpected" error), no case hangs (faulthandler ends the run after a deadline), and no input file changes
(checksums before and after). A few hundred cases run in well under a minute. A failing case is printed with its
seed and mutation, so it can be replayed and kept as a regression test below.
"""
from __future__ import annotations

import copy
import faulthandler
import hashlib
import json
import math
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from app.cli import main
from app.config import load_config
from app.session import MANIFEST, SKELETONS, TRACKS, SessionWriter, cache_timestamps, load_skeleton_cache, \
    load_tracks, new_manifest, read_manifest
from app.session_dataset import load as load_session_dataset
from app.session_repair import check_session, repair_session
from app.session_replay import open_session
from capture.frames import Intrinsics, Skeleton3D
from core.errors import SkelwatchError
from storage.db import Database
from storage.portable import export_gallery, import_gallery

SEED = 20261204
CASE_DEADLINE_S = 60  # a case that takes this long is a hang: faulthandler dumps every thread and exits
SESSION_CASES, REPLAY_CASES, RECORDING_CASES, ZIP_CASES, CONFIG_CASES = 150, 4, 12, 90, 70
MODEL_CASES, DATASET_CASES = 80, 80
INTR = Intrinsics(640, 480, 380.0, 380.0, 319.5, 239.5)
REPO = Path(__file__).resolve().parents[2]


# --- mutations ---------------------------------------------------------------------------------------------------
def odd_value(rng: np.random.Generator) -> Any:
    """A JSON value of a random type, including the awkward ones."""
    choices: list[Any] = [None, True, False, 0, -1, 2**63, 1e308, -0.0, math.nan, math.inf, "", "x" * 300,
                          "\u202e", "2026-13-45", [], [[]], [1, 2], {}, {"a": 1}, [None] * 20, [[0.0] * 3] * 19,
                          [[0.0] * 3] * 21, [[0.0, 0.0]] * 20, [[1e9] * 3] * 20, "cuda:7", "bogus", 3.5, "12"]
    return copy.deepcopy(choices[int(rng.integers(len(choices)))])


def paths_of(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key/index path inside a JSON value."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value[:4]):
            out += paths_of(v, prefix + (i,))
    return out


def mutate_json(value: Any, rng: np.random.Generator) -> Any:
    """Replace, drop or add one entry somewhere in a JSON value (a structural, type-confusing mutation)."""
    value = copy.deepcopy(value)
    paths = paths_of(value)
    if not paths:
        return odd_value(rng)
    path = paths[int(rng.integers(len(paths)))]
    parent = value
    for key in path[:-1]:
        parent = parent[key]
    op = int(rng.integers(3))
    if op == 0:
        parent[path[-1]] = odd_value(rng)
    elif op == 1:
        del parent[path[-1]]
    elif isinstance(parent, dict):
        parent["extra"] = odd_value(rng)
    else:
        parent.append(odd_value(rng))
    return value


def mutate_bytes(data: bytes, rng: np.random.Generator) -> bytes:
    """Flip, cut, insert, or reorder lines: what damage, a crash or a careless edit leaves."""
    op = int(rng.integers(7))
    if not data:
        return bytes(rng.integers(0, 256, 8, dtype=np.uint8))
    at = int(rng.integers(len(data)))
    if op == 0:  # flip a few bytes
        arr = bytearray(data)
        for k in rng.integers(len(data), size=3):
            arr[k] ^= 1 << int(rng.integers(8))
        return bytes(arr)
    if op == 1:
        return data[:at]
    if op == 2:
        return data[:at] + bytes(rng.integers(0, 256, 16, dtype=np.uint8)) + data[at:]
    lines = data.splitlines(keepends=True)
    i, j = int(rng.integers(len(lines))), int(rng.integers(len(lines)))
    if op == 3:
        del lines[i]
    elif op == 4:
        lines.insert(j, lines[i])
    elif op == 5:
        lines[i], lines[j] = lines[j], lines[i]
    else:  # a structural mutation of one JSON line
        try:
            lines[i] = (json.dumps(mutate_json(json.loads(lines[i]), rng)) + "\n").encode()
        except ValueError:
            lines[i] = b"\xff\xfe not json\n"
    return b"".join(lines)


# --- the contract ------------------------------------------------------------------------------------------------
def checksums(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@contextmanager
def deadline() -> Iterator[None]:
    faulthandler.dump_traceback_later(CASE_DEADLINE_S, exit=True, file=sys.__stderr__)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


def outcome(action: Callable[[], Any]) -> str:
    """"ok" or the SkelwatchError's class; any other exception fails the case (it would be a traceback)."""
    with deadline():
        try:
            action()
        except SkelwatchError as exc:
            assert "\n" not in str(exc), f"a multi-line message: {exc}"
            return type(exc).__name__
    return "ok"


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run a command; it must end 0 or 2 with at most one line of error and no unexpected error."""
    with deadline():
        code = main(["--log-level", "ERROR", *argv])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert "Traceback" not in err and "unexpected" not in err and len(errors) == (code == 2), err
    return "ok" if code == 0 else "error"


# --- sessions ----------------------------------------------------------------------------------------------------
def write_base_session(folder: Path, frames: int = 24) -> None:
    writer = SessionWriter(folder, new_manifest("synthetic", "fuzz scene", 15.0, INTR, has_recording=False))
    for i in range(frames):
        people = []
        for k, x in enumerate((-0.8, 0.8)):
            joints = np.zeros((20, 3), dtype=np.float32)
            joints[:, 0] = x + 0.01 * np.arange(20) + 0.02 * i
            joints[:, 1] = -0.8 + 0.09 * np.arange(20)
            joints[:, 2] = 3.0 + 0.1 * k
            people.append(Skeleton3D(joints, np.full(20, 0.9, np.float32), (10.0, 20.0, 110.0, 220.0), i / 15.0, i,
                                     INTR.project(joints).astype(np.float32)))
        writer.append(i, i / 15.0, people, [(k + 1, "confirmed", p.joints) for k, p in enumerate(people)])
    writer.close()


def mutate_session(base: Path, target: Path, rng: np.random.Generator) -> str:
    shutil.copytree(base, target)
    name = (MANIFEST, SKELETONS, TRACKS)[int(rng.integers(3))]
    path = target / name
    if name == MANIFEST and rng.random() < 0.6:
        path.write_text(json.dumps(mutate_json(json.loads(path.read_text()), rng)))
    else:
        path.write_bytes(mutate_bytes(path.read_bytes(), rng))
    return name


def read_everything(folder: Path) -> None:
    """Every reader replay and training use, in the order they would run."""
    outcomes = [outcome(lambda: read_manifest(folder)), outcome(lambda: load_skeleton_cache(folder)),
                outcome(lambda: cache_timestamps(folder)), outcome(lambda: load_tracks(folder)),
                outcome(lambda: load_session_dataset(folder)), outcome(lambda: check_session(folder)),
                outcome(lambda: repair_session(folder, dry_run=True))]

    def replay_source() -> None:
        session = open_session(folder)
        for _ in session.source:
            pass
        session.source.close()

    outcomes.append(outcome(replay_source))
    assert outcomes  # each outcome is "ok" or a SkelwatchError's name; anything else raised already


@pytest.fixture(scope="module")
def base_session(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("base") / "session"
    write_base_session(folder)
    return folder


def test_fuzzed_sessions_read_cleanly_and_stay_unchanged(base_session: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    for case in range(SESSION_CASES):
        folder = tmp_path / f"case{case}"
        target = mutate_session(base_session, folder, rng)
        before = checksums(folder)
        try:
            read_everything(folder)
        except AssertionError as exc:
            raise AssertionError(f"session case {case} (seed {SEED}, {target} mutated): {exc}") from exc
        assert checksums(folder) == before, f"session case {case} changed its input"
        shutil.rmtree(folder)


def test_fuzzed_sessions_replay_and_train_from_the_cli(base_session: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(SEED + 1)
    seen = set()
    for case in range(REPLAY_CASES):
        folder = tmp_path / f"case{case}"
        target = mutate_session(base_session, folder, rng)
        before = checksums(folder)
        seen.add(cli(capsys, "replay", "--no-gallery", str(folder)))
        seen.add(cli(capsys, "--set", "model.hidden=16", "--set", "model.heads=2", "--set", "train.epochs=1",
                     "--set", "train.batch_size=4", "--set", "train.stride=1", "train", "--data", str(folder),
                     "--run", f"r{case}", "--runs-dir", str(tmp_path / "runs")))
        assert checksums(folder) == before, f"replay case {case} ({target} mutated) changed its input"
    assert seen == {"ok", "error"}  # the mutations reach both outcomes: the fuzz is not vacuous
    assert not (tmp_path / "runs").exists() or all((run / "last").is_dir() for run in (tmp_path / "runs").iterdir())


def test_fuzzed_recordings_replay_or_fail_cleanly(base_session: Path, tmp_path: Path) -> None:
    """A session whose recording.db3 is cut, flipped or junk: its images replay, or one clear error (the cache
    replays instead where there is one), and the recording is left as it was."""
    demo = (REPO / "data" / "demo" / "demo.db3").read_bytes()  # made by scripts/setup.sh, which test.sh runs
    rng = np.random.default_rng(SEED + 4)
    outcomes = []
    for case in range(RECORDING_CASES):
        folder = tmp_path / f"case{case}"
        shutil.copytree(base_session, folder)
        if case % 2:  # half without a cache: a bad recording is then all there is
            (folder / SKELETONS).unlink()
        op = case % 3
        if op == 0:
            data = demo[: int(rng.integers(len(demo)))]
        elif op == 1:
            arr = bytearray(demo)
            for k in rng.integers(len(demo), size=20):
                arr[k] ^= 0xFF
            data = bytes(arr)
        else:
            data = bytes(rng.integers(0, 256, 4096, dtype=np.uint8))
        (folder / "recording.db3").write_bytes(data)
        before = checksums(folder)

        def replay_images() -> None:
            session = open_session(folder, images=True)
            for n, _ in enumerate(session.source):
                if n >= 10:
                    break
            session.source.close()

        try:
            outcomes.append(outcome(replay_images))
        except AssertionError as exc:
            raise AssertionError(f"recording case {case} (seed {SEED + 4}, op {op}): {exc}") from exc
        assert checksums(folder) == before, f"recording case {case} changed its input"
        shutil.rmtree(folder)
    assert "SessionError" in outcomes and "ok" in outcomes


# --- gallery zips ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from storage.gallery import Gallery

    folder = tmp_path_factory.mktemp("zip")
    db = Database(folder / "src.db")
    gallery = Gallery(db, "m1", dim=9)
    rng = np.random.default_rng(1)
    for name in ("ann", "bob", "2"):
        gallery.enrol(name, rng.normal(size=(3, 9)).astype(np.float32))
    export_gallery(db, folder / "g.zip")
    db.dispose()
    return folder / "g.zip"


def mutate_zip(base: Path, target: Path, rng: np.random.Generator) -> str:
    import io
    import zipfile

    with zipfile.ZipFile(base) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    op = int(rng.integers(5))
    if op == 0:
        target.write_bytes(mutate_bytes(base.read_bytes(), rng))
        return "zip bytes"
    if op == 1:
        entries["gallery.json"] = json.dumps(mutate_json(json.loads(entries["gallery.json"]), rng)).encode()
    elif op == 2:
        name = next(n for n in entries if n.endswith(".npy"))
        entries[name] = mutate_bytes(entries[name], rng)
    elif op == 3:
        name = next(n for n in entries if n.endswith(".npy"))
        arr = np.load(io.BytesIO(entries[name]))
        arr[int(rng.integers(len(arr)))] = (0.0, math.nan, math.inf)[int(rng.integers(3))]
        buf = io.BytesIO()
        np.save(buf, arr.astype((np.float32, np.float64, ">f4")[int(rng.integers(3))]))
        entries[name] = buf.getvalue()
    else:
        entries.pop(list(entries)[int(rng.integers(len(entries)))])
    with zipfile.ZipFile(target, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return ("", "gallery.json", "npy bytes", "npy values", "entry dropped")[op]


def test_fuzzed_gallery_zips_import_cleanly(base_zip: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED + 2)
    db = Database(tmp_path / "dst.db")
    outcomes = set()
    try:
        for case in range(ZIP_CASES):
            path = tmp_path / f"case{case}.zip"
            what = mutate_zip(base_zip, path, rng)
            before = hashlib.sha256(path.read_bytes()).hexdigest()
            conflict = ("error", "merge", "skip")[case % 3]
            try:
                outcomes.add(outcome(lambda: import_gallery(db, path, on_conflict=conflict, max_bytes=1 << 20)))
            except AssertionError as exc:
                raise AssertionError(f"zip case {case} (seed {SEED + 2}, {what}): {exc}") from exc
            assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    finally:
        db.dispose()
    assert "ok" in outcomes and len(outcomes) > 1


def test_a_zip_inflating_past_the_limit_is_refused_unread(tmp_path: Path) -> None:
    import zipfile

    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("gallery.json", json.dumps({"format": "skelwatch-gallery", "format_version": 1,
                                                "model_versions": [], "identities": []}))
        zf.writestr("vectors_0.npy", b"\0" * (8 << 20))  # 8 MB of zeros: a few kB compressed
    assert bomb.stat().st_size < 64 << 10
    db = Database(tmp_path / "dst.db")
    try:
        with pytest.raises(SkelwatchError, match=r"inflates to 8\.4 MB, over the import limit of 1\.0 MB"):
            import_gallery(db, bomb, max_bytes=1 << 20)
    finally:
        db.dispose()


# --- config files ------------------------------------------------------------------------------------------------
BASE_CONFIG = {"pipeline": {"device": "cpu", "threads": 1, "flush_interval_s": 0.5},
               "train": {"epochs": 3, "device": "cpu"}, "storage": {"busy_timeout_s": 5.0},
               "gallery": {"accept_distance": 1.0, "vote_window": 9}}


def test_fuzzed_config_files_load_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(SEED + 3)
    outcomes = set()
    for case in range(CONFIG_CASES):
        path = tmp_path / f"case{case}.yaml"
        text = yaml.safe_dump(BASE_CONFIG).encode()
        kind = case % 4
        if kind == 0:
            path.write_bytes(mutate_bytes(text, rng))
        elif kind in (1, 2):
            path.write_text(yaml.safe_dump(mutate_json(BASE_CONFIG, rng), allow_unicode=True))
        else:
            path.write_bytes(bytes(rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8)))
        before = path.read_bytes()
        try:
            outcomes.add(outcome(lambda: load_config(path)))
            if case % 10 == 0:
                cli(capsys, "--config", str(path), "config", "check")
        except AssertionError as exc:
            raise AssertionError(f"config case {case} (seed {SEED + 3}): {exc}") from exc
        assert path.read_bytes() == before
    assert outcomes >= {"ok", "ConfigError"}
    (tmp_path / "folder.yaml").mkdir()
    assert outcome(lambda: load_config(tmp_path / "folder.yaml")) == "ConfigError"


@pytest.mark.parametrize("header, match", [
    (b"{'descr': '<f4'( 'fortran_order': False, 7shape': (9, 9), }", "damaged .npy header"),  # found by the fuzz
    (b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 9), }", "promises 1000000000000 vectors"),
    (b"{'descr': '|O', 'fortran_order': False, 'shape': (3, 9), }", "not \\(N, 9\\) little-endian float32"),
])
def test_crafted_npy_headers_are_refused(base_zip: Path, tmp_path: Path, header: bytes, match: str) -> None:
    import zipfile

    with zipfile.ZipFile(base_zip) as zf:
        entries = {name: zf.read(name) for name in zf.namelist()}
    header = header.ljust(118) + b"\n"
    entries["vectors_0.npy"] = b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + b"\0" * 108
    crafted = tmp_path / "crafted.zip"
    with zipfile.ZipFile(crafted, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    db = Database(tmp_path / "dst.db")
    try:
        with pytest.raises(SkelwatchError, match=match):
            import_gallery(db, crafted)
    finally:
        db.dispose()


# --- model folders -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch

    from reid.checkpoint import ModelMeta, save_model
    from reid.model import HiMPC

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("model") / "model"
    save_model(folder, HiMPC(num_joints=20, hidden=16, heads=2), ModelMeta(20, 16, 2, 6, "kinect_v1",
                                                                          accept_distance=1.0))
    return folder


def test_fuzzed_model_folders_load_cleanly(base_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A model folder with a damaged model.json or weights file, or one of them missing: it loads (a change the
    format tolerates) or one CheckpointError, from the loader and from `evaluate`; the folder is left alone."""
    from reid.checkpoint import META_FILE, WEIGHTS_FILE, load_model

    monkeypatch.setenv("SKELWATCH_HOME", str(tmp_path / "home"))
    rng = np.random.default_rng(SEED + 4)
    outcomes = set()
    for case in range(MODEL_CASES):
        folder = tmp_path / f"case{case}"
        shutil.copytree(base_model, folder)
        kind = case % 5
        if kind in (0, 1):
            meta = folder / META_FILE
            meta.write_text(json.dumps(mutate_json(json.loads(meta.read_text()), rng)))
        elif kind == 2:
            (folder / META_FILE).write_bytes(mutate_bytes((folder / META_FILE).read_bytes(), rng))
        elif kind == 3:
            (folder / WEIGHTS_FILE).write_bytes(mutate_bytes((folder / WEIGHTS_FILE).read_bytes(), rng))
        else:
            (folder / (META_FILE, WEIGHTS_FILE)[int(rng.integers(2))]).unlink()
        before = checksums(folder)
        try:
            outcomes.add(outcome(lambda: load_model(folder)))
            if case % 8 == 0:
                cli(capsys, "evaluate", "--checkpoint", str(folder), "--data", "synthetic:ids=2,seqs=2,frames=12",
                    "--no-baselines")
        except AssertionError as exc:
            raise AssertionError(f"model case {case} (seed {SEED + 4}): {exc}") from exc
        assert checksums(folder) == before, f"model case {case} changed its input"
    assert outcomes >= {"ok", "CheckpointError"}


# --- dataset files -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def base_datasets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A skeleton-text dataset (two people, two walks each) and an npy dataset in the authors' layout."""
    from tests.reid.test_datasets import random_windows, walker_rows, write_npy_split, write_txt

    root = tmp_path_factory.mktemp("datasets")
    txt = root / "txt"
    txt.mkdir()
    for k, name in enumerate(("alice_walk1", "alice_walk2", "bob_walk1", "bob_walk2")):
        write_txt(txt / f"{name}.txt", walker_rows(24, 20, k), frame_id=k % 2 == 1)
    npy = root / "npy" / "KS20" / "6"
    write_npy_split(npy / "train_npy_data", "", "KS20", 6, random_windows(8, 6, 25, 0), np.arange(8) % 2)
    write_npy_split(npy / "test_npy_data" / "probe", "t_", "KS20", 6, random_windows(4, 6, 25, 1),
                    np.array([0, 1, 0, 1]))
    write_npy_split(npy / "test_npy_data" / "gallery", "t_", "KS20", 6, random_windows(4, 6, 25, 2),
                    np.array([0, 1, 0, 1]))
    return {"kinect-txt": txt, "npy": root / "npy" / "KS20"}


def test_fuzzed_dataset_files_load_cleanly(base_datasets: dict[str, Path], tmp_path: Path) -> None:
    """One file of a dataset damaged (bytes, lines, a wrong shape or dtype in an npy): the reader loads what it
    can or raises one DatasetError naming the file; the files are left alone."""
    from reid.datasets import load_dataset

    rng = np.random.default_rng(SEED + 5)
    outcomes = set()
    for case in range(DATASET_CASES):
        fmt = ("kinect-txt", "npy")[case % 2]
        root = tmp_path / f"case{case}"
        shutil.copytree(base_datasets[fmt], root)
        files = sorted(p for p in root.rglob("*") if p.is_file())
        victim = files[int(rng.integers(len(files)))]
        if fmt == "npy" and case % 4 == 1:  # a valid npy of another shape or dtype
            array = np.load(victim)
            np.save(victim, (array.reshape(-1)[: max(1, array.size - 7)], array.astype(np.complex64),
                             array.astype(str), np.full(array.shape, np.nan))[int(rng.integers(4))])
        else:
            victim.write_bytes(mutate_bytes(victim.read_bytes(), rng))
        before = checksums(root)
        try:
            outcomes.add(outcome(lambda: load_dataset(root, fmt)))
        except AssertionError as exc:
            raise AssertionError(f"dataset case {case} ({fmt}, {victim.name}, seed {SEED + 5}): {exc}") from exc
        assert checksums(root) == before, f"dataset case {case} changed its input"
    assert outcomes >= {"ok", "DatasetError"}


@pytest.mark.parametrize("change, match", [  # found by the fuzz: each once ended in a Python error
    ({"extra": 1}, "unknown key 'extra'"),
    ({"hidden": 2 ** 62}, "hidden is"),
    ({"heads": "8"}, "heads is '8'"),
    ({"accept_distance": float("nan")}, "accept_distance is nan"),
    ({"hidden": 32}, "do not belong together"),
])
def test_damaged_model_descriptions_are_named(base_model: Path, tmp_path: Path, change: dict, match: str) -> None:
    from reid.checkpoint import META_FILE, load_model

    folder = tmp_path / "model"
    shutil.copytree(base_model, folder)
    meta = folder / META_FILE
    meta.write_text(json.dumps({**json.loads(meta.read_text()), **change}))
    with pytest.raises(SkelwatchError, match=match):
        load_model(folder)


def test_npy_coordinates_of_another_kind_are_refused(base_datasets: dict[str, Path], tmp_path: Path) -> None:
    from reid.datasets import load_dataset

    root = tmp_path / "npy"
    shutil.copytree(base_datasets["npy"], root)
    victim = next(root.rglob("source_y_*.npy"))
    np.save(victim, np.load(victim).astype(np.complex64))  # found by the fuzz: cast to real with a warning
    with pytest.raises(SkelwatchError, match="complex64 values"):
        load_dataset(root, "npy")
    victim.write_bytes(victim.read_bytes()[:10] + b"\x86" + victim.read_bytes()[11:])  # a damaged header
    with pytest.raises(SkelwatchError, match="damaged .npy header"):
        load_dataset(root, "npy")
