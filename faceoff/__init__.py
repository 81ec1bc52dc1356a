"""FaceOff: de-identify operating-room video."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("faceoff")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+src"
