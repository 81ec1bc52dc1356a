"""The Faster R-CNN backend: architectures built without downloads, CenterFace-initialised body,
checkpoints in and out of the registry, errors that name the checkpoint."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from faceoff.detectors import available_detectors, build_detector, detector_from_checkpoint, load_onnx_weights
from faceoff.detectors.base import _REGISTRY
from faceoff.detectors.centerface_onnx import file_sha256
from faceoff.detectors.checkpoint import CheckpointError
from faceoff.detectors.fasterrcnn import FasterRCNNDetector, build_fasterrcnn
from faceoff.detectors.fasterrcnn_net import ARCHITECTURES, centerface_fpn_backbone, fasterrcnn_model
from faceoff.training.card import read_card, save_checkpoint


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    """Any attempt to fetch weights fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"download attempted: {args} {kwargs}")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", refuse)
    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """A fasterrcnn_centerface_fpn checkpoint with a narrow FPN (untrained heads)."""
    torch.manual_seed(0)
    model = fasterrcnn_model("fasterrcnn_centerface_fpn", fpn_channels=16)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(
        path,
        detector="fasterrcnn",
        architecture="fasterrcnn_centerface_fpn",
        state_dict=model.state_dict(),
        options={"fpn_channels": 16},
        card={"note": "test"},
    )
    return path


def test_registered():
    assert {"centerface", "fasterrcnn"} <= set(available_detectors())
    assert _REGISTRY["fasterrcnn"] is build_fasterrcnn


@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_architectures_build_two_class_without_downloads(arch):
    model = fasterrcnn_model(arch, fpn_channels=16)
    assert model.roi_heads.box_predictor.cls_score.out_features == 2
    anchors = model.rpn.anchor_generator.num_anchors_per_location()[0]
    assert model.rpn.head.cls_logits.out_channels == anchors  # the RPN head fits the face anchors
    model.eval()
    with torch.no_grad():
        out = model([torch.rand(3, 64, 96)])
    assert out[0]["boxes"].shape[1] == 4


def test_centerface_fpn_body_holds_centerface_weights():
    onnx = load_onnx_weights()
    body = centerface_fpn_backbone(fpn_channels=16).body.state_dict()
    for key, value in body.items():
        assert torch.equal(value, onnx[f"backbone.features.{key}"]), key
    assert len(body) == sum(k.startswith("backbone.") for k in onnx)
    random_body = centerface_fpn_backbone(fpn_channels=16, init=False).body.state_dict()
    assert not all(torch.equal(random_body[k], body[k]) for k in body)


def test_no_resize_inside_the_model():
    model = fasterrcnn_model("fasterrcnn_centerface_fpn", fpn_channels=16).eval()
    images, _ = model.transform([torch.rand(3, 50, 70)])
    assert images.image_sizes == [(50, 70)] and images.tensors.shape[-2:] == (64, 96)  # padded to 32


def test_checkpoint_detects_through_the_registry(tiny_checkpoint):
    det = build_fasterrcnn(runtime="auto", device="cpu", checkpoint=str(tiny_checkpoint))
    assert isinstance(det, FasterRCNNDetector)
    assert det.name == "fasterrcnn" and det.runtime == "torch-cpu-fp32"
    assert det.weights_sha256 == file_sha256(tiny_checkpoint)
    assert read_card(tiny_checkpoint)["checkpoint"]["sha256"] == det.weights_sha256
    frames = np.random.default_rng(0).integers(0, 255, (2, 50, 70, 3), dtype=np.uint8)
    out = det.detect(frames, threshold=0.01)
    assert len(out) == 2
    for boxes in out:
        assert boxes.dtype == np.float32 and boxes.shape[1] == 5
        assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= 70).all() and (boxes[:, 3] <= 50).all()
        assert (boxes[:, 4] >= 0.01).all() and (np.diff(boxes[:, 4]) <= 0).all()  # best first
    assert det.detect(frames[:0], 0.2) == []
    same = detector_from_checkpoint(tiny_checkpoint, detector="fasterrcnn", device="cpu")
    assert same.weights_sha256 == det.weights_sha256
    named = build_detector("fasterrcnn", device="cpu", checkpoint=str(tiny_checkpoint))
    np.testing.assert_array_equal(named.detect(frames, 0.01)[0], out[0])
    assert isinstance(detector_from_checkpoint(tiny_checkpoint, device="cpu"), FasterRCNNDetector)  # by kind


def test_fasterrcnn_needs_a_checkpoint():
    with pytest.raises(ValueError, match="detect.checkpoint"):
        build_detector("fasterrcnn")


def test_bad_checkpoints_are_named(tmp_path, tiny_checkpoint):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="junk.pt"):
        FasterRCNNDetector(junk)
    with pytest.raises(CheckpointError, match="not found"):
        FasterRCNNDetector(tmp_path / "missing.pt")
    with pytest.raises(CheckpointError, match="not of 'centerface'"):
        detector_from_checkpoint(tiny_checkpoint, detector="centerface")
    with pytest.raises(CheckpointError, match="not of 'centerface'"):  # centerface's builder checks it too
        build_detector("centerface", checkpoint=str(tiny_checkpoint))
    with pytest.raises(ValueError, match="torch only"):
        FasterRCNNDetector(tiny_checkpoint, runtime="onnxruntime")
