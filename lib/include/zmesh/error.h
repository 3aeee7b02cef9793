/*  zmesh/error.h - the one error enum of the library and its messages.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_ERROR_H_INCLUDED
#define ZMESH_ERROR_H_INCLUDED

#include "zmesh/export.h"
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Every code with its message, in one list so they cannot drift apart.
//  Codes are stable: new ones are added at the end.
#define ZMESH_ERRNO_MAP(X)                                                    \
    X (OK, "success")                                                         \
    X (ERR_NOMEM, "out of memory")                                            \
    X (ERR_INVALID, "invalid argument")                                       \
    X (ERR_UUID_PARSE, "uuid: not a canonical 36-character UUID")             \
    X (ERR_ENVELOPE_EMPTY, "envelope: empty frame")                           \
    X (ERR_ENVELOPE_TOO_LARGE, "envelope: frame exceeds the size limit")      \
    X (ERR_ENVELOPE_TRUNCATED, "envelope: input ends inside a value")         \
    X (ERR_ENVELOPE_MALFORMED, "envelope: bytes are not msgpack")             \
    X (ERR_ENVELOPE_TOO_DEEP, "envelope: values nested more than 32 deep")   \
    X (ERR_ENVELOPE_TRAILING, "envelope: bytes after the envelope map")       \
    X (ERR_ENVELOPE_NOT_MAP, "envelope: top-level value is not a map")        \
    X (ERR_ENVELOPE_BAD_KEY, "envelope: field key is not an unsigned integer") \
    X (ERR_ENVELOPE_DUPLICATE_FIELD, "envelope: field appears twice")         \
    X (ERR_ENVELOPE_WRONG_TYPE, "envelope: field has the wrong msgpack type") \
    X (ERR_ENVELOPE_MISSING_FIELD, "envelope: required field is missing")     \
    X (ERR_ENVELOPE_VERSION, "envelope: unsupported major version")           \
    X (ERR_ENVELOPE_BAD_KIND, "envelope: unknown message kind")               \
    X (ERR_ENVELOPE_BAD_UUID, "envelope: id is not 16 bytes")                 \
    X (ERR_ENVELOPE_BAD_NAME, "envelope: name is empty, too long or has a "   \
                              "forbidden character")                          \
    X (ERR_ENVELOPE_BAD_VALUE, "envelope: value out of range")                \
    X (ERR_ENVELOPE_BAD_TEXT, "envelope: text too long or contains NUL")      \
    X (ERR_ENVELOPE_BAD_HEADER, "envelope: bad or duplicate header")          \
    X (ERR_ENVELOPE_TOO_MANY_HEADERS, "envelope: too many headers")           \
    X (ERR_ENVELOPE_BODY_TOO_LARGE, "envelope: body exceeds the size limit")  \
    X (ERR_ENVELOPE_BAD_BODY, "envelope: body is not one msgpack value")    \
    X (ERR_CONFIG, "config: bad file, key or value")                         \
    X (ERR_BIND, "node: cannot bind an endpoint")                            \
    X (ERR_SOCKET, "node: socket operation failed")                          \
    X (ERR_BAD_TOPIC, "node: topic frame does not match the event")          \
    X (ERR_BAD_FRAMES, "node: wrong number of frames")                       \
    X (ERR_NO_ROUTE, "call: no known instance of the service")               \
    X (ERR_TIMEOUT, "call: deadline exceeded")                               \
    X (ERR_INTERRUPTED, "call: interrupted by a signal")                     \
    X (ERR_BAD_REPLY, "call: reply is not the answer to this request")       \
    X (ERR_APP_ERROR, "call: the handler answered with an error")            \
    X (ERR_UNKNOWN_METHOD, "call: the service has no such method")           \
    X (ERR_BAD_REQUEST, "call: the service could not read the request")      \
    X (ERR_UNAVAILABLE, "call: the service is unavailable")                  \
    X (ERR_REMOTE_INTERNAL, "call: the service failed internally")          \
    X (ERR_CIRCUIT_OPEN, "call: circuit open, the call was not made")        \
    X (ERR_OVERLOADED, "call: too many calls in flight to the target")       \
    X (ERR_CONCURRENCY, "store: the stream is not at the expected version")  \
    X (ERR_STORE, "store: the database failed")                              \
    X (ERR_STORE_CORRUPT, "store: a stored event does not read back")        \
    X (ERR_STORE_SCHEMA, "store: the file's schema is newer than this zmesh") \
    X (ERR_STORE_DUPLICATE, "store: event ids stored before, in another append") \
    X (ERR_UNKNOWN_EVENT, "aggregate: no apply function for the event type") \
    X (ERR_REFUSED, "aggregate: the command breaks a rule")                 \
    X (ERR_FORBIDDEN, "call: the service does not let this caller call it")

typedef enum {
#define ZMESH_ERR_ENUM_(name, text) ZMESH_##name,
    ZMESH_ERRNO_MAP (ZMESH_ERR_ENUM_)
#undef ZMESH_ERR_ENUM_
    ZMESH_ERR_COUNT_
} zmesh_err_t;

//  Return the static message for err; never NULL, also for unknown codes.
ZMESH_EXPORT const char *
    zmesh_strerror (int err);

//  Return the static name of err, e.g. "ERR_ENVELOPE_TRUNCATED", or
//  "ERR_UNKNOWN" for a code that is not in the list.
ZMESH_EXPORT const char *
    zmesh_errname (int err);

//  Detail for humans, filled by functions that take one (it is optional:
//  they accept NULL). Says which field and where, beyond the code.
typedef struct {
    char text[160];     //  e.g. "field 'correlation' (key 4): bin of 15 bytes"
} zmesh_detail_t;

#ifdef __cplusplus
}
#endif

#endif
