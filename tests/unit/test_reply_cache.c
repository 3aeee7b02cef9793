/*  test_reply_cache.c - the replies kept for retried requests: found by
    request id, replaced, dropped, and evicted oldest first within both
    limits.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "reply_cache.h"

static zmesh_uuid_t
s_id (uint8_t seed)
{
    zmesh_uuid_t id;
    memset (id.bytes, seed, sizeof id.bytes);
    return id;
}

//  Keep size bytes, all fill, as the reply to id.
static void
s_put (zmesh_reply_cache_t *cache, const zmesh_uuid_t *id, size_t size,
       char fill)
{
    char reply [256];
    cr_assert (size <= sizeof reply);
    memset (reply, fill, size);
    zmesh__reply_cache_put (cache, id, reply, size);
    memset (reply, 0, size);    //  The cache keeps a copy
}

//  The reply kept for id, or NULL; its size in *size.
static const uint8_t *
s_get (zmesh_reply_cache_t *cache, const zmesh_uuid_t *id, size_t *size)
{
    *size = 0;
    return zmesh__reply_cache_get (cache, id, size);
}

Test (reply_cache, finds_replaces_and_drops_by_request_id)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (8, 1000);
    zmesh_uuid_t one = s_id (1), two = s_id (2);
    s_put (cache, &one, 10, 'a');
    size_t size;
    cr_assert (s_get (cache, &two, &size) == NULL);
    const uint8_t *kept = s_get (cache, &one, &size);
    cr_assert (kept && size == 10 && kept [0] == 'a' && kept [9] == 'a',
               "a copy of what was put");
    s_put (cache, &one, 20, 'b');
    kept = s_get (cache, &one, &size);
    cr_assert (eq (sz, size, 20), "the newer reply replaces");
    cr_assert (kept [19] == 'b');
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 1));
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 20));
    zmesh__reply_cache_drop (cache, &one);
    zmesh__reply_cache_drop (cache, &two);          //  Harmless
    cr_assert (s_get (cache, &one, &size) == NULL);
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 0));
    zmesh__reply_cache_destroy (&cache);
    zmesh__reply_cache_destroy (&cache);
    cr_assert (cache == NULL);
}

Test (reply_cache, evicts_the_oldest_to_stay_within_count_and_bytes)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (3, 100);
    size_t size;
    for (uint8_t seed = 1; seed <= 4; seed++) {
        zmesh_uuid_t id = s_id (seed);
        s_put (cache, &id, 10, (char) seed);
    }
    zmesh_uuid_t id = s_id (1);
    cr_assert (s_get (cache, &id, &size) == NULL, "oldest gone");
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 3));
    //  A dropped reply leaves no stale place in the order behind it.
    id = s_id (2);
    zmesh__reply_cache_drop (cache, &id);
    //  80 bytes more: 3 (10) + 4 (10) + 80 = 100 fits; then 5 must go.
    id = s_id (5);
    s_put (cache, &id, 80, 'e');
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 100));
    id = s_id (6);
    s_put (cache, &id, 15, 'f');
    id = s_id (3);
    cr_assert (s_get (cache, &id, &size) == NULL);
    id = s_id (4);
    cr_assert (s_get (cache, &id, &size) == NULL);
    id = s_id (5);
    cr_assert (s_get (cache, &id, &size) != NULL);
    cr_assert (eq (sz, zmesh__reply_cache_bytes (cache), 95));
    //  Larger than the whole cache: not kept, and nothing evicted for it.
    id = s_id (7);
    s_put (cache, &id, 101, 'g');
    cr_assert (s_get (cache, &id, &size) == NULL);
    cr_assert (eq (sz, zmesh__reply_cache_size (cache), 2));
    zmesh__reply_cache_destroy (&cache);
}

Test (reply_cache, with_no_room_keeps_nothing)
{
    zmesh_reply_cache_t *cache = zmesh__reply_cache_new (0, 1000);
    zmesh_uuid_t id = s_id (9);
    size_t size;
    s_put (cache, &id, 1, 'x');
    cr_assert (s_get (cache, &id, &size) == NULL);
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
        s_put (cache, &id, (size_t) size, (char) id_number);
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
        size_t size;
        const uint8_t *reply = s_get (cache, &id, &size);
        cr_assert (kept == (reply != NULL), "id %d", id_number);
        if (reply) {
            cr_assert (eq (sz, size, (size_t) sizes [id_number]));
            cr_assert (reply [0] == (uint8_t) id_number);
        }
    }
    zmesh__reply_cache_destroy (&cache);
}
