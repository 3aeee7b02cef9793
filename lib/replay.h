/*  replay.h - the bodies of zmesh.replay requests and replies (private).

    A subscriber that missed events asks their publisher for a range of
    sequence numbers; the publisher answers with the events, each encoded
    as the envelope frame it published, and the sequence to ask for next.
    proto/node.md, "Reliable events", is the contract.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_REPLAY_H_INCLUDED
#define ZMESH_REPLAY_H_INCLUDED

#include "zmesh_classes.h"

#define ZMESH_REPLAY_METHOD     "zmesh.replay"
#define ZMESH_REPLAY_TRIMMED    410     //  Application error: range is gone
#define ZMESH_REPLAY_BATCH      1000    //  Events in one reply, at most
#define ZMESH_REPLAY_BYTES      (512 * 1024)    //  Frames in one reply

#define ZMESH_REPLAY_REQUEST_MAX 128     //  Bytes of a request body

//  Encode {from, to} into buffer (ZMESH_REPLAY_REQUEST_MAX bytes), with
//  publisher, the name whose log it is, unless that is NULL (the log of
//  the node asked); returns the size.
size_t
    zmesh__replay_request (uint64_t from, uint64_t to, const char *publisher,
                           uint8_t *buffer);

//  Read a request body into from, to and publisher (ZMESH_ENVELOPE_SOURCE_MAX
//  + 1 bytes; "" when it names none). ZMESH_ERR_INVALID unless it has
//  from <= to, and a publisher, if any, that is a name.
zmesh_err_t
    zmesh__replay_request_read (const void *body, size_t size, uint64_t *from,
                                uint64_t *to, char *publisher);

//  Encode {next, events: [frames]} into a new buffer *body_p (free with
//  free()). ZMESH_ERR_NOMEM on failure.
zmesh_err_t
    zmesh__replay_reply (uint64_t next, zframe_t **frames, size_t count,
                         void **body_p, size_t *size);

//  Read a reply body, calling fn with each frame's bytes in order.
//  ZMESH_ERR_INVALID if the body is not a reply; fn's error stops it.
typedef zmesh_err_t (zmesh__replay_frame_fn) (const void *frame, size_t size,
                                              void *arg);
zmesh_err_t
    zmesh__replay_reply_read (const void *body, size_t size, uint64_t *next,
                              zmesh__replay_frame_fn *fn, void *arg);

#endif
