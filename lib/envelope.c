/*  envelope.c - encoding and strict decoding of the zmesh envelope.

    The envelope is a msgpack map keyed by small unsigned integers; the
    keys, types and rules are those of proto/envelope.md, section "Fields".
    Both directions work on the frame's bytes directly: the encoder
    writes the canonical form into the frame it sends, and the decoder,
    which never trusts its input, bounds-checks the whole frame before it
    reads each field once, type- and range-checking it into the envelope.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

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

//  The canonical form is written straight to its frame: one pass counts
//  the bytes (out NULL), a second writes them.
typedef struct {
    uint8_t *out;               //  Where to write, or NULL to count only
    size_t size;                //  Bytes written (or counted)
} s_packer_t;

static void
s_put (s_packer_t *packer, const void *data, size_t size)
{
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

//  The size of self encoded, or 0 with detail if a field it needs is
//  missing.
static size_t
s_encoded_size (const zmesh_envelope_t *self, zmesh_detail_t *detail)
{
    int missing = s_missing_field (self);
    if (missing >= 0) {
        zmesh__detail (detail, "%s envelope lacks field '%s' (key %d)",
                       zmesh_kind_name (self->kind), s_key_names [missing],
                       missing);
        return 0;
    }
    s_packer_t counter = {NULL, 0};
    s_pack_fields (self, &counter);
    return counter.size;
}

zmesh_err_t
zmesh_envelope_encode (const zmesh_envelope_t *self, zframe_t **frame_p,
                       zmesh_detail_t *detail)
{
    assert (self && frame_p);
    size_t size = s_encoded_size (self, detail);
    if (size == 0)
        return ZMESH_ERR_ENVELOPE_MISSING_FIELD;
    zframe_t *frame = zframe_new (NULL, size);
    if (!frame)
        return ZMESH_ERR_NOMEM;
    s_packer_t packer = {zframe_data (frame), 0};
    s_pack_fields (self, &packer);
    *frame_p = frame;
    return ZMESH_OK;
}

zmesh_err_t
zmesh_envelope_encode_msg (const zmesh_envelope_t *self, zmq_msg_t *msg,
                           zmesh_detail_t *detail)
{
    assert (self && msg);
    size_t size = s_encoded_size (self, detail);
    if (size == 0)
        return ZMESH_ERR_ENVELOPE_MISSING_FIELD;
    if (zmq_msg_init_size (msg, size))
        return ZMESH_ERR_NOMEM;
    s_packer_t packer = {zmq_msg_data (msg), 0};
    s_pack_fields (self, &packer);
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
static zmesh_err_t
s_read_head (s_reader_t *reader, s_value_t *value, zmesh_detail_t *detail)
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

//  Step over the next value, entries and all; depth containers hold it.
static zmesh_err_t
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
//  or map is stepped over.
static zmesh_err_t
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
#define FIELD_ERROR(rc, key, ...)                                    \
    do {                                                             \
        char why_ [100];                                             \
        snprintf (why_, sizeof why_, __VA_ARGS__);                   \
        zmesh__detail (detail, "field '%s' (key %d): %s",            \
                       s_key_names [key], (int) (key), why_);        \
        return (rc);                                                 \
    } while (0)

#define TYPE_NAME(value) s_value_type_names [(value)->type]

static zmesh_err_t
s_decode_uint (const s_value_t *value, s_key_t key, uint64_t min,
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
s_decode_uuid (const s_value_t *value, s_key_t key, zmesh_uuid_t *out,
               zmesh_detail_t *detail)
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
s_decode_name (const s_value_t *value, s_key_t key, size_t max, char *out,
               zmesh_detail_t *detail)
{
    if (value->type != ZMESH__MSGPACK_STR)
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_WRONG_TYPE, key, "%s, expected str",
                     TYPE_NAME (value));
    size_t length = (size_t) value->number;
    if (!s_name_valid ((const char *) value->data, length, max))
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
    if (!s_text_valid ((const char *) value->data, length))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_TEXT, KEY_ERROR_TEXT,
                     "%zu bytes, need at most %d and no NUL", length,
                     ZMESH_ENVELOPE_TEXT_MAX);
    return s_set_error_text (self, (const char *) value->data, length);
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
        if (!s_name_valid (n, n_size, ZMESH_ENVELOPE_HEADER_NAME_MAX))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: name of %zu bytes, need 1..%d of "
                         "[A-Za-z0-9._-]", index, n_size,
                         ZMESH_ENVELOPE_HEADER_NAME_MAX);
        if (!s_text_valid (v, v_size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u: value of %zu bytes, need at most %d and "
                         "no NUL", index, v_size, ZMESH_ENVELOPE_TEXT_MAX);
        if (s_find_header (self, n, n_size))
            FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_HEADER, KEY_HEADERS,
                         "entry %u repeats the name '%.*s'", index,
                         (int) n_size, n);
        rc = s_append_header (self, n, n_size, v, v_size);
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
    if (!s_body_valid (value->data, size))
        FIELD_ERROR (ZMESH_ERR_ENVELOPE_BAD_BODY, KEY_BODY,
                     "%zu bytes that are not exactly one msgpack value", size);
    return s_store_body (self, value->data, size);
}

//  Read the value of one known field into self.
static zmesh_err_t
s_decode_field (zmesh_envelope_t *self, s_key_t key, s_reader_t *reader,
                zmesh_detail_t *detail)
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
        s_key_t field = (s_key_t) key.number;
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
    s_reader_t reader = {bytes, size, 0};
    zmesh_err_t rc = s_decode_map (self, &reader, detail);
    if (rc == ZMESH_OK && reader.pos != size) {
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
