"""Speech → gestures for any length: the ``GestureGenerator`` pipeline, output writers, export/import.

>>> from cospeech.inference import GestureGenerator, write_gestures
>>> pipe = GestureGenerator.from_pretrained("runs/speech2gesture/version_0")
>>> gestures = pipe.generate("talk.wav", speaker="ava")  # poses (round(seconds · 15), 48, 2)
>>> write_gestures(gestures, "out/talk", ["npz", "mp4"])
"""

from cospeech.inference.export import (
    Pretrained,
    export_model,
    load_exported,
    load_pretrained,
    read_checkpoint,
)
from cospeech.inference.outputs import (
    FORMATS,
    output_paths,
    write_csv,
    write_gestures,
    write_mp4,
    write_npz,
    write_openpose_json,
)
from cospeech.inference.pipeline import (
    GeneratedGestures,
    GestureGenerator,
    Word,
    load_transcript,
    pose_clock_features,
    pose_clock_features_torch,
)

__all__ = [
    "FORMATS",
    "GeneratedGestures",
    "GestureGenerator",
    "Pretrained",
    "Word",
    "export_model",
    "load_exported",
    "load_pretrained",
    "load_transcript",
    "output_paths",
    "pose_clock_features",
    "pose_clock_features_torch",
    "read_checkpoint",
    "write_csv",
    "write_gestures",
    "write_mp4",
    "write_npz",
    "write_openpose_json",
]
