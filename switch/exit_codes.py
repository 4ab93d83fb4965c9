"""The exit codes of every `lps` command (docs/cli.md, "Exit codes") and the error that carries one.

They live below the apps so that the packages an `lps` command runs (settlement, the switch's
operator paths) can raise refusals with their code without importing the command line (`lps/`).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # understood, but refused or failed (not enrolled, not found, a check broke)
EXIT_USAGE = 2  # the command line or the configuration file is wrong (argparse's own code)
EXIT_INPUT = 3  # a value typed (or the journal read) cannot be accepted
EXIT_SERVE = 3  # `lps serve`: cannot serve (address or database taken), or fail-stop
EXIT_SEALED = 4  # `lps settle`: refused by the seal
EXIT_AUDIT = 5  # done, but its audit row could not be written (the console's audit log)
EXIT_INTERRUPTED = 130  # Ctrl-C


class CommandError(Exception):
    """A command that cannot be done: `lps` prints `lps COMMAND: {prefix}{message}` and exits
    with `exit_code` (docs/cli.md). Packages subclass it for their own refusals."""

    exit_code = EXIT_FAILED
    prefix = ""
