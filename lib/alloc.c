/*  alloc.c - the allocation seam of lib/, with a failure hook for tests.

    The hook's two counters are the only mutable globals in lib/: they exist
    for fault tests, and cost one compare per allocation while the hook is
    not set.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

static long s_fail_at;          //  Fail the allocation with this number
static long s_count;            //  Allocations since the hook was set

//  Counts only while the hook is set, so that threads sharing a node do
//  not write these globals.
static bool
s_should_fail (void)
{
    return s_fail_at && ++s_count == s_fail_at;
}

void *
zmesh__alloc (size_t size)
{
    return s_should_fail () ? NULL : malloc (size ? size : 1);
}

//  glibc's calloc takes the slow path of its allocator every time, and
//  malloc then memset is about half the instructions (its thread cache).
void *
zmesh__calloc (size_t count, size_t size)
{
    size_t bytes;
    if (__builtin_mul_overflow (count, size, &bytes) || s_should_fail ())
        return NULL;
    void *block = malloc (bytes ? bytes : 1);
    if (block)
        memset (block, 0, bytes);
    return block;
}

void *
zmesh__realloc (void *ptr, size_t size)
{
    return s_should_fail () ? NULL : realloc (ptr, size ? size : 1);
}

char *
zmesh__strndup (const char *string, size_t length)
{
    char *copy = zmesh__alloc (length + 1);
    if (copy) {
        memcpy (copy, string, length);
        copy [length] = 0;
    }
    return copy;
}

void
zmesh__free (void *ptr)
{
    free (ptr);
}

long
zmesh__alloc_fail_at (long nth)
{
    long made = s_count;
    s_fail_at = nth;
    s_count = 0;
    return made;
}
