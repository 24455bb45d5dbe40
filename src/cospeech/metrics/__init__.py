"""Gesture metrics: torchmetrics classes (streaming, DDP-safe) and the plain functions behind them.

Definitions, spaces, units and deviations from the reference code: ``docs/metrics.md``. Importing this
package imports every metric module, so every built-in metric is registered (``registry.py``).

scikit-learn is imported only inside the functions that fit with it, never on import (as
``cospeech.data.clusters`` does): ``typing`` caches ``Union[...]`` by its set of members, so when
scikit-learn builds ``Union[float, int, None]`` before Lightning is imported, Lightning's
``Union[int, float, None]`` annotations become that object, and jsonargparse then parses
``--trainer.limit_val_batches 1`` as 1.0 (every batch) instead of one batch.
"""

from cospeech.metrics.beat import BeatAlign
from cospeech.metrics.distribution import FGD, FID, W1
from cospeech.metrics.functional import (
    BEAT_MIN_DROP,
    BEAT_SIGMA,
    PCK_ALPHAS,
    POSE_FPS,
    W1_BIN_EDGES,
    assign_gesture_clusters,
    audio_beats,
    beat_align,
    cluster_f1,
    diversity,
    expressiveness,
    extractor_fingerprint,
    f1_from_confusion,
    fgd,
    fid,
    fit_gesture_clusters,
    frechet_distance,
    gaussian_from_moments,
    gesture_features,
    kinematic_beats,
    l1,
    l1_div,
    mean_joint_speed,
    pck,
    pck_per_joint,
    vel_l1,
    w1,
    wasserstein_1,
)
from cospeech.metrics.pose import L1, PCK, Diversity, Expressiveness, L1Div, PCKPerJoint, PCKReference, VelL1
from cospeech.metrics.registry import (
    GT_SUFFIX,
    JOINT_SEPARATOR,
    MetricSpec,
    joint_keys,
    list_metrics,
    logged_metrics,
    metric_spec,
    metric_specs,
    register_metric,
    table_metrics,
)
from cospeech.metrics.style import GestureClusterF1
from cospeech.metrics.suite import GestureMetricSuite

__all__ = [
    "BEAT_MIN_DROP",
    "BEAT_SIGMA",
    "FGD",
    "FID",
    "GT_SUFFIX",
    "JOINT_SEPARATOR",
    "L1",
    "PCK",
    "PCK_ALPHAS",
    "POSE_FPS",
    "W1",
    "W1_BIN_EDGES",
    "BeatAlign",
    "Diversity",
    "Expressiveness",
    "GestureClusterF1",
    "GestureMetricSuite",
    "L1Div",
    "MetricSpec",
    "PCKPerJoint",
    "PCKReference",
    "VelL1",
    "assign_gesture_clusters",
    "audio_beats",
    "beat_align",
    "cluster_f1",
    "diversity",
    "expressiveness",
    "extractor_fingerprint",
    "f1_from_confusion",
    "fgd",
    "fid",
    "fit_gesture_clusters",
    "frechet_distance",
    "gaussian_from_moments",
    "gesture_features",
    "joint_keys",
    "kinematic_beats",
    "l1",
    "l1_div",
    "list_metrics",
    "logged_metrics",
    "mean_joint_speed",
    "metric_spec",
    "metric_specs",
    "pck",
    "pck_per_joint",
    "register_metric",
    "table_metrics",
    "vel_l1",
    "w1",
    "wasserstein_1",
]
