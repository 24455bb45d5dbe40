"""Import a recording (a pose estimator's keypoints + the speech) as a corpus (``docs/personalise.md``).

One module per keypoint format turns its files into `Detections` on the ``pats52`` skeleton:

* ``openpose``: OpenPose JSON folders, one ``*_keypoints.json`` per frame (BODY_25 or COCO 18 body, with
  hands and face when OpenPose ran with them);
* ``wholebody``: COCO-WholeBody 133-point predictions (MMPose / RTMW / DWPose style JSON).

``track`` follows one person over time, drops unusable frames and resamples to 15 fps; ``recording`` adds the
speech, splits train/dev/test in time order and writes the corpus with a report.
"""

from cospeech.data.importers.detections import Detections, read_detections

__all__ = ["Detections", "read_detections"]
