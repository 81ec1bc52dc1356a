"""The results layout: flat by default, sharded by a hash of the id, and read back in either."""

from __future__ import annotations

import hashlib
from collections import Counter

import pytest

from faceoff.config import validate_config
from faceoff.layout import AUTO_SHARD_ABOVE, is_sharded, pattern, scan, shard, video_path


def test_shard_is_two_hex_digits_of_the_ids_sha256() -> None:
    assert shard("or_00001") == hashlib.sha256(b"or_00001").hexdigest()[:2]
    assert shard("Ärzte OP 3") == hashlib.sha256("Ärzte OP 3".encode()).hexdigest()[:2]
    # 100,000 ids spread over all 256 shards: at most ~4,096 entries per folder up to ~10^6 videos
    counts = Counter(shard(f"or_{i:06d}") for i in range(100_000))
    assert len(counts) == 256 and max(counts.values()) < 1.25 * 100_000 / 256


def test_layout_choice_and_default() -> None:
    assert validate_config({"inputs": ["x"]}).layout == "flat"  # the default layout is unchanged
    assert not is_sharded("flat", 10**6) and is_sharded("sharded", 1)
    assert not is_sharded("auto", AUTO_SHARD_ABOVE) and is_sharded("auto", AUTO_SHARD_ABOVE + 1)
    with pytest.raises(ValueError, match="layout"):
        is_sharded("deep", 1)


def test_paths_and_patterns(tmp_path) -> None:
    assert pattern("res", "detections", ".parquet", False) == "res/detections/{id}.parquet"
    assert pattern("res", "logs/detect", ".log", True) == "res/logs/detect/{shard}/{id}.log"
    s = shard("a")
    assert video_path("res", "qa", "a", ".png", True).as_posix() == f"res/qa/{s}/a.png"
    assert video_path("res", "qa", "a", ".png", False).as_posix() == "res/qa/a.png"
    # scan reads both layouts at once and does not descend into other folders
    for p in (video_path(tmp_path, "qa", "a", ".png", True), video_path(tmp_path, "qa", "b", ".png", False)):
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(b"")
    (tmp_path / "qa" / ".c.png.parts").mkdir()
    (tmp_path / "qa" / ".c.png.parts" / "x.npz").write_bytes(b"")
    assert sorted(e.name for e in scan(tmp_path / "qa")) == [".c.png.parts", "a.png", "b.png"]
    assert list(scan(tmp_path / "missing")) == []
