/*  node.c - the node: its lifecycle, sockets, accessors and the loop.

    Part of zmesh. MIT License.
*/
#include "node_private.h"
#ifdef __GLIBC__
#   include <malloc.h>
#endif

//  For containers of plain zmesh__alloc'd items.
static void
s_method_destroy (void **item_p)
{
    zmesh__free (*item_p);
    *item_p = NULL;
}

void
zmesh__node_frame_destroy (void **item_p)
{
    zframe_destroy ((zframe_t **) item_p);
}

//  Bad input is counted always and logged once per burst: the first frame
//  of a burst, then a count of the rest at most once a second.
void
zmesh__node_bad_frame (zmesh_node_t *self, const char *where, zmesh_err_t rc,
                       const char *why)
{
    self->stats.bad_frames++;
    int64_t now = zmesh_clock_mono_ms (self->clock);
    if (self->bad_logged_ms && now - self->bad_logged_ms < 1000) {
        self->bad_unlogged++;
        return;
    }
    if (self->bad_unlogged)
        zsys_warning ("node %s: dropped %" PRIu64 " more bad frames",
                      self->config.name, self->bad_unlogged);
    zsys_warning ("node %s: dropped a bad frame on %s: %s%s%s",
                  self->config.name, where, zmesh_strerror (rc),
                  why && *why ? ": " : "", why ? why : "");
    self->bad_logged_ms = now;
    self->bad_unlogged = 0;
}

//  The endpoint others reach a bound socket at: its real port, and
//  node/advertise in place of the host when set.
void
zmesh__node_advertised (zmesh_node_t *self, zsock_t *socket, char *endpoint)
{
    char *bound = zsock_last_endpoint (socket);
    const char *scheme_end = strstr (bound, "://");
    const char *port = strrchr (bound, ':');
    if (*self->config.advertise && scheme_end && strncmp (bound, "tcp", 3) == 0
        && port > scheme_end)
        snprintf (endpoint, ZMESH_ENDPOINT_MAX + 1, "tcp://%.200s%.16s",
                  self->config.advertise, port);
    else
        snprintf (endpoint, ZMESH_ENDPOINT_MAX + 1, "%s", bound);
    zstr_free (&bound);
}

zmesh_store_t *
zmesh_node_store (zmesh_node_t *self)
{
    assert (self);
    return self->store;
}

//  With node/data: open <data>/<name>.db, or the PostgreSQL database that
//  node/data names (which the instances of a service share), and number
//  events on from the node's log in it.
static zmesh_err_t
s_open_store (zmesh_node_t *self, zmesh_detail_t *detail)
{
    char path [ZMESH_ENDPOINT_MAX + 80];
    if (zmesh__db_path_is_pg (self->config.data))
        snprintf (path, sizeof path, "%s", self->config.data);
    else if (zsys_dir_create ("%s", self->config.data) != 0) {
        zmesh__detail (detail, "node/data: cannot create %s",
                       self->config.data);
        return ZMESH_ERR_CONFIG;
    }
    else
        snprintf (path, sizeof path, "%s/%s.db", self->config.data,
                  self->config.name);
    self->store = zmesh_store_open (path, self->config.events_synced, detail);
    if (!self->store)
        return ZMESH_ERR_STORE;
    zmesh_err_t rc = zmesh__store_claim_group (self->store, self->config.group,
                                               detail);
    if (rc == ZMESH_OK
        && (zmesh_store_publish_as (self->store, self->config.name, detail)
            || zmesh_store_log_head (self->store, self->config.name,
                                     &self->seq)))
        rc = ZMESH_ERR_STORE;
    if (rc) {
        zmesh_store_close (&self->store);
        return rc;
    }
    rc = zmesh_node_serve (self, ZMESH_REPLAY_METHOD, zmesh__replay_serve,
                           NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.list",
                               zmesh__deadletter_serve_list, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.show",
                               zmesh__deadletter_serve_show, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.replay",
                               zmesh__deadletter_serve_replay, NULL);
    return rc;
}

static zmesh_err_t
s_bind (zmesh_node_t *self, zsock_t *socket, const char *endpoint,
        char *advertised, char *bound, zmesh_detail_t *detail)
{
    if (zsock_bind (socket, "%s", endpoint) < 0) {
        zmesh__detail (detail, "cannot bind %s: %s", endpoint,
                       zmq_strerror (zmq_errno ()));
        return ZMESH_ERR_BIND;
    }
    char *last = zsock_last_endpoint (socket);
    snprintf (bound, ZMESH_ENDPOINT_MAX + 1, "%s", last ? last : endpoint);
    zstr_free (&last);
    zmesh__node_advertised (self, socket, advertised);
    return ZMESH_OK;
}

//  The socket rebind [which] is for: the PUB, the ROUTER, or the tap (NULL
//  once switched off).
static zsock_t *
s_rebind_socket (zmesh_node_t *self, int which)
{
    return which == 0 ? self->pub : which == 1 ? self->router : self->tap;
}

//  Bind again each socket that s_rebind unbound. libzmq closes the old
//  listener in its I/O thread, so its address may be in use for a moment:
//  what does not bind yet is tried again in the loop's next turn.
static void
s_bind_again (zmesh_node_t *self)
{
    //  Unbinding and binding may take in the ROUTER's commands
    if (*self->rebind [1])
        zmesh__pollset_touch (self->pollset, self->router);
    for (int which = 0; which < 3; which++) {
        zsock_t *socket = s_rebind_socket (self, which);
        if (*self->rebind [which]
            && (!socket || zsock_bind (socket, "%s", self->rebind [which]) >= 0))
            *self->rebind [which] = 0;
    }
}

//  Close every link made to the socket of which, bound at bound, and take
//  new ones there again: each must then pass ZAP anew.
static void
s_rebind (zmesh_node_t *self, int which, const char *bound)
{
    snprintf (self->rebind [which], sizeof self->rebind [which], "%s", bound);
    zsock_unbind (s_rebind_socket (self, which), "%s", bound);
    s_bind_again (self);
}

static zmesh_err_t
s_open_sockets (zmesh_node_t *self, zmesh_detail_t *detail)
{
    self->pub = zmesh__socket_new (ZMQ_PUB, &self->config);
    self->router = zmesh__socket_new (ZMQ_ROUTER, &self->config);
    if (!self->pub || !self->router) {
        zmesh__detail (detail, "cannot create sockets: %s",
                       zmq_strerror (zmq_errno ()));
        return ZMESH_ERR_SOCKET;
    }
    zsock_set_rcvtimeo (self->router, 0);  //  Polled first; never waits
    zmesh_err_t secured = zmesh__security_server (self->security, self->pub,
                                                  detail);
    if (secured == ZMESH_OK)
        secured = zmesh__security_server (self->security, self->router,
                                          detail);
    if (secured)
        return secured;
    //  A reply to a caller that is gone is dropped, not an error.
    zsock_set_router_mandatory (self->router, 0);
    zmesh_err_t rc = s_bind (self, self->pub, self->config.events,
                             self->events_endpoint, self->events_bound,
                             detail);
    if (rc == ZMESH_OK)
        rc = s_bind (self, self->router, self->config.calls,
                     self->calls_endpoint, self->calls_bound, detail);
    if (rc)
        return rc;
    //  Each peer's SUB link joins the poll set as it is made. The ROUTER,
    //  which replies go out on, is asked at every wait.
    self->pollset = zmesh__pollset_new ();
    if (!self->pollset
        || zmesh__pollset_add (self->pollset, self->router,
                               &self->router_ready, true) != 0) {
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    for (size_t index = 0; index < self->config.peer_count; index++) {
        const zmesh_peer_config_t *peer = &self->config.peers [index];
        if (!zmesh__discovery_add_peer (self, peer->label, peer->label,
                                        peer->service, peer->events,
                                        peer->calls, true)) {
            zmesh__detail (detail, "out of memory");
            return ZMESH_ERR_NOMEM;
        }
    }
    return ZMESH_OK;
}

//  glibc's malloc serves a large block from an arena once a block of its
//  size has been freed, raising its mmap threshold to that size: frames of
//  hundreds of KiB, garbage included, then stay resident in libzmq's I/O
//  threads' arenas after they are freed. A fixed threshold keeps every
//  block of 128 KiB or more in a mapping of its own, given back when it is
//  freed. Once per process.
static void
s_tune_malloc (void)
{
#ifdef __GLIBC__
    mallopt (M_MMAP_THRESHOLD, 128 * 1024);
#endif
}

zmesh_node_t *
zmesh_node_new (const zmesh_node_config_t *config, zmesh_clock_t *clock,
                zmesh_rand_t *rand, zmesh_detail_t *detail)
{
    assert (config);
    if (zmesh_node_config_validate (config, detail) != ZMESH_OK)
        return NULL;
    static pthread_once_t tuned = PTHREAD_ONCE_INIT;
    pthread_once (&tuned, s_tune_malloc);
    zmesh_node_t *self = zmesh__calloc (1, sizeof *self);
    if (!self) {
        zmesh__detail (detail, "out of memory");
        return NULL;
    }
    self->config = *config;
    if (!*self->config.group)     //  A group of its own
        snprintf (self->config.group, sizeof self->config.group, "%s",
                  self->config.name);
    self->clock = clock ? clock : zmesh_clock_real ();
    self->rand = rand;
    if (!rand)
        self->rand = self->owned_rand = zmesh_rand_new ();
    pthread_mutex_init (&self->lock, NULL);
    self->peers = zmesh__peers_new ();
    self->requester = self->rand && self->peers
                    ? zmesh__requester_new (&self->config, self->clock)
                    : NULL;
    self->caller = self->rand ? zmesh_caller_new (self->clock, self->rand)
                              : NULL;
    if (!self->requester || !self->caller) {
        zmesh__detail (detail, "out of memory or no random source");
        zmesh_node_destroy (&self);
        return NULL;
    }
    zmesh_uuid_generate (self->rand, &self->instance);
    zmesh_uuid_unparse (&self->instance, self->instance_text);
    self->subscriptions = zlistx_new ();
    zlistx_set_destructor (self->subscriptions, zmesh__subscription_destroy);
    self->methods = zhashx_new ();
    zhashx_set_destructor (self->methods, s_method_destroy);
    self->policies = zhashx_new ();
    zhashx_set_destructor (self->policies, s_method_destroy);
    self->replies = zmesh__reply_cache_new ((size_t) config->dedupe_entries,
                                            (size_t) config->dedupe_bytes);
    self->consumers = zlistx_new ();
    zlistx_set_destructor (self->consumers, zmesh__subscription_destroy);
    self->positions = zhashx_new ();
    zhashx_set_destructor (self->positions, s_method_destroy);
    self->durable = zhashx_new ();
    if (self->durable)
        zhashx_set_destructor (self->durable, s_method_destroy);
    self->blocked = zhashx_new ();
    self->pending = zhashx_new ();
    if (self->pending)
        zhashx_set_destructor (self->pending, zmesh__consume_pending_destroy);
    self->unsaved = zhashx_new ();
    self->repairs = zhashx_new ();
    if (self->repairs)
        zhashx_set_destructor (self->repairs, zmesh__replay_repair_destroy);
    zmesh__turn_init (&self->turn);
    self->deferred = zlistx_new ();
    self->calls = zlistx_new ();
    if (self->deferred)
        zlistx_set_destructor (self->deferred, zmesh__serve_destroy_item);
    self->incoming = zmesh_envelope_new (ZMESH_KIND_EVENT);
    self->trace = zmesh__trace_new ((size_t) config->trace_keep);
    if (!self->incoming || !self->trace || !self->replies || !self->deferred || !self->calls
        || !self->blocked || !self->pending || !self->unsaved || !self->repairs
        || !self->turn.events || !self->turn.reply_max) {
        zmesh__detail (detail, "out of memory");
        zmesh_node_destroy (&self);
        return NULL;
    }
    //  The ZAP handler is up before anything binds: no window without it
    self->security = zmesh__security_new (&self->config, detail);
    if (!self->security) {
        zmesh_node_destroy (&self);
        return NULL;
    }
    if (zmesh__security_on (self->security))
        zsys_info ("node %s: CURVE on every link; keys from %s",
                   config->name, config->security_keys);
    else
        zsys_warning ("node %s: security is OFF: no encryption, and anyone "
                      "who reaches its sockets may publish, subscribe and "
                      "call (set security/cert and security/keys)",
                      config->name);
    zmesh__requester_set_prepare (self->requester, zmesh__call_prepare, self);
    zmesh_caller_set_owner (self->caller, config->name);
    if (zmesh_node_serve (self, "zmesh.stats", zmesh__builtins_stats, NULL)
            != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.publish", zmesh__builtins_publish,
                             NULL)
               != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.trace", zmesh__builtins_trace, NULL)
               != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.tap", zmesh__builtins_tap, NULL)
               != ZMESH_OK
        || (*config->data && s_open_store (self, detail) != ZMESH_OK)
        || (config->admin_port >= 0
            && zmesh__admin_start (self, detail) != ZMESH_OK)
        || s_open_sockets (self, detail) != ZMESH_OK
        || ((*config->gossip_bind || config->seed_count)
            && zmesh__discovery_start_gossip (self, detail) != ZMESH_OK)
        || (config->tap_on
            && zmesh__tap_switch (self, true, detail) != ZMESH_OK)
        || (*config->otlp_endpoint
            && zmesh__otlp_start (self, detail) != ZMESH_OK)) {
        zmesh_node_destroy (&self);
        return NULL;
    }
    self->next_heartbeat_ms = zmesh_clock_mono_ms (self->clock);
    zmesh__admin_refresh (self);
    //  One line of what it started with; node/verbose says more
    zsys_info ("node %s: events at %s, calls at %s, %s%s, %zu peers%s, "
               "instance %s", config->name, self->events_endpoint,
               self->calls_endpoint, *config->data ? "store in " : "no store",
               config->data, config->peer_count,
               *config->gossip_bind || config->seed_count ? " and gossip" : "",
               self->instance_text);
    return self;
}

void
zmesh_node_destroy (zmesh_node_t **self_p)
{
    assert (self_p);
    zmesh_node_t *self = *self_p;
    if (!self)
        return;
    //  First the endpoint's thread, which reads what the node left it
    zmesh__admin_stop (self);
    //  Calls in flight complete, interrupted; then what the loop's turn
    //  holds commits, the replies their completions finished with it.
    if (self->calls)
        zmesh__call_close (self);
    if (self->store) {
        zmesh__consume_flush (self);
        zmesh__turn_commit (self);
    }
    //  Tell subscribers we are going; PUB's linger lets it leave.
    if (self->pub && *self->events_endpoint)
        zmesh__publish_control (self, BYE_TYPE);
    if (self->pub)
        zmesh__publish_batch_destroy (self);
    zmesh__pollset_destroy (&self->pollset);
    zactor_destroy (&self->gossip);
    zmesh_caller_destroy (&self->caller);
    zmesh__requester_destroy (&self->requester);
    zsock_destroy (&self->router);
    zmesh__links_destroy (self);
    zsock_destroy (&self->pub);
    zlistx_destroy (&self->subscriptions);
    zhashx_destroy (&self->methods);
    zlistx_destroy (&self->consumers);
    zhashx_destroy (&self->positions);
    zhashx_destroy (&self->durable);
    if (self->blocked)
        zmesh__consume_close (self);
    zhashx_destroy (&self->blocked);
    zhashx_destroy (&self->pending);
    zhashx_destroy (&self->unsaved);
    zhashx_destroy (&self->repairs);
    zmesh__turn_fini (&self->turn);
    zlistx_destroy (&self->deferred);
    zlistx_destroy (&self->calls);
    zmesh_envelope_destroy (&self->spare);
    zmesh_envelope_destroy (&self->incoming);
    //  After every flow record: the spans left go, and the thread ends
    zmesh__otlp_stop (self);
    zmesh__trace_destroy (&self->trace);
    zsock_destroy (&self->tap);
    zmesh_store_close (&self->store);
    zhashx_destroy (&self->policies);
    zmesh__reply_cache_destroy (&self->replies);
    zmesh__peers_destroy (&self->peers);
    zmesh__free (self->latencies);
    zmesh_rand_destroy (&self->owned_rand);
    //  Last: the ZAP handler outlives every socket it guarded
    zmesh__security_destroy (&self->security);
    pthread_mutex_destroy (&self->lock);
    zmesh__free (self);
    *self_p = NULL;
}

const char *
zmesh_node_name (zmesh_node_t *self)
{
    assert (self);
    return self->config.name;
}

const char *
zmesh_node_events_endpoint (zmesh_node_t *self)
{
    assert (self);
    return self->events_endpoint;
}

const char *
zmesh_node_calls_endpoint (zmesh_node_t *self)
{
    assert (self);
    return self->calls_endpoint;
}

void
zmesh_node_stats (zmesh_node_t *self, zmesh_node_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
    zmesh__otlp_counts (self, &stats->spans_exported, &stats->spans_dropped);
}

size_t
zmesh_node_peer_count (zmesh_node_t *self)
{
    assert (self);
    return zmesh__peers_count (self->peers);
}

void
zmesh_node_peer (zmesh_node_t *self, size_t index, zmesh_peer_info_t *info)
{
    assert (self && info);
    *info = *zmesh__peers_at (self->peers, index);
}

const char *
zmesh_peer_state_name (zmesh_peer_state_t state)
{
    switch (state) {
        case ZMESH_PEER_UNKNOWN: return "unknown";
        case ZMESH_PEER_ALIVE: return "alive";
        case ZMESH_PEER_QUIET: return "quiet";
        case ZMESH_PEER_GONE: return "gone";
    }
    return "invalid";
}

//  Retention, once a heartbeat: trim the log by count and age, and forget
//  old processed ids.
static void
s_retain (zmesh_node_t *self)
{
    uint64_t unix_ms = (uint64_t) zmesh_clock_unix_ms (self->clock);
    uint64_t head = 0;
    if (self->config.retain_events
        && zmesh_store_head (self->store, &head) == ZMESH_OK
        && head > (uint64_t) self->config.retain_events)
        zmesh_store_trim (self->store,
                          head - (uint64_t) self->config.retain_events + 1,
                          NULL);
    if (self->config.retain_ms && unix_ms > (uint64_t) self->config.retain_ms)
        zmesh_store_trim_older (self->store,
                                unix_ms - (uint64_t) self->config.retain_ms,
                                NULL);
    if (unix_ms > (uint64_t) self->config.remember_ms)
        zmesh__inbox_forget (self->store,
                            unix_ms - (uint64_t) self->config.remember_ms);
    if (unix_ms > (uint64_t) self->config.replies_kept_ms)
        zmesh__inbox_forget_replies (
            self->store, unix_ms - (uint64_t) self->config.replies_kept_ms);
}

//  Once a heartbeat: a node that was busy during the last period and idle
//  during this one gives the memory the busy time took back to the
//  system. glibc's malloc keeps what was freed, in every thread's arena
//  (libzmq's I/O threads have theirs), so that a burst of garbage or load
//  would otherwise leave the process at its peak size for good.
static void
s_trim_when_idle (zmesh_node_t *self)
{
    const zmesh_node_stats_t *stats = &self->stats;
    uint64_t activity = stats->events_published + stats->events_received
                      + stats->bad_frames + stats->calls_served
                      + stats->calls_made + stats->events_replayed;
    if (activity != self->activity_seen) {
        self->activity_seen = activity;
        self->trim_due = true;
    }
    else if (self->trim_due) {
        self->trim_due = false;
#ifdef __GLIBC__
        malloc_trim (0);
#endif
    }
}

static void
s_run_timers (zmesh_node_t *self)
{
    s_bind_again (self);
    int64_t now = self->now_ms;
    if (now >= self->next_heartbeat_ms) {
        if (zmesh__publish_control (self, HEARTBEAT_TYPE) == ZMESH_OK)
            self->stats.heartbeats_sent++;
        if (self->store)
            s_retain (self);
        s_trim_when_idle (self);
        zmesh__links_repair (self);
        zmesh__admin_refresh (self);
        zmesh__otlp_flush (self);
        //  A node that has just started beats four times as often at
        //  first, to be heard as soon as its peers' sockets reconnect.
        self->next_heartbeat_ms = now + (self->stats.heartbeats_sent
                                         < HEARTBEATS_EARLY
                                         ? self->config.heartbeat_ms / 4
                                         : self->config.heartbeat_ms);
    }
    zmesh__discovery_forget (self, now);
    zmesh__peers_tick (self->peers, now, self->config.quiet_ms,
                       self->config.gone_ms, zmesh__discovery_peer_changed,
                       self);
    if (now >= zmesh__turn_due_ms (self))
        zmesh__turn_flush (self);
}

zmesh_err_t
zmesh_node_poll (zmesh_node_t *self, int timeout_ms)
{
    assert (self);
    //  The wait lasts until the first thing due: a heartbeat, the end of
    //  a publish group, a call's deadline or backoff.
    int64_t due = self->next_heartbeat_ms;
    int64_t now = zmesh_clock_mono_ms (self->clock);
    int64_t soon = now + 5;
    if ((*self->rebind [0] || *self->rebind [1] || *self->rebind [2])
        && soon < due)
        due = soon;                 //  A socket to bind again (s_rebind)
    int64_t group_due = zmesh__turn_due_ms (self);
    if (group_due < due)
        due = group_due;
    if (zmesh__call_due_ms (self) < due)
        due = zmesh__call_due_ms (self);
    if (zmesh__consume_due_ms (self) < due)
        due = zmesh__consume_due_ms (self);
    int64_t until = due - now;
    int wait = timeout_ms;
    if (wait < 0 || until < wait)
        wait = until <= 0 ? 0 : until > INT_MAX ? INT_MAX : (int) until;
    zmesh__publish_batch_flush (self);      //  Not to wait with us
    int ready = zmesh__pollset_wait (self->pollset, wait);
    //  The time of this turn, for its calls, consumers and timers
    self->now_us = zmesh_clock_mono_us (self->clock);
    self->now_ms = self->now_us / 1000;
    self->taken_us = 0;         //  Read when a record first wants it
    //  A stop signal, or the context going; any other signal (SIGHUP, say)
    //  only cuts the wait short.
    if (ready < 0 && !self->draining
        && (zsys_interrupted || zmq_errno () != EINTR))
        return ZMESH_ERR_INTERRUPTED;
    self->busy++;
    //  Take a bounded batch from each socket the wait found ready, so no
    //  peer can starve another socket or the timers.
    //  By index: a link may be made (and so the array grow) meanwhile
    for (size_t index = 0; ready > 0 && index < self->link_count; index++) {
        zmesh__link_t *link = self->links [index];
        for (int count = 0; link->socket_ready && count < DRAIN_MAX
                            && !self->stopped
                            && zmesh__subscribe_take (self, link);
             count++)
            ;
        if (link->monitor_ready)
            zmesh__link_watch (self, link);
    }
    for (int count = 0; self->router_ready && count < DRAIN_MAX
                        && !self->stopped && zmesh__serve_take (self);
         count++)
        ;
    zmesh__call_turn (self);
    zmesh__consume_turn (self);
    zmesh__turn_commit (self);
    for (int count = 0; self->gossip_ready && count < DRAIN_MAX
                        && (zsock_events (zactor_sock (self->gossip))
                            & ZMQ_POLLIN); count++)
        zmesh__discovery_gossip (self);
    s_run_timers (self);
    zmesh__turn_confirm_deliver (self);
    zmesh__publish_batch_flush (self);      //  What the turn published
    if (self->busy == 1)
        zmesh__links_sweep (self);      //  Links closed meanwhile
    self->busy--;
    return zsys_interrupted && !self->draining ? ZMESH_ERR_INTERRUPTED
                                               : ZMESH_OK;
}

zmesh_err_t
zmesh_node_reload_keys (zmesh_node_t *self, zmesh_detail_t *detail)
{
    assert (self);
    zmesh_detail_t why = {""};
    if (!zmesh__security_on (self->security))
        return ZMESH_OK;
    bool removed = false;
    zmesh_err_t rc = zmesh__security_reload (self->security, &removed, &why);
    if (rc == ZMESH_OK)
        zsys_info ("node %s: keys read again from %s%s", self->config.name,
                   self->config.security_keys,
                   removed ? "; keys were taken out, so every link to this "
                             "node is made again, through ZAP" : "");
    //  A key taken out may still be subscribed, or have a link to call on:
    //  every link goes, and those whose keys are still there come back
    //  (subscribers repair what they missed meanwhile, callers retry).
    if (rc == ZMESH_OK && removed) {
        s_rebind (self, 0, self->events_bound);
        s_rebind (self, 1, self->calls_bound);
        char *tap = self->tap ? zsock_last_endpoint (self->tap) : NULL;
        if (tap)
            s_rebind (self, 2, tap);
        zstr_free (&tap);
    }
    if (rc != ZMESH_OK)
        zsys_error ("node %s: keys not read again, those read before stay: "
                    "%s", self->config.name, why.text);
    if (detail)
        *detail = why;
    return rc;
}

zmesh_err_t
zmesh_node_drain (zmesh_node_t *self)
{
    assert (self);
    self->draining = true;
    zmesh__admin_refresh (self);        //  Not ready from now on
    zmesh__publish_control (self, BYE_TYPE);
    int64_t until = zmesh_clock_mono_ms (self->clock) + self->config.drain_ms;
    size_t left;
    //  Not the node's own repairs: what they brought is recorded as it
    //  comes, and the rest is asked for again by the next instance
    while ((left = zmesh__call_awaited (self) + zlistx_size (self->deferred))
           && zmesh_clock_mono_ms (self->clock) < until)
        zmesh_node_poll (self, 10);
    if (left)
        zsys_warning ("node %s: stopped with %zu calls and replies still "
                      "out after timing/drain", self->config.name, left);
    return left ? ZMESH_ERR_TIMEOUT : ZMESH_OK;
}

zmesh_err_t
zmesh_node_run (zmesh_node_t *self)
{
    assert (self);
    self->stopped = false;
    while (!self->stopped) {
        zmesh_err_t rc = zmesh_node_poll (self, self->config.heartbeat_ms);
        if (rc)
            return rc;
    }
    return ZMESH_OK;
}

void
zmesh_node_lock (zmesh_node_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    self->shared = true;
}

void
zmesh_node_unlock (zmesh_node_t *self)
{
    assert (self);
    zmesh__publish_batch_flush (self);
    pthread_mutex_unlock (&self->lock);
}

void
zmesh_node_stop (zmesh_node_t *self)
{
    assert (self);
    self->stopped = true;
}
