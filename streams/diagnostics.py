"""`kill -TTIN <worker pid>` writes where every task of the worker is waiting, to stderr.

asyncio's task dumps stop at the first non-coroutine awaitable (a Faust actor, a future), which
hides the agent code that is actually waiting; this follows each task's await chain to the end.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import sys
import types

from .faust_internals import flow_state


def install(loop: asyncio.AbstractEventLoop, app) -> None:
    loop.add_signal_handler(signal.SIGTTIN, lambda: dump(app))


def dump(app, out=None) -> None:
    out = out or sys.stderr
    state = flow_state(app.consumer)
    print(f"assigned: {sorted(state['partitions'])}", file=out)
    print(f"active (fetched): {state['active']}", file=out)
    print(f"paused: {state['paused']}", file=out)
    print(f"buffered (full, not fetched): {state['buffered']}", file=out)
    print(f"flow active: {state['flow_active']}", file=out)
    for tp, offsets in state["partitions"].items():
        acked = offsets["acked"]
        print(f"{tp.topic}[{tp.partition}]: read {offsets['read']} committed {offsets['committed']} "
              f"acked {len(acked)} {acked[:3]}..{acked[-3:]} gaps {offsets['gaps'][:5]}", file=out)
    dump_tasks(out)


def dump_tasks(out=None) -> None:
    out = out or sys.stderr
    for task in asyncio.all_tasks():
        print(f"task {task.get_name()}:", file=out)
        for where in _await_chain(task.get_coro()):
            print(f"    {where}", file=out)
    # A task's chain ends at the await iterator of a Faust actor, which hides the agent's own
    # coroutine; the exchange's coroutines are found directly instead.
    for obj in gc.get_objects():
        if isinstance(obj, types.CoroutineType) and obj.cr_frame is not None \
                and "/streams/" in obj.cr_code.co_filename:
            print(f"coroutine {obj.cr_code.co_name}:", file=out)
            for where in _await_chain(obj):
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
