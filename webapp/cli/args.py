"""What every ``inkling`` command shares: one-line errors and argument types."""

from __future__ import annotations

import argparse

EXIT_USAGE = 2


class CliError(Exception):
    """A problem the user can fix; printed as one line."""


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive, got {text}")
        return value
    return parse


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line (``inkling versions: error: ...``) and code 2."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def number_of(what: str):
    """A parser of positive integers naming ``what`` (a version, a drawing id)."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{what} is a positive integer, got {text}")
        return value
    return parse
