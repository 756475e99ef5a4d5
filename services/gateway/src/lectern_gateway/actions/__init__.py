"""The action layer: one core every door (HTTP today) calls to run a named server action."""
