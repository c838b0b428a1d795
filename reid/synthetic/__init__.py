"""Labelled synthetic walkers in the canonical Kinect v1 20-joint layout, for tests, benchmarks and scenes.

Camera frame: Kinect camera space, the frame the model trains in (UCalgary and the benchmarks use it):
right-handed, x towards the camera's left (as seen from behind the camera), y up, z forward along the optical
axis, metres. A person walking towards the camera has ShoulderLeft.x < ShoulderRight.x, as in the Kinect files;
`capture.buffer.camera_to_model` maps a RealSense/OpenCV frame (x right, y down) into it by a half turn. The
camera is `camera_height_m` (default 1.0 m) above a level floor, so the floor is the plane y = -camera_height_m.
A heading is the walking direction on the floor, measured from +z towards +x: 0 walks straight away from the
camera, pi straight towards it, +-pi/2 across the view.

Modules: `body` (identities, limp), `walker` (kinematics of one walk), `recording` (sensor noise, the labelled
dataset), `scene` (several people crossing a room). Identities differ in body proportions and in gait;
sequences of one identity vary a little in speed, arm swing and lean.
"""
from reid.synthetic.body import DEFAULT_CAMERA_HEIGHT_M, BodyParams, limping, make_identities
from reid.synthetic.recording import add_sensor_noise, make_dataset, viewpoint_headings
from reid.synthetic.scene import SceneTrack, scene_tracks
from reid.synthetic.walker import walk

__all__ = ["DEFAULT_CAMERA_HEIGHT_M", "BodyParams", "SceneTrack", "add_sensor_noise", "limping", "make_dataset",
           "make_identities", "scene_tracks", "viewpoint_headings", "walk"]
