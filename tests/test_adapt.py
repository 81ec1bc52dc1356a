"""Self-training: frame windows, hold-out blocks, pseudo-labels from confident tracks' bridged gaps, a tiny
CPU adaptation run end to end, and the drift guard's roll-back."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

import faceoff.adapt as adapt_module
from faceoff.adapt import AdaptVideo, adapt, holdout_blocks, pseudo_labels, window_frames
from faceoff.config import AdaptConfig, DetectConfig, RegularizeConfig
from faceoff.detectors import detector_from_checkpoint, load_onnx_weights
from faceoff.detectors.centerface_net import file_sha256
from faceoff.synth import write_clip
from faceoff.synth.orscene import SceneConfig, generate_scene
from faceoff.tracking import TrackParams
from faceoff.training import read_card

ERASED = (30, 31, 32)  # frames whose face is painted over: the detector misses it there


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """A 50-frame clip of one slowly moving face, hidden on frames ERASED (e.g. by an arm)."""
    cfg = SceneConfig(
        width=192,
        height=128,
        n_frames=50,
        n_people=1,
        face_px=(50, 60),
        speed=0.02,
        occluder_rate=0.0,
        turn_rate=0.0,
        entries_exits=0.0,
        fast_rate=0.0,
        p_mask=0.0,
        p_cap=0.0,
    )
    frames, gt = generate_scene(cfg, 3)
    for f in ERASED:  # the whole head: CenterFace still finds a face-less head at ~0.2
        r = gt[gt["frame_index"] == f].iloc[0]
        cx, cy, w, h = (r.x1 + r.x2) / 2, (r.y1 + r.y2) / 2, r.x2 - r.x1, r.y2 - r.y1
        frames[f, max(0, int(cy - h)) : int(cy + h), max(0, int(cx - w)) : int(cx + w)] = 120
    return write_clip(tmp_path_factory.mktemp("archive") / "or1.mp4", frames)


def _dets(rows):
    return pd.DataFrame(rows, columns=["frame_index", "x1", "y1", "x2", "y2", "score"])


def test_window_frames():
    assert np.array_equal(window_frames(40, 100, 10), np.arange(40))
    taken = window_frames(1000, 100, 25)
    assert len(taken) == 100 and taken[0] == 0 and taken[-1] == 999
    assert len(np.unique(taken // 25)) <= 5  # four windows of consecutive frames


def test_holdout_blocks_hold_out_whole_blocks(tmp_path):
    videos = [AdaptVideo(f"v{i}", tmp_path, None, None, np.arange(200)) for i in range(3)]
    holdout_blocks(videos, 0.3, seed=1)
    held = np.concatenate([v.holdout for v in videos])
    assert 0 < len(held) < 600 and len(held) % 25 == 0
    tiny = [AdaptVideo("t", tmp_path, None, None, np.arange(20))]
    holdout_blocks(tiny, 0.01, seed=0)
    assert len(tiny[0].holdout) == 20  # at least one block overall


def test_pseudo_labels_from_confident_gaps_only():
    box = [10.0, 10.0, 30.0, 40.0]
    rows = [(f, box[0] + f, box[1], box[2] + f, box[3], 0.9) for f in (0, 1, 2, 5, 6)]  # gap 3-4
    rows += [(f, 100.0, 10.0, 120.0, 40.0, 0.9 if f == 0 else 0.3) for f in (0, 1, 4)]  # weak gap 2-3
    rows += [(f, 200.0, 10.0, 220.0, 40.0, 0.25) for f in (0, 1, 3)]  # unconfident track
    rows += [(f, 300.0, 10.0, 320.0, 40.0, 0.9) for f in (0, 12)]  # gap longer than pseudo_max_gap
    rows += [(3, 150.0, 100.0, 170.0, 130.0, 0.9)]  # elsewhere on frame 3
    frames = np.arange(20)
    params = TrackParams.from_config(RegularizeConfig())
    labels = pseudo_labels(_dets(rows), frames, params, AdaptConfig(pseudo_max_gap=8))
    assert labels.bridged["frame_index"].tolist() == [3, 4]
    np.testing.assert_allclose(labels.bridged[["x1", "x2"]].to_numpy(), [[13, 33], [14, 34]])
    assert (labels.bridged["score"] == 0.9).all()
    assert sorted(labels.rejected["frame_index"].tolist()) == sorted([2, 3, *range(1, 12)])
    # the confident tracks' detections, weak ones included; not the unconfident track or the lone box
    assert len(labels.tracked) == 5 + 3 + 2 and labels.tracked["score"].min() == pytest.approx(0.3)
    assert not (labels.tracked["x1"] == 200).any() and not (labels.tracked["y1"] == 100).any()
    # the same gap outside the frames that were detected gives nothing
    labels = pseudo_labels(_dets(rows), np.array([0, 1, 2, 5, 6]), params, AdaptConfig())
    assert labels.bridged.empty
    assert pseudo_labels(_dets([]), frames, params, AdaptConfig()).tracked.empty


def test_adapt_learns_from_its_own_tracks(archive, tmp_path):
    cfg = AdaptConfig(rounds=1, iterations=2, batch_size=2, crop=64, holdout_share=0.3, seed=11, device="cpu")
    out = tmp_path / "adapted.pt"
    card = adapt([("or1", archive)], out, cfg=cfg, detect=DetectConfig(width=0), log=lambda m: None)
    assert out.exists() and out.with_suffix(".json").exists() and out.with_suffix(".onnx").exists()
    assert read_card(out)["checkpoint"]["sha256"] == file_sha256(out)
    assert card["training_data"][0]["frames_held_out"] == 25  # seed 11: frames 0-24 held out, not 25-49
    first = card["rounds"][0]
    assert first["pseudo_labels"] == len(ERASED)  # exactly the frames the face was hidden on
    assert first["holdout_confident"]["recall"] == 1.0
    assert card["rounds"][1]["hard_frames"] > 0 and card["rounds"][1]["pseudo_boxes"] > 0
    assert card["training_data"][0]["video_sha256"] == file_sha256(archive)
    det = detector_from_checkpoint(out, detector="centerface")
    assert det.name == "centerface" and det.weights_sha256 == file_sha256(out)


def test_drift_guard_rolls_back(archive, tmp_path, monkeypatch):
    real = adapt_module.detect_frames
    calls = []

    def forgetful(detector, video, cfg):  # after fine-tuning the detector finds nothing any more
        calls.append(video.id)
        dets = real(detector, video, cfg)
        return dets if len(calls) == 1 else dets.iloc[:0]

    monkeypatch.setattr(adapt_module, "detect_frames", forgetful)
    cfg = AdaptConfig(rounds=2, iterations=1, batch_size=1, crop=64, holdout_share=0.3, seed=11, device="cpu")
    out = tmp_path / "guarded.pt"
    card = adapt([("or1", archive)], out, cfg=cfg, detect=DetectConfig(width=0), log=lambda m: None)
    assert [r["accepted"] for r in card["rounds"]] == [True, False]
    assert card["rounds_accepted"] == 0 and "rolled back" in card["stop_reason"]
    saved = torch.load(out, weights_only=True)["state_dict"]
    shipped = load_onnx_weights()
    assert all(torch.equal(saved[k], shipped[k]) for k in shipped if not k.endswith("num_batches_tracked"))


def test_adapt_command(archive, tmp_path):
    from faceoff.cli import main

    out = tmp_path / "cli.pt"
    params = '{"rounds": 1, "iterations": 1, "batch_size": 1, "crop": 64, "seed": 11, "device": "cpu"}'
    args = ["adapt", str(archive), "--ids", "or1", "--params", params, "--detect-params", '{"width": 0}']
    assert main([*args, "--redact-paths", "-o", str(out)]) == 0
    card = read_card(out)
    assert card["trained_by"] == "faceoff adapt" and card["training_data"][0]["id"] == "or1"
    assert card["training_data"][0]["video"] == "(redacted)" and str(archive) not in json.dumps(card)
    assert card["config"]["detect"]["width"] == 0


@pytest.mark.parametrize("pseudonymous", [False, True])
def test_adapt_command_takes_the_workflows_videos_and_their_probes(monkeypatch, tmp_path, pseudonymous):
    """As the adapt rule runs it: the videos come from the workflow's config (pseudonyms when on), the
    probes from the probe stage's files under the results layout; nothing is listed on the command line."""
    import hashlib
    import hmac

    from faceoff.cli import main

    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("b.mp4", "a.mp4", "c.mov"):
        (videos / name).write_bytes(b"never read: adapt is replaced below")
    cfg = {"inputs": [str(videos)], "results": str(tmp_path / "res"), "layout": "sharded"}
    if pseudonymous:
        (tmp_path / "key").write_text("k3y")
        mapping = tmp_path / "map.tsv"
        cfg["pseudonymize"] = {"enabled": True, "key_file": str(tmp_path / "key"), "mapping": str(mapping)}
    seen = {}

    def fake_adapt(videos, output, **kwargs):
        seen.update(videos=videos, probes=kwargs["probes"])
        return {"rounds_accepted": 0, "stop_reason": "replaced"}

    monkeypatch.setattr(adapt_module, "adapt", fake_adapt)
    args = [
        "adapt",
        "--workflow-config",
        json.dumps(cfg),
        "--params",
        '{"rounds": 1}',
        "-o",
        str(tmp_path / "m.pt"),
    ]
    assert main(args) == 0

    def name(stem):  # the workflow's id of a file: its stem, or the keyed pseudonym of it
        if not pseudonymous:
            return stem
        return "v" + hmac.new(b"k3y", stem.encode(), hashlib.sha256).hexdigest()[:16]

    want = sorted((name(p.stem), str(p)) for p in videos.iterdir())
    assert sorted(seen["videos"]) == want
    shard = {i: hashlib.sha256(i.encode()).hexdigest()[:2] for i, _ in want}
    assert seen["probes"] == [
        str(tmp_path / "res" / "probe" / shard[i] / f"{i}.json") for i, _ in seen["videos"]
    ]
    if pseudonymous:
        assert not mapping.exists()  # the workflow writes the mapping when it loads, not the job
