"""An HTTP/2 client over a real socket, with Python's h2 (Debian's
python3-h2), an implementation independent of vestibule's codec: what the
conformance tests (tests/http2_conformance.rs) drive the gateway with.

Every frame the server sends is recorded twice: as hyperframe parsed it off
the wire (exactly what was sent, even where h2 would hide it) and as the
events h2 made of it. Frames h2 refuses to send go out raw beside its own
bytes (`raw`)."""

import json
import socket
import struct
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
from hyperframe.frame import Frame

HOST = "httpbin.example.com"

# Frame types (RFC 9113 §6) for raw frames.
DATA, HEADERS, RST_STREAM, GOAWAY = 0x0, 0x1, 0x3, 0x7
END_STREAM, END_HEADERS = 0x1, 0x4


def frame(kind, flags, stream, payload):
    """A raw frame's bytes."""
    return (struct.pack(">I", len(payload))[1:] + bytes([kind, flags])
            + struct.pack(">I", stream) + payload)


def request(method, path, extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", HOST),
            (":path", path)] + list(extra)


class Peer:
    def __init__(self, address, settings=None):
        host, port = address.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        config = h2.config.H2Configuration(
            client_side=True, header_encoding="utf-8",
            validate_outbound_headers=False, normalize_outbound_headers=False,
            validate_inbound_headers=False)
        self.conn = h2.connection.H2Connection(config=config)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.frames = []
        self.events = []
        self.bodies = {}
        self.ended = set()
        self.closed = False
        self.wire = b""
        self.flush()

    def flush(self):
        self.sock.sendall(self.conn.data_to_send())

    def raw(self, data):
        """h2's pending bytes, then `data` as given."""
        self.sock.sendall(self.conn.data_to_send() + data)

    def pump(self, until, timeout=10.0):
        """Reads until `until(self)` holds (or the connection ends)."""
        deadline = time.monotonic() + timeout
        while not until(self):
            if self.closed or time.monotonic() > deadline:
                return
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                self.closed = True
                return
            self.record_frames(data)
            try:
                events = self.conn.receive_data(data)
            except h2.exceptions.ProtocolError as error:
                self.events.append({"type": "h2 error", "error": repr(error)})
                self.closed = True
                return
            for event in events:
                self.event(event)
            self.flush()

    def record_frames(self, data):
        self.wire += data
        while len(self.wire) >= 9:
            head, length = Frame.parse_frame_header(memoryview(self.wire[:9]))
            if len(self.wire) < 9 + length:
                return
            head.parse_body(memoryview(self.wire[9:9 + length]))
            self.wire = self.wire[9 + length:]
            entry = {"frame": head.type, "stream": head.stream_id,
                     "flags": sorted(head.flags)}
            for field in ("error_code", "last_stream_id", "window_increment"):
                if hasattr(head, field):
                    entry[field] = getattr(head, field)
            if head.type == 0x0:
                entry["length"] = len(head.data)
            self.frames.append(entry)

    def event(self, event):
        entry = {"type": type(event).__name__}
        stream = getattr(event, "stream_id", None)
        if stream is not None:
            entry["stream"] = stream
        if isinstance(event, (h2.events.ResponseReceived,
                              h2.events.TrailersReceived)):
            entry["headers"] = {k: v for k, v in event.headers}
        elif isinstance(event, h2.events.DataReceived):
            entry["length"] = len(event.data)
            self.bodies.setdefault(stream, b"")
            self.bodies[stream] += event.data
            self.conn.acknowledge_received_data(
                event.flow_controlled_length, stream)
        elif isinstance(event, h2.events.StreamEnded):
            self.ended.add(stream)
        elif isinstance(event, h2.events.StreamReset):
            entry["error_code"] = int(event.error_code)
            self.ended.add(stream)
        elif isinstance(event, h2.events.ConnectionTerminated):
            entry["error_code"] = int(event.error_code)
            entry["last_stream_id"] = event.last_stream_id
            self.closed = True
        elif isinstance(event, h2.events.PingAckReceived):
            entry["ping_data"] = event.ping_data.decode("latin-1")
        elif isinstance(event, h2.events.WindowUpdated):
            entry["delta"] = event.delta
        elif isinstance(event, h2.events.RemoteSettingsChanged):
            entry["changed"] = {int(code): setting.new_value
                                for code, setting in event.changed_settings.items()}
        self.events.append(entry)

    def send_body(self, stream, body, end_stream=True):
        """Sends `body` as the windows allow, waiting for WINDOW_UPDATEs."""
        while body:
            window = min(self.conn.local_flow_control_window(stream),
                         self.conn.max_outbound_frame_size)
            if window == 0:
                seen = len(self.events)
                self.pump(lambda p: len(p.events) > seen)
                if self.closed:
                    return
                continue
            piece, body = body[:window], body[window:]
            self.conn.send_data(stream, piece, end_stream=end_stream and not body)
            self.flush()

    def report(self, **extra):
        bodies = {str(s): b.decode("latin-1") for s, b in self.bodies.items()}
        print(json.dumps(dict(frames=self.frames, events=self.events,
                              bodies=bodies, **extra)))
