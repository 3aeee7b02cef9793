"""peer.py - a zmesh peer in Python, from proto/ alone.

Debian's python3-zmq and python3-msgpack, and nothing of zmesh's C: the
envelope (proto/envelope.md), calls over REQ and ROUTER, heartbeats and
events on a PUB socket, and zmesh.replay (proto/node.md, sections 1 to
3). It is the reference for a peer in another language: every rule it
follows is one of those documents', and test_interop.py runs it against
the C nodes.

Part of zmesh. MIT License.
"""
import os
import time
import uuid

import msgpack
import zmq

#   The envelope's keys (envelope.md, section 3)
VERSION, KIND, ID, CORRELATION, CAUSATION, TYPE, SOURCE, TIMESTAMP, SEQ, \
    BUDGET, STATUS, ERROR_CODE, ERROR_TEXT, HEADERS, BODY = range(15)
EVENT, REQUEST, REPLY = 1, 2, 3
OK, APPLICATION_ERROR, MESH_ERROR = 0, 1, 2
BAD_REQUEST = 3                 # A mesh error code (section 5)


def now_ms():
    return int(time.time() * 1000)


def new_id():
    """A message id: a version 7 UUID, time first, as zmesh makes them."""
    raw = bytearray(now_ms().to_bytes(6, "big") + os.urandom(10))
    raw[6] = 0x70 | (raw[6] & 0x0F)
    raw[8] = 0x80 | (raw[8] & 0x3F)
    return bytes(raw)


def text(raw):
    return str(uuid.UUID(bytes=raw))


def encode(fields):
    """The canonical frame: keys ascending, absent fields left out."""
    return msgpack.packb(dict(sorted(fields.items())), use_bin_type=True)


def decode(frame):
    """The fields of a frame; ValueError if it is no envelope of ours."""
    fields = msgpack.unpackb(frame, raw=False, strict_map_key=False)
    if not isinstance(fields, dict) or fields.get(VERSION) != 1:
        raise ValueError("not a version 1 envelope")
    for key in (KIND, ID, CORRELATION, TYPE, SOURCE, TIMESTAMP):
        if key not in fields:
            raise ValueError(f"field {key} missing")
    return fields


def body_of(fields):
    """The body's value, or None without one."""
    return msgpack.unpackb(fields[BODY], raw=False) if BODY in fields \
        else None


def traceparent(fields):
    """The message's W3C trace context (envelope.md section 3): the
    correlation is the trace id, the last 8 bytes of the id the span."""
    return f"00-{fields[CORRELATION].hex()}-{fields[ID][8:].hex()}-01"


def request(name, method, body, correlation=None, causation=None,
            budget_ms=5000, headers=None):
    fields = {VERSION: 1, KIND: REQUEST, ID: new_id(),
              CORRELATION: correlation or uuid.uuid4().bytes, TYPE: method,
              SOURCE: name, TIMESTAMP: now_ms(), BUDGET: budget_ms}
    if causation:
        fields[CAUSATION] = causation
    if headers:
        fields[HEADERS] = headers
    if body is not None:
        fields[BODY] = msgpack.packb(body, use_bin_type=True)
    return fields


def reply_to(name, asked, body=None, status=OK, code=None, error=None,
             headers=None):
    """A reply in the flow of the request asked: its correlation, and the
    request's id as causation."""
    fields = {VERSION: 1, KIND: REPLY, ID: new_id(),
              CORRELATION: asked[CORRELATION], CAUSATION: asked[ID],
              TYPE: asked[TYPE], SOURCE: name, TIMESTAMP: now_ms(),
              STATUS: status}
    if status != OK:
        fields[ERROR_CODE] = code
        if error:
            fields[ERROR_TEXT] = error
    if headers:
        fields[HEADERS] = headers
    if body is not None:
        fields[BODY] = msgpack.packb(body, use_bin_type=True)
    return fields


def call(context, endpoint, name, method, body, timeout_ms=5000):
    """One call over a REQ socket of its own: the request's fields and the
    reply's, or the request's and None if no reply came in time."""
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    socket.connect(endpoint)
    asked = request(name, method, body, budget_ms=timeout_ms)
    socket.send(encode(asked))
    answer = None
    if socket.poll(timeout_ms):
        answer = decode(socket.recv())
    socket.close()
    return asked, answer


class Node:
    """A node named name of service: a ROUTER for calls, a PUB for its
    events and heartbeats, and a log of what it published, for replays."""

    def __init__(self, context, name, service, events, calls):
        self.name, self.service = name, service
        self.events, self.calls = events, calls
        self.instance = str(uuid.uuid4())
        self.correlation = uuid.UUID(self.instance).bytes
        self.router = context.socket(zmq.ROUTER)
        self.router.setsockopt(zmq.LINGER, 0)
        self.router.bind(calls)
        self.pub = context.socket(zmq.PUB)
        self.pub.setsockopt(zmq.LINGER, 0)
        self.pub.bind(events)
        self.methods = {"zmesh.replay": self.replay}
        self.log = []           # Frames published, seq 1 first
        self.served = []        # The requests answered, as fields

    def close(self):
        self.router.close()
        self.pub.close()

    def control(self, kind):
        """A heartbeat or goodbye: under "$" + type + NUL, in the flow of
        this instance, its seq the one the next event will get."""
        fields = {VERSION: 1, KIND: EVENT, ID: new_id(),
                  CORRELATION: self.correlation, TYPE: kind,
                  SOURCE: self.name, TIMESTAMP: now_ms(),
                  SEQ: len(self.log) + 1,
                  HEADERS: {"instance": self.instance,
                            "service": self.service, "events": self.events,
                            "calls": self.calls, "log": "1"}}
        self.pub.send_multipart([b"$" + kind.encode() + b"\0",
                                 encode(fields)])

    def publish(self, kind, body, send=True):
        """Append an event to the log and, unless send is False (a loss
        the consumers must repair), publish it."""
        fields = {VERSION: 1, KIND: EVENT, ID: new_id(),
                  CORRELATION: uuid.uuid4().bytes, TYPE: kind,
                  SOURCE: self.name, TIMESTAMP: now_ms(),
                  SEQ: len(self.log) + 1,
                  BODY: msgpack.packb(body, use_bin_type=True)}
        frame = encode(fields)
        self.log.append(frame)
        if send:
            self.pub.send_multipart([kind.encode() + b"\0", frame])
        return fields[SEQ]

    def replay(self, asked):
        """zmesh.replay: the frames from "from" up to "to", at most 1000."""
        body = body_of(asked) if BODY in asked else None
        first = body.get("from") if isinstance(body, dict) else None
        last = body.get("to") if isinstance(body, dict) else None
        if not isinstance(first, int) or not isinstance(last, int) \
                or first < 1 or first > last:
            return reply_to(self.name, asked, status=MESH_ERROR,
                            code=BAD_REQUEST, error="need from <= to")
        frames = self.log[first - 1:min(last, first + 999)]
        return reply_to(self.name, asked,
                        {"next": first + len(frames), "events": frames})

    def serve(self, timeout_ms):
        """Answer the requests that come within timeout_ms."""
        until = time.monotonic() + timeout_ms / 1000
        while True:
            left = int((until - time.monotonic()) * 1000)
            if left <= 0 or not self.router.poll(left):
                return
            route = self.router.recv_multipart()
            empty = route.index(b"") if b"" in route else -1
            if empty < 0 or empty != len(route) - 2:
                continue        # Not [routing id ...] [empty] [envelope]
            try:
                asked = decode(route[-1])
            except ValueError:
                continue
            method = self.methods.get(asked[TYPE])
            if method:
                answer = method(asked)
            else:
                answer = reply_to(self.name, asked, status=MESH_ERROR,
                                  code=1, error="unknown method")
            self.served.append(asked)
            self.router.send_multipart(route[:-1] + [encode(answer)])
