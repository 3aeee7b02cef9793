/*  caller_run.h - one call through the caller, a step at a time
    (private).

    zmesh_caller_call makes a call from start to end, waiting as it goes.
    A node's loop cannot wait, so it runs the same policy a step at a time:
    start the run; ask for the next step, which is an attempt at one
    instance, a wait until a time, or the end; report each attempt's
    outcome; and end the run, which gives the result (or the fallback's
    reply). zmesh_caller_call is exactly that loop.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CALLER_RUN_H_INCLUDED
#define ZMESH_CALLER_RUN_H_INCLUDED

#include "zmesh/caller.h"

typedef struct _zmesh_call_run_t zmesh_call_run_t;

typedef enum {
    ZMESH__CALL_ATTEMPT,        //  Attempt at endpoints [index], by until
    ZMESH__CALL_WAIT,           //  Wait until until, then ask again
    ZMESH__CALL_DONE            //  Over: zmesh__caller_end says how
} zmesh__call_step_t;

//  Start call (borrowed: it must outlive the run). NULL if out of memory.
zmesh_call_run_t *
    zmesh__caller_start (zmesh_caller_t *self, const zmesh_call_t *call);

//  The next step at now_ms, a reading of the caller's monotonic clock
//  (the caller's own reads none: one reading serves a call's steps). For
//  an attempt, *index is the instance and *until_ms (monotonic) the
//  attempt's deadline; report its outcome before asking again. For a
//  wait, *until_ms is when to ask again (asking sooner returns the same
//  wait). detail says why a run ended without a reply.
zmesh__call_step_t
    zmesh__caller_next (zmesh_caller_t *self, zmesh_call_run_t *run,
                        int64_t now_ms, size_t *index, int64_t *until_ms,
                        zmesh_detail_t *detail);

//  The outcome of the attempt under way, known at now_ms: rc as an
//  attempt function returns it, with *reply_p the reply (taken; set to
//  NULL).
void
    zmesh__caller_outcome (zmesh_caller_t *self, zmesh_call_run_t *run,
                           int64_t now_ms, zmesh_err_t rc,
                           zmesh_envelope_t **reply_p,
                           zmesh_detail_t *detail);

//  The attempt under way was lost with the instance it went to, which is
//  gone (another instance has taken its place): no outcome of the
//  breaker's. The next step retries at once, the same instance included,
//  within the call's retries and retry budget.
void
    zmesh__caller_lost (zmesh_caller_t *self, zmesh_call_run_t *run);

//  A wait was interrupted: the run is over, with ZMESH_ERR_INTERRUPTED.
void
    zmesh__caller_interrupt (zmesh_caller_t *self, zmesh_call_run_t *run);

//  End the run, done or not (an attempt under way is abandoned), and free
//  it. Returns what zmesh_caller_call returns, with *reply_p set likewise.
zmesh_err_t
    zmesh__caller_end (zmesh_caller_t *self, zmesh_call_run_t **run_p,
                       zmesh_envelope_t **reply_p, zmesh_detail_t *detail);

#endif
