"""The small thread pool that client-secret hash checks run on, apart from the threads reads use (issue 10 B2).

An argon2id check holds 64 MiB and a CPU for its duration. Run on the shared pool, a flood of logins took every
thread, so a read that missed its cache waited behind the hashes, and memory grew with the flood. Here at most
`Settings.login_hash_threads` checks run at once; the others wait in the queue, where they hold no hash memory.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from app.config import get_settings

T = TypeVar("T")

_pool: ThreadPoolExecutor | None = None
_size = 0
_lock = threading.Lock()


def _executor() -> ThreadPoolExecutor:
    """The pool, rebuilt when the installed settings ask for another size (the old one finishes its queue)."""
    global _pool, _size
    size = get_settings().login_hash_threads
    with _lock:
        if _pool is None or _size != size:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool, _size = ThreadPoolExecutor(max_workers=size, thread_name_prefix="keyturn-hash"), size
        return _pool


async def run(check: Callable[..., T], *args: object) -> T:
    """Await `check(*args)` on the hash pool."""
    return await asyncio.wrap_future(_executor().submit(check, *args))
