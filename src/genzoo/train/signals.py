"""Stop on SIGINT / SIGTERM at a step boundary: the handlers `Trainer.fit` installs while it runs.

    first signal   -> `StopFlag.signum` is set and a notice goes to stderr; the loop reads the flag after the
                      current step (and its log / eval / checkpoint work), saves and raises TrainingInterrupted
    second signal  -> `Abort` (a KeyboardInterrupt) is raised at once, wherever the main thread is; checkpoint
                      writes are atomic (temp folder, then rename), so the previous checkpoint survives

Handlers are installed only in the main thread (Python delivers signals there only), never over a signal that is
ignored (SIG_IGN, e.g. SIGINT of a background job) or whose handler was not set from Python (it could not be put
back), and the previous handlers are restored on exit. Exit codes follow the shell's convention 128 + signum.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Abort(KeyboardInterrupt):
    """The second signal: stop at once. A BaseException, so no `except Exception` on the way swallows it."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


@dataclass
class StopFlag:
    signum: int | None = None  # the first signal received, None while none came

    def __bool__(self) -> bool:
        return self.signum is not None


def signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


@contextlib.contextmanager
def stop_on_signals(what: str = "step") -> Iterator[StopFlag]:
    """A StopFlag set by the first SIGINT / SIGTERM; the second raises Abort (see the module docstring)."""
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    mine = [s for s, h in previous.items() if h is not None and h != signal.SIG_IGN]

    def restore() -> None:
        for s in mine:
            signal.signal(s, previous[s])

    def handler(signum, frame) -> None:
        if flag:
            restore()  # a third signal gets the caller's own handling
            raise Abort(signum)
        flag.signum = signum
        again = "Ctrl-C" if signum == signal.SIGINT else signal_name(signum)
        print(f"\ngenzoo: {signal_name(signum)} received: finishing the current {what} and saving a checkpoint "
              f"({again} again aborts at once)", file=sys.stderr, flush=True)

    for s in mine:
        signal.signal(s, handler)
    try:
        yield flag
    finally:
        restore()
