/*  envelope_decode.c - strict decoding of the zmesh envelope.

    The envelope is a msgpack map keyed by small unsigned integers; the
    keys, types and rules are those of proto/envelope.md, section "Fields".
    The decoder never trusts its input: it bounds-checks the frame as it
    reads each field once, straight from the frame's bytes, type- and
    range-checking it into the envelope. Values it does not take apart
    (unknown fields, the entries of a container where a field wants
    something else) are walked by zmesh__msgpack_check, within what
    nesting is left. The form its writer, envelope_encode.c, gives every
    message is read first in one pass that expects it (s_read_canonical);
    from the first entry in any other form on, each is read the long way.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "envelope_private.h"

//  zmesh__msgpack_type_t's, as msgpack-c names them.
static const char *s_value_type_names [] = {
    "nil", "bool", "uint", "negative int", "float32", "float64", "str",
    "bin", "array", "map", "ext"
};

typedef struct {
    zmesh__msgpack_type_t type;
    uint64_t number;            //  As zmesh__msgpack_head_t's
    const uint8_t *data;        //  Str, bin: the bytes
} s_value_t;

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t pos;                 //  Next byte to read
} s_reader_t;

//  The frame is not well-formed msgpack: say where.
static zmesh_err_t
s_broken (zmesh_err_t rc, size_t at, size_t size, zmesh_detail_t *detail)
{
    zmesh__detail (detail, "%s at byte %zu of %zu",
                   rc == ZMESH_ERR_ENVELOPE_MALFORMED  ? "byte 0xc1"
                   : rc == ZMESH_ERR_ENVELOPE_TOO_DEEP ? "33rd nesting"
                                                       : "input ends",
                   at, size);
    return rc;
}

//  Read the head of the next value: all of a scalar, str, bin or ext,
//  only the header of an array or map (its entries come next).
//  zmesh__msgpack_head reads every form and says what is wrong; the
//  forms that the canonical encoder writes for keys, small numbers, names
//  and ids are read inline first (s_read_head below).
static zmesh_err_t __attribute__ ((noinline))
s_read_head_any (s_reader_t *reader, s_value_t *value, zmesh_detail_t *detail)
{
    size_t start = reader->pos;
    zmesh__msgpack_head_t head;
    zmesh_err_t rc = zmesh__msgpack_head (reader->data + start,
                                          reader->size - start, &head);
    if (rc)
        return s_broken (rc, start, reader->size, detail);
    value->type = head.type;
    value->number = head.number;
    value->data = reader->data + start + head.size;
    reader->pos = start + head.size + (size_t) head.payload;
    return ZMESH_OK;
}

//  A positive fixint, a uint, a fixstr or a bin 8 that fits, or
//  s_read_head_any.
static inline zmesh_err_t __attribute__ ((always_inline))
s_read_head (s_reader_t *reader, s_value_t *value, zmesh_detail_t *detail)
{
    size_t left = reader->size - reader->pos;
    const uint8_t *at = reader->data + reader->pos;
    size_t length, head;
    if (left == 0)
        return s_read_head_any (reader, value, detail);
    if (at [0] <= 0x7f) {
        value->type = ZMESH__MSGPACK_UINT;
        value->number = at [0];
        value->data = at + 1;
        reader->pos++;
        return ZMESH_OK;
    }
    if (at [0] >= 0xcc && at [0] <= 0xcf) {     //  uint 8 to uint 64
        int width = 1 << (at [0] - 0xcc);
        if (!zmesh__msgpack_take (at, left, width, &value->number))
            return s_read_head_any (reader, value, detail);
        value->type = ZMESH__MSGPACK_UINT;
        value->data = at + 1 + width;
        reader->pos += 1 + (size_t) width;
        return ZMESH_OK;
    }
    if ((at [0] & 0xe0) == 0xa0) {
        value->type = ZMESH__MSGPACK_STR;
        length = at [0] & 0x1f;
        head = 1;
    }
    else if (at [0] == 0xc4 && left > 1) {
        value->type = ZMESH__MSGPACK_BIN;
        length = at [1];
        head = 2;
    }
    else
        return s_read_head_any (reader, value, detail);
    if (length > left - head)
        return s_read_head_any (reader, value, detail);
    value->number = length;
    value->data = at + head;
    reader->pos += head + length;
    return ZMESH_OK;
}

//  Step over the next value, entries and all; depth containers hold it.
static zmesh_err_t __attribute__ ((noinline))
s_skip (s_reader_t *reader, int depth, zmesh_detail_t *detail)
{
    size_t end = 0, offset = 0;
    zmesh_err_t rc = zmesh__msgpack_check_depth (
        reader->data + reader->pos, reader->size - reader->pos,
        ZMESH__MSGPACK_DEPTH_MAX - depth, &end, &offset);
    if (rc)
        return s_broken (rc, reader->pos + offset, reader->size, detail);
    reader->pos += end;
    return ZMESH_OK;
}

//  Read the next value whole, where depth containers hold it: an array
//  or map is stepped over. Inline, as s_read_head: every key and field
//  is read with it.
static inline zmesh_err_t __attribute__ ((always_inline))
s_read (s_reader_t *reader, s_value_t *value, int depth,
        zmesh_detail_t *detail)
{
    size_t start = reader->pos;
    zmesh_err_t rc = s_read_head (reader, value, detail);
    if (rc == ZMESH_OK && (value->type == ZMESH__MSGPACK_ARRAY
                           || value->type == ZMESH__MSGPACK_MAP)) {
        reader->pos = start;
        rc = s_skip (reader, depth, detail);
    }
    return rc;
}

//  Reject and say which field; the detail names the field and its key.
#define FIELD_ERROR(rc, key, ...)                                              \
    do {                                                                       \
        char why_[100];                                                        \
        snprintf (why_, sizeof why_, __VA_ARGS__);                             \
        zmesh__detail (detail, "field '%s' (key %d): %s",                      \
                       zmesh__envelope_key_names [key], (int) (key),           \
                       why_);                                                  \
        return (rc);                                                           \
    } while (0)

#define TYPE_NAME(value) s_value_type_names [(value)->type]

static zmesh_err_t
s_decode_uint (const s_value_t *value, zmesh__envelope_key_t key, uint64_t min,
               uint64_t max, uint64_t *out, zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_UINT)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected uint",
                     TYPE_NAME (value));
    if (value->number < min || value->number > max)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_VALUE, key,
                     "%" PRIu64 " is outside %" PRIu64 "..%" PRIu64,
                     value->number, min, max);
    *out = value->number;
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_uuid (const s_value_t *value, zmesh__envelope_key_t key,
               zmesh_uuid_t *out, zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_BIN)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected bin",
                     TYPE_NAME (value));
    if (value->number != ZMESH_UUID_SIZE)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_UUID, key,
                     "bin of %" PRIu64 " bytes, expected 16", value->number);
    memcpy (out->bytes, value->data, ZMESH_UUID_SIZE);
    if (zmesh_uuid_is_nil (out))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_UUID, key, "the nil UUID");
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_name (const s_value_t *value, zmesh__envelope_key_t key, size_t max,
               char *out, zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_STR)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected str",
                     TYPE_NAME (value));
    size_t length = (size_t) value->number;
    if (!zmesh__envelope_name_valid ((const char *) value->data, length, max))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_NAME, key,
                     "%zu bytes, need 1..%zu of [A-Za-z0-9._-]", length, max);
    memcpy (out, value->data, length);
    out [length] = 0;
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_error_code (const s_value_t *value, int64_t *out,
                     zmesh_detail_t *detail)
{
    if (value->type == ZMESH__MSGPACK_NEGATIVE)
        *out = (int64_t) value->number;
    else if (value->type == ZMESH__MSGPACK_UINT) {
        if (value->number > INT64_MAX)
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_VALUE, KEY_ERROR_CODE,
                         "%" PRIu64 " does not fit in int64", value->number);
        *out = (int64_t) value->number;
    }
    else
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_ERROR_CODE,
                     "%s, expected int", TYPE_NAME (value));
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_error_text (zmesh_envelope_t *self, const s_value_t *value,
                     zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_STR)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_ERROR_TEXT,
                     "%s, expected str", TYPE_NAME (value));
    size_t length = (size_t) value->number;
    if (!zmesh__envelope_text_valid ((const char *) value->data, length))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_TEXT, KEY_ERROR_TEXT,
                     "%zu bytes, need at most %d and no NUL", length,
                     ZMESH_ENVELOPE_TEXT_MAX);
    return zmesh__envelope_set_error_text (self, (const char *) value->data,
                                           length);
}

//  The headers map, whose head is read; reads its entries.
static zmesh_err_t
s_decode_headers (zmesh_envelope_t *self, s_reader_t *reader,
                  const s_value_t *value, zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_MAP)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_HEADERS,
                     "%s, expected map", TYPE_NAME (value));
    if (value->number > ZMESH_ENVELOPE_HEADERS_MAX)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_TOO_MANY_HEADERS, KEY_HEADERS,
                     "%" PRIu64 " entries, at most %d", value->number,
                     ZMESH_ENVELOPE_HEADERS_MAX);
    for (unsigned index = 0; index < value->number; index++) {
        s_value_t name, text;
        zmesh_err_t rc = s_read (reader, &name, 2, detail);
        if (rc == ZMESH_OK)
            rc = s_read (reader, &text, 2, detail);
        if (rc)
            return rc;
        if (name.type != ZMESH__MSGPACK_STR || text.type != ZMESH__MSGPACK_STR)
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u is %s => %s, expected str => str", index,
                         TYPE_NAME (&name), TYPE_NAME (&text));
        const char *n = (const char *) name.data, *v = (const char *) text.data;
        size_t n_size = (size_t) name.number, v_size = (size_t) text.number;
        if (!zmesh__envelope_name_valid (n, n_size,
                                         ZMESH_ENVELOPE_HEADER_NAME_MAX))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: name of %zu bytes, need 1..%d of "
                         "[A-Za-z0-9._-]", index, n_size,
                         ZMESH_ENVELOPE_HEADER_NAME_MAX);
        if (!zmesh__envelope_text_valid (v, v_size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: value of %zu bytes, need at most %d and "
                         "no NUL", index, v_size, ZMESH_ENVELOPE_TEXT_MAX);
        if (zmesh__envelope_find_header (self, n, n_size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u repeats the name '%.*s'", index,
                         (int) n_size, n);
        rc = zmesh__envelope_append_header (self, n, n_size, v, v_size);
        if (rc)
            return rc;
    }
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_body (zmesh_envelope_t *self, const s_value_t *value,
               zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_BIN)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_BODY,
                     "%s, expected bin", TYPE_NAME (value));
    size_t size = (size_t) value->number;
    if (size > ZMESH_ENVELOPE_BODY_MAX)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE, KEY_BODY,
                     "%zu bytes, at most %d", size, ZMESH_ENVELOPE_BODY_MAX);
    if (!zmesh__envelope_body_valid (value->data, size))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_BODY, KEY_BODY,
                     "%zu bytes that are not exactly one msgpack value", size);
    return zmesh__envelope_store_body (self, value->data, size);
}

//  Read the value of one known field into self.
static zmesh_err_t
s_decode_field (zmesh_envelope_t *self, zmesh__envelope_key_t key,
                s_reader_t *reader, zmesh_detail_t *detail)
{
    s_value_t value;
    size_t start = reader->pos;
    zmesh_err_t rc = key == KEY_HEADERS ? s_read_head (reader, &value, detail)
                                        : s_read (reader, &value, 1, detail);
    if (rc == ZMESH_OK && key == KEY_HEADERS
        && value.type != ZMESH__MSGPACK_MAP) {
        reader->pos = start;    //  Not the map whose entries are read below
        rc = s_read (reader, &value, 1, detail);
    }
    if (rc)
        return rc;
    uint64_t number = 0;
    switch (key) {
        case KEY_VERSION:
            break;              //  Checked before any other field
        case KEY_KIND:
            rc = s_decode_uint (&value, key, 0, UINT64_MAX, &number, detail);
            if (rc == ZMESH_OK && (number < ZMESH_KIND_EVENT
                                   || number > ZMESH_KIND_REPLY))
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_KIND, key,
                             "%" PRIu64 " is not 1, 2 or 3", number);
            self->kind = (zmesh_kind_t) number;
            break;
        case KEY_ID:
            rc = s_decode_uuid (&value, key, &self->id, detail);
            break;
        case KEY_CORRELATION:
            rc = s_decode_uuid (&value, key, &self->correlation, detail);
            break;
        case KEY_CAUSATION:
            rc = s_decode_uuid (&value, key, &self->causation, detail);
            self->has_causation = rc == ZMESH_OK;
            break;
        case KEY_TYPE:
            rc = s_decode_name (&value, key, ZMESH_ENVELOPE_TYPE_MAX,
                                self->type, detail);
            break;
        case KEY_SOURCE:
            rc = s_decode_name (&value, key, ZMESH_ENVELOPE_SOURCE_MAX,
                                self->source, detail);
            break;
        case KEY_TIMESTAMP:
            rc = s_decode_uint (&value, key, 0, UINT64_MAX, &self->timestamp,
                                detail);
            break;
        case KEY_SEQ:
            rc = s_decode_uint (&value, key, 1, UINT64_MAX, &self->seq,
                                detail);
            break;
        case KEY_BUDGET:
            rc = s_decode_uint (&value, key, 0, UINT32_MAX, &number, detail);
            self->has_budget = rc == ZMESH_OK;
            self->budget_ms = (uint32_t) number;
            break;
        case KEY_STATUS:
            rc = s_decode_uint (&value, key, 0, ZMESH_STATUS_MESH_ERROR,
                                &number, detail);
            self->has_status = rc == ZMESH_OK;
            self->status = (zmesh_status_t) number;
            break;
        case KEY_ERROR_CODE:
            rc = s_decode_error_code (&value, &self->error_code, detail);
            self->has_error_code = rc == ZMESH_OK;
            break;
        case KEY_ERROR_TEXT:
            rc = s_decode_error_text (self, &value, detail);
            break;
        case KEY_HEADERS:
            rc = s_decode_headers (self, reader, &value, detail);
            break;
        case KEY_BODY:
            rc = s_decode_body (self, &value, detail);
            break;
        case KEY_COUNT_:
            assert (false);
    }
    return rc;
}

//  Find and check the version before anything else: under another major
//  version the other fields may mean something else entirely. The reader
//  is at the map's first entry, and is left there.
static zmesh_err_t
s_check_version (s_reader_t *reader, uint64_t entries, zmesh_detail_t *detail)
{
    size_t first = reader->pos;
    for (uint64_t index = 0; index < entries; index++) {
        s_value_t key, value;
        zmesh_err_t rc = s_read (reader, &key, 1, detail);
        if (rc == ZMESH_OK)
            rc = s_read (reader, &value, 1, detail);
        if (rc)
            return rc;
        if (key.type == ZMESH__MSGPACK_UINT && key.number == KEY_VERSION) {
            reader->pos = first;
            if (value.type != ZMESH__MSGPACK_UINT)
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_VERSION,
                             "%s, expected uint", TYPE_NAME (&value));
            if (value.number != ZMESH_ENVELOPE_VERSION)
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_VERSION, KEY_VERSION,
                             "major version %" PRIu64 ", this peer speaks %d",
                             value.number, ZMESH_ENVELOPE_VERSION);
            return ZMESH_OK;
        }
    }
    reader->pos = first;
    FIELD_ERROR (ZMESH_ERR_ENVELOPE_MISSING_FIELD, KEY_VERSION, "missing");
}

//  Take value, read by s_read_head, into field key of self if it is of
//  the field's type and passes its checks, as s_decode_field would take
//  it, but without saying what is wrong (the fields of events, and of
//  calls the same ones; budget, status, errors and headers are left to
//  s_decode_field). False, and self as it was, if not.
static bool
s_take_plain (zmesh_envelope_t *self, int key, const s_value_t *value)
{
    bool uint = value->type == ZMESH__MSGPACK_UINT;
    size_t length = (size_t) value->number;
    switch (key) {
        case KEY_VERSION:
            return uint && value->number == ZMESH_ENVELOPE_VERSION;
        case KEY_KIND:
            if (!uint || value->number < ZMESH_KIND_EVENT
                || value->number > ZMESH_KIND_REPLY)
                return false;
            self->kind = (zmesh_kind_t) value->number;
            return true;
        case KEY_ID:
        case KEY_CORRELATION:
        case KEY_CAUSATION: {
            zmesh_uuid_t id;
            if (value->type != ZMESH__MSGPACK_BIN || length != ZMESH_UUID_SIZE)
                return false;
            memcpy (id.bytes, value->data, ZMESH_UUID_SIZE);
            if (zmesh_uuid_is_nil (&id))
                return false;
            *(key == KEY_ID ? &self->id
              : key == KEY_CORRELATION ? &self->correlation
                                       : &self->causation) = id;
            self->has_causation |= key == KEY_CAUSATION;
            return true;
        }
        case KEY_TYPE:
        case KEY_SOURCE: {
            if (value->type != ZMESH__MSGPACK_STR
                || !zmesh__envelope_name_valid (
                       (const char *) value->data, length,
                       key == KEY_TYPE ? ZMESH_ENVELOPE_TYPE_MAX
                                       : ZMESH_ENVELOPE_SOURCE_MAX))
                return false;
            char *name = key == KEY_TYPE ? self->type : self->source;
            memcpy (name, value->data, length);
            name [length] = 0;
            return true;
        }
        case KEY_TIMESTAMP:
        case KEY_SEQ:
            if (!uint || (key == KEY_SEQ && value->number == 0))
                return false;
            *(key == KEY_TIMESTAMP ? &self->timestamp : &self->seq)
                = value->number;
            return true;
        case KEY_BODY:
            return value->type == ZMESH__MSGPACK_BIN
                && length <= ZMESH_ENVELOPE_BODY_MAX
                && zmesh__envelope_body_valid (value->data, length)
                && zmesh__envelope_store_body (self, value->data, length)
                   == ZMESH_OK;
        default:
            return false;
    }
}

//  Read the map's entries as envelope_encode.c writes them, while they
//  come so: keys ascending from version, each value read by s_read_head
//  and taken by s_take_plain. The first entry of any other kind is left
//  where it is, for s_decode_map's loop to read as it reads any and say
//  what is wrong: what this reads, that loop would read the same. The
//  entries read; *seen has their keys' bits.
static uint64_t
s_read_canonical (zmesh_envelope_t *self, s_reader_t *reader,
                  uint64_t entries, uint32_t *seen)
{
    uint64_t index = 0;
    int last = -1;              //  Key of the entry before
    for (; index < entries && reader->pos < reader->size; index++) {
        size_t start = reader->pos;
        int key = reader->data [reader->pos++];
        s_value_t value;
        if (key <= last || key >= KEY_COUNT_
            || (index == 0 && key != KEY_VERSION)
            || s_read_head (reader, &value, NULL) != ZMESH_OK
            || !s_take_plain (self, key, &value)) {
            reader->pos = start;
            break;
        }
        *seen |= 1u << key;
        last = key;
    }
    return index;
}

//  Decode the map that the reader is at: as the encoder wrote it, while it
//  is (s_read_canonical), unless told to read it all the long way.
static zmesh_err_t
s_decode_map (zmesh_envelope_t *self, s_reader_t *reader, bool canonical,
              zmesh_detail_t *detail)
{
    s_value_t map;
    zmesh_err_t rc = s_read_head (reader, &map, detail);
    if (rc)
        return rc;
    uint32_t seen = 0;          //  Bit per known key
    uint64_t index = canonical ? s_read_canonical (self, reader, map.number,
                                                   &seen)
                               : 0;
    //  Read first, the version was checked
    if (index == 0 && (rc = s_check_version (reader, map.number, detail)))
        return rc;
    for (; index < map.number; index++) {
        s_value_t key;
        rc = s_read (reader, &key, 1, detail);
        if (rc)
            return rc;
        if (key.type != ZMESH__MSGPACK_UINT) {
            zmesh__detail (detail, "entry %" PRIu64 " has a %s key, expected "
                           "uint", index, TYPE_NAME (&key));
            return ZMESH_ERR_ENVELOPE_BAD_KEY;
        }
        if (key.number >= KEY_COUNT_) {
            //  A field from a later minor revision
            rc = s_skip (reader, 1, detail);
            if (rc)
                return rc;
            continue;
        }
        zmesh__envelope_key_t field = (zmesh__envelope_key_t) key.number;
        if (seen & (1u << field))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_DUPLICATE_FIELD, field,
                         "appears twice");
        seen |= 1u << field;
        rc = s_decode_field (self, field, reader, detail);
        if (rc)
            return rc;
    }
    if (!(seen & (1u << KEY_KIND)))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_MISSING_FIELD, KEY_KIND, "missing");
    if (!(seen & (1u << KEY_TIMESTAMP)))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_MISSING_FIELD, KEY_TIMESTAMP,
                     "missing");
    int missing = zmesh__envelope_missing_field (self);
    if (missing >= 0)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_MISSING_FIELD, missing,
                     "missing, and a%s %s requires it",
                     self->kind == ZMESH_KIND_EVENT ? "n" : "",
                     zmesh_kind_name (self->kind));
    return ZMESH_OK;
}

static bool
s_is_map_header (uint8_t lead)
{
    return (lead >= 0x80 && lead <= 0x8f) || lead == 0xde || lead == 0xdf;
}

//  Decode the envelope that data starts with: the whole of data, or, with
//  used, as much as the map takes, *used saying how much.
static zmesh_err_t
s_decode (const void *data, size_t size, size_t *used, zmesh_envelope_t *self,
          bool canonical, zmesh_detail_t *detail)
{
    const uint8_t *bytes = data;
    if (size == 0) {
        zmesh__detail (detail, "frame of 0 bytes");
        return ZMESH_ERR_ENVELOPE_EMPTY;
    }
    if (size > ZMESH_ENVELOPE_FRAME_MAX) {
        zmesh__detail (detail, "frame of %zu bytes, at most %d", size,
                       ZMESH_ENVELOPE_FRAME_MAX);
        return ZMESH_ERR_ENVELOPE_TOO_LARGE;
    }
    if (!s_is_map_header (bytes [0])) {
        zmesh__detail (detail, "first byte 0x%02x does not start a map",
                       bytes [0]);
        return ZMESH_ERR_ENVELOPE_NOT_MAP;
    }
    s_reader_t reader = {bytes, size, 0};
    zmesh_err_t rc = s_decode_map (self, &reader, canonical, detail);
    if (used)
        *used = reader.pos;
    else if (rc == ZMESH_OK && reader.pos != size) {
        zmesh__detail (detail, "%zu bytes after the map, which ends at %zu",
                       size - reader.pos, reader.pos);
        rc = ZMESH_ERR_ENVELOPE_TRAILING;
    }
    return rc;
}

zmesh_err_t
zmesh_envelope_decode (const void *data, size_t size,
                       zmesh_envelope_t **envelope_p, zmesh_detail_t *detail)
{
    assert (envelope_p);
    zmesh_envelope_t *self = zmesh__alloc (sizeof *self);
    if (!self)
        return ZMESH_ERR_NOMEM;
    zmesh__envelope_init (self, ZMESH_KIND_EVENT);
    zmesh_err_t rc = s_decode (data, size, NULL, self, true, detail);
    if (rc)
        zmesh_envelope_destroy (&self);
    else
        *envelope_p = self;
    return rc;
}

zmesh_err_t
zmesh_envelope_decode_into (const void *data, size_t size,
                            zmesh_envelope_t *self, zmesh_detail_t *detail)
{
    assert (self);
    zmesh_envelope_reset (self, ZMESH_KIND_EVENT);
    return s_decode (data, size, NULL, self, true, detail);
}

zmesh_err_t
zmesh_envelope_decode_next (const void *data, size_t size, size_t *used,
                            zmesh_envelope_t *self, zmesh_detail_t *detail)
{
    assert (self && used);
    zmesh_envelope_reset (self, ZMESH_KIND_EVENT);
    return s_decode (data, size, used, self, true, detail);
}

zmesh_err_t
zmesh__envelope_decode_long (const void *data, size_t size,
                             zmesh_envelope_t *self, zmesh_detail_t *detail)
{
    assert (self);
    zmesh_envelope_reset (self, ZMESH_KIND_EVENT);
    return s_decode (data, size, NULL, self, false, detail);
}
