/*  zmesh/caller.h - the one module every call leaves a node through.

    For one call to a service with several instances (endpoints), the caller
    picks an instance whose circuit breaker and bulkhead let the call
    through, makes an attempt, records the outcome, and while the failure is
    retryable, the retry budget allows and the deadline leaves time, waits
    a backoff with jitter and tries again, preferring an instance not yet
    tried. Every attempt sends the same request id, with the time that is
    left of the one deadline. When nothing works and the caller gave a
    fallback, the fallback makes the reply.

    It keeps one breaker and one in-flight count per endpoint and one retry
    budget per service, for as long as it lives: a node has one caller.
    The transport under it is an attempt function given with each call, so
    that the whole policy runs, and is tested, on a fake clock. A caller is
    not thread-safe: a node shared between threads uses it under the
    node's lock, which its attempt and backoff functions let go of while
    they wait.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CALLER_H_INCLUDED
#define ZMESH_CALLER_H_INCLUDED

#include "zmesh/export.h"
#include "zmesh/breaker.h"
#include "zmesh/envelope.h"
#include "zmesh/retry.h"

#ifdef __cplusplus
extern "C" {
#endif

//  How calls to one target service are made.
typedef struct {
    zmesh_breaker_config_t breaker;     //  One breaker per instance
    zmesh_retry_config_t retry;         //  Per service
    int max_in_flight;                  //  Bulkhead, per instance
} zmesh_call_policy_t;

//  Fill policy with the defaults of zmesh_breaker_config_defaults and
//  zmesh_retry_config_defaults, and 64 calls in flight per instance.
ZMESH_EXPORT void
    zmesh_call_policy_defaults (zmesh_call_policy_t *policy);

//  Check every part. Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_call_policy_validate (const zmesh_call_policy_t *policy,
                                zmesh_detail_t *detail);

//  One attempt at endpoint, to end by deadline_ms (monotonic). Returns
//  ZMESH_OK with *reply_p set to the reply, whatever its status, or a
//  transport error (ZMESH_ERR_TIMEOUT, ZMESH_ERR_SOCKET, ...).
typedef zmesh_err_t (zmesh_attempt_fn) (void *arg, const char *endpoint,
                                        int64_t deadline_ms,
                                        zmesh_envelope_t **reply_p,
                                        zmesh_detail_t *detail);

//  Makes the reply when the call cannot be made: reply arrives as an ok
//  reply carrying header "fallback" = the error's name; the fallback sets
//  its body, or an error status.
typedef void (zmesh_fallback_fn) (zmesh_err_t cause, zmesh_envelope_t *reply,
                                  void *arg);

//  Waits delay_ms between two attempts. Returns false if interrupted.
typedef bool (zmesh_backoff_fn) (void *arg, int64_t delay_ms);

typedef struct {
    zmesh_attempt_fn *attempt;          //  The transport
    void *attempt_arg;                  //  Also given to backoff
    zmesh_backoff_fn *backoff;          //  Or NULL: the clock's sleep
    const char *service;                //  Target service
    const char *method;                 //  For the fallback's reply
    const zmesh_uuid_t *correlation;    //  For the fallback's reply, or NULL
    const zmesh_call_policy_t *policy;
    const char **endpoints;             //  Instances, best first
    size_t endpoint_count;
    size_t spread;                      //  The first spread of them are
                                        //  equally good: each attempt takes
                                        //  the one with the fewest attempts
                                        //  in flight (at random among ties)
    int64_t deadline_ms;                //  Monotonic; shared by all attempts
    zmesh_fallback_fn *fallback;        //  Or NULL
    void *fallback_arg;
} zmesh_call_t;

typedef struct {
    uint64_t calls;
    uint64_t attempts;
    uint64_t retries;
    uint64_t budget_exhausted;  //  Retries refused by the budget
    uint64_t rejected;          //  Calls no instance would take
    uint64_t fallbacks;
} zmesh_caller_stats_t;

typedef struct _zmesh_caller_t zmesh_caller_t;

//  Create a caller; clock and rand are borrowed. NULL if out of memory.
ZMESH_EXPORT zmesh_caller_t *
    zmesh_caller_new (zmesh_clock_t *clock, zmesh_rand_t *rand);

//  Destroy the caller, its breakers and budgets; harmless on NULL.
ZMESH_EXPORT void
    zmesh_caller_destroy (zmesh_caller_t **self_p);

//  Make call. Returns ZMESH_OK with *reply_p set (caller owns it), or
//  ZMESH_ERR_APP_ERROR with *reply_p set to the error reply, or, with
//  *reply_p untouched: ZMESH_ERR_CIRCUIT_OPEN or ZMESH_ERR_OVERLOADED when
//  no instance would take the call, ZMESH_ERR_NO_ROUTE when there is none,
//  or the last attempt's error (ZMESH_ERR_TIMEOUT, ZMESH_ERR_UNAVAILABLE,
//  ZMESH_ERR_UNKNOWN_METHOD, ...). With a fallback, every failure but an
//  application error ends in the fallback's reply: ZMESH_OK, or
//  ZMESH_ERR_APP_ERROR if the fallback set that status.
ZMESH_EXPORT zmesh_err_t
    zmesh_caller_call (zmesh_caller_t *self, const zmesh_call_t *call,
                       zmesh_envelope_t **reply_p, zmesh_detail_t *detail);

//  Name the caller's owner (a node's name): its breakers log as
//  "breaker OWNER -> ENDPOINT: closed -> open".
ZMESH_EXPORT void
    zmesh_caller_set_owner (zmesh_caller_t *self, const char *owner);

//  The breaker of endpoint, or NULL if no call has gone there yet.
ZMESH_EXPORT zmesh_breaker_t *
    zmesh_caller_breaker (zmesh_caller_t *self, const char *endpoint);

//  Copy the counters into stats.
ZMESH_EXPORT void
    zmesh_caller_stats (zmesh_caller_t *self, zmesh_caller_stats_t *stats);

//  Map a reply's status to the error a caller sees: ZMESH_OK,
//  ZMESH_ERR_APP_ERROR, or the mesh error (ZMESH_ERR_UNKNOWN_METHOD, ...).
ZMESH_EXPORT zmesh_err_t
    zmesh_caller_reply_error (const zmesh_envelope_t *reply);

#ifdef __cplusplus
}
#endif

#endif
