"""``Registry``: exact names for everything that varies (models, metrics, corpus formats).

One behaviour for all of them, unlike the reference's token-concatenated class names: a name is looked up
exactly; registering a taken name fails at import, naming both registrants; an unknown name is one
``ConfigError`` listing the known names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from cospeech.errors import ConfigError

T = TypeVar("T")


class Registry(Generic[T]):
    """Name → entry.

    Parameters
    ----------
    what : what an entry is, for messages (``"model"``, ``"metric"``, ``"corpus format"``).
    order : sort key of ``names()`` given ``(name, entry)``; default alphabetical.
    plural : ``what`` in the plural; default ``what + "s"``.
    """

    def __init__(
        self, what: str, *, order: Callable[[str, T], Any] | None = None, plural: str | None = None
    ) -> None:
        self.what = what
        self.order = order
        self.plural = what + "s" if plural is None else plural
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}

    def check_free(self, name: str, origin: object) -> None:
        """Raise ``ConfigError`` naming both registrants if ``name`` is taken (``origin`` would be the
        second)."""
        if name in self._entries:
            raise ConfigError(
                f"{self.what} name {name!r} is registered twice: by {self._origins[name]} and by "
                f"{_qualified(origin)}"
            )

    def add(self, name: str, entry: T, origin: object) -> None:
        """Register ``entry`` as ``name``; ``origin`` (the class or function) is named if it is taken."""
        self.check_free(name, origin)
        self._entries[name] = entry
        self._origins[name] = _qualified(origin)

    def __getitem__(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(self.names())
            raise ConfigError(f"unknown {self.what} {name!r}; known {self.plural}: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def names(self) -> list[str]:
        """Registered names, in ``order``."""
        if self.order is None:
            return sorted(self._entries)
        return sorted(self._entries, key=lambda name: self.order(name, self._entries[name]))

    def entries(self) -> list[T]:
        """Registered entries, in ``order``."""
        return [self._entries[name] for name in self.names()]

    def copy(self) -> Registry[T]:
        """An independent copy (tests register toy entries in one and throw it away)."""
        clone = Registry(self.what, order=self.order, plural=self.plural)
        clone._entries, clone._origins = dict(self._entries), dict(self._origins)
        return clone


def _qualified(origin: object) -> str:
    return f"{origin.__module__}.{origin.__qualname__}"
