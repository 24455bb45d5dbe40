"""Gesture metrics as plain functions: the maths behind the metric classes.

Definitions follow Mix-StAGE / C-DiffGAN ``src/evaluation/metrics.py`` (L1, VelL1, PCK with either box and
per joint, FID, W1, diversity, expressiveness, F1 with precision and recall), BEAT/EMAGE (L1div, beat
alignment) and the co-speech beat consistency score; ``docs/metrics.md`` gives each formula, its space and
units, and where we deliberately differ from a reference.

Two spaces (see ``docs/architecture.md``):

* **z** (model space): ``(B, T, 2J)`` poses in the ``[x…, y…]`` layout, z-normalised with the training
  statistics. L1, VelL1, FID and FGD are computed here, as the reference does.
* **pixel**: ``(B, T, J, 2)`` neck-relative pixel offsets. PCK, W1, diversity, L1div, expressiveness,
  BeatAlign and the gesture-cluster F1 are computed here.

Every metric has a private ``_<name>_update`` that turns one batch into sums (the sufficient statistics the
classes accumulate over batches and add up across processes) and a public function giving the one-shot
value. Inputs may be NumPy arrays or tensors; sums are taken in float64 on the input's device.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Callable, Sequence

import librosa
import numpy as np
import torch
from safetensors.torch import save as safetensors_save
from scipy import linalg
from torch import Tensor, nn

from cospeech.data.poses import joints_to_flat, velocity

ArrayLike = Tensor | np.ndarray

POSE_FPS = 15
"""Pose frame rate of PATS and of every cospeech model (frames per second)."""

PCK_ALPHAS = (0.1, 0.2)
"""PCK thresholds as fractions of the GT bounding-box size; the reported ``PCK`` is their mean (Mix-StAGE)."""

W1_BIN_EDGES = np.arange(0.0, 300.0, 0.1)
"""Histogram edges for W1 in pixels/frame (pixels/frame² for acceleration), exactly Mix-StAGE's
``np.arange(0, 300, 0.1)``: 3000 edges, 2999 bins, the last bin closed; values beyond the last edge are
dropped, as ``np.histogram`` drops them."""

FRECHET_EPS = 1e-6
"""Diagonal offset pytorch-fid adds to both covariances when ``sqrtm`` of their product is not finite."""

BEAT_SIGMA = 0.1
"""Gaussian width (seconds) of the beat-alignment score; the co-speech value used with 15 fps poses
(DiffGesture ``scripts/test_ted.py``). BEAT/EMAGE use 0.3 s (BEAT) and 0.5 s (TalkShow)."""

BEAT_MIN_DROP = 1.0
"""Minimum depth (pixels/frame) of a speed minimum to count as a kinematic beat: the speed must exceed the
minimum by this much on at least one side. Our choice, so that OpenPose jitter (about a pixel at the PATS
scale, where the shoulder is 167 px from the neck) does not create beats."""


# ---------------------------------------------------------------- input checks


def _as_tensor(x: ArrayLike) -> Tensor:
    return torch.as_tensor(x) if isinstance(x, np.ndarray) else x


def _to_numpy64(x: ArrayLike) -> np.ndarray:
    """A float64 NumPy copy, for constants (mean pose, normaliser statistics, cluster centres) that the
    classes keep outside module buffers so a parent's ``.half()`` cannot round them."""
    return np.array(x.detach().cpu().double().numpy() if isinstance(x, Tensor) else x, dtype=np.float64)


def _check_same_shape(preds: Tensor, target: Tensor) -> None:
    if preds.shape != target.shape:
        raise ValueError(
            f"preds and target must have the same shape, got preds {tuple(preds.shape)} "
            f"and target {tuple(target.shape)}"
        )


def _check_flat(x: Tensor, name: str) -> None:
    """Model-space poses: ``(B, T, 2J)``."""
    if x.ndim != 3 or x.shape[-1] % 2:
        raise ValueError(f"{name} must be model-space poses (B, T, 2J), got shape {tuple(x.shape)}")


def _check_joints(x: Tensor, name: str) -> None:
    """Pixel-space poses: ``(B, T, J, 2)``."""
    if x.ndim != 4 or x.shape[-1] != 2:
        raise ValueError(f"{name} must be pixel-space poses (B, T, J, 2), got shape {tuple(x.shape)}")


def _check_pair(
    preds: ArrayLike, target: ArrayLike, check: Callable[[Tensor, str], None]
) -> tuple[Tensor, Tensor]:
    """Both shapes first (the message names both), then the layout."""
    preds, target = _as_tensor(preds), _as_tensor(target)
    _check_same_shape(preds, target)
    check(preds, "preds")
    return preds, target


# ---------------------------------------------------------------- L1 / VelL1 (z space)


def _l1_update(preds: ArrayLike, target: ArrayLike, order: int = 0) -> tuple[Tensor, int]:
    """``B · mean|Δⁿŷ − Δⁿy|`` over (B, T−n, 2J) and ``B``: Mix-StAGE averages per-batch means weighted by
    the batch size, so these are its running sum and count. ``order`` 1 gives VelL1."""
    preds, target = _check_pair(preds, target, _check_flat)
    if preds.shape[1] <= order:
        raise ValueError(f"need more than {order} frames for order-{order} differences, got {preds.shape[1]}")
    diff = preds.double() - target.double()
    for _ in range(order):
        diff = diff[:, 1:] - diff[:, :-1]
    batch = preds.shape[0]
    return diff.abs().mean() * batch, batch


def l1(preds: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error in z space over joints × coordinates × frames.

    Args:
        preds, target: model-space poses ``(B, T, 2J)``.
    """
    total, count = _l1_update(preds, target)
    return float(total / count)


def vel_l1(preds: ArrayLike, target: ArrayLike) -> float:
    """Mean absolute error of first temporal differences in z space (``(B, T−1, 2J)`` elements)."""
    total, count = _l1_update(preds, target, order=1)
    return float(total / count)


# ---------------------------------------------------------------- PCK (pixel space)


def _check_box_joints(box_joints: ArrayLike, target: Tensor) -> Tensor:
    """Extra GT joints for the PCK box: ``(B, T, K, 2)`` pixels, B and T those of ``target``."""
    box_joints = _as_tensor(box_joints)
    if box_joints.ndim != 4 or box_joints.shape[-1] != 2 or box_joints.shape[:2] != target.shape[:2]:
        raise ValueError(
            f"box_joints must be pixel-space GT joints (B, T, K, 2) matching target {tuple(target.shape)}, "
            f"got shape {tuple(box_joints.shape)}"
        )
    return box_joints.to(device=target.device, dtype=torch.float64)


def _pck_correct(
    preds: ArrayLike, target: ArrayLike, alphas: Sequence[float], box_joints: ArrayLike | None = None
) -> tuple[Tensor, int]:
    """Per alpha and joint, the number of frames where the joint is correct ``(A, J)``, and the frame count.

    A joint is correct when ``‖ŷ_j − y_j‖₂ < α · max(width, height)`` of the frame's GT bounding box. The box
    spans every GT joint and the neck at the origin (the reference sets the neck to (0, 0) before taking
    the box), plus ``box_joints`` ``(B, T, K, 2)`` when given: GT joints that are not scored but widen the
    box (the reference's nose and eyes).
    """
    preds, target = _check_pair(preds, target, _check_joints)
    preds, target = preds.double(), target.double()
    dist = torch.linalg.vector_norm(preds - target, dim=-1)  # (B, T, J)
    box = target if box_joints is None else torch.cat((target, _check_box_joints(box_joints, target)), dim=-2)
    low = box.amin(dim=-2).clamp(max=0.0)  # (B, T, 2), the origin included
    high = box.amax(dim=-2).clamp(min=0.0)
    size = (high - low).amax(dim=-1)  # (B, T)
    alpha = torch.tensor(list(alphas), dtype=torch.float64, device=preds.device)
    correct = dist.unsqueeze(0) < alpha.view(-1, 1, 1, 1) * size.unsqueeze(0).unsqueeze(-1)  # (A, B, T, J)
    return correct.sum(dim=(1, 2)).double(), dist.shape[0] * dist.shape[1]


def _pck_update(
    preds: ArrayLike, target: ArrayLike, alphas: Sequence[float], box_joints: ArrayLike | None = None
) -> tuple[Tensor, int]:
    """Correct-joint counts per alpha ``(A,)`` and the number of joint·frame pairs (see ``_pck_correct``)."""
    correct, frames = _pck_correct(preds, target, alphas, box_joints)
    return correct.sum(dim=-1), frames * correct.shape[-1]


def _pck_result(
    correct: Tensor, count: Tensor | int, alphas: Sequence[float], prefix: str = "PCK"
) -> dict[str, Tensor]:
    per_alpha = correct / count
    result = {f"{prefix}@{alpha:g}": value for alpha, value in zip(alphas, per_alpha, strict=True)}
    return {prefix: per_alpha.mean(), **result}


def pck(
    preds: ArrayLike,
    target: ArrayLike,
    alphas: Sequence[float] = PCK_ALPHAS,
    *,
    box_joints: ArrayLike | None = None,
) -> dict[str, float]:
    """Percentage of correct keypoints per alpha (``PCK@0.1``, ``PCK@0.2``) and their mean (``PCK``).

    Args:
        preds, target: pixel-space poses ``(B, T, J, 2)``, neck-relative.
        alphas: thresholds as fractions of the per-frame GT bounding-box size.
        box_joints: ``(B, T, K, 2)`` neck-relative GT pixels of joints that are not scored but widen the box.
            None: the box spans the J joints and the neck (cospeech's ``PCK``). The PATS nose and eyes
            (``pats52`` joints 7, 8, 9) give the reference's box over all 52 joints (``PCK_ref``).
    """
    correct, count = _pck_update(preds, target, alphas, box_joints)
    return {k: float(v) for k, v in _pck_result(correct, count, alphas).items()}


def pck_per_joint(
    preds: ArrayLike,
    target: ArrayLike,
    alphas: Sequence[float] = PCK_ALPHAS,
    *,
    box_joints: ArrayLike | None = None,
) -> dict[str, np.ndarray]:
    """PCK of each joint: per alpha, the fraction of frames in which joint j is correct (Mix-StAGE
    ``pck_<α>_<j>``), with the box of ``pck``.

    Returns:
        ``{"PCK@0.1": (J,), "PCK@0.2": (J,)}`` float64 arrays in the joint order of the input.
    """
    correct, frames = _pck_correct(preds, target, alphas, box_joints)
    per_joint = (correct / frames).cpu().numpy()
    return {f"PCK@{alpha:g}": row for alpha, row in zip(alphas, per_joint, strict=True)}


# ---------------------------------------------------------------- Fréchet distances (FID, FGD)


def _moments_update(features: Tensor) -> tuple[int, Tensor, Tensor]:
    """Frame count, sum ``(D,)`` and sum of outer products ``(D, D)`` of ``(…, D)`` features, in float64:
    the running sums the reference keeps, from which mean and covariance follow exactly."""
    x = features.reshape(-1, features.shape[-1]).double()
    return x.shape[0], x.sum(dim=0), x.T @ x


def gaussian_from_moments(count: int, total: ArrayLike, outer: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (divided by N−1) from running sums."""
    total = _as_tensor(total).double().cpu().numpy()
    outer = _as_tensor(outer).double().cpu().numpy()
    mean = total / count
    cov = (outer - np.outer(total, total) / count) / (count - 1)
    return mean, cov


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = FRECHET_EPS
) -> float:
    """``‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)`` in float64, the pytorch-fid computation.

    If ``sqrtm`` of the product is not finite, ``eps·I`` is added to both covariances (as pytorch-fid
    does). Where pytorch-fid would raise on a large imaginary part (and Mix-StAGE would then report 1000),
    this warns and returns NaN, so a failure can never pass for a number.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = (
        np.atleast_2d(np.asarray(sigma1, np.float64)),
        np.atleast_2d(np.asarray(sigma2, np.float64)),
    )
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(
            f"Gaussians must have the same dimension, got means {mu1.shape} and {mu2.shape}, "
            f"covariances {sigma1.shape} and {sigma2.shape}"
        )
    diff = mu1 - mu2
    covmean = _covariance_sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(
            f"Fréchet distance: product of covariances is singular; adding {eps} to their diagonals",
            RuntimeWarning,
            stacklevel=2,
        )
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = _covariance_sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if not np.isfinite(covmean).all():
            warnings.warn(
                "Fréchet distance not computed: sqrtm is not finite; returning NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            return float("nan")
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            largest = np.max(np.abs(covmean.imag))
            warnings.warn(
                f"Fréchet distance not computed: sqrtm has an imaginary part of {largest:.3g}; returning NaN",
                RuntimeWarning,
                stacklevel=2,
            )
            return float("nan")
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


SQRTM_TOLERANCE = 1e-6
"""Largest relative residual ``‖S·S − A‖_F / ‖A‖_F`` accepted for ``S = sqrtm(A)`` of a singular ``A``."""


def _covariance_sqrtm(product: np.ndarray) -> np.ndarray:
    """``scipy.linalg.sqrtm`` of ``Σ₁Σ₂``, without scipy's ``LinAlgWarning``, checked instead.

    scipy warns "Matrix is singular … might be inaccurate" whenever the product has a zero eigenvalue, which
    is normal for these Gaussians: a constant prediction (the mean-pose baseline) has ``Σ = 0``, and fewer
    samples than dimensions give rank-deficient covariances. The warning says nothing a user can act on, so
    it is caught and the root is checked: if ``S·S`` reproduces the product (relative residual at most
    `SQRTM_TOLERANCE`) the value is used; otherwise the root is returned as NaN so that `frechet_distance`
    retries with ``eps·I`` added, as it does for any non-finite root. For ``Σ₂ = 0`` the root is exactly 0
    and the distance is exactly ``‖μ₁ − μ₂‖² + Tr Σ₁``.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        root = linalg.sqrtm(product)
    singular = False
    for warning in caught:
        if issubclass(warning.category, linalg.LinAlgWarning):
            singular = True
        else:  # anything else scipy says is passed on unchanged
            warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)
    if singular and np.isfinite(root).all():
        residual = np.linalg.norm(root @ root - product)
        if residual > SQRTM_TOLERANCE * np.linalg.norm(product):
            return np.full_like(root, np.nan)
    return root


def _frechet_from_moments(
    real: tuple[int, ArrayLike, ArrayLike], fake: tuple[int, ArrayLike, ArrayLike]
) -> float:
    """Fréchet distance between Gaussians fitted to running sums of real (first, as the reference orders
    them) and generated features. Fewer than 2 samples on a side cannot give a covariance: NaN, warned."""
    if min(int(real[0]), int(fake[0])) < 2:
        warnings.warn(
            f"Fréchet distance not computed: needs at least 2 samples per side, got {int(real[0])} real and "
            f"{int(fake[0])} generated; returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        return float("nan")
    mu_real, sigma_real = gaussian_from_moments(int(real[0]), real[1], real[2])
    mu_fake, sigma_fake = gaussian_from_moments(int(fake[0]), fake[1], fake[2])
    return frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)


def fid(preds: ArrayLike, target: ArrayLike) -> float:
    """Mix-StAGE "FID": Fréchet distance between Gaussians fitted to raw pose frames, no embedding.

    Args:
        preds, target: model-space poses ``(B, T, 2J)``; each frame is one 2J-dim sample.
    """
    preds, target = _check_pair(preds, target, _check_flat)
    return _frechet_from_moments(_moments_update(target), _moments_update(preds))


@torch.no_grad()
def _encode(extractor: nn.Module, poses: Tensor) -> Tensor:
    """``extractor.encode`` ``(B, T, 2J)`` → ``(B, C)`` without gradients."""
    features = extractor.encode(poses)
    if features.ndim != 2 or features.shape[0] != poses.shape[0]:
        raise ValueError(
            f"extractor.encode must map poses {tuple(poses.shape)} to features (B, C), "
            f"got {tuple(features.shape)}"
        )
    return features


def fgd(preds: ArrayLike, target: ArrayLike, extractor: nn.Module) -> float:
    """Fréchet Gesture Distance: the Fréchet distance on ``extractor.encode`` features.

    Only comparable between runs that use the same extractor weights (see ``extractor_fingerprint``).

    Args:
        preds, target: model-space poses ``(B, T, 2J)``, one feature vector per sequence.
        extractor: an ``nn.Module`` with ``encode(poses (B, T, 2J)) -> (B, C)``, used in eval mode.
    """
    preds, target = _check_pair(preds, target, _check_flat)
    return _frechet_from_moments(
        _moments_update(_encode(extractor, target)), _moments_update(_encode(extractor, preds))
    )


def extractor_fingerprint(extractor: nn.Module) -> str:
    """First 12 hex digits of the sha256 of the extractor's safetensors-serialised ``state_dict``, so a
    reported FGD names the exact weights it was measured with."""
    state = {
        k: v.detach().cpu().clone(memory_format=torch.contiguous_format)
        for k, v in extractor.state_dict().items()
    }
    return hashlib.sha256(safetensors_save(state)).hexdigest()[:12]


# ---------------------------------------------------------------- W1 of speed / acceleration (pixel space)


def mean_joint_speed(poses: ArrayLike, order: int = 1) -> Tensor:
    """Per-frame mean over joints of ``‖Δⁿp_j‖₂``: speed (order 1, pixels/frame) or acceleration magnitude
    (order 2, pixels/frame²).

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``.

    Returns:
        ``(B, T − order)`` float64; value ``k`` describes the step from frame ``k`` to ``k + 1`` (order 1).
    """
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    x = poses.double()
    for _ in range(order):
        x = x[:, 1:] - x[:, :-1]
    return torch.linalg.vector_norm(x, dim=-1).mean(dim=-1)


def _speed_histogram(values: Tensor) -> Tensor:
    """Counts ``(len(W1_BIN_EDGES) − 1,)`` of ``values`` in the W1 bins, with ``np.histogram`` semantics."""
    edges = torch.as_tensor(W1_BIN_EDGES, device=values.device)
    values = values.reshape(-1)
    inside = (values >= edges[0]) & (values <= edges[-1])
    index = torch.bucketize(values[inside], edges, right=True) - 1  # e_i ≤ v < e_{i+1} → i
    index = index.clamp(max=edges.numel() - 2)  # the last bin is closed on the right
    return torch.bincount(index, minlength=edges.numel() - 1)


def _w1_update(preds: ArrayLike, target: ArrayLike) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Speed and acceleration histograms of generated and GT poses: vel_pred, vel_gt, acc_pred, acc_gt."""
    preds, target = _check_pair(preds, target, _check_joints)
    if preds.shape[1] < 3:
        raise ValueError(f"W1 needs at least 3 frames for accelerations, got shape {tuple(preds.shape)}")
    return (
        _speed_histogram(mean_joint_speed(preds, 1)),
        _speed_histogram(mean_joint_speed(target, 1)),
        _speed_histogram(mean_joint_speed(preds, 2)),
        _speed_histogram(mean_joint_speed(target, 2)),
    )


def wasserstein_1(u_counts: ArrayLike, v_counts: ArrayLike) -> float:
    """Wasserstein-1 between two histograms on the W1 bins, normalised, support = left bin edges
    (``scipy.stats.wasserstein_distance(x, x, u, v)`` as Mix-StAGE calls it).

    An empty histogram (no frames, or all beyond the last edge) has no distribution: NaN, warned.
    """
    u = _as_tensor(u_counts).double().cpu().numpy()
    v = _as_tensor(v_counts).double().cpu().numpy()
    if u.sum() == 0 or v.sum() == 0:
        warnings.warn("W1 not computed: a histogram is empty; returning NaN", RuntimeWarning, stacklevel=2)
        return float("nan")
    support = W1_BIN_EDGES[:-1]
    cdf_gap = np.abs(np.cumsum(u / u.sum()) - np.cumsum(v / v.sum()))[:-1]
    return float(cdf_gap @ np.diff(support))


def w1(preds: ArrayLike, target: ArrayLike) -> dict[str, float]:
    """``W1_vel`` and ``W1_acc``: Wasserstein-1 between generated and GT histograms of per-frame mean joint
    speed (pixels/frame) and acceleration magnitude (pixels/frame²).

    Args:
        preds, target: pixel-space poses ``(B, T, J, 2)``, ``T ≥ 3``.
    """
    vel_pred, vel_gt, acc_pred, acc_gt = _w1_update(preds, target)
    return {"W1_vel": wasserstein_1(vel_pred, vel_gt), "W1_acc": wasserstein_1(acc_pred, acc_gt)}


# ---------------------------------------------------------------- diversity (pixel space)


def _diversity_update(poses: ArrayLike, mean_pose: ArrayLike) -> tuple[Tensor, int]:
    """Sum of ``|p − μ|`` over (B, T, J, 2) and the element count."""
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    mean_pose = torch.as_tensor(mean_pose, dtype=torch.float64, device=poses.device)
    if mean_pose.shape != poses.shape[-2:]:
        raise ValueError(
            f"mean_pose must be (J, 2) matching poses, got mean_pose {tuple(mean_pose.shape)} "
            f"and poses {tuple(poses.shape)}"
        )
    return (poses.double() - mean_pose).abs().sum(), poses.numel()


def diversity(poses: ArrayLike, mean_pose: ArrayLike) -> float:
    """Mix-StAGE diversity: mean ``|p − μ|`` (pixels) of every coordinate to the training mean pose μ.

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``.
        mean_pose: ``(J, 2)`` training mean pose (the normaliser's mean), neck-relative pixels.
    """
    total, count = _diversity_update(poses, mean_pose)
    return float(total / count)


def _l1_div_update(poses: ArrayLike) -> tuple[Tensor, int]:
    """Sum over sequences, frames, joints and coordinates of ``|p − p̄_seq|`` and the frame count."""
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    x = poses.double()
    return (x - x.mean(dim=1, keepdim=True)).abs().sum(), x.shape[0] * x.shape[1]


def l1_div(poses: ArrayLike) -> float:
    """BEAT/EMAGE L1div: per frame, the sum over joints and coordinates of ``|p − p̄|`` (pixels), p̄ the mean
    pose of the frame's own sequence (each row of the batch), averaged over frames.

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``; each of the B rows is one sequence.
    """
    total, count = _l1_div_update(poses)
    return float(total / count)


# ---------------------------------------------------------------- expressiveness (pixel space)


def _rms(values: Tensor) -> Tensor:
    """Root mean square over every element (float64)."""
    return values.double().pow(2).mean().sqrt()


def _expressiveness_update(preds: ArrayLike, target: ArrayLike, mean_pose: ArrayLike) -> dict[str, Tensor]:
    """One batch's Mix-StAGE ``Expressiveness`` terms, each an RMS over the batch's frames multiplied by
    their count (the reference's ``AverageMeter(n=…)`` sums), and the counts:

    * ``spatial_sum`` = N·RMS_t(d(ŷ)_t − d(y)_t), ``gt_spread_sum`` = N·RMS_t(d(y)_t), with
      d(p)_t = mean_j ‖p_{t,j} − μ_j‖₂ and N = B·T frames;
    * ``energy_sum`` = N₁·RMS_t(s₁(ŷ)_t − s₁(y)_t), s₁ the per-frame mean joint speed, N₁ = B·(T−1);
    * ``power_sum`` = N₂·RMS_t(s₂(ŷ)_t − s₂(y)_t), s₂ the mean acceleration magnitude, N₂ = B·(T−2).

    Differences are taken inside each sequence (batch row).
    """
    preds, target = _check_pair(preds, target, _check_joints)
    if preds.shape[1] < 3:
        raise ValueError(f"expressiveness needs at least 3 frames for power, got shape {tuple(preds.shape)}")
    mean_pose = torch.as_tensor(mean_pose, dtype=torch.float64, device=preds.device)
    if mean_pose.shape != preds.shape[-2:]:
        raise ValueError(
            f"mean_pose must be (J, 2) matching poses, got mean_pose {tuple(mean_pose.shape)} "
            f"and poses {tuple(preds.shape)}"
        )
    spread_pred = torch.linalg.vector_norm(preds.double() - mean_pose, dim=-1).mean(dim=-1)  # (B, T)
    spread_gt = torch.linalg.vector_norm(target.double() - mean_pose, dim=-1).mean(dim=-1)
    speed = mean_joint_speed(preds, 1) - mean_joint_speed(target, 1)  # (B, T−1)
    accel = mean_joint_speed(preds, 2) - mean_joint_speed(target, 2)  # (B, T−2)
    frames, vel_frames, acc_frames = spread_gt.numel(), speed.numel(), accel.numel()
    return {
        "spatial_sum": frames * _rms(spread_pred - spread_gt),
        "gt_spread_sum": frames * _rms(spread_gt),
        "energy_sum": vel_frames * _rms(speed),
        "power_sum": acc_frames * _rms(accel),
        "frames": torch.tensor(float(frames), dtype=torch.float64),
        "vel_frames": torch.tensor(float(vel_frames), dtype=torch.float64),
        "acc_frames": torch.tensor(float(acc_frames), dtype=torch.float64),
    }


def _expressiveness_result(sums: dict[str, Tensor]) -> dict[str, Tensor]:
    """``spatial``, ``spatialNorm``, ``energy``, ``power`` from summed batch terms. A GT that never leaves
    the mean pose (zero denominator) gives a NaN ``spatialNorm``, warned (the reference reports 1000)."""
    spatial_norm = sums["spatial_sum"] / sums["gt_spread_sum"]
    if sums["gt_spread_sum"] == 0:
        warnings.warn(
            "spatialNorm not computed: the ground truth never leaves the mean pose; returning NaN",
            RuntimeWarning,
            stacklevel=3,
        )
        spatial_norm = torch.full_like(spatial_norm, float("nan"))
    return {
        "spatial": sums["spatial_sum"] / sums["frames"],
        "spatialNorm": spatial_norm,
        "energy": sums["energy_sum"] / sums["vel_frames"],
        "power": sums["power_sum"] / sums["acc_frames"],
    }


def expressiveness(preds: ArrayLike, target: ArrayLike, mean_pose: ArrayLike) -> dict[str, float]:
    """Mix-StAGE ``Expressiveness`` of one batch: how far generated poses, speeds and accelerations stray
    from the GT's, frame by frame.

    * ``spatial`` = RMS_t(d(ŷ)_t − d(y)_t), d(p)_t = mean_j ‖p_{t,j} − μ_j‖₂ (pixels);
    * ``spatialNorm`` = spatial / RMS_t(d(y)_t) (dimensionless; Mix-StAGE's model-selection key);
    * ``energy`` = RMS_t(s₁(ŷ)_t − s₁(y)_t), s₁ = per-frame mean joint speed (pixels/frame);
    * ``power`` = the same on the mean acceleration magnitude s₂ (pixels/frame²).

    RMS runs over all frames of the batch, so values depend on how frames are batched: the classes average
    per-batch values weighted by frame counts, as the reference does (``docs/metrics.md``).

    Args:
        preds, target: pixel-space poses ``(B, T, J, 2)``, ``T ≥ 3``.
        mean_pose: ``(J, 2)`` training mean pose, neck-relative pixels (the normaliser's mean).
    """
    return {
        k: float(v)
        for k, v in _expressiveness_result(_expressiveness_update(preds, target, mean_pose)).items()
    }


# ---------------------------------------------------------------- beat alignment (pixel space, seconds)


def _kinematic_beat_mask(poses: Tensor, min_drop: float) -> Tensor:
    """``(B, T)`` bool, true at frames where the mean joint speed has a strict local minimum at least
    ``min_drop`` px/frame below one neighbour. The speed of the step into frame ``t`` belongs to ``t``."""
    speed = mean_joint_speed(poses, 1)  # (B, T−1), entry k is the step k → k+1
    centre, before, after = speed[:, 1:-1], speed[:, :-2], speed[:, 2:]
    is_min = (centre < before) & (centre < after)
    deep = torch.maximum(before - centre, after - centre) >= min_drop
    mask = torch.zeros(poses.shape[:2], dtype=torch.bool, device=poses.device)
    mask[:, 2:-1] = is_min & deep  # centre entry i is step i+1 → i+2, so it belongs to frame i + 2
    return mask


def kinematic_beats(
    poses: ArrayLike, *, fps: float = POSE_FPS, min_drop: float = BEAT_MIN_DROP
) -> np.ndarray:
    """Kinematic beat times (seconds from the first frame) of one sequence: local minima of the mean joint
    speed.

    Args:
        poses: pixel-space poses of one sequence ``(T, J, 2)``.
        fps: pose frame rate.
        min_drop: minimum depth of a minimum, pixels/frame.
    """
    poses = _as_tensor(poses)
    if poses.ndim != 3 or poses.shape[-1] != 2:
        raise ValueError(f"poses must be one pixel-space sequence (T, J, 2), got shape {tuple(poses.shape)}")
    frames = torch.nonzero(_kinematic_beat_mask(poses.unsqueeze(0), min_drop)[0]).flatten()
    return frames.cpu().numpy() / fps


def audio_beats(waveform: np.ndarray, *, sr: int) -> np.ndarray:
    """Audio beat times (seconds): ``librosa.onset.onset_detect`` with its defaults, as BC implementations do.

    Args:
        waveform: mono samples ``(S,)``.
        sr: sample rate in Hz.
    """
    return librosa.onset.onset_detect(y=np.asarray(waveform, dtype=np.float32), sr=sr, units="time")


def _beat_align_update(
    poses: ArrayLike,
    beats: Sequence[ArrayLike],
    *,
    fps: float,
    sigma: float,
    min_drop: float,
) -> tuple[Tensor, int]:
    """Sum over audio beats of ``exp(−d²/2σ²)``, d the distance to the nearest kinematic beat of the same
    sequence (no kinematic beat: d = ∞, the beat scores 0), and the number of audio beats."""
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    if len(beats) != poses.shape[0]:
        raise ValueError(
            f"need one array of audio beat times per sequence: {len(beats)} for poses {tuple(poses.shape)}"
        )
    mask = _kinematic_beat_mask(poses, min_drop)
    total = torch.zeros((), dtype=torch.float64, device=poses.device)
    count = 0
    for row, audio in zip(mask, beats, strict=True):
        audio = torch.as_tensor(audio, dtype=torch.float64, device=poses.device).reshape(-1)
        motion = torch.nonzero(row).flatten().double() / fps
        count += audio.numel()
        if motion.numel() and audio.numel():
            nearest = (audio.unsqueeze(1) - motion.unsqueeze(0)).abs().amin(dim=1)
            total += torch.exp(-(nearest**2) / (2 * sigma**2)).sum()
    return total, count


def beat_align(
    poses: ArrayLike,
    beats: Sequence[ArrayLike],
    *,
    fps: float = POSE_FPS,
    sigma: float = BEAT_SIGMA,
    min_drop: float = BEAT_MIN_DROP,
) -> float:
    """Beat alignment (beat consistency) score: mean over audio beats of ``exp(−d²/2σ²)``, d (seconds) from
    each audio beat to the nearest kinematic beat of its sequence. 1 = every audio beat has a motion beat.

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``.
        beats: per sequence, audio beat times in seconds from its first frame (e.g. ``audio_beats``).
        fps: pose frame rate; sigma: Gaussian width in seconds; min_drop: see ``kinematic_beats``.
    """
    total, count = _beat_align_update(poses, beats, fps=fps, sigma=sigma, min_drop=min_drop)
    if count == 0:
        warnings.warn("BeatAlign not computed: no audio beats; returning NaN", RuntimeWarning, stacklevel=2)
        return float("nan")
    return float(total / count)


# ---------------------------------------------------------------- gesture clusters and F1 (pixel space)


def gesture_features(poses: ArrayLike) -> Tensor:
    """Per-frame k-means features ``[pose (2J), velocity (2J), speed (J)]`` in the flat ``[x…, y…]`` layout,
    velocity ``v_0 = 0`` (Mix-StAGE ``KMeans.get_feats`` with feats pose, velocity, speed).

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``.

    Returns:
        ``(B, T, 5J)`` float64.
    """
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    x = poses.double()
    vel = velocity(x)  # (B, T, J, 2)
    speed = torch.linalg.vector_norm(vel, dim=-1)  # (B, T, J)
    return torch.cat((joints_to_flat(x), joints_to_flat(vel), speed), dim=-1)


def fit_gesture_clusters(poses: ArrayLike | Sequence[ArrayLike], k: int = 8, seed: int = 0) -> np.ndarray:
    """Fit the gesture clusters the F1 metric uses: ``MiniBatchKMeans(n_clusters=k, random_state=seed)`` on
    ``gesture_features`` of every training frame.

    Args:
        poses: pixel-space training poses, ``(B, T, J, 2)`` or a sequence of ``(T, J, 2)`` (e.g. intervals of
            different lengths).
        k: number of clusters (8 in Mix-StAGE).
        seed: k-means random state, so the clusters are reproducible.

    Returns:
        ``(k, 5J)`` float64 cluster centres, a plain array to save next to the results.
    """
    if isinstance(poses, (Tensor, np.ndarray)) and poses.ndim == 4:
        sequences = list(poses)
    elif isinstance(poses, (Tensor, np.ndarray)):
        sequences = [poses]
    else:
        sequences = list(poses)
    features = [gesture_features(_as_tensor(seq).unsqueeze(0))[0].cpu().numpy() for seq in sequences]
    from sklearn.cluster import MiniBatchKMeans  # imported where used (cospeech.metrics docstring)

    model = MiniBatchKMeans(n_clusters=k, random_state=seed)
    model.fit(np.concatenate(features, axis=0))
    return np.asarray(model.cluster_centers_, dtype=np.float64)


def assign_gesture_clusters(poses: ArrayLike, centres: ArrayLike) -> Tensor:
    """Label of the nearest centre (squared Euclidean) for each frame.

    Args:
        poses: pixel-space poses ``(B, T, J, 2)``.
        centres: ``(k, 5J)`` from ``fit_gesture_clusters``.

    Returns:
        ``(B, T)`` int64 labels in ``[0, k)``.
    """
    features = gesture_features(poses)
    centres = torch.as_tensor(centres, dtype=torch.float64, device=features.device)
    if centres.ndim != 2 or centres.shape[1] != features.shape[-1]:
        raise ValueError(
            f"centres must be (k, {features.shape[-1]}) for poses {tuple(_as_tensor(poses).shape)}, "
            f"got {tuple(centres.shape)}"
        )
    distance = ((features.unsqueeze(-2) - centres) ** 2).sum(dim=-1)  # (B, T, k)
    return distance.argmin(dim=-1)


def _confusion_update(preds: ArrayLike, target: ArrayLike, centres: ArrayLike) -> Tensor:
    """``(k, k)`` confusion matrix of frame cluster labels; rows GT, columns generated."""
    preds, target = _check_pair(preds, target, _check_joints)
    k = int(_as_tensor(centres).shape[0])
    pred_labels = assign_gesture_clusters(preds, centres).reshape(-1)
    true_labels = assign_gesture_clusters(target, centres).reshape(-1)
    return torch.bincount(true_labels * k + pred_labels, minlength=k * k).reshape(k, k)


def f1_from_confusion(confusion: ArrayLike) -> dict[str, float]:
    """Cluster scores from a ``(k, k)`` confusion matrix C (rows GT, columns generated), Mix-StAGE ``F1``:

    * ``F1``: per-cluster F1 from precision C_ii / Σ_r C_ri and recall C_ii / Σ_c C_ic, averaged with the
      GT support Σ_c C_ic as weights;
    * ``cluster_acc``: trace(C) / ΣC, the label agreement rate (reference ``acc``);
    * ``cluster_precision``, ``cluster_recall``: unweighted means of the k per-cluster precisions / recalls
      (reference ``precision``, ``recall``), every cluster counted, also those never seen.

    Undefined precision/recall/F1 of a cluster count as 0, as in the reference. No frames: NaN, warned.
    """
    cm = _as_tensor(confusion).double().cpu().numpy()
    support = cm.sum(axis=1)
    if support.sum() == 0:
        warnings.warn("F1 not computed: no frames; returning NaN", RuntimeWarning, stacklevel=2)
        return dict.fromkeys(("F1", "cluster_acc", "cluster_precision", "cluster_recall"), float("nan"))
    hits = np.diag(cm)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.nan_to_num(hits / cm.sum(axis=0))
        recall = np.nan_to_num(hits / support)
        f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
    return {
        "F1": float(np.average(f1, weights=support)),
        "cluster_acc": float(hits.sum() / support.sum()),
        "cluster_precision": float(precision.mean()),
        "cluster_recall": float(recall.mean()),
    }


def cluster_f1(preds: ArrayLike, target: ArrayLike, centres: ArrayLike) -> dict[str, float]:
    """Style F1 on gesture clusters: frames of generated and GT poses are labelled with the nearest centre
    and compared (``f1_from_confusion``).

    Args:
        preds, target: pixel-space poses ``(B, T, J, 2)``.
        centres: ``(k, 5J)`` from ``fit_gesture_clusters``.
    """
    return f1_from_confusion(_confusion_update(preds, target, centres))


# ---------------------------------------------------------------- lip opening (SDT, pixels)

LIP_JOINTS = ("Face62", "Face66")
"""Upper and lower inner-lip middle points of the OpenPose face (``sdt121`` indices 71 and 75), whose
distance is SDT's lip opening (notes SDT §5)."""
LIP_EPSILON = 1e-4
"""Added to the clip's largest GT opening before dividing by it (SDT's ``lip_sync_error_n``)."""


def lip_opening(poses: ArrayLike, upper: int, lower: int) -> Tensor:
    """``(B, T)`` distance between joints ``upper`` and ``lower`` of pixel-space poses ``(B, T, J, 2)``."""
    poses = _as_tensor(poses)
    _check_joints(poses, "poses")
    return torch.linalg.vector_norm(poses[..., lower, :] - poses[..., upper, :], dim=-1)


def _lip_sync_update(preds: ArrayLike, target: ArrayLike, upper: int, lower: int) -> tuple[Tensor, int]:
    """Sum over frames of ``|o_pred − o_gt| / (max_t o_gt + 1e-4)`` (per clip, i.e. batch row) and the
    number of frames; preds, target ``(B, T, J, 2)`` pixels."""
    preds, target = _check_pair(preds, target, _check_joints)
    predicted = lip_opening(preds.double(), upper, lower)
    truth = lip_opening(target.double(), upper, lower)
    scale = truth.amax(dim=1, keepdim=True) + LIP_EPSILON
    return ((predicted - truth).abs() / scale).sum(), truth.numel()


def lip_sync_error(preds: ArrayLike, target: ArrayLike, upper: int, lower: int) -> float:
    """SDT's ``lip_sync_error_n`` (notes SDT §5): lip openings ``o = ‖P[lower] − P[upper]‖`` of generated
    and GT poses, both divided by the clip's largest GT opening + 1e-4, mean absolute difference over every
    frame. 0 for the ground truth itself.

    Args:
        preds, target: pixel-space poses ``(B, T, J, 2)``; each batch row is one clip.
        upper, lower: joint indices of the inner-lip middle points (`LIP_JOINTS`).
    """
    total, count = _lip_sync_update(preds, target, upper, lower)
    return float(total / count)
