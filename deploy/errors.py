"""The driver's exit codes, its one refusal type, and the one error boundary every command runs in.

- ``CommandRefused``: a command stops with one message and its exit code (2 refused input, the
  default; 1 failure).
- The boundary (``run_guarded``, used by ``deploy.cli.main``) turns what escapes a command into an
  exit code and one line on stderr, never a traceback:

  | what escapes | exit | stderr |
  |---|---|---|
  | ``CommandRefused`` | its code | ``error: <message>`` |
  | botocore's ``NoCredentialsError`` | 2 | how to give credentials |
  | any other botocore or boto3 error, or an exception raised inside a botocore call (*) | 1 | service, call, endpoint |
  | ``BrokenPipeError`` on stdout (``... --json \\| head``) | 1 | nothing |
  | ``KeyboardInterrupt`` a command did not handle | 130 | ``interrupted`` |
  | anything else | 1 | ``internal error: ...`` and a hint that ``--debug`` shows the traceback |

  (*) ``BotoCoreError``, ``ClientError`` and ``ResponseParserError``, which is not a ``BotoCoreError``;
  an exception raised inside a botocore call is an answer that is not AWS's. The line names the
  service, the call and the endpoint where known.

  ``--debug`` prints the traceback of everything but a refusal, on purpose.

botocore is imported only when a command already loaded it: ``check`` does not pay for it.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DRIFT = 0, 1, 2, 3
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a Ctrl-C
MAX_DETAIL = 300  # characters of an error's first line that reach the user

NO_CREDENTIALS = ("no AWS credentials: configure them (AWS_PROFILE, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
                  "or a role) and run the command again")


class CommandRefused(Exception):
    """A command stops with ``message`` and exit code ``code`` (2 usage/settings, 1 failure)."""

    def __init__(self, message: str, code: int = EXIT_USAGE):
        super().__init__(message)
        self.code = code


def refused_by_aws(error) -> CommandRefused:
    """A botocore ``ClientError`` as a failure naming the call, AWS's error code and message."""
    info = error.response.get("Error", {})
    return CommandRefused(f"AWS refused {error.operation_name}: {info.get('Code')}: {info.get('Message')}", EXIT_FAILED)


def _aws_error_types() -> tuple[type[BaseException], ...]:
    types: list[type[BaseException]] = []
    if "botocore" in sys.modules:
        from botocore.exceptions import BotoCoreError, ClientError
        from botocore.parsers import ResponseParserError

        types += [BotoCoreError, ClientError, ResponseParserError]
    if "boto3" in sys.modules:
        from boto3.exceptions import Boto3Error

        types.append(Boto3Error)
    return tuple(types)


def _first_line(text: str) -> str:
    line = next((part.strip() for part in str(text).splitlines() if part.strip()), "")
    return line if len(line) <= MAX_DETAIL else line[:MAX_DETAIL] + "..."


def aws_call(error: BaseException) -> tuple[str | None, str | None, str | None]:
    """(service, operation, endpoint) of the botocore call that raised ``error``, where known: from the
    client's ``_make_api_call`` frame in the traceback, else from what the exception carries."""
    service = operation = endpoint = None
    tb = error.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "_make_api_call" and "operation_name" in frame.f_locals:
            meta = getattr(frame.f_locals.get("self"), "meta", None)
            operation = frame.f_locals.get("operation_name")
            if meta is not None:
                service, endpoint = meta.service_model.service_name, meta.endpoint_url
        tb = tb.tb_next
    operation = operation or getattr(error, "operation_name", None)
    kwargs = getattr(error, "kwargs", None) or {}
    endpoint = kwargs.get("endpoint_url") or endpoint
    return service, operation, endpoint


def aws_error_line(error: BaseException, endpoint_flag: str | None = None) -> tuple[str, int]:
    """One line for a botocore or boto3 error, and its exit code."""
    from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, NoCredentialsError

    if isinstance(error, NoCredentialsError):
        return NO_CREDENTIALS, EXIT_USAGE
    service, operation, endpoint = aws_call(error)
    where = " ".join(part for part in (service, operation) if part)
    at = f" at {endpoint}" if endpoint else ""
    if isinstance(error, (EndpointConnectionError, ConnectTimeoutError)):
        target = f"--endpoint-url {endpoint_flag}" if endpoint_flag else (endpoint or "the AWS endpoint")
        return (f"could not reach {target}" + (f" ({where})" if where else "")
                + f": {_first_line(error)}; check the URL and the network, and run the command again"), EXIT_FAILED
    response = getattr(error, "response", None)
    if isinstance(response, dict) and "Error" in response:
        info = response.get("Error", {})
        return (f"AWS refused {operation or 'a call'}: {info.get('Code')}: {_first_line(info.get('Message') or '')}"
                + (f" ({service}{at})" if service or at else "")), EXIT_FAILED
    if not (aws_types := _aws_error_types()) or not isinstance(error, aws_types):
        # Raised inside botocore's handling of an answer: the endpoint answered, but not as AWS does.
        return f"AWS {where or 'call'}{at}: no readable answer ({type(error).__name__}: {_first_line(error)})", EXIT_FAILED
    return f"AWS {where or 'call'}{at} failed: {type(error).__name__}: {_first_line(error)}", EXIT_FAILED


def _stdout_broken(stdout: TextIO) -> bool:
    """Whether stdout is a pipe nobody reads any more: a flush of what is left fails, or (nothing
    left to flush) polling its descriptor reports the error a pipe without a reader gives."""
    try:
        stdout.flush()
    except BrokenPipeError:
        return True
    except (OSError, ValueError):
        return False
    try:
        import select

        poller = select.poll()
        poller.register(stdout.fileno(), select.POLLOUT)
        return any(events & select.POLLERR for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _silence_stdout(stdout: TextIO) -> None:
    """Python flushes stdout at exit: point it at devnull, so that no second BrokenPipeError is
    printed then (the recipe of Python's signal module documentation, "Note on SIGPIPE")."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


def run_guarded(func: Callable[[], int], *, debug: bool = False, endpoint_flag: str | None = None,
                stderr: TextIO | None = None) -> int:
    """Run a command body inside the boundary; the exit code, with at most one line on stderr
    (and the traceback when ``debug``)."""
    err = stderr or sys.stderr
    try:
        code = func()
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CommandRefused as refused:
        if debug and refused.__cause__ is not None:  # a failure after a change, turned into how to finish
            traceback.print_exception(refused.__cause__, file=err)
        print(f"error: {refused}", file=err)
        return refused.code
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc(file=err)
        print("interrupted", file=err)
        return EXIT_INTERRUPTED
    except BrokenPipeError as error:
        if _stdout_broken(sys.stdout):
            _silence_stdout(sys.stdout)
            return EXIT_FAILED
        return _internal(error, debug, err)
    except Exception as error:
        if _is_aws_error(error):
            if debug:
                traceback.print_exc(file=err)
            line, code = aws_error_line(error, endpoint_flag)
            print(f"error: {line}", file=err)
            return code
        return _internal(error, debug, err)


def _is_aws_error(error: BaseException) -> bool:
    """botocore's own errors, and anything raised inside an AWS call (a parser failing on an answer)."""
    aws = _aws_error_types()
    return bool(aws and isinstance(error, aws)) or aws_call(error)[1] is not None


def error_line(error: BaseException) -> str:
    """One line for any exception, as the boundary words it (without the ``--debug`` hint)."""
    return aws_error_line(error)[0] if _is_aws_error(error) else _internal_line(error)


def _internal_line(error: BaseException) -> str:
    return f"internal error: {type(error).__name__}: {_first_line(error)}"


@contextmanager
def after_change(how_to_finish: str) -> Iterator[None]:
    """Around what follows a command's first change: any failure but a refusal (an AWS error, an answer
    that is not AWS's, a bug) stops with exit 1, its one line and ``how_to_finish``."""
    try:
        yield
    except CommandRefused:
        raise
    except Exception as error:
        raise CommandRefused(f"{error_line(error)}; {how_to_finish}", EXIT_FAILED) from error


def _internal(error: BaseException, debug: bool, err: TextIO) -> int:
    if debug:
        traceback.print_exc(file=err)
    print(_internal_line(error) + ("" if debug else " (run again with --debug to see the traceback)"), file=err)
    return EXIT_FAILED
