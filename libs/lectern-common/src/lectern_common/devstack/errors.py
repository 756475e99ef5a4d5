"""The launcher's one error: the stack could not be brought up (which part, and its output)."""

from __future__ import annotations


class LaunchError(RuntimeError):
    """The stack could not be brought up; the message says which part and shows its output."""
