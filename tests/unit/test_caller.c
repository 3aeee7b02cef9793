/*  test_caller.c - breakers, retries, failover, budget, fallback and
    bulkhead together, over a scripted transport on the fake clock.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

//  What the scripted transport does on one attempt.
typedef enum {
    ANSWER_OK,                  //  An ok reply after cost_ms
    ANSWER_APP_ERROR,           //  Application error 402
    ANSWER_OVERLOADED,          //  Mesh error: retry after cost_ms
    ANSWER_TIMEOUT,             //  Nothing until the attempt's deadline
    ANSWER_UNREACHABLE          //  Socket error at once
} s_answer_t;

typedef struct {
    const char *endpoint;
    int64_t started_ms;
    int64_t deadline_ms;
} s_attempt_seen_t;

typedef struct {
    zmesh_clock_t *clock;
    zmesh_rand_t *rand;
    zmesh_caller_t *caller;
    s_answer_t script [2][16];  //  Per endpoint, per attempt there
    int next [2];
    int cost_ms;
    s_attempt_seen_t seen [32];
    int attempts;
    zmesh_call_policy_t policy;
    zmesh_call_t *nested;       //  A call to make from inside an attempt
    zmesh_err_t nested_rc;
} s_world_t;

static s_world_t world;
static const char *endpoints [] = {"tcp://a:1", "tcp://b:1"};

static zmesh_envelope_t *
s_reply (zmesh_status_t status, int64_t code)
{
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    zmesh_uuid_t id;
    zmesh_uuid_generate (world.rand, &id);
    zmesh_envelope_set_id (reply, &id);
    zmesh_envelope_set_correlation (reply, &id);
    zmesh_envelope_set_type (reply, "user.get");
    zmesh_envelope_set_source (reply, "user");
    if (status != ZMESH_STATUS_OK)
        zmesh_envelope_set_status (reply, status, code, "scripted");
    return reply;
}

static zmesh_err_t
s_transport (void *arg, const char *endpoint, int64_t deadline_ms,
             zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    (void) arg, (void) detail;
    int which = streq (endpoint, endpoints [0]) ? 0 : 1;
    cr_assert (lt (int, world.attempts, 32));
    s_attempt_seen_t *seen = &world.seen [world.attempts++];
    seen->endpoint = endpoint;
    seen->started_ms = zmesh_clock_mono_ms (world.clock);
    seen->deadline_ms = deadline_ms;
    if (world.nested) {
        zmesh_envelope_t *inner = NULL;
        zmesh_call_t *nested = world.nested;
        world.nested = NULL;
        world.nested_rc = zmesh_caller_call (world.caller, nested, &inner,
                                             NULL);
        zmesh_envelope_destroy (&inner);
    }
    s_answer_t answer = world.script [which][world.next [which]++];
    switch (answer) {
        case ANSWER_TIMEOUT:
            zmesh_clock_fake_advance (world.clock,
                                      deadline_ms - seen->started_ms);
            return ZMESH_ERR_TIMEOUT;
        case ANSWER_UNREACHABLE:
            return ZMESH_ERR_SOCKET;
        case ANSWER_OVERLOADED:
            *reply_p = s_reply (ZMESH_STATUS_OK, 0);
            zmesh_reply_overloaded (*reply_p, (uint32_t) world.cost_ms);
            return ZMESH_OK;
        case ANSWER_APP_ERROR:
            zmesh_clock_fake_advance (world.clock, world.cost_ms);
            *reply_p = s_reply (ZMESH_STATUS_APP_ERROR, 402);
            return ZMESH_OK;
        case ANSWER_OK:
            zmesh_clock_fake_advance (world.clock, world.cost_ms);
            *reply_p = s_reply (ZMESH_STATUS_OK, 0);
            return ZMESH_OK;
    }
    return ZMESH_ERR_INVALID;
}

static void
s_setup (void)
{
    memset (&world, 0, sizeof world);
    world.clock = zmesh_clock_fake_new (1000000);
    world.rand = zmesh_rand_seeded_new (8);
    world.caller = zmesh_caller_new (world.clock, world.rand);
    world.cost_ms = 10;
    zmesh_call_policy_defaults (&world.policy);
    world.policy.breaker.min_calls = 4;
    world.policy.breaker.window_size = 4;
    world.policy.retry.attempt_timeout_ms = 1000;
}

static void
s_teardown (void)
{
    zmesh_caller_destroy (&world.caller);
    zmesh_rand_destroy (&world.rand);
    zmesh_clock_destroy (&world.clock);
}

TestSuite (caller, .init = s_setup, .fini = s_teardown);

static zmesh_call_t
s_call (size_t endpoint_count, int64_t timeout_ms)
{
    zmesh_call_t call = {
        .attempt = s_transport, .service = "user", .method = "user.get",
        .policy = &world.policy, .endpoints = endpoints,
        .endpoint_count = endpoint_count,
        .deadline_ms = zmesh_clock_mono_ms (world.clock) + timeout_ms};
    return call;
}

static zmesh_err_t
s_run (zmesh_call_t *call)
{
    zmesh_envelope_t *reply = NULL;
    zmesh_err_t rc = zmesh_caller_call (world.caller, call, &reply, NULL);
    cr_assert (eq (int, reply != NULL, rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR));
    zmesh_envelope_destroy (&reply);
    return rc;
}

Test (caller, a_success_takes_one_attempt)
{
    zmesh_call_t call = s_call (2, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_OK));
    cr_assert (eq (int, world.attempts, 1));
    cr_assert (eq (str, (char *) world.seen [0].endpoint, "tcp://a:1"));
}

Test (caller, a_timeout_fails_over_to_the_other_instance_in_time)
{
    world.script [0][0] = ANSWER_TIMEOUT;
    zmesh_call_t call = s_call (2, 5000);
    int64_t started = zmesh_clock_mono_ms (world.clock);
    cr_assert (eq (int, s_run (&call), ZMESH_OK));
    cr_assert (eq (int, world.attempts, 2));
    cr_assert (eq (str, (char *) world.seen [1].endpoint, "tcp://b:1"));
    cr_assert (eq (i64, world.seen [0].deadline_ms, started + 1000),
               "one attempt may take attempt_timeout, not the whole deadline");
    int64_t waited = world.seen [1].started_ms - (started + 1000);
    cr_assert (ge (i64, waited, 0));
    cr_assert (le (i64, waited, 100), "first retry: jitter within 100 ms");
    cr_assert (eq (i64, world.seen [1].deadline_ms, world.seen [1].started_ms + 1000));
}

Test (caller, application_errors_are_not_retried)
{
    world.script [0][0] = ANSWER_APP_ERROR;
    zmesh_call_t call = s_call (2, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_APP_ERROR));
    cr_assert (eq (int, world.attempts, 1));
}

Test (caller, retries_stop_after_retries_plus_one_attempts)
{
    for (int index = 0; index < 8; index++)
        world.script [0][index] = world.script [1][index] = ANSWER_UNREACHABLE;
    zmesh_call_t call = s_call (2, 60000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_SOCKET));
    cr_assert (eq (int, world.attempts, 4), "3 retries: 4 attempts");
    //  Instances alternate: each retry prefers one not yet tried.
    cr_assert (eq (str, (char *) world.seen [1].endpoint, "tcp://b:1"));
    //  Each wait is within its full-jitter bound.
    int64_t bounds [] = {100, 200, 400};
    for (int retry = 1; retry < 4; retry++) {
        int64_t waited = world.seen [retry].started_ms
                       - world.seen [retry - 1].started_ms;
        cr_assert (le (i64, waited, bounds [retry - 1]), "retry %d waited %"
                   PRId64, retry, waited);
    }
    zmesh_caller_stats_t stats;
    zmesh_caller_stats (world.caller, &stats);
    cr_assert (eq (u64, stats.retries, 3));
}

//  A backoff that waits on the fake clock, as the node's lets go of its
//  lock while it waits.
static int backoffs;
static int64_t backoff_total_ms;

static bool
s_backoff (void *arg, int64_t delay_ms)
{
    cr_assert (eq (ptr, arg, &world));
    backoffs++;
    backoff_total_ms += delay_ms;
    zmesh_clock_fake_advance (world.clock, delay_ms);
    return true;
}

Test (caller, the_backoff_hook_makes_each_wait_between_attempts)
{
    for (int index = 0; index < 8; index++)
        world.script [0][index] = world.script [1][index] = ANSWER_UNREACHABLE;
    world.policy.retry.full_jitter = false;
    zmesh_call_t call = s_call (2, 60000);
    call.backoff = s_backoff;
    call.attempt_arg = &world;
    backoffs = 0;
    backoff_total_ms = 0;
    int64_t started = zmesh_clock_mono_ms (world.clock);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_SOCKET));
    cr_assert (eq (int, world.attempts, 4));
    cr_assert (eq (int, backoffs, 3), "one wait before each retry");
    cr_assert (eq (i64, backoff_total_ms, 100 + 200 + 400));
    cr_assert (eq (i64, zmesh_clock_mono_ms (world.clock) - started, 700),
               "the clock's own sleep was not used as well");
}

Test (caller, retries_share_the_one_deadline)
{
    for (int index = 0; index < 8; index++)
        world.script [0][index] = world.script [1][index] = ANSWER_TIMEOUT;
    world.policy.retry.full_jitter = false;
    zmesh_call_t call = s_call (2, 2500);
    int64_t started = zmesh_clock_mono_ms (world.clock);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_TIMEOUT));
    //  1000 ms attempt, 100 ms wait, 1000 ms attempt, 200 ms wait: only
    //  200 ms are left, and the third attempt gets just those.
    cr_assert (eq (int, world.attempts, 3));
    cr_assert (eq (i64, world.seen [1].started_ms, started + 1100));
    cr_assert (eq (i64, world.seen [2].started_ms, started + 2300));
    cr_assert (eq (i64, world.seen [2].deadline_ms, started + 2500));
    cr_assert (le (i64, zmesh_clock_mono_ms (world.clock), call.deadline_ms));
}

Test (caller, an_overloaded_answer_is_retried_no_sooner_than_asked)
{
    world.script [0][0] = ANSWER_OVERLOADED;
    world.script [1][0] = ANSWER_OK;
    world.cost_ms = 700;
    zmesh_call_t call = s_call (2, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_OK));
    cr_assert (eq (int, world.attempts, 2));
    cr_assert (ge (i64, world.seen [1].started_ms - world.seen [0].started_ms,
                   700));
}

Test (caller, an_answer_to_retry_later_is_no_failure_of_the_instance)
{
    //  Overloaded, with retry-after: retried, but the breaker stays
    //  closed however often it comes, for the instance answered.
    world.policy.breaker.min_calls = 1;
    world.policy.breaker.failure_rate = 100;
    for (int index = 0; index < 8; index++)
        world.script [0][index] = ANSWER_OVERLOADED;
    world.cost_ms = 10;
    zmesh_call_t call = s_call (1, 60000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_UNAVAILABLE));
    cr_assert (eq (int, zmesh_breaker_state (zmesh_caller_breaker (
                            world.caller, call.endpoints [0])),
                   ZMESH_BREAKER_CLOSED));
}

Test (caller, the_budget_limits_retries)
{
    world.policy.retry.budget_max = 1;
    world.policy.retry.budget = 0;
    for (int index = 0; index < 16; index++)
        world.script [0][index] = world.script [1][index] = ANSWER_UNREACHABLE;
    zmesh_call_t call = s_call (2, 60000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_SOCKET));
    cr_assert (eq (int, world.attempts, 2), "one retry in the budget");
    call = s_call (2, 60000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_SOCKET));
    cr_assert (eq (int, world.attempts, 3), "none left");
    zmesh_caller_stats_t stats;
    zmesh_caller_stats (world.caller, &stats);
    cr_assert (eq (u64, stats.budget_exhausted, 2));
}

static zmesh_err_t fallback_cause;

static void
s_fallback (zmesh_err_t cause, zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    fallback_cause = cause;
    zmesh_envelope_set_body (reply, "\xa6" "cached", 7);
}

Test (caller, an_open_breaker_fails_fast_and_the_fallback_answers)
{
    world.policy.retry.retries = 0;
    for (int index = 0; index < 4; index++)
        world.script [0][index] = ANSWER_UNREACHABLE;
    for (int index = 0; index < 4; index++) {
        zmesh_call_t call = s_call (1, 5000);
        cr_assert (eq (int, s_run (&call), ZMESH_ERR_SOCKET));
    }
    zmesh_breaker_t *breaker = zmesh_caller_breaker (world.caller, endpoints [0]);
    cr_assert (breaker != NULL);
    cr_assert (eq (int, zmesh_breaker_state (breaker), ZMESH_BREAKER_OPEN));

    //  Open: no attempt is made at all.
    zmesh_call_t call = s_call (1, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_CIRCUIT_OPEN));
    cr_assert (eq (int, world.attempts, 4));

    call.fallback = s_fallback;
    zmesh_envelope_t *reply = NULL;
    cr_assert (eq (int, zmesh_caller_call (world.caller, &call, &reply, NULL),
                   ZMESH_OK));
    cr_assert (eq (int, fallback_cause, ZMESH_ERR_CIRCUIT_OPEN));
    cr_assert (eq (str, (char *) zmesh_envelope_header (reply, "fallback"),
                   "ERR_CIRCUIT_OPEN"));
    cr_assert (eq (sz, zmesh_envelope_body_size (reply), 7));
    zmesh_envelope_destroy (&reply);
    cr_assert (eq (int, world.attempts, 4));
}

Test (caller, an_open_instance_is_passed_over_for_a_healthy_one)
{
    world.policy.retry.retries = 0;
    for (int index = 0; index < 4; index++)
        world.script [0][index] = ANSWER_UNREACHABLE;
    for (int index = 0; index < 4; index++) {
        zmesh_call_t call = s_call (1, 5000);
        s_run (&call);
    }
    zmesh_call_t call = s_call (2, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_OK));
    cr_assert (eq (str, (char *) world.seen [4].endpoint, "tcp://b:1"));
}

Test (caller, no_instance_means_no_route_or_the_fallback)
{
    zmesh_call_t call = s_call (0, 5000);
    cr_assert (eq (int, s_run (&call), ZMESH_ERR_NO_ROUTE));
    call.fallback = s_fallback;
    cr_assert (eq (int, s_run (&call), ZMESH_OK));
    cr_assert (eq (int, fallback_cause, ZMESH_ERR_NO_ROUTE));
    cr_assert (eq (int, world.attempts, 0));
}

Test (caller, the_bulkhead_caps_calls_in_flight)
{
    world.policy.max_in_flight = 1;
    world.policy.retry.retries = 0;
    zmesh_call_t inner = s_call (1, 5000);
    world.nested = &inner;
    zmesh_call_t outer = s_call (1, 5000);
    cr_assert (eq (int, s_run (&outer), ZMESH_OK));
    cr_assert (eq (int, world.nested_rc, ZMESH_ERR_OVERLOADED),
               "a second call to a full instance is refused at once");
    cr_assert (eq (int, world.attempts, 1));
}

//  Instances that are equally good share the calls: in turn at random
//  when none is busy, and a call made while one has an attempt in flight
//  goes to the other. Without spread, the first takes every call.
Test (caller, equally_good_instances_share_the_calls)
{
    int first = 0;
    for (int round = 0; round < 200; round++) {
        zmesh_call_t call = s_call (2, 5000);
        call.spread = 2;
        cr_assert (eq (int, s_run (&call), ZMESH_OK));
        first += streq (world.seen [0].endpoint, endpoints [0]);
        world.attempts = 0;
        world.next [0] = world.next [1] = 0;
    }
    cr_assert (gt (int, first, 70), "a took %d of 200", first);
    cr_assert (lt (int, first, 130), "a took %d of 200", first);
    for (int round = 0; round < 20; round++) {
        zmesh_call_t call = s_call (2, 5000), nested = s_call (2, 5000);
        call.spread = nested.spread = 2;
        world.nested = &nested;
        cr_assert (eq (int, s_run (&call), ZMESH_OK));
        cr_assert (eq (int, world.nested_rc, ZMESH_OK));
        cr_assert (eq (int, world.attempts, 2));
        cr_assert (ne (str, (char *) world.seen [1].endpoint,
                       (char *) world.seen [0].endpoint),
                   "the nested call goes to the idle instance");
        world.attempts = 0;
        world.next [0] = world.next [1] = 0;
    }
    for (int round = 0; round < 20; round++) {
        zmesh_call_t call = s_call (2, 5000);
        cr_assert (eq (int, s_run (&call), ZMESH_OK));
        cr_assert (eq (str, (char *) world.seen [0].endpoint, (char *) endpoints [0]));
        world.attempts = 0;
        world.next [0] = 0;
    }
}
