"""Command line of the driver. Each command lives in its own module, which exposes
``register(subparsers)`` adding a parser whose ``func(args) -> int`` is the exit code.

Exit codes: 0 ok, 1 failure or mandatory policy violation, 2 usage or settings error,
3 drift found by ``refresh``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules keep heavy imports (boto3, the Automation API) inside their functions, so that
# `check` starts no faster or slower because the other commands exist.
COMMAND_MODULES = (
    "deploy.offline.check",
    "deploy.engine",
    "deploy.runbooks.verify", "deploy.runbooks.switchover", "deploy.runbooks.preflight", "deploy.runbooks.upgrade",
    "deploy.runbooks.bootstrap_users", "deploy.runbooks.rotate_password", "deploy.runbooks.restore_drill",
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse exits 2 on usage errors, as our contract says
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m deploy", description="aurora-platform driver: offline check, "
                     "Automation API engine commands, live verification and global database runbooks.")
    subparsers = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)
