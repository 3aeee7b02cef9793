/*  test_rand.c - the seeded and the kernel random sources.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "alloc.h"

Test (rand, same_seed_same_sequence)
{
    zmesh_rand_t *a = zmesh_rand_seeded_new (42);
    zmesh_rand_t *b = zmesh_rand_seeded_new (42);
    zmesh_rand_t *c = zmesh_rand_seeded_new (43);
    bool differs = false;
    for (int round = 0; round < 100; round++) {
        uint64_t value = zmesh_rand_u64 (a);
        cr_assert (eq (u64, value, zmesh_rand_u64 (b)));
        differs |= value != zmesh_rand_u64 (c);
    }
    cr_assert (differs);
    zmesh_rand_destroy (&a);
    zmesh_rand_destroy (&b);
    zmesh_rand_destroy (&c);
}

Test (rand, below_stays_in_range_and_covers_it)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (7);
    int seen [10] = {0};
    for (int round = 0; round < 10000; round++) {
        uint64_t value = zmesh_rand_below (rand, 10);
        cr_assert (lt (u64, value, 10));
        seen [value]++;
    }
    //  Each bucket expects 1000; 800 is more than six sigma away.
    for (int bucket = 0; bucket < 10; bucket++)
        cr_assert (gt (int, seen [bucket], 800), "bucket %d: %d", bucket,
                   seen [bucket]);
    cr_assert (eq (u64, zmesh_rand_below (rand, 1), 0));
    zmesh_rand_destroy (&rand);
}

Test (rand, unit_is_in_zero_one)
{
    zmesh_rand_t *rand = zmesh_rand_seeded_new (9);
    double sum = 0;
    for (int round = 0; round < 10000; round++) {
        double value = zmesh_rand_unit (rand);
        cr_assert (ge (dbl, value, 0.0));
        cr_assert (lt (dbl, value, 1.0));
        sum += value;
    }
    cr_assert (gt (dbl, sum / 10000, 0.45));
    cr_assert (lt (dbl, sum / 10000, 0.55));
    zmesh_rand_destroy (&rand);
}

Test (rand, kernel_source_fills_odd_sizes_across_refills)
{
    zmesh_rand_t *rand = zmesh_rand_new ();
    cr_assert (rand != NULL);
    uint8_t buffer [10007];
    memset (buffer, 0, sizeof buffer);
    zmesh_rand_fill (rand, buffer, sizeof buffer);
    int zeros = 0;
    for (size_t index = 0; index < sizeof buffer; index++)
        zeros += buffer [index] == 0;
    //  Expect about 39 zero bytes; all-zero tails would mean a gap.
    cr_assert (lt (int, zeros, 120));
    cr_assert (buffer [sizeof buffer - 1] || buffer [sizeof buffer - 2]
               || buffer [sizeof buffer - 3]);
    zmesh_rand_destroy (&rand);
    zmesh_rand_destroy (&rand);
}

Test (rand, refuses_to_start_without_memory)
{
    //  Allocation failure gives NULL, not a crash.
    zmesh__alloc_fail_at (1);
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh__alloc_fail_at (0);
    cr_assert (rand == NULL);
    zmesh__alloc_fail_at (1);
    rand = zmesh_rand_seeded_new (1);
    zmesh__alloc_fail_at (0);
    cr_assert (rand == NULL);
}
