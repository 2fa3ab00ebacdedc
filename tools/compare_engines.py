"""Hold two ``ddx eval --format json`` outputs equal apart from the ``engine`` key.

``.ci/run`` ranks every sample case on Python 3.11 (durable-rules) and on 3.13+ (ddx's own matcher) and
compares them with this. Run both from the same folder with the same ``--rules`` directory (the packaged
rules' path differs between two installs, and ``rules_dir`` is compared too)::

    ddx eval --rules rules --format json --engine durable cases > durable.json      # Python 3.11
    ddx eval --rules rules --format json cases > python.json                        # Python 3.13
    python tools/compare_engines.py durable.json python.json

Exit status 0 when every case is the same; 1, with the first difference (case id and key path), when not;
2 when a file is not such an output.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """The key path of the first place ``a`` and ``b`` differ (``None`` when equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key} (only in {'the second' if key in b else 'the first'})"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path} ({len(a)} against {len(b)} items)"
        for i, (x, y) in enumerate(zip(a, b)):
            found = first_difference(x, y, f"{path}[{i}]")
            if found:
                return found
        return None
    return None if a == b else f"{path} ({a!r} against {b!r})"


def load(path: str) -> list[dict[str, Any]]:
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    cases = data if isinstance(data, list) else [data]
    if not all(isinstance(c, dict) and "id" in c and "engine" in c for c in cases):
        raise ValueError(f"{path}: not the output of ddx eval --format json")
    return cases


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        first, second = (load(p) for p in argv)
    except (OSError, ValueError) as exc:
        print(f"compare_engines: {exc}", file=sys.stderr)
        return 2
    engines = ({c["engine"] for c in first}, {c["engine"] for c in second})
    if len(first) != len(second):
        print(f"compare_engines: {len(first)} cases against {len(second)}", file=sys.stderr)
        return 1
    for a, b in zip(first, second):
        found = first_difference({k: v for k, v in a.items() if k != "engine"}, {k: v for k, v in b.items() if k != "engine"})
        if found:
            print(f"compare_engines: case {a['id']!r} differs at {found}", file=sys.stderr)
            return 1
    print(
        f"compare_engines: {len(first)} cases, the same apart from the engine "
        f"({'/'.join(sorted(engines[0]))} against {'/'.join(sorted(engines[1]))})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
