"""How the serving process is tuned: the garbage collector (run before the loop starts, through
``run_service``'s ``tune_process``).

What startup made (modules, SQLAlchemy's mappers and compiled metadata, protobuf descriptors,
pydantic validators: ~140 k gc-tracked objects) lives as long as the process, yet with CPython's
default thresholds every full collection walks all of it again. A 50x20 GetCourseEdit builds
thousands of short-lived objects (rows, views, messages), so full collections came every few dozen
calls and each paused the whole loop for 80-200 ms (bench/course, load ~6): that was the p99.
"""

from __future__ import annotations

import gc

# Young collections stay frequent and cheap; full ones become rare (and, once startup is frozen,
# walk only what was made since).
GC_THRESHOLDS = (10_000, 10, 10)


def tune_process() -> None:
    """Move what startup made out of the collector's sight and set the thresholds."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
