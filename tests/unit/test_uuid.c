/*  test_uuid.c - ids: generation, text forms, comparison.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

static zmesh_rand_t *rand_source;

static void
s_setup (void)
{
    rand_source = zmesh_rand_new ();
    cr_assert (rand_source != NULL);
}

static void
s_teardown (void)
{
    zmesh_rand_destroy (&rand_source);
}

TestSuite (uuid, .init = s_setup, .fini = s_teardown);

Test (uuid, generates_version_4_variant_1)
{
    for (int round = 0; round < 1000; round++) {
        zmesh_uuid_t uuid;
        zmesh_uuid_generate (rand_source, &uuid);
        cr_assert (eq (u8, uuid.bytes [6] >> 4, 4));
        cr_assert (eq (u8, uuid.bytes [8] >> 6, 2));
        cr_assert (not (zmesh_uuid_is_nil (&uuid)));
    }
}

Test (uuid, generates_version_7_in_time_order)
{
    //  2026-11-29T00:00:00Z, then one millisecond later
    uint64_t unix_ms = 1795910400000ULL;
    zmesh_uuid_t first, same_ms, later;
    zmesh_uuid_generate_v7 (rand_source, unix_ms, &first);
    zmesh_uuid_generate_v7 (rand_source, unix_ms, &same_ms);
    zmesh_uuid_generate_v7 (rand_source, unix_ms + 1, &later);
    char text [ZMESH_UUID_STR_LEN + 1];
    zmesh_uuid_unparse (&first, text);
    //  48 bits of time: 0x01a22499f800 ms
    cr_assert (eq (int, strncmp (text, "01a22499-f800-7", 15), 0), "%s", text);
    cr_assert (eq (u8, first.bytes [8] >> 6, 2));
    cr_assert (not (zmesh_uuid_eq (&first, &same_ms)));
    cr_assert (lt (int, zmesh_uuid_compare (&first, &later), 0));
    cr_assert (lt (int, zmesh_uuid_compare (&same_ms, &later), 0));
}

Test (uuid, generates_distinct_ids_across_pool_refills)
{
    //  4096-byte pool, 16 bytes an id: 1000 ids cross several refills.
    enum { COUNT = 1000 };
    zmesh_uuid_t *ids = malloc (sizeof (zmesh_uuid_t) * COUNT);
    for (int index = 0; index < COUNT; index++)
        zmesh_uuid_generate (rand_source, &ids [index]);
    qsort (ids, COUNT, sizeof (zmesh_uuid_t),
           (int (*) (const void *, const void *)) zmesh_uuid_compare);
    for (int index = 1; index < COUNT; index++)
        cr_assert (not (zmesh_uuid_eq (&ids [index - 1], &ids [index])));
    free (ids);
}

Test (uuid, text_round_trips_in_lowercase)
{
    zmesh_uuid_t uuid, parsed;
    cr_assert (eq (int, zmesh_uuid_parse ("0F8FAD5B-D9CB-469F-A165-70867728950E",
                                          &uuid), ZMESH_OK));
    char text [ZMESH_UUID_STR_LEN + 1];
    cr_assert (eq (str, zmesh_uuid_unparse (&uuid, text),
                   "0f8fad5b-d9cb-469f-a165-70867728950e"));
    cr_assert (eq (int, zmesh_uuid_parse (text, &parsed), ZMESH_OK));
    cr_assert (zmesh_uuid_eq (&uuid, &parsed));
    cr_assert (eq (u8, uuid.bytes [0], 0x0f));
    cr_assert (eq (u8, uuid.bytes [15], 0x0e));
}

Test (uuid, parse_rejects_anything_but_the_canonical_form)
{
    const char *bad [] = {
        "", "0f8fad5b-d9cb-469f-a165-70867728950",
        "0f8fad5b-d9cb-469f-a165-70867728950e0",
        "0f8fad5bd9cb469fa16570867728950e",
        "0f8fad5b-d9cb-469f-a165-70867728950g",
        "{0f8fad5b-d9cb-469f-a165-70867728950e}",
        "0f8fad5b_d9cb_469f_a165_70867728950e", NULL
    };
    zmesh_uuid_t uuid = {{1}};
    for (int index = 0; bad [index]; index++)
        cr_assert (eq (int, zmesh_uuid_parse (bad [index], &uuid),
                       ZMESH_ERR_UUID_PARSE), "accepted '%s'", bad [index]);
    cr_assert (eq (int, zmesh_uuid_parse (NULL, &uuid), ZMESH_ERR_UUID_PARSE));
    cr_assert (eq (u8, uuid.bytes [0], 1), "a failed parse leaves it alone");
}

Test (uuid, compares_bytewise_and_knows_nil)
{
    zmesh_uuid_t low = {{0}}, high = {{0}};
    cr_assert (zmesh_uuid_is_nil (&low));
    high.bytes [0] = 1;
    cr_assert (lt (int, zmesh_uuid_compare (&low, &high), 0));
    cr_assert (gt (int, zmesh_uuid_compare (&high, &low), 0));
    cr_assert (eq (int, zmesh_uuid_compare (&high, &high), 0));
    cr_assert (not (zmesh_uuid_eq (&low, &high)));
}
