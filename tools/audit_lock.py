"""Check the pins in the lock against PyPI's published advisories, and say exactly what was covered.

`python -m tools.audit_lock [requirements.lock] [--ignore-vuln ID ...]`; exit 0 clean, 1 findings, 2 could not audit.

Why not pip-audit: its PyPI service asks for the per-release JSON (`/pypi/<name>/<version>/json`) and its other
services are separate hosts; the registry this project's machines and CI reach answers the project JSON
(`/pypi/<name>/json`) only, and no other advisory service is reachable (pip-audit then skips every pin as "not found
on PyPI", yet prints "No known vulnerabilities found" and exits 0). The project JSON carries PyPI's advisories
(`vulnerabilities`, from the PyPA advisory database and GitHub's) for the project's newest release only. So:

- a pin that IS its project's newest release is audited exactly: each advisory listed for it that is neither
  withdrawn nor ignored is a finding, printed with its id and aliases, and the exit status is 1;
- a pin behind its project's newest release cannot be audited from this data: it is listed as not covered, never
  reported as clean (the advisories of an older release are invisible here);
- a project the registry cannot answer for, or a lock with no pins, exits 2: a check that saw nothing must not pass.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from packaging.version import InvalidVersion, Version
from pip._internal.models.index import PyPI

# `name==version` at the start of a line; hashes, markers and `\` continuations after it are ignored.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
TIMEOUT_S = 30
ATTEMPTS = 2


@dataclass(frozen=True)
class Advisory:
    id: str
    aliases: tuple[str, ...]
    fixed_in: tuple[str, ...]
    summary: str


@dataclass(frozen=True)
class Result:
    name: str
    pinned: str
    newest: str | None = None
    advisories: tuple[Advisory, ...] = ()
    error: str | None = None

    @property
    def covered(self) -> bool:
        return self.error is None and self.newest is not None and _same_version(self.pinned, self.newest)


@dataclass
class Report:
    results: list[Result] = field(default_factory=list)

    def findings(self, ignored: frozenset[str]) -> list[tuple[Result, Advisory]]:
        return [
            (r, a)
            for r in self.results
            if r.covered
            for a in r.advisories
            if a.id not in ignored and not ignored.intersection(a.aliases)
        ]


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(lock_text: str) -> list[tuple[str, str]]:
    return [(canonical_name(name), version) for name, version in PIN.findall(lock_text)]


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _fetch_project(api_url: str, name: str) -> dict[str, object]:
    url = f"{api_url.rstrip('/')}/{name}/json"
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "chatlens-audit"})
    for attempt in range(ATTEMPTS):
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                data: dict[str, object] = json.load(response)
                return data
        except urllib.error.HTTPError as error:
            if error.code < 500 or attempt == ATTEMPTS - 1:
                raise
        except (urllib.error.URLError, TimeoutError):
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def _advisories(data: dict[str, object]) -> tuple[Advisory, ...]:
    listed = data.get("vulnerabilities") or []
    if not isinstance(listed, list):
        raise ValueError("`vulnerabilities` is not a list")
    return tuple(
        Advisory(
            id=str(v["id"]),
            aliases=tuple(v.get("aliases") or ()),
            fixed_in=tuple(v.get("fixed_in") or ()),
            summary=_first_line(str(v.get("summary") or v.get("details") or "")),
        )
        for v in listed
        if isinstance(v, dict) and not v.get("withdrawn")
    )


def audit_pin(api_url: str, name: str, pinned: str) -> Result:
    try:
        data = _fetch_project(api_url, name)
        info = data["info"]
        if not isinstance(info, dict):
            raise ValueError("`info` is not an object")
        newest = str(info["version"])
        advisories = _advisories(data) if _same_version(pinned, newest) else ()
    except urllib.error.HTTPError as error:
        return Result(name, pinned, error=f"HTTP {error.code} for the project JSON")
    except (urllib.error.URLError, TimeoutError, ValueError, KeyError) as error:
        return Result(name, pinned, error=f"no usable project JSON ({type(error).__name__}: {error})")
    return Result(name, pinned, newest=newest, advisories=advisories)


def audit(pins: Sequence[tuple[str, str]], api_url: str) -> Report:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return Report(list(pool.map(lambda pin: audit_pin(api_url, *pin), pins)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("lock", nargs="?", default="requirements.lock", type=Path)
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID", help="accepted advisory id")
    parser.add_argument("--api-url", default=PyPI.pypi_url, help="base of the JSON API (default: pip's PyPI)")
    args = parser.parse_args(argv)

    pins = read_pins(args.lock.read_text(encoding="utf-8"))
    if not pins:
        print(f"audit: no `name==version` pins in {args.lock}; nothing was audited", file=sys.stderr)
        return 2
    report = audit(pins, args.api_url)
    covered = [r for r in report.results if r.covered]
    behind = [r for r in report.results if r.error is None and not r.covered]
    failed = [r for r in report.results if r.error is not None]
    findings = report.findings(frozenset(args.ignore_vuln))

    print(
        f"audit: {len(covered)} of {len(pins)} pins are their project's newest release and were checked "
        "against PyPI's advisories"
    )
    if behind:
        print(
            f"not covered ({len(behind)}): PyPI lists advisories for a project's newest release only, "
            "and these pins are behind it"
        )
        for r in behind:
            print(f"  {r.name}=={r.pinned} (newest {r.newest})")
    for r in failed:
        print(f"ERROR {r.name}=={r.pinned}: {r.error}", file=sys.stderr)
    for r, a in findings:
        fixed = ", ".join(a.fixed_in) or "no fixed release"
        aliases = f" ({', '.join(a.aliases)})" if a.aliases else ""
        print(f"VULNERABLE {r.name}=={r.pinned}: {a.id}{aliases}, fixed in: {fixed}. {a.summary}")
    if findings:
        return 1
    if failed:
        return 2
    print("audit: no known advisory for the covered pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())
