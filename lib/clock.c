/*  clock.c - the real and the fake clock behind zmesh_clock_t.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include <stdatomic.h>

typedef struct {
    int64_t (*unix_us) (zmesh_clock_t *self);
    int64_t (*mono_us) (zmesh_clock_t *self);
    bool (*sleep) (zmesh_clock_t *self, int64_t ms);
} s_clock_ops_t;

struct _zmesh_clock_t {
    const s_clock_ops_t *ops;   //  Real or fake
    //  Fake only: the current readings. Atomic, so that a thread of the
    //  node's own (the admin endpoint's) may read them while a test moves
    //  them.
    _Atomic int64_t unix_ms;
    _Atomic int64_t mono_ms;
    _Atomic uint64_t reads;     //  Of either reading, for tests' budgets
};

static int64_t
s_read_us (clockid_t clock_id)
{
    struct timespec now;
    clock_gettime (clock_id, &now);
    return (int64_t) now.tv_sec * 1000000 + now.tv_nsec / 1000;
}

static int64_t
s_real_unix_us (zmesh_clock_t *self)
{
    (void) self;
    return s_read_us (CLOCK_REALTIME);
}

static int64_t
s_real_mono_us (zmesh_clock_t *self)
{
    (void) self;
    return s_read_us (CLOCK_MONOTONIC);
}

static int64_t
s_fake_unix_us (zmesh_clock_t *self)
{
    atomic_fetch_add_explicit (&self->reads, 1, memory_order_relaxed);
    return atomic_load_explicit (&self->unix_ms, memory_order_relaxed) * 1000;
}

static int64_t
s_fake_mono_us (zmesh_clock_t *self)
{
    atomic_fetch_add_explicit (&self->reads, 1, memory_order_relaxed);
    return atomic_load_explicit (&self->mono_ms, memory_order_relaxed) * 1000;
}

static bool
s_real_sleep (zmesh_clock_t *self, int64_t ms)
{
    (void) self;
    struct timespec left = {(time_t) (ms / 1000), (long) (ms % 1000) * 1000000};
    //  CZMQ's handler sets zsys_interrupted for SIGINT and SIGTERM; other
    //  signals only interrupt the sleep, which then goes on.
    while (nanosleep (&left, &left) != 0 && errno == EINTR)
        if (zsys_interrupted)
            return false;
    return true;
}

static bool
s_fake_sleep (zmesh_clock_t *self, int64_t ms)
{
    zmesh_clock_fake_advance (self, ms);
    return true;
}

static const s_clock_ops_t s_real_ops = {s_real_unix_us, s_real_mono_us,
                                         s_real_sleep};
static const s_clock_ops_t s_fake_ops = {s_fake_unix_us, s_fake_mono_us,
                                         s_fake_sleep};

//  Immutable: the real clock reads the kernel and keeps nothing.
static zmesh_clock_t s_real_clock = {&s_real_ops, 0, 0, 0};

bool
zmesh_clock_sleep (zmesh_clock_t *self, int64_t ms)
{
    assert (self);
    return ms <= 0 || self->ops->sleep (self, ms);
}

zmesh_clock_t *
zmesh_clock_real (void)
{
    return &s_real_clock;
}

zmesh_clock_t *
zmesh_clock_fake_new (int64_t start_ms)
{
    zmesh_clock_t *self = zmesh__alloc (sizeof *self);
    if (self) {
        self->ops = &s_fake_ops;
        atomic_init (&self->unix_ms, start_ms);
        atomic_init (&self->mono_ms, start_ms);
        atomic_init (&self->reads, 0);
    }
    return self;
}

void
zmesh_clock_destroy (zmesh_clock_t **self_p)
{
    assert (self_p);
    if (*self_p && *self_p != &s_real_clock)
        zmesh__free (*self_p);
    *self_p = NULL;
}

int64_t
zmesh_clock_unix_ms (zmesh_clock_t *self)
{
    assert (self);
    return self->ops->unix_us (self) / 1000;
}

int64_t
zmesh_clock_mono_ms (zmesh_clock_t *self)
{
    assert (self);
    return self->ops->mono_us (self) / 1000;
}

int64_t
zmesh_clock_unix_us (zmesh_clock_t *self)
{
    assert (self);
    return self->ops->unix_us (self);
}

int64_t
zmesh_clock_mono_us (zmesh_clock_t *self)
{
    assert (self);
    return self->ops->mono_us (self);
}

void
zmesh_clock_fake_advance (zmesh_clock_t *self, int64_t ms)
{
    assert (self && self->ops == &s_fake_ops);
    assert (ms >= 0);
    atomic_fetch_add (&self->unix_ms, ms);
    atomic_fetch_add (&self->mono_ms, ms);
}

void
zmesh_clock_fake_set_unix_ms (zmesh_clock_t *self, int64_t unix_ms)
{
    assert (self && self->ops == &s_fake_ops);
    atomic_store (&self->unix_ms, unix_ms);
}

uint64_t
zmesh_clock_fake_reads (zmesh_clock_t *self)
{
    assert (self && self->ops == &s_fake_ops);
    return atomic_load (&self->reads);
}
