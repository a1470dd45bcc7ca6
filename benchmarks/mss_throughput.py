"""XDM messages judged per second: every check ``validate message`` runs on the reference DUI's DLU message, and
a few hostile ones (zip bomb, path traversal, 10 MB attachment).

Run: python benchmarks/mss_throughput.py (or under pytest-benchmark: pytest benchmarks/mss_throughput.py).
The per-message parse caches are cleared before each judgement, so a figure is a cold judgement.
"""

import time

from conformance.checks import CheckContext, evaluate, messaging
from conformance.reference.mss_messages import to_bytes
from conformance.session import load_plugins
from tests.support import mss


def judge(raw: bytes) -> int:
    """Run every standalone check on a message, caches cleared; the number of findings."""
    messaging._parse.cache_clear()
    messaging._xdm_content.cache_clear()
    ctx = CheckContext.of_document(raw, "message/rfc822", "message.eml")
    return sum(len(evaluate(name, {}, ctx).findings) for name in messaging.standalone_checks(raw))


def messages() -> dict[str, bytes]:
    raw = mss.message()
    entries = mss.xdm_entries(raw)
    return {
        "DLU du DUI de référence": raw,
        "bombe zip (100 Mo de zéros)": mss.replace_attachment(raw, "IHE_XDM.zip", mss.zip_of(
            {**entries, "IHE_XDM/SUBSET01/DOC0001.XML": b"\0" * (100 * 1024 * 1024)})),
        "chemin sortant (../)": mss.replace_attachment(raw, "IHE_XDM.zip", mss.zip_of(
            {**entries, "../../evil.sh": b"x"})),
        "pièce jointe de 10 Mo": with_attachment(raw, b"%PDF-1.4\n" + bytes(range(256)) * 40_000),
    }


def with_attachment(raw: bytes, data: bytes) -> bytes:
    """``raw`` with one more PDF attached."""
    edited = mss.parse(raw)
    edited.add_attachment(data, maintype="application", subtype="pdf", filename="annexe.pdf")
    return to_bytes(edited)


def rate(raw: bytes, seconds: float = 2.0) -> float:
    judge(raw)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        judge(raw)
        count += 1
    return count / (time.perf_counter() - start)


def test_mss_throughput(benchmark):
    load_plugins()
    benchmark(judge, mss.message())


if __name__ == "__main__":
    load_plugins()
    for name, raw in messages().items():
        print(f"{name} ({len(raw)} octets) : {rate(raw):.1f} messages/s, {judge(raw)} constat(s)")
