"""Training FaceOff's detectors: data from annotated videos, mask/cap augmentation, trainer, model cards.

>>> from faceoff.config import TrainConfig
>>> from faceoff.training import AnnotatedVideo, train_detector
>>> card = train_detector([AnnotatedVideo("a.mp4", "a.parquet")], TrainConfig(), "models/face.pt")

writes ``models/face.pt`` (weights), ``models/face.json`` (model card) and, for CenterFace,
``models/face.onnx``; ``detect.checkpoint: models/face.pt`` then detects with it. See docs/training.md.
"""

from faceoff.training.augment import Augmenter, Crop, draw_cap, draw_mask
from faceoff.training.card import read_card, save_checkpoint, write_centerface_onnx
from faceoff.training.data import AnnotatedVideo, Sample, find_annotations, load_samples
from faceoff.training.models import CenterFaceModel, FasterRCNNModel, build_model
from faceoff.training.targets import centernet_loss, centernet_targets
from faceoff.training.trainer import train_detector, validate

__all__ = [
    "AnnotatedVideo",
    "Augmenter",
    "CenterFaceModel",
    "Crop",
    "FasterRCNNModel",
    "Sample",
    "build_model",
    "centernet_loss",
    "centernet_targets",
    "draw_cap",
    "draw_mask",
    "find_annotations",
    "load_samples",
    "read_card",
    "save_checkpoint",
    "train_detector",
    "validate",
    "write_centerface_onnx",
]
