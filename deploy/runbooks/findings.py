"""The findings of the read-only checks (``verify``, ``preflight``) and their one output: a table
or JSON on stdout; exit 1 when there is any."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from deploy.errors import EXIT_FAILED, EXIT_OK


@dataclass(frozen=True)
class Finding:
    check: str
    region: str
    resource: str
    message: str


def findings_table(findings: list[Finding]) -> str:
    if not findings:
        return "no findings"
    rows = [("CHECK", "REGION", "RESOURCE", "FINDING")] + [(f.check, f.region, f.resource, f.message) for f in findings]
    widths = [max(len(str(row[i])) for row in rows) for i in range(3)]
    return "\n".join(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}" for row in rows)


def findings_json(stack: str, findings: list[Finding]) -> str:
    return json.dumps({"stack": stack, "clean": not findings, "findings": [asdict(f) for f in findings]}, indent=2)


def report(command: str, stack: str, regions: list[str], findings: list[Finding], as_json: bool) -> int:
    """Print the findings of ``command`` (``verify``, ``preflight``) on stdout; the exit code."""
    if as_json:
        print(findings_json(stack, findings))
    else:
        print(f"{command} stack {stack}: regions {', '.join(regions)}")
        print(findings_table(findings))
        if findings:
            print(f"{len(findings)} finding{'s' if len(findings) != 1 else ''}")
    return EXIT_FAILED if findings else EXIT_OK
