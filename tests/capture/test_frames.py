"""The value objects between capture stages: pinhole geometry and the shape checks at construction."""
import numpy as np
import pytest

from capture.frames import FrameBundle, FrameError, Intrinsics, Skeleton3D, TruthSkeleton
from reid.errors import SkeletonError

INTR = Intrinsics(640, 480, 600.0, 610.0, 319.5, 239.5)


def test_deproject_known_pixels():
    # The principal point lies on the optical axis; one focal length off-centre is 45 degrees (x = z).
    pts = INTR.deproject(np.array([319.5, 919.5, 319.5]), np.array([239.5, 239.5, 849.5]), np.array([2.0, 3.0, 1.5]))
    np.testing.assert_allclose(pts, [[0.0, 0.0, 2.0], [3.0, 0.0, 3.0], [0.0, 1.5, 1.5]])


def test_y_points_down():
    below_centre = INTR.deproject(319.5, 400.0, 2.0)
    assert below_centre[1] > 0  # a pixel lower in the image is further along +y (down), as RealSense


def test_project_inverts_deproject():
    rng = np.random.default_rng(0)
    u, v, z = rng.uniform(0, 640, 50), rng.uniform(0, 480, 50), rng.uniform(0.3, 8.0, 50)
    uv = INTR.project(INTR.deproject(u, v, z))
    np.testing.assert_allclose(uv, np.stack([u, v], axis=1), atol=1e-9)
    assert np.isnan(INTR.project(np.array([1.0, 1.0, -1.0]))).all()  # behind the camera: no pixel


def test_from_hfov_puts_the_image_edge_at_half_the_field_of_view():
    intr = Intrinsics.from_hfov(640, 480, 90.0)
    edge = intr.deproject(-0.5, intr.cy, 1.0)  # the left edge of the first pixel
    assert np.degrees(np.arctan2(-edge[0], edge[2])) == pytest.approx(45.0)
    with pytest.raises(FrameError):
        Intrinsics.from_hfov(640, 480, 180.0)


@pytest.mark.parametrize("kwargs", [dict(width=0), dict(fx=-1.0), dict(fy=float("nan")), dict(cx=float("inf"))])
def test_bad_intrinsics_are_refused(kwargs):
    args = dict(width=640, height=480, fx=600.0, fy=600.0, cx=320.0, cy=240.0) | kwargs
    with pytest.raises(FrameError):
        Intrinsics(**args)


def test_frame_bundle_checks_images():
    color = np.zeros((480, 640, 3), np.uint8)
    frame = FrameBundle(3, 0.1, color, np.ones((480, 640), np.float64), INTR)
    assert frame.depth_m.dtype == np.float32 and frame.size == (480, 640) and frame.truth == ()
    with pytest.raises(FrameError, match="uint8"):
        FrameBundle(0, 0.0, color.astype(np.float32), None, None)
    with pytest.raises(FrameError, match="aligned"):
        FrameBundle(0, 0.0, color, np.ones((240, 320), np.float32), None)
    with pytest.raises(FrameError, match="intrinsics"):
        FrameBundle(0, 0.0, np.zeros((240, 320, 3), np.uint8), None, INTR)
    assert FrameBundle(0, 0.0, None, None, None).size is None


def test_truth_and_skeleton_shapes():
    TruthSkeleton("alice", np.zeros((20, 3)))
    with pytest.raises(SkeletonError, match=r"\(20, 3\)"):
        TruthSkeleton("bob", np.zeros((25, 3)))
    good = dict(joints=np.zeros((20, 3)), confidence=np.full(20, 0.5), box=(1, 2, 30, 40), timestamp_s=0.5,
                frame_index=5, keypoints_2d=np.zeros((20, 2)))
    skel = Skeleton3D(**good)
    assert skel.joints.dtype == np.float32 and skel.box == (1.0, 2.0, 30.0, 40.0)
    for bad in (dict(joints=np.zeros((33, 3))), dict(confidence=np.full(20, 1.5)),
                dict(confidence=np.full(20, np.nan)), dict(keypoints_2d=np.zeros((20, 3))), dict(box=(5, 5, 1, 1))):
        with pytest.raises(SkeletonError):
            Skeleton3D(**(good | bad))


def test_depth_to_units_rounds_saturates_and_marks_holes():
    from capture.frames import depth_to_units
    depth = np.array([[1.2344, np.nan], [np.inf, 70.0]], np.float32)
    units = depth_to_units(depth, 0.001)
    assert units.dtype == np.uint16
    assert units.tolist() == [[1234, 0], [0, 65535]]
