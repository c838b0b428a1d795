"""The synthetic scene: walkers from `reid.synthetic.scene_tracks` rendered into color and depth frames.

A level pinhole camera `camera_height_m` above a floor looks at a back wall. Every body is a set of capsules
along its bones plus spheres for the head and hands, ray-cast per pixel and z-buffered, so depth is exact
(camera z, metres) and color is Lambert-shaded with a shirt colour per identity. Each frame carries the true
skeletons (with `truth_noise_m` of jitter, as a depth tracker would give) of the people whose hip centre is
in view: rendered bodies are not people to MediaPipe, so the synthetic scene hands its skeletons to the tracker.

Coordinates: `reid.synthetic` works in skeleton space (y UP, z forward; its x is documented as "camera's
right"); the capture camera frame is the RealSense one (x right, y DOWN, z forward). `to_camera_frame` is the
exact inverse of `capture.buffer.camera_to_model`, the half turn (x, y, z) -> (-x, -y, z), so a walker that
reaches the encoder through tracking and the window buffer has exactly the numbers `reid.synthetic` made (what
training and offline evaluation see). The price: the rendered image is the mirror image of reid.synthetic's
"x right" description (a walker at x > 0 there is drawn left of centre). Flipping y alone would keep the
picture but hand the encoder mirrored bodies. `truth` is in the camera frame like every skeleton from capture/.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from capture.buffer import camera_to_model
from capture.frames import FrameBundle, Intrinsics, TruthSkeleton
from capture.sources import GeneratedSource, SourceError
from reid.synthetic import DEFAULT_CAMERA_HEIGHT_M, SceneTrack, add_sensor_noise, make_identities, scene_tracks
from reid.skeleton import CANONICAL_JOINTS

logger = logging.getLogger(__name__)

_J = {name: i for i, name in enumerate(CANONICAL_JOINTS)}
# (joint a, joint b, radius m, part): capsules along the bones. Parts pick the colour.
_CAPSULES = (
    ("HipCenter", "ShoulderCenter", 0.13, "shirt"), ("HipLeft", "HipRight", 0.08, "trousers"),
    ("ShoulderLeft", "ShoulderRight", 0.06, "shirt"), ("ShoulderCenter", "Head", 0.05, "skin"),
    ("ShoulderLeft", "ElbowLeft", 0.045, "shirt"), ("ElbowLeft", "WristLeft", 0.038, "skin"),
    ("ShoulderRight", "ElbowRight", 0.045, "shirt"), ("ElbowRight", "WristRight", 0.038, "skin"),
    ("HipLeft", "KneeLeft", 0.07, "trousers"), ("KneeLeft", "AnkleLeft", 0.055, "trousers"),
    ("AnkleLeft", "FootLeft", 0.045, "shoes"), ("HipRight", "KneeRight", 0.07, "trousers"),
    ("KneeRight", "AnkleRight", 0.055, "trousers"), ("AnkleRight", "FootRight", 0.045, "shoes"),
)
_SPHERES = (("Head", 0.11, "skin"), ("HandLeft", 0.045, "skin"), ("HandRight", 0.045, "skin"))
# BGR. Shirts are far apart in hue so a person can tell the walkers apart in the demo.
SHIRT_COLORS_BGR = ((40, 40, 220), (220, 90, 30), (50, 180, 60), (0, 150, 250), (170, 50, 160), (40, 220, 230),
                    (200, 200, 40), (140, 140, 140))
_PART_BGR = {"trousers": (90, 60, 50), "skin": (140, 170, 220), "shoes": (30, 30, 30)}
_LIGHT = np.array([-0.3, -0.6, -0.75]) / np.linalg.norm([-0.3, -0.6, -0.75])  # towards the light: up, left, back
DEMO_PEOPLE, DEMO_SECONDS, DEMO_FPS, DEMO_SEED = 4, 20.0, 15.0, 7


def default_intrinsics(width: int = 640, height: int = 480, hfov_deg: float = 80.0) -> Intrinsics:
    """A distortion-free pinhole with square pixels (80 degrees across, near a RealSense D4xx depth camera)."""
    f = (width / 2.0) / np.tan(np.radians(hfov_deg) / 2.0)
    return Intrinsics(width, height, float(f), float(f), (width - 1) / 2.0, (height - 1) / 2.0)


def to_camera_frame(joints: np.ndarray) -> np.ndarray:
    """Skeleton space (y up) to the camera frame (y down): (..., 3) -> (..., 3) float32, a new array.

    The half turn about the optical axis is its own inverse, so this is `capture.buffer.camera_to_model`.
    """
    return camera_to_model(joints)


class SceneRenderer:
    """Ray-casts capsule bodies in front of a floor and a back wall; depth in metres along the camera z."""

    def __init__(self, intrinsics: Intrinsics, *, camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
                 back_wall_z_m: float = 7.5) -> None:
        self.intrinsics = intrinsics
        u, v = np.meshgrid(np.arange(intrinsics.width), np.arange(intrinsics.height))
        # (H, W, 3) ray directions with z = 1, so a hit at ray parameter s has camera depth z = s.
        self._rays = np.stack([(u - intrinsics.cx) / intrinsics.fx, (v - intrinsics.cy) / intrinsics.fy,
                               np.ones_like(u, dtype=np.float64)], axis=-1)
        down = self._rays[..., 1]
        floor_z = np.where(down > 1e-6, camera_height_m / np.maximum(down, 1e-6), np.inf)
        self._bg_depth = np.minimum(floor_z, back_wall_z_m).astype(np.float32)
        on_floor = floor_z < back_wall_z_m
        shade = np.clip(1.0 - self._bg_depth / (back_wall_z_m * 1.6), 0.3, 1.0)[..., None]
        floor_bgr = np.where(((np.floor(u / 80) + np.floor(v / 60)) % 2 == 0)[..., None], (95, 110, 120),
                             (85, 100, 110))
        wall_bgr = np.array([170, 175, 180])  # plain and evenly lit
        self._bg_color = np.where(on_floor[..., None], floor_bgr * shade, wall_bgr).astype(np.uint8)

    def _bbox(self, lo: np.ndarray, hi: np.ndarray) -> tuple[int, int, int, int] | None:
        """Pixel box holding the projection of the axis-aligned box [lo, hi] (camera metres), or None."""
        if hi[2] <= 0.05:
            return None
        corners = np.array([[x, y, max(z, 0.05)] for x in (lo[0], hi[0]) for y in (lo[1], hi[1])
                            for z in (lo[2], hi[2])])
        i = self.intrinsics
        us, vs = i.project(corners).T
        u0, u1 = max(int(np.floor(us.min())), 0), min(int(np.ceil(us.max())) + 1, i.width)
        v0, v1 = max(int(np.floor(vs.min())), 0), min(int(np.ceil(vs.max())) + 1, i.height)
        return (u0, u1, v0, v1) if u0 < u1 and v0 < v1 else None

    @staticmethod
    def _hit_capsule(rays: np.ndarray, a: np.ndarray, b: np.ndarray, r: float) -> np.ndarray:
        """Ray parameter of the first hit of rays from the origin on capsule (a, b, r); inf where missed.

        The closed form of I. Quilez's ray-capsule intersection, with the ray origin at the camera.
        """
        ba, oa = b - a, -a
        baba, baoa, oaoa = ba @ ba, ba @ oa, oa @ oa
        bard, rdoa, rdrd = rays @ ba, rays @ oa, np.einsum("...k,...k->...", rays, rays)
        qa = baba * rdrd - bard * bard
        qb = baba * rdoa - baoa * bard
        qc = baba * oaoa - baoa * baoa - r * r * baba
        disc = qb * qb - qa * qc
        with np.errstate(invalid="ignore", divide="ignore"):
            t_side = (-qb - np.sqrt(disc)) / qa
            y = baoa + t_side * bard
            side = (disc >= 0) & (y > 0) & (y < baba) & (t_side > 0)
            # Otherwise the nearer end sphere.
            centre = np.where((y <= 0)[..., None], a, b)
            oc = -centre
            sb, sc = np.einsum("...k,...k->...", rays, oc), np.einsum("...k,...k->...", oc, oc) - r * r
            sdisc = sb * sb - rdrd * sc
            t_cap = (-sb - np.sqrt(sdisc)) / rdrd
        cap = (sdisc >= 0) & (t_cap > 0)
        return np.where(side, t_side, np.where(cap, t_cap, np.inf))

    def render(self, people: list[tuple[int, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
        """Draw people given as (colour slot, (20, 3) camera-frame joints); returns (H, W, 3) BGR uint8 and
        (H, W) float32 depth metres (no hole: every ray meets the floor or the wall)."""
        depth = self._bg_depth.copy()
        color = self._bg_color.copy()
        for slot, joints in people:
            shirt = SHIRT_COLORS_BGR[slot % len(SHIRT_COLORS_BGR)]
            prims = [(joints[_J[a]], joints[_J[b]], r, part) for a, b, r, part in _CAPSULES]
            prims += [(joints[_J[j]], joints[_J[j]], r, part) for j, r, part in _SPHERES]
            for a, b, r, part in prims:
                if not (np.isfinite(a).all() and np.isfinite(b).all()):
                    continue
                box = self._bbox(np.minimum(a, b) - r, np.maximum(a, b) + r)
                if box is None:
                    continue
                u0, u1, v0, v1 = box
                rays = self._rays[v0:v1, u0:u1]
                a64, b64 = a.astype(np.float64), b.astype(np.float64)
                if np.allclose(a64, b64):
                    b64 = a64 + np.array([0.0, 1e-4, 0.0])  # a sphere: a capsule with a vanishing axis
                t = self._hit_capsule(rays, a64, b64, r)
                zview = depth[v0:v1, u0:u1]
                win = t < zview
                if not win.any():
                    continue
                zview[win] = t[win]
                hit = rays[win] * t[win][:, None]
                ba = b64 - a64
                s = np.clip(((hit - a64) @ ba) / (ba @ ba), 0.0, 1.0)
                normal = (hit - (a64 + s[:, None] * ba)) / r
                light = 0.35 + 0.65 * np.clip(normal @ _LIGHT, 0.0, 1.0)
                base = np.array(shirt if part == "shirt" else _PART_BGR[part], dtype=np.float64)
                color[v0:v1, u0:u1][win] = np.clip(base[None, :] * light[:, None], 0, 255).astype(np.uint8)
        return color, depth


class SyntheticScene(GeneratedSource):
    """A rendered scene of walkers as a (file-like, seekable) source: color, depth, intrinsics and truth."""

    def __init__(self, n_people: int = DEMO_PEOPLE, seconds: float = DEMO_SECONDS, fps: float = DEMO_FPS,
                 seed: int = DEMO_SEED, *, visits: int = 2, width: int = 640, height: int = 480,
                 hfov_deg: float = 80.0, truth_noise_m: float = 0.01, truth_bias_m: float = 0.008,
                 camera_height_m: float = DEFAULT_CAMERA_HEIGHT_M,
                 room: tuple[float, float, float, float] = (-2.0, 2.0, 1.8, 6.0), first_person: int = 0,
                 path_seed: int | None = None, entry_s: Mapping[str, float] | None = None) -> None:
        """
        Args:
            n_people: identities; visits: how many times each crosses the room (once per equal segment).
            first_person, path_seed, entry_s: another camera's view of some of the same people (the hand-off
                benchmark): identities first_person .. first_person + n_people - 1 of `seed` (so two scenes
                share the people their ranges share), walking paths and times drawn from `path_seed` (default
                `seed`), except that identity -> second in `entry_s` sets when that person's first crossing
                starts (a while after they left the other camera's view).
            truth_noise_m, truth_bias_m: per-frame jitter and per-visit joint offset on the skeletons handed over in
                `truth` (`reid.synthetic.add_sensor_noise`; the render uses the clean ones).
            room: floor rectangle (x_min, x_max, z_min, z_max), metres, where people walk.
        Raises:
            SourceError: a non-positive duration or frame rate, visits < 1, a negative first_person or an entry
                outside the scene (DatasetError for a bad room).
        """
        entries = dict(entry_s or {})
        if not (seconds > 0 and fps > 0 and visits >= 1 and first_person >= 0 and
                all(0 <= t < seconds for t in entries.values())):
            raise SourceError(f"synthetic scene: seconds={seconds} and fps={fps} must both be > 0, visits={visits} "
                              f">= 1, first_person={first_person} >= 0 and every entry_s in [0, seconds)")
        self._fps, self._frames = float(fps), int(round(seconds * fps))
        self._renderer = SceneRenderer(default_intrinsics(width, height, hfov_deg), camera_height_m=camera_height_m)
        paths = seed if path_seed is None else path_seed
        rng = np.random.default_rng([paths, 3])
        people = make_identities(first_person + n_people, seed)[first_person:]
        slots = {p.identity: first_person + k for k, p in enumerate(people)}  # a shirt colour per identity
        # (colour slot, track, clean (T, 20, 3), noisy (T, 20, 3)), camera frame. Each person crosses the room
        # once per segment of seconds / visits, so every identity comes back: what re-identification is for.
        self._tracks: list[tuple[int, SceneTrack, np.ndarray, np.ndarray]] = []
        segment = self._frames // visits
        for visit in range(visits):
            for track in scene_tracks(n_people, segment / fps, fps, room, paths + 1000 * visit,
                                      camera_height_m=camera_height_m, identities=people):
                clean = to_camera_frame(track.joints)
                noisy = add_sensor_noise(clean, rng, noise_m=truth_noise_m, bias_m=truth_bias_m, drop_rate=0.0,
                                         frame_drop_rate=0.0)
                start = track.start_frame + visit * segment
                if visit == 0 and track.identity in entries:
                    start = int(round(entries[track.identity] * fps))
                moved = SceneTrack(track.identity, start, track.joints)
                self._tracks.append((slots[track.identity], moved, clean, noisy))
        self._next = 0
        self._name = f"synthetic({n_people} people x {visits} visits, {seconds:g} s, {fps:g} fps, seed {seed})"

    name = property(lambda self: self._name)
    has_depth = property(lambda self: True)
    intrinsics = property(lambda self: self._renderer.intrinsics)

    def frame(self, index: int) -> FrameBundle:
        """Render frame `index` (0 <= index < num_frames)."""
        people, truth = self._people(index)
        color, depth = self._renderer.render(people)
        return FrameBundle(index, index / self._fps, color, depth, self._renderer.intrinsics, truth)

    def truth(self, index: int) -> tuple[TruthSkeleton, ...]:
        """The skeletons handed over with frame `index`, without rendering it (a benchmark's ground truth)."""
        return self._people(index)[1]

    def _people(self, index: int) -> tuple[list[tuple[int, np.ndarray]], tuple[TruthSkeleton, ...]]:
        """Who is drawn in frame `index` (colour slot, clean joints), and the truth of those whose hip is in view."""
        people, truth = [], []
        intr = self._renderer.intrinsics
        for slot, track, clean, noisy in self._tracks:
            k = index - track.start_frame
            if not 0 <= k < len(clean):
                continue
            people.append((slot, clean[k]))
            hip = clean[k][_J["HipCenter"]]
            u, v = intr.project(hip)
            if hip[2] > 0.1 and 0 <= u < intr.width and 0 <= v < intr.height:
                truth.append(TruthSkeleton(track.identity, noisy[k]))
        return people, tuple(truth)



def open_synthetic(argument: str = "", **options: Any) -> SyntheticScene:
    """`synthetic` opens the default scene; options go to `SyntheticScene`."""
    if argument:
        raise SourceError(f"synthetic source takes options, not an argument ({argument!r}); use `synthetic`")
    return SyntheticScene(**options)


def record_scene(scene: SyntheticScene, path: Path) -> int:
    """Render every frame of `scene` into a RealSense recording at `path` (.db3 through the SDK recorder, .bag
    through the ROS 1 writer) and its truth sidecar; returns the number of frames written."""
    if Path(path).suffix.lower() == ".bag":
        from capture.rosbag1 import RealSenseBagWriter as Writer
    else:
        from capture.sources.realsense import RealSenseRecorder as Writer  # pyrealsense2 only when recording

    with Writer(path, scene.intrinsics, scene.fps, device_name="skelwatch synthetic scene") as rec:
        for bundle in scene:
            rec.write(bundle)
        return rec.frames_written


def build_demo_recording() -> str:
    """Set-up builder: write `<home>/demo/demo.db3` (+ sidecar) once; a complete one is left alone."""
    from core.paths import home_dir
    from capture.sources.recording_meta import read_sidecar, sidecar_path

    target = home_dir() / "demo" / "demo.db3"
    meta = read_sidecar(sidecar_path(target))
    expected = int(round(DEMO_SECONDS * DEMO_FPS))
    if target.is_file() and meta is not None and meta.frames == expected:
        return f"demo recording: up to date ({target})"
    started = time.perf_counter()
    tmp = target.with_name("demo.partial.db3")
    frames = record_scene(SyntheticScene(DEMO_PEOPLE, DEMO_SECONDS, DEMO_FPS, DEMO_SEED), tmp)
    sidecar_path(tmp).replace(sidecar_path(target))
    tmp.replace(target)  # the .db3 last: an interrupted set-up leaves no .db3 without its sidecar
    size_mb = target.stat().st_size / 1e6
    return (f"demo recording: wrote {target} ({frames} frames, {size_mb:.1f} MB) "
            f"in {time.perf_counter() - started:.0f} s")
