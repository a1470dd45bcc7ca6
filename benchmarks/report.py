"""Every figure of BENCHMARKS.md from one run, each next to its floor or baseline measured in the same run.

Run: python benchmarks/report.py [--write BENCHMARKS.md]. Without --write it prints the table; with it, it replaces
the table between the markers of BENCHMARKS.md. The official corpus (../shared/corpus) is needed for the CDA kit
and the TDDUI examples; without it those rows say so.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fhir.resources.R4B import get_fhir_model_class

from benchmarks import cda_throughput, fhir_throughput, mss_throughput
from benchmarks.campaign import campaign
from benchmarks.suite_time import one_run
from conformance.session import load_plugins, load_suite
from conformance.validation import cda, mime, xdm
from conformance.validation.fhir import FhirValidator
from conformance.validation.kits import CdaKit
from conformance.validation.xml import parse_xml

START, END = "<!-- figures:start -->", "<!-- figures:end -->"
Row = tuple[str, str, str, str, str]


def rate(items: list[Any], work: Callable[[Any], object], seconds: float = 3.0) -> float:
    """Items per second, cycling over ``items`` for about ``seconds``."""
    for item in items:
        work(item)
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for item in items:
            work(item)
        done += len(items)
    return done / (time.perf_counter() - started)


def verdict(value: float, target: float, lower_is_better: bool = False) -> str:
    met = value <= target if lower_is_better else value >= target
    return "oui" if met else "**non**"


def suite_rows() -> list[Row]:
    one_run(False)  # imports and caches warm
    started = time.perf_counter()
    load_suite()
    loading = time.perf_counter() - started
    inproc = statistics.median(one_run(False) for _ in range(3))
    loop = statistics.median(one_run(True) for _ in range(3))
    return [
        ("Suite par défaut complète, DUI de référence en processus", f"{inproc:.1f} s",
         f"chargement de la suite seul : {loading:.2f} s", "≤ 10 s", verdict(inproc, 10, True)),
        ("Suite par défaut complète, DUI de référence sur boucle locale", f"{loop:.1f} s",
         f"même suite en processus : {inproc:.1f} s", "—", "—"),
    ]


def cda_rows() -> list[Row]:
    docs = cda_throughput.documents()
    corpus = [v for k, v in docs.items() if not k.startswith("référence")]
    label = f"{len(corpus)} exemples officiels" if corpus else "documents du DUI de référence (corpus absent)"
    items = corpus or list(docs.values())
    floor = rate(items, parse_xml)
    builtin = rate(items, cda_throughput.builtin)
    rows: list[Row] = [(f"CDA, règles intégrées ({label})", f"{builtin:.0f} documents/s",
                        f"analyse XML sûre seule : {floor:.0f} documents/s", "≥ 250 documents/s",
                        verdict(builtin, 250))]
    if not cda_throughput.KIT.is_dir():
        return [*rows, ("CDA, mode kit", "non mesuré", "kit TestContenuCDA absent", "≥ 30 documents/s", "—")]
    kit = CdaKit.open(cda_throughput.KIT)
    started = time.perf_counter()
    kit.prepare()
    compile_time = time.perf_counter() - started
    schema = kit.xsd()
    lxml_xsd = rate(items, lambda data: schema.validate(cda.clinical_document(parse_xml(data)).getroottree()))
    kit_rate = rate(items, lambda data: kit.validate(parse_xml(data), volet=False))
    with_volet = rate(items, lambda data: kit.validate(parse_xml(data)))
    return [*rows, (f"CDA, mode kit : XSD + structuration minimale ({label}), compilé une fois "
                     f"({compile_time:.1f} s)", f"{kit_rate:.0f} documents/s",
                     f"analyse lxml + XSD seules : {lxml_xsd:.0f} documents/s", "≥ 30 documents/s",
                     verdict(kit_rate, 30)),
            (f"CDA, mode kit avec le schématron du volet de chaque document ({label})",
             f"{with_volet:.0f} documents/s", f"sans le volet : {kit_rate:.0f} documents/s", "—", "—")]


def fhir_rows() -> list[Row]:
    validator = FhirValidator()
    rows: list[Row] = []
    for name, bundle in fhir_throughput.bundles().items():
        text = json.dumps(bundle).encode()
        full = rate([text], lambda data: validator.validate(json.loads(data)))
        parse = rate([text], json.loads)
        structure = rate([text], lambda data: _models(json.loads(data)))
        rows.append((f"FHIR TDDUI, Bundle « {name} » ({len(bundle.get('entry', []))} entrées, {len(text)} octets)",
                     f"{full:.0f} Bundles/s", f"JSON seul : {parse:.0f}/s ; modèles fhir.resources seuls : "
                                                f"{structure:.0f}/s", "≥ 300 Bundles/s", verdict(full, 300)))
    return rows


def _models(bundle: dict[str, Any]) -> None:
    """The fhir.resources (R4B) models of a Bundle and its resources, nothing else: the base-spec floor."""
    for entry in bundle.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    get_fhir_model_class("Bundle").model_validate({**bundle, "entry": [{"fullUrl": e.get("fullUrl")}
                                                                        for e in bundle.get("entry", [])]})


def mss_rows() -> list[Row]:
    load_plugins()
    rows: list[Row] = []
    for name, raw in mss_throughput.messages().items():
        judged = rate([raw], mss_throughput.judge)

        def read(data: bytes) -> None:
            parsed = mime.parse_message(data)
            for part in parsed.attachments("application/zip"):
                xdm.read_zip(part.payload())

        floor = rate([raw], read)
        # The target is for ordinary messages; a 14 MB attachment is there to show the cost grows with size only.
        ordinary = len(raw) < 1024 * 1024
        rows.append((f"MSSanté, message « {name} » ({len(raw)} octets)", f"{judged:.0f} messages/s",
                     f"MIME + lecture de l'archive seules : {floor:.0f}/s", "≥ 100 messages/s" if ordinary else "—",
                     verdict(judged, 100) if ordinary else "—"))
    return rows


def campaign_rows() -> list[Row]:
    rows: list[Row] = []
    base, base_cpu = campaign(1)
    cores = os.cpu_count() or 1
    for n in (1, 5, 20):
        wall, cpu = (base, base_cpu) if n == 1 else campaign(n)
        rows.append((f"Campagne : {n} DUI de référence en parallèle (un processus chacun)", f"{wall:.1f} s "
                     f"({wall / base:.1f} × une cible)", f"CPU consommé / {cores} cœurs : {cpu / cores:.1f} s",
                     "20 cibles ≤ 2 × une" if n == 20 else "—",
                     verdict(wall / base, 2, True) if n == 20 else "—"))
    return rows


def table(rows: list[Row]) -> str:
    head = "| Mesure | Résultat | Plancher ou base (même exécution) | Cible | Atteinte |\n|---|---|---|---|---|\n"
    machine = (f"Mesuré le {date.today().isoformat()} sur {platform.machine()}, {os.cpu_count()} cœurs, "
               f"Python {platform.python_version()}, par `python benchmarks/report.py --write BENCHMARKS.md`.\n\n")
    return machine + head + "".join(f"| {' | '.join(row)} |\n" for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--write", type=Path, help="replace the figures of this file (BENCHMARKS.md)")
    args = parser.parse_args()
    rows = suite_rows() + cda_rows() + fhir_rows() + mss_rows() + campaign_rows()
    text = table(rows)
    if args.write is None:
        print(text)
        return
    content = args.write.read_text(encoding="utf-8")
    before, _, rest = content.partition(START)
    _, _, after = rest.partition(END)
    args.write.write_text(f"{before}{START}\n{text}{END}{after}", encoding="utf-8")


if __name__ == "__main__":
    main()
