/*  rand.c - kernel-backed and seeded random sources behind zmesh_rand_t.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <sys/random.h>

#define POOL_SIZE 4096

struct _zmesh_rand_t {
    bool seeded;                //  Deterministic generator, not the kernel
    uint64_t state [4];         //  Seeded: xoshiro256** state
    size_t pool_used;           //  Kernel: bytes of pool already handed out
    uint8_t pool [POOL_SIZE];   //  Kernel: bytes drawn from getrandom
};

static bool
s_refill (zmesh_rand_t *self)
{
    size_t filled = 0;
    while (filled < POOL_SIZE) {
        ssize_t rc = getrandom (self->pool + filled, POOL_SIZE - filled, 0);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            return false;
        }
        filled += (size_t) rc;
    }
    self->pool_used = 0;
    return true;
}

static uint64_t
s_splitmix64 (uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t
s_rotl (uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t
s_xoshiro_next (uint64_t *s)
{
    uint64_t result = s_rotl (s [1] * 5, 7) * 9;
    uint64_t t = s [1] << 17;
    s [2] ^= s [0];
    s [3] ^= s [1];
    s [1] ^= s [2];
    s [0] ^= s [3];
    s [2] ^= t;
    s [3] = s_rotl (s [3], 45);
    return result;
}

zmesh_rand_t *
zmesh_rand_new (void)
{
    zmesh_rand_t *self = zmesh__alloc (sizeof *self);
    if (!self)
        return NULL;
    self->seeded = false;
    if (!s_refill (self)) {
        zsys_error ("rand: getrandom failed: %s", strerror (errno));
        zmesh__free (self);
        return NULL;
    }
    return self;
}

zmesh_rand_t *
zmesh_rand_seeded_new (uint64_t seed)
{
    //  The pool is unused when seeded, so only the head is allocated.
    zmesh_rand_t *self = zmesh__alloc (offsetof (zmesh_rand_t, pool));
    if (!self)
        return NULL;
    self->seeded = true;
    self->pool_used = 0;
    for (int index = 0; index < 4; index++)
        self->state [index] = s_splitmix64 (&seed);
    return self;
}

void
zmesh_rand_destroy (zmesh_rand_t **self_p)
{
    assert (self_p);
    zmesh__free (*self_p);
    *self_p = NULL;
}

void
zmesh_rand_fill (zmesh_rand_t *self, void *buffer, size_t size)
{
    assert (self);
    uint8_t *target = buffer;
    if (self->seeded) {
        while (size > 0) {
            uint64_t bits = s_xoshiro_next (self->state);
            size_t chunk = size < 8 ? size : 8;
            memcpy (target, &bits, chunk);
            target += chunk;
            size -= chunk;
        }
        return;
    }
    while (size > 0) {
        if (self->pool_used == POOL_SIZE && !s_refill (self)) {
            //  getrandom worked when the source was made; the kernel
            //  taking that back is not something a caller can handle.
            zsys_error ("rand: getrandom failed: %s", strerror (errno));
            abort ();
        }
        size_t chunk = POOL_SIZE - self->pool_used;
        if (chunk > size)
            chunk = size;
        memcpy (target, self->pool + self->pool_used, chunk);
        //  Bytes handed out are wiped so they cannot leak twice.
        memset (self->pool + self->pool_used, 0, chunk);
        self->pool_used += chunk;
        target += chunk;
        size -= chunk;
    }
}

uint64_t
zmesh_rand_u64 (zmesh_rand_t *self)
{
    uint64_t bits;
    zmesh_rand_fill (self, &bits, sizeof bits);
    return bits;
}

uint64_t
zmesh_rand_below (zmesh_rand_t *self, uint64_t bound)
{
    assert (bound > 0);
    unsigned __int128 product = (unsigned __int128) zmesh_rand_u64 (self) * bound;
    uint64_t low = (uint64_t) product;
    if (low < bound) {
        uint64_t threshold = -bound % bound;
        while (low < threshold) {
            product = (unsigned __int128) zmesh_rand_u64 (self) * bound;
            low = (uint64_t) product;
        }
    }
    return (uint64_t) (product >> 64);
}

double
zmesh_rand_unit (zmesh_rand_t *self)
{
    return (double) (zmesh_rand_u64 (self) >> 11) * 0x1.0p-53;
}
