"""Redis key parts built from input (user ids, idempotency keys, course ids, channel names).

Keys are ``:``-separated, and OIDC subjects (``auth0|…``, ``urn:idp:…``), idempotency keys and ids
may contain ``:`` themselves, so ``idem:<user>:<key>`` could be one user's key and another's at
once (``a:b`` + ``c`` = ``a`` + ``b:c``). Every variable part goes through :func:`key_part`, which
percent-encodes the separator, the escape character and the braces of Redis Cluster hash tags: two
different tuples of parts never make the same key, and input never picks a hash slot.
"""

from __future__ import annotations

_ESCAPES = str.maketrans({"%": "%25", ":": "%3A", "{": "%7B", "}": "%7D"})


def key_part(value: str) -> str:
    """``value`` made safe to stand between ``:`` separators (injective: no two values collide)."""
    return value.translate(_ESCAPES)
