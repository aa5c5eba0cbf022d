"""The Zammad and Kimai doubles, seeded with the demo data set and served on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.doubles import kimai as kimai_double
from tests.doubles import zammad as zammad_double
from tests.doubles.dataset import Dataset, demo_dataset


@dataclass
class Served:
    zammad: zammad_double.ZammadDouble
    kimai: kimai_double.KimaiDouble
    zammad_url: str
    kimai_url: str
    dataset: Dataset


@contextmanager
def served_doubles(dataset: Dataset | None = None) -> Iterator[Served]:
    dataset = dataset or demo_dataset()
    zammad = zammad_double.ZammadDouble()
    zammad_double.seed_from_dataset(zammad, dataset)
    kimai = kimai_double.KimaiDouble()
    kimai_double.seed_from_dataset(kimai, dataset)
    with zammad.serve() as zammad_url, kimai.serve() as kimai_url:
        yield Served(zammad, kimai, zammad_url, kimai_url, dataset)


@contextmanager
def html_server() -> Iterator[str]:
    """A server that answers every request with an HTML page (a proxy, a login portal)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                body = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: "
                    + str(len(body)).encode()
                    + b"\r\nConnection: close\r\n\r\n"
                    + body
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(timeout=2)
        listener.close()


def closed_port_url() -> str:
    """An address on loopback where nothing listens."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
