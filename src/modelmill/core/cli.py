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
# A launched rank's exit status for "stopped by a user error, already said": its launcher adds no
# line. Only each machine's first process says it, so a node prints one line, not one per rank.
REPORTED = 3


class UserError(Exception):
    """A problem the user can fix (bad params, missing file, no network, ...).

    The message is printed as is, so it must say what went wrong and what to do.
    """


def first_line(exc: BaseException) -> str:
    """An exception's first line for a one-line message (its type's name when it says nothing):
    libraries' messages run on with detail no user asked for."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def cli(main: Callable[[], object]) -> Callable[[], None]:
    """Wrap a stage entry point so user errors end the process with one clear line."""

    @functools.wraps(main)
    def wrapper() -> None:
        # `kill` (SIGTERM, as sent by DVC and schedulers) unwinds like Ctrl-C, so the
        # stages' cleanup runs and no partial output is left behind.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            main()
        except UserError as exc:
            if LAUNCHED not in os.environ:
                print(f"error: {exc}", file=sys.stderr)
                sys.exit(1)
            if os.environ.get("LOCAL_RANK", "0") == "0":
                print(f"error: {exc}", file=sys.stderr)
            sys.stderr.flush()
            os._exit(REPORTED)  # as _leave_stopped: no interpreter shutdown for the launcher's SIGTERM to hit
        except KeyboardInterrupt:
            if LAUNCHED not in os.environ:
                print("error: interrupted; nothing was written", file=sys.stderr)
            sys.exit(130)
        except BrokenPipeError:
            # the reader of stdout left (`make models | head`): stop quietly, as a shell tool does;
            # stdout goes to devnull so that the interpreter's last flush finds no pipe to fail on
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(141)  # 128 + SIGPIPE, what the shell reports for a tool the pipe stopped
        except RuntimeError as exc:
            # A rank whose peer died (killed, out of memory) fails in its next collective, often
            # before the launcher stops it: it leaves as a stopped rank (130), and the launcher
            # names the one that failed.
            if LAUNCHED in os.environ and any(sign in str(exc) for sign in PEER_LOST):
                _leave_stopped()
            raise

    return wrapper


# How gloo and NCCL word a collective whose peer process went away.
PEER_LOST = ("Connection reset by peer", "Connection closed by peer", "Broken pipe", "NCCL communicator was aborted")


def _interrupt(signum, frame):
    if LAUNCHED in os.environ:
        # A rank its launcher stops (another rank failed, or Ctrl-C) leaves at once, whatever it
        # is doing: a KeyboardInterrupt raised in interpreter shutdown would print a traceback.
        _leave_stopped()
    raise KeyboardInterrupt


def _leave_stopped() -> None:
    """Exit as a stopped rank (130), skipping interpreter shutdown, where a second SIGTERM from
    the launcher would kill the process as if that were the failure. Outputs are written
    atomically: at most a `.partial` file stays, which the next run removes."""
    sys.stderr.flush()
    os._exit(130)
