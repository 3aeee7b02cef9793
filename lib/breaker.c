/*  breaker.c - the circuit breaker state machine and its sliding windows.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

#define BUCKETS 10              //  A time window is kept in ten slices

typedef struct {
    int64_t start_ms;           //  Start of the slice this bucket holds
    int calls;
    int failures;
} s_bucket_t;

typedef struct {
    uint32_t ticket;            //  Matches the permit
    int64_t deadline_ms;        //  The probe counts as failed after this
} s_probe_t;

struct _zmesh_breaker_t {
    char *name;                 //  The target, for logs
    zmesh_breaker_config_t config;
    zmesh_clock_t *clock;       //  Borrowed
    zmesh_breaker_state_t state;
    uint64_t generation;        //  Bumped on every state change
    int64_t opened_ms;          //  When it last opened
    int64_t open_for_ms;        //  How long this open spell lasts
    uint8_t *ring;              //  Count window: 1 = failure, per call
    int ring_next;              //  Where the next outcome goes
    int ring_filled;            //  Outcomes in the ring
    int ring_failures;          //  Failures in the ring
    s_bucket_t buckets [BUCKETS];   //  Time window
    int probes_granted;         //  Probes let through this round
    int probes_out;             //  Probes granted and not yet back
    int probes_ok;              //  Probes that succeeded this round
    s_probe_t probes [ZMESH_BREAKER_PROBES_MAX];
    uint32_t next_ticket;
    zmesh_breaker_stats_t stats;
    zmesh_breaker_fn *listener;
    void *listener_arg;
};

void
zmesh_breaker_config_defaults (zmesh_breaker_config_t *config)
{
    assert (config);
    config->mode = ZMESH_BREAKER_NORMAL;
    config->time_window = false;
    config->window_size = 20;
    config->window_ms = 10000;
    config->min_calls = 10;
    config->failure_rate = 50;
    config->slow_call_ms = 0;
    config->reset_timeout_ms = 1000;
    config->reset_max_ms = 30000;
    config->probes = 1;
}

zmesh_err_t
zmesh_breaker_config_validate (const zmesh_breaker_config_t *config,
                               zmesh_detail_t *detail)
{
    assert (config);
    const char *problem = NULL;
    if (config->window_size < 1 || config->window_size > ZMESH_BREAKER_WINDOW_MAX)
        problem = "window_size must be 1 to 1000 calls";
    else if (config->window_ms < BUCKETS)
        problem = "window_ms must be at least 10";
    else if (config->min_calls < 1)
        problem = "min_calls must be at least 1";
    else if (!config->time_window && config->min_calls > config->window_size)
        problem = "min_calls cannot exceed window_size";
    else if (config->failure_rate < 1 || config->failure_rate > 100)
        problem = "failure_rate must be 1 to 100 percent";
    else if (config->slow_call_ms < 0 || config->reset_timeout_ms < 1
             || config->reset_max_ms < 0)
        problem = "slow_call and reset_max must be 0 or more and "
                  "reset_timeout above 0";
    else if (config->probes < 1 || config->probes > ZMESH_BREAKER_PROBES_MAX)
        problem = "probes must be 1 to 16";
    if (!problem)
        return ZMESH_OK;
    zmesh__detail (detail, "breaker: %s", problem);
    return ZMESH_ERR_CONFIG;
}

zmesh_breaker_t *
zmesh_breaker_new (const char *name, const zmesh_breaker_config_t *config,
                   zmesh_clock_t *clock)
{
    assert (name && config && clock);
    assert (zmesh_breaker_config_validate (config, NULL) == ZMESH_OK);
    zmesh_breaker_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->name = zmesh__strndup (name, strlen (name));
    self->ring = zmesh__calloc ((size_t) config->window_size, 1);
    if (!self->name || !self->ring) {
        zmesh_breaker_destroy (&self);
        return NULL;
    }
    self->config = *config;
    self->clock = clock;
    return self;
}

void
zmesh_breaker_destroy (zmesh_breaker_t **self_p)
{
    assert (self_p);
    zmesh_breaker_t *self = *self_p;
    if (self) {
        zmesh__free (self->name);
        zmesh__free (self->ring);
        zmesh__free (self);
        *self_p = NULL;
    }
}


//  ---------------------------------------------------------------------
//  The window

static void
s_window_clear (zmesh_breaker_t *self)
{
    memset (self->ring, 0, (size_t) self->config.window_size);
    self->ring_next = 0;
    self->ring_filled = 0;
    self->ring_failures = 0;
    memset (self->buckets, 0, sizeof self->buckets);
}

static int64_t
s_slice_ms (zmesh_breaker_t *self)
{
    return self->config.window_ms / BUCKETS;
}

//  The bucket for now, emptied first if it still holds an older slice.
static s_bucket_t *
s_bucket (zmesh_breaker_t *self, int64_t now)
{
    int64_t slice = s_slice_ms (self);
    int64_t start = now - (now % slice + slice) % slice;
    size_t index = (size_t) (((start / slice) % BUCKETS + BUCKETS) % BUCKETS);
    s_bucket_t *bucket = &self->buckets [index];
    if (bucket->start_ms != start) {
        bucket->start_ms = start;
        bucket->calls = 0;
        bucket->failures = 0;
    }
    return bucket;
}

static void
s_window_add (zmesh_breaker_t *self, bool failed, int64_t now)
{
    if (self->config.time_window) {
        s_bucket_t *bucket = s_bucket (self, now);
        bucket->calls++;
        bucket->failures += failed;
        return;
    }
    if (self->ring_filled == self->config.window_size)
        self->ring_failures -= self->ring [self->ring_next];
    else
        self->ring_filled++;
    self->ring [self->ring_next] = failed;
    self->ring_failures += failed;
    self->ring_next = (self->ring_next + 1) % self->config.window_size;
}

static void
s_window_count (zmesh_breaker_t *self, int64_t now, int *calls, int *failures)
{
    if (!self->config.time_window) {
        *calls = self->ring_filled;
        *failures = self->ring_failures;
        return;
    }
    //  Slices that started within the last window_ms, this one included.
    *calls = 0;
    *failures = 0;
    for (size_t index = 0; index < BUCKETS; index++) {
        s_bucket_t *bucket = &self->buckets [index];
        if (bucket->calls && bucket->start_ms > now - self->config.window_ms) {
            *calls += bucket->calls;
            *failures += bucket->failures;
        }
    }
}


//  ---------------------------------------------------------------------
//  The state machine

static void
s_move (zmesh_breaker_t *self, zmesh_breaker_state_t to, int64_t now)
{
    zmesh_breaker_state_t from = self->state;
    self->state = to;
    self->generation++;
    self->probes_granted = 0;
    self->probes_out = 0;
    self->probes_ok = 0;
    if (to == ZMESH_BREAKER_OPEN) {
        //  A probe that failed doubles the spell, up to reset_max: a
        //  target down for long is probed ever less often, one down
        //  briefly is back within a second
        int64_t longest = self->config.reset_max_ms
                          > self->config.reset_timeout_ms
                        ? self->config.reset_max_ms
                        : self->config.reset_timeout_ms;
        self->open_for_ms = from == ZMESH_BREAKER_HALF_OPEN
                          ? self->open_for_ms * 2
                          : self->config.reset_timeout_ms;
        if (self->open_for_ms > longest)
            self->open_for_ms = longest;
        self->opened_ms = now;
        self->stats.opened++;
    }
    if (to == ZMESH_BREAKER_CLOSED)
        s_window_clear (self);
    zsys_info ("breaker %s: %s -> %s", self->name,
               zmesh_breaker_state_name (from), zmesh_breaker_state_name (to));
    if (self->listener)
        self->listener (self, from, to, self->listener_arg);
}

//  Let time act: the reset timeout ends an open spell, and a probe past
//  its deadline has failed.
static void
s_refresh (zmesh_breaker_t *self, int64_t now)
{
    if (self->state == ZMESH_BREAKER_OPEN
        && now - self->opened_ms >= self->open_for_ms)
        s_move (self, ZMESH_BREAKER_HALF_OPEN, now);
    if (self->state == ZMESH_BREAKER_HALF_OPEN)
        for (int index = 0; index < self->probes_out; index++)
            if (self->probes [index].deadline_ms <= now) {
                self->stats.failures++;
                self->stats.timeouts++;
                s_move (self, ZMESH_BREAKER_OPEN, now);
                break;
            }
}

zmesh_err_t
zmesh_breaker_acquire (zmesh_breaker_t *self, int64_t deadline_ms,
                       zmesh_breaker_permit_t *permit)
{
    assert (self && permit);
    return zmesh__breaker_acquire_at (self, zmesh_clock_mono_ms (self->clock),
                                      deadline_ms, permit);
}

zmesh_err_t
zmesh__breaker_acquire_at (zmesh_breaker_t *self, int64_t now,
                           int64_t deadline_ms, zmesh_breaker_permit_t *permit)
{
    assert (self && permit);
    bool grant;
    bool probe = false;
    if (self->config.mode == ZMESH_BREAKER_FORCED_OPEN)
        grant = false;
    else if (self->config.mode == ZMESH_BREAKER_DISABLED)
        grant = true;
    else {
        s_refresh (self, now);
        probe = self->state == ZMESH_BREAKER_HALF_OPEN;
        //  Exactly `probes` calls per half-open round, however fast the
        //  first ones come back.
        grant = self->state == ZMESH_BREAKER_CLOSED
             || (probe && self->probes_granted < self->config.probes);
    }
    if (!grant) {
        self->stats.rejections++;
        return ZMESH_ERR_CIRCUIT_OPEN;
    }
    self->stats.calls++;
    permit->generation = self->generation;
    permit->probe = probe;
    permit->started_ms = now;
    permit->deadline_ms = deadline_ms;
    permit->ticket = ++self->next_ticket;
    if (probe) {
        self->probes_granted++;
        s_probe_t *slot = &self->probes [self->probes_out++];
        slot->ticket = permit->ticket;
        slot->deadline_ms = deadline_ms;
    }
    return ZMESH_OK;
}

//  Take a returned probe off the list of those out.
static bool
s_probe_back (zmesh_breaker_t *self, uint32_t ticket)
{
    for (int index = 0; index < self->probes_out; index++)
        if (self->probes [index].ticket == ticket) {
            self->probes [index] = self->probes [--self->probes_out];
            return true;
        }
    return false;
}

void
zmesh_breaker_record (zmesh_breaker_t *self,
                      const zmesh_breaker_permit_t *permit,
                      zmesh_outcome_t outcome)
{
    assert (self && permit);
    zmesh__breaker_record_at (self, zmesh_clock_mono_ms (self->clock), permit,
                              outcome);
}

void
zmesh__breaker_record_at (zmesh_breaker_t *self, int64_t now,
                          const zmesh_breaker_permit_t *permit,
                          zmesh_outcome_t outcome)
{
    assert (self && permit);
    bool slow = outcome == ZMESH_OUTCOME_SUCCESS && self->config.slow_call_ms
             && now - permit->started_ms >= self->config.slow_call_ms;
    bool failed = outcome != ZMESH_OUTCOME_SUCCESS || slow;
    if (failed)
        self->stats.failures++;
    else
        self->stats.successes++;
    self->stats.timeouts += outcome == ZMESH_OUTCOME_TIMEOUT;
    self->stats.slow_calls += slow;
    if (self->config.mode != ZMESH_BREAKER_NORMAL
        || permit->generation != self->generation)
        return;                 //  Counted, but from another round

    if (permit->probe) {
        if (!s_probe_back (self, permit->ticket))
            return;
        if (failed)
            s_move (self, ZMESH_BREAKER_OPEN, now);
        else if (++self->probes_ok == self->config.probes)
            s_move (self, ZMESH_BREAKER_CLOSED, now);
        return;
    }
    s_window_add (self, failed, now);
    int calls, failures;
    s_window_count (self, now, &calls, &failures);
    if (calls >= self->config.min_calls
        && (int64_t) failures * 100 >= (int64_t) self->config.failure_rate * calls)
        s_move (self, ZMESH_BREAKER_OPEN, now);
}

void
zmesh_breaker_reset (zmesh_breaker_t *self)
{
    assert (self);
    if (self->state != ZMESH_BREAKER_CLOSED)
        s_move (self, ZMESH_BREAKER_CLOSED,
                zmesh_clock_mono_ms (self->clock));
    else {
        self->generation++;
        s_window_clear (self);
    }
}

void
zmesh_breaker_wake (zmesh_breaker_t *self)
{
    assert (self);
    if (self->state == ZMESH_BREAKER_OPEN)
        s_move (self, ZMESH_BREAKER_HALF_OPEN,
                zmesh_clock_mono_ms (self->clock));
}

zmesh_breaker_state_t
zmesh_breaker_state (zmesh_breaker_t *self)
{
    assert (self);
    if (self->config.mode == ZMESH_BREAKER_NORMAL)
        s_refresh (self, zmesh_clock_mono_ms (self->clock));
    else
        return self->config.mode == ZMESH_BREAKER_FORCED_OPEN
               ? ZMESH_BREAKER_OPEN : ZMESH_BREAKER_CLOSED;
    return self->state;
}

void
zmesh_breaker_window (zmesh_breaker_t *self, int *calls, int *failures)
{
    assert (self && calls && failures);
    s_window_count (self, zmesh_clock_mono_ms (self->clock), calls, failures);
}

void
zmesh_breaker_stats (zmesh_breaker_t *self, zmesh_breaker_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
}

const char *
zmesh_breaker_name (zmesh_breaker_t *self)
{
    assert (self);
    return self->name;
}

void
zmesh_breaker_set_listener (zmesh_breaker_t *self, zmesh_breaker_fn *fn,
                            void *arg)
{
    assert (self);
    self->listener = fn;
    self->listener_arg = arg;
}

const char *
zmesh_breaker_state_name (zmesh_breaker_state_t state)
{
    switch (state) {
        case ZMESH_BREAKER_CLOSED: return "closed";
        case ZMESH_BREAKER_OPEN: return "open";
        case ZMESH_BREAKER_HALF_OPEN: return "half-open";
    }
    return "invalid";
}
