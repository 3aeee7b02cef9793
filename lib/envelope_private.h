/*  envelope_private.h - what the envelope (envelope.c) and its wire codec
    (envelope_encode.c, envelope_decode.c) share: the envelope's fields,
    and the checks and stores that setters and the decoder both use
    (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_ENVELOPE_PRIVATE_H_INCLUDED
#define ZMESH_ENVELOPE_PRIVATE_H_INCLUDED

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
} zmesh__envelope_key_t;

//  Each key's name, for messages.
extern const char *const zmesh__envelope_key_names [KEY_COUNT_];

//  A body buffer larger than this is freed by zmesh_envelope_reset rather
//  than kept for the next body.
#define BODY_KEPT_MAX   65536

typedef struct {
    char *name;                 //  One block: "name\0value\0"
    char *value;                //  Points into the name's block
} zmesh__header_t;

struct _zmesh_envelope_t {
    zmesh_kind_t kind;          //  Event, request or reply
    zmesh_uuid_t id;            //  This message; nil until set
    zmesh_uuid_t correlation;   //  The flow; nil until set
    zmesh_uuid_t causation;     //  The message that caused this one
    bool has_causation;         //  False at the start of a flow
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
    uint8_t *body;              //  One msgpack value, or NULL
    size_t body_size;           //  Bytes of body
    size_t body_capacity;       //  Bytes allocated at body, kept for reuse
    //  The arrays come last: zmesh__envelope_init zeroes what is above
    //  and only empties these.
    char type [ZMESH_ENVELOPE_TYPE_MAX + 1];        //  Event type or method
    char source [ZMESH_ENVELOPE_SOURCE_MAX + 1];    //  Sending node
    zmesh__header_t headers [ZMESH_ENVELOPE_HEADERS_MAX];
};

//  A new or reset envelope of kind: no fields, no headers, no body (what
//  it held is not freed).
void
    zmesh__envelope_init (zmesh_envelope_t *self, zmesh_kind_t kind);

//  The checks and stores that setters and the decoder share: a header
//  appended (or found), names, texts and bodies checked, the error text
//  and the body kept.
zmesh_err_t
    zmesh__envelope_append_header (zmesh_envelope_t *self, const char *name,
                                   size_t name_size, const char *value,
                                   size_t value_size);
zmesh__header_t *
    zmesh__envelope_find_header (const zmesh_envelope_t *self,
                                 const char *name, size_t length);
bool
    zmesh__envelope_name_valid (const char *name, size_t length, size_t max);
bool
    zmesh__envelope_text_valid (const char *text, size_t length);
bool
    zmesh__envelope_body_valid (const uint8_t *body, size_t size);
zmesh_err_t
    zmesh__envelope_set_error_text (zmesh_envelope_t *self, const char *text,
                                    size_t length);
zmesh_err_t
    zmesh__envelope_store_body (zmesh_envelope_t *self, const void *body,
                                size_t size);

//  The first field that self's kind requires and self lacks, or -1.
int
    zmesh__envelope_missing_field (const zmesh_envelope_t *self);

//  zmesh_envelope_decode_into reading every entry the long way, never as
//  the encoder's form (envelope_decode.c): for tests, whose answers must
//  be the same.
zmesh_err_t
    zmesh__envelope_decode_long (const void *data, size_t size,
                                 zmesh_envelope_t *self,
                                 zmesh_detail_t *detail);

#endif
