"""Conversations with the gateway, one per conformance test:
`scenarios.py NAME ADDRESS` prints what the client saw as JSON (see
peer.py's `report`)."""

import struct
import sys

from h2.settings import SettingCodes

from peer import (DATA, END_HEADERS, END_STREAM, GOAWAY, HEADERS, Peer,
                  frame, request)


def ended(*streams):
    return lambda p: all(s in p.ended for s in streams)


def settings_and_ping(address):
    peer = Peer(address)
    peer.pump(lambda p: any(e["type"] == "SettingsAcknowledged" for e in p.events))
    peer.conn.ping(b"vestibul")
    peer.flush()
    peer.pump(lambda p: any(e["type"] == "PingAckReceived" for e in p.events))
    peer.report()


def get(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.report()


def post_large(address):
    peer = Peer(address)
    body = b"x" * 200_000
    peer.conn.send_headers(1, request("POST", "/post", [("content-type", "text/plain")]))
    peer.send_body(1, body)
    peer.pump(ended(1))
    peer.report()


def small_window(address):
    peer = Peer(address, {SettingCodes.INITIAL_WINDOW_SIZE: 1000})
    peer.pump(lambda p: any(e["type"] == "SettingsAcknowledged" for e in p.events))
    peer.conn.send_headers(1, request("GET", "/bytes/102400"), end_stream=True)
    peer.flush()
    peer.pump(ended(1), timeout=20)
    peer.report()


def request_trailers(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("POST", "/post", [("te", "trailers")]))
    peer.conn.send_data(1, b"hello trailers")
    peer.conn.send_headers(1, [("x-checksum", "abc")], end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.report()


def response_trailers(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("POST", "/pkg.Service/Method", [
        ("content-type", "application/grpc"), ("te", "trailers")]))
    peer.conn.send_data(1, b"\0\0\0\0\0", end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.report()


# A malformed request (RFC 9113 §8.1.1, §8.2) on stream 1, then a GET on 3.
MALFORMED = {
    "uppercase": request("GET", "/get", [("X-Upper", "1")]),
    "connection_specific": request("GET", "/get", [("connection", "keep-alive")]),
    "missing_path": [h for h in request("GET", "/get") if h[0] != ":path"],
    "te_gzip": request("GET", "/get", [("te", "gzip")]),
}


def malformed(address, case):
    peer = Peer(address)
    if case == "content_length":
        peer.conn.send_headers(1, request("POST", "/post", [("content-length", "10")]))
        peer.raw(frame(DATA, END_STREAM, 1, b"12345"))
    else:
        peer.conn.send_headers(1, MALFORMED[case], end_stream=True)
        peer.flush()
    peer.pump(ended(1))
    peer.conn.send_headers(3, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(3))
    peer.report()


def over_concurrency(address):
    """Three requests before the server's SETTINGS (limit 2) are read:
    h2 does not know the limit yet, so it sends them all."""
    peer = Peer(address)
    for stream in (1, 3, 5):
        peer.conn.send_headers(stream, request("GET", "/delay/1"), end_stream=True)
    peer.flush()
    peer.pump(ended(1, 3, 5))
    peer.report()


def data_on_closed_stream(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.raw(frame(DATA, 0, 1, b"late"))
    peer.pump(lambda p: any(f["frame"] == 0x3 for f in p.frames), timeout=3)
    peer.conn.send_headers(3, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(3))
    peer.report()


def headers_on_lower_stream(address):
    peer = Peer(address)
    peer.conn.send_headers(3, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(3))
    # An indexed :method GET, :scheme http, :path / (static table).
    peer.raw(frame(HEADERS, END_HEADERS | END_STREAM, 1, bytes([0x82, 0x86, 0x84])))
    peer.pump(lambda p: any(f["frame"] == GOAWAY for f in p.frames), timeout=3)
    peer.report()


def client_goaway(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/delay/1"), end_stream=True)
    peer.flush()
    # GOAWAY(last stream 0, NO_ERROR): the client stops; stream 1 goes on.
    peer.raw(frame(GOAWAY, 0, 0, struct.pack(">II", 0, 0)))
    peer.pump(ended(1))
    peer.report()


def reset_in_flight(address):
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/delay/1"), end_stream=True)
    peer.flush()
    peer.conn.reset_stream(1, 0x8)  # CANCEL
    peer.conn.send_headers(3, request("GET", "/get"), end_stream=True)
    peer.flush()
    peer.pump(ended(3))
    # Long enough for stream 1's answer, had it not been dropped.
    peer.pump(lambda p: False, timeout=1.5)
    peer.report()


def large_request_head(address):
    """A 20 KB header: h2 sends HEADERS and CONTINUATION frames."""
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/get", [("x-large", "y" * 20_000)]),
                           end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.report()


def large_response_head(address):
    """A 24 KB response header (21 KB Huffman-coded): past the client's 16 KiB frames."""
    peer = Peer(address)
    peer.conn.send_headers(1, request("GET", "/response-headers?x-large=" + "z" * 24_000),
                           end_stream=True)
    peer.flush()
    peer.pump(ended(1))
    peer.report()


SCENARIOS = {
    "reset_in_flight": reset_in_flight,
    "large_request_head": large_request_head,
    "large_response_head": large_response_head,
    "settings_and_ping": settings_and_ping,
    "get": get,
    "post_large": post_large,
    "small_window": small_window,
    "request_trailers": request_trailers,
    "response_trailers": response_trailers,
    "over_concurrency": over_concurrency,
    "data_on_closed_stream": data_on_closed_stream,
    "headers_on_lower_stream": headers_on_lower_stream,
    "client_goaway": client_goaway,
}

if __name__ == "__main__":
    name, address = sys.argv[1], sys.argv[2]
    if name.startswith("malformed_"):
        malformed(address, name[len("malformed_"):])
    else:
        SCENARIOS[name](address)
