"""Run every benchmark in sequence: `python -m bench [name ...]`.

Each one runs in its own interpreter, so none inherits another's imports, table bindings or
emulator (a cold-start figure would be meaningless in a warm process).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# Optional entries run only when their module is present.
ORDER = (
    "cold_start",
    "turns",
    "history_tokens",
    "items_list",
    "faults",
    "lifecycle",
    "cancel_latency",
)


def available() -> list[str]:
    return [name for name in ORDER if (HERE / f"{name}.py").is_file()]


def main(argv: list[str] | None = None) -> int:
    names = list(argv if argv is not None else sys.argv[1:]) or available()
    unknown = [n for n in names if n not in available()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; have {', '.join(available())}")
        return 2
    failed: list[str] = []
    for name in names:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"], cwd=HERE.parent)
        print(f"=== bench.{name}: exit {code}, {time.perf_counter() - started:.1f} s ===")
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
