"""``cospeech demo``: a local web page (Gradio, the field's convention for demos) that turns speech into
gestures with one or more trained runs side by side.

Upload or record speech, pick a speaker (or a style mix, for models with a style embedding, and a seed for
models that draw a ``sampled`` input such as a template), and get the skeleton video with the speech plus
the poses to download: npz, OpenPose JSON (zipped) and CSV, written by ``cospeech.inference``'s writers.
The page is built from the generator contract (``models.interface``), so it offers exactly the inputs the
loaded generators declare.

``DemoSession`` does the work without Gradio (and is what the tests of the rules below exercise); Gradio is
imported only in ``build_app`` (``pip install cospeech[demo]``). Every file goes into one cache folder: a
result per request, the ``cache_size`` newest kept, Gradio's uploads and copies below it too
(``GRADIO_TEMP_DIR``), and the whole folder removed when the server stops. The server binds to
``127.0.0.1`` unless told otherwise.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cospeech.audio import audio_duration, decode_audio
from cospeech.errors import AudioError, ConfigError, CospeechError
from cospeech.skeletons import PATS48, get_skeleton

if TYPE_CHECKING:
    from cospeech.inference.pipeline import GeneratedGestures

DEFAULT_HOST = "127.0.0.1"
MAX_SECONDS = 60.0
"""Longest speech the page accepts (``cospeech generate`` takes any length)."""
SILENCE_DBFS = -50.0
"""Speech whose RMS over the whole recording is below this (dB relative to full scale) is refused as
silent: nothing to gesture to."""
UPLOAD_BYTES_PER_SECOND = 96_000 * 2 * 4
"""Upload size allowed per second of ``max_seconds`` (96 kHz stereo float32 WAV, the largest common speech
recording): bigger files are refused by the page before they reach the disk."""
DEFAULT_CACHE_SIZE = 8
"""Results kept on disk; older ones are deleted as new ones are made."""
VIDEO_HEIGHT = 540


@dataclass(frozen=True)
class DemoResult:
    """One request's files, all inside the session's cache."""

    video: Path
    downloads: list[Path]
    message: str


class DemoSession:
    """Loaded runs and the bounded result cache of one demo server.

    Parameters
    ----------
    checkpoints : run folders, ``.ckpt`` files or exported models; panels side by side, in order.
    labels : a name per checkpoint (default: the run's folder, ``name/version_N``).
    cache : folder to keep results in (created if missing; default the system's temporary folder): they go
        into a new ``cospeech-demo-*`` folder inside it, which ``close`` removes, leaving the rest alone.
    cache_size : results kept, ≥ 1.
    max_seconds : longest speech accepted.

    Raises
    ------
    ConfigError : no checkpoint, labels not one per checkpoint, runs of different skeletons, no speaker
        that every run knows, or a cache size below 1.
    CheckpointError : a checkpoint that cannot be loaded.
    """

    def __init__(
        self,
        checkpoints: Sequence[str | os.PathLike[str]],
        *,
        labels: Sequence[str] | None = None,
        cache: str | os.PathLike[str] | None = None,
        cache_size: int = DEFAULT_CACHE_SIZE,
        max_seconds: float = MAX_SECONDS,
    ) -> None:
        if not checkpoints:
            raise ConfigError("the demo needs at least one --checkpoint")
        if labels is not None and len(labels) != len(checkpoints):
            raise ConfigError(
                f"{len(labels)} labels for {len(checkpoints)} checkpoints; give one per checkpoint"
            )
        if cache_size < 1:
            raise ConfigError(f"cache size {cache_size}: keep at least 1 result")
        from cospeech.inference.clips import run_labels, unique_labels  # torch: only when serving
        from cospeech.inference.pipeline import GestureGenerator

        self.generators = [GestureGenerator.from_pretrained(c) for c in checkpoints]
        self.labels = unique_labels(labels if labels is not None else run_labels(checkpoints))
        skeletons = {g.skeleton.name for g in self.generators}
        if len(skeletons) > 1:
            raise ConfigError(
                f"runs side by side must share a skeleton; these use {', '.join(sorted(skeletons))}"
            )
        self.skeleton = get_skeleton(skeletons.pop())
        self.speakers = [
            s for s in self.generators[0].speakers if all(s in g.speakers for g in self.generators)
        ]
        if not self.speakers:
            known = "; ".join(
                f"{label}: {', '.join(g.speakers)}"
                for label, g in zip(self.labels, self.generators, strict=True)
            )
            raise ConfigError(f"no speaker is known to every run ({known})")
        self.mixes_styles = all("style" in g.generator.inputs for g in self.generators)
        self.seeded = any(any(s.sampled for s in g.generator.inputs.values()) for g in self.generators)
        self.max_seconds = max_seconds
        self.cache_size = cache_size
        if cache is not None:
            Path(cache).mkdir(parents=True, exist_ok=True)
        self.cache = Path(tempfile.mkdtemp(prefix="cospeech-demo-", dir=cache))
        self._results = self.cache / "results"
        self._results.mkdir(exist_ok=True)
        self._count = itertools.count()
        self._lock = threading.Lock()

    def generate(
        self, audio: str | os.PathLike[str] | None, speaker: str, *, style: str = "", seed: int | None = None
    ) -> DemoResult:
        """Gestures of every run for the speech file ``audio``, in ``speaker``'s style (or the mix ``style``,
        e.g. ``"ava=0.5,ben=0.5"``, when given), drawn side by side with the speech (and its loudness).

        Raises ``AudioError`` (no file, unreadable, too long, silent) or ``ConfigError`` (unknown speaker,
        a bad mix), each one line meant for the page."""
        if not audio:
            raise AudioError("no speech: upload a file or record some first")
        path = Path(audio)
        self._check_length(path, audio_duration(path))  # before decoding: a long upload never fills memory
        try:
            samples, rate = decode_audio(path)
        except CospeechError as err:
            detail = str(err).replace(f"{path}: ", "")
            raise AudioError(f"{path.name}: {detail}; try WAV, FLAC, MP3 or OGG") from None
        samples = np.asarray(samples, np.float32)
        self._check_length(path, len(samples) / rate)
        rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0
        if rms <= 10 ** (SILENCE_DBFS / 20):
            raise AudioError(
                f"{path.name}: no speech, the recording is silent (level below {SILENCE_DBFS:.0f} dBFS)"
            )
        request = style.strip() or speaker
        if not request:
            raise ConfigError("pick a speaker")
        from cospeech.render.video import write_video

        generated = [g.generate(path, speaker=request, seed=seed) for g in self.generators]
        folder = self._new_result()
        width = min(1920, VIDEO_HEIGHT * 4 // 3 * len(generated)) // 2 * 2  # a 4:3 panel per run
        first = generated[0]
        video = write_video(
            folder / "gestures.mp4",
            [(f"{label} ({g.speaker})", g.poses) for label, g in zip(self.labels, generated, strict=True)],
            self.skeleton,
            fps=first.fps,
            audio=first.audio,
            sample_rate=first.sample_rate,
            size=(width, VIDEO_HEIGHT),
            speaker=f"style: {first.speaker}",
            loudness=True,
        )
        downloads = [
            p for label, g in zip(self.labels, generated, strict=True) for p in _exports(g, folder, label)
        ]
        message = (
            f"{first.duration:.1f} s of speech, {first.num_frames} poses at {first.fps} fps, "
            f"style {first.speaker}"
        )
        return DemoResult(video, downloads, message)

    def _check_length(self, path: Path, seconds: float | None) -> None:
        if seconds is not None and seconds > self.max_seconds:
            raise AudioError(
                f"{path.name}: {seconds:.1f} s of speech; the demo takes up to {self.max_seconds:.0f} s "
                "(use `cospeech generate` for longer speech)"
            )

    def _new_result(self) -> Path:
        """A new folder for one result; the oldest beyond ``cache_size`` are deleted."""
        with self._lock:
            folder = self._results / f"{next(self._count):06d}"
            folder.mkdir()
            kept = sorted(p for p in self._results.iterdir() if p.is_dir())
            for old in kept[: -self.cache_size]:
                shutil.rmtree(old, ignore_errors=True)
        return folder

    def close(self) -> None:
        """Delete the session's cache folder and everything in it."""
        shutil.rmtree(self.cache, ignore_errors=True)


def _exports(gestures: GeneratedGestures, folder: Path, label: str) -> list[Path]:
    """npz, CSV and (for pats48) zipped OpenPose JSON of one run's gestures, named after its label."""
    from cospeech.inference.outputs import write_csv, write_npz, write_openpose_json

    stem = folder / (re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_") or "gestures")
    paths = [
        write_npz(gestures, stem.with_name(stem.name + ".npz")),
        write_csv(gestures, stem.with_name(stem.name + ".csv")),
    ]
    if gestures.skeleton == PATS48.name:
        keypoints = write_openpose_json(gestures, stem.with_name(stem.name + "_keypoints"))
        paths.append(Path(shutil.make_archive(str(keypoints), "zip", keypoints)))
        shutil.rmtree(keypoints)
    return paths


def build_app(session: DemoSession) -> Any:
    """The Gradio page of ``session`` (a ``gradio.Blocks``; Gradio imported here only)."""
    import gradio as gr

    def run(audio: str | None, speaker: str, style: str, seed: float | None) -> tuple[str, list[str], str]:
        try:
            result = session.generate(
                audio, speaker, style=style or "", seed=None if seed is None else int(seed)
            )
        except CospeechError as err:
            raise gr.Error(str(err), print_exception=False) from None  # the page shows it; no traceback
        return str(result.video), [str(p) for p in result.downloads], result.message

    names = ", ".join(session.labels)
    with gr.Blocks(title="cospeech demo", analytics_enabled=False, delete_cache=(300, 900)) as app:
        gr.Markdown(f"# cospeech: speech in, gestures out\nRuns: **{names}**. Upload or record speech "
                    f"(up to {session.max_seconds:.0f} s), pick a speaker, and generate.")  # fmt: skip
        with gr.Row():
            with gr.Column():
                audio = gr.Audio(sources=["upload", "microphone"], type="filepath", label="speech")
                speaker = gr.Dropdown(session.speakers, value=session.speakers[0], label="speaker")
                style = gr.Textbox(
                    label="style mix (optional)",
                    placeholder=", ".join(f"{s}=0.5" for s in session.speakers[:2]),
                    visible=session.mixes_styles,
                )
                seed = gr.Number(value=0, precision=0, label="seed", visible=session.seeded)
                button = gr.Button("Generate", variant="primary", elem_id="generate")
            with gr.Column():
                video = gr.Video(label="gestures", elem_id="gestures", autoplay=False)
                status = gr.Markdown(elem_id="status")
                files = gr.File(
                    label="download: npz, CSV, OpenPose JSON", file_count="multiple", elem_id="downloads"
                )
        button.click(run, inputs=[audio, speaker, style, seed], outputs=[video, files, status])
    return app


def serve(
    checkpoints: Sequence[str | os.PathLike[str]],
    *,
    host: str = DEFAULT_HOST,
    port: int | None = None,
    labels: Sequence[str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    cache_size: int = DEFAULT_CACHE_SIZE,
    max_seconds: float = MAX_SECONDS,
) -> None:
    """Load the runs and serve the page until interrupted (Ctrl-C or SIGTERM); the cache is deleted then.

    Raises ``ConfigError`` when ``host``/``port`` cannot be bound (and what ``DemoSession`` raises)."""
    session = DemoSession(
        checkpoints, labels=labels, cache=cache, cache_size=cache_size, max_seconds=max_seconds
    )
    # Gradio's uploads and output copies live in the session's cache too, so stopping leaves nothing.
    # Gradio also reads it on import for a folder of its own: `cospeech demo` imports Gradio only after this.
    os.environ["GRADIO_TEMP_DIR"] = str(session.cache / "gradio")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        app = build_app(session)
        try:
            app.launch(
                server_name=host,
                server_port=port,
                ssr_mode=False,
                quiet=True,
                allowed_paths=[str(session.cache)],
                max_file_size=max(10_000_000, round(session.max_seconds * UPLOAD_BYTES_PER_SECOND)),
                prevent_thread_lock=True,
            )
        except OSError:  # Gradio's words point at its own API; the user has --host and --port
            where = f"{host}:{port}" if port is not None else f"{host} (no free port from Gradio's 7860 on)"
            raise ConfigError(
                f"cannot serve on {where}: in use, or not an address of this machine; pick another "
                "--port or --host"
            ) from None
        print(f"cospeech demo: {', '.join(session.labels)} on {app.local_url} (Ctrl-C stops)", flush=True)
        app.block_thread()  # until Ctrl-C or SIGTERM, which close the server
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        session.close()


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
