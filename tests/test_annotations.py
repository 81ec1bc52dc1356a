"""Tests for faceoff.annotations: the four importers on fixture files and on malformed input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from faceoff.annotations import (
    COLUMNS,
    detect_format,
    load_annotations,
    read_coco,
    read_cvat_video,
    read_mot,
    read_parquet_annotations,
)

DATA = Path(__file__).parent / "data" / "annotations"
FIXTURES = {
    "parquet": DATA / "faces.parquet",
    "coco": DATA / "faces_coco.json",
    "cvat": DATA / "faces_cvat.xml",
    "mot": DATA / "faces_mot.txt",
}
PTS = [i / 10 for i in range(6)]
# the two faces of the fixtures: (frame, x1, y1, x2, y2, track_id, ignore, masked, occluded)
EXPECTED = sorted(
    [(f, 10 + 2 * f, 10, 30 + 2 * f, 34, 1, False, False, f == 5) for f in range(6)]
    + [
        (1, 50, 20, 70, 44, 2, True, True, False),
        (2, 52, 20, 72, 44, 2, True, True, False),
        (3, 54, 20, 74, 44, 2, False, True, True),
    ]
)
FLAGS_ONLY_IN = ("parquet", "coco", "cvat")  # MOT has no masked/occluded


def expected_table() -> pd.DataFrame:
    a = np.array(EXPECTED, dtype=object)
    df = pd.DataFrame(
        {
            "frame_index": a[:, 0].astype(np.int64),
            "pts_time": a[:, 0].astype(np.float64) / 10,
            "x1": a[:, 1].astype(np.float32),
            "y1": a[:, 2].astype(np.float32),
            "x2": a[:, 3].astype(np.float32),
            "y2": a[:, 4].astype(np.float32),
            "score": np.ones(len(a), dtype=np.float32),
            "track_id": a[:, 5].astype(np.int64),
            "ignore": a[:, 6].astype(bool),
            "masked": a[:, 7].astype(bool),
            "occluded": a[:, 8].astype(bool),
        }
    )
    return df[COLUMNS]


@pytest.mark.parametrize("fmt", list(FIXTURES))
def test_fixtures_give_the_same_table(fmt: str) -> None:
    df = load_annotations(FIXTURES[fmt], frame_count=6, pts_time=PTS)
    assert detect_format(FIXTURES[fmt]) == fmt
    exp = expected_table()
    if fmt not in FLAGS_ONLY_IN:
        exp["masked"] = False
        exp["occluded"] = False
    assert list(df.columns) == COLUMNS
    pd.testing.assert_frame_equal(df, exp)


def test_all_importers_agree_with_each_other() -> None:
    tables = {fmt: load_annotations(p, frame_count=6, pts_time=PTS) for fmt, p in FIXTURES.items()}
    common = [c for c in COLUMNS if c not in ("masked", "occluded")]
    for fmt, df in tables.items():
        pd.testing.assert_frame_equal(df[common], tables["parquet"][common], obj=fmt)
        if fmt in FLAGS_ONLY_IN:
            pd.testing.assert_frame_equal(df, tables["parquet"], obj=fmt)


def test_pts_time_defaults() -> None:
    assert load_annotations(FIXTURES["mot"])["pts_time"].isna().all()
    # a Parquet file keeps its own timestamps unless the probe's are given
    np.testing.assert_allclose(
        load_annotations(FIXTURES["parquet"])["pts_time"], expected_table()["pts_time"]
    )
    # frames past the end of a short pts list get NaN
    df = load_annotations(FIXTURES["coco"], pts_time=[0.0, 0.5])
    assert df.loc[df["frame_index"] == 1, "pts_time"].eq(0.5).all()
    assert df.loc[df["frame_index"] >= 2, "pts_time"].isna().all()


def test_individual_readers_and_explicit_format(tmp_path: Path) -> None:
    assert len(read_parquet_annotations(FIXTURES["parquet"])) == 9
    assert len(read_coco(FIXTURES["coco"])) == 9
    assert len(read_cvat_video(FIXTURES["cvat"])) == 9
    assert len(read_mot(FIXTURES["mot"])) == 9
    # no known extension: detected from the content
    for fmt, p in FIXTURES.items():
        q = tmp_path / f"{fmt}.annot"
        q.write_bytes(p.read_bytes())
        assert detect_format(q) == fmt
        assert len(load_annotations(q)) == 9
    assert len(load_annotations(tmp_path / "mot.annot", fmt="mot")) == 9
    with pytest.raises(ValueError, match="unknown annotation format"):
        load_annotations(FIXTURES["mot"], fmt="yolo")


# --- CVAT ------------------------------------------------------------------------------------------


def cvat(tmp_path: Path, body: str, meta: str = "", name: str = "a.xml") -> Path:
    p = tmp_path / name
    p.write_text(f'<?xml version="1.0"?>\n<annotations><version>1.1</version>{meta}{body}</annotations>\n')
    return p


def box(frame: int, x1: float, x2: float, outside: int = 0, occluded: int = 0, attrs: str = "") -> str:
    return (
        f'<box frame="{frame}" outside="{outside}" occluded="{occluded}" keyframe="1" '
        f'xtl="{x1}" ytl="0" xbr="{x2}" ybr="10">{attrs}</box>'
    )


def test_cvat_interpolation_and_outside(tmp_path: Path) -> None:
    body = (
        '<track id="4" label="face">'
        + box(0, 0, 10)
        + box(4, 8, 18, occluded=1)
        + box(6, 12, 22, outside=1)
        + box(8, 30, 40, attrs='<attribute name="masked">true</attribute>')
        + "</track>"
    )
    p = cvat(tmp_path, body)
    df = read_cvat_video(p, frame_count=10)
    # 0..4 interpolated between the keyframes, 5 towards the outside box, 6-7 absent, 8.. to the end
    assert df["frame_index"].tolist() == [0, 1, 2, 3, 4, 5, 8, 9]
    np.testing.assert_allclose(df["x1"], [0, 2, 4, 6, 8, 10, 30, 30])
    np.testing.assert_allclose(df["x2"], [10, 12, 14, 16, 18, 20, 40, 40])
    # flags come from the earlier keyframe
    assert df["occluded"].tolist() == [False] * 4 + [True, True, False, False]
    assert df["masked"].tolist() == [False] * 6 + [True, True]
    assert (df["track_id"] == 4).all()
    # without a frame count or a stop_frame, a track ends at its last listed box
    assert read_cvat_video(p)["frame_index"].tolist() == [0, 1, 2, 3, 4, 5, 8]
    # the task's stop_frame bounds it otherwise
    p2 = cvat(tmp_path, body, "<meta><task><stop_frame>10</stop_frame></task></meta>", "b.xml")
    assert read_cvat_video(p2)["frame_index"].max() == 10
    # load_annotations passes the frame count through
    assert load_annotations(p, frame_count=12)["frame_index"].max() == 11


def test_cvat_labels(tmp_path: Path) -> None:
    # only one label: used whatever its name
    p = cvat(tmp_path, '<track id="0" label="head">' + box(0, 0, 10) + "</track>")
    assert len(read_cvat_video(p)) == 1
    # several labels, none a face
    p = cvat(
        tmp_path,
        '<track id="0" label="person">' + box(0, 0, 10) + '</track><track id="1" label="car">' + box(0, 0, 5),
        name="b.xml",
    )
    p.write_text(p.read_text().replace("</annotations>", "</track></annotations>"))
    with pytest.raises(ValueError, match=r"b\.xml: no face label"):
        read_cvat_video(p)
    # declared labels count too: only the face one is taken
    meta = "<meta><task><labels><label><name>person</name></label><label><name>FACE</name></label></labels>"
    meta += "</task></meta>"
    p = cvat(tmp_path, '<track id="0" label="person">' + box(0, 0, 10) + "</track>", meta, "c.xml")
    assert len(read_cvat_video(p)) == 0


def test_cvat_rotated_box_and_images(tmp_path: Path) -> None:
    rot = '<box frame="0" outside="0" occluded="0" xtl="0" ytl="0" xbr="20" ybr="10" rotation="90"></box>'
    df = read_cvat_video(cvat(tmp_path, f'<track id="0" label="face">{rot}</track>'))
    np.testing.assert_allclose(df[["x1", "y1", "x2", "y2"]].to_numpy()[0], [5, -5, 15, 15], atol=1e-5)
    images = (
        '<image id="3" name="frame_000003.png" width="64" height="48">'
        '<box label="face" occluded="1" xtl="1" ytl="2" xbr="11" ybr="12">'
        '<attribute name="ignore">yes</attribute></box></image>'
    )
    df = read_cvat_video(cvat(tmp_path, images, name="img.xml"))
    assert df["frame_index"].tolist() == [3] and df["track_id"].tolist() == [-1]
    assert df["occluded"].tolist() == [True] and df["ignore"].tolist() == [True]


def test_cvat_task_not_starting_at_frame_zero_is_refused(tmp_path: Path) -> None:
    p = cvat(tmp_path, "", "<meta><task><start_frame>100</start_frame></task></meta>")
    with pytest.raises(ValueError, match="a.xml: task starts at frame 100"):
        read_cvat_video(p)


# --- MOT -------------------------------------------------------------------------------------------


def test_mot_one_based_frames_and_conf_zero(tmp_path: Path) -> None:
    p = tmp_path / "gt.txt"
    p.write_text("frame,id,x,y,w,h,conf\n1,3,10,20,5,6,1\n\n4 -1 0 0 2 2 0\n2,3,11,20,5,6\n")
    df = read_mot(p)
    assert df["frame_index"].tolist() == [0, 1, 3]
    assert df["track_id"].tolist() == [3, 3, -1]
    assert df["ignore"].tolist() == [False, False, True]
    np.testing.assert_allclose(df.loc[0, ["x1", "y1", "x2", "y2"]].astype(float), [10, 20, 15, 26])


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("0,1,10,20,5,6,1\n", "line 1: frame '0' is not a 1-based frame number"),
        ("1,1,10,20\n", "line 1: expected frame,id,x,y,w,h"),
        ("1,1,10,20,5,6,1\n2,1,x,20,5,6,1\n", "line 2: not numbers"),
        ("1,1,10,20,-5,6,1\n", "negative width or height"),
        ("1,1,10,nan,5,6,1\n", "finite"),
    ],
)
def test_mot_malformed(tmp_path: Path, text: str, match: str) -> None:
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=f"bad.csv: .*{match}"):
        load_annotations(p)


# --- COCO ------------------------------------------------------------------------------------------


def coco(tmp_path: Path, images: list, anns: list, cats: list | None = None, name: str = "c.json") -> Path:
    p = tmp_path / name
    data = {"images": images, "annotations": anns}
    if cats is not None:
        data["categories"] = cats
    p.write_text(json.dumps(data))
    return p


def ann(image_id: int, x: float = 0, **kw: object) -> dict:
    return {"id": image_id * 10, "image_id": image_id, "category_id": 1, "bbox": [x, 0, 10, 10], **kw}


def test_coco_frame_sources(tmp_path: Path) -> None:
    # the number in file_name
    imgs = [{"id": 1, "file_name": "a/frame_000123.jpg"}, {"id": 2, "file_name": "frame_7.png"}]
    df = read_coco(coco(tmp_path, imgs, [ann(1), ann(2)]))
    assert df["frame_index"].tolist() == [7, 123]
    # frame_index / frame_id win over the file name
    imgs_f = [dict(im, frame_id=i + 40) for i, im in enumerate(imgs)]
    assert read_coco(coco(tmp_path, imgs_f, [ann(1), ann(2)]))["frame_index"].tolist() == [40, 41]
    # no number anywhere: image order
    imgs_o = [{"id": 9, "file_name": "b.jpg"}, {"id": 5, "file_name": "a.jpg"}]
    assert read_coco(coco(tmp_path, imgs_o, [ann(5)]))["frame_index"].tolist() == [1]


def test_coco_categories_flags_and_track_ids(tmp_path: Path) -> None:
    imgs = [{"id": 1, "file_name": "f_0.jpg"}]
    anns = [
        ann(1, 0, iscrowd=1, track_id=5),
        ann(1, 20, attributes={"masked": "true", "occluded": False, "track_id": 6}),
        dict(ann(1, 40), category_id=2),
    ]
    df = read_coco(coco(tmp_path, imgs, anns, [{"id": 1, "name": "Face"}, {"id": 2, "name": "person"}]))
    assert df["x1"].tolist() == [0, 20]  # the person box is left out
    assert df["track_id"].tolist() == [5, 6] and df["ignore"].tolist() == [True, False]
    assert df["masked"].tolist() == [False, True] and not df["occluded"].any()
    # a single category is the face category whatever its name; no categories: every box
    assert len(read_coco(coco(tmp_path, imgs, anns[:2], [{"id": 1, "name": "head"}]))) == 2
    assert len(read_coco(coco(tmp_path, imgs, anns))) == 3
    with pytest.raises(ValueError, match="no face category"):
        read_coco(coco(tmp_path, imgs, anns, [{"id": 1, "name": "person"}, {"id": 2, "name": "car"}]))


@pytest.mark.parametrize(
    ("images", "anns", "match"),
    [
        ([{"id": 1, "file_name": "f1.jpg"}], [ann(2)], "unknown image_id 2"),
        ([{"id": 1, "file_name": "f1.jpg"}], [dict(ann(1), bbox=[1, 2])], r"bbox must be \[x, y, w, h\]"),
        ([{"id": 1, "file_name": "f1.jpg"}, {"id": 2, "file_name": "x_01.jpg"}], [], "same frame"),
        ([{"id": 1, "file_name": "f1.jpg"}], [ann(1, attributes={"masked": "maybe"})], "true/false"),
        ([{"file_name": "f1.jpg"}], [], "needs an 'id'"),
    ],
)
def test_coco_malformed(tmp_path: Path, images: list, anns: list, match: str) -> None:
    with pytest.raises(ValueError, match=f"bad.json: .*{match}"):
        load_annotations(coco(tmp_path, images, anns, name="bad.json"))


# --- malformed files of every kind ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [
        ("x.parquet", b"not parquet at all", "cannot read as Parquet"),
        ("x.json", b"{not json", "cannot read as COCO JSON"),
        ("x.json", b"[1, 2]", "no 'images' list"),
        ("x.xml", b"<annotations><track", "cannot read as CVAT XML"),
        ("x.xml", b"<coco></coco>", "root element is <coco>"),
        (
            "x.xml",
            b'<annotations><track id="0" label="face"><box frame="0"/></track></annotations>',
            "bad box",
        ),
        ("x.csv", b"\xff\xfe\x00garbage", "cannot read as MOT CSV"),
    ],
)
def test_malformed_files_name_the_file(tmp_path: Path, name: str, content: bytes, match: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    with pytest.raises(ValueError, match=f"{p.name}: .*{match}"):
        load_annotations(p)


def test_parquet_missing_columns(tmp_path: Path) -> None:
    p = tmp_path / "cols.parquet"
    pd.DataFrame({"frame_index": [0], "x1": [1.0]}).to_parquet(p)
    with pytest.raises(ValueError, match="cols.parquet: not a box table"):
        load_annotations(p)


def test_missing_file_and_frames_outside_the_video(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nope.json: annotation file not found"):
        load_annotations(tmp_path / "nope.json")
    # the fixtures run to frame 5: a 5-frame video is too short
    with pytest.raises(ValueError, match=r"faces_mot.txt: annotated frame 5 is beyond .*1-based"):
        load_annotations(FIXTURES["mot"], frame_count=5)
