#!/usr/bin/python3
"""generate.py - writes envelope.zpl, the envelope test vectors.

The bytes come from Python's msgpack package (Debian: python3-msgpack),
an implementation independent of msgpack-c, built from the field table in
proto/envelope.md. The C suites decode every vector and re-encode the
canonical ones byte for byte, so the spec, these bytes and lib/envelope.c
cannot drift apart. Run it from anywhere; it rewrites envelope.zpl beside
itself. Commit the result.
"""
import os
import struct
import msgpack

VERSION, KIND, ID, CORRELATION, CAUSATION, TYPE, SOURCE, TIMESTAMP, SEQ, \
    BUDGET, STATUS, ERROR_CODE, ERROR_TEXT, HEADERS, BODY = range(15)
EVENT, REQUEST, REPLY = 1, 2, 3
KIND_NAMES = {EVENT: "event", REQUEST: "request", REPLY: "reply"}

ID_A = bytes.fromhex("0f8fad5bd9cb469fa16570867728950e")
ID_B = bytes.fromhex("7c9e6679742540de944be07fc1f90ae7")
ID_C = bytes.fromhex("c9bf9e57a28a4b4da1f3a6c4b0e3e8b1")
TS = 1764374400000          # 2025-11-29T00:00:00Z


def uuid_text(raw):
    h = raw.hex()
    return f"{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


def pack(obj):
    return msgpack.packb(obj, use_bin_type=True)


def event(extra=None):
    fields = {VERSION: 1, KIND: EVENT, ID: ID_A, CORRELATION: ID_B,
              TYPE: "order.created", SOURCE: "order", TIMESTAMP: TS, SEQ: 1}
    fields.update(extra or {})
    return dict(sorted(fields.items()))


def request(extra=None):
    fields = {VERSION: 1, KIND: REQUEST, ID: ID_A, CORRELATION: ID_B,
              CAUSATION: ID_C, TYPE: "user.get", SOURCE: "order",
              TIMESTAMP: TS, BUDGET: 5000}
    fields.update(extra or {})
    return dict(sorted(fields.items()))


def reply(extra=None):
    fields = {VERSION: 1, KIND: REPLY, ID: ID_C, CORRELATION: ID_B,
              CAUSATION: ID_A, TYPE: "user.get", SOURCE: "user",
              TIMESTAMP: TS + 3, STATUS: 0}
    fields.update(extra or {})
    return dict(sorted(fields.items()))


def without(fields, *keys):
    return {k: v for k, v in fields.items() if k not in keys}


def with_raw_field(fields, raw):
    """fields packed as a fixmap, plus one more entry given as raw bytes."""
    data = pack(fields)
    assert 0x80 <= data[0] < 0x8f
    return bytes([data[0] + 1]) + data[1:] + raw


def replace_bytes(data, old, new):
    assert data.count(old) == 1, (old, data)
    return data.replace(old, new)


def zpl_string(text):
    assert '"' not in text and "\n" not in text
    return f'"{text}"'


def expectations(fields):
    """The decoded fields a reader must see, as strings."""
    out = [("kind", KIND_NAMES[fields[KIND]]),
           ("id", uuid_text(fields[ID])),
           ("correlation", uuid_text(fields[CORRELATION])),
           ("causation", uuid_text(fields[CAUSATION]) if CAUSATION in fields
            else ""),
           ("type", fields[TYPE]), ("source", fields[SOURCE]),
           ("timestamp", str(fields[TIMESTAMP])),
           ("seq", str(fields.get(SEQ, 0)))]
    if BUDGET in fields:
        out.append(("budget_ms", str(fields[BUDGET])))
    if STATUS in fields:
        out.append(("status", str(fields[STATUS])))
    if ERROR_CODE in fields:
        out.append(("error_code", str(fields[ERROR_CODE])))
    if ERROR_TEXT in fields:
        out.append(("error_text", fields[ERROR_TEXT]))
    if BODY in fields:
        out.append(("body", fields[BODY].hex()))
    return out


valid = []      # (name, note, bytes, canonical, fields)
invalid = []    # (name, note, bytes, error)


def ok(name, note, fields, data=None, canonical=True):
    valid.append((name, note, data if data is not None else pack(fields),
                  canonical, fields))


def bad(name, note, data, error):
    if not isinstance(data, bytes):
        data = pack(data)
    invalid.append((name, note, data, "ERR_ENVELOPE_" + error))


# ---------------------------------------------------------------- valid
ok("event_minimal", "an event with only the fields every event needs",
   event())
ok("event_full", "an event with causation, headers and a body",
   event({CAUSATION: ID_C, SEQ: 42,
            HEADERS: {"traceparent": "00-abc-01", "tenant": "acme"},
            BODY: pack({"orderId": "o-1", "userId": "u-7",
                        "total": 4200})}))
ok("request_user_get", "a call to user.get with a 5 s budget",
   request({BODY: pack({"id": "u-7"})}))
ok("reply_ok", "a successful reply; its causation is the request's id",
   reply({BODY: pack({"id": "u-7", "name": "Ada"})}))
ok("reply_app_error", "the handler refused: application error 402",
   reply({STATUS: 1, ERROR_CODE: 402, ERROR_TEXT: "payment declined"}))
ok("reply_negative_code", "application error codes may be negative",
   reply({STATUS: 1, ERROR_CODE: -7}))
ok("reply_mesh_unknown_method", "the mesh's own error: unknown method",
   reply({STATUS: 2, ERROR_CODE: 1, ERROR_TEXT: "no method user.gte"}))
ok("limits_at_maximum", "every bounded field at its largest legal value",
   event({TYPE: "t" * 128, SOURCE: "s" * 64, SEQ: 2**64 - 1,
            TIMESTAMP: 2**64 - 1, BUDGET: 2**32 - 1,
            ERROR_TEXT: "e" * 1024,
            HEADERS: {f"h{i:02d}": "v" for i in range(32)},
            BODY: pack(None)}))
ok("body_nested", "a body is any one msgpack value, nested ones too",
   event({BODY: pack([1, [2, [3, {"k": b"\x00\x01"}]], -1.5, None])}))

base = event()
ok("keys_out_of_order", "receivers accept any key order",
   base, data=pack(dict(reversed(list(base.items())))), canonical=False)
ok("unknown_fields_ignored", "unknown keys 15 and 200 are skipped",
   base, data=pack({**base, 15: "from the future", 200: [1, 2, 3]}),
   canonical=False)
assert pack(base)[:5] == b"\x88\x00\x01\x01\x01"
ok("non_minimal_integer", "the kind in uint8 form though a fixint would do",
   base, data=pack(base)[:3] + b"\x01\xcc\x01" + pack(base)[5:],
   canonical=False)
ok("deepest_nesting", "an unknown field holding 31 nested arrays: with the "
   "envelope map, 32 levels, the most allowed", base,
   data=with_raw_field(base, b"\x14" + b"\x91" * 31 + b"\x00"),
   canonical=False)
ok("body_nested_32", "a body of 32 nested arrays, the most allowed",
   event({BODY: b"\x91" * 32 + b"\x00"}))
ok("map16_header", "a top-level map16 header though a fixmap would do",
   base, data=b"\xde\x00" + bytes([len(base)]) + pack(base)[1:],
   canonical=False)

# ---------------------------------------------------------------- invalid
minimal = pack(event())
bad("not_map_array", "an array, not a map", [1, 2, 3], "NOT_MAP")
bad("not_map_text", "plain text", b"hello world", "NOT_MAP")
bad("not_map_nil", "msgpack nil", b"\xc0", "NOT_MAP")
bad("truncated_half", "a valid event cut in half",
    minimal[:len(minimal) // 2], "TRUNCATED")
bad("truncated_last_byte", "a valid event less its last byte",
    minimal[:-1], "TRUNCATED")
bad("truncated_map_header", "a map16 header cut after one length byte",
    b"\xde\x00", "TRUNCATED")
bad("count_exceeds_input", "a map32 claiming 268 million entries in 5 bytes",
    b"\xdf\x0f\xff\xff\xff", "TRUNCATED")
bad("nested_count_lie", "an unknown field holding an array32 that claims "
    "more elements than bytes remain",
    with_raw_field(event(), b"\x14\xdd\x7f\xff\xff\xff\x01"), "TRUNCATED")
bad("malformed_c1", "the never-used byte 0xc1 as a value",
    with_raw_field(event(), b"\x14\xc1"), "MALFORMED")
bad("nested_too_deep", "an unknown field holding 32 nested arrays: with the "
    "envelope map that makes 33 levels", with_raw_field(
        event(), b"\x14" + b"\x91" * 32 + b"\x00"), "TOO_DEEP")
bad("body_too_deep", "a body of 33 nested arrays",
    event({BODY: b"\x91" * 33 + b"\x00"}), "BAD_BODY")
bad("trailing_byte", "a valid event followed by one more byte",
    minimal + b"\x00", "TRAILING")
bad("key_is_string", "a field keyed by a string",
    {**event(), "version": 1}, "BAD_KEY")
bad("key_is_negative", "a field keyed by -1", {**event(), -1: 0}, "BAD_KEY")
bad("duplicate_id", "the id field twice",
    with_raw_field(event(), b"\x02\xc4\x10" + ID_C), "DUPLICATE_FIELD")
bad("version_missing", "no version field", without(event(), VERSION),
    "MISSING_FIELD")
bad("version_2", "a major version this spec does not know",
    event({VERSION: 2, ID: "ids changed in v2"}), "VERSION")
bad("version_0", "major version 0", event({VERSION: 0}), "VERSION")
bad("version_is_string", "version as text", event({VERSION: "1"}),
    "WRONG_TYPE")
bad("kind_missing", "no kind field", without(event(), KIND), "MISSING_FIELD")
bad("kind_4", "kind 4 is not defined", event({KIND: 4}), "BAD_KIND")
bad("kind_0", "kind 0 is not defined", event({KIND: 0}), "BAD_KIND")
bad("kind_is_string", "kind as text", event({KIND: "event"}), "WRONG_TYPE")
bad("id_missing", "no id", without(event(), ID), "MISSING_FIELD")
bad("id_15_bytes", "an id one byte short", event({ID: ID_A[:15]}),
    "BAD_UUID")
bad("id_17_bytes", "an id one byte long", event({ID: ID_A + b"\x00"}),
    "BAD_UUID")
bad("id_nil", "the nil UUID as message id", event({ID: bytes(16)}),
    "BAD_UUID")
bad("id_as_text", "the id in its 36-character text form",
    event({ID: uuid_text(ID_A)}), "WRONG_TYPE")
bad("correlation_missing", "no correlation id",
    without(event(), CORRELATION), "MISSING_FIELD")
bad("causation_8_bytes", "a causation id of 8 bytes",
    event({CAUSATION: ID_C[:8]}), "BAD_UUID")
bad("type_missing", "no type", without(event(), TYPE), "MISSING_FIELD")
bad("type_empty", "an empty type", event({TYPE: ""}), "BAD_NAME")
bad("type_129", "a type one byte too long", event({TYPE: "t" * 129}),
    "BAD_NAME")
bad("type_with_space", "a space in the type",
    event({TYPE: "order created"}), "BAD_NAME")
bad("type_with_nul", "a NUL byte in the type",
    event({TYPE: "order\x00created"}), "BAD_NAME")
bad("type_non_ascii", "a non-ASCII letter in the type",
    event({TYPE: "order.cr\u00e9ated"}), "BAD_NAME")
bad("type_is_bin", "the type as bin, not str",
    event({TYPE: b"order.created"}), "WRONG_TYPE")
bad("source_missing", "no source", without(event(), SOURCE),
    "MISSING_FIELD")
bad("source_65", "a source one byte too long", event({SOURCE: "s" * 65}),
    "BAD_NAME")
bad("timestamp_missing", "no timestamp", without(event(), TIMESTAMP),
    "MISSING_FIELD")
bad("timestamp_negative", "a timestamp before 1970",
    event({TIMESTAMP: -5}), "WRONG_TYPE")
bad("timestamp_float", "a timestamp as float64",
    event({TIMESTAMP: 1.5}), "WRONG_TYPE")
bad("event_missing_seq", "an event without a sequence number",
    without(event(), SEQ), "MISSING_FIELD")
bad("seq_zero", "sequence numbers start at 1", event({SEQ: 0}),
    "BAD_VALUE")
bad("request_missing_budget", "a request without a time budget",
    without(request(), BUDGET), "MISSING_FIELD")
bad("budget_too_large", "a budget of 2^32 ms", request({BUDGET: 2**32}),
    "BAD_VALUE")
bad("reply_missing_status", "a reply without a status",
    without(reply(), STATUS), "MISSING_FIELD")
bad("status_3", "status 3 is not defined", reply({STATUS: 3}),
    "BAD_VALUE")
bad("error_missing_code", "an application error without its code",
    reply({STATUS: 1}), "MISSING_FIELD")
bad("error_code_too_large", "an error code above the int64 range",
    reply({STATUS: 1, ERROR_CODE: 2**63}), "BAD_VALUE")
bad("error_code_is_string", "an error code as text",
    reply({STATUS: 1, ERROR_CODE: "402"}), "WRONG_TYPE")
bad("error_text_1025", "an error text one byte too long",
    reply({STATUS: 1, ERROR_CODE: 1, ERROR_TEXT: "e" * 1025}), "BAD_TEXT")
bad("error_text_with_nul", "a NUL byte in the error text",
    reply({STATUS: 1, ERROR_CODE: 1, ERROR_TEXT: "a\x00b"}), "BAD_TEXT")
bad("headers_not_map", "headers as an array",
    event({HEADERS: ["a", "b"]}), "WRONG_TYPE")
bad("header_value_int", "a header whose value is an integer",
    event({HEADERS: {"retries": 3}}), "BAD_HEADER")
bad("header_name_bad", "a header name with a space",
    event({HEADERS: {"x trace": "1"}}), "BAD_HEADER")
bad("header_name_empty", "an empty header name",
    event({HEADERS: {"": "1"}}), "BAD_HEADER")
bad("header_value_1025", "a header value one byte too long",
    event({HEADERS: {"note": "v" * 1025}}), "BAD_HEADER")
bad("header_duplicate", "the same header name twice",
    replace_bytes(pack(event({HEADERS: {"aa": "1", "bb": "2"}})),
                  b"\xa2bb", b"\xa2aa"), "BAD_HEADER")
bad("headers_33", "one header more than allowed",
    event({HEADERS: {f"h{i:02d}": "v" for i in range(33)}}),
    "TOO_MANY_HEADERS")
bad("body_is_map", "a body inline as a map rather than as bin",
    event({BODY: {"id": 1}}), "WRONG_TYPE")
bad("body_empty", "a body of zero bytes", event({BODY: b""}), "BAD_BODY")
bad("body_two_values", "a body holding two msgpack values",
    event({BODY: b"\x01\x02"}), "BAD_BODY")
bad("body_truncated", "a body whose msgpack value is cut short",
    event({BODY: b"\x92\x01"}), "BAD_BODY")
bad("body_c1", "a body holding the byte 0xc1", event({BODY: b"\xc1"}),
    "BAD_BODY")


def write(path):
    lines = [
        "#   zmesh envelope test vectors (proto/envelope.md), major version 1.",
        "#   Generated by generate.py with Python's msgpack package; do not "
        "edit by hand.",
        "#   valid/<name>: hex is the frame; canonical = 1 means encoding the",
        "#   decoded fields gives hex back byte for byte. An absent causation",
        "#   reads as \"\" and an absent seq as \"0\"; other absent fields are "
        "not listed.",
        "#   invalid/<name>: decoding hex must fail with error (zmesh_errname).",
        "valid"]
    for name, note, data, canonical, fields in valid:
        lines += [f"    {name}", f"        note = {zpl_string(note)}",
                  f"        hex = \"{data.hex()}\"",
                  f"        canonical = {1 if canonical else 0}"]
        for key, value in expectations(fields):
            lines.append(f"        {key} = {zpl_string(value)}")
        if HEADERS in fields:
            lines.append("        headers")
            for hname, hvalue in fields[HEADERS].items():
                lines.append(f"            {hname} = {zpl_string(hvalue)}")
    lines.append("invalid")
    for name, note, data, error in invalid:
        lines += [f"    {name}", f"        note = {zpl_string(note)}",
                  f"        hex = \"{data.hex()}\"",
                  f"        error = \"{error}\""]
    with open(path, "w") as out:
        out.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    write(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                       "envelope.zpl"))
    print(f"{len(valid)} valid and {len(invalid)} invalid vectors")
