"""Skeleton drawing and the frame layout: limbs land where the joints are, in their part's colour."""

from __future__ import annotations

import numpy as np
import pytest

from cospeech.render.draw import DrawStyle, PoseCanvasLayout, RenderError, draw_pose, timecode
from cospeech.render.figure import draw_groups, figure_box, figure_shapes
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


def test_limbs_are_drawn_between_their_joints_in_their_side_colour() -> None:
    canvas = np.full((960, 720, 3), STYLE.background, np.uint8)
    draw_pose(canvas, _rest_pose(), PATS48, scale=1.0, origin=(360, 300), style=STYLE)
    left, right = STYLE.colour("left_arm"), STYLE.colour("right_arm")
    assert left != right
    assert _close(canvas[300 + 125, 360 + 180], left)  # left upper arm, half-way shoulder → elbow
    assert _close(canvas[300 + 125, 360 - 180], right)  # right upper arm
    assert _close(canvas[300, 360 + 80], left)  # shoulder hangs from the neck (parent -1 → origin)
    assert _close(canvas[300 + 530, 360 + 200], STYLE.colour("left_hand"))  # left middle finger
    assert _close(canvas[300 + 530, 360 - 200], STYLE.colour("right_hand"))  # right middle finger


def test_head_neck_and_torso_are_drawn_where_the_shoulders_put_them() -> None:
    """pats48 has no head joints: the head sits above the neck, perpendicular to the shoulder line."""
    canvas = np.full((720, 720, 3), STYLE.background, np.uint8)
    origin = np.array([360.0, 300.0])
    pose = _rest_pose()
    draw_pose(canvas, pose, PATS48, scale=1.0, origin=tuple(origin), style=STYLE)
    shapes = figure_shapes(pose, PATS48)
    centre = origin + shapes.head_centre
    assert centre[1] < origin[1] - 100  # above the neck
    x, y = np.round(centre).astype(int)
    assert _close(canvas[y, x], STYLE.colour("head"), tol=8)  # head fill at its centre
    radius = round(float(shapes.head_radius))
    assert _close(canvas[y - radius, x], STYLE.colour("outline"), tol=60)  # outline on the crown
    assert _close(canvas[y - radius - 12, x], STYLE.background, tol=0)  # nothing above the head
    assert _close(canvas[int(origin[1]) - 20, 360], STYLE.colour("body"))  # the neck bone
    hips = origin + shapes.torso[2:].mean(axis=0)
    assert _close(canvas[round(hips[1]) - 30, round(hips[0])], STYLE.colour("torso"), tol=8)


def test_the_head_follows_the_nose_and_eyes_when_the_skeleton_has_them() -> None:
    """pats52 stores Nose and eyes (the joints the reference re-inserts): the head is centred on the eyes."""
    pose = np.zeros((PATS52.num_joints, 2), np.float32)
    for j, name in enumerate(PATS48.joint_names):
        pose[PATS52.index(name)] = _rest_pose()[j]
    for name, at in (("Neck", (0, 0)), ("Nose", (80, -200)), ("REye", (60, -230)), ("LEye", (100, -230))):
        pose[PATS52.index(name)] = at
    canvas = np.full((720, 720, 3), STYLE.background, np.uint8)
    draw_pose(canvas, pose, PATS52, scale=1.0, origin=(360, 400), style=STYLE)
    shapes = figure_shapes(pose, PATS52)
    np.testing.assert_allclose(shapes.head_centre, (80, -230))
    assert _close(canvas[400 - 230 - 40, 360 + 80], STYLE.colour("head"), tol=8)  # inside, above the eyes
    assert _close(canvas[400 - 230, 360 - 60], STYLE.background, tol=0)  # not where a shoulder head would be


def test_draw_groups_split_the_body_by_side() -> None:
    groups = dict(draw_groups(PATS52))
    names = {g: {PATS52.joint_names[j] for j in members} for g, members in groups.items()}
    assert names["right_arm"] == {"RShoulder", "RElbow", "RWrist"}
    assert names["left_arm"] == {"LShoulder", "LElbow", "LWrist"}
    assert names["body"] == {"Neck"}
    assert names["face"] == {"Nose", "REye", "LEye"}
    assert len(names["left_hand"]) == len(names["right_hand"]) == 21
    assert "face" in dict(draw_groups(SDT121))


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


def test_the_fitted_view_holds_the_whole_figure_and_fills_the_panel() -> None:
    pose = _rest_pose()
    box = figure_box([pose[None]], PATS48, aspect=1.0)
    x0, y0, x1, y1 = box
    assert x1 - x0 == pytest.approx(y1 - y0)
    shapes = figure_shapes(pose, PATS48)
    assert y0 < float(shapes.head_centre[1] - shapes.head_radius)  # the head is inside
    assert y1 > pose[:, 1].max()  # and the fingertips
    layout = PoseCanvasLayout(PATS48, ["x"], size=(400, 400), box=box)
    layout.render([pose], seconds=0.0)
    ink = _ink(layout.to_bgr())
    rows = np.nonzero(ink)[0]
    drawn_height = rows.max() - rows.min()
    assert drawn_height > 0.75 * 400  # the figure (titles included) spans most of the frame


def test_loudness_strip_shows_the_envelope_and_a_moving_cursor() -> None:
    envelope = np.r_[np.zeros(10), np.ones(10)].astype(np.float32)
    layout = PoseCanvasLayout(PATS48, ["x"], size=(640, 360), envelope=envelope)
    first = layout.to_bgr()
    layout.render([_rest_pose()], 0.0, frame=2)
    early = _ink(layout.to_bgr())
    layout.render([_rest_pose()], 1.0, frame=17)
    late = _ink(layout.to_bgr())
    strip = slice(300, 330)  # between the panel (ends at 360 − 18 − 28) and the footer
    assert not (early[strip] == late[strip]).all()  # the cursor moved
    grey = np.abs(first[strip].astype(int) - STYLE.separator).max(axis=2) < 10
    assert grey[:, 330:].sum() > 10 * grey[:, :310].sum()  # loud second half, silent first half


def test_an_sdt_face_is_drawn_inside_its_head() -> None:
    """sdt121 has a 70-point face: its contours are drawn (thin, in the face colour) over the head."""
    pose = np.zeros((SDT121.num_joints, 2), np.float32)
    for name, at in (("Nose", (0, -200)), ("REye", (-30, -230)), ("LEye", (30, -230)),
                     ("RShoulder", (-160, 0)), ("LShoulder", (160, 0))):  # fmt: skip
        pose[SDT121.index(name)] = at
    jaw = [SDT121.index(f"Face{k}") for k in range(17)]  # the jaw line, ear to ear below the eyes
    pose[jaw] = np.stack([np.linspace(-80, 80, 17), -150 + 40 * np.sin(np.linspace(0, np.pi, 17))], axis=1)
    canvas = np.full((720, 720, 3), STYLE.background, np.uint8)
    draw_pose(canvas, pose, SDT121, scale=1.0, origin=(360, 500), style=STYLE)
    chin = canvas[500 - 110 - 2 : 500 - 110 + 3, 360]  # the jaw's lowest point, (0, −110)
    assert any(_close(pixel, STYLE.colour("face"), tol=60) for pixel in chin)
    shapes = figure_shapes(pose, SDT121)
    np.testing.assert_allclose(shapes.head_centre, (0, -230))  # between the eyes
    assert _close(canvas[500 - 230 - 60, 360], STYLE.colour("head"), tol=8)
