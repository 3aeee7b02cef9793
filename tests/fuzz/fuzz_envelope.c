/*  fuzz_envelope.c - libFuzzer target: the envelope decoder.

    Any bytes: decoding never crashes, leaks or hangs; what decodes
    encodes again, and the encoding decodes to the same encoding (the
    canonical form is a fixed point); zsniff's JSON view of it renders;
    read as the frame of a batch, it splits into envelopes that decode
    alone; read the long way (zmesh__envelope_decode_long), never as the
    encoder's own form, it gives the same answer and envelope; and an
    event of one header at most, written from its fields
    (zmesh__envelope_pack_event), is the encoder's bytes.
    And msgpack-c, an independent reader, agrees with the decoder on every
    field of what it accepts.

    Part of zmesh. MIT License.
*/
#include "zmesh.h"
#include "zmesh_classes.h"
#include "envelope_private.h"
#include <msgpack.h>

static bool
s_bytes_eq (const msgpack_object *value, const void *data, size_t size)
{
    const msgpack_object_bin *bin = &value->via.bin;   //  Same layout as str
    return (value->type == MSGPACK_OBJECT_BIN
            || value->type == MSGPACK_OBJECT_STR)
        && bin->size == size && memcmp (bin->ptr, data, size) == 0;
}

static bool
s_text_eq (const msgpack_object *value, const char *text)
{
    return text && value->type == MSGPACK_OBJECT_STR
        && s_bytes_eq (value, text, strlen (text));
}

//  Does msgpack-c's reading of field key agree with the envelope's?
static bool
s_field_agrees (const zmesh_envelope_t *envelope, uint64_t key,
                const msgpack_object *value)
{
    bool is_uint = value->type == MSGPACK_OBJECT_POSITIVE_INTEGER;
    uint64_t number = value->via.u64;
    switch (key) {
        case 0: return is_uint && number == 1;
        case 1: return is_uint && number == zmesh_envelope_kind (envelope);
        case 2: return s_bytes_eq (value, zmesh_envelope_id (envelope), 16);
        case 3: return s_bytes_eq (value, zmesh_envelope_correlation (envelope),
                                   16);
        case 4: return zmesh_envelope_causation (envelope)
                    && s_bytes_eq (value, zmesh_envelope_causation (envelope),
                                   16);
        case 5: return s_text_eq (value, zmesh_envelope_type (envelope));
        case 6: return s_text_eq (value, zmesh_envelope_source (envelope));
        case 7: return is_uint && number == zmesh_envelope_timestamp (envelope);
        case 8: return is_uint && number == zmesh_envelope_seq (envelope);
        case 9: return is_uint && zmesh_envelope_has_budget (envelope)
                    && number == zmesh_envelope_budget_ms (envelope);
        case 10: return is_uint && zmesh_envelope_has_status (envelope)
                     && number == zmesh_envelope_status (envelope);
        case 11: return is_uint
                     ? number == (uint64_t) zmesh_envelope_error_code (envelope)
                     : value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER
                       && value->via.i64 == zmesh_envelope_error_code (envelope);
        case 12: return s_text_eq (value, zmesh_envelope_error_text (envelope));
        case 13: {
            const msgpack_object_map *map = &value->via.map;
            if (value->type != MSGPACK_OBJECT_MAP
                || map->size != zmesh_envelope_header_count (envelope))
                return false;
            for (uint32_t index = 0; index < map->size; index++)
                if (!s_text_eq (&map->ptr [index].key,
                                zmesh_envelope_header_name (envelope, index))
                    || !s_text_eq (&map->ptr [index].val,
                                   zmesh_envelope_header_value (envelope,
                                                                index)))
                    return false;
            return true;
        }
        case 14: return value->type == MSGPACK_OBJECT_BIN
                     && s_bytes_eq (value, zmesh_envelope_body (envelope),
                                    zmesh_envelope_body_size (envelope));
        default: return true;   //  A field of a later revision
    }
}

static bool
s_msgpack_agrees (const uint8_t *data, size_t size,
                  const zmesh_envelope_t *envelope)
{
    msgpack_zone zone;
    msgpack_zone_init (&zone, 2048);
    msgpack_object root;
    size_t offset = 0;
    bool agrees = msgpack_unpack ((const char *) data, size, &offset, &zone,
                                  &root) == MSGPACK_UNPACK_SUCCESS
               && offset == size && root.type == MSGPACK_OBJECT_MAP;
    for (uint32_t index = 0; agrees && index < root.via.map.size; index++) {
        const msgpack_object_kv *entry = &root.via.map.ptr [index];
        agrees = entry->key.type == MSGPACK_OBJECT_POSITIVE_INTEGER
              && s_field_agrees (envelope, entry->key.via.u64, &entry->val);
    }
    msgpack_zone_destroy (&zone);
    return agrees;
}

//  The bytes read as a batch's frame: each envelope taken from the front
//  is one that decodes alone, and the walk moves on and ends.
static void
s_walk_batch (const uint8_t *data, size_t size)
{
    zmesh_envelope_t *next = zmesh_envelope_new (ZMESH_KIND_EVENT);
    size_t at = 0, used = 0;
    while (at < size
           && zmesh_envelope_decode_next (data + at, size - at, &used, next,
                                          NULL) == ZMESH_OK) {
        zmesh_envelope_t *alone = NULL;
        if (used == 0 || used > size - at
            || zmesh_envelope_decode (data + at, used, &alone, NULL)
               != ZMESH_OK)
            __builtin_trap ();
        zmesh_envelope_destroy (&alone);
        at += used;
    }
    zmesh_envelope_destroy (&next);
}

//  The decoder reads the encoder's form straight through and the rest the
//  long way: both must come to the same.
static void
s_read_alike (const uint8_t *data, size_t size)
{
    zmesh_envelope_t *fast = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_envelope_t *slow = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_detail_t fast_detail = {""}, slow_detail = {""};
    zmesh_err_t rc = zmesh_envelope_decode_into (data, size, fast,
                                                 &fast_detail);
    if (rc != zmesh__envelope_decode_long (data, size, slow, &slow_detail)
        || strcmp (fast_detail.text, slow_detail.text))
        __builtin_trap ();
    zframe_t *one = NULL, *two = NULL;
    if (rc == ZMESH_OK
        && (zmesh_envelope_encode (fast, &one, NULL) != ZMESH_OK
            || zmesh_envelope_encode (slow, &two, NULL) != ZMESH_OK
            || !zframe_eq (one, two)))
        __builtin_trap ();
    zframe_destroy (&one);
    zframe_destroy (&two);
    zmesh_envelope_destroy (&fast);
    zmesh_envelope_destroy (&slow);
}

//  An event with one header at most, as the publish path writes events
//  from their fields (zmesh__envelope_pack_event): the same bytes as the
//  encoder's.
static void
s_written_alike (const zmesh_envelope_t *envelope, zframe_t *frame)
{
    size_t headers = zmesh_envelope_header_count (envelope);
    if (zmesh_envelope_kind (envelope) != ZMESH_KIND_EVENT
        || envelope->seq == 0 || envelope->has_budget
        || envelope->has_status || envelope->has_error_code
        || envelope->error_text || headers > 1)
        return;
    const char *value = headers ? zmesh_envelope_header_value (envelope, 0)
                                : NULL;
    zmesh__event_fields_t fields = {
        .id = zmesh_envelope_id (envelope),
        .correlation = zmesh_envelope_correlation (envelope),
        .causation = zmesh_envelope_causation (envelope),
        .type = envelope->type, .type_length = strlen (envelope->type),
        .source = envelope->source,
        .source_length = strlen (envelope->source),
        .timestamp = envelope->timestamp, .seq = envelope->seq,
        .header = headers ? zmesh_envelope_header_name (envelope, 0) : NULL,
        .header_value = value,
        .header_value_length = value ? strlen (value) : 0,
        .body = envelope->body,
        .body_size = envelope->body_size};
    size_t size = zmesh__envelope_pack_event (&fields, NULL, 0);
    uint8_t *written = malloc (size);
    if (size != zframe_size (frame)
        || zmesh__envelope_pack_event (&fields, written, size) != size
        || memcmp (written, zframe_data (frame), size))
        __builtin_trap ();
    free (written);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_walk_batch (data, size);
    s_read_alike (data, size);
    zmesh_envelope_t *envelope = NULL;
    if (zmesh_envelope_decode (data, size, &envelope, NULL) != ZMESH_OK)
        return 0;
    if (!s_msgpack_agrees (data, size, envelope))
        __builtin_trap ();      //  The decoder misread a field
    zframe_t *first = NULL, *second = NULL;
    zmesh_envelope_t *again = NULL;
    if (zmesh_envelope_encode (envelope, &first, NULL) != ZMESH_OK
        || !s_msgpack_agrees (zframe_data (first), zframe_size (first),
                              envelope)
        || zmesh_envelope_decode (zframe_data (first), zframe_size (first),
                                  &again, NULL) != ZMESH_OK
        || zmesh_envelope_encode (again, &second, NULL) != ZMESH_OK
        || !zframe_eq (first, second))
        __builtin_trap ();      //  A decoded envelope must round-trip
    s_written_alike (envelope, first);
    json_t *view = zmesh_json_from_envelope (envelope);
    if (!view)
        __builtin_trap ();
    json_decref (view);
    zframe_destroy (&first);
    zframe_destroy (&second);
    zmesh_envelope_destroy (&again);
    zmesh_envelope_destroy (&envelope);
    return 0;
}
