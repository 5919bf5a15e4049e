"""The request path's bounded memos: what ``collect()`` would otherwise work out anew for every
frame of a shape it has seen (see ``bench/request_path.py`` for what each one saves)."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["remember"]

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


def remember(cache: dict[_Key, _Value], key: _Key, value: _Value, limit: int) -> _Value:
    """Keep ``value`` under ``key`` in ``cache``, emptied first once it holds ``limit`` entries
    (the memos stay small whatever the caller sends); ``value``."""
    if len(cache) >= limit:
        cache.clear()
    cache[key] = value
    return value
