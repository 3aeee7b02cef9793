/*  reply_cache.h - the replies a node keeps so that a retried request is
    answered again without running its handler twice (private).

    A reply is kept under the id of the request it answers, as a copy of
    the bytes that were sent. The cache holds at most a number of replies
    and of bytes, set when it is made (calls/dedupe and
    calls/dedupe_bytes); the oldest reply goes first to make room.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_REPLY_CACHE_H_INCLUDED
#define ZMESH_REPLY_CACHE_H_INCLUDED

#include "zmesh/uuid.h"

typedef struct _zmesh_reply_cache_t zmesh_reply_cache_t;

//  A cache of at most entries_max replies and bytes_max bytes of them (0
//  entries: it keeps nothing). NULL if out of memory.
zmesh_reply_cache_t *
    zmesh__reply_cache_new (size_t entries_max, size_t bytes_max);

//  Free the cache and every reply in it; harmless on NULL.
void
    zmesh__reply_cache_destroy (zmesh_reply_cache_t **self_p);

//  Keep a copy of reply, size bytes, as the reply to request_id, in place
//  of one kept before. A reply larger than the whole cache is not kept,
//  nor one that finds no memory.
void
    zmesh__reply_cache_put (zmesh_reply_cache_t *self,
                            const zmesh_uuid_t *request_id,
                            const void *reply, size_t size);

//  The reply kept for request_id, and its size in *size, or NULL.
//  Borrowed: valid until the next put or drop.
const uint8_t *
    zmesh__reply_cache_get (zmesh_reply_cache_t *self,
                            const zmesh_uuid_t *request_id, size_t *size);

//  Forget the reply to request_id, if one is kept.
void
    zmesh__reply_cache_drop (zmesh_reply_cache_t *self,
                             const zmesh_uuid_t *request_id);

//  How many replies, and how many bytes of them, are kept.
size_t
    zmesh__reply_cache_size (zmesh_reply_cache_t *self);
size_t
    zmesh__reply_cache_bytes (zmesh_reply_cache_t *self);

#endif
