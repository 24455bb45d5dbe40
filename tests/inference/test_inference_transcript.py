"""Word-timed transcripts: JSON and Praat TextGrid (long and short text formats, UTF-8 and UTF-16)."""

from __future__ import annotations

import json

import pytest

from cospeech.errors import DataError
from cospeech.inference import Word, load_transcript

LONG_TEXTGRID = '''File type = "ooTextFile"
Object class = "TextGrid"

xmin = 0
xmax = 2.3
tiers? <exists>
size = 2
item []:
    item [1]:
        class = "IntervalTier"
        name = "phones"
        xmin = 0
        xmax = 2.3
        intervals: size = 1
        intervals [1]:
            xmin = 0
            xmax = 2.3
            text = "p"
    item [2]:
        class = "IntervalTier"
        name = "Words"
        xmin = 0
        xmax = 2.3
        intervals: size = 3
        intervals [1]:
            xmin = 0
            xmax = 0.5
            text = ""
        intervals [2]:
            xmin = 0.5
            xmax = 1.2
            text = "say ""hi"""
        intervals [3]:
            xmin = 1.2
            xmax = 2.3
            text = "2nd [1]"
'''

SHORT_TEXTGRID = """File type = "ooTextFile"
Object class = "TextGrid"

0
2.3
<exists>
2
"TextTier"
"events"
0
2.3
1
1.0
"click"
"IntervalTier"
"speech"
0
2.3
2
0
1
"hello"
1
2.3
"world"
"""


def test_json_transcript_is_read_and_sorted(tmp_path):
    path = tmp_path / "words.json"
    path.write_text(
        json.dumps([{"word": "world", "start": 0.6, "end": 1.0}, {"word": "hello", "start": 0.1, "end": 0.5}])
    )
    assert load_transcript(path) == [Word("hello", 0.1, 0.5), Word("world", 0.6, 1.0)]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16"])
def test_long_textgrid_picks_the_words_tier_and_drops_pauses(tmp_path, encoding):
    path = tmp_path / "talk.TextGrid"
    path.write_bytes(LONG_TEXTGRID.encode(encoding))
    assert load_transcript(path) == [Word('say "hi"', 0.5, 1.2), Word("2nd [1]", 1.2, 2.3)]


def test_short_textgrid_falls_back_to_the_first_interval_tier(tmp_path):
    path = tmp_path / "talk.textgrid"
    path.write_text(SHORT_TEXTGRID)
    assert load_transcript(path) == [Word("hello", 0.0, 1.0), Word("world", 1.0, 2.3)]


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("a.json", '{"word": "x"}', "expected a list"),
        ("b.json", '[{"word": "x", "start": 1.0}]', "entry 0 is not"),
        ("c.json", '[{"word": "x", "start": 2.0, "end": 1.0}]', "word 0 .* invalid times"),
        ("d.json", "[{", "not valid JSON"),
        ("e.TextGrid", "hello", "not a Praat TextGrid"),
        ("f.TextGrid", SHORT_TEXTGRID[:-20], "malformed TextGrid"),
        ("g.srt", "1\n00:00:01,000 --> 00:00:02,000\nhi\n", "unknown transcript format '.srt'"),
    ],
)
def test_malformed_transcripts_name_the_file_and_problem(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(DataError, match=message) as error:
        load_transcript(path)
    assert str(error.value).startswith(str(path))
