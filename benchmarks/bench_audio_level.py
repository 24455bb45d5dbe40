"""Robustness to recording level and to the pauses' noise floor, with ``audio_level`` ``none`` and
``utterance``, on real synthesized speech (espeak-ng).

The speech: espeak-ng sentences joined by 0.6–1.2 s of exact digital silence, as a mono 16-bit WAV (the
"clean" version). Variants: the same 6 dB quieter (×10^(−6/20)); and a dithered 16-bit stereo FLAC
(triangular ±1 LSB dither over the whole file, as an export with dither writes it), whose pauses are no
longer exact zeros.

The models are **tiny**: ``speech2gesture`` trained for ``--epochs`` epochs of ``--batches`` batches of 4 on
a small built-in synthetic corpus (3 speakers × 1.5 min), once per mode with the same seed. They are far
from converged, so pixel figures are small; each difference is therefore also given relative to the
pose change between two *different* utterances (how much the model reacts to speech at all).

For each mode it prints the median over pose frames of the mean joint distance (px) between

* clean vs −6 dB (all frames),
* clean vs dithered (frames inside the pauses, and all frames),
* clean vs another utterance (the reference scale),

as JSON lines, then a Markdown table. Needs ``espeak-ng`` on the PATH (``apt-get install -y espeak-ng``).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_audio_level.py --epochs 3 --batches 60

Measured (2 CPU cores, ~8 min; 18.9 s of espeak-ng speech, 31 pose frames inside pauses; medians):

| audio_level | −6 dB px (/ other) | dither, pauses px (/ other) | dither, all px | other speech px |
|---|---|---|---|---|
| none | 1.24 (10.5 %) | 15.9 (134 %) | 9.89 | 11.8 |
| utterance | 0.015 (0.4 %) | 0.0078 (0.2 %) | 0.0148 | 4.12 |

The levelled tiny model also moves less between two utterances (4.1 px against 11.8 px); why is not
established (one seed, 180 steps).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile
import yaml

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.data.synth import synthesize_corpus
from cospeech.inference import GestureGenerator

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "After a long pause, it runs away into the forest.",
    "Nobody could find it again, not even the hunters.",
    "We spoke about the weather, the markets and the news.",
    "Then everyone went home, tired but happy.",
)
OTHER_SENTENCES = (
    "A completely different text, read by the same voice.",
    "It has other words, other rhythms and other pauses.",
    "Numbers like three hundred and forty two help too.",
)
MINUS_6_DB = 10 ** (-6 / 20)
SPEAKER = "ava"


def espeak(sentences: tuple[str, ...], workdir: Path, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(waveform (n,) float32 at 16 kHz, pause mask (n,)): the sentences with digital-silence gaps."""
    rng = np.random.default_rng(seed)
    parts, pauses = [], []
    for i, text in enumerate(sentences):
        path = workdir / f"s{seed}_{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
        speech = load_audio(path)
        gap = np.zeros(int(rng.uniform(0.6, 1.2) * SAMPLE_RATE), dtype=np.float32)
        parts += [speech, gap]
        pauses += [np.zeros(len(speech), bool), np.ones(len(gap), bool)]
    return np.concatenate(parts), np.concatenate(pauses)


def train(corpus: Path, workdir: Path, level: str, epochs: int, batches: int) -> Path:
    """A tiny speech2gesture run with ``--data.audio_level level``; returns its run directory."""
    from cospeech.training.engine import run_cli

    config = {
        "seed_everything": 1,
        "run": {"name": f"level_{level}"},
        "model": {
            "class_path": "cospeech.training.adversarial.AdversarialRecipe",
            "init_args": {"generator": "speech2gesture", "discriminator": "motion_discriminator"},
        },
        "data": {"speakers": ["ava", "ben"], "batch_size": 4, "window_hop": 8, "audio_level": level},
        "trainer": {
            "max_epochs": epochs,
            "limit_train_batches": batches,
            "limit_val_batches": 1,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "log_every_n_steps": 1,
        },
    }
    path = workdir / f"{level}.yaml"
    path.write_text(yaml.safe_dump(config))
    run_cli(["fit", "--config", str(path), "--data.root", str(corpus), "--data.cache_dir",
             str(workdir / "cache"), "--run.root", str(workdir / "runs")])  # fmt: skip
    return workdir / "runs" / f"level_{level}" / "version_0"


def frame_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) mean joint distance in px between poses ``a`` and ``b`` (T, J, 2), over the common frames."""
    n = min(len(a), len(b))
    return np.linalg.norm(a[:n] - b[:n], axis=-1).mean(axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batches", type=int, default=20, help="training batches per epoch")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not on the PATH: apt-get install -y espeak-ng")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clean, pause = espeak(SENTENCES, workdir, seed=0)
        other, _ = espeak(OTHER_SENTENCES, workdir, seed=1)
        rng = np.random.default_rng(0)
        stereo = np.stack([clean, clean], axis=1)
        tpdf = (rng.uniform(-1, 1, stereo.shape) + rng.uniform(-1, 1, stereo.shape)) / 32768
        soundfile.write(workdir / "clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "quiet.wav", MINUS_6_DB * clean, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "dithered.flac", stereo + tpdf, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "other.wav", other, SAMPLE_RATE, subtype="PCM_16")
        T = round(len(clean) * 15 / SAMPLE_RATE)
        frame_pause = pause[(np.arange(T) * SAMPLE_RATE // 15).clip(0, len(pause) - 1)]
        inside = frame_pause & np.roll(frame_pause, 3) & np.roll(frame_pause, -3)  # ≥ 0.2 s into a pause
        corpus = workdir / "corpus"
        synthesize_corpus(corpus, speakers=3, minutes=1.5, seed=0)
        rows = []
        for level in ("none", "utterance"):
            pipe = GestureGenerator.from_pretrained(train(corpus, workdir, level, args.epochs, args.batches))
            poses = {
                name: pipe.generate(workdir / file, speaker=SPEAKER, seed=0).poses
                for name, file in (("clean", "clean.wav"), ("quiet", "quiet.wav"),
                                   ("dithered", "dithered.flac"), ("other", "other.wav"))
            }  # fmt: skip
            scale = float(np.median(frame_distance(poses["clean"], poses["other"])))
            gain = float(np.median(frame_distance(poses["clean"], poses["quiet"])))
            dither = frame_distance(poses["clean"], poses["dithered"])
            row = {
                "audio_level": level,
                "speech_seconds": round(len(clean) / SAMPLE_RATE, 2),
                "pause_frames": int(inside.sum()),
                "other_speech_px": scale,
                "gain_px": gain,
                "dither_pause_px": float(np.median(dither[inside[: len(dither)]])),
                "dither_all_px": float(np.median(dither)),
            }
            for key in ("gain_px", "dither_pause_px", "dither_all_px"):
                row[key.replace("_px", "_rel")] = row[key] / scale
            print(json.dumps(row))
            rows.append(row)
    print()
    print("| audio_level | −6 dB (px) | −6 dB / other speech | dither, pauses (px) | / other speech "
          "| dither, all (px) | other speech (px) |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['audio_level']} | {r['gain_px']:.3g} | {r['gain_rel']:.1%} | {r['dither_pause_px']:.3g} | "
            f"{r['dither_pause_rel']:.1%} | {r['dither_all_px']:.3g} | {r['other_speech_px']:.3g} |"
        )


if __name__ == "__main__":
    main()
