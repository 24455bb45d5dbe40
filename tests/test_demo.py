"""``cospeech demo``: the session's rules on real files and a tiny trained run, then the page itself in a
real browser (headless Chromium driven by Playwright): upload → generate → the video plays → download."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tracemalloc
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile

from cospeech.demo import DemoSession
from cospeech.errors import AudioError, ConfigError

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SRC = Path(__file__).resolve().parent.parent / "src"


@pytest.fixture(scope="module")
def speech(synth_root: Path) -> Path:
    """A real held-out interval's speech (FLAC, 16 kHz) of the built-in corpus."""
    return sorted((synth_root / "raw" / "ava_cropped").glob("*.flac"))[0]


def test_a_request_gives_a_video_and_every_download_and_the_cache_stays_bounded(tiny_run, speech, tmp_path):
    session = DemoSession(
        [tiny_run, tiny_run], labels=["small", "big"], cache=tmp_path / "cache", cache_size=2
    )
    assert session.speakers == ["ava", "ben"] and not session.seeded
    result = session.generate(str(speech), "ben")
    assert result.video.suffix == ".mp4" and result.video.stat().st_size > 0
    assert sorted(p.name for p in result.downloads) == sorted(
        f"{label}{suffix}" for label in ("small", "big") for suffix in (".npz", ".csv", "_keypoints.zip")
    )
    with np.load(result.downloads[0], allow_pickle=False) as npz:
        assert npz["poses"].shape[1:] == (48, 2) and str(npz["speaker"]) == "ben"
    with zipfile.ZipFile(next(p for p in result.downloads if p.suffix == ".zip")) as keypoints:
        assert keypoints.namelist()[0].endswith("_keypoints.json")
    assert "style ben" in result.message
    for _ in range(2):
        session.generate(str(speech), "ava")
    assert len(list((session.cache / "results").iterdir())) == 2  # the oldest result is gone
    assert not result.video.exists()
    (tmp_path / "cache" / "mine.txt").write_text("the user's file")
    session.close()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["mine.txt"]  # only the session's folder went


def test_bad_uploads_get_one_clear_line(tiny_run, speech, tmp_path):
    session = DemoSession([tiny_run], cache=tmp_path / "cache", max_seconds=3.0)
    with pytest.raises(AudioError, match="no speech: upload a file or record"):
        session.generate(None, "ava")
    silent = tmp_path / "silence.wav"
    soundfile.write(silent, np.zeros(16_000, np.float32), 16_000)
    with pytest.raises(AudioError, match="silence.wav: no speech, the recording is silent"):
        session.generate(str(silent), "ava")
    with pytest.raises(AudioError, match=r"s of speech; the demo takes up to 3 s"):
        session.generate(str(speech), "ava")
    garbage = tmp_path / "notes.wav"
    garbage.write_text("not audio")
    with pytest.raises(AudioError, match=r"^notes.wav: not a readable audio file \([^()]*\); try WAV"):
        session.generate(str(garbage), "ava")
    long = tmp_path / "lecture.wav"  # 10 minutes: refused from its header, before 38 MB of samples exist
    soundfile.write(long, np.full(600 * 16_000, 0.1, np.float32), 16_000, subtype="PCM_16")
    tracemalloc.start()
    with pytest.raises(AudioError, match=r"lecture.wav: 600.0 s of speech; the demo takes up to 3 s"):
        session.generate(str(long), "ava")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4_000_000
    short = tmp_path / "short.wav"
    data, rate = soundfile.read(speech, dtype="float32")
    soundfile.write(short, data[: 2 * rate], rate)
    with pytest.raises(ConfigError, match="unknown speaker 'zoe'"):
        session.generate(str(short), "zoe")
    assert not list((session.cache / "results").iterdir())  # refused requests leave nothing
    session.close()


def test_runs_must_share_a_speaker_and_labels_match(tiny_run, tmp_path):
    with pytest.raises(ConfigError, match="at least one"):
        DemoSession([])
    with pytest.raises(ConfigError, match="2 labels for 1 checkpoints"):
        DemoSession([tiny_run], labels=["a", "b"], cache=tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(url: str, server: subprocess.Popen, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"the demo server exited: {server.stdout.read() if server.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"the demo server did not answer on {url} within {seconds} s")


def test_a_port_in_use_is_one_line(tiny_run, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(SRC), "GRADIO_ANALYTICS_ENABLED": "False", "TMPDIR": str(tmp_path)}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        command = [sys.executable, "-m", "cospeech.cli.main", "demo", "--checkpoint", str(tiny_run),
                   "--port", str(port)]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.splitlines()[0] == (
        f"cospeech: error: cannot serve on 127.0.0.1:{port}: in use, or not an address of this machine; "
        "pick another --port or --host"
    )
    assert not any(tmp_path.iterdir())  # the session's cache went too


@pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium executable (apt-get install chromium); .ci/run installs it"
)
def test_the_page_in_a_real_browser(tiny_run, speech, tmp_path):
    sync_playwright = pytest.importorskip("playwright.sync_api").sync_playwright
    port, cache, temporary = _free_port(), tmp_path / "cache", tmp_path / "tmp"
    temporary.mkdir()
    env = {**os.environ, "PYTHONPATH": str(SRC), "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": "1",
           "TMPDIR": str(temporary)}  # fmt: skip
    command = [sys.executable, "-m", "cospeech.cli.main", "demo", "--checkpoint", str(tiny_run),
               "--port", str(port), "--cache", str(cache)]  # fmt: skip
    server = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, server, 45)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
            page.goto(url)
            page.locator("#generate").wait_for()
            page.click("#generate")  # nothing uploaded yet: one line on the page, no traceback on the console
            refusal = page.locator(".toast-body").first
            refusal.wait_for(timeout=15_000)
            assert refusal.inner_text().splitlines()[-1] == "no speech: upload a file or record some first"
            page.locator("input[type=file]").first.set_input_files(str(speech))
            page.get_by_text("0:00").first.wait_for()  # the upload is in: its player shows
            page.click("#generate")
            video = page.locator("#gestures video")
            video.wait_for(timeout=30_000)
            state = page.evaluate(
                """async () => {
                    const v = document.querySelector('#gestures video');
                    v.muted = true;
                    await v.play();
                    await new Promise(resolve => setTimeout(resolve, 600));
                    return {paused: v.paused, time: v.currentTime, width: v.videoWidth, error: v.error};
                }"""
            )
            assert not state["paused"] and state["error"] is None and state["width"] == 720
            assert state["time"] > 0.2  # the video element is playing
            assert "style ava" in page.locator("#status").inner_text()
            page.screenshot(path=str(tmp_path / "demo.png"), full_page=True)  # the test's artefact
            with page.expect_download() as download:
                page.locator("#downloads a").first.click()
            saved = tmp_path / download.value.suggested_filename
            download.value.save_as(saved)
            browser.close()
        with np.load(saved, allow_pickle=False) as npz:
            assert saved.name == "tiny_version_0.npz" and npz["poses"].shape[1:] == (48, 2)
        assert (tmp_path / "demo.png").stat().st_size > 10_000
        assert any(cache.iterdir())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=20)
    assert not any(cache.iterdir())  # stopping the server leaves nothing behind …
    assert not any(temporary.iterdir())  # … in the temporary folder either (Gradio's own folders included)
    assert "Traceback" not in server.stdout.read()
