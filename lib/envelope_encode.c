/*  envelope_encode.c - the zmesh envelope's canonical form on the wire.

    The envelope is a msgpack map keyed by small unsigned integers; the
    keys, types and rules are those of proto/envelope.md, section "Fields".
    The encoder writes the canonical form (the shortest form of each value,
    keys in ascending order) straight into the frame it sends. Its reader
    is envelope_decode.c.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "envelope_private.h"

//  The canonical form is written straight to its frame: one pass counts
//  the bytes (out NULL), a second writes them.
typedef struct {
    uint8_t *out;               //  Where to write, or NULL to count only
    size_t size;                //  Bytes written (or counted)
    size_t capacity;            //  At out: past it, out becomes NULL
} s_packer_t;

//  Where the next size bytes go, or NULL when counting only (from the
//  first that did not fit on); counted either way.
static uint8_t *
s_reserve (s_packer_t *packer, size_t size)
{
    if (packer->out && packer->size + size > packer->capacity)
        packer->out = NULL;
    uint8_t *at = packer->out ? packer->out + packer->size : NULL;
    packer->size += size;
    return at;
}

static void
s_put (s_packer_t *packer, const void *data, size_t size)
{
    uint8_t *at = s_reserve (packer, size);
    if (at)
        memcpy (at, data, size);
}

//  A lead byte followed by value in width big-endian bytes (0 to 8),
//  each stored where it goes: gathered on the stack and copied on as one
//  word, they would have the copy's load wait for the stores to retire.
static void
s_put_head (s_packer_t *packer, uint8_t lead, uint64_t value, int width)
{
    uint8_t *head = s_reserve (packer, (size_t) width + 1);
    if (head) {
        head [0] = lead;
        for (int index = width; index > 0; index--, value >>= 8)
            head [index] = (uint8_t) value;
    }
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
s_put_str_n (s_packer_t *packer, const char *string, size_t length)
{
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
s_put_str (s_packer_t *packer, const char *string)
{
    s_put_str_n (packer, string, strlen (string));
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

//  The fields an event of zmesh__event_fields_t has, in s_pack_fields's
//  order and forms.
size_t
zmesh__envelope_pack_event (const zmesh__event_fields_t *fields,
                            uint8_t *out, size_t capacity)
{
    s_packer_t packer = {out, 0, capacity};
    s_put_map (&packer, 8 + (fields->causation != NULL)
                        + (fields->header != NULL)
                        + (fields->body_size > 0));
    s_put_uint (&packer, KEY_VERSION);
    s_put_uint (&packer, ZMESH_ENVELOPE_VERSION);
    s_put_uint (&packer, KEY_KIND);
    s_put_uint (&packer, ZMESH_KIND_EVENT);
    s_put_uint (&packer, KEY_ID);
    s_put_bin (&packer, fields->id->bytes, ZMESH_UUID_SIZE);
    s_put_uint (&packer, KEY_CORRELATION);
    s_put_bin (&packer, fields->correlation->bytes, ZMESH_UUID_SIZE);
    if (fields->causation) {
        s_put_uint (&packer, KEY_CAUSATION);
        s_put_bin (&packer, fields->causation->bytes, ZMESH_UUID_SIZE);
    }
    s_put_uint (&packer, KEY_TYPE);
    s_put_str_n (&packer, fields->type, fields->type_length);
    s_put_uint (&packer, KEY_SOURCE);
    s_put_str_n (&packer, fields->source, fields->source_length);
    s_put_uint (&packer, KEY_TIMESTAMP);
    s_put_uint (&packer, fields->timestamp);
    s_put_uint (&packer, KEY_SEQ);
    s_put_uint (&packer, fields->seq);
    if (fields->header) {
        s_put_uint (&packer, KEY_HEADERS);
        s_put_map (&packer, 1);
        s_put_str (&packer, fields->header);
        s_put_str_n (&packer, fields->header_value,
                     fields->header_value_length);
    }
    if (fields->body_size > 0) {
        s_put_uint (&packer, KEY_BODY);
        s_put_bin (&packer, fields->body, fields->body_size);
    }
    return packer.size;
}

//  An envelope is packed on the stack first, where most fit, and then
//  copied into its frame: one pass over the fields, not one to size the
//  frame and another to fill it.
#define STACK_PACK 1024

//  Pack self's canonical form into out, capacity bytes. Returns its size,
//  which is all at out only if it is at most capacity; 0 if self lacks a
//  field its kind requires.
static size_t
s_pack (const zmesh_envelope_t *self, uint8_t *out, size_t capacity)
{
    if (zmesh__envelope_missing_field (self) >= 0)
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
    size_t size = s_pack (self, stack, STACK_PACK);
    if (size == 0) {
        int missing = zmesh__envelope_missing_field (self);
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
