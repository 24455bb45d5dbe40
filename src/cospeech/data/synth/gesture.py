"""Gestures caused by the synthetic speech, in each speaker's style.

Poses live in PATS ``pose/normalize`` units: neck at the origin, image axes (x right, y down), the right
shoulder 167 px from the neck. Arms are two-link chains solved by inverse kinematics from wrist targets;
hands are 21-joint OpenPose hands that follow the forearm and open during strokes.

The **intended gesture** (the oracle) is a deterministic function of what can be heard plus the speaker's
style and per-gesture choices:

* every **stressed syllable** starts a gesture: a stroke that peaks ``stroke_seconds`` after the onset,
  holds, then retracts;
* its **shape** is the speaker's repertoire entry for the syllable's **vowel** (a wrist displacement);
* its **size** is the speaker's amplitude × the syllable's loudness;
* during phrases the hands rise into the speaker's gesture space, and sink back to rest in pauses;
* the hand is the speaker's dominant one, or both for the loudest syllables; with probability
  ``1 − handedness`` the other hand is used (a choice the audio does not reveal);
* a **gesture-bearing word** (``words.GESTURE_WORDS``) moves the hands it involves by its own displacement
  (`word_gesture_offsets`, e.g. both hands outward for "wide"), scaled by the speaker's amplitude, on top
  of the strokes: the movement completes at the word's onset and holds until ``hold_seconds`` after its
  end, then retracts. Only the transcript reveals these.

The **observed** poses add what no model can predict: per-gesture amplitude (±20 %; word gestures reach
85–100 % of the way) and timing (±50 ms) jitter, a slow idle sway, and per-frame keypoint noise. The
oracle therefore bounds from below the error a model can reach.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cospeech.data.synth.speech import N_VOWELS, STRESSED, Syllables
from cospeech.data.synth.words import GESTURE_WORDS
from cospeech.data.windows import POSE_FPS
from cospeech.skeletons import FINGERS, JOINTS_PER_FINGER, PATS52

SHOULDER_OFFSET = 167.0  # PATS pose/normalize: ‖RShoulder − Neck‖
UPPER_ARM = 250.0
FOREARM = 220.0
ELBOW_SWING = 0.45  # how far the upper arm turns from hanging down toward the wrist
PALM = 65.0
PHALANGES = (32.0, 22.0, 18.0)
FINGER_SPREAD_DEG = (-55.0, -18.0, 0.0, 14.0, 28.0)  # thumb … little, relative to the forearm direction
HEAD = {"Nose": (0.0, -125.0), "REye": (-28.0, -155.0), "LEye": (28.0, -155.0)}
NOISE_PX = {"body": 2.0, "hand": 1.5}
WORD_RISE = 2.0
"""A word's gesture rises over this many of the speaker's ``stroke_seconds``: a larger, slower movement."""


@dataclass(frozen=True)
class GestureStyle:
    """How one speaker moves."""

    rest_wrist: tuple[tuple[float, float], tuple[float, float]]
    """Rest positions of the right and left wrist (neck-relative)."""
    gesture_space: tuple[float, float]
    """Wrist offset (dx, dy) while speaking, applied to both hands (mirrored in x for the left)."""
    amplitude: float
    """Size of a fully stressed stroke, in pose/normalize pixels."""
    repertoire: np.ndarray
    """(N_VOWELS, 2) unit wrist directions of the dominant hand, one per vowel."""
    dominant: int
    """0 right, 1 left."""
    handedness: float
    """Chance that a one-handed gesture uses the dominant hand."""
    stroke_seconds: float
    """Onset-to-peak time of a stroke (the speaker's tempo)."""
    hold_seconds: float
    retract_seconds: float
    shoulder_drop: float
    """Vertical shoulder offset (posture)."""


def random_style(rng: np.random.Generator) -> GestureStyle:
    angles = rng.uniform(0, 2 * np.pi) + np.arange(N_VOWELS) * (2 * np.pi / N_VOWELS) + rng.normal(0, 0.25, 4)
    rx, ry = rng.uniform(-140, -40), rng.uniform(330, 420)
    return GestureStyle(
        rest_wrist=((rx, ry), (-rx + rng.uniform(-25, 25), ry + rng.uniform(-25, 25))),
        gesture_space=(float(rng.uniform(-50, 10)), float(rng.uniform(-150, -60))),
        amplitude=float(rng.uniform(60, 130)),
        repertoire=np.stack([np.cos(angles), np.sin(angles)], axis=1),
        dominant=int(rng.integers(2)),
        handedness=float(rng.uniform(0.75, 0.95)),
        stroke_seconds=float(rng.uniform(0.18, 0.32)),
        hold_seconds=float(rng.uniform(0.05, 0.2)),
        retract_seconds=float(rng.uniform(0.35, 0.7)),
        shoulder_drop=float(rng.uniform(-10, 20)),
    )


def stroke_profile(t: np.ndarray, style: GestureStyle) -> np.ndarray:
    """Smooth rise to 1 at ``stroke_seconds``, hold, retract to 0; zero before onset."""
    rise = 0.5 - 0.5 * np.cos(np.pi * np.clip(t / style.stroke_seconds, 0, 1))
    after = t - style.stroke_seconds - style.hold_seconds
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip(after / style.retract_seconds, 0, 1))
    return np.where(t < 0, 0.0, np.where(after > 0, fall, rise))


@dataclass(frozen=True)
class GesturePlan:
    """Per-gesture choices for one interval (arrays (g,)): which syllables gesture, with which hands."""

    syllable: np.ndarray
    hands: np.ndarray
    """(g, 2) weight of the right and left hand."""
    amplitude_jitter: np.ndarray
    time_jitter: np.ndarray
    word: np.ndarray
    """(m,) indices in ``syllables.words`` of the gesture-bearing words."""
    word_reach: np.ndarray
    """(m,) share (0.85–1) of the word's displacement the observed hands travel (all of it in the oracle)."""
    word_time_jitter: np.ndarray


def plan_gestures(syllables: Syllables, style: GestureStyle, rng: np.random.Generator) -> GesturePlan:
    """Which syllables and words gesture, with which hands, and the observed poses' jitter."""
    chosen = np.flatnonzero(syllables.stress >= STRESSED)
    hands = np.zeros((len(chosen), 2))
    both = syllables.stress[chosen] >= 0.95
    use_dominant = rng.random(len(chosen)) < style.handedness
    which = np.where(use_dominant, style.dominant, 1 - style.dominant)
    hands[np.arange(len(chosen)), which] = 1.0
    hands[both] = 1.0
    words = np.array([w for w, word in enumerate(syllables.words) if word in GESTURE_WORDS], dtype=np.int64)
    return GesturePlan(
        syllable=chosen,
        hands=hands,
        amplitude_jitter=rng.uniform(0.8, 1.2, len(chosen)),
        time_jitter=rng.uniform(-0.05, 0.05, len(chosen)),
        word=words,
        word_reach=rng.uniform(0.85, 1.0, len(words)),
        word_time_jitter=rng.uniform(-0.05, 0.05, len(words)),
    )


def word_gesture_offsets(word: str, style: GestureStyle) -> np.ndarray:
    """(2, 2) wrist displacements [hand R/L, xy] (pose/normalize px) of a gesture-bearing word, in units of
    the speaker's ``amplitude`` A (60–130 px, so each speaker makes it their own size); zero for a hand the
    word leaves alone. "wide": both wrists 1.5 A outward; "high": the dominant wrist 2 A up (and 0.3 A
    outward); "together": both wrists 1.5 A inward and 0.5 A up. (x: the right hand sits at negative x;
    y points down.) An unknown word is a ValueError."""
    outward = np.array([-1.0, 1.0])  # x direction away from the body, right and left hand
    offsets = np.zeros((2, 2))
    if word == "wide":
        offsets[:, 0] = 1.5 * outward
    elif word == "high":
        offsets[style.dominant] = (0.3 * outward[style.dominant], -2.0)
    elif word == "together":
        offsets[:] = np.stack([-1.5 * outward, [-0.5, -0.5]], axis=1)
    else:
        raise ValueError(f"{word!r} is not a gesture-bearing word; those are {list(GESTURE_WORDS)}")
    return offsets * style.amplitude


def word_gesture_profile(t: np.ndarray, start: float, end: float, style: GestureStyle) -> np.ndarray:
    """(T,) 0…1 weight of a word's gesture at times ``t`` (s): a smooth rise over `WORD_RISE` ×
    ``stroke_seconds`` that completes at the word's ``start`` (the gesture anticipates its word, as strokes
    do their lexical affiliates), hold until ``end + hold_seconds``, retraction over ``retract_seconds``."""
    rise = 0.5 + 0.5 * np.cos(np.pi * np.clip((start - t) / (WORD_RISE * style.stroke_seconds), 0, 1))
    fall = 0.5 + 0.5 * np.cos(np.pi * np.clip((t - end - style.hold_seconds) / style.retract_seconds, 0, 1))
    return np.minimum(rise, fall)


def speaking_envelope(syllables: Syllables, n_frames: int) -> np.ndarray:
    """(T,) 0…1: how far the hands are raised into gesture space (eases in and out of phrases)."""
    t = (np.arange(n_frames) + 0.5) / POSE_FPS
    active = np.zeros(n_frames)
    for p in np.unique(syllables.phrase):
        members = syllables.phrase == p
        start = syllables.onset[members][0]
        end = syllables.onset[members][-1] + syllables.duration[members][-1]
        active = np.maximum(active, np.clip(np.minimum(t - start + 0.3, end + 0.4 - t) / 0.3, 0, 1))
    return 0.5 - 0.5 * np.cos(np.pi * active)


def wrist_trajectories(
    syllables: Syllables, plan: GesturePlan, style: GestureStyle, n_frames: int, *, intended: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Wrist positions (T, 2, 2) [frame, hand R/L, xy] and stroke activity (T, 2) per hand.

    ``intended=False`` applies the plan's amplitude and timing jitter."""
    t = (np.arange(n_frames) + 0.5) / POSE_FPS
    rest = np.array(style.rest_wrist)
    space = np.array([style.gesture_space, (-style.gesture_space[0], style.gesture_space[1])])
    wrists = rest[None] + speaking_envelope(syllables, n_frames)[:, None, None] * space[None]
    activity = np.zeros((n_frames, 2))
    for g, s in enumerate(plan.syllable):
        onset = syllables.onset[s] + (0.0 if intended else plan.time_jitter[g])
        size = style.amplitude * syllables.stress[s] * (1.0 if intended else plan.amplitude_jitter[g])
        profile = stroke_profile(t - onset, style)
        direction = style.repertoire[syllables.vowel[s]]
        for hand in (0, 1):
            if plan.hands[g, hand] == 0:
                continue
            mirrored = direction if hand == style.dominant else direction * np.array([-1.0, 1.0])
            wrists[:, hand] += profile[:, None] * size * mirrored[None]
            activity[:, hand] = np.maximum(activity[:, hand], profile)
    end = syllables.onset + syllables.duration
    for g, w in enumerate(plan.word):
        members = np.flatnonzero(syllables.word == w)
        shift = 0.0 if intended else plan.word_time_jitter[g]
        weight = word_gesture_profile(t, syllables.onset[members[0]] + shift, end[members[-1]] + shift, style)
        weight = weight * (1.0 if intended else plan.word_reach[g])
        offsets = word_gesture_offsets(syllables.words[w], style)
        wrists += weight[:, None, None] * offsets[None]
        for hand in np.flatnonzero(offsets.any(axis=1)):
            activity[:, hand] = np.maximum(activity[:, hand], weight)
    return wrists, activity


def _place_elbow(shoulder: np.ndarray, wrist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Returns (elbow, reachable wrist). A 2-D projection of an arm gesturing in front of the body: the
    upper arm hangs mostly down and swings part of the way toward the wrist; the forearm, pointing at the
    camera, is foreshortened as needed (so no 2-D two-link IK, which would flare the elbows sideways)."""
    delta = wrist - shoulder
    dist = np.linalg.norm(delta, axis=-1, keepdims=True)
    wrist = shoulder + delta / np.maximum(dist, 1e-6) * np.minimum(dist, UPPER_ARM + FOREARM)
    phi = np.arctan2(delta[..., 1], delta[..., 0])
    down = np.pi / 2
    swing = down + ELBOW_SWING * np.angle(np.exp(1j * (phi - down)))
    elbow = shoulder + UPPER_ARM * np.stack([np.cos(swing), np.sin(swing)], axis=-1)
    return elbow, wrist


def _hand(wrist: np.ndarray, elbow: np.ndarray, openness: np.ndarray, mirror: float) -> np.ndarray:
    """(T, 21, 2) hand joints: root at the wrist, fingers fanned along the forearm, curled when closed."""
    forearm = np.arctan2(wrist[:, 1] - elbow[:, 1], wrist[:, 0] - elbow[:, 0])
    joints = [wrist]
    curl = np.deg2rad(55.0) * (1.0 - openness)
    for f, spread in enumerate(FINGER_SPREAD_DEG):
        angle = forearm + mirror * np.deg2rad(spread)
        palm = PALM * (0.55 if FINGERS[f] == "Thumb" else 1.0)
        point = wrist + palm * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
        joints.append(point)
        for k in range(JOINTS_PER_FINGER - 1):
            angle = angle + mirror * curl
            point = point + PHALANGES[k] * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
            joints.append(point)
    return np.stack(joints, axis=1)


def compose_pose(
    wrists: np.ndarray, activity: np.ndarray, style: GestureStyle, head_nod: np.ndarray
) -> np.ndarray:
    """Full ``pats52`` poses (T, 52, 2), neck at the origin."""
    n = len(wrists)
    pose = np.zeros((n, PATS52.num_joints, 2))
    for side, (prefix, sign) in enumerate((("R", -1.0), ("L", 1.0))):
        shoulder = np.array([sign * SHOULDER_OFFSET, style.shoulder_drop])
        elbow, wrist = _place_elbow(np.broadcast_to(shoulder, (n, 2)), wrists[:, side])
        pose[:, PATS52.index(f"{prefix}Shoulder")] = shoulder
        pose[:, PATS52.index(f"{prefix}Elbow")] = elbow
        pose[:, PATS52.index(f"{prefix}Wrist")] = wrist
        root = PATS52.index(f"{prefix}HandRoot")
        openness = 0.25 + 0.75 * activity[:, side]
        pose[:, root : root + 21] = _hand(wrist, elbow, openness, mirror=-sign)
    for name, (x, y) in HEAD.items():
        pose[:, PATS52.index(name), 0] = x
        pose[:, PATS52.index(name), 1] = y + head_nod
    return pose


def observation_noise(n_frames: int, rng: np.random.Generator) -> np.ndarray:
    """(T, 52, 2) keypoint detection noise, larger on the body than on the hands."""
    scale = np.full(PATS52.num_joints, NOISE_PX["body"])
    for group in ("left_hand", "right_hand"):
        scale[list(PATS52.groups[group])] = NOISE_PX["hand"]
    return rng.standard_normal((n_frames, PATS52.num_joints, 2)) * scale[None, :, None]


def idle_sway(n_frames: int, rng: np.random.Generator, amplitude: float = 12.0) -> np.ndarray:
    """(T, 2, 2) slow random wrist drift (≈0.3 Hz), unrelated to speech."""
    steps = rng.standard_normal((n_frames + 60, 2, 2))
    kernel = np.hanning(31)
    kernel /= kernel.sum()
    smooth = np.apply_along_axis(lambda x: np.convolve(x, kernel, mode="same"), 0, steps)[30 : 30 + n_frames]
    return amplitude * smooth / max(smooth.std(), 1e-6) * 0.5
