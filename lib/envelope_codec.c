/*  envelope_codec.c - encoding and strict decoding of the zmesh envelope.

    The envelope is a msgpack map keyed by small unsigned integers; the
    keys, types and rules are those of proto/envelope.md, section "Fields".
    Both directions work on the frame's bytes directly: the encoder
    writes the canonical form into the frame it sends, and the decoder,
    which never trusts its input, bounds-checks the whole frame before it
    reads each field once, type- and range-checking it into the envelope.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "envelope_private.h"

//  ---------------------------------------------------------------------
//  Encoding

//  The canonical form is written straight to its frame: one pass counts
//  the bytes (out NULL), a second writes them.
typedef struct {
    uint8_t *out;               //  Where to write, or NULL to count only
    size_t size;                //  Bytes written (or counted)
    size_t capacity;            //  At out: past it, out becomes NULL
} s_packer_t;

static void
s_put (s_packer_t *packer, const void *data, size_t size)
{
    if (packer->out && packer->size + size > packer->capacity)
        packer->out = NULL;             //  Counting only, from here
    if (packer->out)
        memcpy (packer->out + packer->size, data, size);
    packer->size += size;
}

//  A lead byte followed by value in width big-endian bytes (0 to 8).
static void
s_put_head (s_packer_t *packer, uint8_t lead, uint64_t value, int width)
{
    uint8_t head [9] = {lead};
    for (int index = width; index > 0; index--, value >>= 8)
        head [index] = (uint8_t) value;
    s_put (packer, head, (size_t) width + 1);
}

//  The shortest form of each, as MessagePack's specification asks.
static void
s_put_uint (s_packer_t *packer, uint64_t value)
{
    if (value < 0x80)
        s_put_head (packer, (uint8_t) value, 0, 0);
    else if (value <= UINT8_MAX)
        s_put_head (packer, 0xcc, value, 1);
    else if (value <= UINT16_MAX)
        s_put_head (packer, 0xcd, value, 2);
    else if (value <= UINT32_MAX)
        s_put_head (packer, 0xce, value, 4);
    else
        s_put_head (packer, 0xcf, value, 8);
}

static void
s_put_int (s_packer_t *packer, int64_t value)
{
    if (value >= 0)
        s_put_uint (packer, (uint64_t) value);
    else if (value >= -32)
        s_put_head (packer, (uint8_t) value, 0, 0);
    else if (value >= INT8_MIN)
        s_put_head (packer, 0xd0, (uint64_t) value, 1);
    else if (value >= INT16_MIN)
        s_put_head (packer, 0xd1, (uint64_t) value, 2);
    else if (value >= INT32_MIN)
        s_put_head (packer, 0xd2, (uint64_t) value, 4);
    else
        s_put_head (packer, 0xd3, (uint64_t) value, 8);
}

static void
s_put_str (s_packer_t *packer, const char *string)
{
    size_t length = strlen (string);
    if (length < 32)
        s_put_head (packer, (uint8_t) (0xa0 | length), 0, 0);
    else if (length <= UINT8_MAX)
        s_put_head (packer, 0xd9, length, 1);
    else if (length <= UINT16_MAX)
        s_put_head (packer, 0xda, length, 2);
    else
        s_put_head (packer, 0xdb, length, 4);
    s_put (packer, string, length);
}

static void
s_put_bin (s_packer_t *packer, const void *data, size_t size)
{
    if (size <= UINT8_MAX)
        s_put_head (packer, 0xc4, size, 1);
    else if (size <= UINT16_MAX)
        s_put_head (packer, 0xc5, size, 2);
    else
        s_put_head (packer, 0xc6, size, 4);
    s_put (packer, data, size);
}

static void
s_put_map (s_packer_t *packer, size_t entries)
{
    if (entries < 16)
        s_put_head (packer, (uint8_t) (0x80 | entries), 0, 0);
    else
        s_put_head (packer, 0xde, entries, 2);      //  At most 15 + 32
}

//  Return the first field that self's kind requires and self lacks, or -1.
static int
s_missing_field (const zmesh_envelope_t *self)
{
    if (zmesh_uuid_is_nil (&self->id))
        return KEY_ID;
    if (zmesh_uuid_is_nil (&self->correlation))
        return KEY_CORRELATION;
    if (!*self->type)
        return KEY_TYPE;
    if (!*self->source)
        return KEY_SOURCE;
    if (self->kind == ZMESH_KIND_EVENT && self->seq == 0)
        return KEY_SEQ;
    if (self->kind == ZMESH_KIND_REQUEST && !self->has_budget)
        return KEY_BUDGET;
    if (self->kind == ZMESH_KIND_REPLY && !self->has_status)
        return KEY_STATUS;
    if (self->has_status && self->status != ZMESH_STATUS_OK
        && !self->has_error_code)
        return KEY_ERROR_CODE;
    return -1;
}

//  Pack every field self has, in ascending key order (the canonical form).
static void
s_pack_fields (const zmesh_envelope_t *self, s_packer_t *packer)
{
    //  Seven fields are always there: version to timestamp less causation.
    size_t fields = 7 + self->has_causation + (self->seq > 0)
                  + self->has_budget + self->has_status
                  + self->has_error_code + (self->error_text != NULL)
                  + (self->header_count > 0) + (self->body_size > 0);
    s_put_map (packer, fields);
    s_put_uint (packer, KEY_VERSION);
    s_put_uint (packer, ZMESH_ENVELOPE_VERSION);
    s_put_uint (packer, KEY_KIND);
    s_put_uint (packer, self->kind);
    s_put_uint (packer, KEY_ID);
    s_put_bin (packer, self->id.bytes, ZMESH_UUID_SIZE);
    s_put_uint (packer, KEY_CORRELATION);
    s_put_bin (packer, self->correlation.bytes, ZMESH_UUID_SIZE);
    if (self->has_causation) {
        s_put_uint (packer, KEY_CAUSATION);
        s_put_bin (packer, self->causation.bytes, ZMESH_UUID_SIZE);
    }
    s_put_uint (packer, KEY_TYPE);
    s_put_str (packer, self->type);
    s_put_uint (packer, KEY_SOURCE);
    s_put_str (packer, self->source);
    s_put_uint (packer, KEY_TIMESTAMP);
    s_put_uint (packer, self->timestamp);
    if (self->seq > 0) {
        s_put_uint (packer, KEY_SEQ);
        s_put_uint (packer, self->seq);
    }
    if (self->has_budget) {
        s_put_uint (packer, KEY_BUDGET);
        s_put_uint (packer, self->budget_ms);
    }
    if (self->has_status) {
        s_put_uint (packer, KEY_STATUS);
        s_put_uint (packer, self->status);
    }
    if (self->has_error_code) {
        s_put_uint (packer, KEY_ERROR_CODE);
        s_put_int (packer, self->error_code);
    }
    if (self->error_text) {
        s_put_uint (packer, KEY_ERROR_TEXT);
        s_put_str (packer, self->error_text);
    }
    if (self->header_count > 0) {
        s_put_uint (packer, KEY_HEADERS);
        s_put_map (packer, self->header_count);
        for (size_t index = 0; index < self->header_count; index++) {
            s_put_str (packer, self->headers [index].name);
            s_put_str (packer, self->headers [index].value);
        }
    }
    if (self->body_size > 0) {
        s_put_uint (packer, KEY_BODY);
        s_put_bin (packer, self->body, self->body_size);
    }
}

//  An envelope is packed on the stack first, where most fit, and then
//  copied into its frame: one pass over the fields, not one to size the
//  frame and another to fill it.
#define STACK_PACK 1024

size_t
zmesh__envelope_pack (const zmesh_envelope_t *self, uint8_t *out,
                      size_t capacity)
{
    if (s_missing_field (self) >= 0)
        return 0;
    s_packer_t packer = {out, 0, capacity};
    s_pack_fields (self, &packer);
    return packer.size;
}

//  Pack self into stack (STACK_PACK bytes) as far as it fits. Its size,
//  or 0 with detail if it lacks a field it must have; *fitted says
//  whether all of it is in stack.
static size_t
s_pack_stack (const zmesh_envelope_t *self, uint8_t *stack, bool *fitted,
              zmesh_detail_t *detail)
{
    size_t size = zmesh__envelope_pack (self, stack, STACK_PACK);
    if (size == 0) {
        int missing = s_missing_field (self);
        zmesh__detail (detail, "%s envelope lacks field '%s' (key %d)",
                       zmesh_kind_name (self->kind),
                       zmesh__envelope_key_names[missing], missing);
    }
    *fitted = size <= STACK_PACK;
    return size;
}

//  Then into out, its size bytes: a copy, or a second packing.
static void
s_pack_out (const zmesh_envelope_t *self, const uint8_t *stack, bool fitted,
            uint8_t *out, size_t size)
{
    if (fitted)
        memcpy (out, stack, size);
    else {
        s_packer_t packer = {out, 0, size};
        s_pack_fields (self, &packer);
    }
}

zmesh_err_t
zmesh_envelope_encode (const zmesh_envelope_t *self, zframe_t **frame_p,
                       zmesh_detail_t *detail)
{
    assert (self && frame_p);
    uint8_t stack [STACK_PACK];
    bool fitted;
    size_t size = s_pack_stack (self, stack, &fitted, detail);
    if (size == 0)
        return ZMESH_ERR_ENVELOPE_MISSING_FIELD;
    zframe_t *frame = zframe_new (NULL, size);
    if (!frame)
        return ZMESH_ERR_NOMEM;
    s_pack_out (self, stack, fitted, zframe_data (frame), size);
    *frame_p = frame;
    return ZMESH_OK;
}

zmesh_err_t
zmesh_envelope_encode_msg (const zmesh_envelope_t *self, zmq_msg_t *msg,
                           zmesh_detail_t *detail)
{
    assert (self && msg);
    uint8_t stack [STACK_PACK];
    bool fitted;
    size_t size = s_pack_stack (self, stack, &fitted, detail);
    if (size == 0)
        return ZMESH_ERR_ENVELOPE_MISSING_FIELD;
    if (zmq_msg_init_size (msg, size))
        return ZMESH_ERR_NOMEM;
    s_pack_out (self, stack, fitted, zmq_msg_data (msg), size);
    return ZMESH_OK;
}


//  ---------------------------------------------------------------------
//  Decoding
//
//  One pass over the frame: each field is read once, straight from the
//  frame, bounds-checked as it is read, and type- and range-checked into
//  self. Values the decoder does not take apart (unknown fields, the
//  entries of a container where a field wants something else) are walked
//  by zmesh__msgpack_check, within what nesting is left.

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

//  Decode the map that the reader is at.
static zmesh_err_t
s_decode_map (zmesh_envelope_t *self, s_reader_t *reader,
              zmesh_detail_t *detail)
{
    s_value_t map;
    zmesh_err_t rc = s_read_head (reader, &map, detail);
    if (rc == ZMESH_OK)
        rc = s_check_version (reader, map.number, detail);
    if (rc)
        return rc;
    uint32_t seen = 0;          //  Bit per known key
    for (uint64_t index = 0; index < map.number; index++) {
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
    int missing = s_missing_field (self);
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
          zmesh_detail_t *detail)
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
    zmesh_err_t rc = s_decode_map (self, &reader, detail);
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
    zmesh_err_t rc = s_decode (data, size, NULL, self, detail);
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
    return s_decode (data, size, NULL, self, detail);
}

zmesh_err_t
zmesh_envelope_decode_next (const void *data, size_t size, size_t *used,
                            zmesh_envelope_t *self, zmesh_detail_t *detail)
{
    assert (self && used);
    zmesh_envelope_reset (self, ZMESH_KIND_EVENT);
    return s_decode (data, size, used, self, detail);
}
