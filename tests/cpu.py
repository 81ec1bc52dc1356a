"""What this machine's CPU offers, read from /proc/cpuinfo (independent of OpenVINO's own report)."""

from __future__ import annotations

from pathlib import Path


def _flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    return {
        flag
        for line in text.splitlines()
        if line.startswith("flags")
        for flag in line.split(":", 1)[1].split()
    }


NATIVE_BF16 = bool(_flags() & {"amx_bf16", "avx512_bf16"})
"""The CPU computes bf16 (AMX or AVX512_BF16): ``runtime="openvino-bf16"`` runs here."""
