"""`kill -TTIN <worker pid>` writes where every task of the worker is waiting, to stderr.

asyncio's task dumps stop at the first non-coroutine awaitable (a Faust actor, a future), which
hides the agent code that is actually waiting; this follows each task's await chain to the end.
"""

from __future__ import annotations

import asyncio
import signal
import sys


def install(loop: asyncio.AbstractEventLoop) -> None:
    loop.add_signal_handler(signal.SIGTTIN, dump_tasks)


def dump_tasks(out=None) -> None:
    out = out or sys.stderr
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=out)
        for where in _await_chain(task.get_coro()):
            print(f"    {where}", file=out)
    out.flush()


def _await_chain(awaitable, depth: int = 0):
    while awaitable is not None and depth < 60:
        depth += 1
        frame = getattr(awaitable, "cr_frame", None) or getattr(awaitable, "ag_frame", None) \
            or getattr(awaitable, "gi_frame", None)
        if frame is not None:
            yield f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}"
        nxt = getattr(awaitable, "cr_await", None) or getattr(awaitable, "ag_await", None) \
            or getattr(awaitable, "gi_yieldfrom", None)
        if nxt is None:
            inner = getattr(awaitable, "coro", None)  # a Faust actor wraps the agent's coroutine
            if inner is not None and inner is not awaitable:
                nxt = inner
            else:
                yield repr(awaitable)[:300]
        awaitable = nxt
