"""User-facing errors and the one place command-line entry points turn them into one clear line.

Anything a user can get wrong (a preset name, a length, a run directory, a step) raises
:class:`InterpError` with a message that names the problem and the accepted values. Command-line
``main`` functions are wrapped by :func:`cli_main`, which prints ``error: MESSAGE`` on stderr and exits
with status 2 instead of a traceback; a Ctrl-C is ``error: interrupted`` and status 130. Programming errors still
raise normally.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import TypeVar

F = TypeVar("F", bound=Callable[..., object])


class InterpError(Exception):
    """A problem with the user's input, reported as one line without a traceback."""


def cli_main(main: F) -> F:
    """Wrap a CLI entry point: an :class:`InterpError` becomes one line on stderr and exit status 2."""

    @functools.wraps(main)
    def wrapper(*args: object, **kwargs: object) -> object:
        try:
            return main(*args, **kwargs)
        except InterpError as error:
            print(f"error: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        except KeyboardInterrupt:  # Ctrl-C outside a command's own handling (training checkpoints first)
            print("error: interrupted", file=sys.stderr)
            raise SystemExit(130) from None
        except BrokenPipeError:  # `python -m interp.tasks sample ... | head`
            sys.stderr.close()
            raise SystemExit(0) from None

    return wrapper  # type: ignore[return-value]
