"""``cospeech quickstart`` end to end on a small corpus: corpus → train → evaluate → render."""

from __future__ import annotations

import warnings
from pathlib import Path

import av
import soundfile
from user_console import as_a_user_sees

from cospeech.cli.main import main
from cospeech.inference import load_transcript


def test_quickstart_runs_every_stage_quietly(tmp_path, capsys):
    out = tmp_path / "qs"
    argv = ["quickstart", "--out", str(out), "--minutes", "0.8", "--epochs", "1", "--clips", "2"]
    with as_a_user_sees() as caught:
        # only this 0.8-minute corpus has fewer batches per epoch (2) than the config logs at (10); the
        # real quickstart has 44, and Lightning's hint is right for a user who shrinks the corpus
        warnings.filterwarnings("ignore", "The number of training batches .* smaller than the logging")
        assert main(argv) == 0
    assert [str(w.message) for w in caught] == []  # no LinAlgWarning (mean-pose FID), no LeafSpec …
    printed, errors = capsys.readouterr()
    assert errors == ""
    assert "oracle" in printed and "mean_pose" in printed and "gap closed" in printed
    assert "min of speech in all (generated in" in printed  # the time is not read as the corpus length
    run = out / "runs" / "quickstart" / "version_0"
    videos = [Path(line.split()[-1]) for line in printed.splitlines() if line.startswith("video:")]
    assert sorted(videos) == sorted((run / "render").rglob("*.mp4"))  # every clip, not only the first
    with av.open(videos[0]) as container:
        assert sorted(s.type for s in container.streams) == ["audio", "video"]
    gallery = next(line.split()[-1] for line in printed.splitlines() if line.startswith("gallery:"))
    assert "<video" in Path(gallery).read_text()
    assert (run / "evaluation_test.json").is_file()
    speech = out / "speech.wav"  # what the README's generate examples read
    assert f"speech:  {speech}" in printed and f"cospeech generate {speech}" in printed
    info = soundfile.info(str(speech))
    assert info.samplerate == 16_000 and info.duration > 4
    words = load_transcript(out / "speech.json")  # its transcript, for models trained with words
    assert words and words[0].start < 1 and words[-1].end <= info.duration + 1 / 15
