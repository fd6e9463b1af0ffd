"""A generic 3D head seen by a pinhole camera, flat pictures of it, and random unit face descriptors: synthetic
inputs of the liveness tests (landmarks in image pixels of a 640 x 480 frame)."""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]

HEAD = np.array(
    [
        [-0.5, 0.0, 0.0],  # eye on the image's left (the visitor's right eye)
        [0.5, 0.0, 0.0],
        [0.0, 0.58, -0.5],  # nose tip, half an eye distance toward the camera
        [-0.4, 1.04, 0.0],
        [0.4, 1.04, 0.0],
    ]
)
"""A generic face in eye distances: x to the image's right, y down, z away from the camera."""


def project(points: F64, yaw: float = 0.0, pitch: float = 0.0, distance: float = 8.0, focal: float = 600.0) -> F64:
    """Image pixels of ``points`` rotated by ``yaw`` (degrees, + = the visitor turns to their own left, the nose
    toward the image's right) and ``pitch`` (+ = chin down), ``distance`` eye distances in front of the camera."""
    a, b = math.radians(yaw), math.radians(pitch)
    # The nose (z < 0) moves to +x for a turn to the visitor's left, to +y for chin down.
    rot_y = np.array([[math.cos(a), 0.0, -math.sin(a)], [0.0, 1.0, 0.0], [math.sin(a), 0.0, math.cos(a)]])
    rot_x = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(b), -math.sin(b)], [0.0, math.sin(b), math.cos(b)]])
    centre = np.array([0.0, 0.5, 0.0])
    turned = (points - centre) @ (rot_x @ rot_y).T + np.array([0.0, 0.0, distance])
    image: F64 = focal * turned[:, :2] / turned[:, 2:3] + np.array([320.0, 240.0])
    return image


def flat_photo(plane_yaw: float = 0.0, plane_pitch: float = 0.0, face_yaw: float = 0.0) -> F64:
    """A printed face (itself photographed at ``face_yaw``) held as a plane turned by the given angles: all five
    points on one plane."""
    printed = project(HEAD, face_yaw, 0.0)
    flat = np.column_stack([(printed - np.array([320.0, 240.0])) / 600.0 * 8.0, np.zeros(5)])
    return project(flat + np.array([0.0, 0.5, 0.0]), plane_yaw, plane_pitch)


def unit(seed: int) -> F64:
    """A random unit 128-d descriptor, the same for the same ``seed``."""
    vector: F64 = np.random.default_rng(seed).normal(size=128)
    return vector / float(np.linalg.norm(vector))
