/*  test_reply_cache.c - the replies kept for retried requests: found by
    request id, replaced, dropped, and evicted oldest first within both
    limits.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include "zmesh.h"
#include "reply_cache.h"

static zmesh_uuid_t
s_id (uint8_t seed)
{
    zmesh_uuid_t id;
    memset (id.bytes, seed, sizeof id.bytes);
    return id;
}

//  A frame of size bytes, all fill.
static zframe_t *
s_frame (size_t size, char fill)
{
    zframe_t *frame = zframe_new (NULL, size);
    memset (zframe_data (frame), fill, size);
    return frame;
}

Test (reply_cache, finds_replaces_and_drops_by_request_id)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (8, 1000);
    zmesh_uuid_t one = s_id (1), two = s_id (2);
    zframe_t *frame = s_frame (10, 'a');
    zmesh__reply_cache_put (cache, &one, &frame);
    cr_assert (frame == NULL, "taken");
    cr_assert (zmesh__reply_cache_get (cache, &two) == NULL);
    zframe_t *kept = zmesh__reply_cache_get (cache, &one);
    cr_assert (kept && zframe_size (kept) == 10);
    frame = s_frame (20, 'b');
    zmesh__reply_cache_put (cache, &one, &frame);
    kept = zmesh__reply_cache_get (cache, &one);
    cr_assert (eq (sz, zframe_size (kept), 20), "the newer reply replaces");
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 1));
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 20));
    zmesh__reply_cache_drop (cache, &one);
    zmesh__reply_cache_drop (cache, &two);          //  Harmless
    cr_assert (zmesh__reply_cache_get (cache, &one) == NULL);
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 0));
    zmesh__reply_cache_destroy (&cache);
    zmesh__reply_cache_destroy (&cache);
    cr_assert (cache == NULL);
}

Test (reply_cache, evicts_the_oldest_to_stay_within_count_and_bytes)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (3, 100);
    for (uint8_t seed = 1; seed <= 4; seed++) {
        zmesh_uuid_t id = s_id (seed);
        zframe_t *frame = s_frame (10, (char) seed);
        zmesh__reply_cache_put (cache, &id, &frame);
    }
    zmesh_uuid_t id = s_id (1);
    cr_assert (zmesh__reply_cache_get (cache, &id) == NULL, "oldest gone");
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 3));
    //  A dropped reply leaves no stale place in the order behind it.
    id = s_id (2);
    zmesh__reply_cache_drop (cache, &id);
    //  80 bytes more: 3 (10) + 4 (10) + 80 = 100 fits; then 5 must go.
    id = s_id (5);
    zframe_t *frame = s_frame (80, 'e');
    zmesh__reply_cache_put (cache, &id, &frame);
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 100));
    id = s_id (6);
    frame = s_frame (15, 'f');
    zmesh__reply_cache_put (cache, &id, &frame);
    id = s_id (3);
    cr_assert (zmesh__reply_cache_get (cache, &id) == NULL);
    id = s_id (4);
    cr_assert (zmesh__reply_cache_get (cache, &id) == NULL);
    id = s_id (5);
    cr_assert (zmesh__reply_cache_get (cache, &id) != NULL);
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 95));
    //  Larger than the whole cache: not kept, and nothing evicted for it.
    id = s_id (7);
    frame = s_frame (101, 'g');
    zmesh__reply_cache_put (cache, &id, &frame);
    cr_assert (frame == NULL);
    cr_assert (zmesh__reply_cache_get (cache, &id) == NULL);
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 2));
    zmesh__reply_cache_destroy (&cache);
}

Test (reply_cache, with_no_room_keeps_nothing)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (0, 1000);
    zmesh_uuid_t id = s_id (9);
    zframe_t *frame = s_frame (1, 'x');
    zmesh__reply_cache_put (cache, &id, &frame);
    cr_assert (frame == NULL);
    cr_assert (zmesh__reply_cache_get (cache, &id) == NULL);
    zmesh__reply_cache_destroy (&cache);
}

//  Many puts, replacements and drops, checked against a plain model of
//  the same limits: the cache grows, chains and evicts as a list would.
Test (reply_cache, keeps_what_a_plain_oldest_first_list_keeps)
{
    enum { ENTRIES = 300, BYTES = 20000, IDS = 1000, STEPS = 20000 };
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (ENTRIES, BYTES);
    //  The model: ids oldest first, with the size each was kept at
    int order [ENTRIES + 1], sizes [IDS] = {0};
    size_t count = 0, bytes = 0;
    uint32_t state = 12345;
    for (int step = 0; step < STEPS; step++) {
        state = state * 1103515245 + 12345;
        int id_number = (int) ((state >> 8) % IDS);
        zmesh_uuid_t id;
        //  Ids that differ in their first half only, as time-ordered do
        memset (id.bytes, 0, sizeof id.bytes);
        memcpy (id.bytes, &id_number, sizeof id_number);
        //  Out of the model first, if there
        for (size_t index = 0; index < count; index++)
            if (order [index] == id_number) {
                bytes -= (size_t) sizes [id_number];
                memmove (&order [index], &order [index + 1],
                         (count - index - 1) * sizeof *order);
                count--;
                break;
            }
        if ((state >> 4) % 5 == 0) {
            zmesh__reply_cache_drop (cache, &id);
            continue;
        }
        int size = 1 + (int) ((state >> 12) % 200);
        zframe_t *frame = s_frame ((size_t) size, (char) id_number);
        zmesh__reply_cache_put (cache, &id, &frame);
        while (count >= ENTRIES || bytes + (size_t) size > BYTES) {
            bytes -= (size_t) sizes [order [0]];
            memmove (&order [0], &order [1], (count - 1) * sizeof *order);
            count--;
        }
        order [count++] = id_number;
        sizes [id_number] = size;
        bytes += (size_t) size;
        cr_assert (eq (sz, zmesh__reply_cache_size (cache), count),
                   "step %d", step);
        cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), bytes));
    }
    for (int id_number = 0; id_number < IDS; id_number++) {
        zmesh_uuid_t id;
        memset (id.bytes, 0, sizeof id.bytes);
        memcpy (id.bytes, &id_number, sizeof id_number);
        bool kept = false;
        for (size_t index = 0; index < count; index++)
            kept |= order [index] == id_number;
        zframe_t *frame = zmesh__reply_cache_get (cache, &id);
        cr_assert (kept == (frame != NULL), "id %d", id_number);
        if (frame) {
            cr_assert (eq (sz, zframe_size (frame),
                           (size_t) sizes [id_number]));
            cr_assert (zframe_data (frame) [0] == (uint8_t) id_number);
        }
    }
    zmesh__reply_cache_destroy (&cache);
}
