"""The zoom: small weak boxes get a second look on magnified crops; what it finds carries to the next one."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceoff.config import DetectConfig
from faceoff.detectors import Detector, build_detector
from faceoff.stages.detect import detector_from
from faceoff.zoom import ZoomDetector, ZoomParams


class SquareDetector:
    """Finds white squares; the score grows with the square's side (side / 40), none under 4 px. Like a
    real detector, it is surer of bigger faces, so a small square is found only once magnified."""

    name, weights_sha256, runtime = "squares", "0" * 64, "none"

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        self.calls.append(frames.shape)
        out = []
        for frame in frames:
            mask = (frame[..., 0] > 200).astype(np.uint8)
            n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
            boxes = []
            for x, y, w, h, _ in stats[1:n]:
                score = min(0.95, max(w, h) / 40)
                if max(w, h) >= 4 and score >= threshold:
                    boxes.append((x, y, x + w, y + h, score))
            out.append(np.array(boxes, dtype=np.float32).reshape(-1, 5))
        return out


def _zoom(**changes) -> ZoomParams:
    """The zoom as users get it (the detect section's defaults), with ``changes``."""
    return ZoomParams.from_config(DetectConfig(**changes))


def frame_with(*squares: tuple[int, int, int], size: tuple[int, int] = (200, 120)) -> np.ndarray:
    """A black frame with white squares given as (x, y, side)."""
    frame = np.zeros((size[1], size[0], 3), np.uint8)
    for x, y, side in squares:
        frame[y : y + side, x : x + side] = 255
    return frame


def test_a_small_weak_face_is_found_on_the_magnified_crop() -> None:
    inner = SquareDetector()
    frames = frame_with((100, 60, 6))[None]
    assert len(inner.detect(frames, 0.2)[0]) == 0  # 6 px scores 0.15 at its own size
    (boxes,) = ZoomDetector(inner, _zoom(zoom_scale=2.0)).detect(frames, 0.2)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0, :4], [100, 60, 106, 66], atol=1)  # back in frame pixels
    assert boxes[0, 4] > 6 / 40
    assert inner.calls[-1] == (1, 128, 128, 3)  # one 64 px window, magnified twice


def test_large_faces_are_left_to_the_frame_and_not_doubled() -> None:
    inner = SquareDetector()
    frames = frame_with((20, 20, 50), (120, 40, 10))[None]
    (boxes,) = ZoomDetector(inner, _zoom(zoom_scale=2.0)).detect(frames, 0.2)
    assert len(boxes) == 2  # the 10 px face, seen at both sizes, is one box
    big = boxes[np.argmax(boxes[:, 2] - boxes[:, 0])]
    np.testing.assert_allclose(big, [20, 20, 70, 70, 0.95])
    small = boxes[np.argmin(boxes[:, 2] - boxes[:, 0])]
    assert small[4] > 10 / 40  # the better, magnified look wins


def test_a_face_found_in_one_batch_is_looked_for_in_the_next_until_reset() -> None:
    frames = np.stack([frame_with((100, 60, 6)), frame_with((101, 60, 3))])  # then too small to show at all
    zoom = ZoomDetector(SquareDetector(), _zoom(zoom_scale=4.0))
    (first,) = zoom.detect(frames[:1], 0.2)
    (second,) = zoom.detect(frames[1:], 0.2)
    assert len(first) == 1 and len(second) == 1
    np.testing.assert_allclose(second[0, :4], [101, 60, 104, 63], atol=1)
    zoom.reset()
    assert len(zoom.detect(frames[1:], 0.2)[0]) == 0  # nothing carried: nothing to look at


def test_weak_boxes_asked_for_once_are_not_looked_for_again_with_carry_from() -> None:
    frames = np.stack([frame_with((100, 60, 4)), frame_with((100, 60, 3))])  # 0.1 on its own, more magnified
    for carry_from, found_next in ((None, 1), (0.2, 0)):
        zoom = ZoomDetector(SquareDetector(), _zoom(zoom_scale=2.0))
        (first,) = zoom.detect(frames[:1], 0.1, carry_from=carry_from)
        assert len(first) == 1 and first[0, 4] > 0.1  # the magnified look: 0.15
        assert len(zoom.detect(frames[1:], 0.1)[0]) == found_next  # the 3 px square: only if looked for


def test_a_face_cut_by_a_neighbours_crop_is_boxed_whole_only() -> None:
    # the 64 px crop around the left square ends at x = 135, cutting the right square (132-138)
    frames = frame_with((100, 60, 6), (132, 60, 6))[None]
    (boxes,) = ZoomDetector(SquareDetector(), _zoom(zoom_scale=2.0)).detect(frames, 0.2)
    np.testing.assert_allclose(
        boxes[np.argsort(boxes[:, 0]), :4], [[100, 60, 106, 66], [132, 60, 138, 66]], atol=1
    )


def test_windows_stay_inside_small_frames_and_at_edges() -> None:
    zoom = ZoomDetector(SquareDetector(), _zoom(zoom_scale=2.0, zoom_window=64))
    (edge,) = zoom.detect(frame_with((194, 114, 6))[None], 0.2)  # bottom-right corner
    np.testing.assert_allclose(edge[:, :4], [[194, 114, 200, 120]], atol=1)
    tiny = frame_with((10, 10, 6), size=(40, 30))  # smaller than the window
    (boxes,) = ZoomDetector(SquareDetector(), _zoom(zoom_scale=2.0)).detect(tiny[None], 0.2)
    np.testing.assert_allclose(boxes[:, :4], [[10, 10, 16, 16]], atol=1)


def test_is_a_detector_and_configured_from_the_detect_section() -> None:
    zoom = ZoomDetector(SquareDetector(), _zoom())
    assert isinstance(zoom, Detector) and zoom.name == "squares"
    assert ZoomParams.from_config(DetectConfig()) == ZoomParams(2.0, 64, 40.0, 0.05)
    # what detect and the render's frame check use
    assert isinstance(detector_from(DetectConfig(), threads=1), ZoomDetector)
    assert not isinstance(detector_from(DetectConfig(zoom_scale=1), threads=1), ZoomDetector)
    with pytest.raises(ValueError, match="above 1"):
        ZoomDetector(SquareDetector(), _zoom(zoom_scale=1.0))


def test_centerface_finds_an_11_px_face_only_with_the_zoom(small_face_frames) -> None:
    frames, (head_h, head_w) = small_face_frames(6, drift=1)
    detector = build_detector("centerface", device="cpu", threads=2)
    assert not any(len(b) for b in detector.detect(frames, 0.2))
    found = ZoomDetector(detector, _zoom()).detect(frames, 0.2)
    assert [len(b) for b in found] == [1] * 6
    for t, (box,) in enumerate(found):
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        assert 150 + t < cx < 150 + t + head_w and 100 < cy < 100 + head_h
        assert box[2] - box[0] < 20 and box[4] >= 0.2
