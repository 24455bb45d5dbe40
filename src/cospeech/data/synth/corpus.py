"""Write a complete synthetic corpus in the PATS on-disk format (see ``gesture.py`` for the model).

Each speaker gets a voice and a gesture style from the seed; each interval (6–20 s, like PATS' 10.7 s mean)
gets a syllable timeline, a waveform, and poses. Files written per interval: the PATS keys
(``pose/data`` in camera pixels with the neck absolute, ``pose/normalize``, ``pose/confidence``,
``audio/log_mel_400``, ``audio/log_mel_512`` computed at 16 kHz), the oracle ``oracle/normalize`` and the
speech as FLAC under ``raw/<speaker>_cropped/``. ``synth_speakers.json`` records every style parameter.

The whole corpus is built in a temporary directory and renamed into place, so an interrupted run leaves
nothing that looks like a corpus. The same seed gives byte-identical arrays on every machine (NumPy's
PCG64 streams, one per speaker and interval).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile

from cospeech.audio import SAMPLE_RATE, log_mel_400, log_mel_512
from cospeech.data.pats import (
    RAW_DIR,
    IntervalRecord,
    write_interval,
    write_intervals_table,
    write_missing_intervals,
)
from cospeech.data.poses import joints_to_flat
from cospeech.data.synth.gesture import (
    SHOULDER_OFFSET,
    GestureStyle,
    compose_pose,
    idle_sway,
    observation_noise,
    plan_gestures,
    random_style,
    stroke_profile,
    wrist_trajectories,
)
from cospeech.data.synth.speech import VoiceStyle, random_voice, render_speech, syllable_timeline
from cospeech.data.windows import POSE_FPS
from cospeech.errors import ConfigError
from cospeech.files import atomic_write
from cospeech.skeletons import PATS52

SPEAKER_NAMES = ("ava", "ben", "cleo", "dev", "eli", "fay", "gus", "hana", "ivo", "june", "kai", "lena")
STYLE_FILE = "synth_speakers.json"
INTERVAL_SECONDS = (6.0, 20.0)
HELD_OUT_SHARE = 0.1  # of each speaker's intervals, for dev and for test


@dataclass(frozen=True)
class SpeakerProfile:
    """Everything that makes one synthetic speaker: voice, gestures and camera."""

    name: str
    voice: VoiceStyle
    gesture: GestureStyle
    camera_scale: float
    """Shoulder-to-neck distance in camera pixels (pose/data); pose/normalize rescales it to 167."""
    neck_position: tuple[float, float]


@dataclass(frozen=True)
class SynthSummary:
    root: Path
    speakers: list[str]
    intervals: int
    seconds: float
    elapsed: float


def speaker_name(index: int) -> str:
    return SPEAKER_NAMES[index] if index < len(SPEAKER_NAMES) else f"speaker{index:02d}"


def make_profile(index: int, seed: int) -> SpeakerProfile:
    rng = np.random.default_rng([seed, index, 0])
    return SpeakerProfile(
        name=speaker_name(index),
        voice=random_voice(rng),
        gesture=random_style(rng),
        camera_scale=float(rng.uniform(60, 110)),
        neck_position=(float(rng.uniform(500, 780)), float(rng.uniform(180, 260))),
    )


def synthesize_interval(
    profile: SpeakerProfile, seconds: float, rng: np.random.Generator
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """PATS arrays of one interval and its 16 kHz waveform."""
    n_frames = int(seconds * POSE_FPS)
    syllables = syllable_timeline(profile.voice, seconds, rng)
    waveform = render_speech(syllables, profile.voice, seconds, SAMPLE_RATE, rng)
    style = profile.gesture
    plan = plan_gestures(syllables, style, rng)
    t = (np.arange(n_frames) + 0.5) / POSE_FPS
    nod = -6.0 * sum(
        (syllables.stress[s] * stroke_profile(t - syllables.onset[s], style) for s in plan.syllable),
        np.zeros(n_frames),
    )
    wrists, activity = wrist_trajectories(syllables, plan, style, n_frames, intended=True)
    intended = compose_pose(wrists, activity, style, nod)
    observed_wrists, observed_activity = wrist_trajectories(syllables, plan, style, n_frames, intended=False)
    observed = compose_pose(observed_wrists + idle_sway(n_frames, rng), observed_activity, style, nod)
    observed = observed + observation_noise(n_frames, rng)
    neck = np.array(profile.neck_position) + np.cumsum(rng.normal(0, 0.3, (n_frames, 2)), axis=0)
    data = _camera(observed, profile.camera_scale / SHOULDER_OFFSET, neck)
    confidence = np.clip(rng.normal(0.85, 0.08, (n_frames, PATS52.num_joints)), 0.05, 1.0)
    arrays = {
        "pose/data": joints_to_flat(data),
        "pose/normalize": joints_to_flat(_pats_normalize(data)),
        "pose/confidence": np.concatenate([confidence, confidence], axis=1),
        "oracle/normalize": joints_to_flat(_pats_normalize(_camera(intended, 1.0, neck))),
        "audio/log_mel_400": log_mel_400(waveform, sr=SAMPLE_RATE),
        "audio/log_mel_512": log_mel_512(waveform, sr=SAMPLE_RATE),
    }
    return arrays, waveform


def _camera(pose: np.ndarray, scale: float, neck: np.ndarray) -> np.ndarray:
    """pose/data layout: neck absolute, other joints offsets in camera pixels."""
    data = pose * scale
    data[:, 0] = neck
    return data


def _pats_normalize(data: np.ndarray) -> np.ndarray:
    """PATS pose/normalize: offsets rescaled per frame so ‖RShoulder − Neck‖ = 167; neck kept absolute."""
    shoulder = np.linalg.norm(data[:, PATS52.index("RShoulder")], axis=-1)
    out = data * (SHOULDER_OFFSET / shoulder)[:, None, None]
    out[:, 0] = data[:, 0]
    return out


def split_names(n_intervals: int) -> list[str]:
    """Splits of a speaker's intervals in time order: ≈80/10/10 train/dev/test, at least one each."""
    held_out = max(1, round(HELD_OUT_SHARE * n_intervals))
    return ["train"] * (n_intervals - 2 * held_out) + ["dev"] * held_out + ["test"] * held_out


def synthesize_corpus(
    out: str | Path, *, speakers: int = 5, minutes: float = 6.0, seed: int = 0, overwrite: bool = False
) -> SynthSummary:
    """Write a synthetic PATS corpus of ``speakers`` × ``minutes`` to ``out`` (atomically)."""
    if speakers < 1 or minutes <= 0:
        raise ConfigError(f"need speakers ≥ 1 and minutes > 0, got speakers={speakers}, minutes={minutes}")
    out = Path(out)
    if out.exists() and not overwrite:
        raise ConfigError(f"{out} already exists; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    records: list[IntervalRecord] = []
    total = 0.0
    profiles = [make_profile(i, seed) for i in range(speakers)]
    with atomic_write(out) as tmp:
        tmp.mkdir()
        for s, profile in enumerate(profiles):
            lengths = _interval_lengths(minutes * 60.0, np.random.default_rng([seed, s, 1]))
            for k, (seconds, split) in enumerate(zip(lengths, split_names(len(lengths)), strict=True)):
                interval_id = f"{s:02d}{k:05d}"
                arrays, waveform = synthesize_interval(
                    profile, seconds, np.random.default_rng([seed, s, 2, k])
                )
                write_interval(tmp, profile.name, interval_id, arrays)
                raw = tmp / RAW_DIR / f"{profile.name}_cropped"
                raw.mkdir(parents=True, exist_ok=True)
                soundfile.write(raw / f"{interval_id}.flac", waveform, SAMPLE_RATE, subtype="PCM_16")
                records.append(
                    IntervalRecord(interval_id, profile.name, split, seconds, video_fn=f"synth_{s}")
                )
                total += seconds
        write_intervals_table(tmp, records)
        write_missing_intervals(tmp, [])
        (tmp / STYLE_FILE).write_text(json.dumps([_profile_json(p) for p in profiles], indent=1))
    return SynthSummary(out, [p.name for p in profiles], len(records), total, time.perf_counter() - started)


def _interval_lengths(total: float, rng: np.random.Generator) -> list[float]:
    """Interval durations (s) summing to ≈ ``total``; enough that train keeps at least one."""
    lengths: list[float] = []
    while sum(lengths) < total - INTERVAL_SECONDS[0] or len(lengths) < 3:
        lengths.append(round(float(rng.uniform(*INTERVAL_SECONDS)), 3))
    return lengths


def _profile_json(profile: SpeakerProfile) -> dict:
    record = asdict(profile)
    record["gesture"]["repertoire"] = profile.gesture.repertoire.round(4).tolist()
    return record
