/*  zmesh_classes.h - private umbrella header that every lib/ file includes
    first.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CLASSES_H_INCLUDED
#define ZMESH_CLASSES_H_INCLUDED

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "zmesh.h"
#include "alloc.h"
#include "msgpack_check.h"

//  Fill detail->text, if detail is not NULL, printf-style.
void
    zmesh__detail (zmesh_detail_t *detail, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

//  zmesh_breaker_acquire and zmesh_breaker_record at now_ms, a reading of
//  the breaker's clock that the caller took (breaker.c): a call reads the
//  clock once for all its steps.
zmesh_err_t
    zmesh__breaker_acquire_at (zmesh_breaker_t *self, int64_t now_ms,
                               int64_t deadline_ms,
                               zmesh_breaker_permit_t *permit);
void
    zmesh__breaker_record_at (zmesh_breaker_t *self, int64_t now_ms,
                              const zmesh_breaker_permit_t *permit,
                              zmesh_outcome_t outcome);

//  zmesh_topic_format of a type known to be a valid name, such as an
//  envelope's (topic.c): the publishing path checks no name twice.
size_t
    zmesh__topic_frame (const char *type, bool control, char *buffer);

//  An event as the publish path has it, live or stored, without an
//  envelope to fill: type and source are checked names, given with their
//  lengths; header names its one header (a stored event's key, a flow's
//  traceparent), NULL for none, whose value is checked; causation may be
//  NULL; seq is at least 1; body is checked.
typedef struct {
    const zmesh_uuid_t *id;
    const zmesh_uuid_t *correlation;
    const zmesh_uuid_t *causation;
    const char *type;
    size_t type_length;
    const char *source;
    size_t source_length;
    uint64_t timestamp;
    uint64_t seq;
    const char *header;         //  Its one header's name, or NULL
    const char *header_value;
    size_t header_value_length;
    const void *body;
    size_t body_size;
} zmesh__event_fields_t;

//  zmesh_envelope_parent_span of a message with these fields (envelope.c):
//  its cause's span, or, without a cause, the span of its traceparent
//  header (NULL: none) when that names its flow.
bool
    zmesh__envelope_parent_of (const zmesh_uuid_t *causation,
                               const zmesh_uuid_t *correlation,
                               const char *traceparent,
                               uint8_t span [ZMESH_SPAN_ID_SIZE]);

//  Pack the canonical form of the event envelope that has fields and
//  nothing else (no other header) into out, as zmesh_envelope_encode would
//  encode that envelope: the same bytes (envelope_encode.c). Returns its
//  size, which is all at out only if it is at most capacity (out may be
//  NULL, to count the bytes only).
size_t
    zmesh__envelope_pack_event (const zmesh__event_fields_t *fields,
                                uint8_t *out, size_t capacity);

#endif
