"""CenterFace in int8 for onnxruntime on CPU: static quantisation, made here from the fp32 ONNX.

The fp32 model (:func:`faceoff.detectors.centerface.dynamic_model_bytes`) is raised to opset 13 (per-channel
``DequantizeLinear`` needs it), BatchNorm is folded into the decoder's transposed convolutions
(``quant_pre_process``), and ``quantize_static`` writes a QDQ model: weights int8 per channel, activations
uint8 per tensor with MinMax ranges from :func:`calibration_frames` (the built-in demo clip and
scikit-image's public-domain photos at two sizes). Nothing is downloaded; the result is deterministic for
given weights, onnxruntime version and calibration set.

Measured on this project's 2-core AMD EPYC (AVX-512 VNNI), 2 threads, one frame per run:
1280x736 18.6 -> 31.5 frames/s, 960x544 33.3 -> 53.3, 640x384 70.8 -> 120. On the synthetic OR benchmark
recall and coverage were not lower than fp32's (docs/recall.md); ``detect.runtime: onnxruntime`` keeps fp32.

The model is built once per (weights, onnxruntime, :data:`QUANT_VERSION`) and kept in :func:`cache_dir`
(written to a temporary name and renamed, so concurrent jobs never read a partial file); when the cache is
not writable it is built in memory for this process only.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from faceoff.atomic import write_bytes

QUANT_VERSION = 1
CALIBRATION_SIZES = ((640, 384), (1280, 736))  # (width, height), multiples of 32
CALIBRATION_DEMO_FRAMES = 12


def cache_dir() -> Path:
    """``$FACEOFF_CACHE``, else ``$XDG_CACHE_HOME/faceoff``, else ``~/.cache/faceoff``."""
    if os.environ.get("FACEOFF_CACHE"):
        return Path(os.environ["FACEOFF_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "faceoff"


def calibration_frames() -> Iterator[np.ndarray]:
    """(1,3,H,W) float32 blobs, RGB 0..255 as CenterFace takes them: demo frames and public-domain photos."""
    import cv2
    from skimage import data

    from faceoff.synth.demo import demo_frames

    frames, _ = demo_frames()
    picks = [frames[i] for i in np.linspace(0, len(frames) - 1, CALIBRATION_DEMO_FRAMES).astype(int)]
    picks += [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    for k, image in enumerate(picks):
        w, h = CALIBRATION_SIZES[k % len(CALIBRATION_SIZES)]
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        yield np.ascontiguousarray(resized.transpose(2, 0, 1)[None].astype(np.float32))


def _cache_key(weights_sha256: str) -> str:
    import onnxruntime

    text = f"{weights_sha256}:{onnxruntime.__version__}:{QUANT_VERSION}:{CALIBRATION_SIZES}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def build_int8(fp32_model: bytes, input_name: str, folder: Path) -> Path:
    """Quantize the fp32 model bytes into ``folder/int8.onnx``; return that path."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.blobs = calibration_frames()

        def get_next(self) -> dict[str, np.ndarray] | None:
            blob = next(self.blobs, None)
            return None if blob is None else {input_name: blob}

    model = onnx.load_from_string(fp32_model)
    if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) < 13:
        model = version_converter.convert_version(model, 13)
    raw, pre, out = folder / "fp32.onnx", folder / "fp32-pre.onnx", folder / "int8.onnx"
    onnx.save(model, str(raw))
    quant_pre_process(str(raw), str(pre), skip_symbolic_shape=True)
    quantize_static(
        str(pre),
        str(out),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return out


def int8_model_bytes(fp32_model: Callable[[], bytes], weights_sha256: str, input_name: str) -> bytes:
    """The int8 model for these weights: from the cache, else built from ``fp32_model()`` (and cached when
    possible). The fp32 model is only made when there is something to build."""
    target = cache_dir() / f"centerface-int8-{_cache_key(weights_sha256)}.onnx"
    try:
        return target.read_bytes()
    except OSError:
        pass
    with tempfile.TemporaryDirectory(prefix="faceoff-int8-") as tmp:
        model = build_int8(fp32_model(), input_name, Path(tmp)).read_bytes()
    with contextlib.suppress(OSError):  # a read-only cache: this process keeps its in-memory copy
        write_bytes(target, model)
    return model
