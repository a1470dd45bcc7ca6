"""Sample MSSanté messages for tests and benchmarks: the reference DUI's composition, then edited at will."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from conformance.reference.cda_documents import Rendering, new_version, render
from conformance.reference.mss_messages import Composition, Reply, document_message, read_cda, to_bytes
from conformance.reference.store import Usager
from conformance.simulators.mssante import APPLICATION_MAILBOX

CORRESPONDENT = "dr.correspondant@hopital-test.mssante.fr"
WHEN = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
PAT_TROIS = {"birth_name": "PAT-TROIS", "first_given_name": "DOMINIQUE", "given_names": "DOMINIQUE MARIE-LOUISE",
             "birth_date": "1979-03-28", "sex": "F", "birth_place_cog": "51215"}


def usager(qualified: bool = True) -> Usager:
    """PAT-TROIS DOMINIQUE, qualified (INS transmitted) or only recovered (no INS in documents)."""
    return Usager(id="usager-1", local_id="IPP-1", ins=("279035121518989", "1.2.250.1.213.1.4.10"),
                  insi_retrieved=True, document_checked=qualified, **PAT_TROIS)


def cda(person: Usager | None = None, kind: str = "DLU", **rendering: object) -> bytes:
    """A CDA of the reference DUI for ``person``."""
    return render(person or usager(), kind, new_version("usager-1", kind, None), Rendering(**rendering), WHEN)  # type: ignore[arg-type]


def message(person: Usager | None = None, *, to: str = CORRESPONDENT, to_patient: bool = False,
            reply: Reply | None = None, document: bytes | None = None, **how: object) -> bytes:
    """A document message as the reference DUI sends it (``how``: Composition switches)."""
    document = document or cda(person)
    header = read_cda(document)
    assert header is not None
    built = document_message(header, document, sender=APPLICATION_MAILBOX, to=to, to_patient=to_patient,
                             reply=reply, now=WHEN, how=Composition(**how))  # type: ignore[arg-type]
    return to_bytes(built)


def parse(raw: bytes) -> EmailMessage:
    """A message as an EmailMessage, to edit it."""
    parsed = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(parsed, EmailMessage)
    return parsed


def replace_attachment(raw: bytes, filename: str, data: bytes) -> bytes:
    """``raw`` with the attachment named ``filename`` replaced by ``data``."""
    edited = parse(raw)
    for part in edited.walk():
        if part.get_filename() == filename:
            part.set_content(data, maintype="application", subtype=part.get_content_subtype(), filename=filename)
    return to_bytes(edited)


def xdm_of(raw: bytes) -> bytes:
    """The IHE_XDM.zip attachment's bytes."""
    for part in parse(raw).walk():
        if part.get_filename() == "IHE_XDM.zip":
            data = part.get_payload(decode=True)
            assert isinstance(data, bytes)
            return data
    raise AssertionError("no IHE_XDM.zip")


def zip_of(entries: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip of ``entries`` (names taken as given, even hostile ones)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 11, 24, 10, 0, 0)), data,
                             compress_type=compression)
    return buffer.getvalue()


def xdm_entries(raw: bytes) -> dict[str, bytes]:
    """The entries of a message's IHE_XDM.zip."""
    with zipfile.ZipFile(io.BytesIO(xdm_of(raw))) as archive:
        return {name: archive.read(name) for name in archive.namelist()}
