/*  reply_cache.c - replies kept by request id, oldest evicted first.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "reply_cache.h"

#define KEY_SIZE (2 * ZMESH_UUID_SIZE + 1)

typedef struct {
    zframe_t *frame;
    void *handle;               //  Its key's place in order
} s_entry_t;

struct _zmesh_reply_cache_t {
    zhashx_t *entries;          //  hex request id -> s_entry_t
    zlistx_t *order;            //  Their keys, oldest first
    size_t entries_max;
    size_t bytes_max;
    size_t bytes;               //  Of the frames kept
};

static void
s_entry_destroy (void **item_p)
{
    s_entry_t *entry = *item_p;
    if (entry) {
        zframe_destroy (&entry->frame);
        zmesh__free (entry);
        *item_p = NULL;
    }
}

static void
s_key_destroy (void **item_p)
{
    zmesh__free (*item_p);
    *item_p = NULL;
}

//  The key of a request id: the id in hex.
static void
s_key (const zmesh_uuid_t *id, char *key)
{
    static const char digits [] = "0123456789abcdef";
    for (size_t index = 0; index < ZMESH_UUID_SIZE; index++) {
        key [2 * index] = digits [id->bytes [index] >> 4];
        key [2 * index + 1] = digits [id->bytes [index] & 0x0f];
    }
    key [2 * ZMESH_UUID_SIZE] = 0;
}

zmesh_reply_cache_t *
zmesh__reply_cache_new (size_t entries_max, size_t bytes_max)
{
    zmesh_reply_cache_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->entries_max = entries_max;
    self->bytes_max = bytes_max;
    self->entries = zhashx_new ();
    self->order = zlistx_new ();
    if (!self->entries || !self->order) {
        zmesh__reply_cache_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->entries, s_entry_destroy);
    zlistx_set_destructor (self->order, s_key_destroy);
    return self;
}

void
zmesh__reply_cache_destroy (zmesh_reply_cache_t **self_p)
{
    assert (self_p);
    zmesh_reply_cache_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->entries);
        zlistx_destroy (&self->order);
        zmesh__free (self);
        *self_p = NULL;
    }
}

static void
s_drop (zmesh_reply_cache_t *self, const char *key)
{
    s_entry_t *entry = zhashx_lookup (self->entries, key);
    if (entry) {
        //  key may be the one in order: free it last
        void *handle = entry->handle;
        self->bytes -= zframe_size (entry->frame);
        zhashx_delete (self->entries, key);
        zlistx_delete (self->order, handle);
    }
}

void
zmesh__reply_cache_put (zmesh_reply_cache_t *self,
                        const zmesh_uuid_t *request_id, zframe_t **frame_p)
{
    assert (self && request_id && frame_p && *frame_p);
    size_t size = zframe_size (*frame_p);
    char key [KEY_SIZE];
    s_key (request_id, key);
    s_drop (self, key);
    if (!self->entries_max || size > self->bytes_max) {
        zframe_destroy (frame_p);
        return;
    }
    while (zhashx_size (self->entries) >= self->entries_max
           || self->bytes + size > self->bytes_max)
        s_drop (self, zlistx_first (self->order));
    s_entry_t *entry = zmesh__calloc (1, sizeof *entry);
    char *copy = zmesh__strndup (key, KEY_SIZE - 1);
    if (entry && copy)
        entry->handle = zlistx_add_end (self->order, copy);
    if (!entry || !copy || !entry->handle) {
        zmesh__free (entry);
        zmesh__free (copy);
        zframe_destroy (frame_p);
        return;
    }
    entry->frame = *frame_p;
    *frame_p = NULL;
    zhashx_insert (self->entries, key, entry);
    self->bytes += size;
}

zframe_t *
zmesh__reply_cache_get (zmesh_reply_cache_t *self,
                        const zmesh_uuid_t *request_id)
{
    assert (self && request_id);
    char key [KEY_SIZE];
    s_key (request_id, key);
    s_entry_t *entry = zhashx_lookup (self->entries, key);
    return entry ? entry->frame : NULL;
}

void
zmesh__reply_cache_drop (zmesh_reply_cache_t *self,
                         const zmesh_uuid_t *request_id)
{
    assert (self && request_id);
    char key [KEY_SIZE];
    s_key (request_id, key);
    s_drop (self, key);
}

size_t
zmesh__reply_cache_size (zmesh_reply_cache_t *self)
{
    assert (self);
    return zhashx_size (self->entries);
}

size_t
zmesh__reply_cache_bytes (zmesh_reply_cache_t *self)
{
    assert (self);
    return self->bytes;
}
