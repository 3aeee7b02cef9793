/*  test_clock.c - the real and the fake clock.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

Test (clock, fake_moves_only_when_advanced)
{
    zmesh_clock_t *clock = zmesh_clock_fake_new (1000);
    cr_assert (eq (i64, zmesh_clock_unix_ms (clock), 1000));
    cr_assert (eq (i64, zmesh_clock_mono_ms (clock), 1000));
    zmesh_clock_fake_advance (clock, 250);
    cr_assert (eq (i64, zmesh_clock_unix_ms (clock), 1250));
    cr_assert (eq (i64, zmesh_clock_mono_ms (clock), 1250));
    cr_assert (eq (i64, zmesh_clock_unix_us (clock), 1250000));
    cr_assert (eq (i64, zmesh_clock_mono_us (clock), 1250000));
    zmesh_clock_destroy (&clock);
    cr_assert (clock == NULL);
    zmesh_clock_destroy (&clock);
}

Test (clock, wall_steps_leave_monotonic_time_alone)
{
    zmesh_clock_t *clock = zmesh_clock_fake_new (5000);
    zmesh_clock_fake_set_unix_ms (clock, 1000);
    cr_assert (eq (i64, zmesh_clock_unix_ms (clock), 1000));
    cr_assert (eq (i64, zmesh_clock_mono_ms (clock), 5000));
    zmesh_clock_destroy (&clock);
}

Test (clock, real_reads_the_kernel)
{
    zmesh_clock_t *clock = zmesh_clock_real ();
    struct timespec now;
    clock_gettime (CLOCK_REALTIME, &now);
    int64_t unix_ms = zmesh_clock_unix_ms (clock);
    cr_assert (ge (i64, unix_ms, (int64_t) now.tv_sec * 1000));
    cr_assert (lt (i64, unix_ms, (int64_t) now.tv_sec * 1000 + 60000));
    int64_t before = zmesh_clock_mono_ms (clock);
    cr_assert (ge (i64, zmesh_clock_mono_ms (clock), before));
    //  Microseconds read the same clocks, finer
    int64_t us = zmesh_clock_mono_us (clock), ms = zmesh_clock_mono_ms (clock);
    cr_assert (ge (i64, ms, us / 1000));
    cr_assert (lt (i64, ms - us / 1000, 1000));
    cr_assert (ge (i64, zmesh_clock_unix_us (clock), unix_ms * 1000));
    zmesh_clock_destroy (&clock);
    cr_assert (clock == NULL);
    cr_assert (zmesh_clock_real () != NULL, "the real clock outlives destroy");
}
