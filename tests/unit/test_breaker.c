/*  test_breaker.c - the circuit breaker, driven by the fake clock.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

static zmesh_clock_t *clock_;
static zmesh_breaker_t *breaker;
static zmesh_breaker_config_t config;

static void
s_setup (void)
{
    clock_ = zmesh_clock_fake_new (1000000);
    zmesh_breaker_config_defaults (&config);
    config.window_size = 10;
    config.min_calls = 10;
    config.failure_rate = 50;
    config.reset_timeout_ms = 30000;
}

static void
s_teardown (void)
{
    zmesh_breaker_destroy (&breaker);
    zmesh_clock_destroy (&clock_);
}

TestSuite (breaker, .init = s_setup, .fini = s_teardown);

static void
s_make (void)
{
    cr_assert (eq (int, zmesh_breaker_config_validate (&config, NULL), 0));
    breaker = zmesh_breaker_new ("tcp://127.0.0.1:5602", &config, clock_);
    cr_assert (breaker != NULL);
}

//  Make one call that ends with outcome, and return whether it was let
//  through.
static bool
s_call (zmesh_outcome_t outcome)
{
    zmesh_breaker_permit_t permit;
    int64_t deadline = zmesh_clock_mono_ms (clock_) + 1000;
    if (zmesh_breaker_acquire (breaker, deadline, &permit) != ZMESH_OK)
        return false;
    zmesh_breaker_record (breaker, &permit, outcome);
    return true;
}

static void
s_calls (int count, zmesh_outcome_t outcome)
{
    for (int index = 0; index < count; index++)
        cr_assert (s_call (outcome), "call %d refused", index);
}

Test (breaker, stays_closed_until_the_window_holds_min_calls)
{
    s_make ();
    s_calls (9, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED),
               "9 failures of 9 calls: below min_calls");
    s_calls (1, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
}

Test (breaker, opens_at_the_threshold_not_below_it)
{
    //  50 % of 10 calls: 4 failures stay closed, the 5th opens (>=).
    s_make ();
    s_calls (6, ZMESH_OUTCOME_SUCCESS);
    s_calls (3, ZMESH_OUTCOME_FAILURE);
    s_calls (1, ZMESH_OUTCOME_TIMEOUT);
    int calls, failures;
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, calls, 10));
    cr_assert (eq (int, failures, 4));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    //  The 11th call pushes the oldest success out: 5 of 10 failed.
    s_calls (1, ZMESH_OUTCOME_FAILURE);
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, failures, 5));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (eq (u64, stats.timeouts, 1));
    cr_assert (eq (u64, stats.failures, 5));
    cr_assert (eq (u64, stats.opened, 1));
}

Test (breaker, count_window_forgets_what_slid_out)
{
    s_make ();
    s_calls (4, ZMESH_OUTCOME_FAILURE);
    s_calls (10, ZMESH_OUTCOME_SUCCESS);
    int calls, failures;
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, calls, 10));
    cr_assert (eq (int, failures, 0));
    s_calls (4, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
}

Test (breaker, time_window_forgets_what_is_older_than_window_ms)
{
    config.time_window = true;
    config.window_ms = 10000;
    config.min_calls = 4;
    s_make ();
    s_calls (3, ZMESH_OUTCOME_FAILURE);
    zmesh_clock_fake_advance (clock_, 10000);
    int calls, failures;
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, calls, 0), "all three are 10 s old");
    s_calls (1, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    zmesh_clock_fake_advance (clock_, 9000);
    s_calls (3, ZMESH_OUTCOME_FAILURE);
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, calls, 4));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
}

static void
s_open (void)
{
    s_make ();
    s_calls (10, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
}

Test (breaker, open_refuses_until_the_reset_timeout)
{
    s_open ();
    cr_assert (not (s_call (ZMESH_OUTCOME_SUCCESS)));
    zmesh_clock_fake_advance (clock_, 29999);
    cr_assert (not (s_call (ZMESH_OUTCOME_SUCCESS)));
    zmesh_breaker_permit_t permit;
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, 0, &permit),
                   ZMESH_ERR_CIRCUIT_OPEN));
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (eq (u64, stats.rejections, 3));
    zmesh_clock_fake_advance (clock_, 1);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
}

Test (breaker, half_open_admits_exactly_the_permitted_probes)
{
    config.probes = 2;
    s_open ();
    zmesh_clock_fake_advance (clock_, 30000);
    int64_t deadline = zmesh_clock_mono_ms (clock_) + 1000;
    zmesh_breaker_permit_t first, second, third;
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, deadline, &first), 0));
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, deadline, &second), 0));
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, deadline, &third),
                   ZMESH_ERR_CIRCUIT_OPEN));
    cr_assert (first.probe && second.probe);
    zmesh_breaker_record (breaker, &first, ZMESH_OUTCOME_SUCCESS);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN), "one of two probes back");
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, deadline, &third),
                   ZMESH_ERR_CIRCUIT_OPEN), "a returned probe frees no slot");
    zmesh_breaker_record (breaker, &second, ZMESH_OUTCOME_SUCCESS);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    int calls, failures;
    zmesh_breaker_window (breaker, &calls, &failures);
    cr_assert (eq (int, calls, 0), "closing starts an empty window");
}

Test (breaker, a_failed_probe_opens_it_again)
{
    s_open ();
    zmesh_clock_fake_advance (clock_, 30000);
    cr_assert (s_call (ZMESH_OUTCOME_FAILURE));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    zmesh_clock_fake_advance (clock_, 29999);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN),
               "the reset timeout starts again");
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (eq (u64, stats.opened, 2));
}

Test (breaker, each_failed_probe_doubles_the_time_open_up_to_reset_max)
{
    config.reset_timeout_ms = 1000;
    config.reset_max_ms = 5000;
    s_open ();
    //  Open 1 s, then 2 s, 4 s, and 5 s (the cap) after failed probes
    int64_t spells [] = {1000, 2000, 4000, 5000, 5000};
    for (size_t spell = 0; spell < 5; spell++) {
        zmesh_clock_fake_advance (clock_, spells [spell] - 1);
        cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN),
                   "spell %zu: still open", spell);
        zmesh_clock_fake_advance (clock_, 1);
        cr_assert (eq (int, zmesh_breaker_state (breaker),
                       ZMESH_BREAKER_HALF_OPEN), "spell %zu: probing", spell);
        cr_assert (s_call (ZMESH_OUTCOME_FAILURE));
    }
    //  A probe that succeeds closes it, and the next spell is short again
    zmesh_clock_fake_advance (clock_, 5000);
    cr_assert (s_call (ZMESH_OUTCOME_SUCCESS));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    s_calls (10, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    zmesh_clock_fake_advance (clock_, 1000);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
}

Test (breaker, a_hung_probe_expires_with_its_deadline)
{
    s_open ();
    zmesh_clock_fake_advance (clock_, 30000);
    zmesh_breaker_permit_t hung;
    int64_t deadline = zmesh_clock_mono_ms (clock_) + 500;
    cr_assert (eq (int, zmesh_breaker_acquire (breaker, deadline, &hung), 0));
    zmesh_clock_fake_advance (clock_, 499);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
    zmesh_clock_fake_advance (clock_, 1);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN),
               "an unanswered probe counts as failed at its deadline");
    //  When it does come back, late, it changes nothing.
    zmesh_clock_fake_advance (clock_, 30000);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
    zmesh_breaker_record (breaker, &hung, ZMESH_OUTCOME_SUCCESS);
    cr_assert (eq (int, zmesh_breaker_state (breaker),
                   ZMESH_BREAKER_HALF_OPEN));
    cr_assert (s_call (ZMESH_OUTCOME_SUCCESS));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
}

Test (breaker, slow_calls_count_as_failures)
{
    config.slow_call_ms = 200;
    config.min_calls = 2;
    s_make ();
    zmesh_breaker_permit_t permit;
    for (int index = 0; index < 2; index++) {
        zmesh_breaker_acquire (breaker, zmesh_clock_mono_ms (clock_) + 1000,
                               &permit);
        zmesh_clock_fake_advance (clock_, 200);
        zmesh_breaker_record (breaker, &permit, ZMESH_OUTCOME_SUCCESS);
    }
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (eq (u64, stats.slow_calls, 2));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
}

Test (breaker, forced_open_refuses_and_disabled_never_opens)
{
    config.mode = ZMESH_BREAKER_FORCED_OPEN;
    s_make ();
    cr_assert (not (s_call (ZMESH_OUTCOME_SUCCESS)));
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    zmesh_breaker_destroy (&breaker);

    config.mode = ZMESH_BREAKER_DISABLED;
    s_make ();
    s_calls (50, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_CLOSED));
    zmesh_breaker_stats_t stats;
    zmesh_breaker_stats (breaker, &stats);
    cr_assert (eq (u64, stats.failures, 50), "still counted");
}

static int changes;
static zmesh_breaker_state_t seen [8][2];

static void
s_listen (zmesh_breaker_t *self, zmesh_breaker_state_t from,
          zmesh_breaker_state_t to, void *arg)
{
    (void) self, (void) arg;
    if (changes < 8) {
        seen [changes][0] = from;
        seen [changes][1] = to;
    }
    changes++;
}

Test (breaker, reports_every_state_change)
{
    s_make ();
    zmesh_breaker_set_listener (breaker, s_listen, NULL);
    s_calls (10, ZMESH_OUTCOME_FAILURE);
    zmesh_clock_fake_advance (clock_, 30000);
    s_call (ZMESH_OUTCOME_FAILURE);
    zmesh_clock_fake_advance (clock_, 30000);
    s_call (ZMESH_OUTCOME_SUCCESS);
    cr_assert (eq (int, changes, 5));
    zmesh_breaker_state_t expected [5][2] = {
        {ZMESH_BREAKER_CLOSED, ZMESH_BREAKER_OPEN},
        {ZMESH_BREAKER_OPEN, ZMESH_BREAKER_HALF_OPEN},
        {ZMESH_BREAKER_HALF_OPEN, ZMESH_BREAKER_OPEN},
        {ZMESH_BREAKER_OPEN, ZMESH_BREAKER_HALF_OPEN},
        {ZMESH_BREAKER_HALF_OPEN, ZMESH_BREAKER_CLOSED}};
    for (int index = 0; index < 5; index++) {
        cr_assert (eq (int, seen [index][0], expected [index][0]));
        cr_assert (eq (int, seen [index][1], expected [index][1]));
    }
}

Test (breaker, a_permit_from_before_it_opened_changes_nothing)
{
    config.min_calls = 2;
    s_make ();
    zmesh_breaker_permit_t early;
    zmesh_breaker_acquire (breaker, zmesh_clock_mono_ms (clock_) + 1000, &early);
    s_calls (2, ZMESH_OUTCOME_FAILURE);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
    zmesh_breaker_record (breaker, &early, ZMESH_OUTCOME_SUCCESS);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));
}

Test (breaker, config_ranges_are_checked)
{
    zmesh_breaker_config_t bad = config;
    zmesh_detail_t detail;
    bad.failure_rate = 0;
    cr_assert (eq (int, zmesh_breaker_config_validate (&bad, &detail),
                   ZMESH_ERR_CONFIG));
    bad = config;
    bad.min_calls = 11;
    cr_assert (eq (int, zmesh_breaker_config_validate (&bad, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "min_calls") != NULL);
    bad = config;
    bad.probes = 17;
    cr_assert (eq (int, zmesh_breaker_config_validate (&bad, &detail),
                   ZMESH_ERR_CONFIG));
}
