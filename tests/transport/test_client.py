"""The vendor transport against hostile servers: it never raises, caps size and time, keeps credentials home.

Every server is a loopback thread from ``tests/support/servers.py``; timeouts are short so that a failure to
time out shows as a test that fails with the wrong error, never as a hung suite.
"""

import asyncio
import gzip
import json
import socket
import ssl
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from conformance.core.exchange import REDACTED, Exchange
from conformance.transport.client import TargetSettings, VendorClient
from tests.support.servers import Server, big_body, head, reset_mid_body, respond, silent, trickle, unused_port

CAP = 1000
#: generous bound on what one exchange may allocate with a 1 000-byte cap (the network and inflate chunks)
MEMORY_BOUND = 8 * 1024 * 1024
TOKEN = "s3cr3t-jeton-du-vendeur"


def settings(url: str, **overrides: Any) -> TargetSettings:
    """Target settings with short timeouts: connect 1 s, read 1 s, whole exchange 2 s."""
    values: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "total_timeout": 2.0, **overrides}
    return TargetSettings(base_url=url, **values)


def exchange(target: TargetSettings, path: str = "/fhir/metadata", *, method: str = "GET", app: Any = None,
             **kwargs: Any) -> Exchange:
    """One ``send`` through a fresh client; an exception escaping it fails the test."""

    async def go() -> Exchange:
        client = VendorClient(target, app=app)
        try:
            url = path if "://" in path else client.url("root", path)
            return await client.send(method, url, **kwargs)
        finally:
            await client.aclose()

    return asyncio.run(go())


def with_peak_memory(call: Callable[[], Exchange]) -> tuple[Exchange, int]:
    """The exchange and the most memory Python held while it ran (server threads included)."""
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def gzipped(chunks: Iterator[bytes] | list[bytes]) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    return b"".join([*(compressor.compress(c) for c in chunks), compressor.flush()])


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    """Start loopback servers; all are stopped after the test."""
    started: list[Server] = []

    def start(handler: Any, **kwargs: Any) -> Server:
        server = Server(handler, **kwargs)
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    """About 100 KB of gzip that inflates to 100 MB of zeros."""
    zeros = bytes(1024 * 1024)
    return gzipped(zeros for _ in range(100))


# 1. unreachable, 2. hung, 3. trickling


def test_unreachable_port_is_a_connection_error() -> None:
    result = exchange(settings(f"http://127.0.0.1:{unused_port()}"))
    assert result.response is None
    assert result.error is not None
    assert "connexion impossible" in result.error


def test_server_that_never_answers_times_out(serve: Callable[..., Server]) -> None:
    server = serve(silent)
    result = exchange(settings(server.url))
    assert result.response is None
    assert result.error is not None
    assert "délai" in result.error
    assert server.requests, "the request reached the server before it went silent"


def test_trickling_body_hits_the_total_timeout(serve: Callable[..., Server]) -> None:
    # One byte every 0.2 s never trips the 1 s read timeout: only the 2 s cap on the whole exchange stops it.
    server = serve(trickle(length=1000, interval=0.2))
    result = exchange(settings(server.url))
    assert result.response is None
    assert result.error is not None
    assert "délai total" in result.error


def test_silent_server_within_total_timeout_when_read_timeout_is_longer(serve: Callable[..., Server]) -> None:
    server = serve(silent)
    result = exchange(settings(server.url, read_timeout=30.0, total_timeout=1.0))
    assert result.error is not None
    assert "délai total" in result.error


# 4. size cap


def test_large_body_is_truncated_at_the_cap(serve: Callable[..., Server]) -> None:
    server = serve(big_body(10 * 1024 * 1024))
    result, peak = with_peak_memory(lambda: exchange(settings(server.url, max_body_bytes=CAP)))
    assert result.error is None
    assert result.response is not None
    assert result.response.status == 200
    assert result.response.truncated
    assert result.response.body == b"a" * CAP
    assert peak < MEMORY_BOUND


def test_endless_body_stops_being_read_at_the_cap(serve: Callable[..., Server]) -> None:
    # No Content-Length, never ends: the exchange can only finish if the client stops reading and hangs up.
    server = serve(big_body(None))
    result, peak = with_peak_memory(lambda: exchange(settings(server.url, max_body_bytes=CAP)))
    assert result.response is not None
    assert result.response.truncated
    assert len(result.response.body) == CAP
    assert peak < MEMORY_BOUND
    assert server.client_went_away.wait(5), "the client closed the connection instead of draining the body"


def test_body_exactly_at_the_cap_is_not_truncated(serve: Callable[..., Server]) -> None:
    server = serve(respond(200, [("Content-Type", "text/plain")], b"b" * CAP))
    result = exchange(settings(server.url, max_body_bytes=CAP))
    assert result.response is not None
    assert result.response.body == b"b" * CAP
    assert not result.response.truncated


# 5. compression bombs and content codings


def test_gzip_bomb_is_truncated_with_bounded_memory(serve: Callable[..., Server], gzip_bomb: bytes) -> None:
    server = serve(respond(200, [("Content-Type", "application/fhir+json"), ("Content-Encoding", "gzip")],
                           gzip_bomb))
    result, peak = with_peak_memory(lambda: exchange(settings(server.url, max_body_bytes=CAP)))
    assert result.error is None
    assert result.response is not None
    assert result.response.truncated
    assert result.response.body == bytes(CAP)
    assert peak < MEMORY_BOUND


def test_stacked_gzip_bomb_is_truncated_with_bounded_memory(serve: Callable[..., Server], gzip_bomb: bytes) -> None:
    # "gzip, gzip": a few hundred bytes on the wire; inflating a whole layer at once would need 100 MB.
    double = gzip.compress(gzip_bomb)
    server = serve(respond(200, [("Content-Encoding", "gzip, gzip")], double))
    result, peak = with_peak_memory(lambda: exchange(settings(server.url, max_body_bytes=CAP)))
    assert result.response is not None
    assert result.response.truncated
    assert result.response.body == bytes(CAP)
    assert peak < MEMORY_BOUND


@pytest.mark.parametrize(("coding", "encode"), [
    ("gzip", gzip.compress),
    ("x-gzip", gzip.compress),
    ("deflate", zlib.compress),
    ("deflate", lambda data: zlib.compress(data)[2:-4]),  # raw deflate, as some servers send
    ("identity", lambda data: data),
    ("gzip, deflate", lambda data: zlib.compress(gzip.compress(data))),
], ids=["gzip", "x-gzip", "deflate", "raw-deflate", "identity", "stacked"])
def test_content_codings_are_decoded(serve: Callable[..., Server], coding: str,
                                     encode: Callable[[bytes], bytes]) -> None:
    payload = json.dumps({"resourceType": "Patient", "name": "é" * 5000}).encode("utf-8")
    server = serve(respond(200, [("Content-Encoding", coding)], encode(payload)))
    result = exchange(settings(server.url))
    assert result.response is not None
    assert result.response.body == payload
    assert not result.response.truncated


def test_unknown_coding_leaves_the_body_as_received(serve: Callable[..., Server]) -> None:
    server = serve(respond(200, [("Content-Encoding", "br")], b"\x8b\x02\x80not really brotli"))
    result = exchange(settings(server.url))
    assert result.response is not None
    assert result.response.body == b"\x8b\x02\x80not really brotli"


def test_corrupt_gzip_is_an_error_not_an_exception(serve: Callable[..., Server]) -> None:
    server = serve(respond(200, [("Content-Encoding", "gzip")], b"\x1f\x8b\x08\x00garbage that is not deflate"))
    result = exchange(settings(server.url))
    assert result.response is None
    assert result.error is not None
    assert "compressé" in result.error


def test_accepted_codings_are_only_those_decoded(serve: Callable[..., Server]) -> None:
    server = serve(respond(200))
    exchange(settings(server.url))
    assert b"accept-encoding: gzip, deflate\r\n" in server.requests[0].lower()


# 6. broken connections and broken HTTP


def test_connection_reset_mid_body_is_an_error(serve: Callable[..., Server]) -> None:
    server = serve(reset_mid_body)
    result = exchange(settings(server.url))
    assert result.response is None
    assert result.error is not None
    assert "connexion" in result.error


def test_connection_closed_before_the_announced_length_is_an_error(serve: Callable[..., Server]) -> None:
    def short(conn: socket.socket, srv: Server) -> None:
        srv.read_request(conn)
        conn.sendall(head(200, [("Content-Length", "5000")]) + b"{" * 100)
        conn.shutdown(socket.SHUT_WR)

    result = exchange(settings(serve(short).url))
    assert result.response is None
    assert result.error is not None
    assert "connexion coupée" in result.error


@pytest.mark.parametrize("answer", [
    b"",  # hangs up without a word
    b"HELLO THERE\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -3\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nX-Endless: " + b"a" * 2_000_000,  # a header that never ends
], ids=["closed", "not-http", "negative-length", "endless-header"])
def test_broken_http_is_an_error(serve: Callable[..., Server], answer: bytes) -> None:
    def broken(conn: socket.socket, srv: Server) -> None:
        srv.read_request(conn)
        conn.sendall(answer)
        conn.shutdown(socket.SHUT_WR)
        srv.read_request(conn)  # until the client hangs up

    result = exchange(settings(serve(broken).url))
    assert result.response is None
    assert result.error is not None


# 7. redirects and other origins


@pytest.fixture
def elsewhere(serve: Callable[..., Server]) -> Server:
    """Another host that must never hear from the harness (127.0.0.2 where loopback allows it)."""
    try:
        return serve(respond(200, [], b"stolen"), host="127.0.0.2")
    except OSError:
        return serve(respond(200, [], b"stolen"))


def test_redirect_is_recorded_not_followed(serve: Callable[..., Server], elsewhere: Server) -> None:
    location = f"{elsewhere.url}/steal"
    target = serve(respond(302, [("Location", location)]))
    result = exchange(settings(target.url, headers={"Authorization": f"Bearer {TOKEN}"}))
    assert result.error is None
    assert result.response is not None
    assert result.response.status == 302
    assert result.response.header("location") == location
    assert elsewhere.connections == 0
    assert elsewhere.requests == []


@pytest.mark.parametrize("make_url", [
    lambda target, other: f"{other.url}/fhir/metadata",
    lambda target, other: f"http://{target.host}:{other.port}/fhir/metadata",  # same host, other port
    lambda target, other: f"https://{target.host}:{target.port}/fhir/metadata",  # other scheme
    lambda target, other: f"http://{target.host}:{target.port}@{other.host}:{other.port}/",  # userinfo trick
], ids=["other-host", "other-port", "other-scheme", "userinfo"])
def test_other_origin_is_refused_and_nothing_is_sent(serve: Callable[..., Server], elsewhere: Server,
                                                     make_url: Callable[[Server, Server], str]) -> None:
    target = serve(respond(200))
    url = make_url(target, elsewhere)
    result = exchange(settings(target.url, headers={"Authorization": f"Bearer {TOKEN}"}), url)
    assert result.response is None
    assert result.error is not None
    assert "hors de la cible" in result.error
    assert elsewhere.connections == 0
    assert target.connections == 0


def test_same_origin_absolute_url_is_allowed(serve: Callable[..., Server]) -> None:
    target = serve(respond(200, [], b"ok"))
    result = exchange(settings(target.url), f"http://{target.host}:{target.port}/fhir/metadata")
    assert result.response is not None
    assert result.response.status == 200


@pytest.mark.parametrize(("path", "headers"), [
    ("/fhir/Patient/a\x00b", {}),  # an id captured from the target's answer, replayed in a path
    ("/fhir/Patient/1", {"If-Match": 'W/"é"'}),  # an ETag captured and replayed in a header
], ids=["control-character-in-url", "non-ascii-header"])
def test_invalid_request_from_a_captured_value_is_an_error(serve: Callable[..., Server], path: str,
                                                           headers: dict[str, str]) -> None:
    target = serve(respond(200))
    result = exchange(settings(target.url), path, headers=headers)
    assert result.response is None
    assert result.error is not None
    assert target.connections == 0


# 8. TLS


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def pki(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The CA bundle and a client certificate and key it issued, as files."""
    folder = tmp_path_factory.mktemp("pki")
    client = ca.issue_cert("client.dui-conformance.test")
    paths = {"ca": folder / "ca.pem", "cert": folder / "client.pem", "key": folder / "client.key"}
    ca.cert_pem.write_to_path(str(paths["ca"]))
    client.cert_chain_pems[0].write_to_path(str(paths["cert"]))
    client.private_key_pem.write_to_path(str(paths["key"]))
    return {name: str(path) for name, path in paths.items()}


def server_tls(ca: trustme.CA, hostname: str = "127.0.0.1", *, client_ca: trustme.CA | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(context)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        client_ca.configure_trust(context)
    return context


def test_tls_certificate_for_another_hostname_is_refused(serve: Callable[..., Server], ca: trustme.CA,
                                                         pki: dict[str, str]) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca, "autre-dui.example"))
    result = exchange(settings(server.url, verify=pki["ca"], headers={"Authorization": f"Bearer {TOKEN}"}))
    assert result.response is None
    assert result.error is not None
    assert "TLS" in result.error
    assert server.requests == []


def test_tls_untrusted_ca_is_refused_with_system_trust(serve: Callable[..., Server], ca: trustme.CA) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca))
    result = exchange(settings(server.url))
    assert result.response is None
    assert result.error is not None
    assert "TLS" in result.error
    assert server.requests == []


def test_tls_with_the_ca_bundle_succeeds(serve: Callable[..., Server], ca: trustme.CA,
                                         pki: dict[str, str]) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca))
    result = exchange(settings(server.url, verify=pki["ca"]))
    assert result.error is None
    assert result.response is not None
    assert (result.response.status, result.response.body) == (200, b"ok")


def test_tls_without_verification_accepts_any_certificate(serve: Callable[..., Server], ca: trustme.CA) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca, "autre-dui.example"))
    result = exchange(settings(server.url, verify=False))
    assert result.response is not None
    assert result.response.status == 200


def test_mtls_without_client_certificate_is_an_error(serve: Callable[..., Server], ca: trustme.CA,
                                                     pki: dict[str, str]) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca, client_ca=ca))
    result = exchange(settings(server.url, verify=pki["ca"]))
    assert result.response is None
    assert result.error is not None
    assert "TLS" in result.error
    assert server.requests == []


def test_mtls_with_client_certificate_succeeds(serve: Callable[..., Server], ca: trustme.CA,
                                               pki: dict[str, str]) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca, client_ca=ca))
    result = exchange(settings(server.url, verify=pki["ca"], client_cert=(pki["cert"], pki["key"])))
    assert result.error is None
    assert result.response is not None
    assert (result.response.status, result.response.body) == (200, b"ok")


def test_mtls_with_unverified_server_still_sends_the_client_certificate(
        serve: Callable[..., Server], ca: trustme.CA, pki: dict[str, str]) -> None:
    server = serve(respond(200, [], b"ok"), tls=server_tls(ca, client_ca=ca))
    result = exchange(settings(server.url, verify=False, client_cert=(pki["cert"], pki["key"])))
    assert result.response is not None
    assert result.response.status == 200


# 9. credentials


def test_authorization_goes_to_the_target_and_is_redacted_in_evidence(serve: Callable[..., Server]) -> None:
    # A hostile target echoing the token back: it is scrubbed from the response too.
    server = serve(respond(200, [("Content-Type", "application/json"), ("X-Echo", TOKEN)],
                           json.dumps({"echo": f"Bearer {TOKEN}"}).encode()))
    target = settings(server.url, headers={"Authorization": f"Bearer {TOKEN}"}, secrets=(TOKEN,))
    result = exchange(target)
    assert f"authorization: bearer {TOKEN}".lower().encode() in server.requests[0].lower()
    evidence = result.to_evidence(secrets=target.secrets)
    assert TOKEN not in json.dumps(evidence, ensure_ascii=False)
    assert ["authorization", REDACTED] in [[k.lower(), v] for k, v in evidence["request"]["headers"]]


def test_scenario_headers_are_sent_along_with_the_configured_ones(serve: Callable[..., Server]) -> None:
    server = serve(respond(200))
    exchange(settings(server.url, headers={"X-Api-Key": TOKEN}), headers={"Accept": "application/fhir+json"},
             params={"_format": "json"})
    sent = server.requests[0].lower()
    assert f"x-api-key: {TOKEN}".lower().encode() in sent
    assert b"accept: application/fhir+json" in sent
    assert b"get /fhir/metadata?_format=json " in sent


# 10. in-process application


async def _exploding_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise RuntimeError("bug in the application")


async def _echo_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    request = await receive()
    await send({"type": "http.response.start", "status": 201, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": scope["path"].encode() + b" " + request.get("body", b"")})


def test_in_process_app_exception_is_a_500() -> None:
    result = exchange(settings("http://dui.test"), app=_exploding_app)
    assert result.error is None
    assert result.response is not None
    assert result.response.status == 500


def test_in_process_app_answers() -> None:
    result = exchange(settings("http://dui.test"), method="POST", app=_echo_app, json_body={"a": "é"})
    assert result.response is not None
    assert result.response.status == 201
    assert result.response.body == '/fhir/metadata {"a": "é"}'.encode()


# 11. what the transport leaves alone


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/fhir+json; charset=utf-8", b'{"resourceType": "Patient", "name": "\xe9\xff\xfe"}'),
    ("text/html", b'{"resourceType": "OperationOutcome"}'),
    ("application/json", b"<html>not json</html>"),
    ("image/png; charset=klingon", b"\x80\x81\x82 \x00"),
])
def test_body_comes_back_unchanged(serve: Callable[..., Server], content_type: str, body: bytes) -> None:
    server = serve(respond(200, [("Content-Type", content_type)], body))
    result = exchange(settings(server.url))
    assert result.error is None
    assert result.response is not None
    assert result.response.body == body
    assert result.response.header("content-type") == content_type
    json.dumps(result.to_evidence())  # invalid UTF-8 is still evidence (base64)


# running stays in the caller's hands


def test_cancellation_is_not_swallowed(serve: Callable[..., Server]) -> None:
    # An interrupted run cancels the step: send() must let the cancellation through, not record an error.
    server = serve(silent)

    async def go() -> None:
        client = VendorClient(settings(server.url, read_timeout=30.0, total_timeout=30.0))
        try:
            task = asyncio.ensure_future(client.send("GET", client.url("fhir", "metadata")))
            while not server.requests:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        finally:
            await client.aclose()

    asyncio.run(asyncio.wait_for(go(), 10))


def test_client_is_reusable_after_failures(serve: Callable[..., Server]) -> None:
    def flaky(conn: socket.socket, srv: Server) -> None:
        first = srv.connections == 1
        (reset_mid_body if first else respond(200, [], b"ok"))(conn, srv)

    server = serve(flaky)

    async def go() -> list[Exchange]:
        client = VendorClient(settings(server.url))
        try:
            return [await client.send("GET", client.url("fhir", "metadata")) for _ in range(2)]
        finally:
            await client.aclose()

    reset, ok = asyncio.run(go())
    assert reset.error is not None
    assert ok.response is not None
    assert (ok.response.status, ok.response.body) == (200, b"ok")
