"""Starting a simulator for a test module, outside any run."""

import asyncio
from collections.abc import Iterator

from conformance.simulators import Simulator


def started(simulator: Simulator) -> Iterator[Simulator]:
    """Serve ``simulator`` on loopback for the duration of a fixture, on a loop of its own."""
    loop = asyncio.new_event_loop()
    loop.run_until_complete(simulator.start())
    try:
        yield simulator
    finally:
        loop.run_until_complete(simulator.stop())
        loop.close()
