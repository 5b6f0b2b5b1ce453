"""Plain TCP clients from chosen loopback addresses, for refusals that happen before any byte."""
import contextlib
import socket


def open_from(source_ip, host, port, timeout=5.0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.bind((source_ip, 0))
    sock.connect((host, port))
    return sock


def closed_without_a_byte(source_ip, host, port, wait=5.0) -> bool:
    """Connects from source_ip, sends nothing; true if the proxy closes (or resets) the
    connection within `wait` seconds without sending anything."""
    try:
        sock = open_from(source_ip, host, port, wait)
    except ConnectionError:
        return True
    with contextlib.closing(sock):
        try:
            return sock.recv(1) == b""
        except ConnectionError:
            return True
        except socket.timeout:
            return False
