"""Generation speed under thread settings that can only differ between processes, in one run.

OpenMP reads ``OMP_WAIT_POLICY`` once, when torch loads it, so two settings cannot be compared inside one
process. This script starts one worker process per (wait policy, torch threads) setting, each holding the
pipeline of ``bench_generate.py`` (untrained speech2gesture at reference width, 64/16 windows, 60 s of
speech, CPU), and asks them in turn, round by round (after one warm-up round), for one end-to-end
``generate`` each, so load from other processes falls on all alike. Each worker reports wall and process
CPU seconds; medians are printed, with ratios against the first setting: the **baseline**, generation as it
was when issue 15 was filed (``bench_generate.baseline_generate`` with the audio encoder of
``bench_generate.as_at_issue``), with torch's defaults (``OMP_WAIT_POLICY`` unset, ``--threads`` threads).

With ``OMP_WAIT_POLICY`` unset (libgomp's default, which torch keeps) a thread that finishes a parallel
region spins for a while (``GOMP_SPINCOUNT``, 300,000 polls) before it sleeps; ``passive`` sleeps at once.
On a machine shared with other jobs a spinning thread holds a core that the thread it waits for needs, at
every one of the generator's ≈80 parallel regions per forward pass. (``OMP_WAIT_POLICY=ACTIVE`` is not the
default: it spins for 30 billion polls, minutes, so an idle worker set to it holds a core while the others
are timed; this script's earlier versions did that.)
With several threads ``generate`` runs each batch of windows as one part per thread, one thread each
(``cospeech.inference.pipeline``); the baseline runs every torch thread on the whole batch.

    .venv/bin/python benchmarks/bench_generate_threads.py --repeats 9 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SPEAKER = "bench"


def worker(wav: Path, seconds: float, baseline: bool) -> None:
    """Build the pipeline, then run one ``generate`` (or the baseline's path) per line on stdin and answer
    with its timings."""
    import numpy as np
    import soundfile
    import torch
    from bench_generate import as_at_issue, baseline_generate, build_pipeline

    speech, _ = soundfile.read(wav, dtype="float32")
    pipe = build_pipeline(speech, window=64, overlap=16, level="utterance", device="cpu", folded=not baseline)
    if baseline:
        as_at_issue(pipe)
    print(json.dumps({"ready": True, "threads": torch.get_num_threads()}), flush=True)
    for _ in sys.stdin:
        wall, cpu = time.perf_counter(), time.process_time()
        poses = baseline_generate(pipe, wav) if baseline else pipe.generate(wav, speaker=SPEAKER).poses
        timing = {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}
        print(json.dumps({**timing, "checksum": float(np.abs(poses).sum())}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the speech (default 60)")
    parser.add_argument("--repeats", type=int, default=9, help="rounds; medians are reported")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the multi-thread settings")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.seconds, args.baseline)
        return

    import numpy as np
    import soundfile
    from timing import machine

    from cospeech.audio import SAMPLE_RATE
    from cospeech.data.synth.speech import random_voice, render_speech, syllable_timeline

    print(json.dumps(machine("cpu")))
    settings = {
        f"baseline (issue 15's today), default wait, {args.threads} threads": (None, args.threads, True),
        f"generate, default wait, {args.threads} threads": (None, args.threads, False),
        f"generate, passive wait, {args.threads} threads (cospeech generate)": (
            "PASSIVE",
            args.threads,
            False,
        ),
        "generate, 1 thread": ("PASSIVE", 1, False),
    }
    rng = np.random.default_rng(0)
    voice = random_voice(rng)
    speech = render_speech(syllable_timeline(voice, args.seconds, rng), voice, args.seconds, SAMPLE_RATE, rng)
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "speech.wav"
        soundfile.write(wav, speech, SAMPLE_RATE, subtype="PCM_16")
        workers = {}
        for name, (policy, threads, baseline) in settings.items():
            env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
            env |= {"OMP_NUM_THREADS": str(threads)} | ({"OMP_WAIT_POLICY": policy} if policy else {})
            command = [sys.executable, __file__, "--worker", str(wav), "--seconds", str(args.seconds)]
            command += ["--baseline"] if baseline else []
            workers[name] = subprocess.Popen(
                command, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
        for process in workers.values():
            json.loads(process.stdout.readline())
        timings: dict[str, list[dict[str, float]]] = {name: [] for name in settings}
        for round_ in range(args.repeats + 1):  # round 0 warms up
            for name, process in workers.items():
                process.stdin.write("go\n")
                process.stdin.flush()
                answer = json.loads(process.stdout.readline())
                if round_:
                    timings[name].append(answer)
        for process in workers.values():
            process.stdin.close()
            process.wait()
    first = next(iter(settings))
    base_wall = statistics.median(t["wall"] for t in timings[first])
    base_cpu = statistics.median(t["cpu"] for t in timings[first])
    setting = f"end to end, {args.seconds:.0f} s of speech, 64 / 16"
    print(f"\n| setting ({setting}) | median ms | × real time | CPU s | speed-up (wall / CPU) |")
    print("|---|---|---|---|---|")
    for name, runs in timings.items():
        wall = statistics.median(t["wall"] for t in runs)
        cpu = statistics.median(t["cpu"] for t in runs)
        print(
            json.dumps({"setting": name, "seconds": wall, "cpu_seconds": cpu, "runs": runs}), file=sys.stderr
        )
        print(
            f"| {name} | {1000 * wall:.0f} | {args.seconds / wall:.0f}× | {cpu:.2f} "
            f"| {base_wall / wall:.2f}× / {base_cpu / cpu:.2f}× |"
        )
    checksums = {name: runs[0]["checksum"] for name, runs in timings.items()}
    print(f"\nsum of |poses| per setting (equal up to float rounding): {checksums}")


if __name__ == "__main__":
    main()
