/*  zmesh/breaker.h - a circuit breaker for one call target (an endpoint).

    Closed, the breaker lets calls through and keeps their outcomes in a
    sliding window, of the last N calls or of the last N milliseconds. Once
    the window holds at least min_calls outcomes and failures reach
    failure_rate percent of them (failures * 100 >= rate * calls: the
    threshold itself opens it), it opens. Open, it refuses every call at once
    until reset_timeout has passed; then it is half-open and lets exactly
    `probes` calls through. When all of them succeed it closes, with an
    empty window; when one fails it opens again. Every permit it grants must
    be given back with zmesh_breaker_record; a probe whose deadline passes
    without that counts as failed, so a hung probe cannot keep the breaker
    half-open.

    Time comes from the clock it is given; it never sleeps.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_BREAKER_H_INCLUDED
#define ZMESH_BREAKER_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stdint.h>
#include "zmesh/clock.h"
#include "zmesh/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    ZMESH_BREAKER_CLOSED = 0,
    ZMESH_BREAKER_OPEN = 1,
    ZMESH_BREAKER_HALF_OPEN = 2
} zmesh_breaker_state_t;

typedef enum {
    ZMESH_BREAKER_NORMAL = 0,
    ZMESH_BREAKER_FORCED_OPEN = 1,  //  Refuse every call
    ZMESH_BREAKER_DISABLED = 2      //  Let every call through, never open
} zmesh_breaker_mode_t;

#define ZMESH_BREAKER_WINDOW_MAX   1000    //  Outcomes a count window holds
#define ZMESH_BREAKER_PROBES_MAX   16

typedef struct {
    zmesh_breaker_mode_t mode;
    bool time_window;           //  Window of window_ms, not window_size calls
    int window_size;            //  Calls in a count window (1..1000)
    int window_ms;              //  Span of a time window
    int min_calls;              //  Outcomes needed before it may open
    int failure_rate;           //  Percent (1..100) that opens it
    int slow_call_ms;           //  A success slower than this fails; 0: off
    int reset_timeout_ms;       //  Open this long before probing, at first
    int reset_max_ms;           //  Each failed probe doubles the wait, up
                                //  to this (or reset_timeout, if longer)
    int probes;                 //  Calls let through when half-open
} zmesh_breaker_config_t;

//  Fill config with the defaults: count window of 20 calls (time window:
//  10 s), min_calls 10, failure_rate 50, slow calls off, reset_timeout
//  1 s doubling up to reset_max 30 s, 1 probe, mode normal.
ZMESH_EXPORT void
    zmesh_breaker_config_defaults (zmesh_breaker_config_t *config);

//  Check config's ranges. Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_breaker_config_validate (const zmesh_breaker_config_t *config,
                                   zmesh_detail_t *detail);

typedef enum {
    ZMESH_OUTCOME_SUCCESS = 0,  //  Answered (an application error too)
    ZMESH_OUTCOME_FAILURE = 1,  //  Unreachable, overloaded, internal error
    ZMESH_OUTCOME_TIMEOUT = 2   //  No answer before the deadline
} zmesh_outcome_t;

//  What zmesh_breaker_acquire grants; give it back to zmesh_breaker_record.
typedef struct {
    uint32_t ticket;            //  Which grant this is
    uint64_t generation;        //  Which open/half-open round granted it
    bool probe;                 //  Granted half-open
    int64_t started_ms;         //  Monotonic, for slow-call detection
    int64_t deadline_ms;        //  A probe expires then
} zmesh_breaker_permit_t;

typedef struct {
    uint64_t calls;             //  Permits granted
    uint64_t successes;
    uint64_t failures;          //  Failures, timeouts and slow calls
    uint64_t timeouts;
    uint64_t slow_calls;
    uint64_t rejections;        //  Refused while open or half-open
    uint64_t opened;            //  Times it opened
} zmesh_breaker_stats_t;

typedef struct _zmesh_breaker_t zmesh_breaker_t;

//  Called on every state change, after the change.
typedef void (zmesh_breaker_fn) (zmesh_breaker_t *breaker,
                                 zmesh_breaker_state_t from,
                                 zmesh_breaker_state_t to, void *arg);

//  Create a breaker for the target called name (an endpoint), with a
//  validated config (copied) and a borrowed clock. NULL if out of memory.
ZMESH_EXPORT zmesh_breaker_t *
    zmesh_breaker_new (const char *name, const zmesh_breaker_config_t *config,
                       zmesh_clock_t *clock);

//  Destroy the breaker and set *self_p to NULL; harmless on NULL.
ZMESH_EXPORT void
    zmesh_breaker_destroy (zmesh_breaker_t **self_p);

//  Ask to make a call that must end by deadline_ms (monotonic). Returns
//  ZMESH_OK and fills permit, or ZMESH_ERR_CIRCUIT_OPEN at once.
ZMESH_EXPORT zmesh_err_t
    zmesh_breaker_acquire (zmesh_breaker_t *self, int64_t deadline_ms,
                           zmesh_breaker_permit_t *permit);

//  Give a permit back with the call's outcome. A permit from an earlier
//  round (one that expired, or was overtaken by a state change) only
//  counts in the statistics.
ZMESH_EXPORT void
    zmesh_breaker_record (zmesh_breaker_t *self,
                          const zmesh_breaker_permit_t *permit,
                          zmesh_outcome_t outcome);

//  Close the breaker with an empty window, as if it were new: another
//  instance is behind its target now. Permits granted before only count
//  in the statistics.
ZMESH_EXPORT void
    zmesh_breaker_reset (zmesh_breaker_t *self);

//  The target shows signs of life (its heartbeats are back): an open
//  breaker goes half-open now, without waiting out reset_timeout, so that
//  its probes find out whether calls work again.
ZMESH_EXPORT void
    zmesh_breaker_wake (zmesh_breaker_t *self);

//  The state now: an open breaker whose reset timeout has passed reads as
//  half-open, and expired probes are counted as failures first.
ZMESH_EXPORT zmesh_breaker_state_t
    zmesh_breaker_state (zmesh_breaker_t *self);

//  Calls and failures in the window now.
ZMESH_EXPORT void
    zmesh_breaker_window (zmesh_breaker_t *self, int *calls, int *failures);

//  Copy the counters into stats.
ZMESH_EXPORT void
    zmesh_breaker_stats (zmesh_breaker_t *self, zmesh_breaker_stats_t *stats);

ZMESH_EXPORT const char *
    zmesh_breaker_name (zmesh_breaker_t *self);

//  Call fn on every state change (one listener; NULL removes it).
ZMESH_EXPORT void
    zmesh_breaker_set_listener (zmesh_breaker_t *self, zmesh_breaker_fn *fn,
                                void *arg);

//  "closed", "open", "half-open".
ZMESH_EXPORT const char *
    zmesh_breaker_state_name (zmesh_breaker_state_t state);

#ifdef __cplusplus
}
#endif

#endif
