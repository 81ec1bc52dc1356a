"""Training: CenterNet targets and loss, mask/cap augmentation, data from videos and annotations (Parquet
and COCO), the ONNX round trip of fine-tuned CenterFace weights, and tiny CPU training runs of both
detectors with their model cards."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from faceoff.config import TrainConfig
from faceoff.detectors import CenterFace, detector_from_checkpoint, load_onnx_weights
from faceoff.detectors.centerface import decode
from faceoff.detectors.centerface_net import CenterFaceWeights, file_sha256
from faceoff.synth.orscene import SceneConfig, write_scene
from faceoff.training import (
    AnnotatedVideo,
    Augmenter,
    CenterFaceModel,
    Sample,
    centernet_loss,
    centernet_targets,
    draw_cap,
    draw_mask,
    load_samples,
    read_card,
    train_detector,
    write_centerface_onnx,
)
from faceoff.training.trainer import average_precision

SCENE = SceneConfig(width=192, height=128, n_frames=10, n_people=2, face_px=(36, 60), occluder_rate=0.0)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("clips")
    return [AnnotatedVideo(*write_scene(root, f"c{i}", SCENE, 40 + i)) for i in range(2)]


def test_targets_decode_back_to_the_boxes():
    boxes = np.array([[10.3, 20.7, 42.1, 61.0], [60, 8, 76, 28]], np.float32)
    t = centernet_targets(boxes, np.zeros(2, bool), 96, 128)
    assert t["heatmap"].shape == (1, 24, 32) and t["mask"].sum() == 2
    assert t["heatmap"].max() == 1.0 and t["ignore"].sum() == 0
    heat = torch.from_numpy(t["heatmap"][None]) * 0.99  # peaks only just above the others
    heat[heat < 0.99] = 0
    out = decode(
        heat, torch.from_numpy(t["scale"][None]), torch.from_numpy(t["offset"][None]), (96, 128), 0.5
    )
    found = out[0][np.argsort(out[0][:, 0])]
    np.testing.assert_allclose(found[:, :4], boxes, atol=1e-4)


def test_ignored_boxes_mask_the_heatmap_loss_only():
    t = centernet_targets(
        np.array([[0, 0, 40, 40], [60, 0, 100, 40]], np.float32), np.array([False, True]), 64, 128
    )
    assert t["mask"].sum() == 1 and t["ignore"][0, 2, 20] == 1 and t["ignore"][0, 5, 5] == 0
    tensors = {k: torch.from_numpy(v[None]) for k, v in t.items()}
    good = centernet_loss(tensors["heatmap"], tensors["scale"], tensors["offset"], tensors)
    assert good["scale"] == 0 and good["offset"] == 0
    fires_on_ignored = tensors["heatmap"].clone()
    fires_on_ignored[0, 0, 2:8, 16:24] = 0.9  # a detection inside the ignored box costs nothing
    same = centernet_loss(fires_on_ignored, tensors["scale"], tensors["offset"], tensors)
    assert torch.isclose(same["heatmap"], good["heatmap"])
    wrong = centernet_loss(
        torch.full_like(tensors["heatmap"], 0.5), tensors["scale"], tensors["offset"], tensors
    )
    assert wrong["heatmap"] > good["heatmap"] + 1


def test_mask_covers_the_lower_face_and_cap_the_top():
    img = np.full((120, 120, 3), 128, np.uint8)
    box = np.array([40, 40, 80, 90], np.float32)
    masked = img.copy()
    draw_mask(masked, box, np.random.default_rng(0))
    changed = np.abs(masked.astype(int) - img).sum(axis=2) > 10
    assert changed[72:88, 50:70].mean() > 0.9  # mouth and chin
    assert not changed[40:60, 45:75].any()  # eyes and forehead stay visible
    capped = img.copy()
    draw_cap(capped, box, np.random.default_rng(1))
    changed = np.abs(capped.astype(int) - img).sum(axis=2) > 10
    assert changed[30:40, 50:70].mean() > 0.9 and not changed[65:, :].any()


def test_augmenter_crops_flips_and_keeps_boxes_consistent():
    rng = np.random.default_rng(0)
    img = np.zeros((200, 300, 3), np.uint8)
    img[50:100, 100:140] = 255  # a bright "face"
    sample = Sample(img, [[100, 50, 140, 100]], [False])
    aug = Augmenter(crop=96, mask_prob=0.0, cap_prob=0.0, light=0.0, face_centred=1.0)
    for _ in range(10):
        c = aug(sample, rng)
        assert c.image.shape == (96, 96, 3) and c.image.dtype == np.uint8
        assert ((c.boxes >= 0) & (c.boxes <= 96)).all()
        for box, ign in zip(c.boxes, c.ignore, strict=True):
            x1, y1, x2, y2 = np.round(box).astype(int)
            if not ign and x2 - x1 > 6 and y2 - y1 > 6:  # the box still holds the bright patch
                assert c.image[y1 + 2 : y2 - 2, x1 + 2 : x2 - 2].mean() > 200


def test_average_precision():
    gt = pd.DataFrame({"frame_index": [0, 1], "x1": [0, 0], "y1": [0, 0], "x2": [10, 10], "y2": [10, 10]})
    gt["ignore"] = [False, False]
    pred = pd.DataFrame(
        {"frame_index": [0, 1, 1], "x1": [0, 50, 0], "y1": [0, 50, 0], "x2": [10, 60, 10], "y2": [10, 60, 10]}
    )
    pred["score"] = [0.9, 0.8, 0.1]
    assert average_precision(pred.iloc[[0]], gt) == pytest.approx(0.5)
    assert average_precision(pred, gt) == pytest.approx(0.5 + 0.5 * 2 / 3)


def test_samples_from_parquet_and_coco_agree(clips, tmp_path):
    item = clips[0]
    parquet, record = load_samples(item, 3, width=0)
    assert len(parquet) == 3 and record["frames_used"] == 3
    assert record["video_sha256"] == file_sha256(item.video)
    assert record["annotations_sha256"] == file_sha256(item.annotations)
    gt = pd.read_parquet(item.annotations)
    coco = {
        "images": [{"id": int(f) + 1, "frame_index": int(f)} for f in sorted(gt["frame_index"].unique())],
        "categories": [{"id": 1, "name": "face"}],
        "annotations": [
            {
                "id": k,
                "image_id": int(r.frame_index) + 1,
                "category_id": 1,
                "iscrowd": int(r.ignore),
                "bbox": [r.x1, r.y1, r.x2 - r.x1, r.y2 - r.y1],
            }
            for k, r in enumerate(gt.itertuples())
        ],
    }
    path = tmp_path / "c0.json"
    path.write_text(json.dumps(coco))
    from_coco, rec = load_samples(AnnotatedVideo(item.video, path), 3, width=0)
    assert rec["annotations_format"] == "coco"
    for a, b in zip(parquet, from_coco, strict=True):
        assert a.frame_index == b.frame_index and np.array_equal(a.image, b.image)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)
        assert np.array_equal(a.ignore, b.ignore)
    half, _ = load_samples(item, 2, width=96)
    assert half[0].image.shape == (64, 96, 3)


def test_fine_tuned_centerface_round_trips_through_onnx(tmp_path):
    state = load_onnx_weights()
    torch.manual_seed(0)
    state["head.pos_conv.bias"] = state["head.pos_conv.bias"] + 0.5
    state["backbone.features.5.conv.0.weight"] = state["backbone.features.5.conv.0.weight"] * 1.01
    path = write_centerface_onnx(state, tmp_path / "tuned.onnx")
    back = load_onnx_weights(path)
    for key, value in back.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key
    assert CenterFaceWeights.from_path(path).sha256 != CenterFaceWeights.from_path().sha256
    model = CenterFaceModel("cpu")
    model.load_state_dict(state)
    frames = np.random.default_rng(0).integers(0, 255, (1, 64, 96, 3), dtype=np.uint8)
    ort = CenterFace(path, runtime="onnxruntime").detect(frames, 0.05)[0]
    ref = model.detect(frames, 0.05)[0]
    assert ort.shape == ref.shape
    np.testing.assert_allclose(ort, ref, atol=1e-2)


@pytest.mark.parametrize("detector", ["centerface", "fasterrcnn"])
def test_tiny_training_run_writes_checkpoint_and_card(clips, tmp_path, detector):
    cfg = TrainConfig(
        detector=detector,
        epochs=1,
        iterations=1,
        batch_size=2,
        crop=64,
        frames_per_video=3,
        width=0,
        device="cpu",
        fpn_channels=16,
        freeze_backbone_blocks=14,
    )
    out = tmp_path / f"{detector}.pt"
    card = train_detector(clips, cfg, out, log=lambda m: None)
    assert out.exists() and out.with_suffix(".json").exists()
    assert out.with_suffix(".onnx").exists() == (detector == "centerface")
    on_disk = read_card(out)
    assert on_disk == json.loads(json.dumps(card))
    assert on_disk["checkpoint"]["sha256"] == file_sha256(out)
    assert on_disk["base_weights"]["sha256"] == CenterFaceWeights.from_path().sha256  # both start from it
    assert [e["epoch"] for e in on_disk["per_epoch"]] == [0, 1]
    assert on_disk["validation_metrics"]["recall"] is not None
    assert {r["id"] for r in on_disk["training_data"] + on_disk["validation_data"]} == {"c0", "c1"}
    assert all(
        len(r["video_sha256"]) == 64 and len(r["annotations_sha256"]) == 64 for r in on_disk["training_data"]
    )
    assert on_disk["date"] and on_disk["environment"]["faceoff_version"]
    det = detector_from_checkpoint(out, detector=detector, device="cpu")
    assert det.weights_sha256 == file_sha256(out)
    frames = np.zeros((1, 128, 192, 3), np.uint8)
    assert det.detect(frames, 0.2)[0].shape[1] == 5


def test_train_command(clips, tmp_path, capsys):
    from faceoff.cli import main

    params = {"detector": "centerface", "epochs": 1, "iterations": 1, "batch_size": 1, "crop": 64}
    params |= {"frames_per_video": 2, "width": 0, "device": "cpu"}
    out = tmp_path / "cli.pt"
    args = ["train", "--videos", *(str(c.video) for c in clips), "--annotations"]
    args += [*(str(c.annotations) for c in clips), "--params", json.dumps(params), "-o", str(out)]
    assert main(args) == 0
    assert "epoch" in capsys.readouterr().out and read_card(out)["trained_by"] == "faceoff train"
    assert main(["train", "--videos", str(clips[0].video), "-o", str(out)]) == 1
    assert "one --annotations file per video" in capsys.readouterr().err
