"""Faces lying at an angle (faceoff/rotations.py): the detector's turned looks, mapped back to the frame."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pydantic import ValidationError

from faceoff.config import DetectConfig
from faceoff.metrics import iou_matrix
from faceoff.rotations import RotatedDetector, turn_boxes
from faceoff.stages.detect import detector_from
from faceoff.synth.orscene import SCENARIOS, generate_scene
from faceoff.zoom import ZoomDetector
from tests.test_light_recall import recall


@pytest.mark.parametrize("quarters", [0, 1, 2, 3, 5])
def test_turned_boxes_cover_the_turned_pixels(quarters):
    """Against np.rot90 itself: the box of a filled rectangle, turned, is the box of the turned pixels."""
    height, width = 30, 50
    boxes = np.array([[3, 4, 17, 9, 0.8], [40, 20, 50, 30, 0.5]], dtype=np.float32)
    for box in boxes:
        image = np.zeros((height, width), bool)
        x1, y1, x2, y2 = box[:4].astype(int)
        image[y1:y2, x1:x2] = True
        ys, xs = np.nonzero(np.rot90(image, quarters))
        (got,) = turn_boxes(box[None], quarters, height, width)
        assert got.tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1, box[4]]


def test_turning_back_gives_the_boxes_again():
    boxes = np.array([[1.5, 2.25, 10, 20, 0.9]], dtype=np.float32)
    turned = turn_boxes(boxes, 1, 40, 60)  # a 40x60 frame turned once is 60x40
    np.testing.assert_allclose(turn_boxes(turned, 3, 60, 40), boxes)


@pytest.fixture(scope="module")
def lying_faces():
    """Synthetic OR frames turned by a quarter (a ceiling camera's view of faces lying sideways) and their
    faces' boxes turned with them, and the upright frames and boxes."""
    frames, gt = generate_scene(replace(SCENARIOS["or_mixed"], n_frames=8), 4242)
    gt = gt[~gt["ignore"]]
    height, width = frames.shape[1:3]
    upright = [gt.loc[gt.frame_index == i, ["x1", "y1", "x2", "y2"]].to_numpy() for i in range(len(frames))]
    turned = np.ascontiguousarray(np.rot90(frames, 1, axes=(1, 2)))
    return frames, upright, turned, [turn_boxes(b, 1, height, width)[:, :4] for b in upright]


def test_turned_looks_find_faces_lying_at_an_angle(lying_faces):
    """Upright looks alone lose most turned faces; with the turned looks the detector finds them about as
    well as upright faces, in the frame's own coordinates (the stage's detector: zoom included)."""
    frames, upright_truth, turned, turned_truth = lying_faces
    plain = detector_from(DetectConfig(runtime="onnxruntime"))
    turning = detector_from(DetectConfig(runtime="onnxruntime", rotations=[90, 180, 270]))
    threshold = DetectConfig().threshold
    upright = recall(plain.detect(frames, threshold), upright_truth)
    lying = recall(plain.detect(turned, threshold), turned_truth)
    found = turning.detect(turned, threshold)
    with_looks = recall(found, turned_truth)
    print(f"recall upright {upright:.1f}, turned {lying:.1f}, turned with the turned looks {with_looks:.1f}")
    assert upright >= 90 and lying < 40, "the set should show the loss, or it tells nothing"
    assert with_looks >= upright - 5
    assert recall(turning.detect(frames, threshold), upright_truth) >= upright  # upright faces still found


def test_a_face_found_by_two_looks_is_one_box(lying_faces):
    """The upright and the half-turned look both find the sure faces: each is one box, the surer look's."""
    frames = lying_faces[0][:3]
    threshold = DetectConfig().threshold
    base = detector_from(DetectConfig(runtime="onnxruntime", zoom_scale=1))
    both = RotatedDetector(lambda: base, [180])
    half = [
        turn_boxes(b, 2, *frames.shape[1:3]) for b in base.detect(np.rot90(frames, 2, axes=(1, 2)), threshold)
    ]
    for got, upright, turned in zip(
        both.detect(frames, threshold), base.detect(frames, threshold), half, strict=True
    ):
        sure = upright[upright[:, 4] >= 0.5]
        assert len(sure)
        for face in sure:
            overlapping = iou_matrix(face[None, :4], got[:, :4])[0] >= 0.4
            assert overlapping.sum() == 1
            twin = iou_matrix(face[None, :4], turned[:, :4])[0]
            best = max(face[4], turned[twin.argmax(), 4] if len(twin) and twin.max() >= 0.4 else 0)
            assert got[overlapping, 4][0] == pytest.approx(best)


def test_rotations_config_is_checked():
    assert DetectConfig().rotations == []
    with pytest.raises(ValidationError):
        DetectConfig(rotations=[45])
    with pytest.raises(ValidationError, match="repeat"):
        DetectConfig(rotations=[90, 90])


def test_each_orientation_has_its_own_zoom(small_face_frames):
    """Every look zooms on the small faces it found, carries them to its next batch on its own, and the
    stage's reset (each shard) and the audit's ``carry_from`` reach every look; the network is one."""
    frames, _ = small_face_frames(n=4)
    lying = np.ascontiguousarray(np.rot90(frames, 1, axes=(1, 2)))  # the small head lying on its side
    det = detector_from(DetectConfig(runtime="onnxruntime", rotations=[90, 270]))
    looks = {0: det.inner, **det.turned}
    assert all(isinstance(look, ZoomDetector) for look in looks.values())
    assert len({id(look.inner) for look in looks.values()}) == 1
    det.detect(lying, DetectConfig().threshold)
    assert len(looks[270]._carried)  # turned back upright, the head is that zoom's to look for again
    det.reset()
    assert not any(len(look._carried) for look in looks.values())
    det.detect(lying, 0.05, carry_from=0.99)
    assert not any(len(look._carried) for look in looks.values())
