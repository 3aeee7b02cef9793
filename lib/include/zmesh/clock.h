/*  zmesh/clock.h - where every zmesh object gets its time.

    Two readings under two names, so they cannot be mixed up: unix_ms is
    wall time, for envelope timestamps; mono_ms is monotonic time, for
    deadlines, breakers, retries and heartbeats. The real clock is for
    production; the fake clock only moves when a test advances it. Both
    may be read from any thread.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_CLOCK_H_INCLUDED
#define ZMESH_CLOCK_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zmesh_clock_t zmesh_clock_t;

//  Return the real clock. It holds no state and is shared; destroying it
//  only clears the caller's pointer.
ZMESH_EXPORT zmesh_clock_t *
    zmesh_clock_real (void);

//  Create a fake clock whose wall and monotonic readings both start at
//  start_ms. Returns NULL if out of memory. Destroy with zmesh_clock_destroy.
ZMESH_EXPORT zmesh_clock_t *
    zmesh_clock_fake_new (int64_t start_ms);

//  Destroy a clock and set *self_p to NULL; harmless on NULL or on the
//  real clock.
ZMESH_EXPORT void
    zmesh_clock_destroy (zmesh_clock_t **self_p);

//  Milliseconds since the Unix epoch (wall time; may jump).
ZMESH_EXPORT int64_t
    zmesh_clock_unix_ms (zmesh_clock_t *self);

//  Milliseconds on a monotonic clock with an arbitrary origin; never jumps.
ZMESH_EXPORT int64_t
    zmesh_clock_mono_ms (zmesh_clock_t *self);

//  The same two readings in microseconds, for timing short things (a
//  fake clock moves in whole milliseconds).
ZMESH_EXPORT int64_t
    zmesh_clock_unix_us (zmesh_clock_t *self);
ZMESH_EXPORT int64_t
    zmesh_clock_mono_us (zmesh_clock_t *self);

//  Wait ms milliseconds: the real clock sleeps, the fake clock only moves
//  forward by ms. Returns false if a signal (SIGINT, SIGTERM) cut the
//  wait short.
ZMESH_EXPORT bool
    zmesh_clock_sleep (zmesh_clock_t *self, int64_t ms);

//  Move a fake clock forward by ms (both readings). Asserts the clock is fake
//  and ms is not negative.
ZMESH_EXPORT void
    zmesh_clock_fake_advance (zmesh_clock_t *self, int64_t ms);

//  Set a fake clock's wall reading alone, as an NTP step would; the
//  monotonic reading does not move. Asserts the clock is fake.
ZMESH_EXPORT void
    zmesh_clock_fake_set_unix_ms (zmesh_clock_t *self, int64_t unix_ms);

//  How many times a fake clock has been read (either reading), so that a
//  test can hold a path to its budget of clock reads. Asserts the clock is
//  fake.
ZMESH_EXPORT uint64_t
    zmesh_clock_fake_reads (zmesh_clock_t *self);

#ifdef __cplusplus
}
#endif

#endif
