"""User-facing failures: one line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import functools
import os
import signal
import sys
from collections.abc import Callable

# Set for the ranks of a run that a stage launched under torchrun itself: that launcher
# reports a failure once, so its ranks exit without a line of their own.
LAUNCHED = "MODELMILL_LAUNCHED"


class UserError(Exception):
    """A problem the user can fix (bad params, missing file, no network, ...).

    The message is printed as is, so it must say what went wrong and what to do.
    """


def cli(main: Callable[[], object]) -> Callable[[], None]:
    """Wrap a stage entry point so user errors end the process with one clear line."""

    @functools.wraps(main)
    def wrapper() -> None:
        # `kill` (SIGTERM, as sent by DVC and schedulers) unwinds like Ctrl-C, so the
        # stages' cleanup runs and no partial output is left behind.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            main()
            return
        except UserError as exc:
            print(f"error: {exc}", file=sys.stderr)
            code = 1
        except KeyboardInterrupt:
            if LAUNCHED not in os.environ:
                print("error: interrupted; nothing was written", file=sys.stderr)
            code = 130
        except RuntimeError as exc:
            # A rank whose peer died (killed, out of memory) fails in its next collective, often
            # before the launcher stops it; the launcher names the rank that failed first.
            if LAUNCHED not in os.environ or not any(sign in str(exc) for sign in PEER_LOST):
                raise
            code = 1
        # On the way out, a SIGTERM (a launcher stopping its ranks) must end the process, not
        # raise KeyboardInterrupt inside interpreter shutdown, which prints a traceback.
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        sys.exit(code)

    return wrapper


# How gloo and NCCL word a collective whose peer process went away.
PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "NCCL communicator was aborted")


def _interrupt(signum, frame):
    raise KeyboardInterrupt
