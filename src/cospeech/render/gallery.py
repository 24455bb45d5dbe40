"""A static HTML page of a run's videos and metrics.

One self-contained file (inline CSS, no scripts, no external assets) that opens from the run directory in any
browser: videos are referenced by paths relative to the page. Every piece of text is HTML-escaped, as titles,
speaker names and captions come from user data and model names.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath
from urllib.parse import quote

from cospeech.files import OutputError, atomic_write

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; background: #fafafa; }
table { border-collapse: collapse; margin-bottom: 2rem; }
th, td { border: 1px solid #ccc; padding: 0.3rem 0.7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #eee; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 1.5rem; }
figure { margin: 0; background: #fff; border: 1px solid #ddd; padding: 0.5rem; }
video { width: 100%; }
figcaption .speaker { color: #666; }
.legend { color: #555; font-size: 0.9rem; margin: -1.5rem 0 2rem; }
.legend dt { font-weight: bold; float: left; margin-right: 0.5rem; }
.legend dd { margin: 0 0 0.2rem; }
"""


@dataclass(frozen=True)
class ClipEntry:
    """One video of the gallery.

    ``video_relpath`` is relative to the page's directory (e.g. ``render/test/oliver/0001.mp4``), so the
    run directory can be moved or served as it is.
    """

    title: str
    video_relpath: str | PurePath
    speaker: str | None = None
    caption: str | None = None


def write_gallery(
    path_html: str | os.PathLike[str],
    clips: Sequence[ClipEntry],
    metrics: Mapping[str, Mapping[str, float]] | None = None,
    title: str = "cospeech results",
    *,
    directions: Mapping[str, bool | None] | None = None,
    legend: Mapping[str, str] | None = None,
) -> Path:
    """Write the page: ``title``, a metrics table (one row per outer key, e.g. a run or a baseline; one
    column per metric name in order of first appearance; blank where missing) with its legend, then a grid
    of ``<video controls>``.

    ``directions`` marks each metric's header ↑ (higher is better, True) or ↓ (lower, False); None or a
    missing name gets no arrow (e.g. a statistic to compare with the ground truth's). ``legend`` adds one
    line per term (a row or column name) under the table, after the line explaining the arrows.

    Raises
    ------
    OutputError : a clip's path is absolute (the page would stop working once moved), or ``path_html``'s
        directory does not exist.
    """
    path = Path(path_html)
    for clip in clips:
        if PurePath(clip.video_relpath).is_absolute():
            raise OutputError(f"{path}: clip {clip.title!r} video path {clip.video_relpath} must be relative")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f"<title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    if metrics:
        parts += _metrics_table(metrics, directions or {})
        parts += _legend(legend or {}, arrows=any(v is not None for v in (directions or {}).values()))
    parts.append('<div class="grid">')
    parts += [_clip_figure(clip) for clip in clips]
    parts += ["</div>", "</body>", "</html>", ""]
    with atomic_write(path) as temporary:
        temporary.write_text("\n".join(parts), encoding="utf-8")
    return path


_ARROWS = {True: " ↑", False: " ↓", None: ""}


def _metrics_table(
    metrics: Mapping[str, Mapping[str, float]], directions: Mapping[str, bool | None]
) -> list[str]:
    columns = list(dict.fromkeys(name for row in metrics.values() for name in row))
    header = "".join(f"<th>{html.escape(c)}{_ARROWS[directions.get(c)]}</th>" for c in columns)
    rows = [
        "<tr><th>{}</th>{}</tr>".format(
            html.escape(name),
            "".join(f"<td>{_number(row[c]) if c in row else ''}</td>" for c in columns),
        )
        for name, row in metrics.items()
    ]
    return ["<table>", f"<thead><tr><th></th>{header}</tr></thead>", "<tbody>", *rows, "</tbody>", "</table>"]


def _legend(terms: Mapping[str, str], *, arrows: bool) -> list[str]:
    lines = [("↑ / ↓", "higher / lower is better")] if arrows else []
    lines += list(terms.items())
    if not lines:
        return []
    items = "".join(f"<dt>{html.escape(t)}</dt><dd>{html.escape(d)}</dd>" for t, d in lines)
    return [f'<dl class="legend">{items}</dl>']


def _number(value: float) -> str:
    """Four significant digits: enough to compare methods, short enough to scan a column."""
    return html.escape(f"{value:.4g}")


def _clip_figure(clip: ClipEntry) -> str:
    source = html.escape(quote(PurePath(clip.video_relpath).as_posix()))
    caption = f"<strong>{html.escape(clip.title)}</strong>"
    if clip.speaker:
        caption += f' <span class="speaker">({html.escape(clip.speaker)})</span>'
    if clip.caption:
        caption += f"<br>{html.escape(clip.caption)}"
    return (
        f'<figure><video controls preload="metadata" src="{source}"></video>'
        f"<figcaption>{caption}</figcaption></figure>"
    )
