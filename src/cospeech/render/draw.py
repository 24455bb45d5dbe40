"""Skeleton drawing with OpenCV, and the frame layout videos are made of.

Poses arrive as neck-relative pixel offsets ``(J, 2)`` (x right, y down, as in images). A person is drawn
around them (``cospeech.render.figure``): a torso, a neck and a head placed from the shoulders (or from the
nose and eyes when the skeleton has them), then the bones, each an anti-aliased line with sub-pixel end
points (so slow motion does not jitter by whole pixels), coloured by side (the person's left arm and hand
in one hue, the right in another) and sized by body part. Joints whose parent is -1 hang from the origin,
the neck, and are joined to it (the shoulders of ``pats48``; the nose and shoulders of ``sdt121``).

``draw_pose`` draws onto a BGR image. ``PoseCanvasLayout`` makes whole video frames and draws them straight
into the planes of an I420 (YUV 4:2:0) image, the encoder's input format: drawing one grey plane at full
resolution and two at quarter size costs less than drawing BGR and converting every frame, and roughly
doubles the frame rate (see ``benchmarks/bench_render.py``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import cv2
import numpy as np

from cospeech.errors import RenderError
from cospeech.render.figure import draw_groups, figure_shapes, has_figure
from cospeech.skeletons import Skeleton

BGR = tuple[int, int, int]

REFERENCE_HEIGHT = 720
MIN_TEXT_HEIGHT = 144
"""Frames lower than this (in pixels) get no titles, speaker or clock: the text would be a few pixels
high, unreadable, and OpenCV cannot draw it into a footer that small."""
"""Frame height (px) at which ``DrawStyle`` line widths and text sizes hold; they scale with the frame."""

_SHIFT = 4  # fractional bits of line end points passed to OpenCV (1/16 px)
_LIMIT = 1e6  # |pixel| clip, so wild predictions cannot overflow int32 after the shift
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def _default_colours() -> Mapping[str, BGR]:
    # matplotlib's tab10 blue (the person's right) and orange (left): distinct for colour-blind viewers
    # and on white; each hand shares its arm's hue. Neck, nose and outlines dark grey; fills light.
    right, left = (180, 119, 31), (14, 127, 255)
    return MappingProxyType(
        {
            "body": (80, 80, 80),
            "right_arm": right,
            "right_hand": right,
            "left_arm": left,
            "left_hand": left,
            "face": (110, 110, 110),
            "torso": (228, 222, 216),
            "head": (238, 234, 230),
            "outline": (80, 80, 80),
        }
    )


def _default_widths() -> Mapping[str, float]:
    return MappingProxyType(
        {"body": 4.0, "right_arm": 5.0, "left_arm": 5.0, "left_hand": 2.0, "right_hand": 2.0,
         "face": 1.0, "outline": 2.0}
    )  # fmt: skip


@dataclass(frozen=True)
class DrawStyle:
    """Colours (BGR) and line widths (px at a 720-pixel-high frame) per drawing group: the skeleton's
    groups with ``body`` split into ``right_arm``, ``left_arm`` and ``body`` (``figure.draw_groups``),
    plus the figure's ``torso`` and ``head`` fills and their ``outline``.

    A group missing from ``colours`` or ``widths`` is drawn like ``body``. Hands are drawn at their real
    scale, thinner than the arms so the fingers stay apart (SDT's renderer uses 4, 3 and 2 px).
    """

    background: BGR = (255, 255, 255)
    text: BGR = (40, 40, 40)
    separator: BGR = (210, 210, 210)
    colours: Mapping[str, BGR] = field(default_factory=_default_colours)
    widths: Mapping[str, float] = field(default_factory=_default_widths)

    def colour(self, group: str) -> BGR:
        return self.colours.get(group, self.colours["body"])

    def width(self, group: str, frame_height: int) -> int:
        """Line width in pixels for ``group`` on a frame ``frame_height`` pixels high (at least 1)."""
        base = self.widths.get(group, self.widths["body"])
        return max(1, round(base * frame_height / REFERENCE_HEIGHT))


@dataclass(frozen=True)
class _Strokes:
    """A skeleton's bones joined into chains (shoulder → elbow → wrist, palm → fingertip), per group.

    ``cv2.polylines`` draws a round cap at both ends of a lone segment but only one per joint along a
    chain, and caps are most of the cost of thick anti-aliased lines: chains draw ~25 % faster.
    """

    index: np.ndarray  # (n,) the joints of every chain end to end; J stands for the origin (neck)
    chains: Mapping[str, tuple[slice, ...]]  # group → where its chains lie in ``index``

    def lines(self, points: np.ndarray) -> tuple[np.ndarray, dict[str, list[np.ndarray]]]:
        """``points[index]`` and, per group, views of it, one ``(k, 2)`` polyline per chain."""
        nodes = points[self.index]
        return nodes, {g: [nodes[s] for s in slices] for g, slices in self.chains.items()}


@functools.lru_cache(maxsize=32)
def _strokes(parents: tuple[int, ...], groups: tuple[tuple[str, tuple[int, ...]], ...]) -> _Strokes:
    """Chains per group, cached per skeleton. A bone belongs to the group of its child joint; a chain
    follows the first same-group child not yet drawn, so every bone is drawn exactly once."""
    group_of = {j: name for name, members in groups for j in reversed(members)}
    origin = len(parents)
    children: dict[int, list[int]] = {}
    for j, p in enumerate(parents):
        children.setdefault(origin if p < 0 else p, []).append(j)
    index: list[int] = []
    chains: dict[str, list[slice]] = {}
    drawn: set[int] = set()
    for j, p in enumerate(parents):
        if j in drawn:
            continue
        group = group_of.get(j, "body")
        chain = [origin if p < 0 else p, j]
        drawn.add(j)
        while nxt := [
            c for c in children.get(chain[-1], []) if c not in drawn and group_of.get(c, "body") == group
        ]:
            chain.append(nxt[0])
            drawn.add(nxt[0])
        chains.setdefault(group, []).append(slice(len(index), len(index) + len(chain)))
        index += chain
    return _Strokes(np.asarray(index, np.intp), MappingProxyType({g: tuple(c) for g, c in chains.items()}))


def _skeleton_strokes(skeleton: Skeleton) -> _Strokes:
    return _strokes(skeleton.parents, draw_groups(skeleton))


class _Figure:
    """Torso, neck and head of one pose in 1/16 px (see ``figure.figure_shapes``), ready for OpenCV."""

    def __init__(self, joints: np.ndarray, skeleton: Skeleton, scale: float, origin: tuple[float, float]):
        shapes = figure_shapes(joints, skeleton)
        # torso corners, head centre, neck top, then the origin (neck) appended by _fixed_point
        points = np.concatenate([shapes.torso, shapes.head_centre[None], shapes.neck_top[None]])
        self.points = _fixed_point(points, scale, origin, np.empty((len(points) + 1, 2), np.int32))
        self.radius = max(1, round(min(float(shapes.head_radius) * scale, _LIMIT) * (1 << _SHIFT)))

    def box(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) corners in 1/16 px of everything the figure covers, lines excluded."""
        head = self.points[4]
        return (
            np.minimum(self.points.min(axis=0), head - self.radius),
            np.maximum(self.points.max(axis=0), head + self.radius),
        )

    def move_up(self, amount: int) -> None:
        self.points[:, 1] -= amount


def _paint(
    image: np.ndarray,
    colour: Callable[[str], float | BGR],
    width: Callable[[str], int],
    lines: Mapping[str, list[np.ndarray]],
    figure: _Figure | None,
    shift: int,
) -> None:
    """Draw the figure (torso, neck, head) then the bones into one image or plane, points in 1/2^shift px."""
    if figure is not None:
        torso, head, neck = figure.points[:4], figure.points[4], figure.points[[6, 5]]
        cv2.fillPoly(image, [torso], colour("torso"), cv2.LINE_AA, shift)
        cv2.polylines(image, [neck], False, colour("body"), width("right_arm"), cv2.LINE_AA, shift)
        centre = (int(head[0]), int(head[1]))
        cv2.circle(image, centre, figure.radius, colour("head"), -1, cv2.LINE_AA, shift)
        cv2.circle(image, centre, figure.radius, colour("outline"), width("outline"), cv2.LINE_AA, shift)
    for group, polylines in lines.items():
        cv2.polylines(image, polylines, False, colour(group), width(group), cv2.LINE_AA, shift)


def check_poses(poses: np.ndarray, skeleton: Skeleton, what: str, *, frames: bool) -> np.ndarray:
    """``poses`` as float32 ``(T, J, 2)`` if ``frames`` else ``(J, 2)``, or a ``RenderError`` naming ``what``
    and the problem (checked once per sequence, not per frame)."""
    poses = np.asarray(poses)
    expected = (skeleton.num_joints, 2)
    if poses.ndim != len(expected) + frames or poses.shape[-2:] != expected:
        layout = f"({'T, ' if frames else ''}{skeleton.num_joints}, 2)"
        raise RenderError(f"{what}: poses of shape {poses.shape}, expected {layout} for {skeleton.name}")
    if not np.issubdtype(poses.dtype, np.number):
        raise RenderError(f"{what}: poses of dtype {poses.dtype}, expected numbers")
    poses = poses.astype(np.float32, copy=False)
    if not np.isfinite(poses).all():
        *frame, joint, _ = (int(i) for i in np.argwhere(~np.isfinite(poses))[0])
        where = f"frame {frame[0]}, " if frame else ""
        name = skeleton.joint_names[joint]
        raise RenderError(f"{what}: poses hold NaN or inf (first at {where}joint {joint} {name})")
    return poses


def _fixed_point(
    joints: np.ndarray, scale: float, origin: tuple[float, float], out: np.ndarray
) -> np.ndarray:
    """Image coordinates of ``joints`` then of the origin, in 1/16 px, into ``out`` ``(J + 1, 2)`` int32."""
    points = np.empty((len(joints) + 1, 2), np.float32)
    np.multiply(joints, scale, out=points[:-1])
    points[:-1] += origin
    points[-1] = origin
    np.clip(points, -_LIMIT, _LIMIT, out=points)
    points *= 1 << _SHIFT
    np.copyto(out, points, casting="unsafe")
    return out


def draw_pose(
    canvas: np.ndarray,
    joints: np.ndarray,
    skeleton: Skeleton,
    *,
    scale: float,
    origin: tuple[float, float],
    style: DrawStyle | None = None,
) -> np.ndarray:
    """Draw one pose onto a BGR image in place and return it.

    Parameters
    ----------
    canvas : np.ndarray [shape=(H, W, 3)], uint8 BGR.
    joints : np.ndarray [shape=(J, 2)], neck-relative pixel offsets (x right, y down).
    skeleton : the skeleton ``joints`` follow; its groups pick colours and widths.
    scale : float > 0, image pixels per pose unit.
    origin : (x, y) image position of the neck.
    style : colours and widths; line widths scale with ``H / 720``.

    Raises
    ------
    RenderError : ``joints`` has the wrong shape for ``skeleton`` or holds NaN/inf.
    """
    if canvas.ndim != 3 or canvas.shape[2] != 3 or canvas.dtype != np.uint8:
        raise RenderError(
            f"canvas of shape {canvas.shape} and dtype {canvas.dtype}, expected (H, W, 3) uint8"
        )
    style = style or DrawStyle()
    joints = check_poses(joints, skeleton, "draw_pose", frames=False)
    points = _fixed_point(joints, scale, origin, np.empty((skeleton.num_joints + 1, 2), np.int32))
    _, lines = _skeleton_strokes(skeleton).lines(points)
    figure = _Figure(joints, skeleton, scale, origin) if has_figure(skeleton) else None
    height = canvas.shape[0]
    _paint(canvas, style.colour, lambda g: style.width(g, height), lines, figure, _SHIFT)
    return canvas


def bgr_to_yuv(colour: BGR) -> tuple[float, float, float]:
    """BT.601 limited-range Y, U, V of a BGR colour: the conversion ``cv2.COLOR_BGR2YUV_I420`` applies,
    so lines drawn in YUV match backgrounds converted by OpenCV."""
    b, g, r = colour
    return (
        16 + 0.257 * r + 0.504 * g + 0.098 * b,
        128 - 0.148 * r - 0.291 * g + 0.439 * b,
        128 + 0.439 * r - 0.368 * g - 0.071 * b,
    )


def _ascii(text: str) -> str:
    """OpenCV's Hershey fonts are ASCII only: drop accents ("José" → "Jose"), other characters become '?'."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c if c.isascii() else "?" for c in decomposed if not unicodedata.combining(c))


def timecode(seconds: float) -> str:
    """``mm:ss.cc`` (``h:mm:ss.cc`` from one hour), the clock shown in each frame."""
    centis = round(seconds * 100)
    hours, centis = divmod(centis, 360_000)
    minutes, centis = divmod(centis, 6000)
    text = f"{minutes:02d}:{centis // 100:02d}.{centis % 100:02d}"
    return f"{hours}:{text}" if hours else text


def check_size(size: tuple[int, int]) -> tuple[int, int]:
    """``(width, height)`` if both are positive and even (4:2:0 chroma halves both), else ``RenderError``."""
    width, height = size
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise RenderError(f"frame size {width}×{height}: width and height must be positive and even")
    return width, height


def _even(x: float) -> int:
    return int(x) // 2 * 2


Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
"""The Y ``(H, W)``, U and V ``(H/2, W/2)`` uint8 planes of an I420 (YUV 4:2:0) image."""


def i420_planes(i420: np.ndarray) -> Planes:
    """Y, U and V views of an I420 image stored packed as ``(H·3/2, W)`` (OpenCV's layout)."""
    height, width = i420.shape[0] * 2 // 3, i420.shape[1]
    quarter = height * width // 4
    flat = i420.reshape(-1)
    u = flat[height * width : height * width + quarter].reshape(height // 2, width // 2)
    v = flat[height * width + quarter :].reshape(height // 2, width // 2)
    return i420[:height], u, v


def _region(planes: Planes, box: tuple[int, int, int, int]) -> Planes:
    """Views of the luma box ``(x0, x1, y0, y1)`` (even bounds) and of its chroma counterparts."""
    x0, x1, y0, y1 = box
    luma, u, v = planes
    return (
        luma[y0:y1, x0:x1],
        u[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
        v[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2],
    )


def _clamp(value: int, low: int, high: int) -> int:
    return min(max(int(value), low), high)


def _copy(dst: Planes, src: Planes) -> None:
    for d, s in zip(dst, src, strict=True):
        np.copyto(d, s)


class _Clock:
    """The time code strip, assembled from glyphs rendered once: ``cv2.putText`` on every frame would cost
    about as much as drawing both skeletons. All digits get the same width, so they do not jitter as they
    change; the text is right-aligned."""

    CHARACTERS = "0123456789:."
    LONGEST = "00:00:00.00"

    def __init__(
        self, font: tuple[float, int], style: DrawStyle, *, height: int, margin: int, frame_width: int
    ) -> None:
        font_scale, thickness = font
        sizes = {c: cv2.getTextSize(c, _FONT, font_scale, thickness)[0] for c in self.CHARACTERS}
        digit_width = max(sizes[c][0] for c in "0123456789")
        digit_height = sizes["0"][1]
        self._glyphs = {}
        for c, (w, _) in sizes.items():
            cell = (digit_width if c.isdigit() else w) + 2
            glyph = np.full((height, cell, 3), style.background, np.uint8)
            origin = ((cell - w) // 2, (height + digit_height) // 2)
            cv2.putText(glyph, c, origin, _FONT, font_scale, style.text, thickness, cv2.LINE_AA)
            self._glyphs[c] = glyph
        self._margin = margin
        self.width = min(_even(self._text_width(self.LONGEST) + 2 * margin + 1), frame_width)
        self._blank = np.full((height, self.width, 3), style.background, np.uint8)
        self._strip = self._blank.copy()

    def _text_width(self, text: str) -> int:
        return sum(self._glyphs[c].shape[1] for c in text)

    def render(self, text: str) -> Planes:
        """I420 planes of the strip showing ``text`` (characters from ``CHARACTERS``, cut on the left if
        too long)."""
        np.copyto(self._strip, self._blank)
        x = self.width - self._margin
        for c in reversed(text):
            glyph = self._glyphs[c]
            if x < glyph.shape[1]:
                break
            self._strip[:, x - glyph.shape[1] : x] = glyph
            x -= glyph.shape[1]
        return i420_planes(cv2.cvtColor(self._strip, cv2.COLOR_BGR2YUV_I420))


def _bands(height: int, *, strip: bool) -> tuple[int, int, int]:
    """Heights of the header (titles, ~6 %), the footer (speaker and clock, ~5 %) and the loudness strip
    (~8 %, or 0) of a frame ``height`` pixels high."""
    return _even(0.06 * height), _even(0.05 * height), _even(0.08 * height) if strip else 0


def panel_size(size: tuple[int, int], panels: int, *, strip: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of each of ``panels`` side by side on a frame of ``size``, with or without
    the loudness strip: what a view box is fitted to."""
    width, height = size
    return _even(width / panels), height - sum(_bands(height, strip=strip))


DEFAULT_BOX = (-500.0, -300.0, 500.0, 700.0)
"""The view of ``PoseCanvasLayout`` when none is fitted: C-DiffGAN's ±500 px, the neck 30 % down."""


class _EnvelopeStrip:
    """The speech's loudness as bars across a strip of the frame (drawn once into the background), and a
    cursor at the current frame, redrawn each frame."""

    def __init__(
        self, background: np.ndarray, envelope: np.ndarray, box: tuple[int, int, int, int], style: DrawStyle
    ) -> None:
        x0, x1, y0, y1 = box
        if envelope.ndim != 1 or len(envelope) == 0 or not np.isfinite(envelope).all():
            raise RenderError(
                f"envelope of shape {envelope.shape}: expected (T ≥ 1,) finite values in [0, 1]"
            )
        self._frames = len(envelope)
        self._x = (x0, x1)
        self._box = (x0 & ~1, (x1 + 1) & ~1, y0, y1)
        middle, half = (y0 + y1) / 2, (y1 - y0) * 0.45
        xs = np.linspace(x0, x1, len(envelope) + 1)
        for k, level in enumerate(np.clip(envelope, 0, 1)):
            extent = max(0.5, level * half)
            cv2.rectangle(
                background,
                (round(xs[k]), round(middle - extent)),
                (max(round(xs[k]), round(xs[k + 1]) - 1), round(middle + extent)),
                style.separator,
                -1,
            )
        self._cursor = bgr_to_yuv(style.text)

    def draw(self, planes: Planes, background: Planes, frame: int) -> None:
        _copy(_region(planes, self._box), _region(background, self._box))
        x0, x1 = self._x
        x = round(x0 + (x1 - x0) * (min(max(frame, 0), self._frames - 1) + 0.5) / self._frames)
        _, _, y0, y1 = self._box
        luma, u, v = planes
        cv2.line(luma, (x, y0), (x, y1 - 1), self._cursor[0], 2)
        cv2.line(u, (x // 2, y0 // 2), (x // 2, y1 // 2 - 1), self._cursor[1], 1)
        cv2.line(v, (x // 2, y0 // 2), (x // 2, y1 // 2 - 1), self._cursor[2], 1)


class PoseCanvasLayout:
    """Whole video frames: one panel per pose sequence side by side, each titled, with the speaker's name
    bottom-left and a time code bottom-right, rendered as I420 for the H.264 encoder.

    Each panel shows the view ``box`` ``(x0, y0, x1, y1)`` in pose units, centred and as large as the panel
    allows, so every panel uses the same scale. ``write_video`` fits it to the clip
    (``figure.figure_box``: the figure fills the frame); the default ``DEFAULT_BOX`` is C-DiffGAN's
    renderer's ±500 px square (about three shoulder widths, as PATS' RShoulder–Neck distance is ~167) with
    the neck 30 % of the way down. Bones leaving a panel are cut at its border instead of spilling into the
    next one.

    With ``envelope`` (the speech's loudness per frame, ``(T,)`` in [0, 1]) a strip under the panels shows
    it over the whole clip, and ``render(…, frame=t)`` marks frame ``t`` on it, so gesture timing can be
    seen against the speech.

    Frames are drawn into the same planes every time (``out``, or an internal buffer): only the boxes the
    previous frame drew into are reset to the background, not the whole frame.

    Parameters
    ----------
    skeleton : the skeleton of every panel's poses.
    titles : one title per panel, e.g. ``("ground truth", "speech2gesture")``.
    size : (width, height) of the frame in pixels, both even (4:2:0 chroma is subsampled by 2).
    speaker : shown bottom-left; omitted if None.
    style : colours and line widths.
    box : (x0, y0, x1, y1) the view of each panel, in pose units.
    envelope : (T,) loudness in [0, 1] per frame for the strip under the panels, or None for no strip.
    out : planes to draw into (e.g. those of a reused ``av.VideoFrame``), or None for an internal buffer.
    """

    def __init__(
        self,
        skeleton: Skeleton,
        titles: Sequence[str],
        *,
        size: tuple[int, int] = (1280, 720),
        speaker: str | None = None,
        style: DrawStyle | None = None,
        box: tuple[float, float, float, float] = DEFAULT_BOX,
        envelope: np.ndarray | None = None,
        out: Planes | None = None,
    ) -> None:
        width, height = check_size(size)
        if not titles:
            raise RenderError("a frame layout needs at least one panel title")
        self.size = (width, height)
        self.style = style or DrawStyle()
        self._skeleton = skeleton
        self._strokes = _skeleton_strokes(skeleton)
        self._figure = has_figure(skeleton)
        groups = [*self._strokes.chains, "body", "right_arm", "torso", "head", "outline"]
        self._yuv = {g: bgr_to_yuv(self.style.colour(g)) for g in groups}
        self._widths = {g: self.style.width(g, height) for g in groups}
        self._half_widths = {g: max(1, round(w / 2)) for g, w in self._widths.items()}
        self._font_scale = 0.7 * height / REFERENCE_HEIGHT
        self._text_width = max(1, round(1.5 * height / REFERENCE_HEIGHT))

        # A header (~6 % of the height) for titles and a footer (~5 %) for speaker and clock.
        header, footer, strip = _bands(height, strip=envelope is not None)
        panel_width, panel_height = panel_size(self.size, len(titles), strip=envelope is not None)
        x0, y0, x1, y1 = box
        if not (x1 > x0 and y1 > y0):
            raise RenderError(f"view box {box}: expected x0 < x1 and y0 < y1 (pose units)")
        self.scale = min(panel_width / (x1 - x0), panel_height / (y1 - y0))
        self._neck = (
            panel_width / 2 - (x0 + x1) / 2 * self.scale,
            panel_height / 2 - (y0 + y1) / 2 * self.scale,
        )
        bottom = height - footer - strip
        self._panels = [(k * panel_width, (k + 1) * panel_width, header, bottom) for k in range(len(titles))]
        self._dirty: list[tuple[int, int, int, int]] = list(self._panels)

        background = np.full((height, width, 3), self.style.background, np.uint8)
        self.has_text = height >= MIN_TEXT_HEIGHT
        for (x0, x1, _, _), title in zip(self._panels, titles, strict=True):
            if self.has_text:
                self._put_text(background, title, ((x0 + x1) / 2, header / 2), max_width=panel_width - 8)
            if x0:
                cv2.line(
                    background, (x0, header), (x0, height - footer), self.style.separator, 1, cv2.LINE_AA
                )
        margin = _even(0.02 * width)
        self._strip = None
        if envelope is not None:
            self._strip = _EnvelopeStrip(
                background,
                np.asarray(envelope, np.float32),
                (margin, width - margin, bottom, bottom + strip),
                self.style,
            )
        if speaker is not None and self.has_text:
            at = (margin, height - footer / 2)
            self._put_text(background, speaker, at, align="left", max_width=width // 2 - margin)
        if self.has_text:
            self._clock = _Clock(
                (self._font_scale, self._text_width),
                self.style,
                height=footer,
                margin=margin,
                frame_width=width,
            )
            self._clock_box = (width - self._clock.width, width, height - footer, height)
        self._background = i420_planes(cv2.cvtColor(background, cv2.COLOR_BGR2YUV_I420))
        if out is None:
            out = i420_planes(np.empty((height * 3 // 2, width), np.uint8))
        elif [p.shape for p in out] != [(height, width)] + [(height // 2, width // 2)] * 2:
            raise RenderError(
                f"output planes of shapes {[p.shape for p in out]} for a {width}×{height} frame"
            )
        self.planes = out
        _copy(self.planes, self._background)
        self._points = np.empty((skeleton.num_joints + 1, 2), np.int32)
        self._reach = max(self._widths.values()) + 2  # px a line reaches beyond its end points

    def _text_size(self, text: str, font_scale: float | None = None) -> tuple[int, int]:
        (w, h), _ = cv2.getTextSize(text, _FONT, font_scale or self._font_scale, self._text_width)
        return w, h

    def _put_text(
        self, image: np.ndarray, text: str, at: tuple[float, float], *, max_width: int, align: str = "centre"
    ) -> None:
        """Write ``text`` vertically centred on ``at``, shrunk to fit ``max_width`` pixels."""
        text = _ascii(text)
        font_scale = self._font_scale
        w, h = self._text_size(text, font_scale)
        if w > max_width:
            font_scale *= max_width / w
            w, h = self._text_size(text, font_scale)
        x = at[0] - w / 2 if align == "centre" else at[0]
        origin = (round(x), round(at[1] + h / 2))
        cv2.putText(image, text, origin, _FONT, font_scale, self.style.text, self._text_width, cv2.LINE_AA)

    def render(self, poses: Sequence[np.ndarray], seconds: float, *, frame: int | None = None) -> Planes:
        """Draw ``poses[k]`` ``(J, 2)`` in panel ``k``, the clock at ``seconds`` and, with an envelope
        strip, the cursor at ``frame``; return ``self.planes``.

        The planes are overwritten by the next call: copy them to keep a frame; ``to_bgr`` views one.
        Poses are not checked here (callers check a whole sequence once with ``check_poses``).
        """
        if len(poses) != len(self._panels):
            raise RenderError(f"{len(poses)} poses for a layout of {len(self._panels)} panels")
        for k, (joints, panel) in enumerate(zip(poses, self._panels, strict=True)):
            _copy(_region(self.planes, self._dirty[k]), _region(self._background, self._dirty[k]))
            self._dirty[k] = self._draw_panel(joints, panel)
        self._draw_clock(seconds)
        if self._strip is not None and frame is not None:
            self._strip.draw(self.planes, self._background, frame)
        return self.planes

    def _draw_panel(self, joints: np.ndarray, panel: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """Draw one pose clipped to ``panel``; return the (even-aligned) frame box it may have touched."""
        luma, u, v = _region(self.planes, panel)
        points = _fixed_point(joints, self.scale, self._neck, self._points)
        nodes, lines = self._strokes.lines(points)
        figure = _Figure(joints, self._skeleton, self.scale, self._neck) if self._figure else None
        low, high = points.min(axis=0), points.max(axis=0)
        if figure is not None:
            figure_low, figure_high = figure.box()
            low, high = np.minimum(low, figure_low), np.maximum(high, figure_high)
        yuv, widths, halves = self._yuv, self._widths, self._half_widths
        _paint(luma, lambda g: yuv[g][0], widths.__getitem__, lines, figure, _SHIFT)
        # Chroma samples sit at luma (2j, 2i + 0.5): move y up half a pixel, then halve both (one more
        # fractional bit). Lines are half as wide, so the colour covers the same area as the luma.
        nodes[:, 1] -= 1 << (_SHIFT - 1)
        if figure is not None:
            figure.move_up(1 << (_SHIFT - 1))
        _paint(u, lambda g: yuv[g][1], halves.__getitem__, lines, figure, _SHIFT + 1)
        _paint(v, lambda g: yuv[g][2], halves.__getitem__, lines, figure, _SHIFT + 1)
        x0, x1, y0, y1 = panel
        low = ((low >> _SHIFT) - self._reach) & ~1  # floor to even
        high = ((high >> _SHIFT) + self._reach + 2) & ~1  # ceil to even, past the last pixel
        return (
            _clamp(x0 + low[0], x0, x1),
            _clamp(x0 + high[0], x0, x1),
            _clamp(y0 + low[1], y0, y1),
            _clamp(y0 + high[1], y0, y1),
        )

    def _draw_clock(self, seconds: float) -> None:
        if not self.has_text:
            return
        _copy(_region(self.planes, self._clock_box), self._clock.render(timecode(seconds)))

    def to_bgr(self) -> np.ndarray:
        """The current frame as a new BGR image ``(H, W, 3)`` (for stills and tests; not used per frame)."""
        width, height = self.size
        packed = np.concatenate([p.reshape(-1) for p in self.planes]).reshape(height * 3 // 2, width)
        return cv2.cvtColor(packed, cv2.COLOR_YUV2BGR_I420)
