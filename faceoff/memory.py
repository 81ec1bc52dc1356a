"""Keep the process's memory flat over long videos (glibc malloc settings, applied at start-up).

Decoding (decord/FFmpeg threads) interleaved with detection (onnxruntime threads) allocates and frees
multi-megabyte frame buffers from several threads. glibc raises its mmap threshold each time such a
buffer is freed, after which the buffers come from the heap arenas and fragment them: measured on a
7,500-frame 640x360 clip, detect reached 4-5 GB RSS (1.6 GB on a 750-frame clip). A fixed threshold
keeps every large buffer mmapped and returned on free: about 0.95 GB flat. Fewer arenas
(``MALLOC_ARENA_MAX=2``) also help decord. Setting them with ``mallopt`` at run time has the same
effect as the environment variables, so no wrapper script is needed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD_BYTES = 128 * 1024


def limit_heap_growth() -> bool:
    """Apply the malloc settings above; False where the C library is not glibc (nothing to do)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name)
    mallopt = getattr(libc, "mallopt", None)
    if mallopt is None:
        return False
    ok = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return bool(mallopt(M_ARENA_MAX, 2) == 1 and ok)
