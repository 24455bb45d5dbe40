"""Robustness to recording level and to the pauses' noise floor, with ``audio_level`` ``none`` and
``utterance``, on real synthesized speech (espeak-ng), with a model trained like the quickstart.

The speech: five espeak-ng sentences joined by 0.5–1.5 s of exact digital silence, as a mono 16-bit WAV (the
"clean" version). Variants: the same 6 dB quieter (×10^(−6/20)); and a dithered 16-bit stereo FLAC
(triangular ±1 LSB dither over the whole file, as an export with dither writes it), whose pauses are no
longer exact zeros. A different text read by the same voice gives the scale of a real change of input.

The models: ``configs/quickstart.yaml`` as it is (Speech2Gesture at half width, L1, speaker ``ava`` of the
built-in corpus, 15 minutes of that speaker: the quickstart corpus' ``ava``, best epoch on dev L1) with
``--epochs`` epochs instead of 14 (default 10, to stay near 5 minutes of CPU per setting), trained once per
``--data.audio_level`` with the same seed.

Measured per setting:

* **motion**: mean joint speed (px/frame, the mean over joints of ‖p_t − p_{t−1}‖) in the pauses and in
  the speech, for the digital-silence and the dithered file. Pauses and speech are found on the waveform
  the same way everywhere (``frame_classes``): a pose frame is *speech* if its 1/15 s of audio is within
  30 dB of the utterance's loud frames, *pause* if it and its neighbours are all quieter (at least 67 ms
  into a pause);
* **speaker-typical**: the same speeds of ``ava``'s own poses in the corpus, in its own pauses: the
  tracked poses (with the corpus' simulated detection noise, which alone moves joints ~3 px/frame) and the
  intended gesture (``oracle/normalize``, noise-free); and the model's speeds on the corpus' held-out
  speech (its own test intervals, whose pauses hold breath noise as in training). ``ava`` pauses for
  0.2–0.5 s between phrases, so her hands sink toward rest and rise again within each pause; the first
  second of each interval (hands rising from rest before the first phrase) is left out;
* **rest pose**: how far (px, mean joint distance) the model's mean pose in the espeak pauses is from
  ``ava``'s mean pose in its own pauses, and how far (px, mean over both wrists) its mean wrist positions
  there are from ``ava``'s rest wrist positions (her profile's ``rest_wrist``, where the corpus generator
  puts her hands when she is not speaking; her tracked wrists' offsets in her own pauses and speech give
  the scale);
* **level and dither**: the median over frames of the mean joint distance (px) between the poses for the
  clean file and for the −6 dB / dithered files, relative to that between two different texts.

Prints JSON lines, then Markdown tables. Needs ``espeak-ng`` on the PATH (``apt-get install -y espeak-ng``).

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_audio_level.py --epochs 10

Results are in BENCHMARKS.md ("Audio level and noise floor").
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile
import torch

from cospeech.audio import SAMPLE_RATE, load_audio
from cospeech.data.corpus import SPLITS, open_corpus
from cospeech.data.poses import flat_to_joints
from cospeech.data.synth import synthesize_corpus
from cospeech.data.synth.corpus import make_profile
from cospeech.data.windows import POSE_FPS
from cospeech.inference import GestureGenerator
from cospeech.skeletons import PATS48

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
QUICKSTART = Path(__file__).resolve().parents[1] / "configs" / "quickstart.yaml"
CORPUS_MINUTES = 15.0  # the quickstart corpus' minutes per speaker
SPEECH_DB = -30.0
"""A pose frame whose audio RMS is within this many dB of the utterance's loud frames (95th percentile) is
speech; the synthetic corpus' breath noise lies ~35 dB below its speech, espeak-ng's pauses are silent."""
PAUSE_MARGIN = 1
"""Frames on each side of a pause frame that must be quiet too (67 ms at 15 fps)."""
SKIPPED_START = POSE_FPS
"""Pose frames at the start of each corpus interval left out of its statistics (1 s)."""
WRISTS = [PATS48.index("RWrist"), PATS48.index("LWrist")]
REST_WRISTS = np.array(make_profile(0, 0).gesture.rest_wrist)
"""(2, 2) ``ava``'s rest positions of the right and left wrist, neck-relative ``pose/normalize`` pixels."""


def espeak(sentences: tuple[str, ...], workdir: Path, seed: int) -> np.ndarray:
    """(n,) float32 at 16 kHz: the sentences with 0.5–1.5 s of digital silence after each."""
    rng = np.random.default_rng(seed)
    parts = []
    for i, text in enumerate(sentences):
        path = workdir / f"s{seed}_{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(path), text], check=True)
        parts += [load_audio(path), np.zeros(int(rng.uniform(0.5, 1.5) * SAMPLE_RATE), dtype=np.float32)]
    return np.concatenate(parts)


def frame_classes(waveform: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """(pause (T,), speech (T,)) boolean masks over ``frames`` pose frames of a 16 kHz waveform."""
    edges = np.round(np.arange(frames + 1) * SAMPLE_RATE / POSE_FPS).astype(np.int64)
    power = np.add.reduceat(waveform.astype(np.float64) ** 2, edges[:-1]) / np.diff(edges)
    rms = np.sqrt(power + 1e-20)
    db = 20 * np.log10(rms / np.percentile(rms, 95))
    speech = db >= SPEECH_DB
    quiet = np.pad(~speech, PAUSE_MARGIN, constant_values=False)
    pause = np.all([quiet[k : k + frames] for k in range(2 * PAUSE_MARGIN + 1)], axis=0)
    return pause, speech


def speed(poses: np.ndarray, mask: np.ndarray) -> tuple[float, int]:
    """(mean joint speed px/frame over steps t−1 → t with both frames in ``mask``, number of steps)."""
    step = np.linalg.norm(np.diff(poses, axis=0), axis=-1).mean(axis=-1)  # (T − 1,)
    both = mask[1:] & mask[:-1]
    return float(step[both].mean()), int(both.sum())


def wrist_offset(poses: np.ndarray) -> float:
    """Distance (px) of the mean wrists of ``poses`` (T, J, 2) from the rest wrists, both averaged."""
    return float(np.linalg.norm(poses[:, WRISTS].mean(axis=0) - REST_WRISTS, axis=-1).mean())


def corpus_reference(corpus_root: Path) -> dict[str, float | np.ndarray]:
    """The speaker's own motion in its own pauses and speech (tracked and intended poses), and its mean pose
    in pauses (the rest pose)."""
    corpus = open_corpus(corpus_root)
    sums = {k: [] for k in ("tracked_pause", "tracked_speech", "oracle_pause", "oracle_speech")}
    rest, pause_poses, speech_poses = [], [], []
    for split in SPLITS:
        for interval in corpus.interval_ids(SPEAKER, split):
            arrays = corpus.read(SPEAKER, interval, ["pose/normalize", "oracle/normalize"])
            waveform = load_audio(corpus.raw_audio(SPEAKER, interval))
            poses = {
                name: flat_to_joints(corpus.to_model_pose(key, arrays[key]))
                for name, key in (("tracked", "pose/normalize"), ("oracle", "oracle/normalize"))
            }
            pause, speech = frame_classes(waveform, len(poses["tracked"]))
            pause[:SKIPPED_START] = speech[:SKIPPED_START] = False
            for name, p in poses.items():
                for where, mask in (("pause", pause), ("speech", speech)):
                    value, steps = speed(p, mask)
                    if steps:
                        sums[f"{name}_{where}"].append((value * steps, steps))
            rest.append(poses["oracle"][pause])
            pause_poses.append(poses["tracked"][pause])
            speech_poses.append(poses["tracked"][speech])
    out: dict[str, float | np.ndarray] = {
        k: sum(v for v, _ in s) / sum(n for _, n in s) for k, s in sums.items()
    }
    out["rest_pose"] = np.concatenate(rest).mean(axis=0)  # (J, 2)
    out["tracked_pause_wrist_offset"] = wrist_offset(np.concatenate(pause_poses))
    out["tracked_speech_wrist_offset"] = wrist_offset(np.concatenate(speech_poses))
    return out


def model_on_corpus(pipe: GestureGenerator, corpus_root: Path) -> dict[str, float]:
    """The model's speeds in the pauses and speech of the speaker's held-out (test) intervals."""
    corpus = open_corpus(corpus_root)
    sums: dict[str, list[tuple[float, int]]] = {"pause": [], "speech": []}
    for interval in corpus.interval_ids(SPEAKER, "test"):
        path = corpus.raw_audio(SPEAKER, interval)
        poses = pipe.generate(path, speaker=SPEAKER).poses
        pause, speech = frame_classes(load_audio(path), len(poses))
        pause[:SKIPPED_START] = speech[:SKIPPED_START] = False
        for where, mask in (("pause", pause), ("speech", speech)):
            value, steps = speed(poses, mask)
            if steps:
                sums[where].append((value * steps, steps))
    return {f"corpus_{k}_speed": sum(v for v, _ in s) / sum(n for _, n in s) for k, s in sums.items()}


def train(corpus: Path, workdir: Path, level: str, epochs: int) -> tuple[Path, float, float]:
    """The quickstart config with ``--data.audio_level level``; (run directory, CPU s, wall s)."""
    from cospeech.training.engine import run_cli

    cpu, wall = time.process_time(), time.perf_counter()
    run_cli(["fit", "--config", str(QUICKSTART), "--data.root", str(corpus), "--data.audio_level", level,
             "--data.cache_dir", str(workdir / "cache"), "--run.root", str(workdir / "runs"),
             "--run.name", f"level_{level}", "--trainer.max_epochs", str(epochs),
             "--trainer.enable_progress_bar", "false"])  # fmt: skip
    return (
        workdir / "runs" / f"level_{level}" / "version_0",
        time.process_time() - cpu,
        time.perf_counter() - wall,
    )


def frame_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) mean joint distance in px between poses ``a`` and ``b`` (T, J, 2), over the common frames."""
    n = min(len(a), len(b))
    return np.linalg.norm(a[:n] - b[:n], axis=-1).mean(axis=-1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=10, help="training epochs (the quickstart: 14)")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        raise SystemExit("espeak-ng is not on the PATH: apt-get install -y espeak-ng")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        clean = espeak(SENTENCES, workdir, seed=0)
        other = espeak(OTHER_SENTENCES, workdir, seed=1)
        rng = np.random.default_rng(0)
        stereo = np.stack([clean, clean], axis=1)
        tpdf = (rng.uniform(-1, 1, stereo.shape) + rng.uniform(-1, 1, stereo.shape)) / 32768
        soundfile.write(workdir / "clean.wav", clean, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "quiet.wav", MINUS_6_DB * clean, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "dithered.flac", stereo + tpdf, SAMPLE_RATE, subtype="PCM_16")
        soundfile.write(workdir / "other.wav", other, SAMPLE_RATE, subtype="PCM_16")
        corpus = workdir / "corpus"
        synthesize_corpus(corpus, speakers=1, minutes=CORPUS_MINUTES, seed=0)
        reference = corpus_reference(corpus)
        print(json.dumps({k: v for k, v in reference.items() if k != "rest_pose"}))
        for level in ("none", "utterance"):
            run, cpu_s, wall_s = train(corpus, workdir, level, args.epochs)
            final = json.loads((run / "final_metrics.json").read_text())["selected"]
            pipe = GestureGenerator.from_pretrained(run)
            poses = {
                name: pipe.generate(workdir / file, speaker=SPEAKER, seed=0).poses
                for name, file in (("clean", "clean.wav"), ("quiet", "quiet.wav"),
                                   ("dithered", "dithered.flac"), ("other", "other.wav"))
            }  # fmt: skip
            pause, speech = frame_classes(clean, len(poses["clean"]))
            scale = float(np.median(frame_distance(poses["clean"], poses["other"])))
            dither = frame_distance(poses["clean"], poses["dithered"])
            row = {
                "audio_level": level,
                "epochs": args.epochs,
                "train_cpu_s": round(cpu_s, 1),
                "train_wall_s": round(wall_s, 1),
                "threads": torch.get_num_threads(),
                "dev_L1": final["dev/L1"],
                "dev_epoch": final["epoch"],
                "speech_seconds": round(len(clean) / SAMPLE_RATE, 2),
                "pause_frames": int(pause.sum()),
                "speech_frames": int(speech.sum()),
                "other_speech_px": scale,
                "gain_px": float(np.median(frame_distance(poses["clean"], poses["quiet"]))),
                "dither_pause_px": float(np.median(dither[pause[: len(dither)]])),
                "dither_all_px": float(np.median(dither)),
                **model_on_corpus(pipe, corpus),
            }
            for name in ("clean", "dithered"):
                row[f"{name}_pause_speed"] = speed(poses[name], pause)[0]
                row[f"{name}_speech_speed"] = speed(poses[name], speech)[0]
                rest = poses[name][pause].mean(axis=0)
                row[f"{name}_rest_offset_px"] = float(
                    np.linalg.norm(rest - reference["rest_pose"], axis=-1).mean()
                )
                row[f"{name}_wrist_offset_px"] = wrist_offset(poses[name][pause])
            for key in ("gain_px", "dither_pause_px", "dither_all_px"):
                row[key.replace("_px", "_rel")] = row[key] / scale
            print(json.dumps(row))
            rows.append(row)
    print_tables(rows, reference)


def print_tables(rows: list[dict], reference: dict) -> None:
    print()
    print("| speed, px/frame | pauses | speech | pauses / speech |")
    print("|---|---|---|---|")
    for name in ("tracked", "oracle"):
        p, s = reference[f"{name}_pause"], reference[f"{name}_speech"]
        print(f"| corpus `{SPEAKER}`, {name} poses | {p:.2f} | {s:.2f} | {p / s:.2f} |")
    for r in rows:
        level = r["audio_level"]
        p, s = r["corpus_pause_speed"], r["corpus_speech_speed"]
        print(f"| `{level}` model, corpus test speech | {p:.2f} | {s:.2f} | {p / s:.2f} |")
        for name, pauses in (("clean", "digital silence"), ("dithered", "dither")):
            p, s = r[f"{name}_pause_speed"], r[f"{name}_speech_speed"]
            print(f"| `{level}` model, espeak-ng, {pauses} pauses | {p:.2f} | {s:.2f} | {p / s:.2f} |")
    print()
    print(
        f"`{SPEAKER}`'s tracked wrists are {reference['tracked_pause_wrist_offset']:.1f} px from her rest "
        f"wrists in her pauses, {reference['tracked_speech_wrist_offset']:.1f} px in her speech."
    )
    print()
    print(
        "| audio_level | pause pose offset, silence / dither (px) | wrists from rest, silence / dither (px) "
        "| −6 dB (px) | / other | dither in pauses (px) | / other | other speech (px) | dev L1 (epoch) "
        "| train CPU s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['audio_level']} | {r['clean_rest_offset_px']:.1f} / {r['dithered_rest_offset_px']:.1f} "
            f"| {r['clean_wrist_offset_px']:.1f} / {r['dithered_wrist_offset_px']:.1f} "
            f"| {r['gain_px']:.3g} | {r['gain_rel']:.1%} | {r['dither_pause_px']:.3g} "
            f"| {r['dither_pause_rel']:.1%} | {r['other_speech_px']:.3g} "
            f"| {r['dev_L1']:.3f} ({r['dev_epoch']}) | {r['train_cpu_s']:.0f} |"
        )


if __name__ == "__main__":
    main()
