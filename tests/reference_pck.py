"""The reference's PCK (Mix-StAGE ``PCK.get_thresh``), written out in NumPy for tests that check what the
data path, training logs and ``cospeech evaluate`` report as ``PCK_ref``: the threshold box spans all 52 GT
joints of the stored ``pats52`` pose, the neck set to the origin, and the 48 model joints are scored.

Importable from any test module (pytest puts ``tests/`` on the path with its conftest)."""

from __future__ import annotations

import numpy as np

from cospeech.data.corpus import Corpus
from cospeech.data.datamodule import WindowDataset
from cospeech.skeletons import PATS52, PATS_MODEL_JOINTS

ALPHAS = (0.1, 0.2)


def stored_windows(
    corpus: Corpus, dataset: WindowDataset, speakers: tuple[str, ...], indices: np.ndarray, key: str
) -> np.ndarray:
    """(N, T, 52, 2) GT poses of global windows ``indices`` of ``dataset`` (style s = ``speakers[s]``), read
    straight from the corpus files, not the window cache; neck at the origin, as the reference sets it
    before taking the box."""
    out = []
    for index in indices:
        style, interval, first = dataset.window_info(int(index))
        frames = dataset.caches[style].spec.frames
        stored = corpus.read(speakers[style], interval, [key])[key][first : first + frames]
        J = PATS52.num_joints
        joints = np.stack((stored[:, :J], stored[:, J:]), axis=-1).astype(np.float64)  # (T, 52, 2)
        joints[:, PATS52.index("Neck")] = 0.0
        out.append(joints)
    return np.stack(out)


def reference_pck(preds: np.ndarray, stored: np.ndarray) -> dict[str, float]:
    """``PCK_ref`` of pixel predictions ``(N, T, 48, 2)`` against ``stored`` GT ``(N, T, 52, 2)``."""
    target = stored[..., list(PATS_MODEL_JOINTS), :]
    size = (stored.max(axis=-2) - stored.min(axis=-2)).max(axis=-1)  # (N, T): the origin is a joint (neck)
    distance = np.linalg.norm(preds - target, axis=-1)  # (N, T, 48)
    per_alpha = {f"PCK_ref@{a:g}": float((distance < a * size[..., None]).mean()) for a in ALPHAS}
    return {"PCK_ref": float(np.mean(list(per_alpha.values()))), **per_alpha}
