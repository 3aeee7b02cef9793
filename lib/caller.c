/*  caller.c - breakers, bulkheads, retries, failover and fallback around
    every call.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

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

//  Pick an instance that will take the call: one not tried yet if there is
//  one, else any; skip those whose bulkhead is full or breaker open. On
//  failure, *why says which of the two stopped every instance.
static long
s_choose (zmesh_caller_t *self, const zmesh_call_t *call, const bool *tried,
          int64_t deadline_ms, zmesh_breaker_permit_t *permit,
          zmesh_err_t *why)
{
    *why = ZMESH_ERR_OVERLOADED;
    for (int pass = 0; pass < 2; pass++)
        for (size_t index = 0; index < call->endpoint_count; index++) {
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
            if (zmesh_breaker_acquire (target->breaker, deadline_ms, permit)
                == ZMESH_OK)
                return (long) index;
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

//  One attempt on the chosen instance, with the breaker told the outcome.
static zmesh_err_t
s_attempt (zmesh_caller_t *self, const zmesh_call_t *call, size_t index,
           const zmesh_breaker_permit_t *permit, zmesh_envelope_t **reply_p,
           int64_t *retry_after_ms, zmesh_detail_t *detail)
{
    int64_t deadline_ms = permit->deadline_ms;
    s_target_t *target = zhashx_lookup (self->targets, call->endpoints [index]);
    target->in_flight++;
    self->stats.attempts++;
    zmesh_envelope_t *reply = NULL;
    zmesh_err_t rc = call->attempt (call->attempt_arg, call->endpoints [index],
                                    deadline_ms, &reply, detail);
    target->in_flight--;
    if (rc == ZMESH_OK) {
        rc = zmesh_caller_reply_error (reply);
        if (rc != ZMESH_OK) {
            const char *text = zmesh_envelope_error_text (reply);
            zmesh__detail (detail, "%s", text ? text : "");
        }
        *retry_after_ms = rc == ZMESH_ERR_UNAVAILABLE ? s_retry_after (reply)
                                                      : 0;
    }
    zmesh_breaker_record (target->breaker, permit, s_outcome (rc));
    if (rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR)
        *reply_p = reply;
    else
        zmesh_envelope_destroy (&reply);
    return rc;
}

zmesh_err_t
zmesh_caller_call (zmesh_caller_t *self, const zmesh_call_t *call,
                   zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && call && call->attempt && call->policy && reply_p);
    assert (call->endpoint_count <= ENDPOINTS_MAX);
    const zmesh_retry_config_t *retry = &call->policy->retry;
    self->stats.calls++;
    zmesh_retry_budget_t *budget = s_budget (self, call->service, call->policy);
    if (!budget)
        return ZMESH_ERR_NOMEM;
    zmesh_retry_budget_earn (budget, retry);

    bool tried [ENDPOINTS_MAX] = {false};
    zmesh_err_t rc = ZMESH_ERR_NO_ROUTE;
    int64_t retry_after_ms = 0;
    if (call->endpoint_count == 0)
        zmesh__detail (detail, "no live instance of %s is known",
                       call->service);
    for (int attempt = 0; call->endpoint_count > 0; attempt++) {
        if (attempt > 0) {
            if (attempt > retry->retries || !zmesh_retry_retryable (rc))
                break;
            if (!zmesh_retry_budget_spend (budget)) {
                self->stats.budget_exhausted++;
                break;
            }
            int64_t delay = zmesh_retry_delay (retry, attempt, self->rand);
            if (delay < retry_after_ms)
                delay = retry_after_ms;
            if (zmesh_clock_mono_ms (self->clock) + delay >= call->deadline_ms)
                break;          //  No time left for another attempt
            if (!(call->backoff
                  ? call->backoff (call->attempt_arg, delay)
                  : zmesh_clock_sleep (self->clock, delay))) {
                rc = ZMESH_ERR_INTERRUPTED;
                break;
            }
            self->stats.retries++;
        }
        if (zmesh_clock_mono_ms (self->clock) >= call->deadline_ms) {
            zmesh__detail (detail, "the deadline passed");
            rc = ZMESH_ERR_TIMEOUT;
            break;
        }
        //  One attempt may not take all the time there is, so that a timeout
        //  leaves time to try another instance.
        int64_t attempt_deadline = call->deadline_ms;
        if (retry->attempt_timeout_ms) {
            int64_t capped = zmesh_clock_mono_ms (self->clock)
                           + retry->attempt_timeout_ms;
            if (capped < attempt_deadline)
                attempt_deadline = capped;
        }
        zmesh_breaker_permit_t permit;
        long index = s_choose (self, call, tried, attempt_deadline, &permit,
                               &rc);
        if (index < 0) {
            zmesh__detail (detail, "no instance of %s takes calls: %s",
                           call->service, zmesh_strerror (rc));
            self->stats.rejected++;
            break;
        }
        tried [index] = true;
        rc = s_attempt (self, call, (size_t) index, &permit, reply_p,
                        &retry_after_ms, detail);
        if (rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR)
            return rc;
    }
    if (call->fallback && rc != ZMESH_ERR_INTERRUPTED)
        return s_fallback (self, call, rc, reply_p);
    return rc;
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
