"""reid.evaluate: the fast path against plain-loop references, hand-worked numbers, protocol behaviours."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from core.errors import SkelwatchError
from reid.evaluate import EvaluationError, Metrics, distance_matrix, evaluate, format_table


def _ranked(probe: np.ndarray, gallery: np.ndarray, i: int) -> list[tuple[float, int]]:
    """(distance, gallery index) pairs sorted the documented way: by distance, ties by index."""
    return sorted((math.sqrt(sum((float(a) - float(b)) ** 2 for a, b in zip(probe[i], g))), j)
                  for j, g in enumerate(gallery))


def _reference_clean(probe, pids, gallery, gids, same_set, max_rank):
    firsts, aps, inps = [], [], []
    for i in range(len(probe)):
        order = [j for _, j in _ranked(probe, gallery, i) if not (same_set and j == i)]
        hits = [gids[j] == pids[i] for j in order]
        if not any(hits):
            continue
        positions = [r + 1 for r, h in enumerate(hits) if h]  # 1-based ranks of the true matches
        firsts.append(positions[0])
        aps.append(sum((n + 1) / r for n, r in enumerate(positions)) / len(positions))
        inps.append(len(positions) / positions[-1])
    cmc = [100.0 * sum(f <= k for f in firsts) / len(firsts) for k in range(1, max_rank + 1)]
    return cmc, 100.0 * sum(aps) / len(aps), 100.0 * sum(inps) / len(inps), len(firsts)


def _reference_legacy(probe, pids, gallery, gids, same_set, max_rank):
    """A loop transcription of the official code (spec §3, §4.3-4.4), with sklearn for AP."""
    probe, pids = probe[: len(probe) // 256 * 256], pids[: len(pids) // 256 * 256]
    gallery, gids = gallery[: len(gallery) // 256 * 256], gids[: len(gids) // 256 * 256]
    skip = 1 if same_set else 0
    cmc = [0.0] * max_rank
    aps, inps = [], []
    for i in range(len(probe)):
        ranked = _ranked(probe, gallery, i)
        hits = [gids[j] == pids[i] for _, j in ranked][skip:]
        for k in range(1, max_rank + 1):
            cmc[k - 1] += 100.0 * any(hits[:k]) / len(probe)
        if any(hits):
            inps.append(len([h for h in hits if h]) / (max(r for r, h in enumerate(hits) if h) + 1))
        if i >= skip:
            same = np.array([g == pids[i] for g in gids])
            if same.any():
                aps.append(average_precision_score(same, -np.array([d for d, _ in sorted(ranked, key=lambda x: x[1])])))
    return cmc, 100.0 * float(np.mean(aps)), 100.0 * float(np.mean(inps)), len(aps), len(probe), len(gallery)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("same_set", [False, True])
def test_clean_matches_loop_reference(seed, same_set):
    rng = np.random.default_rng(seed)
    # Small integer features make many exact ties, which both sides must order by gallery index.
    gallery = rng.integers(0, 3, size=(40, 2)).astype(np.float32)
    gids = rng.integers(0, 6, size=40)
    if same_set:
        probe, pids = gallery, gids
    else:
        probe = rng.integers(0, 3, size=(25, 2)).astype(np.float32)
        pids = rng.integers(0, 8, size=25)  # ids 6 and 7 have no true match in the gallery
    got = evaluate(probe, pids, gallery, gids, same_set=same_set, max_rank=20)
    cmc, m_ap, m_inp, n_valid = _reference_clean(probe, pids, gallery, gids, same_set, 20)
    assert got.cmc == pytest.approx(cmc, abs=1e-9)
    assert (got.rank1, got.rank5, got.rank10) == pytest.approx((cmc[0], cmc[4], cmc[9]), abs=1e-9)
    assert got.mAP == pytest.approx(m_ap, abs=1e-9)
    assert got.mINP == pytest.approx(m_inp, abs=1e-9)
    assert got.n_probe_valid == n_valid
    assert (got.n_probe, got.n_gallery) == (len(pids), len(gids))


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("same_set", [False, True])
def test_legacy_matches_official_loop_reference(seed, same_set):
    rng = np.random.default_rng(seed)
    gallery = rng.integers(0, 4, size=(300, 3)).astype(np.float64)  # cut to 256; exact ties
    gids = np.sort(rng.integers(0, 12, size=300))  # stored grouped by identity, as the benchmarks are
    if same_set:
        probe, pids = gallery, gids
    else:
        probe = rng.integers(0, 4, size=(270, 3)).astype(np.float64)
        pids = rng.integers(0, 14, size=270)
    got = evaluate(probe, pids, gallery, gids, protocol="legacy", same_set=same_set, max_rank=12)
    cmc, m_ap, m_inp, n_scored, n_probe, n_gallery = _reference_legacy(probe, pids, gallery, gids, same_set, 12)
    assert got.cmc == pytest.approx(cmc, abs=1e-9)
    assert got.mAP == pytest.approx(m_ap, abs=1e-9)  # vectorised AP equals sklearn's, ties included
    assert got.mINP == pytest.approx(m_inp, abs=1e-9)
    assert (got.n_probe_valid, got.n_probe, got.n_gallery) == (n_scored, n_probe, n_gallery)


def test_hand_worked_example():
    # 1-D features. Gallery: g0=1 (B), g1=2 (A), g2=3 (B), g3=4 (A), g4=5 (C).
    gallery = np.array([[1.0], [2.0], [3.0], [4.0], [5.0]])
    gids = np.array(["B", "A", "B", "A", "C"])
    # Probe A at 0: ranking g0 g1 g2 g3 g4 -> hits 0 1 0 1 0. First hit at rank 2.
    #   AP = (1/2 + 2/4) / 2 = 0.5; INP = 2 positives / rank 4 of the hardest = 0.5.
    # Probe B at 0.9: distances 0.1 1.1 2.1 3.1 4.1 -> hits 1 0 1 0 0. First hit at rank 1.
    #   AP = (1/1 + 2/3) / 2 = 5/6; INP = 2 / 3.
    # Probe D at 2.5: no D in the gallery -> not scored under clean.
    probe = np.array([[0.0], [0.9], [2.5]])
    pids = np.array(["A", "B", "D"])
    m = evaluate(probe, pids, gallery, gids, max_rank=10)
    # CMC over the 2 scored probes: rank 1 -> 1/2; rank >= 2 -> 2/2.
    assert m.cmc == pytest.approx([50.0] + [100.0] * 9)
    assert (m.rank1, m.rank5, m.rank10) == pytest.approx((50.0, 100.0, 100.0))
    assert m.mAP == pytest.approx(100 * (0.5 + 5 / 6) / 2)  # 66.67
    assert m.mINP == pytest.approx(100 * (0.5 + 2 / 3) / 2)  # 58.33
    assert (m.n_probe, m.n_probe_valid, m.n_gallery) == (3, 2, 5)


def test_ties_rank_by_gallery_index_but_legacy_map_groups_them():
    # Gallery: g0 at +1 (A), g1 at -1 (B), then 254 far entries of C. Every probe (A, at 0) sees g0 and g1 at
    # the same distance 1. Clean ranks g0 first: hit at rank 1, AP = 1. sklearn (legacy) scores the tie as one
    # threshold holding 1 hit in 2: precision 1/2 at recall 1, so AP = 0.5.
    gallery = np.concatenate([[[1.0], [-1.0]], 10.0 + np.arange(254.0)[:, None]])
    gids = np.array(["A", "B"] + ["C"] * 254)
    probe = np.zeros((256, 1))
    pids = np.array(["A"] * 256)
    clean = evaluate(probe, pids, gallery, gids)
    legacy = evaluate(probe, pids, gallery, gids, protocol="legacy")
    assert (clean.rank1, clean.mAP, clean.mINP) == pytest.approx((100.0, 100.0, 100.0))
    assert (legacy.rank1, legacy.mAP) == pytest.approx((100.0, 50.0))


def test_legacy_truncates_in_stored_order():
    # 300 probes; the last 44 (id 99) have no match. Gallery 600 = 512 kept + 88 dropped entries.
    rng = np.random.default_rng(5)
    gids = np.repeat(np.arange(8), 64)  # 512 entries, 8 ids at x = 10 * id
    gallery = np.concatenate([10.0 * gids[:, None] + rng.normal(0, 0.1, (512, 1)), np.full((88, 1), 500.0)])
    gids = np.concatenate([gids, np.full(88, 7)])  # a far-away tail of id 7, dropped by the cut
    pids = np.concatenate([rng.integers(0, 8, 256), np.full(44, 99)])
    probe = 10.0 * pids[:, None] + rng.normal(0, 0.1, (300, 1))
    legacy = evaluate(probe, pids, gallery, gids, protocol="legacy")
    assert (legacy.n_probe, legacy.n_gallery) == (256, 512)
    assert legacy.rank1 == pytest.approx(100.0)  # the unmatched tail of probes was cut away
    clean = evaluate(probe, pids, gallery, gids)
    assert (clean.n_probe, clean.n_probe_valid, clean.n_gallery) == (300, 256, 600)


def test_legacy_counts_unmatched_probes_as_misses():
    gids = np.repeat(np.arange(4), 64)
    gallery = gids[:, None].astype(float)
    pids = np.concatenate([np.repeat(np.arange(4), 48), np.full(64, 9)])  # 64 of 256 probes have no match
    probe = pids[:, None].astype(float)
    legacy = evaluate(probe, pids, gallery, gids, protocol="legacy")
    clean = evaluate(probe, pids, gallery, gids)
    assert legacy.rank1 == pytest.approx(75.0) and legacy.cmc[-1] == pytest.approx(75.0)
    assert legacy.mAP == pytest.approx(100.0) and legacy.n_probe_valid == 192
    assert clean.rank1 == pytest.approx(100.0) and clean.n_probe_valid == 192


def test_legacy_needs_256_samples():
    feats = np.zeros((255, 4))
    ids = np.arange(255)
    with pytest.raises(EvaluationError, match="256"):
        evaluate(feats, ids, np.zeros((600, 4)), np.arange(600), protocol="legacy")
    with pytest.raises(EvaluationError, match="gallery"):
        evaluate(np.zeros((300, 4)), np.arange(300), feats, ids, protocol="legacy")


def test_legacy_same_set_reproduces_self_match_bug():
    # 256 samples with 256 distinct ids: nobody has a match except itself.
    feats = np.arange(256.0)[:, None]
    ids = np.arange(256)
    legacy = evaluate(feats, ids, feats, ids, protocol="legacy", same_set=True)
    assert legacy.mAP == pytest.approx(100.0)  # the self-match is the only positive, at distance 0
    assert legacy.n_probe_valid == 255  # the official loop starts at probe 1
    assert legacy.rank1 == pytest.approx(0.0)  # Rank-k skips the first item (the self-match)
    with pytest.raises(EvaluationError, match="no|none"):
        evaluate(feats, ids, feats, ids, same_set=True)  # clean drops the self-match: nothing to score


def test_clean_same_set_excludes_self_by_index_not_by_distance():
    # Samples 0 and 1 are identical (same person twice): the twin at distance 0 is a real match.
    feats = np.array([[0.0], [0.0], [5.0], [5.1]])
    ids = np.array([1, 1, 2, 2])
    m = evaluate(feats, ids, feats, ids, same_set=True)
    assert (m.rank1, m.mAP, m.mINP, m.n_probe_valid) == pytest.approx((100.0, 100.0, 100.0, 4))
    # Without same_set the self-match is a hit at rank 1 with distance 0 for every probe.
    other = np.array([[0.0], [9.0], [4.0], [9.5]])
    m2 = evaluate(feats, ids, other, np.array([1, 1, 2, 2]))
    assert m2.rank1 == pytest.approx(100.0)


def test_same_set_must_be_the_same_set():
    feats = np.zeros((4, 2))
    with pytest.raises(EvaluationError, match="same_set"):
        evaluate(feats, np.arange(4), feats + 1, np.arange(4), same_set=True)


def test_probe_with_no_match_is_excluded_and_counted():
    gallery = np.array([[0.0], [1.0]])
    m = evaluate(np.array([[0.0], [1.0], [0.5]]), np.array([0, 1, 7]), gallery, np.array([0, 1]))
    assert (m.rank1, m.n_probe, m.n_probe_valid) == pytest.approx((100.0, 3, 2))
    with pytest.raises(EvaluationError, match="share identities"):
        evaluate(np.array([[0.0]]), np.array([7]), gallery, np.array([0, 1]))


def test_distance_matrix_matches_loop():
    rng = np.random.default_rng(3)
    p, g = rng.normal(size=(7, 5)) * 30, rng.normal(size=(9, 5)) * 30
    expected = [[math.dist(a, b) for b in g] for a in p]
    assert distance_matrix(p, g) == pytest.approx(np.array(expected), rel=1e-9, abs=1e-9)
    assert distance_matrix(p, p).diagonal() == pytest.approx(np.zeros(7), abs=1e-5)


def test_large_input_runs_in_blocks_consistently(monkeypatch):
    rng = np.random.default_rng(4)
    g, gids = rng.normal(size=(300, 6)), rng.integers(0, 10, 300)
    p, pids = rng.normal(size=(200, 6)), rng.integers(0, 10, 200)
    whole = evaluate(p, pids, g, gids, same_set=False)
    monkeypatch.setattr("reid.evaluate._CHUNK_ELEMENTS", 300 * 7)  # 7 probe rows per block
    blocked = evaluate(p, pids, g, gids, same_set=False)
    assert blocked == whole


@pytest.mark.parametrize("bad, match", [
    (dict(probe_feats=np.array([[np.nan, 0.0]])), "NaN"),
    (dict(probe_ids=np.array([0, 1])), "probe ids"),
    (dict(gallery_feats=np.zeros((2, 3))), "dimensions"),
    (dict(protocol="fast"), "protocol"),
    (dict(max_rank=5), "max_rank"),
    (dict(probe_feats=np.zeros((0, 2)), probe_ids=np.zeros(0)), "non-empty"),
])
def test_bad_input_is_explained(bad, match):
    args = dict(probe_feats=np.zeros((1, 2)), probe_ids=np.array([0]), gallery_feats=np.zeros((2, 2)),
                gallery_ids=np.array([0, 1]))
    args.update(bad)
    with pytest.raises(SkelwatchError, match=match):
        evaluate(**args)


def test_metrics_dict_rank_and_table():
    m = evaluate(np.array([[0.0], [3.0]]), np.array([0, 1]), np.array([[1.0], [2.0]]), np.array([1, 0]))
    # Probe 0 at 0: g0 (1, wrong) then g1 (0, right): rank 2. Probe 1 at 3: g1 (wrong) then g0: rank 2.
    assert set(m.to_dict()) == {"rank1", "rank5", "rank10", "mAP", "mINP", "n_probe", "n_gallery", "cmc"}
    assert m.to_dict()["cmc"][:2] == pytest.approx([0.0, 100.0]) and len(m.cmc) == 20
    assert m.rank(2) == pytest.approx(100.0) and m.mAP == pytest.approx(50.0)
    with pytest.raises(EvaluationError, match="max_rank"):
        m.rank(21)
    table = format_table({"IAS-A": m, "baseline": Metrics(**{**m.__dict__, "rank1": 12.345})})
    lines = table.splitlines()
    assert len(lines) == 4 and lines[0].split()[:3] == ["set", "protocol", "Rank-1"]
    assert lines[2].split()[:4] == ["IAS-A", "clean", "0.0", "100.0"]
    assert lines[3].split()[2] == "12.3"


def test_same_identity_same_session_entries_are_not_matches_under_clean():
    """torchreid's same-camera rule: a gallery window of the probe's own identity and session (e.g. its own
    recording, when probe and gallery sessions overlap) is left out of its ranking; legacy keeps everything."""
    probe = np.array([[0.0], [10.0]])
    pids, pcams = np.array(["a", "b"]), np.array(["s2", "s2"])
    gallery = np.array([[0.1], [1.0], [10.1], [12.0], [11.0]])
    gids = np.array(["a", "b", "b", "a", "b"])
    gcams = np.array(["s2", "s1", "s2", "s1", "s1"])
    plain = evaluate(probe, pids, gallery, gids)
    assert plain.rank1 == 100.0  # each probe's nearest entry is a window of its own session
    m = evaluate(probe, pids, gallery, gids, probe_cams=pcams, gallery_cams=gcams)
    # a: without (a, s2) the ranking is b 1.0, b 10.1, b 11.0, a 12.0 -> first match at rank 4, AP 1/4.
    # b: without (b, s2) it is b 1.0, a 2.0, b 9.0, a 9.9 -> rank 1, true matches at ranks 1 and 3, AP 5/6.
    assert m.rank1 == 50.0 and m.cmc[2] == 50.0 and m.cmc[3] == 100.0
    assert m.mAP == pytest.approx(100 * (1 / 4 + 5 / 6) / 2)
    # A probe whose identity the gallery holds only in the probe's own session cannot be scored.
    keep = [0, 1, 2]
    lonely = evaluate(probe, pids, gallery[keep], gids[keep], probe_cams=pcams, gallery_cams=gcams[keep])
    assert lonely.n_probe_valid == 1 and lonely.rank1 == 100.0  # only b is scored
    with pytest.raises(EvaluationError, match="session ids"):
        evaluate(probe, pids, gallery, gids, probe_cams=pcams[:1], gallery_cams=gcams)
