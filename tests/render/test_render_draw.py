"""Skeleton drawing and the frame layout: limbs land where the joints are, in their part's colour."""

from __future__ import annotations

import numpy as np
import pytest

from cospeech.render.draw import DrawStyle, PoseCanvasLayout, RenderError, draw_pose, timecode
from cospeech.skeletons import PATS48, PATS52, SDT121

STYLE = DrawStyle()
WHITE = np.array(STYLE.background)


def _rest_pose() -> np.ndarray:
    """A pats48 pose in neck-relative pixels: arms down, each hand's fingers fanned below its wrist."""
    joints = np.zeros((PATS48.num_joints, 2), np.float32)
    for side, sign in (("R", -1), ("L", 1)):
        joints[PATS48.index(f"{side}Shoulder")] = (sign * 160, 0)
        joints[PATS48.index(f"{side}Elbow")] = (sign * 200, 250)
        joints[PATS48.index(f"{side}Wrist")] = (sign * 200, 450)
        joints[PATS48.index(f"{side}HandRoot")] = (sign * 200, 460)
        for f, finger in enumerate(("Thumb", "Index", "Middle", "Ring", "Little")):
            for k in range(4):
                joints[PATS48.index(f"{side}{finger}{k + 1}")] = (sign * 200 + (f - 2) * 15, 480 + 25 * k)
    return joints


def _close(pixel: np.ndarray, colour: tuple[int, int, int], tol: int = 40) -> bool:
    return bool(np.abs(pixel.astype(int) - colour).max() <= tol)


def test_limbs_are_drawn_between_their_joints_in_their_part_colour() -> None:
    canvas = np.full((720, 720, 3), STYLE.background, np.uint8)
    draw_pose(canvas, _rest_pose(), PATS48, scale=1.0, origin=(360, 100), style=STYLE)
    body, left, right = STYLE.colour("body"), STYLE.colour("left_hand"), STYLE.colour("right_hand")
    assert _close(canvas[100 + 125, 360 + 180], body)  # left upper arm, half-way shoulder → elbow
    assert _close(canvas[100, 360 + 80], body)  # shoulder hangs from the neck (parent -1 → origin)
    assert _close(canvas[100 + 530, 360 + 200], left)  # left middle finger (image right)
    assert _close(canvas[100 + 530, 360 - 200], right)  # right middle finger (image left)
    assert (canvas[:50] == STYLE.background).all()  # nothing above the shoulders


def test_hands_are_thinner_than_the_body_but_visible() -> None:
    canvas = np.full((720, 720, 3), STYLE.background, np.uint8)
    draw_pose(canvas, _rest_pose(), PATS48, scale=1.0, origin=(360, 100))
    inked = (canvas != WHITE).any(axis=2)
    forearm_row = inked[100 + 350, 360 + 180 : 360 + 220].sum()  # vertical forearm at x = +200
    finger_row = inked[100 + 530, 360 + 195 : 360 + 205].sum()  # vertical middle finger at x = +200
    assert forearm_row > finger_row >= 2


def test_draw_pose_rejects_nan_and_wrong_shapes() -> None:
    canvas = np.zeros((64, 64, 3), np.uint8)
    joints = _rest_pose()
    joints[3, 1] = np.nan
    with pytest.raises(RenderError, match="NaN"):
        draw_pose(canvas, joints, PATS48, scale=1.0, origin=(0, 0))
    with pytest.raises(RenderError, match=r"expected \(52, 2\) for pats52"):
        draw_pose(canvas, _rest_pose(), PATS52, scale=1.0, origin=(0, 0))


def test_every_skeleton_draws() -> None:
    for skeleton in (PATS52, SDT121):
        canvas = np.full((200, 200, 3), 255, np.uint8)
        joints = np.random.default_rng(0).uniform(-80, 80, (skeleton.num_joints, 2))
        draw_pose(canvas, joints, skeleton, scale=1.0, origin=(100, 100))
        assert (canvas != 255).any()


def _ink(image: np.ndarray) -> np.ndarray:
    return np.abs(image.astype(int) - WHITE).max(axis=2) > 60


def test_layout_places_each_pose_in_its_panel() -> None:
    layout = PoseCanvasLayout(PATS48, ["ground truth", "model"], size=(1280, 720), speaker="oliver")
    pose = _rest_pose()
    layout.render([pose, pose], seconds=0.0)
    image = layout.to_bgr()
    ink = _ink(image)
    body_rows = slice(100, 600)  # below the titles, above the footer
    left, right = ink[body_rows, :640], ink[body_rows, 640:]
    assert left.sum() > 1000
    assert abs(int(left.sum()) - int(right.sum())) < 0.05 * left.sum()  # same pose, same drawing
    hand_colours = image[body_rows, :640][left].astype(int)
    assert (np.abs(hand_colours - STYLE.colour("left_hand")).max(axis=1) < 40).sum() > 50


def test_a_new_frame_erases_the_previous_pose() -> None:
    down, up = _rest_pose(), _rest_pose() * (1, -1)  # arms hanging, arms raised
    reused = PoseCanvasLayout(PATS48, ["a", "b"], size=(640, 360))
    reused.render([down, up], seconds=0.0)
    second = reused.render([up, down], seconds=1.0)
    fresh = PoseCanvasLayout(PATS48, ["a", "b"], size=(640, 360)).render([up, down], seconds=1.0)
    for plane, expected in zip(second, fresh, strict=True):
        np.testing.assert_array_equal(plane, expected)


def test_bones_are_cut_at_the_panel_border() -> None:
    layout = PoseCanvasLayout(PATS48, ["a", "b"], size=(640, 360))
    far = _rest_pose() + np.array([5000.0, 0.0], np.float32)  # everything far right of panel 0
    layout.render([far, np.zeros_like(far)], seconds=0.0)
    image = _ink(layout.to_bgr())
    assert image[40:320, 322:].sum() < 50  # panel 1 holds only its own zero-size pose at its neck


def test_layout_checks_size_and_panels() -> None:
    with pytest.raises(RenderError, match="even"):
        PoseCanvasLayout(PATS48, ["a"], size=(641, 360))
    layout = PoseCanvasLayout(PATS48, ["a"], size=(320, 180))
    with pytest.raises(RenderError, match="2 poses for a layout of 1 panels"):
        layout.render([_rest_pose(), _rest_pose()], seconds=0.0)


def test_timecode() -> None:
    assert timecode(0) == "00:00.00"
    assert timecode(75.4) == "01:15.40"
    assert timecode(3 * 3600 + 61.25) == "3:01:01.25"
