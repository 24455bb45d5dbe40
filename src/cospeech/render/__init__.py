"""Skeleton drawing, gesture videos with their speech, and the HTML gallery of a run's videos."""

from cospeech.render.draw import DrawStyle, PoseCanvasLayout, RenderError, draw_pose
from cospeech.render.gallery import ClipEntry, write_gallery
from cospeech.render.video import write_video

__all__ = [
    "ClipEntry",
    "DrawStyle",
    "PoseCanvasLayout",
    "RenderError",
    "draw_pose",
    "write_gallery",
    "write_video",
]
