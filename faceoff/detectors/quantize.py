"""CenterFace in int8 for the CPU runtimes (onnxruntime, OpenVINO): static quantisation, made here from
the fp32 ONNX.

The fp32 model (:func:`faceoff.detectors.centerface_onnx.dynamic_model_bytes`) is raised to opset 13
(per-channel ``DequantizeLinear`` needs it), BatchNorm is folded into the decoder's transposed convolutions
(``quant_pre_process``), and ``quantize_static`` writes a QDQ model in which the stem (the first convolution
and the depthwise one after it, :func:`float_convolutions`) stays fp32: 5 % of the arithmetic; quantized,
it lost small faces in daylight and dim faces (docs/performance.md). The other weights are int8 per
channel in 7 bits (``reduce_range``: on x86 CPUs without VNNI, AVX2 only, onnxruntime and OpenVINO
multiply uint8 by int8 in pairs summed into int16, which saturates with 8-bit weights: boxes moved by up
to 14 px and faces were lost or doubled there), activations uint8 per tensor with MinMax ranges from
:func:`calibration_frames` (the built-in demo clip and scikit-image's public-domain photos at two sizes).
The model takes the same float input as the fp32 one. Nothing is downloaded; the result is deterministic
for given weights, onnxruntime version and calibration set.

About twice as fast as fp32 on CPUs with VNNI (docs/performance.md), but not the CPU default: it still
loses faces in the dark and small faces in noise; ``detect.runtime: auto`` keeps fp32.

The model is built once per (weights, onnxruntime, :data:`QUANT_VERSION`) and kept in the detectors' cache
(:mod:`.cache`: written to a temporary name and renamed, so concurrent jobs never read a partial file);
when the cache is not writable it is built in memory for this process only.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from faceoff.detectors.cache import cached

QUANT_VERSION = 4
CALIBRATION_SIZES = ((640, 384), (1280, 736))  # (width, height), multiples of 32
CALIBRATION_DEMO_FRAMES = 12
FLOAT_DEPTHWISE_STRIDE = 2  # depthwise convolutions at strides up to this stay fp32: the stem


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
    prepared = onnx.load(str(pre))
    kept_float = float_convolutions(prepared.graph, input_name)
    onnx.save(prepared, str(pre))
    quantize_static(
        str(pre),
        str(out),
        _Reader(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        reduce_range=True,
        calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=kept_float,
    )
    return out


def float_convolutions(graph, input_name: str, max_stride: int = FLOAT_DEPTHWISE_STRIDE) -> list[str]:
    """The names of the convolutions that stay fp32: those reading ``input_name`` and the depthwise ones
    (``group`` > 1) whose output is at most ``max_stride`` times smaller than the frame. Unnamed nodes are
    named first (``quantize_static`` excludes by name).

    Strides are followed through the graph (nodes are in topological order, as ONNX requires): a
    convolution multiplies its input's by its own, a transposed convolution divides, other nodes keep
    their first input's."""
    from onnx import helper

    stride = {input_name: 1.0}
    kept = []
    for index, node in enumerate(graph.node):
        if not node.name:
            node.name = f"{node.op_type}_{index}"
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        first = stride.get(node.input[0], 1.0) if node.input else 1.0
        step = float(max(attrs.get("strides", [1])))
        out = {"Conv": first * step, "ConvTranspose": first / step}.get(node.op_type, first)
        for name in node.output:
            stride[name] = out
        if node.op_type == "Conv" and (
            input_name in node.input or (attrs.get("group", 1) > 1 and out <= max_stride)
        ):
            kept.append(node.name)
    return kept


def int8_model_bytes(fp32_model: Callable[[], bytes], weights_sha256: str, input_name: str) -> bytes:
    """The int8 model for these weights: from the cache, else built from ``fp32_model()`` (and cached when
    possible). The fp32 model is only made when there is something to build."""

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="faceoff-int8-") as tmp:
            return build_int8(fp32_model(), input_name, Path(tmp)).read_bytes()

    return cached(f"centerface-int8-{_cache_key(weights_sha256)}.onnx", build)
