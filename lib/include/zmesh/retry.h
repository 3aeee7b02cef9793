/*  zmesh/retry.h - when and how soon a failed call is tried again.

    A call makes at most 1 + retries attempts. Before retry n (n = 1 for the
    first retry) the caller waits min(max_delay, base_delay * 2^(n-1)) ms,
    or with full jitter (the default) a uniform draw from 0 to that. Only
    failures that say nothing about the request itself are retried: a
    timeout, an unreachable or overloaded instance, an open circuit. An
    application error, an unknown method or a bad request never is.

    A retry budget per target service keeps a failing service from a retry
    storm: every call earns budget/100 of a retry, every retry spends one,
    and the balance never exceeds budget_max (it starts full).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_RETRY_H_INCLUDED
#define ZMESH_RETRY_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stdint.h>
#include "zmesh/error.h"
#include "zmesh/rand.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    int retries;                //  Attempts after the first (0..100)
    int attempt_timeout_ms;     //  Longest one attempt may wait; 0: all
                                //  that is left of the deadline
    int base_delay_ms;          //  Backoff before the first retry
    int max_delay_ms;           //  Cap on any one delay
    bool full_jitter;           //  Draw each delay from [0, backoff]
    int budget;                 //  Percent of calls that may be retried
    int budget_max;             //  Retries that can be saved up
} zmesh_retry_config_t;

//  Defaults: 3 retries (4 attempts), 1000 ms per attempt at most (so that
//  a timeout on one instance leaves time to try another within the
//  default 5 s deadline), 100 ms base, 2000 ms cap, full jitter, a budget
//  of 20 % with at most 10 retries saved up.
ZMESH_EXPORT void
    zmesh_retry_config_defaults (zmesh_retry_config_t *config);

//  Check ranges. Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_retry_config_validate (const zmesh_retry_config_t *config,
                                 zmesh_detail_t *detail);

//  The wait before retry number retry (1, 2, ...), drawing the jitter from
//  rand.
ZMESH_EXPORT int64_t
    zmesh_retry_delay (const zmesh_retry_config_t *config, int retry,
                       zmesh_rand_t *rand);

//  True if a call that failed with rc may be tried again.
ZMESH_EXPORT bool
    zmesh_retry_retryable (zmesh_err_t rc);

//  A retry budget, in hundredths of a retry.
typedef struct {
    int64_t balance;
} zmesh_retry_budget_t;

//  Start a budget full.
ZMESH_EXPORT void
    zmesh_retry_budget_init (zmesh_retry_budget_t *budget,
                             const zmesh_retry_config_t *config);

//  A call was made: earn config->budget hundredths, up to the cap.
ZMESH_EXPORT void
    zmesh_retry_budget_earn (zmesh_retry_budget_t *budget,
                             const zmesh_retry_config_t *config);

//  Spend one retry. Returns false, spending nothing, if the budget holds
//  less than one.
ZMESH_EXPORT bool
    zmesh_retry_budget_spend (zmesh_retry_budget_t *budget);

#ifdef __cplusplus
}
#endif

#endif
