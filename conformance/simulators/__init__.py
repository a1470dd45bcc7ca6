"""Simulators of the national services a DUI calls; each records what it received for the checks."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.core.registry import Registry


@dataclass(frozen=True)
class Received:
    """One thing a simulator received: a summary that ``match`` filters on, and the raw payload as evidence."""

    summary: dict[str, Any]
    payload: bytes = b""
    media_type: str = "application/octet-stream"
    #: parsed content handed to checks (a dict, a message object…)
    content: Any = None


@dataclass
class Inbox:
    """Thread-safe record of what arrived, with a bounded wait; servers may run in other threads."""

    items: list[Received] = field(default_factory=list)
    _cond: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def put(self, item: Received) -> None:
        """Record an arrival and wake the waiters."""
        with self._cond:
            self.items.append(item)
            self._cond.notify_all()

    async def wait_for(self, predicate: Callable[[Received], bool], timeout: float, start: int = 0) -> Received | None:
        """The first arrival from index ``start`` on that satisfies ``predicate``, or None after ``timeout``."""

        def wait() -> Received | None:
            with self._cond:
                found: list[Received] = []

                def ready() -> bool:
                    found[:] = [i for i in self.items[start:] if predicate(i)][:1]
                    return bool(found)

                self._cond.wait_for(ready, timeout)
                return found[0] if found else None

        return await asyncio.to_thread(wait)


class Simulator:
    """Base of simulators: a real server, started and stopped by the engine, with an inbox."""

    #: registry name used by scenarios (``await: {simulator: …}``)
    name: str = ""

    def __init__(self) -> None:
        self.inbox = Inbox()
        #: loopback port to serve on; 0 picks a free one (a vendor's DUI needs fixed ports: vendor.toml)
        self.port = 0

    async def start(self) -> None:
        """Start serving (on loopback)."""

    async def stop(self) -> None:
        """Stop serving."""

    def endpoints(self) -> dict[str, str]:
        """Where the DUI must send its traffic, by role."""
        return {}

    def unfinished(self) -> list[str]:
        """What the DUI began and has not finished (a message half sent), in French, to explain a wait in vain."""
        return []

    def matches(self, item: Received, match: Mapping[str, Any]) -> bool:
        """True when every key of ``match`` equals the item's summary value."""
        return all(item.summary.get(key) == value for key, value in match.items())


class TokenIssuer(Simulator):
    """A simulator that mints access tokens (Pro Santé Connect): the engine asks it for each request's token."""

    #: names of the deliberately invalid token variants scenarios may ask for (``auth: {token: …}``)
    token_variants: frozenset[str] = frozenset()

    def token_for(self, persona: str, variant: str | None = None) -> str:
        """An access token for ``persona`` (valid, or the named invalid variant)."""
        raise NotImplementedError

    def verify(self, token: str) -> Mapping[str, Any] | None:
        """The claims of a token this issuer signed and that is still valid, else None."""
        raise NotImplementedError


SIMULATORS: Registry[type[Simulator]] = Registry("simulator")


def simulator(cls: type[Simulator]) -> type[Simulator]:
    """Register a simulator class under its ``name``."""
    return SIMULATORS.add(cls.name, cls)
