"""Command line of the driver. Each command lives in its own module, which exposes
``register(subparsers)`` adding a parser whose ``func(args) -> int`` is the exit code.

Exit codes: 0 ok, 1 failure or mandatory policy violation, 2 usage or settings error,
3 drift found by ``refresh``, 130 interrupted. Every command runs inside the one error
boundary (``deploy.errors.run_guarded``): no traceback reaches the user unless ``--debug``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from deploy.errors import EXIT_DRIFT, EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_guarded

__all__ = ["EXIT_DRIFT", "EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]

# Modules keep heavy imports (boto3, the Automation API) inside their functions, so that
# `check` starts no faster or slower because the other commands exist.
COMMAND_MODULES = (
    "deploy.offline.check", "deploy.offline.diff",
    "deploy.engine",
    "deploy.runbooks.verify", "deploy.runbooks.switchover", "deploy.runbooks.preflight", "deploy.runbooks.upgrade",
    "deploy.runbooks.bootstrap_users", "deploy.runbooks.rotate_password", "deploy.runbooks.restore_drill",
    "deploy.runbooks.clone",
)
DEBUG_HELP = "on an unexpected error, print the Python traceback"


class _Parser(argparse.ArgumentParser):
    """No prefix matching (``--allow`` is not ``--allow-data-loss``); usage errors exit 2."""

    def __init__(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        super().__init__(*args, **kwargs)

    def error(self, message):  # argparse exits 2 on usage errors, as our contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m deploy", description="aurora-platform driver: offline check, "
                     "Automation API engine commands, live verification and global database runbooks.")
    parser.add_argument("--debug", action="store_true", help=DEBUG_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    for command in subparsers.choices.values():  # `--debug` after the command name too
        command.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=DEBUG_HELP)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_guarded(lambda: args.func(args), debug=args.debug, endpoint_flag=getattr(args, "endpoint_url", None))
