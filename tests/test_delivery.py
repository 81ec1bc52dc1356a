"""Delivery: a separate, complete copy placed atomically, never a file sharing the rendered file's inode."""

from __future__ import annotations

import os

import pytest

from faceoff import delivery
from faceoff.delivery import deliver
from faceoff.errors import FaceOffError


def test_deliver_is_a_separate_copy(tmp_path):
    rendered = tmp_path / "render" / "a.mp4"
    rendered.parent.mkdir()
    rendered.write_bytes(os.urandom(300_000))
    os.utime(rendered, ns=(1_000_000_000, 1_000_000_000))
    out = tmp_path / "anonymized" / "a.mp4"
    deliver(rendered, out)
    assert out.read_bytes() == rendered.read_bytes()
    assert not os.path.samefile(out, rendered)
    # Snakemake touches a finished job's outputs: that must not make its input look newer
    os.utime(out)
    assert rendered.stat().st_mtime_ns == 1_000_000_000
    assert sorted(p.name for p in out.parent.iterdir()) == ["a.mp4"]


def test_deliver_replaces_an_old_delivery(tmp_path):
    rendered, out = tmp_path / "r.mp4", tmp_path / "out.mp4"
    rendered.write_bytes(b"new video")
    out.write_bytes(b"an older, longer delivered video")
    deliver(rendered, out)
    assert out.read_bytes() == b"new video"


def test_failed_copy_leaves_nothing(tmp_path, monkeypatch):
    rendered, out = tmp_path / "r.mp4", tmp_path / "out" / "a.mp4"
    rendered.write_bytes(b"x" * 1000)

    def short_copy(src, dst):
        dst.write_bytes(b"x" * 10)

    monkeypatch.setattr(delivery, "_clone_or_copy", short_copy)
    with pytest.raises(FaceOffError, match="incomplete"):
        deliver(rendered, out)
    assert list(out.parent.iterdir()) == []
