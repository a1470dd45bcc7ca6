"""Talking to the DUI under test: over the network with caps, or in-process through ASGI."""

from conformance.transport.client import TargetSettings, VendorClient

__all__ = ["TargetSettings", "VendorClient"]
