"""Build hook: the wheel ships the workflow (Snakefile, rules, default config, profiles, report captions,
schema, the conda environment and the GPU-slot shell) as package data under ``faceoff/_workflow/``, copied
from their top-level places in the checkout at build time (git holds one copy). ``faceoff run`` finds
them there when FaceOff is installed from a wheel (``faceoff/workflow_files.py``). Everything else is in
pyproject.toml."""

import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

# The workflow's files, relative to the checkout (each rule's `conda:` names ../environment.yml, and
# rules/resources.smk the GPU-slot shell beside the Snakefile).
WORKFLOW_FILES = ("Snakefile", "rules", "config", "workflow", "environment.yml", "scripts/gpu-slot-shell")
TARGET = os.path.join("faceoff", "_workflow")


class BuildWithWorkflow(build_py):
    """build_py, plus a copy of :data:`WORKFLOW_FILES` into the built package (not for editable
    installs: those run the checkout's files)."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        root = os.path.dirname(os.path.abspath(__file__))
        target = os.path.join(self.build_lib, TARGET)
        shutil.rmtree(target, ignore_errors=True)
        for name in WORKFLOW_FILES:
            src, dst = os.path.join(root, name), os.path.join(target, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copy2(src, dst)  # keeps the shell's executable bit


setup(cmdclass={"build_py": BuildWithWorkflow})
