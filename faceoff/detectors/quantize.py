"""CenterFace in int8 for the CPU runtimes (onnxruntime, OpenVINO): static quantisation, made here from
the fp32 ONNX.

The fp32 model (:func:`faceoff.detectors.centerface_onnx.dynamic_model_bytes`) is raised to opset 13
(per-channel ``DequantizeLinear`` needs it), BatchNorm is folded into the decoder's transposed convolutions
(``quant_pre_process``), the channels feeding each convolution after a ReLU are evened out
(:func:`equalize_ranges`: the same fp32 function, but a dim face's faint channels keep more int8 levels),
and ``quantize_static`` writes a QDQ model in which the stem (the first convolution and the depthwise one
after it, :func:`float_convolutions`) stays fp32: 5 % of the arithmetic; quantized, it lost small faces in
daylight and dim faces (docs/performance.md). The other weights are int8 per
channel in 7 bits (``reduce_range``: on x86 CPUs without VNNI, AVX2 only, onnxruntime and OpenVINO
multiply uint8 by int8 in pairs summed into int16, which saturates with 8-bit weights: boxes moved by up
to 14 px and faces were lost or doubled there), activations uint8 per tensor with MinMax ranges from
:func:`calibration_frames` (the built-in demo clip and scikit-image's public-domain photos at two sizes).
The model takes the same float input as the fp32 one. Nothing is downloaded; the result is deterministic
for given weights, onnxruntime version and calibration set.

About twice as fast as fp32 on CPUs with VNNI (docs/performance.md), but not the CPU default: it still
loses some faces in the dark (4.6 points of coverage on a darkened street clip) and in sensor noise;
``detect.runtime: auto`` keeps fp32.

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

QUANT_VERSION = 5
CALIBRATION_SIZES = ((640, 384), (1280, 736))  # (width, height), multiples of 32
CALIBRATION_DEMO_FRAMES = 12
FLOAT_DEPTHWISE_STRIDE = 2  # depthwise convolutions at strides up to this stay fp32: the stem
EQUALIZE_MAX_GAIN = 8.0  # a channel's activations are raised at most this many times
EQUALIZE_POWER = {"depthwise": 1.0, "pointwise": 0.5}  # how far toward the tensor's range, by next conv


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
    equalize_ranges(prepared, input_name)
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


def _relu_pairs(graph) -> list[tuple[object, str, object, bool]]:
    """``(first, between, second, depthwise)`` for each convolution whose output goes only through a ReLU
    (output ``between``) into only another convolution (``depthwise``: that one is grouped)."""
    from onnx import helper

    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    pairs = []
    for node in graph.node:
        after = readers.get(node.output[0], []) if node.op_type == "Conv" else []
        if len(after) != 1 or after[0].op_type != "Relu":
            continue
        second = readers.get(after[0].output[0], [])
        if len(second) != 1 or second[0].op_type != "Conv":
            continue
        group = {a.name: helper.get_attribute_value(a) for a in second[0].attribute}.get("group", 1)
        pairs.append((node, after[0].output[0], second[0], group > 1))
    return pairs


def _channel_maxima(model, names: list[str], input_name: str) -> dict[str, np.ndarray]:
    """Per channel, the largest value of each tensor ``names`` over :func:`calibration_frames` (fp32)."""
    import onnx
    import onnxruntime
    from onnx import helper

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    for name in names:
        probe.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    maxima: dict[str, np.ndarray] = {}
    for blob in calibration_frames():
        for name, value in zip(names, session.run(names, {input_name: blob}), strict=True):
            top = value.max(axis=(0, 2, 3))
            maxima[name] = np.maximum(maxima[name], top) if name in maxima else top
    return maxima


def equalize_ranges(model, input_name: str) -> int:
    """Even out the channels of the activations between a convolution, its ReLU and the next convolution,
    in place, leaving the fp32 function as it was; returns the number of such pairs.

    int8 activations share one range per tensor, set by the strongest channel; a channel whose values stay
    far below it (a dim face's faint response) keeps few levels. Each channel ``c`` of the first
    convolution's output is multiplied by ``g_c`` (its weights and bias; ReLU commutes with a positive
    factor) and the next convolution's weights reading it are divided by ``g_c``: ``g_c = (top / max_c) **
    power``, at most :data:`EQUALIZE_MAX_GAIN`, with ``max_c`` the channel's largest value on the
    calibration frames and ``top`` the tensor's. Into a depthwise convolution (``power`` 1) the division
    costs nothing, as each of its channels has its own weight range; into a pointwise one it shrinks that
    input's weights beside the others of the same output channel, so ``power`` is 0.5 there (as in
    cross-layer equalization, Nagel et al. 2019). Measured: docs/performance.md."""
    from onnx import numpy_helper

    weights = {t.name: t for t in model.graph.initializer}
    pairs = _relu_pairs(model.graph)
    maxima = _channel_maxima(model, [between for _, between, _, _ in pairs], input_name)

    def scale(name: str, factor: np.ndarray) -> None:
        array = numpy_helper.to_array(weights[name]) * factor
        weights[name].CopyFrom(numpy_helper.from_array(array.astype(np.float32), name))

    for first, between, second, depthwise in pairs:
        top = np.maximum(maxima[between], 1e-6)
        power = EQUALIZE_POWER["depthwise" if depthwise else "pointwise"]
        gain = np.minimum((top.max() / top) ** power, EQUALIZE_MAX_GAIN)
        scale(first.input[1], gain[:, None, None, None])
        if len(first.input) > 2:
            scale(first.input[2], gain)
        scale(second.input[1], 1 / (gain[:, None, None, None] if depthwise else gain[None, :, None, None]))
    return len(pairs)


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
