"""Speech Drives Templates on the built-in corpus: SDT-BP, SDT-VAE and SDT's Speech2Gesture baseline at equal
CPU budget (same width, batches, learning rate), with SDT's metrics and its one-to-many claim.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_sdt.py --workdir /tmp/sdtbench

1. writes a one-speaker built-in corpus (``--format sdt``, the default: SDT's clip layout, 121 points with
   the face; ``pats``: the PATS layout, 48 points, no face), unless ``WORKDIR/corpus`` exists;
2. trains the pose VAE (``configs/pose_vae_sdt.yaml``), then SDT-BP, SDT-VAE (templates from that VAE) and
   the S2G baseline (``configs/sdt_bp.yaml`` …) for ``--batches`` batches each, at ``--channels`` width;
3. scores the test windows: ``cospeech.evaluation.evaluate`` (L1, PCK, FGD on the pose VAE's μ = SDT's
   FTD, SDT's lip-opening error ``lip_sync_error_n`` on faces, and the mean-pose and oracle references),
   plus, over 5 templates of the same speech (one template
   per sample for the whole split), drawn from the prior with seeds 0–4 (``_prior``) or taken from 5
   random training windows (``_train``, the reference's default source): L2 (mean Euclidean joint error
   in pixels, averaged over the 5) and **template diversity**: the mean pairwise Euclidean
   distance (pixels, per joint and frame) between the 5 samples. The S2G baseline has no template, so its
   template diversity is 0 by construction. (``diversity`` is the suite's: variability of one sample.)
   ``bank_std`` and ``bank_row_norm``: the spread of the template bank after training (per-dimension
   standard deviation over the training windows, mean row norm; N(0, I) has 1 and about √32 = 5.6).

``--jobs 3`` trains and scores the three models as parallel processes (each with ``OMP_NUM_THREADS``
threads; equal budget = equal batches, so the figures match a sequential run); ``--pose-vae RUN`` reuses a
trained pose VAE (same corpus) instead of step 2's; ``--models`` runs a subset of the three, and
``--fit-args`` adds options to their ``cospeech fit`` (e.g. ``"--model.init_args.template_lr_scale 1"``).

Prints JSON lines and a Markdown table; writes ``WORKDIR/results.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import json
import multiprocessing
import os
import platform
import shlex
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from cospeech.data.datamodule import PatsDataModule
from cospeech.data.synth import synthesize_corpus
from cospeech.evaluation import evaluate
from cospeech.inference.export import read_checkpoint
from cospeech.inference.templates import template_inputs
from cospeech.models import run_generator
from cospeech.training.engine import CONFIG_DIR, run_cli

SEEDS = (0, 1, 2, 3, 4)
"""Template seeds: 5 samples of the same speech."""
SPEAKER = "ava"
MODELS = ("sdt_bp", "sdt_vae", "sdt_s2g")


def fit(config: str, workdir: Path, corpus: Path, overrides: list[str]) -> tuple[Path, float]:
    """Train ``configs/<config>.yaml`` on the corpus; (run directory, wall seconds)."""
    started = time.perf_counter()
    run_cli([
        "fit", "--config", str(CONFIG_DIR / f"{config}.yaml"),
        "--data.root", str(corpus), "--data.speakers", f"[{SPEAKER}]",
        "--data.cache_dir", str(workdir / "cache"), "--run.root", str(workdir / "runs"),
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
        "--trainer.num_sanity_val_steps", "0", "--trainer.limit_val_batches", "4",
        *overrides,
    ])  # fmt: skip
    return workdir / "runs" / config / "version_0", time.perf_counter() - started


def sample_metrics(run: Path, corpus: Path, workdir: Path) -> dict[str, dict[str, float]]:
    """L2 and template diversity on the test windows, for templates from the prior (``SEEDS``) and from 5
    training windows drawn with seed 0 (the reference's default source); L2 of the mean pose and the
    oracle. ``{model or reference: {metric: value}}``."""
    pretrained = read_checkpoint(run)
    generator = pretrained.build_generator()
    spec = pretrained.metadata.data
    representation = pretrained.metadata.pose_representation()
    dm = PatsDataModule(
        str(corpus), [SPEAKER], format=spec.format, pose_key=spec.pose_key, audio_key=spec.audio_key,
        audio_level=spec.audio_level, representation=spec.representation, normalization=spec.normalization,
        batch_size=64, cache_dir=str(workdir / "cache"),
    )  # fmt: skip
    dm.setup()
    dm.use_normalizer(pretrained.metadata.normalizer)
    test = dm.datasets["test"]
    batch = test.__getitems__(list(range(len(test))))
    truth = representation.to_pixels(batch["pose"], 0).numpy()  # (N, T, J, 2)

    def l2(pixels: np.ndarray) -> float:
        return float(np.linalg.norm(pixels - truth, axis=-1).mean())

    sources = {"prior": [{"seed": s, "source": "prior"} for s in SEEDS]}
    if "template" in generator.inputs:
        windows = torch.randperm(spec.train_windows, generator=torch.Generator().manual_seed(0))[: len(SEEDS)]
        sources["train"] = [{"window": int(w)} for w in windows]
    out: dict[str, float] = {"test_windows": len(truth)}
    if "template" in generator.inputs:  # spread of the bank: per-dimension std, mean row norm (prior: 1, √D)
        bank = generator.templates.detach()
        out |= {"bank_std": float(bank.std(0).mean()), "bank_row_norm": float(bank.norm(dim=1).mean())}
    for source, choices in sources.items():
        samples = []
        with torch.no_grad():
            for choice in choices:
                given = template_inputs(generator, **choice) if "template" in generator.inputs else {}
                inputs = {**batch, **{k: v.expand(len(truth), -1) for k, v in given.items()}}
                pred = run_generator(generator, inputs, training=False).poses
                samples.append(representation.to_pixels(pred, 0).numpy())
        stacked = np.stack(samples)  # (5, N, T, J, 2)
        pairs = itertools.combinations(range(len(samples)), 2)
        out[f"L2_{source}"] = float(np.mean([l2(sample) for sample in stacked]))
        out[f"template_diversity_{source}"] = float(
            np.mean([np.linalg.norm(stacked[i] - stacked[j], axis=-1).mean() for i, j in pairs])
        )
    references = {
        "mean_pose": {"L2": l2(representation.to_pixels(torch.zeros_like(batch["pose"]), 0).numpy())}
    }
    if "oracle" in batch:
        references["oracle"] = {"L2": l2(representation.to_pixels(batch["oracle"], 0).numpy())}
    return {"model": out, **references}


def score_model(
    name: str, args: argparse.Namespace, vae: Path, common: list[str]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Train model ``name`` (one of ``MODELS``) for ``args.batches`` batches and score it: (its scores,
    {reference: scores} of the mean pose and oracle)."""
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    generator_config = {"channels": args.channels}
    if name == "sdt_s2g":
        generator_config |= {"template_dim": 0, "norm": "batch"}
    overrides = [
        *common, "--data.train_batches", str(args.batches), "--model.init_args.lr_schedule", "constant",
        "--model.init_args.generator_config", json.dumps(generator_config),
    ]  # fmt: skip
    if name == "sdt_vae":
        overrides += ["--model.init_args.pose_vae", str(vae)]
    overrides += shlex.split(args.fit_args)
    corpus = args.workdir / "corpus"
    run, seconds = fit(name, args.workdir, corpus, overrides)
    cache = str(args.workdir / "cache")
    # the VAE reads the configs' hierarchical poses: no FTD for S2G's global ones on SDT clips
    fgd = None if name == "sdt_s2g" and args.format == "sdt" else vae
    evaluation = evaluate(run, split="test", baselines=True, fgd_extractor=fgd, cache_dir=cache)
    mean = evaluation.scores[read_checkpoint(run).metadata.model.name]["mean"]
    sampled = sample_metrics(run, corpus, args.workdir)
    references = {
        reference: evaluation.scores[reference]["mean"] | sampled.get(reference, {})
        for reference in ("mean_pose", "oracle")
        if reference in evaluation.scores
    }
    return {"train_seconds": seconds, **mean, **sampled.pop("model")}, references


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--format", choices=("sdt", "pats"), default="sdt", help="corpus layout")
    parser.add_argument("--minutes", type=float, default=6.0, help="minutes of speech of the one speaker")
    parser.add_argument("--channels", type=int, default=32, help="generator width (SDT: 256)")
    parser.add_argument("--batches", type=int, default=120, help="training batches per model")
    parser.add_argument("--vae-batches", type=int, default=400, help="training batches of the pose VAE")
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="Adam learning rate of every model (SDT: 1e-4)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="models trained at once (processes)")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to run")
    parser.add_argument(
        "--fit-args",
        default="",
        help="more `cospeech fit` options for the models (not the pose VAE), as one string",
    )
    parser.add_argument("--pose-vae", type=Path, help="a trained pose VAE run to reuse (skips its training)")
    args = parser.parse_args()
    started = time.perf_counter()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    corpus = args.workdir / "corpus"
    if not corpus.is_dir():
        synthesize_corpus(corpus, speakers=1, minutes=args.minutes, seed=0, format=args.format)
    batch = 32
    common = [
        "--data.batch_size",
        str(batch),
        "--trainer.max_epochs",
        "1",
        "--model.init_args.lr",
        str(args.lr),
    ]
    if args.format == "pats":  # the configs read SDT clips; PATS poses have no face for the hierarchy
        common += ["--data.format", "pats", "--data.representation", "z_flat"]
    if args.pose_vae is None:
        vae_batches = ["--data.train_batches", str(args.vae_batches)]
        vae, vae_seconds = fit("pose_vae_sdt", args.workdir, corpus, [*common, *vae_batches])
    else:
        vae, vae_seconds = args.pose_vae, 0.0
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"torch threads {torch.get_num_threads()}",
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
        | {"batch": batch},
        "pose_vae": {"run": str(vae), "seconds": vae_seconds},
    }
    print(json.dumps(results["pose_vae"]))
    scores: dict[str, dict[str, float]] = {}
    context = multiprocessing.get_context("spawn")  # a fresh interpreter per model: no forked torch state
    with concurrent.futures.ProcessPoolExecutor(args.jobs, mp_context=context) as pool:
        futures = {name: pool.submit(score_model, name, args, vae, common) for name in args.models}
        for name, future in futures.items():
            model, references = future.result()
            scores[name] = model
            for reference, row in references.items():
                scores.setdefault(reference, row)
            print(json.dumps({name: model}))
    results["wall_seconds"] = time.perf_counter() - started
    results["scores"] = scores
    (args.workdir / "results.json").write_text(json.dumps(results, indent=1))
    columns = ["L1", "L2_prior", "L2_train", "PCK", "FGD", "lip_sync_error_n", "template_diversity_prior"]
    columns += ["template_diversity_train", "diversity", "bank_std", "train_seconds"]
    print("\n| model | " + " | ".join(columns) + " |\n|---|" + "---|" * len(columns))
    for name in [name for name in (*MODELS, "mean_pose", "oracle") if name in scores]:
        row = scores[name]
        cells = [f"{row[c]:.3g}" if isinstance(row.get(c), float) else "—" for c in columns]
        if name in ("mean_pose", "oracle"):  # one L2, whatever the template
            cells[1:3] = [f"{row['L2']:.3g}"] * 2 if "L2" in row else cells[1:3]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
