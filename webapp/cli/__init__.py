"""The ``inkling`` command: train, evaluate and export models, build the shipped subset,
and look after a running Inkling's database (versions, rollback, drawings, export, db).

The operator's commands open the database the app would: ``INKLING_DATABASE_URL``
(PostgreSQL), else SQLite in ``INKLING_INSTANCE_PATH`` or ./instance, with the instance's
``config.py`` layered in between as in ``create_app``; ``--database-url`` and
``--instance`` override both.  They work while the app runs: a change is one write
transaction, and every worker on every host follows it within a second.

Every failure a user can cause (a missing folder, a wrong file, a model of the wrong
shape, a version that does not exist, an unreachable database) ends in one line on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sqlite3
import sys

from network.nn.model import ModelFileError
from network.training.mnist import DataError
from webapp.store import StoreError

from . import operator, training
from .args import EXIT_USAGE, CliError, Parser


def build_parser() -> Parser:
    parser = Parser(prog="inkling", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    training.add_commands(sub)
    operator.add_commands(sub)
    return parser


COMMANDS = {**training.COMMANDS, **operator.COMMANDS}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (CliError, DataError, ModelFileError, ValueError, StoreError,
            sqlite3.DatabaseError) as exc:
        # one line, even for a driver's multi-line message
        print(f"inkling {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return EXIT_USAGE
    except OSError as exc:
        print(f"inkling {args.command}: error: {exc.strerror or exc}: "
              f"{getattr(exc, 'filename', '') or ''}".rstrip(": "), file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"inkling {args.command}: interrupted", file=sys.stderr)
        return 130

