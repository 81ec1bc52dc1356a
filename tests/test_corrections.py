"""Corrections: a reviewer's edited CVAT export (or COCO / Parquet box set) applied to the tracks."""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest

from faceoff.boxes import TRACK_SCHEMA, read_boxes, read_metadata, write_boxes
from faceoff.config import validate_config
from faceoff.corrections import corrections_index, write_corrected_tracks
from faceoff.cvat import export_cvat
from faceoff.errors import ConfigError, FaceOffError
from tests.test_cvat import probe_info, track_rows

INFO = probe_info()


@pytest.fixture
def tracks(tmp_path):
    df = pd.concat(
        [
            track_rows(3, range(2, 10), (10, 5, 20, 17), pad=1.5),
            track_rows(7, range(20, 26), (30, 20, 40, 33), source="followed"),
        ],
        ignore_index=True,
    )
    path = tmp_path / "tracks" / "vid.parquet"
    write_boxes(df, path, {"frame_count": 30, "width": 64, "height": 48, "stage": "regularize"}, TRACK_SCHEMA)
    return path, read_boxes(path)


@pytest.fixture
def exported(tmp_path, tracks):
    out = tmp_path / "corrections" / "vid.xml"
    out.parent.mkdir()
    export_cvat(tracks[0], INFO, out)
    return out


def _add_track(root: ET.Element, keys: list[tuple[int, tuple[float, ...], bool]]) -> None:
    """A track as a reviewer draws it in CVAT: keyframes only (CVAT interpolates between them)."""
    t = ET.SubElement(root, "track", id="99", label="face")
    for frame, (x1, y1, x2, y2), outside in keys:
        ET.SubElement(
            t, "box", frame=str(frame), keyframe="1", outside=str(int(outside)), occluded="0",
            xtl=str(x1), ytl=str(y1), xbr=str(x2), ybr=str(y2),
        )  # fmt: skip


def _face_track(root: ET.Element, faceoff_id: int) -> ET.Element:
    for t in root.findall("track"):
        if t.find("box/attribute[@name='track_id']").text == str(faceoff_id):
            return t
    raise AssertionError(faceoff_id)


def test_unchanged_export_keeps_every_box_as_it_was(tmp_path, tracks, exported):
    path, df = tracks
    out = tmp_path / "corrected.parquet"
    record = write_corrected_tracks(path, exported, INFO, out)
    assert record["kept_boxes"] == len(df) and record["added_boxes"] == 0 and record["removed_boxes"] == 0
    got = read_boxes(out)
    pd.testing.assert_frame_equal(got, df)  # sources, scores and motion pads survive the round trip


def test_added_track_is_manual_deleted_track_and_outside_frame_removed(tmp_path, tracks, exported):
    path, df = tracks
    tree = ET.parse(exported)
    root = tree.getroot()
    root.remove(_face_track(root, 7))  # the reviewer deletes a false positive
    box4 = next(b for b in _face_track(root, 3).findall("box") if b.get("frame") == "4")
    box4.set("outside", "1")  # ... and switches the other track off on frame 4 only
    _add_track(
        root, [(12, (40, 4, 50, 14), False), (15, (46, 4, 56, 14), False), (16, (46, 4, 56, 14), True)]
    )
    tree.write(exported)

    out = tmp_path / "corrected.parquet"
    record = write_corrected_tracks(path, exported, INFO, out)
    got = read_boxes(out)
    assert record["removed_boxes"] == 6 + 1 and record["added_boxes"] == 4 and record["kept_boxes"] == 7
    assert record["sha256"] == hashlib.sha256(exported.read_bytes()).hexdigest()
    assert record["file"] == "vid.xml" and record["format"] == "cvat"
    assert read_metadata(out)["corrections"] == record and read_metadata(out)["stage"] == "regularize"
    manual = got[got.source == "manual"].sort_values("frame_index")
    assert manual["frame_index"].tolist() == [12, 13, 14, 15]
    np.testing.assert_allclose(manual[["x1", "x2"]].to_numpy()[1], [42, 52])  # interpolated as in CVAT
    assert (manual.score == 1).all() and (manual.pad == 0).all() and manual.track_id.nunique() == 1
    assert manual.track_id.iat[0] not in set(df.track_id)
    np.testing.assert_allclose(manual.pts_time, manual.frame_index / 25)
    assert 4 not in set(got.loc[got.track_id == 3, "frame_index"]) and 7 not in set(got.track_id)
    assert (got.loc[got.track_id == 3, "pad"] == 1.5).all()


def test_no_corrections_copies_the_tracks(tmp_path, tracks):
    path, df = tracks
    out = tmp_path / "corrected.parquet"
    assert write_corrected_tracks(path, None, INFO, out) is None
    pd.testing.assert_frame_equal(read_boxes(out), df)
    assert read_metadata(out)["corrections"] is None


def test_parquet_and_coco_corrections(tmp_path, tracks):
    path, df = tracks
    keep = df[df.track_id == 3]
    extra = track_rows(5, [1], (0, 0, 8, 8))
    pq_file = tmp_path / "vid.parquet"
    write_boxes(pd.concat([keep, extra]), pq_file, {}, TRACK_SCHEMA)
    record = write_corrected_tracks(path, pq_file, INFO, tmp_path / "a.parquet")
    assert (record["kept_boxes"], record["added_boxes"], record["removed_boxes"]) == (8, 1, 6)
    images = [{"id": i, "file_name": f"frame_{i:06d}.png"} for i in range(30)]
    anns = [
        {
            "id": k,
            "image_id": int(r.frame_index),
            "category_id": 1,
            "bbox": [r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1],
        }
        for k, r in enumerate(keep.itertuples())
    ]
    anns.append({"id": 99, "image_id": 1, "category_id": 1, "bbox": [0, 0, 8, 8]})
    coco = tmp_path / "vid.json"
    coco.write_text(
        json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "face"}]})
    )
    record = write_corrected_tracks(path, coco, INFO, tmp_path / "b.parquet")
    assert (record["kept_boxes"], record["added_boxes"], record["removed_boxes"]) == (8, 1, 6)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda text: text.replace("</annotations>", ""), "cannot read as CVAT XML"),
        (lambda text: text.replace('frame="25"', 'frame="45"'), "beyond the video's last frame"),
        (lambda text: re.sub(r'xbr="[0-9.]+"', 'xbr="400"', text, count=1), "outside the 64x48 picture"),
    ],
)
def test_a_file_that_does_not_fit_the_video_is_an_error_naming_it(tmp_path, tracks, exported, edit, message):
    exported.write_text(edit(exported.read_text()))
    with pytest.raises(FaceOffError, match=message) as err:
        write_corrected_tracks(tracks[0], exported, INFO, tmp_path / "out.parquet")
    assert str(exported) in str(err.value)
    assert not (tmp_path / "out.parquet").exists()


def test_a_file_keeping_none_of_the_boxes_is_refused(tmp_path, tracks):
    other = tmp_path / "other.parquet"
    write_boxes(track_rows(1, range(5), (1, 1, 9, 9)), other, {}, TRACK_SCHEMA)
    with pytest.raises(FaceOffError, match="keeps none of the video's 14 tracked boxes"):
        write_corrected_tracks(tracks[0], other, INFO, tmp_path / "out.parquet")


def test_a_missing_corrections_folder_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="corrections: folder"):
        validate_config({"inputs": [str(tmp_path)], "corrections": str(tmp_path / "missing")})


def test_corrections_index(tmp_path):
    folder = tmp_path / "corr"
    folder.mkdir()
    (folder / "a.xml").write_text("<annotations/>")
    (folder / "b.json").write_text("{}")
    (folder / "notes.txt").write_text("")
    assert corrections_index(folder, ["a", "b", "c"]) == {
        "a": str(folder / "a.xml"),
        "b": str(folder / "b.json"),
    }
    assert corrections_index(None, ["a"]) == {}
    (folder / "a.parquet").write_bytes(b"")
    with pytest.raises(FaceOffError, match="several files for video 'a'"):
        corrections_index(folder, ["a"])
    with pytest.raises(FaceOffError, match="does not exist"):
        corrections_index(tmp_path / "missing", ["a"])
