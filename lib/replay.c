/*  replay.c - encoding and reading zmesh.replay bodies.

    Part of zmesh. MIT License.
*/
#include "replay.h"
#include <msgpack.h>

static void
s_key (msgpack_packer *packer, const char *key)
{
    msgpack_pack_str_with_body (packer, key, strlen (key));
}

size_t
zmesh__replay_request (uint64_t from, uint64_t to, const char *publisher,
                       uint8_t *buffer)
{
    msgpack_sbuffer sbuffer;
    msgpack_sbuffer_init (&sbuffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, publisher ? 3 : 2);
    s_key (&packer, "from");
    msgpack_pack_uint64 (&packer, from);
    s_key (&packer, "to");
    msgpack_pack_uint64 (&packer, to);
    if (publisher) {
        s_key (&packer, "publisher");
        s_key (&packer, publisher);
    }
    size_t size = sbuffer.size;
    assert (size <= ZMESH_REPLAY_REQUEST_MAX);
    memcpy (buffer, sbuffer.data, size);
    msgpack_sbuffer_destroy (&sbuffer);
    return size;
}

static const msgpack_object *
s_field (const msgpack_object *map, const char *name)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t index = 0; index < map->via.map.size; index++) {
        const msgpack_object *key = &map->via.map.ptr [index].key;
        if (key->type == MSGPACK_OBJECT_STR
            && key->via.str.size == strlen (name)
            && memcmp (key->via.str.ptr, name, key->via.str.size) == 0)
            return &map->via.map.ptr [index].val;
    }
    return NULL;
}

static bool
s_uint (const msgpack_object *map, const char *name, uint64_t *value)
{
    const msgpack_object *field = s_field (map, name);
    if (!field || field->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        return false;
    *value = field->via.u64;
    return true;
}

//  Unpack body, already known to be one bounded msgpack value (envelope
//  bodies are checked on decode).
static bool
s_unpack (const void *body, size_t size, msgpack_zone *zone,
          msgpack_object *root)
{
    size_t end;
    return body && size
        && zmesh__msgpack_check (body, size, &end, NULL) == ZMESH_OK
        && end == size
        && msgpack_unpack (body, size, NULL, zone, root)
               == MSGPACK_UNPACK_SUCCESS;
}

zmesh_err_t
zmesh__replay_request_read (const void *body, size_t size, uint64_t *from,
                            uint64_t *to, char *publisher)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 256);
    msgpack_object root;
    bool ok = s_unpack (body, size, &zone, &root) && s_uint (&root, "from", from)
           && s_uint (&root, "to", to) && *from >= 1 && *from <= *to
           && *to <= (uint64_t) INT64_MAX;     //  A sequence in the store
    *publisher = 0;
    const msgpack_object *named = ok ? s_field (&root, "publisher") : NULL;
    if (named) {
        ok = named->type == MSGPACK_OBJECT_STR
          && named->via.str.size <= ZMESH_ENVELOPE_SOURCE_MAX;
        if (ok) {
            memcpy (publisher, named->via.str.ptr, named->via.str.size);
            publisher [named->via.str.size] = 0;
            ok = zmesh_envelope_name_valid (publisher,
                                            ZMESH_ENVELOPE_SOURCE_MAX);
        }
    }
    msgpack_zone_destroy (&zone);
    return ok ? ZMESH_OK : ZMESH_ERR_INVALID;
}

zmesh_err_t
zmesh__replay_reply (uint64_t next, zframe_t **frames, size_t count,
                     void **body_p, size_t *size)
{
    msgpack_sbuffer sbuffer;
    msgpack_sbuffer_init (&sbuffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &sbuffer, msgpack_sbuffer_write);
    msgpack_pack_map (&packer, 2);
    s_key (&packer, "next");
    msgpack_pack_uint64 (&packer, next);
    s_key (&packer, "events");
    msgpack_pack_array (&packer, count);
    for (size_t index = 0; index < count; index++) {
        msgpack_pack_bin (&packer, zframe_size (frames [index]));
        msgpack_pack_bin_body (&packer, zframe_data (frames [index]),
                               zframe_size (frames [index]));
    }
    *size = sbuffer.size;
    *body_p = msgpack_sbuffer_release (&sbuffer);
    msgpack_sbuffer_destroy (&sbuffer);
    return *body_p ? ZMESH_OK : ZMESH_ERR_NOMEM;
}

zmesh_err_t
zmesh__replay_reply_read (const void *body, size_t size, uint64_t *next,
                          zmesh__replay_frame_fn *fn, void *arg)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 4096);
    msgpack_object root;
    zmesh_err_t rc = ZMESH_ERR_INVALID;
    const msgpack_object *events = NULL;
    if (s_unpack (body, size, &zone, &root) && s_uint (&root, "next", next)
        && (events = s_field (&root, "events"))
        && events->type == MSGPACK_OBJECT_ARRAY) {
        rc = ZMESH_OK;
        for (uint32_t index = 0; rc == ZMESH_OK && index < events->via.array.size;
             index++) {
            const msgpack_object *frame = &events->via.array.ptr [index];
            rc = frame->type == MSGPACK_OBJECT_BIN
                 ? fn (frame->via.bin.ptr, frame->via.bin.size, arg)
                 : ZMESH_ERR_INVALID;
        }
    }
    msgpack_zone_destroy (&zone);
    return rc;
}
