"""Progress bars for long tool runs (tqdm on stderr, so stdout stays for results and JSON)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def bar(label: str, unit: str = "img") -> Callable[[Iterable[T]], Iterable[T]]:
    """A wrapper that shows a bar labelled ``label`` while an iterable is consumed."""

    def wrap(items: Iterable[T]) -> Iterable[T]:
        listed = list(items)
        progress: Any = tqdm(listed, desc=label, unit=unit, leave=False, mininterval=1.0)
        return progress  # type: ignore[no-any-return]

    return wrap
