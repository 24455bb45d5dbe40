"""Faces for the synthetic speakers: the OpenPose 70-point face, driven by the speech, on the full
``openpose137`` skeleton.

Points are in the units of ``gesture.py`` (PATS ``pose/normalize``: neck at the origin, y down, the right
shoulder 167 px away) and follow OpenPose's face-70 order: jaw 0–16, brows 17–26, nose 27–35 (nose tip 30),
eyes 36–47, outer lips 48–59, inner lips 60–67 (upper middle 62, lower middle 66), pupils 68–69.

What the face does, from the speech's own syllable timeline (``speech.Syllables``):

* the **mouth opens** on every syllable: the lower lip and jaw drop, the upper lip rises, by
  ``MAX_OPENING`` × the syllable's loudness (stress) × its vowel's opening (`VOWEL_OPENING`: /a/ wide,
  /i/ and /u/ narrow), over a smooth rise and fall across the syllable; the lips spread for /i/ and round
  for /u/ (`VOWEL_WIDTH`). Closed in pauses. So lip opening is caused by what can be heard;
* the **eyes blink** every 2–6 s (0.2 s, closing and reopening);
* the **head** nods with the gesture strokes (the ``nod`` the PATS nose and eyes already carry) and turns
  slowly (a small random roll about the nose tip, ±4°).

Every random draw comes from the generator given after the body's draws, so the PATS files of the
built-in corpus are the same whether or not faces are made.
"""

from __future__ import annotations

import numpy as np

from cospeech.data.synth.speech import N_VOWELS, Syllables
from cospeech.data.windows import POSE_FPS
from cospeech.skeletons import OPENPOSE137, PATS52

FACE_POINTS = 70
NOSE_TIP = 30
UPPER_LIP, LOWER_LIP = 62, 66
"""Inner-lip middle points (121-indices 71 and 75 of ``sdt121``, the SDT lip metric's, notes §5)."""
MAX_OPENING = 34.0
"""Inner-lip gap (px) of a fully stressed /a/."""
JAW_ATTACK = 0.06
"""Seconds the mouth takes to open at a syllable's onset."""
CLOSED_GAP = 2.0
"""Inner-lip gap (px) of a closed mouth."""
VOWEL_OPENING = np.array([1.0, 0.35, 0.75, 0.45])
"""Opening per vowel (``speech.VOWEL_FORMANTS`` order /a/, /i/, /ɔ/, /u/): F1 is jaw height."""
VOWEL_WIDTH = np.array([0.0, 0.18, -0.08, -0.22])
"""Relative mouth widening per vowel (spread /i/, rounded /u/)."""
BLINK_SECONDS = 0.2
BLINK_INTERVAL = (2.0, 6.0)
ROLL_DEGREES = 4.0
FACE_NOISE_PX = 1.0
"""Keypoint noise of face points, below the body's and hands' (``gesture.NOISE_PX``)."""
EARS = {"REar": (-62.0, -140.0), "LEar": (62.0, -140.0)}
"""Ear positions (neck-relative); legs and feet are out of the picture (not detected)."""
assert len(VOWEL_OPENING) == len(VOWEL_WIDTH) == N_VOWELS


def _template() -> np.ndarray:
    """(70, 2) neutral face relative to the nose tip, mouth closed, eyes open; eye centres ±28 px
    horizontally and 30 px above the nose tip, where ``gesture.HEAD`` puts the PATS eyes."""
    face = np.zeros((FACE_POINTS, 2))
    angle = np.pi - np.arange(17) * np.pi / 16  # jaw: right ear level → chin → left ear level
    face[0:17] = np.stack([68 * np.cos(angle), -30 + 76 * np.sin(angle)], axis=1)
    brow = np.linspace(-50, -12, 5)
    face[17:22] = np.stack([brow, -46 - 6 * np.sin(np.linspace(0, np.pi, 5))], axis=1)
    face[22:27] = face[17:22][::-1] * [-1, 1]
    face[27:31] = np.stack([np.zeros(4), [-30, -20, -10, 0]], axis=1)
    face[31:36] = np.stack([np.linspace(-14, 14, 5), [5, 7, 8, 7, 5]], axis=1)
    eye = np.array([[-12, 0], [-4, -4], [4, -4], [12, 0], [4, 4], [-4, 4]], dtype=float)
    # both eyes from their image-left corner, clockwise: 36 is the right eye's outer, 42 the left's inner
    face[36:42] = eye + np.array([-28.0, -30.0])
    face[42:48] = eye + np.array([28.0, -30.0])
    mouth_y = 24.0
    outer_x = np.array([-24, -16, -7, 0, 7, 16, 24, 16, 7, 0, -7, -16], dtype=float)
    outer_y = np.array([0, -5, -7, -6, -7, -5, 0, 6, 8, 9, 8, 6], dtype=float)
    face[48:60] = np.stack([outer_x, mouth_y + outer_y], axis=1)
    inner_x = np.array([-18, -7, 0, 7, 18, 7, 0, -7], dtype=float)
    inner_y = np.array([0, -1, -1, -1, 0, 1, 1, 1], dtype=float) * CLOSED_GAP / 2
    face[60:68] = np.stack([inner_x, mouth_y + inner_y], axis=1)
    face[68], face[69] = face[36:42].mean(axis=0), face[42:48].mean(axis=0)
    return face


FACE_TEMPLATE = _template()
_UPPER = np.array([49, 50, 51, 52, 53, 61, 62, 63])
_LOWER = np.array([55, 56, 57, 58, 59, 65, 66, 67])
_LIPS = np.arange(48, 68)
_CHIN = np.arange(4, 13)


def mouth_opening(syllables: Syllables, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(T,) inner-lip gap beyond closed (px) and (T,) relative mouth widening, from the syllables: each
    syllable opens the mouth by ``MAX_OPENING`` × stress × `VOWEL_OPENING` of its vowel, following the
    loudness envelope of ``speech.render_speech`` (rise, then decay over the syllable) with a slower,
    `JAW_ATTACK` rise: the jaw cannot move as fast as the sound."""
    t = (np.arange(n_frames) + 0.5) / POSE_FPS
    if len(syllables.onset) == 0:
        return np.zeros(n_frames), np.zeros(n_frames)
    index = np.maximum(np.searchsorted(syllables.onset, t, side="right") - 1, 0)  # syllables never overlap
    since = t - syllables.onset[index]
    duration = syllables.duration[index]
    inside = (since > 0) & (since < duration)
    since = np.clip(since, 0.0, duration)
    shape = np.where(inside, np.minimum(since / JAW_ATTACK, 1.0) * np.exp(-2.5 * since / duration), 0.0)
    vowel = syllables.vowel[index]
    opening = MAX_OPENING * syllables.stress[index] * VOWEL_OPENING[vowel] * shape
    width = VOWEL_WIDTH[vowel] * shape
    return opening, width


def blinks(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T,) eyelid closure 0 (open) … 1 (shut): a blink every `BLINK_INTERVAL` s, `BLINK_SECONDS` long."""
    t = (np.arange(n_frames) + 0.5) / POSE_FPS
    closure = np.zeros(n_frames)
    start = rng.uniform(0, BLINK_INTERVAL[1])
    while start < n_frames / POSE_FPS:
        middle = start + BLINK_SECONDS / 2
        closure = np.maximum(closure, np.clip(1 - np.abs(t - middle) / (BLINK_SECONDS / 2), 0, 1))
        start += rng.uniform(*BLINK_INTERVAL)
    return closure


def face_points(syllables: Syllables, nose_tip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(T, 70, 2) face points around ``nose_tip`` (T, 2) (the PATS nose, nod included): mouth from the
    syllables (`mouth_opening`), blinks, a slow head roll, and 1 px keypoint noise."""
    n = len(nose_tip)
    face = np.broadcast_to(FACE_TEMPLATE, (n, FACE_POINTS, 2)).copy()
    opening, width = mouth_opening(syllables, n)
    centre_x = face[:, _LIPS, 0]
    face[:, _LIPS, 0] = centre_x * (1 + width[:, None])
    for lip, share in ((_UPPER, -0.3), (_LOWER, 0.7)):  # corners stay, the middle moves most
        face[:, lip, 1] += share * opening[:, None] * (1 - (FACE_TEMPLATE[lip, 0] / 24) ** 2)
    chin = np.sin(np.pi * (FACE_TEMPLATE[_CHIN, 0] + 68) / 136)  # the jaw drops most at the chin
    face[:, _CHIN, 1] += 0.6 * opening[:, None] * chin
    shut = blinks(n, rng)
    for first in (36, 42):
        lids = np.arange(first, first + 6)
        centre_y = FACE_TEMPLATE[lids, 1].mean()
        face[:, lids, 1] = centre_y + (face[:, lids, 1] - centre_y) * (1 - 0.9 * shut[:, None])
    steps = np.convolve(rng.standard_normal(n + 60), np.hanning(45) / np.hanning(45).sum(), mode="same")
    roll = np.deg2rad(ROLL_DEGREES) * steps[30 : 30 + n] / max(steps.std(), 1e-6) * 0.5
    cos, sin = np.cos(roll)[:, None], np.sin(roll)[:, None]
    x, y = face[..., 0], face[..., 1]
    face = np.stack([cos * x - sin * y, sin * x + cos * y], axis=-1)
    return face + nose_tip[:, None] + rng.standard_normal(face.shape) * FACE_NOISE_PX


def openpose_pose(pats: np.ndarray, face: np.ndarray) -> np.ndarray:
    """``openpose137`` points (T, 137, 2) from the ``pats52`` body and hands (T, 52, 2) and the face
    (T, 70, 2), all in the same frame; ears at `EARS`; legs and feet NaN (not in the picture)."""
    n = len(pats)
    pose = np.full((n, OPENPOSE137.num_joints, 2), np.nan)
    for j, name in enumerate(PATS52.joint_names):
        pose[:, OPENPOSE137.index(name)] = pats[:, j]
    neck = pats[:, PATS52.index("Neck")]
    for name, offset in EARS.items():
        pose[:, OPENPOSE137.index(name)] = neck + offset
    first = OPENPOSE137.groups["face"][0]
    pose[:, first : first + FACE_POINTS] = face
    return pose
