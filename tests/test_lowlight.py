"""The second look at dark and noisy frames (faceoff/lowlight.py): clean lit frames get one look, dark ones
a second on a brightened, smoothed copy that raises the scores of the faces the first found and adds
those it alone finds; on dim, noisy OR frames it finds more faces, and the smoothing is what makes the
copy worth it. Lit frames with heavy sensor noise get a smoothed copy at their own light, which finds
more of their faces too."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import faceoff.lowlight as lowlight
from faceoff.config import DetectConfig
from faceoff.detectors import build_detector
from faceoff.lowlight import MAX_GAIN, TARGET, LowLightDetector, brightened, frame_gain
from faceoff.metrics import match_boxes
from faceoff.stages.detect import detector_from
from faceoff.synth.orscene import SCENARIOS, generate_scene
from faceoff.zoom import ZoomDetector, ZoomParams


class Spy:
    """A detector returning the boxes it is given, call by call, and keeping the frames it saw."""

    name, weights_sha256, runtime = "spy", "0" * 64, "spy"

    def __init__(self, *answers: list[np.ndarray]) -> None:
        self.answers = list(answers)
        self.seen: list[np.ndarray] = []

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        self.seen.append(frames.copy())
        return [a.copy() for a in self.answers.pop(0)]


def boxes(*rows) -> np.ndarray:
    return np.array(rows, dtype=np.float32).reshape(-1, 5)


def test_gain_brings_the_99th_percentile_to_the_target_within_the_cap():
    flat = np.full((40, 40, 3), 50, np.uint8)
    assert frame_gain(flat, 147) == pytest.approx(TARGET / 50, rel=1e-3)
    assert frame_gain(np.full((40, 40, 3), 10, np.uint8), 147) == MAX_GAIN
    assert frame_gain(np.full((40, 40, 3), 150, np.uint8), 147) == 1.0
    # a lit 1 % of the picture does not make a dark frame lit; a lit 2 % does, and its dark tiles then
    # get their own gains
    frame = np.full((100, 100, 3), 20, np.uint8)
    frame[::4, ::4][:1, :6] = 200  # 6 of the 625 pixels sampled: < 1 %
    assert frame_gain(frame, 147) == MAX_GAIN
    frame[::4, ::4][:1, :13] = 200  # 13 of 625: > 1 %
    gain = frame_gain(frame, 147)
    assert np.ndim(gain) == 2 and gain.min() == 1.0 and gain.max() == MAX_GAIN


def test_a_lamp_in_a_dark_scene_leaves_it_dark():
    """Clipped white (a lamp, a stage light: white at any exposure) is not the scene's light: a dark frame
    with a lamp in a tenth of it gets the gain its scene needs; a frame that is all clipped is lit."""
    frame = np.full((100, 100, 3), 40, np.uint8)
    frame[:10] = 255
    assert frame_gain(frame, 80) == pytest.approx(TARGET / 40, rel=1e-3)
    assert frame_gain(np.full((40, 40, 3), 255, np.uint8), 80) == 1.0


def test_a_dark_scene_with_a_lit_part_gets_the_gain_of_each_dark_tile():
    """A frame whose brightest 1 % is lit but whose tiles are mostly dark (a stage, a window, an operating
    room's lit field in a dimmed room) gets a gain per tile: 1 on the lit ones, each dark one its own; a
    lit frame with a dark quarter gets no second look; a dark frame keeps its one gain."""
    grid = lowlight.GRID
    frame = np.full((160, 160, 3), 30, np.uint8)
    frame[:40] = 200  # the top quarter lit: 2 of the 8 rows of tiles
    gain = frame_gain(frame, 80)
    assert gain.shape == (grid, grid)
    np.testing.assert_allclose(gain[:2], 1.0)
    np.testing.assert_allclose(gain[2:], TARGET / 30)
    frame[:, :80] = 200  # now three quarters lit, one dark
    assert frame_gain(frame, 80) == 1.0
    frame[:] = 30
    assert frame_gain(frame, 80) == pytest.approx(TARGET / 30)


def test_the_copy_of_a_frame_with_a_lit_part_brightens_only_the_dark_part():
    """The tiles' gains spread over the picture without seams: the dark part is brought to the target,
    the lit part stays as it is, and where two dark tiles with different gains meet, the light of the
    same grey changes smoothly (each tile's gain taken alone would step it by 30 levels at once)."""
    frame = np.full((160, 160, 3), 30, np.uint8)
    frame[:40] = 200
    copy = brightened(frame, frame_gain(frame, 80))
    assert abs(float(copy[100:, :, 1].mean()) - TARGET) < 2
    assert abs(float(copy[:10, :, 1].mean()) - 200) < 2
    frame[40:] = 20
    frame[40::20, ::20] = 60  # one bright speck per dark tile: their light 60 on the left ...
    frame[40::20, 80::20] = 30  # ... and 30 on the right
    gain = frame_gain(frame, 80)
    np.testing.assert_allclose(gain[2:, :4], TARGET / 60)
    np.testing.assert_allclose(gain[2:, 4:], TARGET / 30)
    row = brightened(frame, gain)[152, :, 1].astype(int)  # a row clear of the specks: all grey 20
    assert row[20] == pytest.approx(20 * TARGET / 60, abs=2) and row[140] == pytest.approx(
        20 * TARGET / 30, abs=2
    )
    assert np.abs(np.diff(row)).max() <= 6


def test_a_crop_half_dark_in_a_lit_frame_is_not_a_dark_scene():
    """The same half-dark picture gets the second look as a frame, and as a zoom crop of such a frame, but
    none as a crop of a lit frame (there it is a coat or a head of hair)."""
    picture = np.full((1, 64, 64, 3), 30, np.uint8)
    picture[0, :, :28] = 200
    lit = np.full((1, 64, 64, 3), 200, np.uint8)
    spy = Spy([boxes()], [boxes()], [boxes()], [boxes()])
    look = LowLightDetector(spy, 80)
    look.detect(picture, 0.2)
    assert len(spy.seen) == 2
    look.detect_crops(picture, 0.2, picture, [0])
    assert len(spy.seen) == 4
    spy = Spy([boxes()])
    LowLightDetector(spy, 80).detect_crops(picture, 0.2, lit, [0])
    assert len(spy.seen) == 1


def test_lit_frames_get_one_look():
    lit = np.full((2, 32, 32, 3), 200, np.uint8)
    spy = Spy([boxes(1, 1, 9, 9, 0.5), boxes()])
    found = LowLightDetector(spy, 147).detect(lit, 0.2)
    assert len(spy.seen) == 1
    np.testing.assert_array_equal(found[0], boxes(1, 1, 9, 9, 0.5))
    assert len(found[1]) == 0


def test_dark_frames_get_a_brightened_second_look_merged_with_the_first():
    frames = np.full((2, 32, 32, 3), 200, np.uint8)
    frames[1] = 40  # dark: gain 220 / 40 = 5.5
    first = [boxes(1, 1, 9, 9, 0.5), boxes((0, 0, 10, 10, 0.3), (20, 20, 30, 30, 0.25))]
    second = [boxes((1, 0, 10, 10, 0.6), (12, 12, 18, 18, 0.4))]  # for the dark frame only
    spy = Spy(first, second)
    found = LowLightDetector(spy, 147).detect(frames, 0.2)
    assert len(spy.seen) == 2 and len(spy.seen[1]) == 1
    np.testing.assert_array_equal(spy.seen[1][0], np.full((32, 32, 3), 220, np.uint8))
    np.testing.assert_array_equal(found[0], boxes(1, 1, 9, 9, 0.5))
    # a face seen by both looks keeps the first look's box, scored as the surer look; a box the second
    # look alone saw is added
    got = found[1]
    np.testing.assert_array_equal(
        got, boxes((0, 0, 10, 10, 0.6), (20, 20, 30, 30, 0.25), (12, 12, 18, 18, 0.4))
    )


def test_a_dark_frame_with_no_first_look_box_gets_the_second_looks():
    frames = np.full((1, 32, 32, 3), 20, np.uint8)
    spy = Spy([boxes()], [boxes(4, 4, 12, 12, 0.35)])
    np.testing.assert_array_equal(LowLightDetector(spy, 80).detect(frames, 0.2)[0], boxes(4, 4, 12, 12, 0.35))


def test_the_copy_is_smoothed():
    """Pixel noise is taken out of the brightened copy: a flat dark frame with noise comes out flatter
    than the gain alone makes it, at the same mean."""
    rng = np.random.default_rng(0)
    frame = np.clip(rng.normal(30, 3, (64, 64, 3)), 0, 255).astype(np.uint8)
    gain = frame_gain(frame, 80)
    copy = brightened(frame, gain).astype(np.float64)
    gained = np.clip(frame * gain, 0, 255)
    assert copy.mean() == pytest.approx(gained.mean(), rel=0.02)
    assert copy.std() < 0.5 * gained.std()


def test_detect_section_wires_it_in_unless_turned_off():
    off = DetectConfig(zoom_scale=1, low_light_below=0, noisy_above=0)
    assert not isinstance(detector_from(off), LowLightDetector)
    on = detector_from(DetectConfig(low_light_below=147))
    assert isinstance(on.inner, LowLightDetector) and on.inner.below == 147  # inside the zoom
    default = detector_from(DetectConfig())
    assert isinstance(default.inner, LowLightDetector)
    assert (default.inner.below, default.inner.noisy_above) == (80, 3)
    noisy_only = detector_from(DetectConfig(low_light_below=0)).inner
    assert (noisy_only.below, noisy_only.noisy_above) == (0, 3)
    with pytest.raises(ValueError):
        LowLightDetector(Spy(), 0, 0)


@pytest.mark.parametrize("sigma", [2.0, 4.0, 8.0])
def test_frame_noise_measures_the_noise_added(sigma):
    """The estimate reads the standard deviation of grey noise added to a frame of smooth shading and
    sharp edges (the oracle: the noise drawn), and reads a clean frame as about noiseless."""
    y, x = np.mgrid[0:240, 0:320]
    clean = (60 + 0.3 * x + 0.2 * y + 80 * ((x // 40 + y // 40) % 2)).astype(np.float64)
    assert lowlight.frame_noise(np.repeat(clean.astype(np.uint8)[..., None], 3, axis=2)) < 1
    noise = np.random.default_rng(int(sigma)).normal(0, sigma, clean.shape)
    noisy = np.clip(np.rint(clean + noise), 0, 255).astype(np.uint8)
    assert lowlight.frame_noise(np.repeat(noisy[..., None], 3, axis=2)) == pytest.approx(sigma, rel=0.15)


def test_noisy_lit_frames_get_a_smoothed_look():
    """A lit frame with heavy sensor noise is detected again on a smoothed copy at its own light; a clean
    lit frame is not, nor a noisy one with the noise look off."""
    rng = np.random.default_rng(0)
    clean = np.full((1, 64, 64, 3), 140, np.uint8)
    noisy = np.clip(np.rint(clean + rng.normal(0, 8, clean.shape)), 0, 255).astype(np.uint8)
    spy = Spy([np.zeros((0, 5), np.float32)], [np.zeros((0, 5), np.float32)])
    LowLightDetector(spy, 80, 3).detect(noisy, 0.15)
    assert len(spy.seen) == 2
    copy = spy.seen[1][0]
    assert abs(float(copy.mean()) - float(noisy.mean())) < 1  # no gain: the frame is lit
    assert float(copy.std()) < 0.5 * float(noisy.std())  # smoothed
    for frames, level in ((clean, 3), (noisy, 0)):
        spy = Spy([np.zeros((0, 5), np.float32)])
        LowLightDetector(spy, 80, level).detect(frames, 0.15)
        assert len(spy.seen) == 1


def test_zoom_crops_of_a_noisy_frame_get_the_smoothed_look():
    """The zoom's crop of a noisy lit frame is looked at again, smoothed at its own light, though the
    enlarged crop alone reads as clean (enlarging smooths the noise the network still sees); the crop of
    a clean frame is not. Calls: the frames, the noisy frame's copy, the two crops, one crop's copy."""
    rng = np.random.default_rng(1)
    clean = np.full((2, 128, 128, 3), 140, np.uint8)
    frames = clean.copy()
    frames[0] = np.clip(np.rint(clean[0] + rng.normal(0, 8, clean[0].shape)), 0, 255).astype(np.uint8)
    small = boxes((56, 56, 68, 70, 0.3))
    none = np.zeros((0, 5), np.float32)
    spy = Spy([small, small], [none], [none, none], [none])
    params = ZoomParams.from_config(DetectConfig())
    ZoomDetector(LowLightDetector(spy, 80, 3), params).detect(frames, 0.15)
    crops, copies = spy.seen[2], spy.seen[3]
    assert len(spy.seen) == 4 and len(crops) == 2 and len(copies) == 1
    assert crops.shape[1] == round(params.window * params.scale) > params.window
    assert lowlight.frame_noise(crops[0]) < 3 < lowlight.frame_noise(frames[0])
    assert abs(float(copies[0].mean()) - float(crops[0].mean())) < 1  # no gain: the frame is lit
    assert float(copies[0].std()) < 0.75 * float(crops[0].std())  # smoothed (the enlarged noise less so)


def test_the_default_level_looks_again_at_dark_frames_only():
    """At the default, a frame whose brightest 1 % is under 80 (underexposed by about 1.5 stops) gets the
    second look; a dim room (the dinner clip's frames reach 95-164) does not."""
    below = DetectConfig().low_light_below
    for light, second in ((30, True), (79, True), (95, False), (150, False)):
        frame = np.full((40, 40, 3), light, np.uint8)
        assert (frame_gain(frame, below) > 1.0) == second, light


def _or_frames(seed: int, scene_seed: int, light: float, noise: float):
    """Synthetic OR frames with small and masked faces at ``light`` times their light with sensor noise
    (sigma ``noise`` grey levels per channel): (frame batch of one, its faces, the clean frame)."""
    rng = np.random.default_rng(seed)
    for k, name in enumerate(("small_faces_720p", "small_faces_1080p", "masked_crowd")):
        scene, gt = generate_scene(replace(SCENARIOS[name], n_frames=31), scene_seed + k)
        for t in range(0, 31, 10):
            truth = gt[(gt["frame_index"] == t) & ~gt["ignore"]][["x1", "y1", "x2", "y2"]].to_numpy()
            frame = np.clip(np.rint(scene[t] * light + rng.normal(0, noise, scene[t].shape)), 0, 255)
            yield frame.astype(np.uint8)[None], truth, scene[t]


def _found(look, frames, threshold: float) -> int:
    """Faces of ``frames`` (from :func:`_or_frames`) that ``look`` finds: a box at ``threshold``, IoU 0.5."""
    hits = faces = 0
    for frame, truth, _ in frames:
        boxes_ = look.detect(frame, threshold)[0]
        hits += len(match_boxes(boxes_[boxes_[:, 4] >= threshold, :4], truth)[0])
        faces += len(truth)
    assert faces > 50, faces
    return hits


def test_finds_more_dim_faces_and_the_smoothing_is_why(monkeypatch):
    """On dim, noisy OR frames the second look finds more faces (a box at ``detect.threshold``, IoU 0.5
    with the ground truth) than the first look alone, and clearly more than a copy only brightened, not
    smoothed (measured: 27, 30 and 39 of 63 faces). The first look's boxes are all kept."""
    detector = build_detector("centerface", runtime="onnxruntime", device="cpu")
    threshold, below = DetectConfig().threshold, DetectConfig().low_light_below
    frames = list(_or_frames(3, 9100, 0.1, 3.0))  # the scenes are made once; every look sees the same frames
    for dim, _, _ in frames:  # the first look's boxes are kept, scored at least as before
        first, both = (
            detector.detect(dim, threshold)[0],
            LowLightDetector(detector, below).detect(dim, threshold)[0],
        )
        np.testing.assert_array_equal(both[: len(first), :4], first[:, :4])
        assert (both[: len(first), 4] >= first[:, 4]).all()
    plain, smoothed = (
        _found(detector, frames, threshold),
        _found(LowLightDetector(detector, below), frames, threshold),
    )
    monkeypatch.setattr(lowlight, "SMOOTH_SIGMA", 1e-3)  # a kernel of one pixel: brightened only
    unsmoothed = _found(LowLightDetector(detector, below), frames, threshold)
    assert smoothed > max(plain, unsmoothed) + 3, (plain, unsmoothed, smoothed)


def test_finds_the_dim_faces_of_a_frame_with_a_lit_part():
    """On dim, noisy OR frames whose top quarter keeps its own light (so the frame's brightest 1 % is lit)
    the second look on the dark tiles finds more faces than the first look alone (measured: 40 and 27 of
    63 faces; before the tiles, the frame's light alone decided, and these frames got no second look)."""
    detector = build_detector("centerface", runtime="onnxruntime", device="cpu")
    threshold, below = DetectConfig().threshold, DetectConfig().low_light_below
    frames = []
    for dim, truth, clean in _or_frames(3, 9100, 0.1, 3.0):
        band = dim.shape[1] // 4
        dim[0, :band] = clean[:band]
        assert np.ndim(frame_gain(dim[0], below)) == 2  # lit by its brightest 1 %, dark in most tiles
        frames.append((dim, truth, clean))
    plain, looked = (
        _found(detector, frames, threshold),
        _found(LowLightDetector(detector, below), frames, threshold),
    )
    assert looked > plain + 3, (plain, looked)


def test_finds_more_faces_on_noisy_lit_frames():
    """On lit OR frames with heavy sensor noise (sigma 8 levels per channel, about 5.4 in luma) the noise
    look finds more faces than the first look alone (measured: 49 and 56 of 70); on the same frames
    without the noise it is never taken."""
    detector = build_detector("centerface", runtime="onnxruntime", device="cpu")
    threshold = DetectConfig().threshold
    frames = list(_or_frames(5, 9200, 1.0, 8.0))
    assert all(lowlight.frame_noise(clean) < 3 for _, _, clean in frames)
    plain = _found(detector, frames, threshold)
    looked = _found(LowLightDetector(detector, 0, 3.0), frames, threshold)
    assert looked > plain + 3, (plain, looked)
