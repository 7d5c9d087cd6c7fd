"""What the checks before a write cost on a large memory: `check_memory` (schema, a writable
file and folder, and `PRAGMA quick_check`, which reads every page so that `train` refuses a
file damaged in the middle) next to a plain `open_memory`.

Uses the synthetic 100,000-row, 10,000-episode log of `ui.py` (built once, kept at --db).

    python evals/benchmarks/open_checks.py [--db /tmp/reflexrl-ui-bench.db] [--repeats 5]
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from ui import arguments

from reflexrl.memory import check_memory, open_memory


def _median(action: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    args = arguments(__doc__)
    size = args.db.stat().st_size / 1e6
    opened = _median(lambda: open_memory(args.db).close(), args.repeats)
    checked = _median(lambda: check_memory(args.db), args.repeats)
    print(f"memory: {args.db} ({size:.0f} MB)")
    print(f"open_memory (write):  {opened * 1000:8.1f} ms (median of {args.repeats})")
    print(f"check_memory:         {checked * 1000:8.1f} ms (median of {args.repeats})")


if __name__ == "__main__":
    main()
