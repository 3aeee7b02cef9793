/*  zmesh/rand.h - the random source for ids and jitter.

    Every zmesh object that needs randomness (message ids, retry jitter) is
    handed one of these, so tests can make it deterministic. The kernel
    source draws from getrandom() in 4 KiB blocks: one system call yields
    256 message ids, where libuuid's uuid_generate_random makes several
    calls per id. A source must not be used across fork(): parent and child
    would draw the same buffered bytes.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_RAND_H_INCLUDED
#define ZMESH_RAND_H_INCLUDED

#include "zmesh/export.h"
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zmesh_rand_t zmesh_rand_t;

//  Create a source that draws from the kernel (getrandom). Returns NULL if
//  out of memory or if the kernel refuses to give random bytes.
ZMESH_EXPORT zmesh_rand_t *
    zmesh_rand_new (void);

//  Create a deterministic source (xoshiro256**, seeded through splitmix64):
//  the same seed gives the same bytes. For tests; not for production ids.
//  Returns NULL if out of memory.
ZMESH_EXPORT zmesh_rand_t *
    zmesh_rand_seeded_new (uint64_t seed);

//  Destroy a source and set *self_p to NULL; harmless on NULL.
ZMESH_EXPORT void
    zmesh_rand_destroy (zmesh_rand_t **self_p);

//  Fill buffer with size random bytes.
ZMESH_EXPORT void
    zmesh_rand_fill (zmesh_rand_t *self, void *buffer, size_t size);

//  Return 64 random bits.
ZMESH_EXPORT uint64_t
    zmesh_rand_u64 (zmesh_rand_t *self);

//  Return a uniform integer in [0, bound); bound must be above 0. No modulo
//  bias (Lemire's method).
ZMESH_EXPORT uint64_t
    zmesh_rand_below (zmesh_rand_t *self, uint64_t bound);

//  Return a uniform double in [0, 1), with 53 random bits.
ZMESH_EXPORT double
    zmesh_rand_unit (zmesh_rand_t *self);

#ifdef __cplusplus
}
#endif

#endif
