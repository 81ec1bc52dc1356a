"""CenterFace in int8 for the CPU runtimes (onnxruntime, OpenVINO): static quantisation, made here from
the fp32 ONNX.

The fp32 model (:func:`faceoff.detectors.centerface_onnx.dynamic_model_bytes`) is raised to opset 13
(per-channel ``DequantizeLinear`` needs it), BatchNorm is folded into the decoder's transposed convolutions
(``quant_pre_process``), and ``quantize_static`` writes a QDQ model: weights int8 per channel in 7 bits
(``reduce_range``: on x86 CPUs without VNNI, AVX2 only, onnxruntime and OpenVINO multiply uint8 by int8 in
pairs summed into int16, which saturates with 8-bit weights: boxes moved by up to 14 px and faces were lost
or doubled there), activations uint8 per tensor with MinMax ranges from :func:`calibration_frames` (the
built-in demo clip and scikit-image's public-domain photos at two sizes). The input's quantization is the
identity (scale 1, zero point 0: frames are uint8 already), so onnxruntime can take the frames as they are
(:func:`take_uint8_frames`: (B,H,W,3) uint8, zero-padded to multiples of 32): bit for bit the same outputs
with no float copy of the frame (7 % less CPU per frame at 1280x720, with the landmark head gone).
Nothing is downloaded; the result is deterministic for given weights, onnxruntime version and calibration
set.

Measured on this project's 2-core AMD EPYC (AVX-512 VNNI), 2 threads, one frame per run:
1280x736 18.6 -> 31.5 frames/s, 960x544 33.3 -> 53.3, 640x384 70.8 -> 120. On the synthetic OR benchmark
recall and coverage were not lower than fp32's (docs/recall.md); ``detect.runtime: onnxruntime`` keeps fp32.

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

QUANT_VERSION = 3
CALIBRATION_SIZES = ((640, 384), (1280, 736))  # (width, height), multiples of 32
CALIBRATION_DEMO_FRAMES = 12


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
        reduce_range=True,
        calibrate_method=CalibrationMethod.MinMax,
        extra_options={
            "TensorQuantOverrides": {
                input_name: [{"scale": np.array(1, np.float32), "zero_point": np.array(0, np.uint8)}]
            }
        },
    )
    return out


def take_uint8_frames(model_bytes: bytes, input_name: str) -> bytes:
    """The int8 QDQ model taking (B,H,W,3) uint8 frames as ``input_name`` (for onnxruntime).

    Its input's ``QuantizeLinear`` (scale 1, zero point 0, uint8: the identity on 0..255) is replaced by a
    ``Transpose`` from NHWC; the rest of the graph sees the same uint8 tensor as before. The first
    convolution (3x3, stride 2, 3 channels: int8 kernels handle 3 channels poorly) becomes a 2x2 stride-1
    convolution of the padded input's 2x2 blocks stacked as 12 channels (:func:`_blocks_first_conv`).
    Integer arithmetic either way: the outputs are bit for bit those of the float input (checked on this
    project's AVX-512 VNNI CPU; 5 % less CPU per 1280x720 frame).
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load_from_string(model_bytes)
    graph = model.graph
    consumers = [n for n in graph.node if input_name in n.input]
    if len(consumers) != 1 or consumers[0].op_type != "QuantizeLinear":
        raise ValueError(f"{input_name} should feed one QuantizeLinear, not {[n.op_type for n in consumers]}")
    quant = consumers[0]
    constants = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    scale, zero = constants[quant.input[1]], constants[quant.input[2]]
    if scale != 1 or zero != 0 or zero.dtype != np.uint8:
        raise ValueError(f"{input_name} is quantized with scale {scale} and zero point {zero!r}, not 1 and 0")
    index = list(graph.node).index(quant)
    graph.node.remove(quant)
    graph.node.insert(
        index, helper.make_node("Transpose", [input_name], [quant.output[0]], perm=[0, 3, 1, 2])
    )
    (tensor,) = [i for i in graph.input if i.name == input_name]
    tensor.type.tensor_type.elem_type = TensorProto.UINT8
    shape = tensor.type.tensor_type.shape
    del shape.dim[:]
    for name in ("B", "H", "W"):
        shape.dim.add().dim_param = name
    shape.dim.add().dim_value = 3
    _blocks_first_conv(graph, quant.output[0])
    return model.SerializeToString()


def _blocks_first_conv(graph, quantized: str) -> None:
    """Rewrite the convolution reading ``quantized`` (through its DequantizeLinear), when it is 3x3,
    stride 2, padding 1, on 3 channels, as zero padding, ``SpaceToDepth(2)`` and a 2x2 convolution whose
    int8 weights are the 3x3 ones rearranged (a tap outside the 3x3 is 0); else leave the graph alone."""
    from onnx import helper, numpy_helper

    def consumer(name: str, op: str):
        found = [n for n in graph.node if name in n.input and n.op_type == op]
        return found[0] if len(found) == 1 else None

    dequant = consumer(quantized, "DequantizeLinear")
    conv = dequant and consumer(dequant.output[0], "Conv")
    if conv is None:
        return
    attrs = {a.name: helper.get_attribute_value(a) for a in conv.attribute}
    weights_dq = next((n for n in graph.node if n.output[0] == conv.input[1]), None)
    tensors = {t.name: t for t in graph.initializer}
    if (
        list(attrs.get("kernel_shape", [])) != [3, 3]
        or list(attrs.get("strides", [])) != [2, 2]
        or list(attrs.get("pads", [])) != [1, 1, 1, 1]
        or attrs.get("group", 1) != 1
        or list(attrs.get("dilations", [1, 1])) != [1, 1]
        or weights_dq is None
        or weights_dq.input[0] not in tensors
    ):
        return
    weights = numpy_helper.to_array(tensors[weights_dq.input[0]])  # (out, 3, 3, 3) int8
    out, channels = weights.shape[:2]
    if channels != 3:
        return
    blocks = np.zeros((out, 4 * channels, 2, 2), weights.dtype)  # channel (dy * 2 + dx) * C + c
    for ky in range(3):
        for kx in range(3):
            (by, dy), (bx, dx) = divmod(ky, 2), divmod(kx, 2)
            start = (dy * 2 + dx) * channels
            blocks[:, start : start + channels, by, bx] = weights[:, :, ky, kx]
    tensors[weights_dq.input[0]].CopyFrom(numpy_helper.from_array(blocks, weights_dq.input[0]))
    pads = numpy_helper.from_array(np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64), f"{quantized}_block_pads")
    graph.initializer.append(pads)
    index = list(graph.node).index(dequant)
    graph.node.insert(index, helper.make_node("Pad", [quantized, pads.name], [f"{quantized}_padded"]))
    graph.node.insert(
        index + 1,
        helper.make_node("SpaceToDepth", [f"{quantized}_padded"], [f"{quantized}_blocks"], blocksize=2),
    )
    dequant.input[0] = f"{quantized}_blocks"
    del conv.attribute[:]
    conv.attribute.extend(
        helper.make_attribute(k, v)
        for k, v in {"kernel_shape": [2, 2], "strides": [1, 1], "pads": [0, 0, 0, 0], "group": 1}.items()
    )


def int8_model_bytes(fp32_model: Callable[[], bytes], weights_sha256: str, input_name: str) -> bytes:
    """The int8 model for these weights: from the cache, else built from ``fp32_model()`` (and cached when
    possible). The fp32 model is only made when there is something to build."""

    def build() -> bytes:
        with tempfile.TemporaryDirectory(prefix="faceoff-int8-") as tmp:
            return build_int8(fp32_model(), input_name, Path(tmp)).read_bytes()

    return cached(f"centerface-int8-{_cache_key(weights_sha256)}.onnx", build)
