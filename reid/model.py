"""The Hi-MPC network (spec §1.3, §1.5, §1.8): per-level frame encoders, TAP, and M meta heads per level.

The network is deliberately small: three 2-layer MLPs applied to each frame, temporal average pooling, and per
level M square matrices that transform instances and prototypes alike. Clustering, prototypes and the loss live
elsewhere (reid/cluster.py, reid/loss.py), so this module is only the function from skeletons to features.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from reid.baseline import SHAPE_BONES
from reid.errors import SkeletonError
from reid.heading import align_heading
from reid.levels import LEVELS, build_levels, level_matrices
from reid.skeleton import NUM_CANONICAL


@dataclass(frozen=True)
class HiMPCOutput:
    """Features of a batch of windows, per level.

    Attributes:
        frame: level -> (B, f, H) per-frame ("skeleton") features s_t.
        seq: level -> (B, H) sequence-level instances s̄ (temporal average of `frame`).
    """

    frame: dict[str, Tensor]
    seq: dict[str, Tensor]


class LevelEncoder(nn.Module):
    """Linear(3V, H) -> ReLU -> Linear(H, H), applied to every frame; Glorot-uniform weights, zero biases."""

    def __init__(self, num_nodes: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(3 * num_nodes, hidden), nn.ReLU(), nn.Linear(hidden, hidden))
        for layer in (self.net[0], self.net[2]):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, nodes: Tensor) -> Tensor:
        # nodes (B, f, V_l, 3) -> (B, f, H)
        return self.net(nodes.flatten(-2))

    def pooled(self, nodes: Tensor) -> Tensor:
        """TAP of the frame features, (B, f, V_l, 3) -> (B, H), without materialising them.

        The second layer is linear, so the frame mean can be taken before it: mean_t(W2 h_t + b2) =
        W2 mean_t(h_t) + b2. Same value as `forward(nodes).mean(1)` at a sixth of the second layer's cost.
        """
        first, act, second = self.net
        return second(act(first(nodes.flatten(-2))).mean(dim=-2))


class HiMPC(nn.Module):
    """Hierarchical skeleton meta-prototype network.

    Args:
        num_joints: joints per frame of the input layout (20 canonical; 25 and 14 for the benchmark files).
        hidden: feature width H.
        heads: meta heads M per level.
        align_heading: turn every window to one facing direction before encoding (`reid.heading`); off is the
            official code's input.
        shape_weight: w > 0 appends w times the window's mean bone lengths (metres, `reid.baseline.SHAPE_BONES`)
            to the MSMR, so the Euclidean match distance is sqrt(d_MSMR² + w² d_bones²): body shape is the
            strongest single cue on real skeletons and survives a change of camera or gait, which the encoder
            trained on synthetic walkers alone does not. Canonical 20-joint layout only; 0 is plain MSMR.
    """

    def __init__(self, num_joints: int = 20, hidden: int = 256, heads: int = 8, align_heading: bool = False,
                 shape_weight: float = 0.0) -> None:
        super().__init__()
        if shape_weight < 0 or (shape_weight > 0 and num_joints != NUM_CANONICAL):
            raise SkeletonError(f"shape_weight={shape_weight}: needs a value >= 0, and the canonical "
                                f"{NUM_CANONICAL}-joint layout when > 0 (got {num_joints} joints)")
        self.num_joints, self.hidden, self.num_heads = num_joints, hidden, heads
        self.align_heading, self.shape_weight = align_heading, float(shape_weight)
        # (3V, 3·n_bones): flattened frame coordinates -> every bone's child-minus-parent vector, as one GEMM.
        bones = SHAPE_BONES if shape_weight > 0 else ()
        difference = torch.zeros(3 * num_joints, 3 * len(bones))
        for b, (parent, child) in enumerate(bones):
            for axis in range(3):
                difference[3 * child + axis, 3 * b + axis] = 1.0
                difference[3 * parent + axis, 3 * b + axis] = -1.0
        self.register_buffer("bone_difference", difference, persistent=False)
        matrices = level_matrices(num_joints)
        for level, m in matrices.items():
            # Derived from num_joints, so not part of the saved weights.
            self.register_buffer(f"pool_{level}", torch.from_numpy(m), persistent=False)
        self.encoders = nn.ModuleDict({lvl: LevelEncoder(matrices[lvl].shape[0], hidden) for lvl in LEVELS})
        # N(0, 1) heads as in the official code; the 1/sqrt(H) in the similarity keeps logits in range.
        self.heads = nn.ParameterDict({lvl: nn.Parameter(torch.randn(heads, hidden, hidden)) for lvl in LEVELS})
        self._mean_cache: dict[str, tuple[tuple, object]] | None = None

    def with_shape_weight(self, weight: float) -> HiMPC:
        """A new model with these weights and another body-shape weight (this one is left unchanged)."""
        other = HiMPC(self.num_joints, self.hidden, self.num_heads, self.align_heading, weight)
        other.load_state_dict(self.state_dict())
        return other.to(self.bone_difference.device).train(self.training)

    @property
    def num_bones(self) -> int:
        """Bones in the body-shape term (0 without one)."""
        return self.bone_difference.shape[1] // 3

    @property
    def msmr_dim(self) -> int:
        """Width of `encode`'s output: the MSMR (3H), plus the body-shape term when the model has one."""
        return len(LEVELS) * self.hidden + self.num_bones

    def _shape_term(self, windows: Tensor) -> Tensor:
        """w times the mean length of each shape bone over the window, (B, f, V, 3) -> (B, n_bones)."""
        vectors = (windows.reshape(-1, windows.shape[-2] * 3) @ self.bone_difference).view(
            windows.shape[0], windows.shape[1], self.num_bones, 3)  # (B, f, n, 3)
        return torch.linalg.vector_norm(vectors, dim=-1).mean(dim=1) * self.shape_weight

    def forward(self, windows: Tensor) -> HiMPCOutput:
        """Encode (B, f, V, 3) root-centred windows."""
        nodes = self._nodes(windows)
        frame = {lvl: self.encoders[lvl](nodes[lvl]) for lvl in LEVELS}  # (B, f, H)
        return HiMPCOutput(frame=frame, seq={lvl: f.mean(dim=1) for lvl, f in frame.items()})

    def meta(self, level: str, features: Tensor) -> Tensor:
        """Meta-transform (..., H) features with every head of `level`: -> (M, ..., H)."""
        return torch.einsum("...h,mhk->m...k", features, self.heads[level])

    def _cached(self, name: str, tensors: list[Tensor], make):
        """`make()` cached until one of `tensors` changes in place (an optimiser step, load_state_dict): every
        in-place update bumps a tensor's version counter, which is the cache key. Only used without gradients."""
        key = tuple((t._version, t.data_ptr()) for t in tensors)
        hit = self._mean_cache.get(name) if self._mean_cache else None
        if hit is None or hit[0] != key:
            self._mean_cache = {**(self._mean_cache or {}), name: (key, make())}
        return self._mean_cache[name][1]

    def mean_heads(self) -> dict[str, Tensor]:
        """W̄ per level, the head average used by MSMR (cached for inference, where few windows come at once)."""
        if torch.is_grad_enabled():
            return {lvl: self.heads[lvl].mean(dim=0) for lvl in LEVELS}
        return self._cached("mean", [self.heads[lvl] for lvl in LEVELS],
                            lambda: {lvl: self.heads[lvl].mean(dim=0) for lvl in LEVELS})

    def _fused(self) -> tuple[Tensor, Tensor, dict[str, tuple[Tensor, Tensor]]]:
        """The inference maps, folded:

        - the three first layers, each composed with its level's joint pooling, stacked into one (3H, 3V) map on
          the raw joints: W1_l (P_l ⊗ I_3);
        - per level, the second layer and W̄ as one map: s̄ W̄ = h̄ (W2ᵀ W̄) + b2 W̄.
        """
        params = [p for lvl in LEVELS for p in (self.heads[lvl], *self.encoders[lvl].parameters())]

        def make() -> tuple[Tensor, Tensor, dict[str, tuple[Tensor, Tensor]]]:
            eye = torch.eye(3, dtype=self.pool_joint.dtype, device=self.pool_joint.device)
            firsts, biases, out = [], [], {}
            for lvl, mean in self.mean_heads().items():
                first, _, second = self.encoders[lvl].net
                firsts.append(first.weight @ torch.kron(getattr(self, f"pool_{lvl}"), eye))  # (H, 3V)
                biases.append(first.bias)
                out[lvl] = (second.weight.T @ mean, second.bias @ mean)
            return torch.cat(firsts).T.contiguous(), torch.cat(biases), out
        return self._cached("fused", params, make)

    def _check_shape(self, windows: Tensor) -> None:
        if windows.ndim != 4 or windows.shape[-2:] != (self.num_joints, 3):
            raise SkeletonError(
                f"model input must be (batch, frames, {self.num_joints}, 3), got {tuple(windows.shape)}")

    def _prepare(self, windows: Tensor) -> Tensor:
        """Check the input shape and apply the view normalisation the model was built with."""
        self._check_shape(windows)
        return align_heading(windows) if self.align_heading else windows

    def _nodes(self, windows: Tensor) -> dict[str, Tensor]:
        return build_levels(self._prepare(windows), {lvl: getattr(self, f"pool_{lvl}") for lvl in LEVELS})

    def sequence_instances(self, windows: Tensor) -> dict[str, Tensor]:
        """s̄ per level, (B, H), by the pooled fast path (no per-frame features)."""
        nodes = self._nodes(windows)
        return {lvl: self.encoders[lvl].pooled(nodes[lvl]) for lvl in LEVELS}

    def msmr(self, windows: Tensor) -> Tensor:
        """The retrieval representation of (B, f, V, 3) windows: (B, 3H).

        Without gradients the second encoder layer and the head average are applied as one folded map to the
        temporally pooled hidden features: the same function at about a third of the multiply-adds.
        """
        if torch.is_grad_enabled():
            seq = self.sequence_instances(windows)
            means = self.mean_heads()
            parts = [seq[lvl] @ means[lvl] for lvl in LEVELS]
            return torch.cat(parts + [self._shape_term(windows)] if self.num_bones else parts, dim=-1)
        return self._folded_msmr(windows, windows.new_empty((windows.shape[0], self.msmr_dim)))

    def _folded_msmr(self, windows: Tensor, out: Tensor, scratch: Tensor | None = None) -> Tensor:
        """MSMR by the folded maps (no gradients), written into `out` (B, 3H).

        `scratch`, at least (B·f, 3H), takes the hidden activations. Reusing one buffer across batches matters:
        a fresh 10 MB tensor a batch cost more in page faults than the GEMM that fills it (measured: 60k -> 100k
        windows/s at batch 512), and the ReLU runs in place for the same reason.
        """
        if self.num_bones:  # lengths do not depend on the heading: measured on the windows as given
            out[:, len(LEVELS) * self.hidden:] = self._shape_term(windows)
        windows = self._prepare(windows)
        first_w, first_b, second = self._fused()
        rows = windows.shape[0] * windows.shape[1]
        hidden = torch.addmm(first_b, windows.reshape(rows, -1), first_w,
                             out=None if scratch is None else scratch[:rows])  # (B f, 3H)
        pooled = hidden.relu_().view(windows.shape[0], windows.shape[1], -1).mean(dim=1)  # (B, 3H) TAP
        for i, lvl in enumerate(LEVELS):
            level = slice(i * self.hidden, (i + 1) * self.hidden)
            torch.addmm(second[lvl][1], pooled[:, level], second[lvl][0], out=out[:, level])
        return out

    @torch.no_grad()
    def encode(self, windows: Tensor, batch_size: int = 512) -> Tensor:
        """MSMR of many windows in batches, without gradients: (N, f, V, 3) -> (N, 3H).

        512 windows a batch keeps the (B·f, 3H) hidden activations near the cache: measured faster than 4096.
        """
        self._check_shape(windows)
        out = windows.new_empty((windows.shape[0], self.msmr_dim))
        scratch = windows.new_empty((min(batch_size, windows.shape[0]) * windows.shape[1], len(LEVELS) * self.hidden))
        was_training = self.training
        self.eval()
        try:
            for i in range(0, len(windows), batch_size):
                self._folded_msmr(windows[i : i + batch_size], out[i : i + batch_size], scratch)
        finally:
            self.train(was_training)
        return out

    @torch.no_grad()
    def instances(self, windows: Tensor, batch_size: int = 4096) -> dict[str, Tensor]:
        """Sequence instances s̄ per level, (N, H) each: what clustering groups (spec §1.4 step 1)."""
        parts: dict[str, list[Tensor]] = {lvl: [] for lvl in LEVELS}
        for i in range(0, len(windows), batch_size):
            seq = self.sequence_instances(windows[i : i + batch_size])
            for lvl in LEVELS:
                parts[lvl].append(seq[lvl])
        return {lvl: torch.cat(p) if p else windows.new_zeros((0, self.hidden)) for lvl, p in parts.items()}


def similarity_scale(hidden: int) -> float:
    """The divisor of the head similarity, sqrt(H) (spec §1.5)."""
    return math.sqrt(hidden)
