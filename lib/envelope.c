/*  envelope.c - encoding and strict decoding of the zmesh envelope.

    The envelope is a msgpack map keyed by small unsigned integers; the
    keys, types and rules are those of proto/envelope.md, section "Fields".
    Decoding never trusts the input: lengths are checked before msgpack-c
    allocates anything, every field is type- and range-checked, and all
    that survives is copied out of the msgpack zone before it is freed.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <msgpack.h>

//  Field keys on the wire. Append only: a key, once given, keeps its
//  meaning forever.
typedef enum {
    KEY_VERSION = 0,
    KEY_KIND = 1,
    KEY_ID = 2,
    KEY_CORRELATION = 3,
    KEY_CAUSATION = 4,
    KEY_TYPE = 5,
    KEY_SOURCE = 6,
    KEY_TIMESTAMP = 7,
    KEY_SEQ = 8,
    KEY_BUDGET = 9,
    KEY_STATUS = 10,
    KEY_ERROR_CODE = 11,
    KEY_ERROR_TEXT = 12,
    KEY_HEADERS = 13,
    KEY_BODY = 14,
    KEY_COUNT_
} s_key_t;

static const char *s_key_names [KEY_COUNT_] = {
    "version", "kind", "id", "correlation", "causation", "type", "source",
    "timestamp", "seq", "budget_ms", "status", "error_code", "error_text",
    "headers", "body"
};

//  A body buffer larger than this is freed by zmesh_envelope_reset rather
//  than kept for the next body.
#define BODY_KEPT_MAX   65536

typedef struct {
    char *name;                 //  One block: "name\0value\0"
    char *value;                //  Points into the name's block
} s_header_t;

struct _zmesh_envelope_t {
    zmesh_kind_t kind;          //  Event, request or reply
    zmesh_uuid_t id;            //  This message; nil until set
    zmesh_uuid_t correlation;   //  The flow; nil until set
    zmesh_uuid_t causation;     //  The message that caused this one
    bool has_causation;         //  False at the start of a flow
    char type [ZMESH_ENVELOPE_TYPE_MAX + 1];        //  Event type or method
    char source [ZMESH_ENVELOPE_SOURCE_MAX + 1];    //  Sending node
    uint64_t timestamp;         //  Unix ms when the message was made
    uint64_t seq;               //  Per-publisher sequence; 0 = none
    bool has_budget;            //  Requests carry a budget
    uint32_t budget_ms;         //  Remaining time budget of a request
    bool has_status;            //  Replies carry a status
    zmesh_status_t status;      //  Ok, application or mesh error
    bool has_error_code;        //  Set with any status other than ok
    int64_t error_code;         //  Application's or zmesh_mesh_error_t
    char *error_text;           //  Optional, for people
    size_t header_count;        //  Headers in use
    s_header_t headers [ZMESH_ENVELOPE_HEADERS_MAX];
    uint8_t *body;              //  One msgpack value, or NULL
    size_t body_size;           //  Bytes of body
    size_t body_capacity;       //  Bytes allocated at body, kept for reuse
};


//  ---------------------------------------------------------------------
//  Lifecycle

zmesh_envelope_t *
zmesh_envelope_new (zmesh_kind_t kind)
{
    if (kind < ZMESH_KIND_EVENT || kind > ZMESH_KIND_REPLY)
        return NULL;
    zmesh_envelope_t *self = zmesh__calloc (1, sizeof *self);
    if (self) {
        self->kind = kind;
        self->has_status = kind == ZMESH_KIND_REPLY;
    }
    return self;
}

static void
s_clear_headers (zmesh_envelope_t *self)
{
    for (size_t index = 0; index < self->header_count; index++)
        zmesh__free (self->headers [index].name);
    self->header_count = 0;
}

void
zmesh_envelope_destroy (zmesh_envelope_t **self_p)
{
    assert (self_p);
    zmesh_envelope_t *self = *self_p;
    if (self) {
        s_clear_headers (self);
        zmesh__free (self->error_text);
        zmesh__free (self->body);
        zmesh__free (self);
        *self_p = NULL;
    }
}


void
zmesh_envelope_reset (zmesh_envelope_t *self, zmesh_kind_t kind)
{
    assert (self && kind >= ZMESH_KIND_EVENT && kind <= ZMESH_KIND_REPLY);
    s_clear_headers (self);
    zmesh__free (self->error_text);
    uint8_t *body = self->body;
    size_t capacity = self->body_capacity;
    if (capacity > BODY_KEPT_MAX) {
        zmesh__free (body);
        body = NULL;
        capacity = 0;
    }
    memset (self, 0, sizeof *self);
    self->kind = kind;
    self->has_status = kind == ZMESH_KIND_REPLY;
    self->body = body;
    self->body_capacity = capacity;
}

//  Copy size bytes of body into self, in the buffer it has if they fit.
static zmesh_err_t
s_store_body (zmesh_envelope_t *self, const void *body, size_t size)
{
    if (size > self->body_capacity) {
        uint8_t *buffer = zmesh__alloc (size);
        if (!buffer)
            return ZMESH_ERR_NOMEM;
        zmesh__free (self->body);
        self->body = buffer;
        self->body_capacity = size;
    }
    if (size)
        memcpy (self->body, body, size);
    self->body_size = size;
    return ZMESH_OK;
}


//  ---------------------------------------------------------------------
//  Validation shared by setters and the decoder

//  The name rule on a counted string, as msgpack hands them out.
static bool
s_name_valid (const char *name, size_t length, size_t max)
{
    if (length == 0 || length > max)
        return false;
    for (size_t index = 0; index < length; index++) {
        char c = name [index];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool
zmesh_envelope_name_valid (const char *name, size_t max)
{
    return name && s_name_valid (name, strnlen (name, max + 1), max);
}

static bool
s_text_valid (const char *text, size_t length)
{
    return length <= ZMESH_ENVELOPE_TEXT_MAX && !memchr (text, 0, length);
}

static bool
s_body_valid (const uint8_t *body, size_t size)
{
    size_t end;
    return zmesh__msgpack_check (body, size, &end, NULL) == ZMESH_OK
        && end == size;
}


//  ---------------------------------------------------------------------
//  Setters

void
zmesh_envelope_set_id (zmesh_envelope_t *self, const zmesh_uuid_t *id)
{
    assert (self && id);
    self->id = *id;
}

void
zmesh_envelope_set_correlation (zmesh_envelope_t *self,
                                const zmesh_uuid_t *correlation)
{
    assert (self && correlation);
    self->correlation = *correlation;
}

void
zmesh_envelope_set_causation (zmesh_envelope_t *self,
                              const zmesh_uuid_t *causation)
{
    assert (self);
    self->has_causation = causation && !zmesh_uuid_is_nil (causation);
    if (self->has_causation)
        self->causation = *causation;
}

static zmesh_err_t
s_set_name (char *target, const char *name, size_t max)
{
    if (!zmesh_envelope_name_valid (name, max))
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    memcpy (target, name, strlen (name) + 1);
    return ZMESH_OK;
}

zmesh_err_t
zmesh_envelope_set_type (zmesh_envelope_t *self, const char *type)
{
    assert (self);
    return s_set_name (self->type, type, ZMESH_ENVELOPE_TYPE_MAX);
}

zmesh_err_t
zmesh_envelope_set_source (zmesh_envelope_t *self, const char *source)
{
    assert (self);
    return s_set_name (self->source, source, ZMESH_ENVELOPE_SOURCE_MAX);
}

void
zmesh_envelope_set_timestamp (zmesh_envelope_t *self, uint64_t unix_ms)
{
    assert (self);
    self->timestamp = unix_ms;
}

void
zmesh_envelope_set_seq (zmesh_envelope_t *self, uint64_t seq)
{
    assert (self);
    self->seq = seq;
}

void
zmesh_envelope_set_budget_ms (zmesh_envelope_t *self, uint32_t budget_ms)
{
    assert (self);
    self->has_budget = true;
    self->budget_ms = budget_ms;
}

//  Replace the error text with a copy of length bytes of text, or none.
static zmesh_err_t
s_set_error_text (zmesh_envelope_t *self, const char *text, size_t length)
{
    char *copy = NULL;
    if (text && !(copy = zmesh__strndup (text, length)))
        return ZMESH_ERR_NOMEM;
    zmesh__free (self->error_text);
    self->error_text = copy;
    return ZMESH_OK;
}

zmesh_err_t
zmesh_envelope_set_status (zmesh_envelope_t *self, zmesh_status_t status,
                           int64_t error_code, const char *error_text)
{
    assert (self);
    if (status > ZMESH_STATUS_MESH_ERROR)
        return ZMESH_ERR_ENVELOPE_BAD_VALUE;
    if (status == ZMESH_STATUS_OK)
        error_text = NULL;
    size_t length = error_text ? strlen (error_text) : 0;
    if (length > ZMESH_ENVELOPE_TEXT_MAX)
        return ZMESH_ERR_ENVELOPE_BAD_TEXT;
    zmesh_err_t rc = s_set_error_text (self, error_text, length);
    if (rc)
        return rc;
    self->has_status = true;
    self->status = status;
    self->has_error_code = status != ZMESH_STATUS_OK;
    self->error_code = self->has_error_code ? error_code : 0;
    return ZMESH_OK;
}

static s_header_t *
s_find_header (const zmesh_envelope_t *self, const char *name, size_t length)
{
    for (size_t index = 0; index < self->header_count; index++) {
        const s_header_t *header = &self->headers [index];
        if (strlen (header->name) == length
            && memcmp (header->name, name, length) == 0)
            return (s_header_t *) header;
    }
    return NULL;
}

//  Point header at a new block holding name and value; the old block, if
//  any, is freed only once the new one exists.
static zmesh_err_t
s_header_store (s_header_t *header, const char *name, size_t name_size,
                const char *value, size_t value_size)
{
    char *block = zmesh__alloc (name_size + value_size + 2);
    if (!block)
        return ZMESH_ERR_NOMEM;
    memcpy (block, name, name_size);
    block [name_size] = 0;
    memcpy (block + name_size + 1, value, value_size);
    block [name_size + 1 + value_size] = 0;
    zmesh__free (header->name);
    header->name = block;
    header->value = block + name_size + 1;
    return ZMESH_OK;
}

//  Append a header without checking for a twin; the caller has.
static zmesh_err_t
s_append_header (zmesh_envelope_t *self, const char *name, size_t name_size,
                 const char *value, size_t value_size)
{
    if (self->header_count == ZMESH_ENVELOPE_HEADERS_MAX)
        return ZMESH_ERR_ENVELOPE_TOO_MANY_HEADERS;
    s_header_t *header = &self->headers [self->header_count];
    header->name = NULL;
    zmesh_err_t rc = s_header_store (header, name, name_size, value,
                                     value_size);
    if (rc == ZMESH_OK)
        self->header_count++;
    return rc;
}

zmesh_err_t
zmesh_envelope_set_header (zmesh_envelope_t *self, const char *name,
                           const char *value)
{
    assert (self);
    if (!zmesh_envelope_name_valid (name, ZMESH_ENVELOPE_HEADER_NAME_MAX)
        || !value || strlen (value) > ZMESH_ENVELOPE_TEXT_MAX)
        return ZMESH_ERR_ENVELOPE_BAD_HEADER;
    size_t name_size = strlen (name);
    s_header_t *twin = s_find_header (self, name, name_size);
    if (twin)
        return s_header_store (twin, name, name_size, value, strlen (value));
    return s_append_header (self, name, name_size, value, strlen (value));
}

zmesh_err_t
zmesh_envelope_set_body (zmesh_envelope_t *self, const void *body,
                         size_t size)
{
    assert (self);
    if (size > ZMESH_ENVELOPE_BODY_MAX)
        return ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE;
    if (size && !s_body_valid (body, size))
        return ZMESH_ERR_ENVELOPE_BAD_BODY;
    return s_store_body (self, body, size);
}


//  ---------------------------------------------------------------------
//  Getters

zmesh_kind_t
zmesh_envelope_kind (const zmesh_envelope_t *self)
{
    assert (self);
    return self->kind;
}

const zmesh_uuid_t *
zmesh_envelope_id (const zmesh_envelope_t *self)
{
    assert (self);
    return &self->id;
}

const zmesh_uuid_t *
zmesh_envelope_correlation (const zmesh_envelope_t *self)
{
    assert (self);
    return &self->correlation;
}

const zmesh_uuid_t *
zmesh_envelope_causation (const zmesh_envelope_t *self)
{
    assert (self);
    return self->has_causation ? &self->causation : NULL;
}

const char *
zmesh_envelope_type (const zmesh_envelope_t *self)
{
    assert (self);
    return self->type;
}

const char *
zmesh_envelope_source (const zmesh_envelope_t *self)
{
    assert (self);
    return self->source;
}

uint64_t
zmesh_envelope_timestamp (const zmesh_envelope_t *self)
{
    assert (self);
    return self->timestamp;
}

uint64_t
zmesh_envelope_seq (const zmesh_envelope_t *self)
{
    assert (self);
    return self->seq;
}

bool
zmesh_envelope_has_budget (const zmesh_envelope_t *self)
{
    assert (self);
    return self->has_budget;
}

uint32_t
zmesh_envelope_budget_ms (const zmesh_envelope_t *self)
{
    assert (self);
    return self->budget_ms;
}

bool
zmesh_envelope_has_status (const zmesh_envelope_t *self)
{
    assert (self);
    return self->has_status;
}

zmesh_status_t
zmesh_envelope_status (const zmesh_envelope_t *self)
{
    assert (self);
    return self->status;
}

int64_t
zmesh_envelope_error_code (const zmesh_envelope_t *self)
{
    assert (self);
    return self->error_code;
}

const char *
zmesh_envelope_error_text (const zmesh_envelope_t *self)
{
    assert (self);
    return self->error_text;
}

size_t
zmesh_envelope_header_count (const zmesh_envelope_t *self)
{
    assert (self);
    return self->header_count;
}

const char *
zmesh_envelope_header_name (const zmesh_envelope_t *self, size_t index)
{
    assert (self && index < self->header_count);
    return self->headers [index].name;
}

const char *
zmesh_envelope_header_value (const zmesh_envelope_t *self, size_t index)
{
    assert (self && index < self->header_count);
    return self->headers [index].value;
}

const char *
zmesh_envelope_header (const zmesh_envelope_t *self, const char *name)
{
    assert (self && name);
    const s_header_t *header = s_find_header (self, name, strlen (name));
    return header ? header->value : NULL;
}

const void *
zmesh_envelope_body (const zmesh_envelope_t *self)
{
    assert (self);
    return self->body_size ? self->body : NULL;
}

size_t
zmesh_envelope_body_size (const zmesh_envelope_t *self)
{
    assert (self);
    return self->body_size;
}

const char *
zmesh_kind_name (zmesh_kind_t kind)
{
    switch (kind) {
        case ZMESH_KIND_EVENT:
            return "event";
        case ZMESH_KIND_REQUEST:
            return "request";
        case ZMESH_KIND_REPLY:
            return "reply";
    }
    return "unknown";
}


//  ---------------------------------------------------------------------
//  Encoding

//  A growable output buffer: small envelopes never leave the stack.
typedef struct {
    uint8_t *data;              //  stack, or heap once outgrown
    size_t size;                //  Bytes written
    size_t capacity;            //  Bytes available at data
    bool nomem;                 //  A write could not grow the buffer
    uint8_t stack [1024];       //  First home of the output
} s_writer_t;

static int
s_writer_write (void *data, const char *buffer, size_t length)
{
    s_writer_t *writer = data;
    if (writer->capacity - writer->size < length) {
        size_t capacity = writer->capacity * 2;
        while (capacity - writer->size < length)
            capacity *= 2;
        uint8_t *grown = zmesh__alloc (capacity);
        if (!grown) {
            writer->nomem = true;
            return -1;
        }
        memcpy (grown, writer->data, writer->size);
        if (writer->data != writer->stack)
            zmesh__free (writer->data);
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy (writer->data + writer->size, buffer, length);
    writer->size += length;
    return 0;
}

static void
s_pack_str (msgpack_packer *packer, const char *string)
{
    size_t length = strlen (string);
    msgpack_pack_str (packer, length);
    msgpack_pack_str_body (packer, string, length);
}

static void
s_pack_bin (msgpack_packer *packer, const void *data, size_t size)
{
    msgpack_pack_bin (packer, size);
    msgpack_pack_bin_body (packer, data, size);
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
s_pack_fields (const zmesh_envelope_t *self, msgpack_packer *packer)
{
    //  Seven fields are always there: version to timestamp less causation.
    size_t fields = 7 + self->has_causation + (self->seq > 0)
                  + self->has_budget + self->has_status
                  + self->has_error_code + (self->error_text != NULL)
                  + (self->header_count > 0) + (self->body_size > 0);
    msgpack_pack_map (packer, fields);
    msgpack_pack_uint8 (packer, KEY_VERSION);
    msgpack_pack_uint8 (packer, ZMESH_ENVELOPE_VERSION);
    msgpack_pack_uint8 (packer, KEY_KIND);
    msgpack_pack_uint8 (packer, (uint8_t) self->kind);
    msgpack_pack_uint8 (packer, KEY_ID);
    s_pack_bin (packer, self->id.bytes, ZMESH_UUID_SIZE);
    msgpack_pack_uint8 (packer, KEY_CORRELATION);
    s_pack_bin (packer, self->correlation.bytes, ZMESH_UUID_SIZE);
    if (self->has_causation) {
        msgpack_pack_uint8 (packer, KEY_CAUSATION);
        s_pack_bin (packer, self->causation.bytes, ZMESH_UUID_SIZE);
    }
    msgpack_pack_uint8 (packer, KEY_TYPE);
    s_pack_str (packer, self->type);
    msgpack_pack_uint8 (packer, KEY_SOURCE);
    s_pack_str (packer, self->source);
    msgpack_pack_uint8 (packer, KEY_TIMESTAMP);
    msgpack_pack_uint64 (packer, self->timestamp);
    if (self->seq > 0) {
        msgpack_pack_uint8 (packer, KEY_SEQ);
        msgpack_pack_uint64 (packer, self->seq);
    }
    if (self->has_budget) {
        msgpack_pack_uint8 (packer, KEY_BUDGET);
        msgpack_pack_uint32 (packer, self->budget_ms);
    }
    if (self->has_status) {
        msgpack_pack_uint8 (packer, KEY_STATUS);
        msgpack_pack_uint8 (packer, (uint8_t) self->status);
    }
    if (self->has_error_code) {
        msgpack_pack_uint8 (packer, KEY_ERROR_CODE);
        msgpack_pack_int64 (packer, self->error_code);
    }
    if (self->error_text) {
        msgpack_pack_uint8 (packer, KEY_ERROR_TEXT);
        s_pack_str (packer, self->error_text);
    }
    if (self->header_count > 0) {
        msgpack_pack_uint8 (packer, KEY_HEADERS);
        msgpack_pack_map (packer, self->header_count);
        for (size_t index = 0; index < self->header_count; index++) {
            s_pack_str (packer, self->headers [index].name);
            s_pack_str (packer, self->headers [index].value);
        }
    }
    if (self->body_size > 0) {
        msgpack_pack_uint8 (packer, KEY_BODY);
        s_pack_bin (packer, self->body, self->body_size);
    }
}

//  Encode self into writer (set up here). Returns ZMESH_OK, a missing
//  field error or ZMESH_ERR_NOMEM; the caller frees a grown writer's data.
static zmesh_err_t
s_encode (const zmesh_envelope_t *self, s_writer_t *writer,
          zmesh_detail_t *detail)
{
    writer->data = writer->stack;
    writer->size = 0;
    writer->capacity = sizeof writer->stack;
    writer->nomem = false;
    int missing = s_missing_field (self);
    if (missing >= 0) {
        zmesh__detail (detail, "%s envelope lacks field '%s' (key %d)",
                       zmesh_kind_name (self->kind), s_key_names [missing],
                       missing);
        return ZMESH_ERR_ENVELOPE_MISSING_FIELD;
    }
    msgpack_packer packer;
    msgpack_packer_init (&packer, writer, s_writer_write);
    s_pack_fields (self, &packer);
    return writer->nomem ? ZMESH_ERR_NOMEM : ZMESH_OK;
}

zmesh_err_t
zmesh_envelope_encode (const zmesh_envelope_t *self, zframe_t **frame_p,
                       zmesh_detail_t *detail)
{
    assert (self && frame_p);
    s_writer_t writer;
    zmesh_err_t rc = s_encode (self, &writer, detail);
    zframe_t *frame = rc ? NULL : zframe_new (writer.data, writer.size);
    if (writer.data != writer.stack)
        zmesh__free (writer.data);
    if (rc == ZMESH_OK && !frame)
        rc = ZMESH_ERR_NOMEM;
    if (rc == ZMESH_OK)
        *frame_p = frame;
    return rc;
}

zmesh_err_t
zmesh_envelope_encode_msg (const zmesh_envelope_t *self, zmq_msg_t *msg,
                           zmesh_detail_t *detail)
{
    assert (self && msg);
    s_writer_t writer;
    zmesh_err_t rc = s_encode (self, &writer, detail);
    if (rc == ZMESH_OK && zmq_msg_init_size (msg, writer.size))
        rc = ZMESH_ERR_NOMEM;
    if (rc == ZMESH_OK)
        memcpy (zmq_msg_data (msg), writer.data, writer.size);
    if (writer.data != writer.stack)
        zmesh__free (writer.data);
    return rc;
}


//  ---------------------------------------------------------------------
//  Decoding

//  Reject and say which field; the detail names the field and its key.
#define FIELD_ERROR(rc, key, ...)                                    \
    do {                                                             \
        char why_ [100];                                             \
        snprintf (why_, sizeof why_, __VA_ARGS__);                   \
        zmesh__detail (detail, "field '%s' (key %d): %s",            \
                       s_key_names [key], (int) (key), why_);        \
        return (rc);                                                 \
    } while (0)

static const char *
s_type_name (msgpack_object_type type)
{
    switch (type) {
        case MSGPACK_OBJECT_NIL: return "nil";
        case MSGPACK_OBJECT_BOOLEAN: return "bool";
        case MSGPACK_OBJECT_POSITIVE_INTEGER: return "uint";
        case MSGPACK_OBJECT_NEGATIVE_INTEGER: return "negative int";
        case MSGPACK_OBJECT_FLOAT32: return "float32";
        case MSGPACK_OBJECT_FLOAT64: return "float64";
        case MSGPACK_OBJECT_STR: return "str";
        case MSGPACK_OBJECT_ARRAY: return "array";
        case MSGPACK_OBJECT_MAP: return "map";
        case MSGPACK_OBJECT_BIN: return "bin";
        case MSGPACK_OBJECT_EXT: return "ext";
    }
    return "unknown";
}

static zmesh_err_t
s_decode_uint (const msgpack_object *value, s_key_t key, uint64_t min,
               uint64_t max, uint64_t *out, zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected uint",
                     s_type_name (value->type));
    if (value->via.u64 < min || value->via.u64 > max)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_VALUE, key,
                     "%" PRIu64 " is outside %" PRIu64 "..%" PRIu64,
                     value->via.u64, min, max);
    *out = value->via.u64;
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_uuid (const msgpack_object *value, s_key_t key, zmesh_uuid_t *out,
               zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_BIN)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected bin",
                     s_type_name (value->type));
    if (value->via.bin.size != ZMESH_UUID_SIZE)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_UUID, key,
                     "bin of %u bytes, expected 16", value->via.bin.size);
    memcpy (out->bytes, value->via.bin.ptr, ZMESH_UUID_SIZE);
    if (zmesh_uuid_is_nil (out))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_UUID, key, "the nil UUID");
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_name (const msgpack_object *value, s_key_t key, size_t max,
               char *out, zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_STR)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected str",
                     s_type_name (value->type));
    const msgpack_object_str *str = &value->via.str;
    if (!s_name_valid (str->ptr, str->size, max))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_NAME, key,
                     "%u bytes, need 1..%zu of [A-Za-z0-9._-]", str->size,
                     max);
    memcpy (out, str->ptr, str->size);
    out [str->size] = 0;
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_error_code (const msgpack_object *value, int64_t *out,
                     zmesh_detail_t *detail)
{
    if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *out = value->via.i64;
    else if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (value->via.u64 > INT64_MAX)
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_VALUE, KEY_ERROR_CODE,
                         "%" PRIu64 " does not fit in int64", value->via.u64);
        *out = (int64_t) value->via.u64;
    }
    else
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_ERROR_CODE,
                     "%s, expected int", s_type_name (value->type));
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_error_text (zmesh_envelope_t *self, const msgpack_object *value,
                     zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_STR)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_ERROR_TEXT,
                     "%s, expected str", s_type_name (value->type));
    const msgpack_object_str *str = &value->via.str;
    if (!s_text_valid (str->ptr, str->size))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_TEXT, KEY_ERROR_TEXT,
                     "%u bytes, need at most %d and no NUL", str->size,
                     ZMESH_ENVELOPE_TEXT_MAX);
    return s_set_error_text (self, str->ptr, str->size);
}

static zmesh_err_t
s_decode_headers (zmesh_envelope_t *self, const msgpack_object *value,
                  zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_MAP)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_HEADERS,
                     "%s, expected map", s_type_name (value->type));
    if (value->via.map.size > ZMESH_ENVELOPE_HEADERS_MAX)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_TOO_MANY_HEADERS, KEY_HEADERS,
                     "%u entries, at most %d", value->via.map.size,
                     ZMESH_ENVELOPE_HEADERS_MAX);
    for (uint32_t index = 0; index < value->via.map.size; index++) {
        const msgpack_object *name = &value->via.map.ptr [index].key;
        const msgpack_object *text = &value->via.map.ptr [index].val;
        if (name->type != MSGPACK_OBJECT_STR || text->type != MSGPACK_OBJECT_STR)
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u is %s => %s, expected str => str", index,
                         s_type_name (name->type), s_type_name (text->type));
        const msgpack_object_str *n = &name->via.str;
        const msgpack_object_str *v = &text->via.str;
        if (!s_name_valid (n->ptr, n->size, ZMESH_ENVELOPE_HEADER_NAME_MAX))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: name of %u bytes, need 1..%d of "
                         "[A-Za-z0-9._-]", index, n->size,
                         ZMESH_ENVELOPE_HEADER_NAME_MAX);
        if (!s_text_valid (v->ptr, v->size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: value of %u bytes, need at most %d and "
                         "no NUL", index, v->size, ZMESH_ENVELOPE_TEXT_MAX);
        if (s_find_header (self, n->ptr, n->size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u repeats the name '%.*s'", index,
                         (int) n->size, n->ptr);
        zmesh_err_t rc = s_append_header (self, n->ptr, n->size, v->ptr,
                                          v->size);
        if (rc)
            return rc;
    }
    return ZMESH_OK;
}

static zmesh_err_t
s_decode_body (zmesh_envelope_t *self, const msgpack_object *value,
               zmesh_detail_t *detail)
{
    if (value->type != MSGPACK_OBJECT_BIN)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_BODY,
                     "%s, expected bin", s_type_name (value->type));
    const msgpack_object_bin *bin = &value->via.bin;
    if (bin->size > ZMESH_ENVELOPE_BODY_MAX)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE, KEY_BODY,
                     "%u bytes, at most %d", bin->size,
                     ZMESH_ENVELOPE_BODY_MAX);
    if (!s_body_valid ((const uint8_t *) bin->ptr, bin->size))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_BODY, KEY_BODY,
                     "%u bytes that are not exactly one msgpack value",
                     bin->size);
    return s_store_body (self, bin->ptr, bin->size);
}

//  Decode one known field into self.
static zmesh_err_t
s_decode_field (zmesh_envelope_t *self, s_key_t key,
                const msgpack_object *value, zmesh_detail_t *detail)
{
    uint64_t number = 0;
    zmesh_err_t rc = ZMESH_OK;
    switch (key) {
        case KEY_VERSION:
            break;              //  Checked before any other field
        case KEY_KIND:
            rc = s_decode_uint (value, key, 0, UINT64_MAX, &number, detail);
            if (rc == ZMESH_OK && (number < ZMESH_KIND_EVENT
                                   || number > ZMESH_KIND_REPLY))
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_KIND, key,
                             "%" PRIu64 " is not 1, 2 or 3", number);
            self->kind = (zmesh_kind_t) number;
            break;
        case KEY_ID:
            rc = s_decode_uuid (value, key, &self->id, detail);
            break;
        case KEY_CORRELATION:
            rc = s_decode_uuid (value, key, &self->correlation, detail);
            break;
        case KEY_CAUSATION:
            rc = s_decode_uuid (value, key, &self->causation, detail);
            self->has_causation = rc == ZMESH_OK;
            break;
        case KEY_TYPE:
            rc = s_decode_name (value, key, ZMESH_ENVELOPE_TYPE_MAX,
                                self->type, detail);
            break;
        case KEY_SOURCE:
            rc = s_decode_name (value, key, ZMESH_ENVELOPE_SOURCE_MAX,
                                self->source, detail);
            break;
        case KEY_TIMESTAMP:
            rc = s_decode_uint (value, key, 0, UINT64_MAX, &self->timestamp,
                                detail);
            break;
        case KEY_SEQ:
            rc = s_decode_uint (value, key, 1, UINT64_MAX, &self->seq, detail);
            break;
        case KEY_BUDGET:
            rc = s_decode_uint (value, key, 0, UINT32_MAX, &number, detail);
            self->has_budget = rc == ZMESH_OK;
            self->budget_ms = (uint32_t) number;
            break;
        case KEY_STATUS:
            rc = s_decode_uint (value, key, 0, ZMESH_STATUS_MESH_ERROR,
                                &number, detail);
            self->has_status = rc == ZMESH_OK;
            self->status = (zmesh_status_t) number;
            break;
        case KEY_ERROR_CODE:
            rc = s_decode_error_code (value, &self->error_code, detail);
            self->has_error_code = rc == ZMESH_OK;
            break;
        case KEY_ERROR_TEXT:
            rc = s_decode_error_text (self, value, detail);
            break;
        case KEY_HEADERS:
            rc = s_decode_headers (self, value, detail);
            break;
        case KEY_BODY:
            rc = s_decode_body (self, value, detail);
            break;
        case KEY_COUNT_:
            assert (false);
    }
    return rc;
}

//  Find and check the version before anything else: under another major
//  version the other fields may mean something else entirely.
static zmesh_err_t
s_check_version (const msgpack_object_map *map, zmesh_detail_t *detail)
{
    for (uint32_t index = 0; index < map->size; index++) {
        const msgpack_object *key = &map->ptr [index].key;
        if (key->type == MSGPACK_OBJECT_POSITIVE_INTEGER
            && key->via.u64 == KEY_VERSION) {
            const msgpack_object *value = &map->ptr [index].val;
            if (value->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, KEY_VERSION,
                             "%s, expected uint", s_type_name (value->type));
            if (value->via.u64 != ZMESH_ENVELOPE_VERSION)
                FIELD_ERROR (ZMESH_ERR_ENVELOPE_VERSION, KEY_VERSION,
                             "major version %" PRIu64 ", this peer speaks %d",
                             value->via.u64, ZMESH_ENVELOPE_VERSION);
            return ZMESH_OK;
        }
    }
    FIELD_ERROR (ZMESH_ERR_ENVELOPE_MISSING_FIELD, KEY_VERSION, "missing");
}

static zmesh_err_t
s_decode_map (zmesh_envelope_t *self, const msgpack_object_map *map,
              zmesh_detail_t *detail)
{
    zmesh_err_t rc = s_check_version (map, detail);
    if (rc)
        return rc;
    uint32_t seen = 0;          //  Bit per known key
    for (uint32_t index = 0; index < map->size; index++) {
        const msgpack_object *key = &map->ptr [index].key;
        if (key->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            zmesh__detail (detail, "entry %u has a %s key, expected uint",
                           index, s_type_name (key->type));
            return ZMESH_ERR_ENVELOPE_BAD_KEY;
        }
        if (key->via.u64 >= KEY_COUNT_)
            continue;           //  A field from a later minor revision
        s_key_t field = (s_key_t) key->via.u64;
        if (seen & (1u << field))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_DUPLICATE_FIELD, field,
                         "appears twice");
        seen |= 1u << field;
        rc = s_decode_field (self, field, &map->ptr [index].val, detail);
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

static zmesh_err_t
s_decode (const void *data, size_t size, zmesh_envelope_t *self,
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
    size_t end = 0, offset = 0;
    zmesh_err_t rc = zmesh__msgpack_check (bytes, size, &end, &offset);
    if (rc) {
        zmesh__detail (detail, "%s at byte %zu of %zu",
                       rc == ZMESH_ERR_ENVELOPE_MALFORMED  ? "byte 0xc1"
                       : rc == ZMESH_ERR_ENVELOPE_TOO_DEEP ? "33rd nesting"
                                                           : "input ends",
                       offset, size);
        return rc;
    }
    if (end != size) {
        zmesh__detail (detail, "%zu bytes after the map, which ends at %zu",
                       size - end, end);
        return ZMESH_ERR_ENVELOPE_TRAILING;
    }
    //  A zone that holds a typical envelope's objects stays in malloc's
    //  fast path; headers grow it as they need.
    msgpack_zone zone;
    if (!msgpack_zone_init (&zone, 512))
        return ZMESH_ERR_NOMEM;
    msgpack_object root;
    switch (msgpack_unpack ((const char *) bytes, size, NULL, &zone, &root)) {
        case MSGPACK_UNPACK_SUCCESS:
            rc = s_decode_map (self, &root.via.map, detail);
            break;
        default:
            //  The bounds and depth check passed: only memory can fail.
            rc = ZMESH_ERR_NOMEM;
            break;
    }
    msgpack_zone_destroy (&zone);
    return rc;
}

zmesh_err_t
zmesh_envelope_decode (const void *data, size_t size,
                       zmesh_envelope_t **envelope_p, zmesh_detail_t *detail)
{
    assert (envelope_p);
    zmesh_envelope_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return ZMESH_ERR_NOMEM;
    zmesh_err_t rc = s_decode (data, size, self, detail);
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
    return s_decode (data, size, self, detail);
}
