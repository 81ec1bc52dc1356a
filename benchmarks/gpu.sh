#!/usr/bin/env bash
# The prepared GPU check (docs/performance.md, GPU): benchmarks/gpu.py on the CUDA device; arguments go to
# gpu.py, and with $OUT set its tables are also appended to $OUT/gpu.md.
# - With .whl/ (scripts/gpu_wheels.sh made it; a GPU machine without network): a venv .venv-gpu that sees
#   the packages of the machine's python3 (torch, torchvision, onnxruntime, cv2, numpy, pandas, pyarrow ...)
#   through a .pth file (its python3 is itself a venv, whose packages --system-site-packages would miss; its
#   pip and setuptools serve the new venv too), the wheels found under .whl/ installed with
#   `pip --no-index`, FaceOff itself editable, the ffmpeg binary unpacked to .venv-gpu/bin/ffmpeg (named
#   by $FACEOFF_FFMPEG). Run it twice on one warm machine, carrying .whl/1 and then
#   .whl/2 (one call carries 64 MiB at most): the venv stays between the calls, and gpu.py runs what the
#   installed packages allow.
# - Without .whl/ (a machine with network): scripts/bootstrap.sh sets up .venv from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d .whl ]; then
    venv=.venv-gpu
    if [ ! -x "$venv/bin/python" ]; then
        python=${PYTHON:-python3}
        "$python" -m venv --without-pip "$venv"
        site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
        "$python" -c 'import sys; print(*(p for p in sys.path if p.endswith("-packages")), sep="\n")' \
            >"$site/machine.pth"
    fi
    pip=("$venv/bin/python" -m pip --disable-pip-version-check)
    mapfile -t wheels < <(find .whl -type f -name '*.whl' | sort)
    [ "${#wheels[@]}" -gt 0 ] || { echo "no wheels under .whl/: run scripts/gpu_wheels.sh" >&2; exit 1; }
    "${pip[@]}" install --quiet --no-index --no-deps "${wheels[@]}"
    "${pip[@]}" install --quiet --no-index --no-build-isolation --no-deps -e . >"$venv/faceoff.log" 2>&1 ||
        { cat "$venv/faceoff.log" >&2; exit 1; }
    for packed in .whl/*/ffmpeg-*.xz; do
        if [ -e "$packed" ] && [ ! -x "$venv/bin/ffmpeg" ]; then
            "$venv/bin/python" -c 'import lzma, sys; sys.stdout.buffer.write(lzma.open(sys.argv[1]).read())' \
                "$packed" >"$venv/bin/ffmpeg.partial"
            chmod +x "$venv/bin/ffmpeg.partial"
            mv "$venv/bin/ffmpeg.partial" "$venv/bin/ffmpeg"
        fi
    done
    if [ -x "$venv/bin/ffmpeg" ]; then
        export FACEOFF_FFMPEG=$PWD/$venv/bin/ffmpeg
    fi
    # What is still unmet, for the log; expected: pulp (snakemake's ILP scheduler, gpu.py runs the greedy
    # one), opencv-python (the machine's opencv-python-headless is the same cv2), imageio-ffmpeg (its
    # binary comes alone), and decord until .whl/2 came.
    "${pip[@]}" check | sed 's/^/pip check: /' || true
else
    venv=.venv
    bash scripts/bootstrap.sh >/dev/null
fi
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true
out=/dev/null
if [ -n "${OUT:-}" ]; then
    out=$OUT/gpu.md
fi
PYTHONUNBUFFERED=1 "$venv/bin/python" benchmarks/gpu.py "$@" | tee -a "$out"
