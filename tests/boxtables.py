"""Hand-made box tables for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def box_table(rows: list[tuple], *, fps: float = 25.0, score: float = 1.0, **extra: list) -> pd.DataFrame:
    """Box table from (frame, x1, y1, x2, y2) rows (timestamps at ``fps``, every score ``score``) plus
    ``extra`` columns."""
    arr = np.array(rows, dtype=np.float64).reshape(-1, 5)
    df = pd.DataFrame(
        {
            "frame_index": arr[:, 0].astype(np.int64),
            "pts_time": arr[:, 0] / fps,
            "x1": arr[:, 1].astype(np.float32),
            "y1": arr[:, 2].astype(np.float32),
            "x2": arr[:, 3].astype(np.float32),
            "y2": arr[:, 4].astype(np.float32),
            "score": np.full(len(arr), score, dtype=np.float32),
        }
    )
    for name, values in extra.items():
        df[name] = values
    return df
