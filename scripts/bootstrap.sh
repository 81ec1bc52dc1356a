#!/usr/bin/env bash
# Set up FaceOff from nothing: a virtual environment in .venv with FaceOff, its dependencies
# (ffmpeg comes inside the imageio-ffmpeg wheel; no apt, no conda) and the test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
.venv/bin/python -c "import imageio_ffmpeg, decord, faceoff; print('ffmpeg:', imageio_ffmpeg.get_ffmpeg_exe())"
