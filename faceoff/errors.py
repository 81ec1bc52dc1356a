"""Errors that name the file and the cause, so a user can act on them."""

from __future__ import annotations

from pathlib import Path


class FaceOffError(Exception):
    """Base class for errors a user should see as one clear line."""


class VideoError(FaceOffError):
    """A video could not be read or written; the message names the file and the cause."""

    def __init__(self, path: str | Path, cause: str):
        self.path = str(path)
        self.cause = cause
        super().__init__(f"{self.path}: {cause}")


class ConfigError(FaceOffError):
    """The configuration or sample sheet is invalid."""
