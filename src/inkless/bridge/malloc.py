"""Give memory freed after a big message back to the system (glibc only).

glibc serves an allocation of 128 KiB or more with its own mmap, returned at free, but it
raises that threshold to the size of each such block freed (up to 32 MiB): after the first
big message, the buffers of the next ones come from the heaps of whichever thread made them
(the event loop, aiosqlite's, to_thread's), which keep what was freed. `inkless serve` held
+290 MB after one 25 MB message that way. A fixed threshold keeps big buffers in their own
mappings, so what a message used is gone when the message is.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
from collections.abc import Callable
from typing import cast

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # <malloc.h>
MMAP_THRESHOLD = 256 * 1024


def keep_big_buffers_apart() -> bool:
    """Fix glibc's mmap threshold; False where the C library is not glibc (nothing to do)."""
    try:
        libc = ctypes.CDLL(None)  # the C library the interpreter runs on
    except OSError:
        return False
    # glibc only: musl has a mallopt that does nothing, macOS none at all.
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "mallopt"):
        return False
    mallopt = libc.mallopt
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        log.warning("mallopt(M_MMAP_THRESHOLD) refused: memory freed after big messages may stay with the process")
        return False
    return True


def give_back() -> None:
    """Called after a big message has been processed or sent: collect the cyclic garbage it
    left, then malloc_trim(0), which returns the free pages inside every arena (glibc only).

    A message's files are held by ORM objects, which sit in reference cycles with their
    state: freed only when the collector's oldest generation runs, which may be minutes
    later (+18 MB after one 25 MB message). And each thread that touched the message
    (aiosqlite's, to_thread's) allocates from an arena of its own, whose freed middle stays
    with the process.
    """
    gc.collect()
    trim = _trim()
    if trim is not None:
        trim(0)


@functools.cache
def _trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    if not hasattr(libc, "gnu_get_libc_version") or not hasattr(libc, "malloc_trim"):
        return None
    trim = libc.malloc_trim
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return cast(Callable[[int], int], trim)
