"""The faces-per-frame timeline of one video (detections vs tracks, uncovered frames in red, shot cuts as
thin dashed lines) as a PNG.

Drawn by each video's report job for its detail page (``reports/{id}.html``).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator


def frame_counts(frame_index: Any, n_frames: int | None = None) -> np.ndarray:
    """Number of boxes in each frame from a box table's ``frame_index`` column (length ``n_frames``,
    longer if a box lies beyond it)."""
    idx = np.asarray(frame_index, dtype=np.int64)
    return np.bincount(idx[idx >= 0], minlength=max(int(n_frames or 0), 0))


def faces_per_frame(parquet: str | Path, n_frames: int | None = None) -> np.ndarray:
    """:func:`frame_counts` of a box table file."""
    idx = pq.read_table(parquet, columns=["frame_index"]).column("frame_index").to_numpy()
    return frame_counts(idx, n_frames)


def frame_runs(frames: Any) -> list[tuple[int, int]]:
    """``(first frame, length)`` of each run of consecutive frame indices in ``frames``."""
    f = np.unique(np.asarray(frames if frames is not None else [], dtype=np.int64))
    if not len(f):
        return []
    breaks = np.flatnonzero(np.diff(f) != 1)
    first = np.concatenate([[0], breaks + 1])
    last = np.concatenate([breaks, [len(f) - 1]])
    return [(int(f[a]), int(b - a + 1)) for a, b in zip(first, last, strict=True)]


def timeline_png(
    det_counts: np.ndarray,
    trk_counts: np.ndarray,
    fps: float | None,
    uncovered: dict[str, Any] | None = None,
    cuts: Sequence[int] = (),
) -> bytes:
    """Faces-per-frame plot (detections vs tracks) over time as PNG bytes (Agg backend).

    ``uncovered`` ({"before": frames, "after": frames}, from the report's coverage) adds a thin strip
    under the plot with the frames holding an annotated face that is not covered marked red; ``cuts``
    (the probe's shot cuts) are thin dashed lines at the first frame of each new shot.
    """
    n = max(len(det_counts), len(trk_counts))
    det = np.pad(det_counts, (0, n - len(det_counts)))
    trk = np.pad(trk_counts, (0, n - len(trk_counts)))
    use_time = bool(fps) and fps > 0
    scale = 1.0 / fps if use_time else 1.0
    x = np.arange(n) * scale
    fig = Figure(figsize=(10, 2.4 + (0.5 if uncovered is not None else 0)), dpi=90)
    FigureCanvasAgg(fig)
    if uncovered is not None:
        ax, strip = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": (4, 1)})
        rows = [("before", "detections"), ("after", "tracks")]
        min_width = max(n, 1) * scale / 400  # about 2 px, so a lone frame in a long video still shows
        for i, (key, _) in enumerate(rows):
            runs = [(a * scale, max(m * scale, min_width)) for a, m in frame_runs(uncovered.get(key))]
            strip.broken_barh(runs, (i + 0.1, 0.8), facecolors="tab:red", edgecolors="none")
        strip.set_ylim(0, len(rows))
        strip.set_yticks([i + 0.5 for i in range(len(rows))], [label for _, label in rows], fontsize=7)
        strip.tick_params(axis="y", length=0)
        strip.set_xlim(0, max(n, 1) * scale)
        ax.tick_params(labelbottom=False)
        xlabel_ax = strip
    else:
        ax = fig.add_subplot(1, 1, 1)
        xlabel_ax = ax
    for i, cut in enumerate(cuts):
        ax.axvline(cut * scale, color="0.3", lw=0.7, ls="--", label=None if i else "shot cut")
        if xlabel_ax is not ax:
            xlabel_ax.axvline(cut * scale, color="0.3", lw=0.7, ls="--")
    if n:
        ax.step(x, det, where="post", lw=0.8, alpha=0.7, color="tab:orange", label="detections")
        ax.step(x, trk, where="post", lw=1.0, color="tab:blue", label="tracks")
        ax.legend(loc="upper right", fontsize=8)
    if n == 0 or (det.max(initial=0) == 0 and trk.max(initial=0) == 0):
        ax.text(0.5, 0.5, "no faces", transform=ax.transAxes, ha="center", va="center", color="0.5")
    ax.set_ylim(bottom=0, top=max(1, int(max(det.max(initial=0), trk.max(initial=0)))) + 0.5)
    xlabel_ax.set_xlabel("time (s)" if use_time else "frame")
    ax.set_ylabel("faces")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()
