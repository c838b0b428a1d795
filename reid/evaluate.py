"""Retrieval metrics for skeleton re-ID: Rank-k / CMC, mAP and mINP, under a `clean` and a `legacy` protocol.

Pure functions on arrays (spec §3 "Evaluation protocol", §4.3, §4.4). Both protocols share one core that
ranks the gallery for a block of probes at a time, so memory stays bounded on large test sets:

- `clean`: the whole probe and gallery sets. When the probe set *is* the gallery set, each probe's own
  entry is removed from its ranking by index (not by "distance 0", which would also drop true duplicates).
  Given each sample's session (camera) id, gallery entries of the probe's identity *and* session are removed
  from its ranking too (torchreid's same-camera rule): a window of the probe's own recording is not a re-ID.
  Probes with no true match in the gallery cannot be scored; they are left out of every metric and counted.
  mAP is the usual mean of precision at each true match; mINP follows Ye et al. (AGW, TPAMI 2021).
- `legacy`: what the official Hi-MPC code computes, to compare with the published tables. Probe and
  gallery are cut to a multiple of 256 in stored order (§4.3); Rank-k divides by every probe, including
  probes that have no match; mAP is `sklearn.metrics.average_precision_score` per probe over the whole
  gallery (computed vectorised, with sklearn's tie handling; the tests check it against sklearn). With
  probe == gallery (CASIA-B nm.nm etc.) Rank-k skips the first retrieved item and the mAP loop skips
  probe 0 but keeps the self-match in every list (§4.4): that inflated mAP is reproduced on purpose. mINP is not in the official code; under `legacy` it is computed on the same ranked lists as
  Rank-k, for probes that have a match in them.

Ties: the gallery is ranked by (distance, gallery index) with a stable sort, so equal distances resolve to
the earlier gallery entry in both protocols. The official code's sort is not stable, so on exact ties its
Rank-k may differ; its sklearn mAP treats ties as one threshold, which `legacy` keeps.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Iterator, Literal

import numpy as np

from core.errors import SkelwatchError

logger = logging.getLogger(__name__)

Protocol = Literal["clean", "legacy"]
PROTOCOLS: tuple[str, ...] = ("clean", "legacy")
LEGACY_BATCH = 256  # the official batch size; its loaders drop the last partial batch (spec §4.3)
_CHUNK_ELEMENTS = 1 << 21  # probe rows per block = this // gallery size: about 100 MB of work arrays


class EvaluationError(SkelwatchError):
    """Probe or gallery arrays cannot be evaluated as asked (shapes, values, protocol)."""


@dataclass(frozen=True)
class Metrics:
    """Retrieval scores of one probe set against one gallery, all rates in percent.

    `cmc[k-1]` is the Rank-k rate. `n_probe` and `n_gallery` count the entries evaluated (after the legacy
    cut); `n_probe_valid` counts the probes that were scored (those with a true match in their list).
    """

    rank1: float
    rank5: float
    rank10: float
    mAP: float
    mINP: float
    n_probe: int
    n_gallery: int
    cmc: list[float]
    n_probe_valid: int
    protocol: str

    def rank(self, k: int) -> float:
        """Rank-k rate in percent, for 1 <= k <= len(cmc)."""
        if not 1 <= k <= len(self.cmc):
            raise EvaluationError(f"rank k={k} is outside the computed CMC (1..{len(self.cmc)}); "
                                  f"evaluate again with max_rank >= {k}")
        return self.cmc[k - 1]

    def to_dict(self) -> dict[str, float | int | list[float]]:
        """The stored/printed form: rank1, rank5, rank10, mAP, mINP, n_probe, n_gallery, cmc."""
        return {"rank1": self.rank1, "rank5": self.rank5, "rank10": self.rank10, "mAP": self.mAP,
                "mINP": self.mINP, "n_probe": self.n_probe, "n_gallery": self.n_gallery, "cmc": list(self.cmc)}


def distance_matrix(probe: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """Euclidean distances between every probe and every gallery feature.

    Uses |p|^2 + |g|^2 - 2 p.g in float64 (one BLAS product instead of a (P, G, D) difference array).

    Args:
        probe: (P, D) features.
        gallery: (G, D) features.
    Returns:
        (P, G) float64 distances, in feature units.
    """
    p = np.asarray(probe, dtype=np.float64)  # (P, D)
    g = np.asarray(gallery, dtype=np.float64)  # (G, D)
    sq = (p * p).sum(1)[:, None] + (g * g).sum(1)[None, :] - 2.0 * (p @ g.T)  # (P, G)
    return np.sqrt(np.maximum(sq, 0.0))


def _check_set(feats: np.ndarray, ids: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(feats)
    i = np.asarray(ids)
    if f.ndim != 2 or f.shape[0] == 0 or f.shape[1] == 0:
        raise EvaluationError(f"{name} features: expected a non-empty (N, D) array, got shape {f.shape}")
    if i.shape != (f.shape[0],):
        raise EvaluationError(f"{name} ids: expected shape ({f.shape[0]},) to match the {name} features, "
                              f"got {i.shape}")
    if not np.issubdtype(f.dtype, np.number) or not np.isfinite(f).all():
        raise EvaluationError(f"{name} features hold NaN/inf or non-numbers; drop those samples or fix the "
                              "encoder input before evaluating")
    return f, i


def _check_same_set(probe: np.ndarray, probe_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray) -> None:
    if probe.shape != gallery.shape or not np.array_equal(probe, gallery) or not np.array_equal(probe_ids,
                                                                                                gallery_ids):
        raise EvaluationError("same_set=True needs the probe set to be the gallery set (same features and ids "
                              f"in the same order); got probe {probe.shape} and gallery {gallery.shape} that "
                              "differ. Pass same_set=False for distinct sets")


def _legacy_cut(feats: np.ndarray, ids: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    keep = len(ids) // LEGACY_BATCH * LEGACY_BATCH
    if keep == 0:
        raise EvaluationError(f"the legacy protocol needs >= {LEGACY_BATCH} {name} samples (it keeps only whole "
                              f"batches of {LEGACY_BATCH}, spec §4.3), got {len(ids)}; use protocol='clean'")
    if keep < len(ids):
        logger.info("legacy protocol: %s cut from %d to %d samples", name, len(ids), keep)
    return feats[:keep], ids[:keep]


def _ranked_blocks(probe: np.ndarray, probe_ids: np.ndarray, gallery: np.ndarray, gallery_ids: np.ndarray,
                   drop_self: bool, cams: tuple[np.ndarray, np.ndarray] | None = None
                   ) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
    """The shared core: yield (probe rows, distances in rank order (c, L), true matches in rank order (c, L)).

    With `drop_self`, probe i's own gallery entry i is removed from its ranked list (L = G - 1). With `cams`
    (probe and gallery session ids), entries of the probe's identity and session rank last and never count as
    matches, which scores them exactly as if they were removed (every metric stops at the last true match).
    """
    n_gal = len(gallery_ids)
    rows = max(1, _CHUNK_ELEMENTS // n_gal)
    for start in range(0, len(probe_ids), rows):
        block = slice(start, min(start + rows, len(probe_ids)))
        dist = distance_matrix(probe[block], gallery)  # (c, G)
        same = gallery_ids[None, :] == probe_ids[block, None]  # (c, G)
        if cams is not None:
            excluded = same & (cams[1][None, :] == cams[0][block, None])  # (c, G) same identity and session
            dist[excluded] = np.inf
            same &= ~excluded
        if drop_self:
            local = np.arange(block.stop - block.start)
            dist[local, local + start] = np.inf  # sorts last (features are finite), then cut off
            same[local, local + start] = False
        order = np.argsort(dist, axis=1, kind="stable")  # (c, G)
        if drop_self:
            order = order[:, :-1]
        yield block, np.take_along_axis(dist, order, axis=1), np.take_along_axis(same, order, axis=1)


def _rank_stats(matches: np.ndarray, sorted_dist: np.ndarray | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per probe: number of true matches, 0-based rank of the first one, AP and INP (0 where none).

    AP is the mean over true matches of the precision at their rank. Given `sorted_dist`, entries at equal
    distance form one threshold and each true match takes the precision at the end of its group, which is
    exactly `sklearn.metrics.average_precision_score(same_id, -distance)` (the legacy mAP), vectorised: one
    sklearn call per probe costs ~2 ms, too slow for an evaluation every epoch.

    Args:
        matches: (c, L) bool, true matches in rank order.
        sorted_dist: (c, L) distances in the same order, or None to rank ties by gallery index.
    """
    n_pos = matches.sum(1)  # (c,)
    length = matches.shape[1]
    if length == 0:  # a one-sample set evaluated against itself: nothing left to rank
        zeros = np.zeros(len(matches))
        return n_pos, n_pos, zeros, zeros
    first = matches.argmax(1)  # (c,)
    last = length - 1 - matches[:, ::-1].argmax(1)  # (c,)
    hits = matches.cumsum(1, dtype=np.int64)  # (c, L)
    precision = hits / np.arange(1, length + 1)  # (c, L)
    if sorted_dist is not None:
        position = np.broadcast_to(np.arange(length), matches.shape)
        group_end = np.ones(matches.shape, dtype=bool)  # (c, L)
        group_end[:, :-1] = sorted_dist[:, 1:] != sorted_dist[:, :-1]
        end_of = np.minimum.accumulate(np.where(group_end, position, length)[:, ::-1], axis=1)[:, ::-1]
        precision = np.take_along_axis(precision, end_of, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = np.where(n_pos > 0, (precision * matches).sum(1) / n_pos, 0.0)
        inp = np.where(n_pos > 0, n_pos / (last + 1), 0.0)
    return n_pos, first, ap, inp


def _cmc(first_ranks: np.ndarray, denominator: int, max_rank: int) -> list[float]:
    """Percent of `denominator` probes whose first true match is within rank k, k = 1..max_rank."""
    counts = np.bincount(np.minimum(first_ranks, max_rank), minlength=max_rank + 1)[:max_rank]
    return (100.0 * np.cumsum(counts) / denominator).tolist()


def evaluate(probe_feats: np.ndarray, probe_ids: np.ndarray, gallery_feats: np.ndarray, gallery_ids: np.ndarray,
             *, protocol: Protocol = "clean", same_set: bool = False, max_rank: int = 20,
             probe_cams: np.ndarray | None = None, gallery_cams: np.ndarray | None = None) -> Metrics:
    """Score nearest-neighbour retrieval of probes in a gallery by Euclidean distance.

    Args:
        probe_feats: (P, D) features, e.g. MSMR embeddings or a baseline's features.
        probe_ids: (P,) identity labels (ints or strings).
        gallery_feats: (G, D) features.
        gallery_ids: (G,) identity labels.
        protocol: "clean" or "legacy" (see the module docstring).
        same_set: the probe set is the gallery set (CASIA-B single condition, or a session against itself).
        max_rank: length of the CMC curve; at least 10. Ranks past the list length count as reached.
        probe_cams, gallery_cams: (P,) and (G,) session (camera) ids; under `clean`, a probe's gallery entries
            of the same identity and session are left out of its ranking (torchreid's convention). `legacy`
            ignores them: the official code counts every gallery entry.
    Returns:
        Metrics, rates in percent.
    Raises:
        EvaluationError: bad shapes or values, unknown protocol, too few samples for legacy, same_set with
            differing sets, or no probe with a true match.
    """
    if protocol not in PROTOCOLS:
        raise EvaluationError(f"unknown evaluation protocol {protocol!r}; valid: {', '.join(PROTOCOLS)}")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 10:
        raise EvaluationError(f"max_rank must be an integer >= 10 (Rank-10 is reported), got {max_rank!r}")
    probe, p_ids = _check_set(probe_feats, probe_ids, "probe")
    gallery, g_ids = _check_set(gallery_feats, gallery_ids, "gallery")
    if probe.shape[1] != gallery.shape[1]:
        raise EvaluationError(f"probe features have {probe.shape[1]} dimensions but gallery features have "
                              f"{gallery.shape[1]}; both must come from the same encoder")
    if same_set:
        _check_same_set(probe, p_ids, gallery, g_ids)
    cams = None
    if probe_cams is not None or gallery_cams is not None:
        cams = (np.asarray(probe_cams), np.asarray(gallery_cams))
        if cams[0].shape != p_ids.shape or cams[1].shape != g_ids.shape:
            raise EvaluationError(f"session ids: expected shapes {p_ids.shape} and {g_ids.shape} (one per probe and "
                                  f"gallery sample), got {cams[0].shape} and {cams[1].shape}")
    if protocol == "legacy":
        probe, p_ids = _legacy_cut(probe, p_ids, "probe")
        gallery, g_ids = _legacy_cut(gallery, g_ids, "gallery")
        return _evaluate_legacy(probe, p_ids, gallery, g_ids, same_set, max_rank)
    return _evaluate_clean(probe, p_ids, gallery, g_ids, same_set, max_rank, cams)


def _evaluate_clean(probe: np.ndarray, p_ids: np.ndarray, gallery: np.ndarray, g_ids: np.ndarray, same_set: bool,
                    max_rank: int, cams: tuple[np.ndarray, np.ndarray] | None = None) -> Metrics:
    firsts, aps, inps = [], [], []
    for _, _, matches in _ranked_blocks(probe, p_ids, gallery, g_ids, drop_self=same_set, cams=cams):
        n_pos, first, ap, inp = _rank_stats(matches)
        valid = n_pos > 0
        firsts.append(first[valid])
        aps.append(ap[valid])
        inps.append(inp[valid])
    first_all = np.concatenate(firsts)
    n_valid = len(first_all)
    if n_valid == 0:
        raise EvaluationError(f"none of the {len(p_ids)} probes has a true match in the gallery "
                              f"({len(g_ids)} entries); check that probe and gallery share identities")
    if n_valid < len(p_ids):
        logger.warning("clean protocol: %d of %d probes have no true match in the gallery and are not scored",
                       len(p_ids) - n_valid, len(p_ids))
    cmc = _cmc(first_all, n_valid, max_rank)
    return Metrics(rank1=cmc[0], rank5=cmc[4], rank10=cmc[9], mAP=100.0 * float(np.concatenate(aps).mean()),
                   mINP=100.0 * float(np.concatenate(inps).mean()), n_probe=len(p_ids), n_gallery=len(g_ids),
                   cmc=cmc, n_probe_valid=n_valid, protocol="clean")


def _evaluate_legacy(probe: np.ndarray, p_ids: np.ndarray, gallery: np.ndarray, g_ids: np.ndarray, same_set: bool,
                     max_rank: int) -> Metrics:
    firsts, inps, aps = [], [], []
    for block, dist, matches in _ranked_blocks(probe, p_ids, gallery, g_ids, drop_self=False):
        # mAP over the whole gallery, self-match included, as sklearn scores it.
        n_pos, _, ap, _ = _rank_stats(matches, sorted_dist=dist)
        scored = n_pos > 0
        if same_set and block.start == 0:
            scored[0] = False  # the official mAP loop is range(1, m) for probe == gallery (spec §4.4)
        aps.append(ap[scored])
        if same_set:
            matches = matches[:, 1:]  # the official Rank-k reads dist_sort[i, 1:k+1]
        n_pos, first, _, inp = _rank_stats(matches)
        # A probe with no match in its list never reaches any rank but still counts in the denominator.
        firsts.append(np.where(n_pos > 0, first, max_rank))
        inps.append(inp[n_pos > 0])
    ap_all = np.concatenate(aps)
    if len(ap_all) == 0:
        raise EvaluationError(f"none of the {len(p_ids)} probes kept by the legacy cut has a true match in the "
                              f"{len(g_ids)} gallery entries kept; the cut drops the last identities (§4.3)")
    cmc = _cmc(np.concatenate(firsts), len(p_ids), max_rank)
    inp_all = np.concatenate(inps)
    return Metrics(rank1=cmc[0], rank5=cmc[4], rank10=cmc[9], mAP=100.0 * float(ap_all.mean()),
                   mINP=100.0 * float(inp_all.mean()) if len(inp_all) else 0.0, n_probe=len(p_ids),
                   n_gallery=len(g_ids), cmc=cmc, n_probe_valid=len(ap_all), protocol="legacy")


def format_table(results: dict[str, Metrics]) -> str:
    """A plain-text table, one row per probe set (or baseline), rates in percent with one decimal."""
    header = ("set", "protocol", "Rank-1", "Rank-5", "Rank-10", "mAP", "mINP", "probes", "scored", "gallery")
    rows = [header] + [
        (name, m.protocol, f"{m.rank1:.1f}", f"{m.rank5:.1f}", f"{m.rank10:.1f}", f"{m.mAP:.1f}", f"{m.mINP:.1f}",
         str(m.n_probe), str(m.n_probe_valid), str(m.n_gallery))
        for name, m in results.items()]
    widths = [max(len(row[c]) for row in rows) for c in range(len(header))]
    lines = ["  ".join(cell.ljust(w) if c < 2 else cell.rjust(w) for c, (cell, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
