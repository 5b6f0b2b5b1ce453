"""A stand-in for the fronting website: a TLS server on 127.0.0.1 with a self-signed
certificate for the domain, recording every raw byte each connection sends, so tests can
check that a refused client reached it with exactly the bytes it sent.

Like a web server on port 443 it answers a TLS client's HTTP request; bytes that are not TLS
end the TLS attempt (the server sends whatever alert OpenSSL produces), but the connection is
still read to its end and recorded.
"""
import datetime
import os
import socket
import ssl
import threading
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

BODY = b"the fronting site"
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
            % len(BODY)) + BODY
CONNECTION_DEADLINE = 60.0
IDLE_AFTER_FAILURE = 3.0


def make_certificate(directory, domain):
    """A self-signed certificate for `domain`; returns (certificate path, key path)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(domain)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certificate_path = os.path.join(directory, "site.crt")
    key_path = os.path.join(directory, "site.key")
    with open(certificate_path, "wb") as file:
        file.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as file:
        file.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    return certificate_path, key_path


class SiteConnection:
    def __init__(self, peer):
        self.peer = peer
        self.received = bytearray()
        self.tls_established = False
        self.answered = False
        self.eof = False
        self.finished = threading.Event()

    def __repr__(self):
        return (f"SiteConnection({len(self.received)} bytes, tls={self.tls_established}, "
                f"answered={self.answered}, eof={self.eof})")


class FrontingSite:
    def __init__(self, workdir, domain):
        self.certificate, self.key = make_certificate(workdir, domain)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(self.certificate, self.key)
        self.connections = []
        self._lock = threading.Lock()
        self._stopping = False
        self._listener = None
        self.host, self.port = "127.0.0.1", 0

    def start(self):
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, 0))
        self._listener.listen(64)
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def stop(self):
        self._stopping = True
        self._listener.close()

    def snapshot(self):
        with self._lock:
            return list(self.connections)

    def wait_for(self, predicate, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self.snapshot()):
                return self.snapshot()
            time.sleep(0.05)
        raise TimeoutError(f"the fronting site never saw what was expected; it saw {self.snapshot()}")

    def _accept(self):
        while not self._stopping:
            try:
                sock, peer = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            connection = SiteConnection(peer)
            with self._lock:
                self.connections.append(connection)
            threading.Thread(target=self._serve, args=(sock, connection), daemon=True).start()

    def _serve(self, sock, connection):
        sock.settimeout(0.2)
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = self.context.wrap_bio(incoming, outgoing, server_side=True)
        request = b""
        failed_at = None
        deadline = time.monotonic() + CONNECTION_DEADLINE
        try:
            while time.monotonic() < deadline and not self._stopping:
                if failed_at is not None and time.monotonic() - failed_at > IDLE_AFTER_FAILURE:
                    break
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    continue
                if not chunk:
                    connection.eof = True
                    break
                connection.received += chunk
                if failed_at is not None:
                    failed_at = time.monotonic()
                    continue
                incoming.write(chunk)
                try:
                    if not connection.tls_established:
                        tls.do_handshake()
                        connection.tls_established = True
                    while True:
                        request += tls.read(65536)
                        if b"\r\n\r\n" in request and not connection.answered:
                            tls.write(RESPONSE)
                            connection.answered = True
                except ssl.SSLWantReadError:
                    pass
                except ssl.SSLError:
                    failed_at = time.monotonic()
                if connection.answered:
                    try:
                        tls.unwrap()
                    except ssl.SSLError:
                        pass
                pending = outgoing.read()
                if pending:
                    sock.sendall(pending)
                if connection.answered and failed_at is None:
                    # Like a server with `Connection: close`: no more writes, read to the end.
                    sock.shutdown(socket.SHUT_WR)
                    failed_at = time.monotonic()
        except OSError:
            pass
        finally:
            sock.close()
            connection.finished.set()
