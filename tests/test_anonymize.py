"""Anonymisation: pixels change inside boxes only, every method and shape, faces become undetectable."""

import numpy as np
import pytest

from faceoff.anonymize import anonymize_frame, covered_mask, scale_boxes
from faceoff.config import RenderConfig


def _textured(h=120, w=160, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.mark.parametrize("method", ["blur", "pixelate", "fill"])
@pytest.mark.parametrize("shape", ["ellipse", "rectangle"])
def test_changes_inside_only(method, shape):
    cfg = RenderConfig(method=method, shape=shape)
    frame = _textured()
    before = frame.copy()
    boxes = np.array([[40, 30, 80, 90]], np.float32)
    anonymize_frame(frame, boxes, cfg)
    mask = covered_mask(boxes, cfg, 160, 120)
    changed = np.any(frame != before, axis=2)
    assert not changed[~mask].any(), "pixels outside the region changed"
    assert changed[mask].mean() > 0.9, "region not hidden"


def test_blur_destroys_detail_and_scales_with_box():
    cfg = RenderConfig()
    for size in (40, 160):
        frame = _textured(400, 400, seed=size)
        box = np.array([[100, 100, 100 + size, 100 + size]], np.float32)
        anonymize_frame(frame, box, cfg)
        inner = frame[100 + size // 4 : 100 + 3 * size // 4, 100 + size // 4 : 100 + 3 * size // 4].astype(
            float
        )
        # random texture has std ~74; a strong blur leaves almost none of it, whatever the box size
        assert inner.std() < 12, (size, inner.std())


def test_fill_colour_and_odd_clipped_boxes():
    cfg = RenderConfig(method="fill", shape="rectangle", fill_color=(10, 20, 30), box_scale=1.0)
    frame = _textured(49, 65)
    anonymize_frame(frame, np.array([[-5, -5, 10.2, 10.2], [60, 40, 80, 60]], np.float32), cfg)
    assert (frame[0:11, 0:11] == (10, 20, 30)).all()
    assert (frame[40:49, 60:65] == (10, 20, 30)).all()


def test_scale_boxes_enlarges_about_centre_and_clips():
    (r,) = scale_boxes(np.array([[10, 10, 20, 30]]), 2.0, 100, 100)
    assert (r.x1, r.y1, r.x2, r.y2) == (5, 0, 25, 40)


def test_min_margin_pads_small_boxes_and_leaves_large_ones_to_the_scale():
    (small,) = scale_boxes(np.array([[50, 50, 60, 62]]), 1.5, 200, 200, min_margin=6)
    assert (small.x1, small.y1, small.x2, small.y2) == (44, 44, 66, 68)  # 6 px each side beats 1.5x
    (large,) = scale_boxes(np.array([[40, 40, 80, 100]]), 1.5, 200, 200, min_margin=6)
    assert (large.x1, large.y1, large.x2, large.y2) == (30, 25, 90, 115)  # 1.5x beats 6 px


def test_render_and_coverage_use_the_margin():
    """A 12-px box hidden with the default margin: the rendered pixels and covered_mask agree, and the
    18-px face around it (small faces' boxes come out small) counts as covered; 1.5x alone leaves too
    much of it out."""
    from faceoff.evaluate import covered_fraction

    box = np.array([[50, 50, 62, 62]], np.float32)
    cfg, plain = RenderConfig(), RenderConfig(min_margin=0)
    frame = _textured()
    changed = (anonymize_frame(frame.copy(), box, cfg) != frame).any(axis=2)
    mask = covered_mask(box, cfg, frame.shape[1], frame.shape[0])
    assert not (changed & ~mask).any() and changed.sum() > 0.9 * mask.sum()
    face = np.array([[47, 47, 65, 65]], np.float32)
    assert covered_fraction(box, face, cfg, frame.shape[1], frame.shape[0])[0] >= 0.9
    assert covered_fraction(box, face, plain, frame.shape[1], frame.shape[0])[0] < 0.9


def test_face_at_frame_edge_gets_the_same_ellipse():
    """Clipping happens after fitting the ellipse: an edge face is hidden as well as a central one."""
    cfg = RenderConfig()
    centre = covered_mask(np.array([[100, 100, 140, 150]]), cfg, 400, 300)[100:150, 100:140].mean()
    corner = covered_mask(np.array([[0, 0, 40, 50]]), cfg, 400, 300)[0:50, 0:40].mean()
    assert corner == pytest.approx(centre, abs=0.01) and corner > 0.97


def test_in_place_copy_and_its_fallback_agree(monkeypatch):
    """The fast cv2.copyTo path and the numpy fallback hide exactly the same pixels in the same way."""
    import cv2

    cfg = RenderConfig()
    boxes = np.array([[40, 30, 80, 90], [100, 60, 150, 118]], np.float32)
    fast = anonymize_frame(_textured(), boxes, cfg)
    # as if OpenCV had to copy the view: it returns a new array and leaves the frame alone
    monkeypatch.setattr(cv2, "copyTo", lambda src, mask, dst: dst.copy())
    slow = anonymize_frame(_textured(), boxes, cfg)
    np.testing.assert_array_equal(fast, slow)
    assert np.any(fast != _textured())


def test_rotated_frame_views_are_hidden_too():
    """Frames of rotated videos are numpy views with negative strides, which OpenCV cannot write into."""
    cfg = RenderConfig()
    boxes = np.array([[30, 40, 70, 100]], np.float32)
    base = _textured(160, 120)
    view = np.rot90(base.copy())  # 120 high, 160 wide, negative strides
    expected = anonymize_frame(np.ascontiguousarray(view), boxes, cfg)
    got = anonymize_frame(view, boxes, cfg)
    np.testing.assert_array_equal(got, expected)
    assert np.any(got != np.rot90(base))
