/*  alloc.h - the one allocation seam of lib/ (private).

    Every allocation that lib/ makes goes through these, so a test can make
    the N-th one fail and check that each caller unwinds cleanly. CZMQ's own
    allocations still abort on out-of-memory: that is CZMQ's contract.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_ALLOC_H_INCLUDED
#define ZMESH_ALLOC_H_INCLUDED

#include <stddef.h>

void *
    zmesh__alloc (size_t size);
void *
    zmesh__calloc (size_t count, size_t size);
void *
    zmesh__realloc (void *ptr, size_t size);
char *
    zmesh__strndup (const char *string, size_t length);
void
    zmesh__free (void *ptr);

//  Test hook: make the nth allocation from now on fail (1 = the next one),
//  and every later one succeed again. 0 turns failures off. Returns how
//  many allocations were made since the last call, when that one set a
//  failure (0 does not count), so a test can loop N = 1, 2, ... until a
//  call no longer hits its failure.
long
    zmesh__alloc_fail_at (long nth);

#endif
