"""The train and evaluate commands end to end on a small synthetic set, and their bad-input messages."""
import json
from pathlib import Path

import pytest

from app.cli import main
from app.config import load_config
from app.compose import encoder_meta, match_thresholds
from reid.baseline import SHAPE_BONES
from reid.checkpoint import load_model, read_meta
from storage.matching import Thresholds

SMALL = ["--set", "model.hidden=16", "--set", "model.heads=2", "--set", "train.batch_size=32"]
DATA = "synthetic:ids=5,seqs=4,frames=48,seed=2"


def test_train_then_evaluate_writes_run_folder_and_json(tmp_path, capsys, caplog):
    code = main([*SMALL, "--set", "train.epochs=2", "train", "--data", DATA, "--run", "tiny",
                 "--runs-dir", str(tmp_path), "--progress-json"])
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["epoch"] for line in lines] == [1, 2]
    run = tmp_path / "tiny"
    assert "hidden: 16" in (run / "config.yaml").read_text()  # the effective config is kept with the run
    out = tmp_path / "metrics.json"
    assert main([*SMALL, "evaluate", "--checkpoint", str(run), "--data", DATA, "--out", str(out)]) == 0
    table = capsys.readouterr().out
    assert "bone_length" in table and "random-init encoder" in table
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"normal"}
    assert set(metrics["normal"]) == {"rank1", "rank5", "rank10", "mAP", "mINP", "n_probe", "n_gallery", "cmc"}
    assert 0.0 <= metrics["normal"]["rank1"] <= metrics["normal"]["rank5"] <= 100.0
    baselines = json.loads(out.with_suffix(".baselines.json").read_text())
    assert set(baselines) == {"random-init encoder", "bone_length", "centred_pose"}

    # --calibrate stores the model's match distance, which the app then uses unless the config sets one.
    before = read_meta(run)
    assert before.accept_distance is None
    thresholds = lambda config: match_thresholds(config, encoder_meta(config, run / "best"))  # noqa: E731
    assert thresholds(load_config(None)).accept_distance == Thresholds().accept_distance
    assert "gallery calibrate" in caplog.text  # the uncalibrated fallback is announced, with the fix
    assert main([*SMALL, "evaluate", "--checkpoint", str(run), "--data", DATA, "--no-baselines",
                 "--calibrate", "0.05"]) == 0
    assert "match distance" in capsys.readouterr().out
    after = read_meta(run)
    assert after.accept_distance > 0 and after.model_version == before.model_version
    assert thresholds(load_config(None)).accept_distance == after.accept_distance
    assert thresholds(load_config(None, ["gallery.accept_distance=2.5"])).accept_distance == 2.5

    # --calibrate-handoff stores the distance per pair of tracks beside it, leaving the match distance as it was
    assert main([*SMALL, "evaluate", "--checkpoint", str(run), "--data", DATA, "--no-baselines",
                 "--calibrate-handoff"]) == 0
    assert "hand-off distance" in capsys.readouterr().out
    handoff = read_meta(run)
    assert handoff.handoff_distance > 0 and handoff.accept_distance == after.accept_distance
    assert handoff.model_version == before.model_version

    # --fit-shape-weight picks the body-shape weight on labelled data and stores it: another model version, whose
    # match distance must be calibrated again; evaluate, the random-init row and the app then use the term.
    assert main([*SMALL, "evaluate", "--checkpoint", str(run), "--data", DATA, "--fit-shape-weight"]) == 0
    assert "shape weight" in capsys.readouterr().out
    fitted = read_meta(run)
    assert fitted.shape_weight > 0 and fitted.model_version != after.model_version
    assert fitted.accept_distance is None and fitted.handoff_distance is None
    model, _ = load_model(run)
    assert model.shape_weight == fitted.shape_weight and model.msmr_dim == 3 * 16 + len(SHAPE_BONES)


@pytest.mark.parametrize("kind, message", [
    ("missing", "does not exist"),
    ("empty", "is empty"),
    ("unknown", "cannot tell the format"),
])
def test_bad_dataset_path_is_one_clear_error(tmp_path, capsys, kind, message):
    data = tmp_path / "data"
    if kind != "missing":
        data.mkdir()
    if kind == "unknown":
        (data / "photo.jpg").write_bytes(b"\xff\xd8 not a dataset")
    code = main(["train", "--data", str(data), "--run", "x", "--runs-dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert "format=" not in err  # options are named as they are typed: --format


def test_sequences_shorter_than_a_window_are_refused(tmp_path, capsys):
    code = main(["--set", "model.frames=60", "train", "--data", "synthetic:ids=3,seqs=2,frames=40",
                 "--run", "x", "--runs-dir", str(tmp_path)])
    assert code == 2
    assert "shorter than model.frames" in capsys.readouterr().err


def test_unknown_config_key_names_its_path(capsys):
    assert main(["--set", "train.epoch=3", "config", "check"]) == 2
    assert "unknown key 'train.epoch'" in capsys.readouterr().err


SHIPPED = str(Path(__file__).resolve().parents[2] / "models" / "default")


def _own_text_files(folder):
    """Four people, two sessions each, in a naming scheme of the user's own: 'id-P.ses-S.txt'."""
    from reid.synthetic import make_dataset

    walkers = make_dataset(4, 2, frames=36, seed=5)
    for seq in walkers.sequences:
        session = "A" if seq.name.endswith("seq0") else "B"
        rows = seq.joints.reshape(len(seq.joints), -1)
        (folder / f"id-{seq.identity}.ses-{session}.txt").write_text(
            "\n".join(" ".join(f"{v:.5f}" for v in row) for row in rows) + "\n")
    return ["--option", r"name_pattern=id-(?P<identity>\w+)\.ses-(?P<session>\w+)"]


def test_evaluate_own_text_files_chosen_sessions(tmp_path, capsys):
    pattern = _own_text_files(tmp_path)
    out = tmp_path / "out" / "F.json"
    assert main(["evaluate", "--checkpoint", SHIPPED, "--data", str(tmp_path), "--format", "kinect-txt", *pattern,
                 "--option", "gallery_sessions=A", "--option", "probe_sessions=B", "--out", str(out)]) == 0
    metrics = json.loads(out.read_text())
    assert set(metrics) == {"default"} and metrics["default"]["n_gallery"] == metrics["default"]["n_probe"] == 24
    assert "bone_length" in json.loads(out.with_suffix(".baselines.json").read_text())
    # Overlapping sessions: probe B against gallery A+B. The windows of a probe's own session (its own walk)
    # are left out of its ranking, so only the A walks count as matches and B's other people as impostors.
    both = tmp_path / "both.json"
    assert main(["evaluate", "--checkpoint", SHIPPED, "--data", str(tmp_path), *pattern, "--no-baselines",
                 "--option", "gallery_sessions=A,B", "--option", "probe_sessions=B", "--out", str(both)]) == 0
    overlap = json.loads(both.read_text())["default"]
    assert overlap["n_gallery"] == 48 and overlap["mAP"] <= metrics["default"]["mAP"]
    # B against B: every same-person window is of the probe's own session, so nothing can be scored.
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", SHIPPED, "--data", str(tmp_path), *pattern, "--no-baselines",
                 "--option", "gallery_sessions=B", "--option", "probe_sessions=B"]) == 2
    assert "none of the 24 probes has a true match" in capsys.readouterr().err


@pytest.mark.parametrize("options, message", [
    (["--option", "sessions=A"], "has no option 'sessions'; valid options: layout, name_pattern"),
    (["--option", "gallery_sessions=C", "--option", "probe_sessions=B"],
     "session(s) C not found; sessions present: A, B"),
    (["--option", "name_pattern=(?P<session>A)"], "needs a (?P<identity>...) group"),
    (["--option", "min_frames"], "is not KEY=VALUE"),
])
@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_bad_reader_option_is_one_line_and_writes_nothing(tmp_path, capsys, options, message, command):
    data = tmp_path / "data"
    data.mkdir()
    pattern = _own_text_files(data)
    if "name_pattern" in options[1]:
        pattern = []
    out = tmp_path / "F.json"
    args = (["train", "--run", "r", "--runs-dir", str(tmp_path / "runs")] if command == "train"
            else ["evaluate", "--checkpoint", SHIPPED, "--out", str(out)])
    code = main([*args, "--data", str(data), "--format", "kinect-txt", *pattern, *options])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not out.exists() and not (tmp_path / "runs").exists()


def test_train_over_an_existing_run_refuses_and_names_the_ways_on(tmp_path, capsys):
    args = [*SMALL, "--set", "train.epochs=1", "train", "--data", DATA, "--run", "tiny", "--runs-dir", str(tmp_path)]
    assert main(args) == 0
    err = capsys.readouterr().err
    # Not a terminal: one plain line per epoch with the total (a terminal gets a tqdm bar).
    assert "epoch 1/1: clusters J/C/L " in err and ", loss " in err
    first = (tmp_path / "tiny" / "metrics.json").read_text()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--resume" in err and "--overwrite" in err and "--run" in err
    assert (tmp_path / "tiny" / "metrics.json").read_text() == first  # nothing touched
    (tmp_path / "tiny" / "marker").write_text("old")
    assert main([*args, "--overwrite"]) == 0
    assert not (tmp_path / "tiny" / "marker").exists() and (tmp_path / "tiny" / "best").is_dir()
    assert main([*SMALL, "--set", "train.epochs=2", "train", "--data", DATA, "--run", "tiny", "--runs-dir",
                 str(tmp_path), "--resume"]) == 0
    err = capsys.readouterr().err
    assert "epoch 2/2" in err and "epoch 1/2" not in err
    assert main([*SMALL, "train", "--data", DATA, "--run", "new", "--runs-dir", str(tmp_path), "--resume"]) == 2
    assert "no run" in capsys.readouterr().err


def test_a_missing_config_file_is_an_error(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.yaml"), "config", "check"]) == 2
    err = capsys.readouterr().err
    assert "nope.yaml does not exist" in err and "config OK" not in err


@pytest.mark.parametrize("argv, suggestion", [
    (["replya"], "did you mean 'replay'?"),
    (["--log-level", "WARNING", "galery", "list"], "did you mean 'gallery'?"),
    (["gallery", "lst"], "did you mean 'list'?"),
    (["config", "shwo"], "did you mean 'show'?"),
])
@pytest.mark.parametrize("with_gui", [False, True])
def test_a_misspelled_command_names_the_closest(capsys, argv, suggestion, with_gui):
    # With the window's command (as main.py runs), a first word that is no command is not taken for the GUI's.
    with pytest.raises(SystemExit) as exit_:
        main(argv, extra_commands=("ui.command",) if with_gui else ())
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert suggestion in err
    if argv[-1] == "replya":
        listed = err.split("replya", 1)[1]
        assert all(name in listed for name in ("config", "train", "evaluate", "gallery", "record"))
