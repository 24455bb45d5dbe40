"""Mix-StAGE on the built-in corpus: one model for five speakers against five single-speaker models, text
against audio only, and style transfer.

On the quickstart corpus (5 speakers × 15 min, seed 0), at an **equal CPU budget** (process CPU seconds,
all threads, ``timing.CpuBudget``; each run keeps its best dev-L1 epoch):

* ``mix_stage`` with words (``text/bert`` one row per word, as configs/mix_stage.yaml) on all five
  speakers, budget B;
* the same without text (``--data.text_key null``), budget B;
* five single-speaker Speech2Gesture models (the quickstart's), B/5 each;

all at half width (128 channels) and trained with L1 (plus Mix-StAGE's cluster and speaker-id losses) at
lr 1e-3, the quickstart's recipe for short CPU budgets. Then on the test split:

1. **gap closed** per speaker, ``(L1_meanpose − L1_model) / (L1_meanpose − L1_oracle)`` (``cospeech
   evaluate --baselines``);
2. **text helps**: mean joint error (px) on the frames of the gesture-bearing words (``wide``, ``high``,
   ``together``: gestures only the transcript reveals) and on the other frames, for both Mix-StAGE models,
   the mean pose and the oracle, through the inference pipeline (speech file + transcript);
3. **style accuracy**: a speaker classifier (``cospeech.metrics.speaker_style``) trained on real training
   windows assigns each generated 64-frame window of every test interval's speech rendered in every
   speaker's style; accuracy = share assigned to the requested style, for same-speaker and transferred
   (requested ≠ speaker of the speech) requests. References: real test windows, and each requested
   speaker's mean training pose held still;
4. parameters of each generator and the real-time factor of generation (60 s of speech, median of 5).

Prints JSON lines and Markdown tables. Takes about 3·B CPU seconds for training plus a few minutes.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_mix_stage.py --budget 600 --workdir /tmp/msbench
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from cospeech.data.pats import PatsCorpus
from cospeech.data.poses import flat_to_joints
from cospeech.data.synth import synthesize_corpus
from cospeech.data.synth.words import GESTURE_WORDS
from cospeech.data.text import word_frames
from cospeech.evaluation import evaluate
from cospeech.inference import GestureGenerator
from cospeech.metrics.speaker_style import SpeakerClassifier
from cospeech.training.engine import run_cli

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
SPEAKERS = ("ava", "ben", "cleo", "dia", "eli")
WINDOW = 64
COMMON = ["--trainer.enable_progress_bar", "false", "--trainer.max_epochs", "1000"]


def fit(name: str, config: str, corpus: Path, workdir: Path, budget: float, extra: list[str]) -> dict:
    """Train ``config`` with ``extra`` overrides for ``budget`` CPU seconds; the run directory and cost.
    A run recorded in ``workdir`` (``<name>.json``) is reused, so a failed later step can be re-run."""
    record = workdir / f"{name}.json"
    if record.is_file():
        return json.loads(record.read_text())
    callbacks = workdir / f"{name}_callbacks.yaml"
    callbacks.write_text(
        yaml.safe_dump(
            {"trainer": {"callbacks": [{"class_path": "timing.CpuBudget", "init_args": {"seconds": budget}}]}}
        )
    )
    cpu, wall = time.process_time(), time.perf_counter()
    run_cli(
        [
            "fit",
            "--config",
            str(CONFIGS / config),
            "--config",
            str(callbacks),
            "--data.root",
            str(corpus),
            "--data.cache_dir",
            str(workdir / "cache"),
            "--run.root",
            str(workdir / "runs"),
            "--run.name",
            name,
            *COMMON,
            *extra,
        ]
    )
    run = workdir / "runs" / name / "version_0"
    history = json.loads((run / "metrics.json").read_text())  # one entry per epoch
    result = {
        "name": name,
        "run": str(run),
        "cpu_s": time.process_time() - cpu,
        "wall_s": time.perf_counter() - wall,
        "epochs": len(history),
        "steps": history[-1]["step"],
        "best_dev_L1": min(h["dev/L1"] for h in history),
    }
    record.write_text(json.dumps(result))
    return result


def mix_stage_args(text: bool) -> list[str]:
    args = [
        "--model.init_args.generator_config",
        "{channels: 128}",
        "--model.init_args.discriminator",
        "null",
        "--model.init_args.lr",
        "1.0e-3",
        "--trainer.limit_train_batches",
        "60",
    ]
    return args if text else [*args, "--data.text_key", "null"]


def s2g_args(speaker: str) -> list[str]:
    return ["--data.speakers", f"[{speaker}]", "--trainer.limit_train_batches", "12"]


def test_intervals(corpus: PatsCorpus, speaker: str) -> list[str]:
    return corpus.interval_ids(speaker, "test")


def real_windows(corpus: PatsCorpus, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Non-overlapping 64-frame pixel windows (N, 64, 48, 2) of every speaker, with speaker ids."""
    windows, ids = [], []
    for s, speaker in enumerate(SPEAKERS):
        for interval in corpus.interval_ids(speaker, split):
            poses = pixels(corpus, speaker, interval, "pose/normalize")
            for start in range(0, len(poses) - WINDOW + 1, WINDOW):
                windows.append(poses[start : start + WINDOW])
                ids.append(s)
    return np.stack(windows), np.array(ids)


def pixels(corpus: PatsCorpus, speaker: str, interval: str, key: str) -> np.ndarray:
    """(T, 48, 2) model joints in pixels of a stored 52-joint key (pose/normalize, oracle/normalize)."""
    stored = corpus.read(speaker, interval, [key])[key]
    return flat_to_joints(corpus.to_model_pose("pose/normalize", stored))


def split_windows(poses: np.ndarray) -> np.ndarray:
    return np.stack([poses[s : s + WINDOW] for s in range(0, len(poses) - WINDOW + 1, WINDOW)])


def text_helps(corpus: PatsCorpus, pipes: dict[str, GestureGenerator], mean_pose: dict) -> dict:
    """Mean joint error (px) on gesture-word frames and on the others, per model and reference."""
    errors: dict[str, dict[str, list[float]]] = {}
    for speaker in SPEAKERS:
        for interval in test_intervals(corpus, speaker):
            truth = pixels(corpus, speaker, interval, "pose/normalize")
            words = corpus.transcript(speaker, interval)
            start, end = word_frames(words, len(truth))
            marked = np.zeros(len(truth), dtype=bool)
            for w, a, b in zip(words, start, end, strict=True):
                marked[a:b] |= w.word in GESTURE_WORDS
            speech = corpus.raw_audio(speaker, interval)
            outputs = {
                n: p.generate(speech, speaker=speaker, transcript=words).poses for n, p in pipes.items()
            }
            outputs["mean pose"] = np.broadcast_to(mean_pose[speaker], truth.shape)
            outputs["oracle"] = pixels(corpus, speaker, interval, "oracle/normalize")
            for name, poses in outputs.items():
                n = min(len(poses), len(truth))
                err = np.linalg.norm(poses[:n] - truth[:n], axis=-1).mean(axis=-1)
                row = errors.setdefault(name, {"gesture words": [], "other frames": []})
                row["gesture words"] += err[marked[:n]].tolist()
                row["other frames"] += err[~marked[:n]].tolist()
    return {
        n: {k: float(np.mean(v)) for k, v in row.items()} | {"frames": len(row["gesture words"])}
        for n, row in errors.items()
    }


def style_accuracy(
    corpus: PatsCorpus, pipes: dict[str, GestureGenerator], s2g: dict[str, GestureGenerator], mean_pose: dict
) -> dict:
    """Style accuracy of generated windows, same-speaker and transferred requests, and references."""
    train, train_ids = real_windows(corpus, "train")
    classifier = SpeakerClassifier.fit(train, train_ids)
    test, test_ids = real_windows(corpus, "test")
    out = {"real test windows": {"same": classifier.style_accuracy(test, test_ids)}}
    still = np.stack([np.broadcast_to(mean_pose[s], (WINDOW, *mean_pose[s].shape)) for s in SPEAKERS])
    out["mean pose (still)"] = {"same": classifier.style_accuracy(still, np.arange(len(SPEAKERS)))}
    models = {name: dict.fromkeys(SPEAKERS, pipe) for name, pipe in pipes.items()}
    models["speech2gesture ×5"] = s2g  # the model of the requested speaker
    for name, per_style in models.items():
        hits = {"same": [], "transferred": []}
        for s, speaker in enumerate(SPEAKERS):
            for interval in test_intervals(corpus, speaker):
                speech, words = corpus.raw_audio(speaker, interval), corpus.transcript(speaker, interval)
                for t, style in enumerate(SPEAKERS):
                    pipe = per_style[style]
                    poses = pipe.generate(
                        speech, speaker=style, transcript=words if pipe.uses_text else None
                    ).poses
                    if len(poses) < WINDOW:
                        continue
                    predicted = classifier.predict(split_windows(poses))
                    hits["same" if t == s else "transferred"] += (predicted == t).tolist()
        out[name] = {k: float(np.mean(v)) for k, v in hits.items()}
    return out


def real_time_factor(pipe: GestureGenerator, corpus: PatsCorpus) -> tuple[float, int]:
    """Seconds of speech per second of generation (median of 5, after one warm-up) on 60 s of test speech,
    and parameters."""
    from cospeech.audio import SAMPLE_RATE, load_audio

    speech, words, offset = [], [], 0.0
    for interval in test_intervals(corpus, "ava"):
        audio = load_audio(corpus.raw_audio("ava", interval), sr=SAMPLE_RATE)
        speech.append(audio)
        words += [
            w._replace(start=w.start + offset, end=w.end + offset) for w in corpus.transcript("ava", interval)
        ]
        offset += len(audio) / SAMPLE_RATE
    audio = np.concatenate(speech)[: 60 * SAMPLE_RATE]
    words = [w for w in words if w.start < 60]
    seconds = []
    for _ in range(6):
        started = time.perf_counter()
        pipe.generate(
            audio, sample_rate=SAMPLE_RATE, speaker="ava", transcript=words if pipe.uses_text else None
        )
        seconds.append(time.perf_counter() - started)
    params = sum(p.numel() for p in pipe.generator.parameters())
    return len(audio) / SAMPLE_RATE / statistics.median(seconds[1:]), params


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=float, default=600, help="CPU seconds per Mix-StAGE run (B)")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/msbench"))
    parser.add_argument("--minutes", type=float, default=15.0, help="minutes per speaker in the corpus")
    args = parser.parse_args()
    torch.set_num_threads(2)
    corpus_root = args.workdir / "corpus"
    if not corpus_root.exists():
        synthesize_corpus(corpus_root, speakers=len(SPEAKERS), minutes=args.minutes, seed=0)
    runs = [
        fit("mix_stage_text", "mix_stage.yaml", corpus_root, args.workdir, args.budget, mix_stage_args(True)),
        fit(
            "mix_stage_audio", "mix_stage.yaml", corpus_root, args.workdir, args.budget, mix_stage_args(False)
        ),
    ]
    runs += [
        fit(
            f"s2g_{s}", "quickstart.yaml", corpus_root, args.workdir, args.budget / len(SPEAKERS), s2g_args(s)
        )
        for s in SPEAKERS
    ]
    for run in runs:
        print(json.dumps({"training": run}))

    gap: dict[str, dict[str, float]] = {}
    for run in runs:
        result = evaluate(run["run"], baselines=True, cache_dir=str(args.workdir / "cache"))
        model = next(iter(result.scores))
        for speaker in result.speakers:
            base = result.scores["mean_pose"][speaker]["L1"]
            best = result.scores["oracle"][speaker]["L1"]
            closed = (base - result.scores[model][speaker]["L1"]) / (base - best)
            key = "speech2gesture ×5" if run["name"].startswith("s2g") else run["name"]
            gap.setdefault(key, {})[speaker] = closed
    print(json.dumps({"gap_closed": gap}))

    corpus = PatsCorpus(corpus_root)
    train, train_ids = real_windows(corpus, "train")
    mean_pose = {s: train[train_ids == i].mean(axis=(0, 1)) for i, s in enumerate(SPEAKERS)}
    pipes = {r["name"]: GestureGenerator.from_pretrained(r["run"]) for r in runs[:2]}
    s2g = {s: GestureGenerator.from_pretrained(r["run"]) for s, r in zip(SPEAKERS, runs[2:], strict=True)}
    helps = text_helps(corpus, pipes, mean_pose)
    print(json.dumps({"text_helps": helps}))
    styles = style_accuracy(corpus, pipes, s2g, mean_pose)
    print(json.dumps({"style_accuracy": styles}))
    speed = {n: real_time_factor(p, corpus) for n, p in {**pipes, "speech2gesture (ava)": s2g["ava"]}.items()}
    print(json.dumps({"real_time_factor_and_params": speed}))

    print(
        "\n| model | CPU s | " + " | ".join(SPEAKERS) + " | mean |\n|---|---|" + "---|" * (len(SPEAKERS) + 1)
    )
    cpu = {
        "mix_stage_text": runs[0]["cpu_s"],
        "mix_stage_audio": runs[1]["cpu_s"],
        "speech2gesture ×5": sum(r["cpu_s"] for r in runs[2:]),
    }
    for name, row in gap.items():
        cells = " | ".join(f"{row[s]:.2f}" for s in SPEAKERS)
        print(f"| {name} | {cpu[name]:.0f} | {cells} | {np.mean(list(row.values())):.2f} |")
    print("\n| model | px on gesture-word frames | px on other frames |\n|---|---|---|")
    for name, row in helps.items():
        print(f"| {name} | {row['gesture words']:.1f} | {row['other frames']:.1f} |")
    print("\n| poses | style accuracy, same speaker | transferred |\n|---|---|---|")
    for name, row in styles.items():
        print(f"| {name} | {row['same']:.2f} | {row.get('transferred', float('nan')):.2f} |")
    print("\n| generator | parameters | × real time |\n|---|---|---|")
    for name, (rtf, params) in speed.items():
        print(f"| {name} | {params:,} | {rtf:.0f} |")


if __name__ == "__main__":
    main()
