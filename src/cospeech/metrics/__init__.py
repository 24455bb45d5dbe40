"""Gesture metrics: torchmetrics classes (streaming, DDP-safe) and the plain functions behind them.

Definitions, spaces, units and deviations from the reference code: ``docs/metrics.md``.
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
    vel_l1,
    w1,
    wasserstein_1,
)
from cospeech.metrics.pose import L1, PCK, Diversity, L1Div, VelL1
from cospeech.metrics.style import GestureClusterF1
from cospeech.metrics.suite import GestureMetricSuite

__all__ = [
    "BEAT_MIN_DROP",
    "BEAT_SIGMA",
    "FGD",
    "FID",
    "L1",
    "PCK",
    "PCK_ALPHAS",
    "POSE_FPS",
    "W1",
    "W1_BIN_EDGES",
    "BeatAlign",
    "Diversity",
    "GestureClusterF1",
    "GestureMetricSuite",
    "L1Div",
    "VelL1",
    "assign_gesture_clusters",
    "audio_beats",
    "beat_align",
    "cluster_f1",
    "diversity",
    "extractor_fingerprint",
    "f1_from_confusion",
    "fgd",
    "fid",
    "fit_gesture_clusters",
    "frechet_distance",
    "gaussian_from_moments",
    "gesture_features",
    "kinematic_beats",
    "l1",
    "l1_div",
    "mean_joint_speed",
    "pck",
    "vel_l1",
    "w1",
    "wasserstein_1",
]
