"""Dataset readers: real UCalgary files, text and npy files written here, the registry and repair counts."""
import csv
import shutil
from pathlib import Path

import numpy as np
import pytest

from reid.datasets import FORMATS, RepairReport, detect_format, load_dataset
from reid.datasets.repair import repair_sequence
from reid.errors import DatasetError
from reid.skeleton import CANONICAL_JOINTS, KINECT_V2, OPENPOSE_14, UCALGARY_18
from tests.shared_data import shared_path

UCALGARY = shared_path("ucalgary-gait")
FRONTVIEW = UCALGARY / "frontview"
C = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
U = {name: i for i, name in enumerate(UCALGARY_18.joints)}


def usable_runs(root: Path) -> list[Path]:
    """Non-empty Run1-6 GeometricPositions files, listed independently of the reader."""
    return sorted(p for p in root.glob("sub*/Run[1-6]/*GeometricPositions*.csv") if p.stat().st_size > 0)


@pytest.fixture(scope="module")
def ucalgary():
    return load_dataset(UCALGARY)


# --- UCalgary, real files -------------------------------------------------------------------------------------

def test_ucalgary_counts_shapes_and_labels(ucalgary):
    files = usable_runs(FRONTVIEW)
    subjects = sorted({p.parts[-3] for p in files})
    assert len(ucalgary.sequences) == len(files)
    assert ucalgary.identities == sorted(subjects)
    assert ucalgary.layout == "kinect_v1" and not ucalgary.windowed
    assert all(s.joints.shape == (120, 20, 3) and s.joints.dtype == np.float32 for s in ucalgary.sequences)
    assert all(np.isfinite(s.joints).all() for s in ucalgary.sequences)
    assert ucalgary.train == tuple(range(len(files)))
    assert not any("Run7" in s.name for s in ucalgary.sequences)
    assert {s.condition for s in ucalgary.sequences} == {"normal", "limp-right", "limp-left"}
    # Some real files hold untracked (all-zero) joints: they are repaired and counted, never silent.
    assert ucalgary.report.frames_read == 120 * len(files)
    assert ucalgary.report.joints_repaired > 0


def test_ucalgary_probe_sets(ucalgary):
    seqs = ucalgary.sequences
    normal, limp = ucalgary.probe_set("normal"), ucalgary.probe_set("limp")
    assert {seqs[i].name.split("/")[1] for i in normal.gallery} == {"Run1"}
    assert {seqs[i].name.split("/")[1] for i in normal.probe} == {"Run2"}
    assert {seqs[i].name.split("/")[1] for i in limp.gallery} == {"Run1", "Run2"}
    assert {seqs[i].name.split("/")[1] for i in limp.probe} == {"Run3", "Run4", "Run5", "Run6"}
    n_subjects = len(ucalgary.identities)
    assert len(normal.gallery) == len(normal.probe) == n_subjects
    assert len(limp.probe) == 4 * n_subjects and not normal.same_set
    with pytest.raises(DatasetError, match="valid: normal, limp"):
        ucalgary.probe_set("nm.nm")


def test_ucalgary_mapping_matches_the_csv(ucalgary):
    path = next(FRONTVIEW.glob("sub2/Run1/*GeometricPositions*.csv"))
    with path.open() as handle:
        rows = list(csv.reader(handle))[1:]
    raw = np.array([[float(v) for v in row[:54]] for row in rows]).reshape(-1, 18, 3)
    seq = next(s for s in ucalgary.sequences if s.name == "sub2/Run1")
    np.testing.assert_allclose(seq.joints[:, C["HipCenter"]], raw[:, U["SpineBase"]], atol=1e-6)
    np.testing.assert_allclose(seq.joints[:, C["ShoulderCenter"]], raw[:, U["Neck"]], atol=1e-6)
    np.testing.assert_allclose(seq.joints[:, C["HandLeft"]], raw[:, U["WristLeft"]], atol=1e-6)
    np.testing.assert_allclose(seq.joints[:, C["FootRight"]], raw[:, U["FootRight"]], atol=1e-6)


def copy_subjects(tmp_path: Path, names: list[str]) -> Path:
    dest = tmp_path / "gait" / "frontview"
    for name in names:
        shutil.copytree(FRONTVIEW / name, dest / name, ignore=shutil.ignore_patterns("*Angles*", "*GaitCycle*"))
    return tmp_path / "gait"


def test_ucalgary_any_subset_and_deeper_root(tmp_path):
    root = copy_subjects(tmp_path, ["sub1", "sub4"])  # sub1 has a Run7 that must be ignored
    assert detect_format(root) == "ucalgary"
    ds = load_dataset(root)
    assert ds.identities == ["sub1", "sub4"] and len(ds.sequences) == 12
    assert len(ds.probe_set("normal").probe) == 2 and len(ds.probe_set("limp").probe) == 8
    same = load_dataset(root / "frontview", "ucalgary")
    assert [s.name for s in same.sequences] == [s.name for s in ds.sequences]


def test_ucalgary_empty_files_are_skipped_and_counted(tmp_path):
    root = copy_subjects(tmp_path, ["sub3", "sub7"])
    empty = next((root / "frontview/sub7/Run2").glob("*GeometricPositions*.csv"))
    empty.write_bytes(b"")
    header_only = next((root / "frontview/sub3/Run4").glob("*GeometricPositions*.csv"))
    header_only.write_text(header_only.read_text().splitlines()[0] + "\n")
    shutil.rmtree(root / "frontview/sub3/Run5")
    (root / "frontview/sub3/Run5").mkdir()
    ds = load_dataset(root)
    assert len(ds.sequences) == 12 - 3
    assert ds.report.files_skipped == 2 and ds.report.sequences_dropped == 1
    reasons = dict(ds.report.skipped)
    assert reasons[str(empty)] == "empty file (0 bytes)"
    assert "no *GeometricPositions*.csv" in reasons[str(root / "frontview/sub3/Run5")]
    assert "0 usable frames" in reasons["sub3/Run4"]
    # sub7 lost its Run2, so only sub3 is a normal probe; sub7 Run1 stays in the gallery.
    normal = ds.probe_set("normal")
    assert [ds.sequences[i].name for i in normal.probe] == ["sub3/Run2"]
    assert len(normal.gallery) == 2


def test_ucalgary_bad_file_and_folder_errors(tmp_path):
    root = copy_subjects(tmp_path, ["sub2"])
    bad = next((root / "frontview/sub2/Run1").glob("*GeometricPositions*.csv"))
    lines = bad.read_text().splitlines()
    bad.write_text("\n".join(lines[:5] + [",".join(lines[5].split(",")[:30])] + lines[6:]) + "\n")
    with pytest.raises(DatasetError, match=r"GeometricPositions_N\.csv.*at least 54"):
        load_dataset(root)
    with pytest.raises(DatasetError, match="no subN/ folders"):
        load_dataset(tmp_path / "gait" / "frontview" / "sub2" / "Run1", "ucalgary")
    with pytest.raises(DatasetError, match="is not a folder"):
        load_dataset(tmp_path / "missing", "ucalgary")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "missing")


# --- kinect-txt ------------------------------------------------------------------------------------------------

def walker_rows(frames: int, joints: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(0.0, 0.3, (joints, 3)) + np.array([0.0, 0.0, 3.0])
    return (base[None] + rng.normal(0.0, 0.005, (frames, joints, 3))).astype(np.float32)


def write_txt(path: Path, joints: np.ndarray, *, frame_id: bool = False, sep: str = " ", header: str = "") -> None:
    rows = [sep.join(([str(t)] if frame_id else []) + [f"{v:.6f}" for v in frame.ravel()])
            for t, frame in enumerate(joints)]
    path.write_text((header + "\n" if header else "") + "\n".join(rows) + "\n")


def test_kinect_txt_formats_ids_and_probe_sets(tmp_path):
    data = {name: walker_rows(30, 20, k) for k, name in enumerate(
        ["alice_walk1", "alice_walk2", "bob_walk1", "bob_walk2"])}
    write_txt(tmp_path / "alice_walk1.txt", data["alice_walk1"])
    write_txt(tmp_path / "alice_walk2.txt", data["alice_walk2"], frame_id=True, sep=",")
    write_txt(tmp_path / "bob_walk1.txt", data["bob_walk1"], sep="\t", header="x y z ...")
    write_txt(tmp_path / "bob_walk2.txt", data["bob_walk2"], frame_id=True)
    assert detect_format(tmp_path) == "kinect-txt"
    ds = load_dataset(tmp_path, gallery_sessions="walk1", probe_sessions=["walk2"])
    assert [s.name for s in ds.sequences] == ["alice_walk1.txt", "alice_walk2.txt", "bob_walk1.txt", "bob_walk2.txt"]
    assert [s.identity for s in ds.sequences] == ["alice", "alice", "bob", "bob"]
    for seq in ds.sequences:
        np.testing.assert_allclose(seq.joints, data[seq.name[:-4]], atol=1e-5)
    (ps,) = ds.probe_sets
    assert ps.gallery == (0, 2) and ps.probe == (1, 3) and not ps.same_set
    assert load_dataset(tmp_path, "kinect-txt").probe_sets == []
    with pytest.raises(DatasetError, match="sessions present: walk1, walk2"):
        load_dataset(tmp_path, "kinect-txt", gallery_sessions="walk3", probe_sessions="walk1")


def test_kinect_txt_other_layouts_map_to_canonical(tmp_path):
    v2 = walker_rows(12, 25, 1)
    write_txt(tmp_path / "p7_s1.txt", v2)
    ds = load_dataset(tmp_path, "kinect-txt", layout="kinect_v2")
    assert ds.layout == "kinect_v1" and ds.sequences[0].joints.shape == (12, 20, 3)
    spine_shoulder = KINECT_V2.joints.index("SpineShoulder")
    np.testing.assert_allclose(ds.sequences[0].joints[:, C["ShoulderCenter"]], v2[:, spine_shoulder], atol=1e-5)
    op = walker_rows(8, 14, 2)
    write_txt(tmp_path / "p8_s1.txt", op)
    with pytest.raises(DatasetError, match=r"p8_s1\.txt, line 1: 42 numbers, expected 75"):
        load_dataset(tmp_path, "kinect-txt", layout="kinect_v2")
    ds14 = load_dataset(tmp_path / "p8_s1.txt", "kinect-txt", layout="openpose14")
    hips = [OPENPOSE_14.joints.index("RHip"), OPENPOSE_14.joints.index("LHip")]
    np.testing.assert_allclose(ds14.sequences[0].joints[:, 0], op[:, hips].mean(axis=1), atol=1e-5)


def test_kinect_txt_bad_input(tmp_path):
    write_txt(tmp_path / "ann_a.txt", walker_rows(10, 20, 0))
    (tmp_path / "README.txt").write_text("Recorded in the lab\n")
    ds = load_dataset(tmp_path, "kinect-txt")
    assert len(ds.sequences) == 1 and ds.report.files_skipped == 1
    assert "does not match name_pattern" in dict(ds.report.skipped)[str(tmp_path / "README.txt")]
    with pytest.raises(DatasetError, match="no usable sequence.*README.txt.*check name_pattern"):
        load_dataset(tmp_path, "kinect-txt", name_pattern=r"(?P<identity>\d+)-(?P<session>\w+)", glob="README*")
    (tmp_path / "README.txt").unlink()
    bad = tmp_path / "ann_b.txt"
    write_txt(bad, walker_rows(10, 20, 1))
    bad.write_text(bad.read_text() + "0.1 0.2 oops\n")
    with pytest.raises(DatasetError, match=r"ann_b\.txt, line 11: .*not a row of numbers"):
        load_dataset(tmp_path, "kinect-txt")
    bad.write_bytes(b"")
    ds = load_dataset(tmp_path, "kinect-txt")
    assert ds.report.files_skipped == 1 and len(ds.sequences) == 1
    with pytest.raises(DatasetError, match=r"no \*\.skel files"):
        load_dataset(tmp_path, "kinect-txt", glob="*.skel")
    with pytest.raises(DatasetError, match="unknown dataset format 'bvh'; valid formats: synthetic, ucalgary"):
        load_dataset(tmp_path, "bvh")


def test_kinect_txt_repairs_gaps_and_drops_untracked_frames(tmp_path):
    joints = walker_rows(40, 20, 3)
    joints[10, 5] = 0.0  # one untracked joint: interpolated
    joints[20:30, 7] = np.nan  # a long gap (10 frames): those frames are dropped
    joints[35] = 0.0  # one untracked frame: a short gap for every joint, interpolated
    joints[38:40] = 0.0  # untracked at the end: no right neighbour, dropped
    write_txt(tmp_path / "cy_a.txt", joints)
    ds = load_dataset(tmp_path, "kinect-txt")
    report, kept = ds.report, ds.sequences[0].joints
    assert report.joints_repaired == 1 + 20 and report.frames_repaired == 2
    assert report.frames_dropped == 10 + 2 and len(kept) == 28
    np.testing.assert_allclose(kept[10, 5], (joints[9, 5] + joints[11, 5]) / 2, atol=1e-5)
    np.testing.assert_allclose(kept[35 - 10], (joints[34] + joints[36]) / 2, atol=1e-5)


# --- repair ----------------------------------------------------------------------------------------------------

def test_repair_sequence_counts_and_keeps_input():
    joints = np.tile(np.arange(60, dtype=np.float32).reshape(1, 20, 3), (12, 1, 1)) + np.arange(12)[:, None, None]
    joints[3:5, 2] = np.nan  # gap of 2 in the interior: interpolated
    joints[0, 4] = np.nan  # leading gap: no neighbour on the left, frame dropped
    original = joints.copy()
    report = RepairReport()
    out = repair_sequence(joints, "s", report, max_gap=3, min_frames=2)
    np.testing.assert_array_equal(joints, original)
    assert out.shape == (11, 20, 3)
    assert report.joints_repaired == 2 and report.frames_repaired == 2 and report.frames_dropped == 1
    np.testing.assert_allclose(out[2:4, 2], [[9, 10, 11], [10, 11, 12]], atol=1e-5)
    short = RepairReport()
    assert repair_sequence(joints[:3], "tiny", short, min_frames=6) is None
    assert short.sequences_dropped == 1 and short.skipped[0][0] == "tiny"


# --- npy (the authors' preprocessed windows) ---------------------------------------------------------------------

def write_npy_split(folder: Path, prefix: str, ds: str, f: int, windows: np.ndarray, labels: np.ndarray,
                    shape: str = "n,f,v") -> None:
    """Write one split in the authors' layout; `shape` picks how each coordinate array is stored."""
    folder.mkdir(parents=True, exist_ok=True)
    n, _, v = windows.shape[:3]
    stored = {"n,f,v": (n, f, v), "nf,v": (n * f, v), "n,fv": (n, f * v), "flat": (n * f * v,)}[shape]
    for axis, name in enumerate("xyz"):
        np.save(folder / f"{prefix}source_{name}_{ds}_{f}.npy", windows[..., axis].reshape(stored))
    np.save(folder / f"frame_id_{ds}_{f}.npy", labels)


def random_windows(n: int, f: int, v: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, 0.5, (n, f, v, 3)).astype(np.float32) + 1.0


def test_npy_ks20_layout(tmp_path):
    root = tmp_path / "Datasets" / "KS20" / "6"
    train, probe, gallery = random_windows(10, 6, 25, 0), random_windows(4, 6, 25, 1), random_windows(5, 6, 25, 2)
    write_npy_split(root / "train_npy_data", "", "KS20", 6, train, np.arange(10) % 3)
    write_npy_split(root / "test_npy_data" / "probe", "t_", "KS20", 6, probe, np.array([0, 1, 2, 0]), "nf,v")
    write_npy_split(root / "test_npy_data" / "gallery", "t_", "KS20", 6, gallery, np.array([0, 1, 2, 0, 1]), "n,fv")
    assert detect_format(root.parent) == "npy"
    ds = load_dataset(root.parent)  # the <DS> folder with a single <f> below it
    assert ds.windowed and ds.layout == "kinect_v2" and len(ds.sequences) == 19
    assert ds.train == tuple(range(10))
    (ps,) = ds.probe_sets
    assert ps.name == "probe" and ps.gallery == (10, 11, 12, 13, 14) and ps.probe == (15, 16, 17, 18)
    np.testing.assert_array_equal(ds.sequences[3].joints, train[3])
    np.testing.assert_array_equal(ds.sequences[17].joints, probe[2])
    assert ds.sequences[17].identity == "2" and ds.sequences[17].condition == "probe"


# The official code's mapping of KGBD's raw joint order into Kinect v1 order (Kali-Hac/Hi-MPC utils/process.py:
# X[:, :, [11, 10, 1, 0, ...]]), written out here independently of the reader.
OFFICIAL_KGBD_PERMUTATION = [11, 10, 1, 0, 2, 4, 6, 8, 3, 5, 7, 9, 12, 14, 16, 18, 13, 15, 17, 19]


def test_npy_kgbd_joints_are_permuted_like_the_official_code(tmp_path):
    root = tmp_path / "KGBD" / "6"
    raw = random_windows(4, 6, 20, 0)
    raw[:, :, :, 0] += np.arange(20)  # every raw joint recognisable by its x
    write_npy_split(root / "train_npy_data", "", "KGBD", 6, raw, np.arange(4))
    write_npy_split(root / "test_npy_data" / "probe", "t_", "KGBD", 6, raw[:2], np.arange(2))
    write_npy_split(root / "test_npy_data" / "gallery", "t_", "KGBD", 6, raw[2:], np.arange(2))
    ds = load_dataset(root, "npy")
    stored = [*raw, *raw[2:], *raw[:2]]  # train, then the test splits in name order: gallery, probe
    assert len(ds.sequences) == len(stored)
    for seq, window in zip(ds.sequences, stored):
        np.testing.assert_array_equal(seq.joints, window[:, OFFICIAL_KGBD_PERMUTATION])
    # Canonical joint i is raw joint perm[i]: the hip centre (root) is raw 11, the head raw 0, the hands raw 8/9.
    joints = ds.sequences[0].joints
    np.testing.assert_array_equal(joints[:, C["HipCenter"]], raw[0][:, 11])
    np.testing.assert_array_equal(joints[:, C["Head"]], raw[0][:, 0])
    # Other datasets keep their stored order.
    other = tmp_path / "IAS" / "6"
    write_npy_split(other / "train_npy_data", "", "IAS", 6, raw, np.arange(4))
    np.testing.assert_array_equal(load_dataset(other, "npy").sequences[0].joints, raw[0])


def test_reader_options_from_the_command_line_are_typed_and_checked(tmp_path):
    write_txt(tmp_path / "ann_s1.txt", walker_rows(12, 20, 0))
    ds = load_dataset(tmp_path, "kinect-txt", min_frames="10", fps="15")  # text, as --option gives it
    assert ds.sequences[0].fps == 15.0
    with pytest.raises(DatasetError, match="fewer than the minimum 20"):
        load_dataset(tmp_path, "kinect-txt", min_frames="20")  # parsed as the number 20
    with pytest.raises(DatasetError, match=r"format 'kinect-txt' has no option 'sessions'; valid options: layout, "
                                           r"name_pattern"):
        load_dataset(tmp_path, "kinect-txt", sessions="s1")
    with pytest.raises(DatasetError, match=r"option min_frames='ten' is not valid"):
        load_dataset(tmp_path, "kinect-txt", min_frames="ten")
    with pytest.raises(DatasetError, match="has no option 'layout'; valid options: min_frames, max_gap"):
        load_dataset(UCALGARY, layout="kinect_v2")


def test_npy_ias_biwi_and_casia_settings(tmp_path):
    ias = tmp_path / "IAS" / "4"
    write_npy_split(ias / "train_npy_data", "", "IAS", 4, random_windows(6, 4, 20, 0), np.arange(6))
    write_npy_split(ias / "test_npy_data" / "A", "t_", "IAS", 4, random_windows(3, 4, 20, 1), np.arange(3))
    write_npy_split(ias / "test_npy_data" / "B", "t_", "IAS", 4, random_windows(2, 4, 20, 2), np.arange(2))
    ds = load_dataset(ias, "npy")
    assert ds.layout == "kinect_v1"
    sets = {p.name: p for p in ds.probe_sets}
    assert set(sets) == {"IAS-A", "IAS-B"}
    assert sets["IAS-A"].probe == (6, 7, 8) and sets["IAS-A"].gallery == (9, 10)
    assert sets["IAS-B"].probe == (9, 10) and sets["IAS-B"].gallery == (6, 7, 8)

    casia = tmp_path / "CASIA_B_match" / "40"
    casia_train = random_windows(4, 40, 14, 0)
    write_npy_split(casia / "CASIA_B_train_npy_data", "", "CASIA_B", 40, casia_train, np.arange(4), "flat")
    for k, cond in enumerate(["nm", "cl"]):
        write_npy_split(casia / "CASIA_B_test_npy_data" / cond, "t_", "CASIA_B", 40, random_windows(3, 40, 14, k),
                        np.arange(3))
    ds = load_dataset(casia)
    assert ds.layout == "openpose14" and ds.sequences[0].joints.shape == (40, 14, 3)
    np.testing.assert_array_equal(ds.sequences[2].joints, casia_train[2])  # a flat array: V from the dataset
    sets = {p.name: p for p in ds.probe_sets}
    assert set(sets) == {"nm.nm", "cl.cl", "cl.nm"}
    assert sets["nm.nm"].same_set and sets["nm.nm"].probe == sets["nm.nm"].gallery
    # Test splits are read in name order: cl (4-6) then nm (7-9).
    assert not sets["cl.nm"].same_set and sets["cl.nm"].probe == (4, 5, 6) and sets["cl.nm"].gallery == (7, 8, 9)


def test_npy_bad_windows_and_files(tmp_path):
    root = tmp_path / "BIWI" / "6"
    train = random_windows(5, 6, 20, 0)
    train[1, 2, 3] = np.nan
    train[4, 0, 0] = 0.0
    write_npy_split(root / "train_npy_data", "", "BIWI", 6, train, np.arange(5))
    ds = load_dataset(root, "npy")
    assert len(ds.sequences) == 3 and ds.report.sequences_dropped == 2 and ds.report.frames_dropped == 12
    assert ds.probe_sets == []
    np.save(root / "train_npy_data" / "frame_id_BIWI_6.npy", np.arange(4))
    with pytest.raises(DatasetError, match="4 labels for 5 windows"):
        load_dataset(root, "npy")
    np.save(root / "train_npy_data" / "source_y_BIWI_6.npy", np.zeros((5, 6, 19)))
    with pytest.raises(DatasetError, match="x/y/z files differ"):
        load_dataset(root, "npy")
    for axis in "xyz":
        np.save(root / "train_npy_data" / f"source_{axis}_BIWI_6.npy", np.zeros((5, 6, 19)))
    with pytest.raises(DatasetError, match=r"shape \(5, 6, 19\); expected \(N, 6, V\)"):
        load_dataset(root, "npy")
    np.save(root / "train_npy_data" / "source_x_BIWI_6.npy", train[..., 0])
    (root / "train_npy_data" / "source_z_BIWI_6.npy").write_bytes(b"\x93NUMPY trunc")
    np.save(root / "train_npy_data" / "source_y_BIWI_6.npy", train[..., 1])
    with pytest.raises(DatasetError, match=r"source_z_BIWI_6\.npy"):
        load_dataset(root, "npy")
    with pytest.raises(DatasetError, match="no train_npy_data"):
        load_dataset(tmp_path, "npy")


def test_registry_lists_the_builtin_formats_first():
    # app/ may register more (recorded sessions) after these; detection tries the built-ins first.
    assert list(FORMATS)[:4] == ["synthetic", "ucalgary", "npy", "kinect-txt"]
