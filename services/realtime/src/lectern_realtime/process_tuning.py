"""Process tuning that must happen before the loop starts (``run_service``'s ``tune_process``)."""

from __future__ import annotations

import gc

# A replica holds ~100 long-lived objects a socket; with CPython's default thresholds a full
# collection walks all of them (measured: pauses up to 1.5 s at 10k sockets, every message on the
# replica waiting behind them). Young collections stay frequent and cheap; full ones become rare.
# What start-up made is frozen out of the collector's sight by RealtimeApp.__aenter__, once the
# wiring exists.
GC_THRESHOLDS = (1_000, 10, 1_000)


def tune_process() -> None:
    gc.set_threshold(*GC_THRESHOLDS)
