import pytest

from cospeech.errors import ConfigError
from cospeech.skeletons import (
    HAND_JOINTS,
    PATS48,
    PATS52,
    PATS_MASKED_JOINTS,
    S2G49,
    SDT121,
    get_skeleton,
)


def test_joint_counts_match_the_references():
    assert (PATS52.num_joints, PATS48.num_joints, S2G49.num_joints, SDT121.num_joints) == (52, 48, 49, 121)
    assert HAND_JOINTS == 21


def test_pats52_order_and_parents_follow_the_reference_table():
    names = PATS52.joint_names
    assert names[:10] == (
        "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow", "LWrist", "Nose", "REye", "LEye",
    )  # fmt: skip
    assert PATS52.parents[PATS52.index("LHandRoot")] == PATS52.index("LWrist") == 6
    assert PATS52.index("LHandRoot") == 10 and PATS52.index("RHandRoot") == 31
    assert PATS52.parents[11:15] == (10, 11, 12, 13)  # left thumb chain
    assert PATS52.parents[15] == 10  # index finger hangs from the hand root
    assert PATS_MASKED_JOINTS == (0, 7, 8, 9)


def test_model_subset_drops_neck_nose_eyes_and_rehangs_shoulders_on_the_origin():
    assert "Neck" not in PATS48.joint_names and "Nose" not in PATS48.joint_names
    assert PATS48.parents[PATS48.index("RShoulder")] == -1
    assert PATS48.parents[PATS48.index("LHandRoot")] == PATS48.index("LWrist")
    assert len(PATS48.groups["left_hand"]) == HAND_JOINTS


def test_s2g49_is_neck_arms_and_hands():
    assert S2G49.joint_names[0] == "Neck"
    assert S2G49.index("LHandRoot") == 7 and S2G49.index("RHandRoot") == 28


def test_sdt121_layout():
    assert SDT121.index("Nose") == 0 and SDT121.index("LEye") == 8
    assert SDT121.groups["face"] == tuple(range(9, 79))
    assert SDT121.parents[SDT121.index("RHandRoot")] == SDT121.index("RWrist")
    assert SDT121.index("RHandRoot") == 100


def test_every_limb_points_at_an_existing_joint():
    for skeleton in (PATS52, PATS48, S2G49, SDT121):
        for parent, child in skeleton.limbs():
            assert 0 <= parent < skeleton.num_joints and parent != child


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError, match="known: pats52"):
        get_skeleton("coco17")
    with pytest.raises(ConfigError, match="RShoulder"):
        PATS52.index("Hip")
