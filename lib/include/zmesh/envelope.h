/*  zmesh/envelope.h - the msgpack envelope that every zmesh message travels in.

    An envelope carries a message id, the correlation id of the flow it
    belongs to, the id of the message that caused it, its type, where it
    comes from, and a msgpack body. proto/envelope.md is the wire contract;
    this module is its one implementation in C, and the only place in zmesh
    that touches msgpack-c for envelopes.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_ENVELOPE_H_INCLUDED
#define ZMESH_ENVELOPE_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <czmq.h>
#include "zmesh/error.h"
#include "zmesh/uuid.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The wire format's major version; a receiver rejects any other.
#define ZMESH_ENVELOPE_VERSION          1

//  Limits, in bytes unless said otherwise (proto/envelope.md, "Limits").
#define ZMESH_ENVELOPE_TYPE_MAX         128
#define ZMESH_ENVELOPE_SOURCE_MAX       64
#define ZMESH_ENVELOPE_TEXT_MAX         1024
#define ZMESH_ENVELOPE_HEADER_NAME_MAX  64
#define ZMESH_ENVELOPE_HEADERS_MAX      32      //  Entries
#define ZMESH_ENVELOPE_BODY_MAX         (1024 * 1024)
#define ZMESH_ENVELOPE_FRAME_MAX        (ZMESH_ENVELOPE_BODY_MAX + 64 * 1024)

typedef enum {
    ZMESH_KIND_EVENT = 1,       //  Published on PUB, after a topic frame
    ZMESH_KIND_REQUEST = 2,     //  A call, sent on REQ
    ZMESH_KIND_REPLY = 3        //  The answer to a call
} zmesh_kind_t;

typedef enum {
    ZMESH_STATUS_OK = 0,
    ZMESH_STATUS_APP_ERROR = 1,     //  The handler failed; code is its own
    ZMESH_STATUS_MESH_ERROR = 2     //  The mesh failed; code is below
} zmesh_status_t;

//  Error codes of replies whose status is ZMESH_STATUS_MESH_ERROR.
typedef enum {
    ZMESH_MESH_UNKNOWN_METHOD = 1,
    ZMESH_MESH_DEADLINE_EXCEEDED = 2,
    ZMESH_MESH_BAD_REQUEST = 3,
    ZMESH_MESH_UNAVAILABLE = 4,
    ZMESH_MESH_INTERNAL = 5,
    ZMESH_MESH_FORBIDDEN = 6
} zmesh_mesh_error_t;

typedef struct _zmesh_envelope_t zmesh_envelope_t;

//  Create an empty envelope of the given kind: nil ids, no type or source,
//  timestamp 0, and for a reply status ok. Returns NULL if out of memory or
//  kind is not a zmesh_kind_t.
ZMESH_EXPORT zmesh_envelope_t *
    zmesh_envelope_new (zmesh_kind_t kind);

//  Destroy an envelope and set *self_p to NULL; harmless on NULL.
ZMESH_EXPORT void
    zmesh_envelope_destroy (zmesh_envelope_t **self_p);

//  Make self a new envelope of kind, as zmesh_envelope_new would, but keep
//  its body buffer (up to 64 KiB) for the next body: a sender or receiver
//  that reuses one envelope allocates nothing per message.
ZMESH_EXPORT void
    zmesh_envelope_reset (zmesh_envelope_t *self, zmesh_kind_t kind);

//  Decode one envelope frame. Returns ZMESH_OK and sets *envelope_p to a new
//  envelope (caller owns it; destroy with zmesh_envelope_destroy), or one of
//  the ZMESH_ERR_ENVELOPE_* codes (or ZMESH_ERR_NOMEM) with *envelope_p
//  untouched and detail, if not NULL, saying which field and why. Nothing
//  of data is kept: the envelope holds copies.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_decode (const void *data, size_t size,
                           zmesh_envelope_t **envelope_p,
                           zmesh_detail_t *detail);

//  zmesh_envelope_decode into self, which is reset first and reused. On
//  error self holds part of the frame: reset, decode into or destroy it.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_decode_into (const void *data, size_t size,
                                zmesh_envelope_t *self,
                                zmesh_detail_t *detail);

//  zmesh_envelope_decode_into the envelope that data starts with, where
//  more may follow it: the envelope frame of an event batch holds several,
//  back to back (proto/envelope.md, section 1). On ZMESH_OK, *used is the
//  size of this one, and the next starts there.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_decode_next (const void *data, size_t size, size_t *used,
                                zmesh_envelope_t *self,
                                zmesh_detail_t *detail);

//  Encode self in the canonical form of proto/envelope.md. Returns ZMESH_OK
//  and sets *frame_p to a new frame (caller owns it; destroy with
//  zframe_destroy), or ZMESH_ERR_ENVELOPE_MISSING_FIELD when a field that
//  self's kind requires is unset (see detail), or ZMESH_ERR_NOMEM.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_encode (const zmesh_envelope_t *self, zframe_t **frame_p,
                           zmesh_detail_t *detail);

//  zmesh_envelope_encode into msg, a zmq_msg_t that this initialises (the
//  caller sends or closes it), for the hot paths: no frame is allocated on
//  the way. Returns what zmesh_envelope_encode does; msg is left
//  uninitialised on error.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_encode_msg (const zmesh_envelope_t *self, zmq_msg_t *msg,
                               zmesh_detail_t *detail);

//  Setters. Those that validate return ZMESH_OK or the error that decoding
//  the same value would give, and leave self unchanged on failure.

ZMESH_EXPORT void
    zmesh_envelope_set_id (zmesh_envelope_t *self, const zmesh_uuid_t *id);
ZMESH_EXPORT void
    zmesh_envelope_set_correlation (zmesh_envelope_t *self,
                                    const zmesh_uuid_t *correlation);
//  NULL or the nil id clears the causation id (the start of a flow).
ZMESH_EXPORT void
    zmesh_envelope_set_causation (zmesh_envelope_t *self,
                                  const zmesh_uuid_t *causation);
//  1 to 128 bytes of [A-Za-z0-9._-]: an event type or a method name.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_set_type (zmesh_envelope_t *self, const char *type);
//  1 to 64 bytes of [A-Za-z0-9._-]: the sending node's name.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_set_source (zmesh_envelope_t *self, const char *source);
ZMESH_EXPORT void
    zmesh_envelope_set_timestamp (zmesh_envelope_t *self, uint64_t unix_ms);
//  Per-publisher sequence number of an event, from 1; 0 clears it.
ZMESH_EXPORT void
    zmesh_envelope_set_seq (zmesh_envelope_t *self, uint64_t seq);
//  Remaining time budget of a request, in milliseconds.
ZMESH_EXPORT void
    zmesh_envelope_set_budget_ms (zmesh_envelope_t *self, uint32_t budget_ms);
//  Status of a reply. For ok, code and text are ignored and cleared; else
//  code is required and text (may be NULL) is at most 1024 bytes.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_set_status (zmesh_envelope_t *self, zmesh_status_t status,
                               int64_t error_code, const char *error_text);
//  Add a string header, or replace the value of one with the same name.
//  Name: 1 to 64 bytes of [A-Za-z0-9._-]; value: at most 1024 bytes.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_set_header (zmesh_envelope_t *self, const char *name,
                               const char *value);
//  Copy size bytes of body, which must be exactly one msgpack value of at
//  most ZMESH_ENVELOPE_BODY_MAX bytes. Size 0 clears the body.
ZMESH_EXPORT zmesh_err_t
    zmesh_envelope_set_body (zmesh_envelope_t *self, const void *body,
                             size_t size);

//  Getters. Returned pointers are borrowed: valid until self changes or is
//  destroyed.

ZMESH_EXPORT zmesh_kind_t
    zmesh_envelope_kind (const zmesh_envelope_t *self);
ZMESH_EXPORT const zmesh_uuid_t *
    zmesh_envelope_id (const zmesh_envelope_t *self);
ZMESH_EXPORT const zmesh_uuid_t *
    zmesh_envelope_correlation (const zmesh_envelope_t *self);
//  NULL when the envelope has no causation id.
ZMESH_EXPORT const zmesh_uuid_t *
    zmesh_envelope_causation (const zmesh_envelope_t *self);
//  "" when unset.
ZMESH_EXPORT const char *
    zmesh_envelope_type (const zmesh_envelope_t *self);
ZMESH_EXPORT const char *
    zmesh_envelope_source (const zmesh_envelope_t *self);
ZMESH_EXPORT uint64_t
    zmesh_envelope_timestamp (const zmesh_envelope_t *self);
//  0 when the envelope has no sequence number.
ZMESH_EXPORT uint64_t
    zmesh_envelope_seq (const zmesh_envelope_t *self);
ZMESH_EXPORT bool
    zmesh_envelope_has_budget (const zmesh_envelope_t *self);
ZMESH_EXPORT uint32_t
    zmesh_envelope_budget_ms (const zmesh_envelope_t *self);
ZMESH_EXPORT bool
    zmesh_envelope_has_status (const zmesh_envelope_t *self);
ZMESH_EXPORT zmesh_status_t
    zmesh_envelope_status (const zmesh_envelope_t *self);
ZMESH_EXPORT int64_t
    zmesh_envelope_error_code (const zmesh_envelope_t *self);
//  NULL when there is no error text.
ZMESH_EXPORT const char *
    zmesh_envelope_error_text (const zmesh_envelope_t *self);
ZMESH_EXPORT size_t
    zmesh_envelope_header_count (const zmesh_envelope_t *self);
//  Name and value of the header at index (< header_count), in the order
//  they were set or received.
ZMESH_EXPORT const char *
    zmesh_envelope_header_name (const zmesh_envelope_t *self, size_t index);
ZMESH_EXPORT const char *
    zmesh_envelope_header_value (const zmesh_envelope_t *self, size_t index);
//  Value of the header called name, or NULL.
ZMESH_EXPORT const char *
    zmesh_envelope_header (const zmesh_envelope_t *self, const char *name);
//  NULL and 0 when there is no body.
ZMESH_EXPORT const void *
    zmesh_envelope_body (const zmesh_envelope_t *self);
ZMESH_EXPORT size_t
    zmesh_envelope_body_size (const zmesh_envelope_t *self);

//  W3C trace context (envelope.md, section 3): a flow is a trace, its
//  correlation id the trace id, and each message a span, whose span id is
//  the last 8 bytes of its id; its parent is its causation's span, or, in
//  a flow's first message, the parent-id of its "traceparent" header (the
//  trace context the flow goes on with, from the HTTP edge, say).
#define ZMESH_TRACEPARENT_LEN 55
#define ZMESH_SPAN_ID_SIZE 8

//  Write "00-TRACE-SPAN-01" (ZMESH_TRACEPARENT_LEN characters and a NUL)
//  into text: trace in 32 lowercase hex digits, span in 16. Returns text.
ZMESH_EXPORT char *
    zmesh_traceparent_format (const zmesh_uuid_t *trace,
                              const uint8_t span [ZMESH_SPAN_ID_SIZE],
                              char *text);

//  Write a span id as 16 lowercase hex digits and a NUL. Returns text.
ZMESH_EXPORT char *
    zmesh_span_format (const uint8_t span [ZMESH_SPAN_ID_SIZE], char *text);

//  Read a traceparent as W3C Trace Context Level 1 says: version 00, or a
//  later one (not ff) read as 00 with anything after its flags ignored;
//  lowercase hex; neither the trace id nor the parent id all zeros. Sets
//  trace, parent and flags (each may be NULL). ZMESH_OK, or
//  ZMESH_ERR_INVALID.
ZMESH_EXPORT zmesh_err_t
    zmesh_traceparent_parse (const char *text, zmesh_uuid_t *trace,
                             uint8_t parent [ZMESH_SPAN_ID_SIZE],
                             uint8_t *flags);

//  The message's own traceparent, into text (ZMESH_TRACEPARENT_LEN + 1
//  bytes): its correlation and its span. Returns text.
ZMESH_EXPORT char *
    zmesh_envelope_traceparent (const zmesh_envelope_t *self, char *text);

//  The span of the message's parent, into span: its causation's, or else
//  that of a valid traceparent header of the same trace. False when it has
//  none: the message is the root of its trace.
ZMESH_EXPORT bool
    zmesh_envelope_parent_span (const zmesh_envelope_t *self,
                                uint8_t span [ZMESH_SPAN_ID_SIZE]);

//  Return the name of a kind ("event", "request", "reply"), or "unknown".
ZMESH_EXPORT const char *
    zmesh_kind_name (zmesh_kind_t kind);

//  Return true if name is a valid type, source or header name: 1 to max
//  bytes of [A-Za-z0-9._-].
ZMESH_EXPORT bool
    zmesh_envelope_name_valid (const char *name, size_t max);

#ifdef __cplusplus
}
#endif

#endif
