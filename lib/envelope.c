/*  envelope.c - the zmesh envelope: its fields, set and read with every
    rule of proto/envelope.md checked on the way in.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "envelope_private.h"

const char *const zmesh__envelope_key_names [KEY_COUNT_] = {
    "version", "kind", "id", "correlation", "causation", "type", "source",
    "timestamp", "seq", "budget_ms", "status", "error_code", "error_text",
    "headers", "body"
};

//  ---------------------------------------------------------------------
//  Lifecycle

zmesh_envelope_t *
zmesh_envelope_new (zmesh_kind_t kind)
{
    if (kind < ZMESH_KIND_EVENT || kind > ZMESH_KIND_REPLY)
        return NULL;
    zmesh_envelope_t *self = zmesh__alloc (sizeof *self);
    if (self)
        zmesh__envelope_init (self, kind);
    return self;
}

//  Zero the fields and empty the arrays, which make up most of the
//  envelope's bytes and whose unused parts nothing reads.
void
zmesh__envelope_init (zmesh_envelope_t *self, zmesh_kind_t kind)
{
    memset (self, 0, offsetof (zmesh_envelope_t, type));
    self->type [0] = 0;
    self->source [0] = 0;
    self->kind = kind;
    self->has_status = kind == ZMESH_KIND_REPLY;
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
    zmesh__envelope_init (self, kind);
    self->body = body;
    self->body_capacity = capacity;
}

//  Copy size bytes of body into self, in the buffer it has if they fit.
zmesh_err_t
zmesh__envelope_store_body (zmesh_envelope_t *self, const void *body,
                            size_t size)
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

//  The bytes a name may hold: one look-up each, on every message's type
//  and source.
static const bool s_name_byte [256] = {
    ['a' ... 'z'] = true, ['A' ... 'Z'] = true, ['0' ... '9'] = true,
    ['.'] = true, ['_'] = true, ['-'] = true};

//  The name rule on a counted string, as msgpack hands them out.
bool
zmesh__envelope_name_valid (const char *name, size_t length, size_t max)
{
    if (length == 0 || length > max)
        return false;
    //  Every byte's answer taken, with no branch on any: names are short,
    //  and nearly all valid
    bool valid = true;
    for (size_t index = 0; index < length; index++)
        valid &= s_name_byte [(uint8_t) name [index]];
    return valid;
}

//  The length of name, a valid one of at most max bytes, or 0.
static size_t
s_name_length (const char *name, size_t max)
{
    size_t length = 0;
    while (length <= max && s_name_byte [(uint8_t) name [length]])
        length++;
    return length <= max && name [length] == 0 ? length : 0;
}

bool
zmesh_envelope_name_valid (const char *name, size_t max)
{
    return name && s_name_length (name, max) > 0;
}

bool
zmesh__envelope_text_valid (const char *text, size_t length)
{
    return length <= ZMESH_ENVELOPE_TEXT_MAX && !memchr (text, 0, length);
}

bool
zmesh__envelope_body_valid (const uint8_t *body, size_t size)
{
    //  A body that is one scalar, str or bin (as most are) ends where its
    //  head says; only containers need the walk.
    zmesh__msgpack_head_t head;
    if (zmesh__msgpack_head (body, size, &head) != ZMESH_OK)
        return false;
    if (head.type != ZMESH__MSGPACK_ARRAY && head.type != ZMESH__MSGPACK_MAP)
        return head.size + head.payload == size;
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

//  One pass to check name, and one to copy it.
static zmesh_err_t
s_set_name (char *target, const char *name, size_t max)
{
    size_t length = name ? s_name_length (name, max) : 0;
    if (length == 0)
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    memcpy (target, name, length + 1);
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
zmesh_err_t
zmesh__envelope_set_error_text (zmesh_envelope_t *self, const char *text,
                                size_t length)
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
    zmesh_err_t rc = zmesh__envelope_set_error_text (self, error_text, length);
    if (rc)
        return rc;
    self->has_status = true;
    self->status = status;
    self->has_error_code = status != ZMESH_STATUS_OK;
    self->error_code = self->has_error_code ? error_code : 0;
    return ZMESH_OK;
}

zmesh__header_t *
zmesh__envelope_find_header (const zmesh_envelope_t *self, const char *name,
                             size_t length)
{
    for (size_t index = 0; index < self->header_count; index++) {
        const zmesh__header_t *header = &self->headers [index];
        if (strlen (header->name) == length
            && memcmp (header->name, name, length) == 0)
            return (zmesh__header_t *) header;
    }
    return NULL;
}

//  Point header at a new block holding name and value; the old block, if
//  any, is freed only once the new one exists.
static zmesh_err_t
s_header_store (zmesh__header_t *header, const char *name, size_t name_size,
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
zmesh_err_t
zmesh__envelope_append_header (zmesh_envelope_t *self, const char *name,
                               size_t name_size, const char *value,
                               size_t value_size)
{
    if (self->header_count == ZMESH_ENVELOPE_HEADERS_MAX)
        return ZMESH_ERR_ENVELOPE_TOO_MANY_HEADERS;
    zmesh__header_t *header = &self->headers [self->header_count];
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
    zmesh__header_t *twin = zmesh__envelope_find_header (self, name, name_size);
    if (twin)
        return s_header_store (twin, name, name_size, value, strlen (value));
    return zmesh__envelope_append_header (self, name, name_size, value,
                                          strlen (value));
}

zmesh_err_t
zmesh_envelope_set_body (zmesh_envelope_t *self, const void *body,
                         size_t size)
{
    assert (self);
    if (size > ZMESH_ENVELOPE_BODY_MAX)
        return ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE;
    if (size && !zmesh__envelope_body_valid (body, size))
        return ZMESH_ERR_ENVELOPE_BAD_BODY;
    return zmesh__envelope_store_body (self, body, size);
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
    const zmesh__header_t *header
        = zmesh__envelope_find_header (self, name, strlen (name));
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

//  size bytes as 2 * size lowercase hex digits at text; returns the end.
static char *
s_hex_write (const uint8_t *bytes, size_t size, char *text)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t index = 0; index < size; index++) {
        *text++ = digits [bytes [index] >> 4];
        *text++ = digits [bytes [index] & 15];
    }
    return text;
}

char *
zmesh_span_format (const uint8_t span [ZMESH_SPAN_ID_SIZE], char *text)
{
    assert (span && text);
    *s_hex_write (span, ZMESH_SPAN_ID_SIZE, text) = 0;
    return text;
}

char *
zmesh_traceparent_format (const zmesh_uuid_t *trace,
                          const uint8_t span [ZMESH_SPAN_ID_SIZE], char *text)
{
    assert (trace && span && text);
    char *at = text;
    *at++ = '0', *at++ = '0', *at++ = '-';
    at = s_hex_write (trace->bytes, ZMESH_UUID_SIZE, at);
    *at++ = '-';
    at = s_hex_write (span, ZMESH_SPAN_ID_SIZE, at);
    *at++ = '-', *at++ = '0', *at++ = '1', *at = 0;
    return text;
}

//  size bytes from 2 * size lowercase hex digits; false if one is not.
static bool
s_hex (const char *text, uint8_t *bytes, size_t size)
{
    for (size_t index = 0; index < 2 * size; index++) {
        char digit = text [index];
        int value = digit >= '0' && digit <= '9' ? digit - '0'
                  : digit >= 'a' && digit <= 'f' ? digit - 'a' + 10 : -1;
        if (value < 0)
            return false;
        if (index % 2 == 0)
            bytes [index / 2] = (uint8_t) (value << 4);
        else
            bytes [index / 2] |= (uint8_t) value;
    }
    return true;
}

static bool
s_zero (const uint8_t *bytes, size_t size)
{
    for (size_t index = 0; index < size; index++)
        if (bytes [index])
            return false;
    return true;
}

zmesh_err_t
zmesh_traceparent_parse (const char *text, zmesh_uuid_t *trace,
                         uint8_t parent [ZMESH_SPAN_ID_SIZE], uint8_t *flags)
{
    if (!text)
        return ZMESH_ERR_INVALID;
    size_t length = strnlen (text, ZMESH_TRACEPARENT_LEN + 1);
    uint8_t version, bits, span [ZMESH_SPAN_ID_SIZE];
    zmesh_uuid_t id;
    //  version-trace-parent-flags: 2, 32, 16 and 2 hex digits. Version 00
    //  is exactly that; a later one may go on, after a dash.
    if (length < ZMESH_TRACEPARENT_LEN || text [2] != '-' || text [35] != '-'
        || text [52] != '-' || !s_hex (text, &version, 1) || version == 0xff
        || (version == 0 && length != ZMESH_TRACEPARENT_LEN)
        || (length > ZMESH_TRACEPARENT_LEN
            && text [ZMESH_TRACEPARENT_LEN] != '-')
        || !s_hex (text + 3, id.bytes, ZMESH_UUID_SIZE)
        || !s_hex (text + 36, span, ZMESH_SPAN_ID_SIZE)
        || !s_hex (text + 53, &bits, 1)
        || s_zero (id.bytes, ZMESH_UUID_SIZE)
        || s_zero (span, ZMESH_SPAN_ID_SIZE))
        return ZMESH_ERR_INVALID;
    if (trace)
        *trace = id;
    if (parent)
        memcpy (parent, span, ZMESH_SPAN_ID_SIZE);
    if (flags)
        *flags = bits;
    return ZMESH_OK;
}

char *
zmesh_envelope_traceparent (const zmesh_envelope_t *self, char *text)
{
    assert (self && text);
    return zmesh_traceparent_format (
        &self->correlation,
        self->id.bytes + ZMESH_UUID_SIZE - ZMESH_SPAN_ID_SIZE, text);
}

bool
zmesh_envelope_parent_span (const zmesh_envelope_t *self,
                            uint8_t span [ZMESH_SPAN_ID_SIZE])
{
    assert (self && span);
    //  Most messages have no header to look for
    return zmesh__envelope_parent_of (
        self->has_causation ? &self->causation : NULL, &self->correlation,
        self->header_count ? zmesh_envelope_header (self, "traceparent")
                           : NULL, span);
}

bool
zmesh__envelope_parent_of (const zmesh_uuid_t *causation,
                           const zmesh_uuid_t *correlation,
                           const char *traceparent,
                           uint8_t span [ZMESH_SPAN_ID_SIZE])
{
    if (causation) {
        memcpy (span, causation->bytes + ZMESH_UUID_SIZE - ZMESH_SPAN_ID_SIZE,
                ZMESH_SPAN_ID_SIZE);
        return true;
    }
    zmesh_uuid_t trace;
    return traceparent && zmesh_traceparent_parse (traceparent, &trace, span,
                                                   NULL) == ZMESH_OK
        && zmesh_uuid_eq (&trace, correlation);
}

//  Return the first field that self's kind requires and self lacks, or -1.
int
zmesh__envelope_missing_field (const zmesh_envelope_t *self)
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
