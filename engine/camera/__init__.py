"""The camera layer: every camera input SANA-WM accepts, turned into the exact conditioning the model needs.

Main entry points:

* :func:`action_to_c2w` — action DSL string -> ``(N+1, 4, 4)`` camera-to-world trajectory (v1 / v2 mappings);
* :class:`MotionIntegrator` — held keys -> poses, frame by frame (DSL, keyboard driving, path playback);
* :mod:`engine.camera.intrinsics` — official intrinsics forms, fitting, resize/crop, FOV check;
* :class:`CameraConditioner` — poses + intrinsics -> ``camera_conditions`` and ``chunk_plucker`` tensors;
* :mod:`engine.camera.formats` — trajectory files (native npz, SANA-WM npy, nerfstudio, COLMAP, RE10K, Nuke, CSV);
* :class:`Trajectory` — the record all of them share.
* :mod:`engine.camera.keyframes` — keyframed camera paths (the Path-mode document), sampled through the splines of
  :mod:`engine.camera.splines`; :mod:`engine.camera.playback` — a path played chunk by chunk.

Conventions: camera-to-world 4x4, OpenCV camera axes (+X right, +Y down, +Z forward), float64.
"""

from engine.camera.actions import ActionSegment, action_num_frames, action_to_c2w, expand_action, parse_action
from engine.camera.conditioning import CameraConditioner, CameraConditioning, UCPETransforms, ucpe_transforms
from engine.camera.controls import DEFAULT_VERSION, MAPPINGS, Control, ControlMapping, get_mapping
from engine.camera.frames import latent_frame_count, resolve_num_frames, snap_num_frames
from engine.camera.integrator import IntegratorState, MotionIntegrator
from engine.camera.trajectory import DEFAULT_FPS, Trajectory

__all__ = [
    "ActionSegment",
    "CameraConditioner",
    "CameraConditioning",
    "Control",
    "ControlMapping",
    "DEFAULT_FPS",
    "DEFAULT_VERSION",
    "IntegratorState",
    "MAPPINGS",
    "MotionIntegrator",
    "Trajectory",
    "UCPETransforms",
    "action_num_frames",
    "action_to_c2w",
    "expand_action",
    "get_mapping",
    "latent_frame_count",
    "parse_action",
    "resolve_num_frames",
    "snap_num_frames",
    "ucpe_transforms",
]
