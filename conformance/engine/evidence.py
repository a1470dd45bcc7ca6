"""Numbered evidence (preuves) written to the run folder as it is produced, with secrets removed."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from conformance.core.exchange import Exchange
from conformance.core.results import EvidenceRef

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


class EvidenceStore:
    """Stores each proof as ``evidence/<scenario>/<step>-<n>.<ext>`` and returns its reference."""

    def __init__(self, run_dir: Path | None, secrets: tuple[str, ...] = ()) -> None:
        self.run_dir = run_dir
        self.secrets = secrets
        self._counters: dict[tuple[str, str], int] = defaultdict(int)

    def add_secret(self, value: str) -> None:
        """Scrub ``value`` (a token minted during the run) from every later piece of evidence."""
        if value not in self.secrets:
            self.secrets = (*self.secrets, value)

    def _next(self, scenario_id: str, step_id: str, suffix: str) -> tuple[str, str]:
        self._counters[scenario_id, step_id] += 1
        n = self._counters[scenario_id, step_id]
        proof_id = f"{scenario_id}/{step_id}/{n}"
        rel = f"evidence/{_SAFE.sub('_', scenario_id)}/{_SAFE.sub('_', step_id)}-{n}{suffix}"
        return proof_id, rel

    def _write(self, rel: str, data: bytes) -> None:
        if self.run_dir is None:
            return
        target = self.run_dir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def exchange(self, scenario_id: str, step_id: str, exchange: Exchange) -> EvidenceRef:
        """Store an HTTP exchange."""
        proof_id, rel = self._next(scenario_id, step_id, ".json")
        payload = exchange.to_evidence(self.secrets)
        self._write(rel, json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8"))
        status = exchange.response.status if exchange.response else f"échec ({exchange.error})"
        path = exchange.request.url.split("://", 1)[-1].split("/", 1)[-1]
        return EvidenceRef(id=proof_id, kind="http", path=rel,
                           summary=f"{exchange.request.method} /{path} → {status}")

    def record(self, scenario_id: str, step_id: str, kind: str, summary: str, data: Any, suffix: str) -> EvidenceRef:
        """Store anything else: a simulator capture, an attestation."""
        proof_id, rel = self._next(scenario_id, step_id, suffix)
        if isinstance(data, bytes):
            raw = data
        else:
            raw = json.dumps(data, ensure_ascii=False, indent=2).encode("utf-8")
        for secret in self.secrets:
            raw = raw.replace(secret.encode("utf-8"), "[masqué]".encode())
        self._write(rel, raw)
        return EvidenceRef(id=proof_id, kind=kind, path=rel, summary=summary)
