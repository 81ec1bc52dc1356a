"""Following a head through a turn away and back (optical flow where template matching fails)."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.config import RegularizeConfig, RenderConfig
from faceoff.evaluate import COVERED_AT, face_fractions
from faceoff.follow import FollowParams, follow_tracks
from faceoff.headtrack import FlowParams, flow_step
from faceoff.probe import probe_video
from faceoff.synth.clips import write_clip
from faceoff.synth.heads import Look, build_texture, face_view, render_head

W, H, N = 320, 192, 64
SCALE = 0.5  # a face 43 px wide
DETECTED = 6  # the detector sees the frontal face on frames 0..5 only
EXIT = 46  # from here the person walks out of the picture at the right edge


def _ease(f: float, start: float, frames: float) -> float:
    t = min(max((f - start) / frames, 0.0), 1.0)
    return t * t * (3 - 2 * t)


def _pose(f: int) -> tuple[float, float, float, float]:
    """(yaw, pitch, x, y) of the head on frame ``f``: it turns away to the back of the head (160 degrees)
    while bowing, then back to a profile (70 degrees), walking right and finally out of the picture."""
    yaw = np.radians(160) * _ease(f, 8, 14) - np.radians(90) * _ease(f, 26, 12)
    pitch = np.radians(25) * (_ease(f, 8, 14) - 0.5 * _ease(f, 26, 12))
    x = 70 + 2.0 * f + (4.0 * (f - EXIT) ** 1.5 if f > EXIT else 0.0)
    return yaw, pitch, x, 80 + 0.3 * f


@pytest.fixture(scope="module")
def turning(tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """A person (head and textured gown) on a noisy wall, and the face box on every frame (the face
    region as projected with the head's pose: where the face is, turned away or not)."""
    rng = np.random.default_rng(5)
    tex = build_texture(Look(), rng)
    wall = rng.integers(80, 120, (H, W, 3)).astype(np.float32)
    gown = np.kron(rng.integers(40, 120, (12, 16, 3)), np.ones((6, 6, 1))).astype(np.float32)  # 72 x 96
    gown[..., 2] += 60
    frames, truth = [], []
    for f in range(N):
        yaw, pitch, x, y = _pose(f)
        cx, cy = round(x), round(y)
        frame = wall.copy()
        _paste(frame, gown, cx - 48, cy + 30, np.ones(gown.shape[:2], np.float32), premultiplied=False)
        prem, alpha, c = render_head(tex, SCALE, yaw, pitch, 0.0)
        _paste(frame, prem, cx - c, cy - c, alpha, premultiplied=True)
        frames.append(np.clip(frame, 0, 255).astype(np.uint8))
        truth.append((f, *face_view(SCALE, yaw, pitch, 0.0, (cx, cy)).box))
    video = write_clip(tmp_path_factory.mktemp("turn") / "turning.mp4", np.stack(frames), crf=16)
    return video, pd.DataFrame(truth, columns=["frame_index", "x1", "y1", "x2", "y2"])


def _paste(
    frame: np.ndarray, rgb: np.ndarray, x0: int, y0: int, alpha: np.ndarray, premultiplied: bool
) -> None:
    """Composite ``rgb`` (with ``alpha``) onto ``frame`` at top left ``(x0, y0)``, clipped to the frame."""
    h, w = alpha.shape
    fx1, fy1, fx2, fy2 = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
    if fx2 <= fx1 or fy2 <= fy1:
        return
    a = alpha[fy1 - y0 : fy2 - y0, fx1 - x0 : fx2 - x0, None]
    src = rgb[fy1 - y0 : fy2 - y0, fx1 - x0 : fx2 - x0]
    frame[fy1:fy2, fx1:fx2] = (src if premultiplied else a * src) + (1 - a) * frame[fy1:fy2, fx1:fx2]


def _detected(truth: pd.DataFrame) -> pd.DataFrame:
    return truth[truth["frame_index"] < DETECTED].assign(score=0.9, track_id=0, source="detected", pad=0.0)


def _covered(video: Path, truth: pd.DataFrame, **changes) -> tuple[pd.DataFrame, pd.Series]:
    """The followed rows and, per frame, the share of the face box hidden by detected + followed boxes
    (as render hides them: RenderConfig defaults)."""
    det = _detected(truth)
    params = FollowParams.from_config(RegularizeConfig(**changes))
    rows = follow_tracks(video, probe_video(video), det, params)
    hidden = pd.concat([det, rows], ignore_index=True)
    shares = face_fractions(hidden, truth.assign(ignore=False), RenderConfig(), W, H)
    return rows, pd.Series(shares, index=truth["frame_index"])


def _in_picture(truth: pd.DataFrame) -> pd.Series:
    centre = (truth["x1"] + truth["x2"]) / 2
    return pd.Series((centre < W).to_numpy(), index=truth["frame_index"])


def test_a_head_turning_away_and_back_stays_hidden(turning: tuple[Path, pd.DataFrame]) -> None:
    video, truth = turning
    rows, shares = _covered(video, truth, follow_frames=N)
    inside = _in_picture(truth)
    assert inside[EXIT] and not inside.iloc[-1]  # the clip: the head leaves the picture at the end
    assert (shares[inside] >= COVERED_AT).all(), shares[inside & (shares < COVERED_AT)].round(2).to_dict()
    assert set(rows["track_id"]) == {0} and set(rows["source"]) == {"followed"}


def test_the_defaults_keep_a_head_turned_away_for_40_frames(turning: tuple[Path, pd.DataFrame]) -> None:
    """Seen on frames 0-5 only, the head turns away and walks for 40 frames before it leaves the
    picture: the default following horizon keeps it hidden all that time."""
    video, truth = turning
    _, shares = _covered(video, truth)
    inside = _in_picture(truth)
    assert inside.iloc[: EXIT + 1].all() and EXIT - DETECTED >= 40
    assert (shares[inside] >= COVERED_AT).all(), shares[inside & (shares < COVERED_AT)].round(2).to_dict()


def test_following_stops_when_the_head_leaves(turning: tuple[Path, pd.DataFrame]) -> None:
    """No box is left behind on the wall: every followed box lies on the head, none outlives it."""
    video, truth = turning
    rows, _ = _covered(video, truth, follow_frames=N)
    on = truth.set_index("frame_index").loc[rows["frame_index"]]
    centre_x = (rows["x1"].to_numpy() + rows["x2"].to_numpy()) / 2
    assert ((centre_x > on["x1"].to_numpy()) & (centre_x < on["x2"].to_numpy())).all()
    assert rows["frame_index"].max() < N - 1


def test_template_matching_alone_loses_the_turning_head(turning: tuple[Path, pd.DataFrame]) -> None:
    """What the flow adds: without it the follower stops while the head turns, the face uncovered."""
    video, truth = turning
    _, shares = _covered(video, truth, follow_frames=N, follow_flow=False)
    assert (shares[_in_picture(truth)] < COVERED_AT).sum() > 10


def test_a_flow_step_follows_texture_and_refuses_a_changed_region() -> None:
    rng = np.random.default_rng(1)
    prev = (rng.random((120, 160)) * 255).astype(np.uint8)
    box = np.array([60.0, 30.0, 90.0, 60.0])
    p = FlowParams(below=1.0, min_share=0.5)
    moved = flow_step(prev, np.roll(prev, (2, 3), axis=(0, 1)), box, 1.3, 0.5, p)
    assert moved is not None
    np.testing.assert_allclose(moved[0], box + [3, 2, 3, 2], atol=0.5)
    assert moved[1] >= p.min_share
    assert flow_step(prev, (rng.random((120, 160)) * 255).astype(np.uint8), box, 1.3, 0.5, p) is None
    assert flow_step(prev, np.roll(prev, 40, axis=1), box, 1.3, 0.5, p) is None  # beyond the search
