"""Print the requirements of the project's core and the given extras, one per line, from pyproject.toml.

Used inside the image builds (standard library only) to install an image's dependencies in a layer of
their own, before the source is copied: `python3 requirements.py pyproject.toml pipeline > req.txt`.
Self-references such as `pathreasoner[ml]` inside an extra are expanded, so pip never needs the project.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

SELF_REF = re.compile(r"^\s*(?P<name>[A-Za-z0-9_.-]+)\s*\[(?P<extras>[^\]]+)\]\s*$")


def requirements(pyproject: Path, extras: list[str]) -> list[str]:
    """Core dependencies plus those of `extras` (recursively), in order, without duplicates."""
    project = tomllib.loads(pyproject.read_text())["project"]
    name, optional = project["name"], project.get("optional-dependencies", {})
    out: list[str] = list(project.get("dependencies", []))
    seen: set[str] = set()

    def add(extra: str) -> None:
        if extra in seen:
            return
        if extra not in optional:
            raise SystemExit(
                f"requirements.py: no extra {extra!r} in {pyproject}; known: {', '.join(optional)}"
            )
        seen.add(extra)
        for req in optional[extra]:
            match = SELF_REF.match(req)
            if match and match["name"].lower() == name.lower():
                for inner in match["extras"].split(","):
                    add(inner.strip())
            elif req not in out:
                out.append(req)

    for extra in extras:
        add(extra)
    return out


if __name__ == "__main__":
    if len(sys.argv) < 3:
        raise SystemExit("usage: requirements.py PYPROJECT EXTRA [EXTRA...]")
    print("\n".join(requirements(Path(sys.argv[1]), sys.argv[2:])))
