/*  reply_cache.c - replies kept by request id, oldest evicted first.

    The entries sit in one array that grows by doubling up to the limit of
    entries, indexed by a chained hash of the request id and linked oldest
    to newest; a place given up goes on a free list. Keeping, finding and
    dropping a reply allocate nothing, once the array has grown.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "reply_cache.h"

#define NONE UINT32_MAX
#define ENTRIES_FIRST 16

typedef struct {
    zmesh_uuid_t key;
    uint8_t *reply;
    size_t size;
    uint32_t chain;             //  The next in its bucket, or on the free list
    uint32_t older, newer;      //  In the order they were kept
} s_entry_t;

struct _zmesh_reply_cache_t {
    s_entry_t *entries;
    uint32_t *buckets;          //  A power of 2 of them, at least room
    uint32_t mask;              //  Their count less 1
    uint32_t room;              //  Entries allocated
    uint32_t used;              //  Of them, ever used
    uint32_t free;              //  The first given up, or NONE
    uint32_t oldest, newest;
    size_t count, entries_max, bytes_max;
    size_t bytes;               //  Of the replies kept
};

//  The bucket of a request id: its 16 bytes, mixed, as ids may be
//  ordered by time (version 7) in their first half.
static uint32_t
s_bucket (const zmesh_reply_cache_t *self, const zmesh_uuid_t *id)
{
    uint64_t high, low;
    memcpy (&high, id->bytes, sizeof high);
    memcpy (&low, id->bytes + 8, sizeof low);
    uint64_t hash = (high * 0x9e3779b97f4a7c15ULL) ^ low;
    hash ^= hash >> 33;
    hash *= 0xff51afd7ed558ccdULL;
    hash ^= hash >> 33;
    return (uint32_t) hash & self->mask;
}

static uint32_t
s_find (const zmesh_reply_cache_t *self, const zmesh_uuid_t *id)
{
    if (!self->buckets)
        return NONE;
    uint32_t index = self->buckets [s_bucket (self, id)];
    while (index != NONE && !zmesh_uuid_eq (&self->entries [index].key, id))
        index = self->entries [index].chain;
    return index;
}

//  Put entry index at the head of its bucket.
static void
s_chain (zmesh_reply_cache_t *self, uint32_t index)
{
    uint32_t *bucket = &self->buckets [s_bucket (self,
                                                 &self->entries [index].key)];
    self->entries [index].chain = *bucket;
    *bucket = index;
}

//  Take entry index out of the cache, freeing its reply.
static void
s_remove (zmesh_reply_cache_t *self, uint32_t index)
{
    s_entry_t *entry = &self->entries [index];
    uint32_t *link = &self->buckets [s_bucket (self, &entry->key)];
    while (*link != index)
        link = &self->entries [*link].chain;
    *link = entry->chain;
    if (entry->older == NONE)
        self->oldest = entry->newer;
    else
        self->entries [entry->older].newer = entry->newer;
    if (entry->newer == NONE)
        self->newest = entry->older;
    else
        self->entries [entry->newer].older = entry->older;
    self->bytes -= entry->size;
    zmesh__free (entry->reply);
    entry->reply = NULL;
    entry->chain = self->free;
    self->free = index;
    self->count--;
}

//  Room for twice as many entries (within entries_max), every entry
//  chained again; false if out of memory.
static bool
s_grow (zmesh_reply_cache_t *self)
{
    size_t room = self->room ? 2 * (size_t) self->room : ENTRIES_FIRST;
    if (room > self->entries_max)
        room = self->entries_max;
    s_entry_t *entries = zmesh__realloc (self->entries,
                                         room * sizeof *entries);
    if (!entries)
        return false;
    self->entries = entries;
    //  Buckets: the power of 2 at or above room
    size_t buckets = ENTRIES_FIRST;
    while (buckets < room)
        buckets *= 2;
    uint32_t *table = zmesh__realloc (self->buckets,
                                      buckets * sizeof *table);
    if (!table)
        return false;
    self->buckets = table;
    self->mask = (uint32_t) (buckets - 1);
    self->room = (uint32_t) room;
    for (size_t index = 0; index < buckets; index++)
        table [index] = NONE;
    for (uint32_t index = self->oldest; index != NONE;
         index = entries [index].newer)
        s_chain (self, index);
    return true;
}

zmesh_reply_cache_t *
zmesh__reply_cache_new (size_t entries_max, size_t bytes_max)
{
    zmesh_reply_cache_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->entries_max = entries_max < NONE ? entries_max : NONE - 1;
    self->bytes_max = bytes_max;
    self->free = self->oldest = self->newest = NONE;
    return self;
}

void
zmesh__reply_cache_destroy (zmesh_reply_cache_t **self_p)
{
    assert (self_p);
    zmesh_reply_cache_t *self = *self_p;
    if (self) {
        for (uint32_t index = self->oldest; index != NONE;
             index = self->entries [index].newer)
            zmesh__free (self->entries [index].reply);
        zmesh__free (self->entries);
        zmesh__free (self->buckets);
        zmesh__free (self);
        *self_p = NULL;
    }
}

void
zmesh__reply_cache_put (zmesh_reply_cache_t *self,
                        const zmesh_uuid_t *request_id, const void *reply,
                        size_t size)
{
    assert (self && request_id && (reply || !size));
    zmesh__reply_cache_drop (self, request_id);
    if (!self->entries_max || size > self->bytes_max)
        return;
    uint8_t *copy = zmesh__alloc (size ? size : 1);
    if (!copy)
        return;
    memcpy (copy, reply, size);
    while (self->count >= self->entries_max
           || self->bytes + size > self->bytes_max)
        s_remove (self, self->oldest);
    uint32_t index;
    if (self->free != NONE) {
        index = self->free;
        self->free = self->entries [index].chain;
    }
    else if (self->used < self->room || s_grow (self))
        index = self->used++;
    else {
        zmesh__free (copy);
        return;
    }
    s_entry_t *entry = &self->entries [index];
    entry->key = *request_id;
    entry->reply = copy;
    entry->size = size;
    entry->older = self->newest;
    entry->newer = NONE;
    if (self->newest == NONE)
        self->oldest = index;
    else
        self->entries [self->newest].newer = index;
    self->newest = index;
    s_chain (self, index);
    self->count++;
    self->bytes += size;
}

const uint8_t *
zmesh__reply_cache_get (zmesh_reply_cache_t *self,
                        const zmesh_uuid_t *request_id, size_t *size)
{
    assert (self && request_id && size);
    uint32_t index = s_find (self, request_id);
    if (index == NONE)
        return NULL;
    *size = self->entries [index].size;
    return self->entries [index].reply;
}

void
zmesh__reply_cache_drop (zmesh_reply_cache_t *self,
                         const zmesh_uuid_t *request_id)
{
    assert (self && request_id);
    uint32_t index = s_find (self, request_id);
    if (index != NONE)
        s_remove (self, index);
}

size_t
zmesh__reply_cache_size (zmesh_reply_cache_t *self)
{
    assert (self);
    return self->count;
}

size_t
zmesh__reply_cache_bytes (zmesh_reply_cache_t *self)
{
    assert (self);
    return self->bytes;
}
