"""Key parts from input never collide, whatever ``:`` and braces they hold."""

from __future__ import annotations

import itertools

from lectern_common.redis_keys import key_part


def test_parts_with_separators_never_make_the_same_key() -> None:
    pairs = [("a:b", "c"), ("a", "b:c"), ("a%3Ab", "c"), ("a", "b%3Ac"), ("{a}", "b"), ("a}", "{b")]
    keys = {f"idem:{key_part(user)}:{key_part(key)}" for user, key in pairs}
    assert len(keys) == len(pairs)


def test_encoding_is_injective_on_tricky_strings() -> None:
    alphabet = ["a", ":", "%", "{", "}", "3A", "25"]
    values = ["".join(p) for n in range(1, 4) for p in itertools.product(alphabet, repeat=n)]
    assert len({key_part(v) for v in values}) == len(values)
    assert all(":" not in key_part(v) and "{" not in key_part(v) for v in values)
