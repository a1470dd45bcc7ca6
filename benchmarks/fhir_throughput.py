"""FHIR Bundles validated per second: the IG's example Bundles and the reference DUI's export.

Run: python benchmarks/fhir_throughput.py (or under pytest-benchmark: pytest benchmarks/fhir_throughput.py).
"""

import json
import time
from pathlib import Path

from conformance.reference.store import Usager
from conformance.reference.tddui_bundle import export_bundle
from conformance.validation.fhir import FhirValidator

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "ans-tddui-fhir"
USAGER = Usager(id="u", birth_name="PAT-TROIS", first_given_name="DOMINIQUE", given_names="DOMINIQUE MARIE-LOUISE",
                birth_date="1979-03-28", sex="F", birth_place_cog="51215", local_id="L1",
                ins=("279035121518989", "1.2.250.1.213.1.4.10"), insi_retrieved=True, document_checked=True)


def bundles() -> dict[str, dict]:
    found = {"export du DUI de référence": export_bundle(USAGER)}
    for path in sorted(CORPUS.glob("Bundle-*.json")):
        found[path.name] = json.loads(path.read_text(encoding="utf-8-sig"))
    return found


def rate(validator: FhirValidator, bundle: dict, seconds: float = 2.0) -> float:
    validator.validate(bundle)
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        validator.validate(bundle)
        count += 1
    return count / (time.perf_counter() - start)


def test_fhir_throughput(benchmark):
    validator = FhirValidator()
    bundle = next(iter(bundles().values()))
    benchmark(validator.validate, bundle)


if __name__ == "__main__":
    start = time.perf_counter()
    validator = FhirValidator()
    print(f"chargement des profils et compilation FHIRPath : {(time.perf_counter() - start) * 1000:.0f} ms")
    for name, bundle in bundles().items():
        size = len(json.dumps(bundle))
        entries = len(bundle.get("entry", []))
        print(f"{name} ({entries} entrées, {size} octets) : {rate(validator, bundle):.0f} Bundles/s")
