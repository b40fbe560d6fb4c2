"""Run one program on the mock engine and print its capture as JSON: the base side of `deploy diff`.

    python -m deploy.offline.capture_json --stack S --project-dir DIR [--mode update]

The program (``__main__.py``, ``components``, ``Pulumi.yaml``, ``Pulumi.S.yaml``) is read from
DIR, the driver's own code (``deploy.*``) from the working directory: ``deploy diff`` runs the
program of a git ref this way, beside the working tree's program in its own process, because two
versions of ``components`` cannot share one interpreter. Nothing here imports ``components``
before the program runs, so DIR's are the ones loaded.

stdout: ``{"capture": ..., "config": ...}`` (exit 0), or ``{"error": {"kind", "message"}}`` with
exit 2 (``kind``: ``stack`` when DIR has no such stack, ``settings`` when its settings are invalid)
or exit 1 (``program``: the program registered one URN twice).
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import sys
from pathlib import Path

from deploy.offline.capture import MODES, DuplicateResourceError, run_program
from deploy.offline.stack_config import UnknownStackError, load_stack_config


def _settings_error() -> type[BaseException] | None:
    """The SettingsError of the program that ran (DIR's ``components``), if it got that far."""
    return getattr(sys.modules.get("components.settings"), "SettingsError", None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.offline.capture_json", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--project-dir", required=True, type=Path)
    parser.add_argument("--mode", choices=MODES, default="update")
    args = parser.parse_args(argv)
    out, sys.stdout = sys.stdout, sys.stderr  # whatever the program prints must not corrupt the JSON
    atexit.register(gc.freeze)  # leave the SDK's objects to the operating system at exit (as `deploy check` does)
    project_dir = args.project_dir.resolve()
    try:
        config = load_stack_config(args.stack, project_dir)
        capture = run_program(args.stack, args.mode, project_dir=project_dir, config=config)
    except UnknownStackError as error:
        return _fail(out, "stack", str(error), 2)
    except DuplicateResourceError as error:
        return _fail(out, "program", str(error), 1)
    except Exception as error:
        settings_error = _settings_error()
        if settings_error is None or not isinstance(error, settings_error):
            raise
        return _fail(out, "settings", str(error), 2)
    json.dump({"capture": capture.to_dict(), "config": config}, out, default=str)
    out.flush()
    return 0


def _fail(out, kind: str, message: str, code: int) -> int:
    json.dump({"error": {"kind": kind, "message": message}}, out)
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
