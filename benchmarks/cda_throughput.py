"""CDA documents validated per second: parsing alone (the floor), built-in rules, official kit mode.

Corpus: the 94 examples of TestContenuCDA 3.0 and the two TDDUI-CDA examples (../shared/corpus), plus the
reference DUI's DLU and TDDUI-CDA. Run: python benchmarks/cda_throughput.py (or under pytest-benchmark).

Engine choice, measured when the kit mode was written (SaxonC-HE 13.1.1, lxml 6.1.3, 2 vCPU):
- saxonche runs the project's own ISO Schematron → XSLT 2.0 compiler. For the structuration minimale (7,600 lines
  of schematron, 1,789 rules) the generated stylesheet compiles in about 2 s per process and validates the 96
  examples in about 6 s. The same schema compiled the way the ISO skeleton does it (one template per rule,
  every node walked against every rule) took 9 s to compile and 12 s for the 96 examples.
- pyschematron: the only version the package index offers here is 0.1.0, an empty placeholder (no code), so
  there was nothing to measure; saxonche it is.

Figures on the same machine (98 documents, 24.8 MB): safe parse alone about 450 documents/s (115 MB/s), the
floor; built-in rules, parse included, about 225 documents/s (57 MB/s), and 500 to 800 documents/s on the
reference DUI's 8 kB documents; kit mode (XSD + structuration minimale + volet) about 19 documents/s on the
corpus and 35 to 40 documents/s on the reference documents, after about 2 s of compilation per process. The
kit's fixed cost (about 25 ms a document) is the 617 rules of the header template, each a selection and a call.
"""

import time
from pathlib import Path

from conformance.reference.cda_documents import new_version, render
from conformance.reference.store import Usager
from conformance.validation import cda
from conformance.validation.kits import CdaKit
from conformance.validation.xml import parse_xml

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
KIT = CORPUS / "ans-testcontenucda-3.0"
USAGER = Usager(id="u", birth_name="PAT-TROIS", first_given_name="DOMINIQUE", given_names="DOMINIQUE MARIE-LOUISE",
                birth_date="1979-03-28", sex="F", birth_place_cog="51215", local_id="L1",
                ins=("279035121518989", "1.2.250.1.213.1.4.10"), insi_retrieved=True, document_checked=True)


def documents() -> dict[str, bytes]:
    found = {f"référence {kind}": render(USAGER, kind, new_version("u", kind, None)) for kind in ("DLU", "TDDUI-CDA")}
    for path in sorted((KIT / "ExemplesCDA").glob("*.xml")) + sorted((CORPUS / "ans-tddui-cda").glob("*.xml")):
        found[path.name] = path.read_bytes()
    return found


def builtin(data: bytes) -> int:
    root = parse_xml(data)
    findings = cda.structuration_minimale(root) + cda.ins_findings(root)
    findings += [f for part in cda.PARTS for f in cda.part_findings(root, part)]
    return len(findings)


def per_second(label: str, docs: dict[str, bytes], work, rounds: int = 1) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for data in docs.values():
            work(data)
    elapsed = time.perf_counter() - start
    rate = rounds * len(docs) / elapsed
    size = sum(map(len, docs.values())) * rounds / elapsed / 1e6
    print(f"{label:44} {rate:8.1f} documents/s  ({size:5.1f} Mo/s)")
    return rate


def test_builtin_rules(benchmark):
    data = render(USAGER, "DLU", new_version("u", "DLU", None))
    benchmark(builtin, data)


if __name__ == "__main__":
    corpus = documents()
    reference = {k: v for k, v in corpus.items() if k.startswith("référence")}
    print(f"{len(corpus)} documents, {sum(map(len, corpus.values())) / 1e6:.1f} Mo")
    per_second("analyse XML sûre seule (plancher)", corpus, parse_xml, rounds=3)
    per_second("règles intégrées (analyse comprise)", corpus, builtin, rounds=3)
    per_second("règles intégrées, documents du DUI de référence", reference, builtin, rounds=200)
    if KIT.is_dir():
        start = time.perf_counter()
        kit = CdaKit.open(KIT)
        kit.prepare()
        print(f"kit : empreinte et compilation (XSD, structuration minimale, volets DLU) : "
              f"{time.perf_counter() - start:.1f} s")
        roots = {k: parse_xml(v) for k, v in corpus.items()}
        per_second("kit : XSD + structuration minimale + volet", corpus,
                   lambda data: kit.validate(parse_xml(data)))
        per_second("kit, documents du DUI de référence", reference, lambda data: kit.validate(parse_xml(data)),
                   rounds=20)
    else:
        print("kit absent (../shared/corpus) : mode kit non mesuré")
