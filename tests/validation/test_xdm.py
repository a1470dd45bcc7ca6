"""IHE_XDM.zip reading: caps on entries, sizes, ratio and paths; XDS metadata; the CDA facts the metadata mirror."""

import io
import os
import struct
import tracemalloc
import zipfile

import pytest

from conformance.validation import xdm
from tests.support import mss


def rules(findings) -> set[str]:
    return {f.rule for f in findings}


def test_reference_archive_is_read_and_laid_out_as_xdm():
    archive = xdm.read_zip(mss.xdm_of(mss.message()))
    assert sorted(archive.entries) == ["IHE_XDM/SUBSET01/DOC0001.XML", "IHE_XDM/SUBSET01/METADATA.XML",
                                       "INDEX.HTM", "README.TXT"]
    assert not list(xdm.layout_findings(archive))


def test_missing_files_and_lower_case_names():
    entries = mss.xdm_entries(mss.message())
    del entries["INDEX.HTM"]
    entries["readme.txt"] = entries.pop("README.TXT")
    found = list(xdm.layout_findings(xdm.read_zip(mss.zip_of(entries))))
    assert {(f.rule, f.severity) for f in found} == {("xdm-fichier-absent", "error"), ("xdm-casse", "warning")}
    assert next(f for f in found if f.rule == "xdm-fichier-absent").location == "IHE_XDM.zip › INDEX.HTM"


@pytest.mark.parametrize(("name", "rule"), [
    ("../../etc/passwd", "chemin-remontant"), ("IHE_XDM/../../x.XML", "chemin-remontant"),
    ("/etc/passwd", "chemin-absolu"), ("C:/Windows/x.ini", "chemin-absolu"),
    ("IHE_XDM\\SUBSET01\\A.XML", "chemin-invalide"),
    ("IHE_XDM/SUBSET01/AUTRE.ZIP", "archive-imbriquee"),
])
def test_hostile_paths_are_findings_and_never_read(name, rule, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = xdm.read_zip(mss.zip_of({"README.TXT": b"ok", name: b"PK\x03\x04 secret"}))
    assert rule in rules(archive.findings)
    assert name not in archive.entries and list(archive.entries) == ["README.TXT"]
    assert os.listdir(tmp_path) == []  # nothing extracted anywhere


def test_nested_archive_by_content_and_links_and_encryption():
    inner = mss.zip_of({"A.XML": b"<a/>"})
    archive = xdm.read_zip(mss.zip_of({"IHE_XDM/SUBSET01/DOC.XML": inner}))
    assert rules(archive.findings) == {"archive-imbriquee"} and not archive.entries
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        link = zipfile.ZipInfo("IHE_XDM/SUBSET01/LIEN.XML")
        link.external_attr = (0o120777 << 16)
        zf.writestr(link, "/etc/passwd")
        zf.writestr("IHE_XDM/SUBSET01/SECRET.XML", "x")
    data = bytearray(buffer.getvalue())
    # zipfile never writes encrypted entries: set the "encrypted" flag by hand in the central directory.
    at = data.rfind(b"PK\x01\x02")
    data[at + 8] |= 0x1
    assert rules(xdm.read_zip(bytes(data)).findings) == {"lien-symbolique", "entree-chiffree"}


def test_zip_bomb_is_refused_without_inflating_it():
    bomb = mss.zip_of({"IHE_XDM/SUBSET01/DOC0001.XML": b"\0" * (200 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    tracemalloc.start()
    archive = xdm.read_zip(bomb)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert {f.rule for f in archive.findings} == {"entree-trop-volumineuse"}
    assert peak < 8 * 1024 * 1024
    ratio = xdm.read_zip(mss.zip_of({"A.XML": b"a" * (5 * 1024 * 1024)}))
    assert rules(ratio.findings) == {"bombe-zip"}


def test_entry_lying_about_its_size_is_cut_at_the_cap():
    payload = b"<a>" + b"x" * 300_000 + b"</a>"
    data = bytearray(mss.zip_of({"IHE_XDM/SUBSET01/DOC0001.XML": payload}, zipfile.ZIP_STORED))
    # Patch the central directory's uncompressed size to a small lie (ZIP: offset 24 in the CD header).
    at = data.rfind(b"PK\x01\x02")
    struct.pack_into("<L", data, at + 24, 10)
    archive = xdm.read_zip(bytes(data), limits=xdm.Limits(max_entry_bytes=100_000))
    assert rules(archive.findings) in ({"entree-trop-volumineuse"}, {"entree-illisible"})
    assert not archive.entries


def test_too_many_entries_and_not_a_zip():
    many = mss.zip_of({f"F{i}.TXT": b"x" for i in range(150)})
    archive = xdm.read_zip(many)
    assert rules(archive.findings) == {"zip-trop-d-entrees"} and not archive.readable
    assert rules(xdm.read_zip(b"ceci n'est pas un zip").findings) == {"zip-illisible"}
    corrupted = bytearray(mss.zip_of({"README.TXT": b"contenu assez long pour etre compresse" * 20}))
    corrupted[60] ^= 0xFF
    assert rules(xdm.read_zip(bytes(corrupted)).findings) <= {"entree-illisible", "zip-illisible"}


def test_metadata_of_the_reference_is_complete_and_matches_the_files():
    archive = xdm.read_zip(mss.xdm_of(mss.message()))
    metadata = xdm.parse_metadata(archive.entries[xdm.METADATA_PATH])
    assert not list(xdm.structure_findings(metadata)) and not list(xdm.file_findings(metadata, archive))
    (entry,) = metadata.entries
    assert entry.patient_id == xdm.ins_cx("279035121518989", "1.2.250.1.213.1.4.10") == metadata.set_patient_id
    assert entry.codes["typeCode"][0].code == "74207-2"


def test_hash_size_and_missing_document():
    entries = mss.xdm_entries(mss.message())
    entries["IHE_XDM/SUBSET01/DOC0001.XML"] += b"\n"
    archive = xdm.read_zip(mss.zip_of(entries))
    metadata = xdm.parse_metadata(archive.entries[xdm.METADATA_PATH])
    assert rules(xdm.file_findings(metadata, archive)) == {"hash", "size"}
    del entries["IHE_XDM/SUBSET01/DOC0001.XML"]
    entries["IHE_XDM/SUBSET01/ORPHAN.XML"] = b"<a/>"
    archive = xdm.read_zip(mss.zip_of(entries))
    assert rules(xdm.file_findings(metadata, archive)) == {"document-absent", "document-non-decrit"}


def test_unreadable_or_foreign_metadata():
    assert rules(xdm.parse_metadata(b"<pas-fini").findings) == {"metadata-illisible"}
    assert rules(xdm.parse_metadata(b"<autre/>").findings) == {"metadata-racine"}
    xxe = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]><a>&x;</a>'
    assert rules(xdm.parse_metadata(xxe).findings) == {"metadata-illisible"}
    empty = xdm.parse_metadata(b'<lcm:SubmitObjectsRequest xmlns:lcm="urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"/>')
    assert rules(xdm.structure_findings(empty)) == {"metadata-lot", "metadata-sans-document"}


def test_cda_facts_and_qualified_ins():
    facts = xdm.cda_facts(mss.cda())
    assert facts.code == "74207-2" and facts.ins == ("279035121518989", "1.2.250.1.213.1.4.10")
    assert facts.qualified_ins and facts.traits["birth_date"] == "19790328" and facts.facility
    recovered = xdm.cda_facts(mss.cda(mss.usager(qualified=False)))
    assert recovered.ins is None and not recovered.qualified_ins
    assert xdm.cda_facts(b"<pas-un-cda/>") is None and xdm.cda_facts(b"<<<") is None


def test_cx_and_timestamps():
    assert xdm.parse_cx("279035121518989^^^&1.2.250.1.213.1.4.10&ISO^NH") == (
        "279035121518989", "1.2.250.1.213.1.4.10", "NH")
    assert xdm.parse_cx("279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS") is None
    assert xdm.utc_timestamp("20261124110000+0100") == "20261124100000"
    assert xdm.utc_timestamp("20261124") == "20261124" and xdm.utc_timestamp("2026-11-24") is None
