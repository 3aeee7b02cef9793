/*  peers.c - the directory of peer instances a node knows.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "peers.h"

#define ROUTE_LIMIT     64      //  Instances one route lists, at most

struct _zmesh_peers_t {
    zmesh_peer_info_t *items;   //  Peers, in the order they became known
    size_t count;               //  Items in use
    size_t capacity;            //  Items allocated
};

zmesh_peers_t *
zmesh__peers_new (void)
{
    return zmesh__calloc (1, sizeof (zmesh_peers_t));
}

void
zmesh__peers_destroy (zmesh_peers_t **self_p)
{
    assert (self_p);
    zmesh_peers_t *self = *self_p;
    if (self) {
        zmesh__free (self->items);
        zmesh__free (self);
        *self_p = NULL;
    }
}

static long
s_find_key (zmesh_peers_t *self, const char *key)
{
    for (size_t index = 0; index < self->count; index++)
        if (streq (self->items [index].key, key))
            return (long) index;
    return -1;
}

long
zmesh__peers_upsert (zmesh_peers_t *self, const char *key,
                     const char *service, const char *events,
                     const char *calls, bool from_config, char *old_events)
{
    assert (self && key && service && events && calls && old_events);
    long index = s_find_key (self, key);
    if (index >= 0 && self->items [index].from_config && !from_config)
        return -1;              //  Only the config changes what it set
    if (index < 0) {
        if (self->count == self->capacity) {
            size_t capacity = self->capacity ? self->capacity * 2 : 8;
            zmesh_peer_info_t *grown =
                zmesh__realloc (self->items, capacity * sizeof *grown);
            if (!grown)
                return -1;
            self->items = grown;
            self->capacity = capacity;
        }
        index = (long) self->count++;
        memset (&self->items [index], 0, sizeof self->items [index]);
        snprintf (self->items [index].key, sizeof self->items [index].key,
                  "%s", key);
    }
    zmesh_peer_info_t *peer = &self->items [index];
    snprintf (old_events, ZMESH_ENDPOINT_MAX + 1, "%s", peer->events);
    snprintf (peer->service, sizeof peer->service, "%s", service);
    snprintf (peer->events, sizeof peer->events, "%s", events);
    snprintf (peer->calls, sizeof peer->calls, "%s", calls);
    peer->from_config = from_config;
    return index;
}

long
zmesh__peers_find_events (zmesh_peers_t *self, const char *events)
{
    assert (self && events);
    for (size_t index = 0; index < self->count; index++)
        if (*events && streq (self->items [index].events, events))
            return (long) index;
    return -1;
}

size_t
zmesh__peers_count (zmesh_peers_t *self)
{
    assert (self);
    return self->count;
}

zmesh_peer_info_t *
zmesh__peers_at (zmesh_peers_t *self, size_t index)
{
    assert (self && index < self->count);
    return &self->items [index];
}

static void
s_move (zmesh_peer_info_t *peer, zmesh_peer_state_t state,
        zmesh_peer_change_fn *changed, void *arg)
{
    if (peer->state == state)
        return;
    zmesh_peer_state_t was = peer->state;
    peer->state = state;
    if (changed)
        changed (peer, was, arg);
}

void
zmesh__peers_heard (zmesh_peers_t *self, size_t index, int64_t now_ms,
                    zmesh_peer_change_fn *changed, void *arg)
{
    zmesh_peer_info_t *peer = zmesh__peers_at (self, index);
    peer->last_heard_ms = now_ms;
    s_move (peer, ZMESH_PEER_ALIVE, changed, arg);
}

void
zmesh__peers_gone (zmesh_peers_t *self, size_t index,
                   zmesh_peer_change_fn *changed, void *arg)
{
    s_move (zmesh__peers_at (self, index), ZMESH_PEER_GONE, changed, arg);
}

void
zmesh__peers_quiet (zmesh_peers_t *self, size_t index,
                    zmesh_peer_change_fn *changed, void *arg)
{
    s_move (zmesh__peers_at (self, index), ZMESH_PEER_QUIET, changed, arg);
}

void
zmesh__peers_remove (zmesh_peers_t *self, size_t index)
{
    assert (self && index < self->count);
    memmove (&self->items [index], &self->items [index + 1],
             (self->count - index - 1) * sizeof self->items [0]);
    self->count--;
}

void
zmesh__peers_tick (zmesh_peers_t *self, int64_t now_ms, int quiet_ms,
                   int gone_ms, zmesh_peer_change_fn *changed, void *arg)
{
    assert (self);
    for (size_t index = 0; index < self->count; index++) {
        zmesh_peer_info_t *peer = &self->items [index];
        //  Gone stays gone until a heartbeat says otherwise (it may have
        //  said goodbye a moment after its last beat). A configured peer
        //  never heard from may serve calls without beating; one learned
        //  through gossip ages from when it was learned.
        if (peer->state == ZMESH_PEER_GONE
            || (peer->state == ZMESH_PEER_UNKNOWN && peer->from_config))
            continue;
        int64_t silence = now_ms - peer->last_heard_ms;
        if (peer->state == ZMESH_PEER_UNKNOWN) {
            if (silence >= gone_ms)
                s_move (peer, ZMESH_PEER_GONE, changed, arg);
            continue;
        }
        //  Time only ages a peer: a heartbeat makes it alive again, and a
        //  quiet one that said goodbye a moment ago stays quiet.
        s_move (peer, silence >= gone_ms    ? ZMESH_PEER_GONE
                      : silence >= quiet_ms ? ZMESH_PEER_QUIET
                                            : peer->state,
                changed, arg);
    }
}

//  The weight of member for key, in rendezvous (highest random weight)
//  hashing: FNV-1a over member, a NUL and key, then a 64-bit finalizer
//  (splitmix64's), so that nearby names spread.
static uint64_t
s_weight (const char *member, const char *key)
{
    uint64_t hash = 14695981039346656037ULL;
    for (const char *byte = member; *byte; byte++)
        hash = (hash ^ (uint8_t) *byte) * 1099511628211ULL;
    hash *= 1099511628211ULL;   //  The NUL between the two
    for (const char *byte = key; *byte; byte++)
        hash = (hash ^ (uint8_t) *byte) * 1099511628211ULL;
    hash = (hash ^ (hash >> 30)) * 0xbf58476d1ce4e5b9ULL;
    hash = (hash ^ (hash >> 27)) * 0x94d049bb133111ebULL;
    return hash ^ (hash >> 31);
}

bool
zmesh__peers_owns (zmesh_peers_t *self, const char *service, const char *name,
                   const char *key)
{
    assert (self && service && name && key);
    uint64_t mine = s_weight (name, key);
    for (size_t index = 0; index < self->count; index++) {
        zmesh_peer_info_t *peer = &self->items [index];
        if (peer->state != ZMESH_PEER_ALIVE || !streq (peer->service, service)
            || streq (peer->name, name))
            continue;
        uint64_t theirs = s_weight (peer->name, key);
        if (theirs > mine || (theirs == mine && strcmp (peer->name, name) < 0))
            return false;
    }
    return true;
}

size_t
zmesh__peers_route (zmesh_peers_t *self, const char *service, const char *key,
                    const char **endpoints, size_t max, size_t *equal)
{
    assert (self && service && endpoints && equal);
    static const zmesh_peer_state_t order [] = {
        ZMESH_PEER_ALIVE, ZMESH_PEER_UNKNOWN, ZMESH_PEER_QUIET};
    uint64_t weights [ROUTE_LIMIT];
    if (max > ROUTE_LIMIT)
        max = ROUTE_LIMIT;
    size_t found = 0;
    *equal = 0;
    for (size_t rank = 0; rank < 3; rank++) {
        size_t first = found;
        for (size_t index = 0; index < self->count && found < max; index++) {
            zmesh_peer_info_t *peer = &self->items [index];
            if (peer->state != order [rank] || !*peer->calls
                || !streq (peer->service, service))
                continue;
            //  With a key, the rank in order of weight, heaviest first
            uint64_t weight = key ? s_weight (peer->key, key) : 0;
            size_t at = found++;
            for (; at > first && weights [at - 1] < weight; at--) {
                weights [at] = weights [at - 1];
                endpoints [at] = endpoints [at - 1];
            }
            weights [at] = weight;
            endpoints [at] = peer->calls;
        }
        if (!*equal)
            *equal = found - first;
    }
    return found;
}
