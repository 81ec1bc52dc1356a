"""The contact sheet: frames chosen where a reviewer should look, drawn from the anonymized output only."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pandas as pd
import pytest
import skimage.data
import skimage.io

from faceoff.boxes import TRACK_SCHEMA, empty_frame, read_boxes, write_boxes
from faceoff.config import RenderConfig
from faceoff.contact_sheet import (
    FINDING_COLOUR,
    SOURCE_COLOURS,
    pick_frames,
    sheet_layout,
    write_contact_sheet,
)
from faceoff.decode import iter_frames
from faceoff.errors import FaceOffError
from faceoff.probe import probe_video
from faceoff.stages.render import run_render
from faceoff.synth.clips import write_clip

N, W, H = 10, 192, 128
FACE = np.array([181.5, 58.2, 269.9, 177.8]) - [150, 30, 150, 30]  # in the head crop


def _tracks(rows: list[tuple[int, str]]) -> pd.DataFrame:
    if not rows:
        return empty_frame(TRACK_SCHEMA)
    frames = [f for f, _ in rows]
    return pd.DataFrame(
        {
            "frame_index": np.asarray(frames, np.int64),
            "pts_time": np.asarray(frames, float) / 25,
            "x1": 10.0,
            "y1": 10.0,
            "x2": 30.0,
            "y2": 30.0,
            "score": 0.9,
            "track_id": 0,
            "source": [s for _, s in rows],
        }
    )


def test_pick_frames_prefers_findings_then_filled_then_detected():
    rows = [(f, "detected") for f in range(60)]
    rows[25] = (25, "interpolated")
    rows[47] = (47, "extended")
    rows += [(33, "propagated")]
    findings = [{"frame_index": 93}, {"frame_index": 95}, {"frame_index": 25}]
    tracks = _tracks(rows)
    chosen = pick_frames(tracks, findings, 120, k=12)
    # slices of 10 frames: middle frame (x4), else the preferred one; 25 is both interpolated and a finding
    assert chosen == [4, 14, 25, 33, 47, 54, 64, 74, 84, 95, 104, 114]
    shuffled = tracks.sample(frac=1.0, random_state=1)
    assert pick_frames(shuffled, list(reversed(findings)), 120, k=12) == chosen
    assert pick_frames(tracks, [], 5, k=12) == [0, 1, 2, 3, 4]
    assert pick_frames(_tracks([]), [], 7, k=3) == [0, 3, 5]  # slices 0-1, 2-4, 5-6; ties: earlier
    assert pick_frames(tracks, findings, 0) == []


def _frames() -> np.ndarray:
    head = cv2.resize(skimage.data.astronaut()[30:190, 150:290], None, fx=0.6, fy=0.6)
    frames = np.full((N, H, W, 3), 90, np.uint8)
    for t in range(N):
        x = 60 + 4 * t
        frames[t, 20 : 20 + head.shape[0], x : x + head.shape[1]] = head
    return frames


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Source clip, its anonymized render (face hidden on every frame), probe, tracks file and face boxes."""
    root = tmp_path_factory.mktemp("sheet")
    src = write_clip(root / "src.mp4", _frames())
    info = probe_video(src)
    boxes = np.array([FACE * 0.6 + [60 + 4 * t, 20, 60 + 4 * t, 20] for t in range(N)])
    sources = ["extended", "detected", "detected", "interpolated"] + ["detected"] * (N - 5) + ["propagated"]
    tracks = pd.DataFrame(
        {
            "frame_index": np.arange(N, dtype=np.int64),
            "pts_time": np.asarray(info.pts_time),
            "x1": boxes[:, 0],
            "y1": boxes[:, 1],
            "x2": boxes[:, 2],
            "y2": boxes[:, 3],
            "score": 0.9,
            "track_id": 0,
            "source": sources,
        }
    )
    tracks_path = root / "tracks.parquet"
    write_boxes(tracks, tracks_path, {"frame_count": N}, TRACK_SCHEMA)
    out = root / "anon.mp4"
    run_render(str(src), info, tracks_path, RenderConfig(), out, root / "render.json")
    return src, out, info, tracks_path, boxes


def _png(path) -> np.ndarray:
    """The sheet as RGB, read by another decoder than the one that wrote it (OpenCV's PNG reader also fails
    once decord is loaded: "libpng error: bad parameters to zlib")."""
    return skimage.io.imread(path)[..., :3]


def _decode(path, info, size) -> np.ndarray:
    return np.concatenate([f for _, f in iter_frames(path, info, batch_size=4, size=size)])


def test_sheet_shows_anonymized_pixels_boxes_and_labels(rendered, tmp_path):
    src, anon, info, tracks_path, boxes = rendered
    finding = {"frame_index": 6, "pts_time": info.pts_time[6], "x1": 2, "y1": 70, "x2": 40, "y2": 120}
    findings = [finding, {**finding, "frame_index": 8}]
    out = tmp_path / "sheets" / "sheet.png"
    chosen = write_contact_sheet(anon, info, tracks_path, findings, out, k=5, thumb_width=96)
    assert chosen == [0, 3, 4, 6, 8]  # extended, interpolated, earlier of 4-5, findings
    sheet = _png(out)
    lay = sheet_layout(5, W, H, 96)
    assert (lay["thumb_width"], lay["thumb_height"], lay["columns"], lay["rows"]) == (96, 64, 4, 2)
    assert sheet.shape == (lay["height"], lay["width"], 3) == (2 * 64 + 20, 4 * 96, 3)
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]

    size = (96, 64)
    anon_thumbs, src_thumbs = _decode(anon, info, size), _decode(src, info, size)
    for pos, index in enumerate(chosen):
        r, c = divmod(pos, 4)
        thumb = sheet[r * 64 : (r + 1) * 64, c * 96 : (c + 1) * 96]
        # the middle of the hidden face (inside its box outline, below the label): anonymized pixels only
        x1, y1, x2, y2 = boxes[index] / 2
        ys = slice(int(y1 + (y2 - y1) * 0.25), int(y1 + (y2 - y1) * 0.75))
        xs = slice(int(x1 + (x2 - x1) * 0.25), int(x1 + (x2 - x1) * 0.75))
        assert ys.start > 20, "the face must lie below the label for this test"
        np.testing.assert_array_equal(thumb[ys, xs], anon_thumbs[index][ys, xs])
        diff = np.abs(thumb[ys, xs].astype(int) - src_thumbs[index][ys, xs].astype(int)).mean()
        assert diff > 5, f"frame {index}: the sheet's face looks like the source's ({diff:.1f})"
        # the track box outline in its source's colour, the finding in red
        colour = SOURCE_COLOURS[{0: "extended", 3: "interpolated"}.get(index, "detected")]
        assert (thumb == colour).all(axis=2).sum() > 20
        has_red = (thumb == FINDING_COLOUR).all(axis=2).sum() > 20
        assert has_red == (index in (6, 8))
        # the label: white text on a black strip at the top left
        assert (thumb[2:18, 2:40] == 0).all(axis=2).any() and (thumb[2:18, 2:40] > 200).all(axis=2).any()


def test_sheet_rejects_tracks_of_another_video(rendered, tmp_path):
    _, anon, info, _, _ = rendered
    other = tmp_path / "other.parquet"
    write_boxes(_tracks([(0, "detected")]), other, {"frame_count": 99}, TRACK_SCHEMA)
    with pytest.raises(FaceOffError, match="99"):
        write_contact_sheet(anon, info, other, [], tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists()


def test_sheet_never_upscales(rendered, tmp_path):
    _, anon, info, tracks_path, _ = rendered
    chosen = write_contact_sheet(anon, info, tracks_path, [], tmp_path / "s.png", k=3, thumb_width=4000)
    sheet = _png(tmp_path / "s.png")
    assert len(chosen) == 3 and sheet.shape == (H + 20, 3 * W, 3)


def test_sheet_shows_anamorphic_video_at_its_displayed_shape(rendered, tmp_path):
    # the same stored frames marked as 2:1 pixels (anamorphic): thumbnails twice as wide as stored
    _, anon, info, tracks_path, boxes = rendered
    wide = dataclasses.replace(info, sample_aspect=(2, 1))
    (index,) = write_contact_sheet(anon, wide, tracks_path, [], tmp_path / "s.png", k=1, thumb_width=2 * W)
    sheet = _png(tmp_path / "s.png")
    assert sheet.shape == (H + 20, 2 * W, 3)
    # the box outline lies at the stretched place: x doubled, y unchanged
    x1, y1, x2, y2 = boxes[index]
    (source,) = read_boxes(tracks_path).query("frame_index == @index")["source"]
    outline = (sheet[:H] == SOURCE_COLOURS[source]).all(axis=2)
    ys, xs = np.nonzero(outline)
    assert abs(xs.min() - 2 * x1) <= 2 and abs(xs.max() - 2 * x2) <= 2
    assert abs(ys.min() - y1) <= 2 and abs(ys.max() - y2) <= 2
