/*  caller.c - breakers, bulkheads, retries, failover and fallback around
    every call.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "caller_run.h"

#define ENDPOINTS_MAX 64        //  Instances one call chooses among

typedef struct {
    zmesh_breaker_t *breaker;
    int in_flight;              //  Attempts under way to this endpoint
} s_target_t;

struct _zmesh_caller_t {
    zmesh_clock_t *clock;       //  Borrowed
    zmesh_rand_t *rand;         //  Borrowed, for jitter
    zhashx_t *targets;          //  endpoint -> s_target_t
    zhashx_t *budgets;          //  service -> zmesh_retry_budget_t
    zmesh_caller_stats_t stats;
    char owner [ZMESH_ENVELOPE_SOURCE_MAX + 1];     //  For breaker names
};

void
zmesh_caller_set_owner (zmesh_caller_t *self, const char *owner)
{
    assert (self && owner);
    snprintf (self->owner, sizeof self->owner, "%s", owner);
}

void
zmesh_call_policy_defaults (zmesh_call_policy_t *policy)
{
    assert (policy);
    zmesh_breaker_config_defaults (&policy->breaker);
    zmesh_retry_config_defaults (&policy->retry);
    policy->max_in_flight = 64;
}

zmesh_err_t
zmesh_call_policy_validate (const zmesh_call_policy_t *policy,
                            zmesh_detail_t *detail)
{
    assert (policy);
    zmesh_err_t rc = zmesh_breaker_config_validate (&policy->breaker, detail);
    if (rc == ZMESH_OK)
        rc = zmesh_retry_config_validate (&policy->retry, detail);
    if (rc == ZMESH_OK && policy->max_in_flight < 1) {
        zmesh__detail (detail, "calls: max_in_flight must be at least 1");
        rc = ZMESH_ERR_CONFIG;
    }
    return rc;
}

static void
s_target_destroy (void **item_p)
{
    s_target_t *target = *item_p;
    if (target) {
        zmesh_breaker_destroy (&target->breaker);
        zmesh__free (target);
        *item_p = NULL;
    }
}

static void
s_budget_destroy (void **item_p)
{
    zmesh__free (*item_p);
    *item_p = NULL;
}

zmesh_caller_t *
zmesh_caller_new (zmesh_clock_t *clock, zmesh_rand_t *rand)
{
    assert (clock && rand);
    zmesh_caller_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->clock = clock;
    self->rand = rand;
    self->targets = zhashx_new ();
    zhashx_set_destructor (self->targets, s_target_destroy);
    self->budgets = zhashx_new ();
    zhashx_set_destructor (self->budgets, s_budget_destroy);
    return self;
}

void
zmesh_caller_destroy (zmesh_caller_t **self_p)
{
    assert (self_p);
    zmesh_caller_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->targets);
        zhashx_destroy (&self->budgets);
        zmesh__free (self);
        *self_p = NULL;
    }
}

//  The long-lived state of endpoint, made on its first call.
static s_target_t *
s_target (zmesh_caller_t *self, const char *endpoint,
          const zmesh_call_policy_t *policy)
{
    s_target_t *target = zhashx_lookup (self->targets, endpoint);
    if (target)
        return target;
    target = zmesh__calloc (1, sizeof *target);
    if (!target)
        return NULL;
    //  Named for the logs: "order -> tcp://10.0.0.1:7711"
    char name [ZMESH_ENVELOPE_SOURCE_MAX + ZMESH_ENDPOINT_MAX + 8];
    snprintf (name, sizeof name, "%s%s%s", self->owner,
              *self->owner ? " -> " : "", endpoint);
    target->breaker = zmesh_breaker_new (name, &policy->breaker, self->clock);
    if (!target->breaker) {
        zmesh__free (target);
        return NULL;
    }
    zhashx_insert (self->targets, endpoint, target);
    return target;
}

static zmesh_retry_budget_t *
s_budget (zmesh_caller_t *self, const char *service,
          const zmesh_call_policy_t *policy)
{
    zmesh_retry_budget_t *budget = zhashx_lookup (self->budgets, service);
    if (!budget && (budget = zmesh__alloc (sizeof *budget))) {
        zmesh_retry_budget_init (budget, &policy->retry);
        zhashx_insert (self->budgets, service, budget);
    }
    return budget;
}

//  The attempts in flight to endpoint.
static int
s_in_flight (zmesh_caller_t *self, const char *endpoint)
{
    s_target_t *target = zhashx_lookup (self->targets, endpoint);
    return target ? target->in_flight : 0;
}

//  The order in which to consider the call's instances: the first
//  call->spread of them by fewest attempts in flight, starting from one
//  drawn at random so that ties take turns, then the rest as given.
static void
s_order (zmesh_caller_t *self, const zmesh_call_t *call, size_t *order)
{
    size_t spread = call->spread < call->endpoint_count ? call->spread
                                                        : call->endpoint_count;
    size_t start = spread > 1 ? zmesh_rand_u64 (self->rand) % spread : 0;
    int load [ENDPOINTS_MAX];
    for (size_t index = 0; index < call->endpoint_count; index++) {
        size_t which = index < spread ? (start + index) % spread : index;
        //  One alone has no others to be ordered against
        int in_flight = index < spread && spread > 1
                      ? s_in_flight (self, call->endpoints [which]) : 0;
        size_t at = index;
        for (; index < spread && at > 0 && load [at - 1] > in_flight; at--) {
            order [at] = order [at - 1];
            load [at] = load [at - 1];
        }
        order [at] = which;
        load [at] = in_flight;
    }
}

//  Pick an instance that will take the call, in s_order's order: one not
//  tried yet if there is one, else any; skip those whose bulkhead is full
//  or breaker open; *target_p is the one chosen. On failure, *why says
//  which of the two stopped every instance.
static long
s_choose (zmesh_caller_t *self, const zmesh_call_t *call, const bool *tried,
          int64_t now, int64_t deadline_ms, zmesh_breaker_permit_t *permit,
          s_target_t **target_p, zmesh_err_t *why)
{
    *why = ZMESH_ERR_OVERLOADED;
    size_t order [ENDPOINTS_MAX];
    s_order (self, call, order);
    for (int pass = 0; pass < 2; pass++)
        for (size_t at = 0; at < call->endpoint_count; at++) {
            size_t index = order [at];
            if (tried [index] != (pass == 1))
                continue;
            s_target_t *target = s_target (self, call->endpoints [index],
                                           call->policy);
            if (!target) {
                *why = ZMESH_ERR_NOMEM;
                return -1;
            }
            if (target->in_flight >= call->policy->max_in_flight)
                continue;
            if (zmesh__breaker_acquire_at (target->breaker, now, deadline_ms,
                                           permit) == ZMESH_OK) {
                *target_p = target;
                return (long) index;
            }
            *why = ZMESH_ERR_CIRCUIT_OPEN;
        }
    return -1;
}

zmesh_err_t
zmesh_caller_reply_error (const zmesh_envelope_t *reply)
{
    assert (reply);
    switch (zmesh_envelope_status (reply)) {
        case ZMESH_STATUS_OK:
            return ZMESH_OK;
        case ZMESH_STATUS_APP_ERROR:
            return ZMESH_ERR_APP_ERROR;
        case ZMESH_STATUS_MESH_ERROR:
            break;
    }
    switch (zmesh_envelope_error_code (reply)) {
        case ZMESH_MESH_UNKNOWN_METHOD: return ZMESH_ERR_UNKNOWN_METHOD;
        case ZMESH_MESH_DEADLINE_EXCEEDED: return ZMESH_ERR_TIMEOUT;
        case ZMESH_MESH_BAD_REQUEST: return ZMESH_ERR_BAD_REQUEST;
        case ZMESH_MESH_UNAVAILABLE: return ZMESH_ERR_UNAVAILABLE;
        case ZMESH_MESH_FORBIDDEN: return ZMESH_ERR_FORBIDDEN;
        default: return ZMESH_ERR_REMOTE_INTERNAL;
    }
}

//  How an attempt's result counts for the target's breaker: an answer is
//  a success even when it is an error about the request.
static zmesh_outcome_t
s_outcome (zmesh_err_t rc)
{
    switch (rc) {
        case ZMESH_OK:
        case ZMESH_ERR_APP_ERROR:
        case ZMESH_ERR_UNKNOWN_METHOD:
        case ZMESH_ERR_BAD_REQUEST:
        case ZMESH_ERR_FORBIDDEN:
            return ZMESH_OUTCOME_SUCCESS;
        case ZMESH_ERR_TIMEOUT:
            return ZMESH_OUTCOME_TIMEOUT;
        default:
            return ZMESH_OUTCOME_FAILURE;
    }
}

//  The wait a server asked for with "retry-after-ms", or 0.
static int64_t
s_retry_after (const zmesh_envelope_t *reply)
{
    const char *text = zmesh_envelope_header (reply, "retry-after-ms");
    if (!text)
        return 0;
    char *end;
    long long value = strtoll (text, &end, 10);
    return *end || value < 0 || value > 3600000 ? 0 : (int64_t) value;
}

static zmesh_err_t
s_fallback (zmesh_caller_t *self, const zmesh_call_t *call, zmesh_err_t cause,
            zmesh_envelope_t **reply_p)
{
    zmesh_envelope_t *reply = zmesh_envelope_new (ZMESH_KIND_REPLY);
    if (!reply)
        return ZMESH_ERR_NOMEM;
    zmesh_uuid_t id;
    zmesh_uuid_generate_v7 (self->rand,
                            (uint64_t) zmesh_clock_unix_ms (self->clock), &id);
    zmesh_envelope_set_id (reply, &id);
    zmesh_envelope_set_correlation (reply, call->correlation ? call->correlation
                                                             : &id);
    zmesh_envelope_set_type (reply, call->method);
    zmesh_envelope_set_source (reply, call->service);
    zmesh_envelope_set_timestamp (reply,
                                  (uint64_t) zmesh_clock_unix_ms (self->clock));
    zmesh_envelope_set_header (reply, "fallback", zmesh_errname (cause));
    call->fallback (cause, reply, call->fallback_arg);
    self->stats.fallbacks++;
    zmesh_err_t rc = zmesh_caller_reply_error (reply);
    if (rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR)
        *reply_p = reply;
    else
        zmesh_envelope_destroy (&reply);
    return rc;
}

struct _zmesh_call_run_t {
    const zmesh_call_t *call;   //  Borrowed: it outlives the run
    zmesh_retry_budget_t *budget;
    bool tried [ENDPOINTS_MAX]; //  Instances attempted so far
    int attempts;               //  Begun so far
    zmesh_err_t rc;             //  Of the last attempt, or why it ended
    int64_t retry_after_ms;     //  What the last answer asked for
    int64_t wake_ms;            //  While waiting: when to go on
    bool waiting;               //  Between two attempts
    bool in_attempt;            //  An attempt is under way
    bool done;
    size_t index;               //  In attempt: its instance
    s_target_t *target;         //  and that instance's state
    zmesh_breaker_permit_t permit;
    zmesh_envelope_t *reply;    //  Once done with ZMESH_OK or an app error
};

zmesh_call_run_t *
zmesh__caller_start (zmesh_caller_t *self, const zmesh_call_t *call)
{
    assert (self && call && call->policy);
    assert (call->endpoint_count <= ENDPOINTS_MAX);
    zmesh_retry_budget_t *budget = s_budget (self, call->service, call->policy);
    zmesh_call_run_t *run = budget ? zmesh__calloc (1, sizeof *run) : NULL;
    if (!run)
        return NULL;
    self->stats.calls++;
    zmesh_retry_budget_earn (budget, &call->policy->retry);
    run->call = call;
    run->budget = budget;
    run->rc = ZMESH_ERR_NO_ROUTE;
    return run;
}

//  End the run with rc (its reply, if any, is kept).
static zmesh__call_step_t
s_done (zmesh_call_run_t *run, zmesh_err_t rc)
{
    run->rc = rc;
    run->done = true;
    return ZMESH__CALL_DONE;
}

//  After an attempt failed: whether to try again, and when.
static zmesh__call_step_t
s_after_failure (zmesh_caller_t *self, zmesh_call_run_t *run, int64_t now,
                 int64_t *until_ms)
{
    const zmesh_retry_config_t *retry = &run->call->policy->retry;
    if (run->attempts > retry->retries || !zmesh_retry_retryable (run->rc))
        return s_done (run, run->rc);
    if (!zmesh_retry_budget_spend (run->budget)) {
        self->stats.budget_exhausted++;
        return s_done (run, run->rc);
    }
    int64_t delay = zmesh_retry_delay (retry, run->attempts, self->rand);
    if (delay < run->retry_after_ms)
        delay = run->retry_after_ms;
    if (now + delay >= run->call->deadline_ms)
        return s_done (run, run->rc);   //  No time left for another attempt
    run->waiting = true;
    run->wake_ms = *until_ms = now + delay;
    return ZMESH__CALL_WAIT;
}

zmesh__call_step_t
zmesh__caller_next (zmesh_caller_t *self, zmesh_call_run_t *run, int64_t now,
                    size_t *index, int64_t *until_ms, zmesh_detail_t *detail)
{
    assert (self && run && index && until_ms);
    assert (!run->in_attempt);
    const zmesh_call_t *call = run->call;
    if (run->done)
        return ZMESH__CALL_DONE;
    if (run->waiting && now < run->wake_ms) {
        *until_ms = run->wake_ms;
        return ZMESH__CALL_WAIT;
    }
    if (run->waiting) {
        run->waiting = false;
        self->stats.retries++;
    }
    else if (run->attempts > 0) {
        zmesh__call_step_t step = s_after_failure (self, run, now, until_ms);
        if (step != ZMESH__CALL_ATTEMPT)
            return step;
    }
    if (call->endpoint_count == 0) {
        zmesh__detail (detail, "no live instance of %s is known",
                       call->service);
        return s_done (run, ZMESH_ERR_NO_ROUTE);
    }
    if (now >= call->deadline_ms) {
        zmesh__detail (detail, "the deadline passed");
        return s_done (run, ZMESH_ERR_TIMEOUT);
    }
    //  One attempt may not take all the time there is, so that a timeout
    //  leaves time to try another instance.
    int64_t attempt_deadline = call->deadline_ms;
    const zmesh_retry_config_t *retry = &call->policy->retry;
    if (retry->attempt_timeout_ms
        && now + retry->attempt_timeout_ms < attempt_deadline)
        attempt_deadline = now + retry->attempt_timeout_ms;
    zmesh_err_t why;
    s_target_t *target = NULL;
    long chosen = s_choose (self, call, run->tried, now, attempt_deadline,
                            &run->permit, &target, &why);
    if (chosen < 0) {
        zmesh__detail (detail, "no instance of %s takes calls: %s",
                       call->service, zmesh_strerror (why));
        self->stats.rejected++;
        return s_done (run, why);
    }
    run->index = *index = (size_t) chosen;
    run->tried [chosen] = true;
    run->attempts++;
    run->in_attempt = true;
    run->target = target;
    target->in_flight++;
    self->stats.attempts++;
    *until_ms = attempt_deadline;
    return ZMESH__CALL_ATTEMPT;
}

void
zmesh__caller_outcome (zmesh_caller_t *self, zmesh_call_run_t *run,
                       int64_t now, zmesh_err_t rc, zmesh_envelope_t **reply_p,
                       zmesh_detail_t *detail)
{
    assert (self && run && run->in_attempt && reply_p);
    run->in_attempt = false;
    s_target_t *target = run->target;
    target->in_flight--;
    run->retry_after_ms = 0;
    if (rc == ZMESH_OK) {
        rc = zmesh_caller_reply_error (*reply_p);
        if (rc != ZMESH_OK) {
            const char *text = zmesh_envelope_error_text (*reply_p);
            zmesh__detail (detail, "%s", text ? text : "");
        }
        if (rc == ZMESH_ERR_UNAVAILABLE)
            run->retry_after_ms = s_retry_after (*reply_p);
    }
    //  "Unavailable, retry after": an answer, from an instance that is
    //  there; what it could not do (its store, a service it depends on)
    //  is no failure of its own, and the retry waits as asked.
    zmesh__breaker_record_at (target->breaker, now, &run->permit,
                              rc == ZMESH_ERR_UNAVAILABLE
                              && run->retry_after_ms
                              ? ZMESH_OUTCOME_SUCCESS : s_outcome (rc));
    run->rc = rc;
    if (rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR) {
        run->reply = *reply_p;
        *reply_p = NULL;
        run->done = true;
    }
    else
        zmesh_envelope_destroy (reply_p);
}

void
zmesh__caller_lost (zmesh_caller_t *self, zmesh_call_run_t *run)
{
    assert (self && run && run->in_attempt);
    run->in_attempt = false;
    s_target_t *target = run->target;
    target->in_flight--;
    //  The breaker's permit, unrecorded, lapses at its deadline.
    run->tried [run->index] = false;
    run->rc = ZMESH_ERR_UNAVAILABLE;
    run->retry_after_ms = 0;
    if (run->attempts > run->call->policy->retry.retries)
        s_done (run, run->rc);
    else if (!zmesh_retry_budget_spend (run->budget)) {
        self->stats.budget_exhausted++;
        s_done (run, run->rc);
    }
    else {
        run->waiting = true;
        run->wake_ms = zmesh_clock_mono_ms (self->clock);
    }
}

void
zmesh__caller_interrupt (zmesh_caller_t *self, zmesh_call_run_t *run)
{
    assert (self && run);
    s_done (run, ZMESH_ERR_INTERRUPTED);
}

zmesh_err_t
zmesh__caller_end (zmesh_caller_t *self, zmesh_call_run_t **run_p,
                   zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && run_p && *run_p && reply_p);
    zmesh_call_run_t *run = *run_p;
    zmesh_err_t rc = run->done ? run->rc : ZMESH_ERR_INTERRUPTED;
    if (run->in_attempt) {
        //  Abandoned in an attempt: the bulkhead gets its place back, and
        //  the breaker's permit, unrecorded, lapses at its deadline.
        run->target->in_flight--;
        zmesh__detail (detail, "the call was abandoned");
    }
    if (run->reply)
        *reply_p = run->reply;
    else if (run->call->fallback && rc != ZMESH_ERR_INTERRUPTED)
        rc = s_fallback (self, run->call, rc, reply_p);
    zmesh__free (run);
    *run_p = NULL;
    return rc;
}

zmesh_err_t
zmesh_caller_call (zmesh_caller_t *self, const zmesh_call_t *call,
                   zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && call && call->attempt && call->policy && reply_p);
    zmesh_call_run_t *run = zmesh__caller_start (self, call);
    if (!run)
        return ZMESH_ERR_NOMEM;
    size_t index;
    int64_t until_ms;
    zmesh__call_step_t step;
    //  One reading after each wait, for the step after it
    int64_t now = zmesh_clock_mono_ms (self->clock);
    while ((step = zmesh__caller_next (self, run, now, &index, &until_ms,
                                       detail)) != ZMESH__CALL_DONE) {
        if (step == ZMESH__CALL_ATTEMPT) {
            zmesh_envelope_t *reply = NULL;
            zmesh_err_t rc = call->attempt (call->attempt_arg,
                                            call->endpoints [index], until_ms,
                                            &reply, detail);
            now = zmesh_clock_mono_ms (self->clock);
            zmesh__caller_outcome (self, run, now, rc, &reply, detail);
            continue;
        }
        int64_t delay = until_ms - now;
        if (!(call->backoff ? call->backoff (call->attempt_arg, delay)
                            : zmesh_clock_sleep (self->clock, delay)))
            zmesh__caller_interrupt (self, run);
        now = zmesh_clock_mono_ms (self->clock);
    }
    return zmesh__caller_end (self, &run, reply_p, detail);
}

zmesh_breaker_t *
zmesh_caller_breaker (zmesh_caller_t *self, const char *endpoint)
{
    assert (self && endpoint);
    s_target_t *target = zhashx_lookup (self->targets, endpoint);
    return target ? target->breaker : NULL;
}

void
zmesh_caller_stats (zmesh_caller_t *self, zmesh_caller_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}
