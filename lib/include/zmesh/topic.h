/*  zmesh/topic.h - the topic frame in front of every event, and the
    subscription patterns that select events by type.

    A topic frame is the event type followed by one NUL byte; control
    messages of the mesh itself put '$' in front. Because of the NUL, a
    subscription to one exact type cannot also match a longer type that
    starts with it (proto/envelope.md, section 1).

    Patterns: "user.created" is that type alone; a trailing '*' makes a
    prefix ("order.*" is every type starting with "order."); "*" is all.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TOPIC_H_INCLUDED
#define ZMESH_TOPIC_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stddef.h>
#include "zmesh/envelope.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Bytes a topic frame or subscription can take, with '$' and NUL.
#define ZMESH_TOPIC_MAX (ZMESH_ENVELOPE_TYPE_MAX + 2)

//  Write the topic frame of an event of this type into buffer, which holds
//  ZMESH_TOPIC_MAX bytes; control adds the '$'. Returns the frame's size,
//  or 0 if type is not a valid type.
ZMESH_EXPORT size_t
    zmesh_topic_format (const char *type, bool control, char *buffer);

//  Write the bytes to subscribe with for pattern into buffer (ZMESH_TOPIC_MAX
//  bytes). Returns their count (0 is valid: "*" subscribes to all events),
//  or -1 if pattern is not a type, a type prefix ending in '*', or "*".
ZMESH_EXPORT int
    zmesh_topic_subscription (const char *pattern, char *buffer);

//  Return true if an event of this type matches pattern, by the same rule
//  that ZeroMQ applies to the subscription bytes.
ZMESH_EXPORT bool
    zmesh_topic_matches (const char *pattern, const char *type);

//  Check a received topic frame against the event it came with. Returns
//  ZMESH_OK and sets *control_p to whether it is a '$' control topic, or
//  ZMESH_ERR_BAD_TOPIC if the frame is not the event's type and a NUL.
ZMESH_EXPORT zmesh_err_t
    zmesh_topic_check (const void *topic, size_t size,
                       const zmesh_envelope_t *event, bool *control_p);

#ifdef __cplusplus
}
#endif

#endif
