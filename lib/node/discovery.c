/*  discovery.c - peers: heartbeats, goodbyes and gossip.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  An endpoint as a peer may announce it: a ZeroMQ transport we use, and
//  short enough to keep whole.
static bool
s_endpoint_valid (const char *endpoint)
{
    size_t length = strnlen (endpoint, ZMESH_ENDPOINT_MAX + 1);
    return length > 6 && length <= ZMESH_ENDPOINT_MAX
        && (strncmp (endpoint, "tcp://", 6) == 0
            || strncmp (endpoint, "ipc://", 6) == 0);
}

//  Move the SUB link to peer name, of service, from old_events to events
//  (with security on, pinning the key of name).
static void
s_reconnect_events (zmesh_node_t *self, const char *name,
                    const char *service, const char *old_events,
                    const char *events)
{
    if (streq (old_events, events))
        return;
    if (*old_events)
        zmesh__link_close (self, old_events);
    zmesh_detail_t detail = {""};
    if (*events
        && zmesh__link_open (self, name, service, events, &detail)) {
        self->stats.links_failed++;
        zsys_error ("node %s: not connecting to %s yet: %s; trying again at "
                    "each heartbeat", self->config.name, events, detail.text);
    }
}

void
zmesh__discovery_peer_changed (const zmesh_peer_info_t *peer,
                               zmesh_peer_state_t was, void *arg)
{
    zmesh_node_t *self = arg;
    zsys_info ("node %s: peer %s (%s) %s -> %s", self->config.name,
               peer->service, peer->key, zmesh_peer_state_name (was),
               zmesh_peer_state_name (peer->state));
    //  A member of our group came or went: keys move (consume.c), at once
    if (streq (peer->service, self->config.group)
        && (peer->state == ZMESH_PEER_ALIVE || was == ZMESH_PEER_ALIVE)) {
        self->group_epoch++;
        self->settle_ms = 0;
    }
    //  Heard from again after a silence: its breaker probes at once
    zmesh_breaker_t *breaker = *peer->calls
                             ? zmesh_caller_breaker (self->caller,
                                                     peer->calls)
                             : NULL;
    if (breaker && peer->state == ZMESH_PEER_ALIVE
        && was != ZMESH_PEER_UNKNOWN)
        zmesh_breaker_wake (breaker);
}

bool
zmesh__discovery_add_peer (zmesh_node_t *self, const char *key,
                           const char *name, const char *service,
                           const char *events, const char *calls,
                           bool from_config)
{
    char old_events [ZMESH_ENDPOINT_MAX + 1];
    long index = zmesh__peers_upsert (self->peers, key, service, events,
                                      calls, from_config, old_events);
    if (index < 0) {
        zsys_error ("node %s: out of memory adding peer %s",
                    self->config.name, key);
        return false;
    }
    zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, (size_t) index);
    snprintf (peer->name, sizeof peer->name, "%s", name);
    s_reconnect_events (self, name, service, old_events, events);
    return true;
}

bool
zmesh__discovery_speaks_as (const char *name, const char *service,
                            const char *source)
{
    return streq (source, name) || streq (source, service);
}

//  Whether message (a heartbeat or goodbye) may speak for peer: a message
//  from a source the peer may not send as, naming its endpoint, is dropped
//  and counted, not obeyed.
static bool
s_speaks_for (zmesh_node_t *self, const zmesh_peer_info_t *peer,
              const zmesh_envelope_t *message)
{
    if (!*peer->service
        || zmesh__discovery_speaks_as (peer->name, peer->service,
                                       zmesh_envelope_source (message)))
        return true;
    zmesh__node_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                           "a control event from one service naming "
                           "another's endpoint");
    return false;
}

//  A peer that says goodbye is gone at once, not after timing/gone. One
//  learned through gossip is forgotten and disconnected too: if it comes
//  back, it comes back as a new instance, and gossip says so. A silent
//  peer, by contrast, stays connected, since it may only be cut off.
//
//  A configured peer that says goodbye is only quiet: it is most likely
//  restarting, and calls that find no other instance still go to it and
//  wait, within their deadlines, for it to come back.
void
zmesh__discovery_bye (zmesh_node_t *self, const zmesh_envelope_t *bye,
                      const zmesh__link_t *link)
{
    //  The peer is the one at the other end of the link, whatever the
    //  goodbye's header says
    char events [ZMESH_ENDPOINT_MAX + 1];
    snprintf (events, sizeof events, "%s", link->events);
    long index = zmesh__peers_find_events (self->peers, events);
    if (index < 0)
        return;
    zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, (size_t) index);
    if (!s_speaks_for (self, peer, bye))
        return;
    if (peer->from_config) {
        zmesh__peers_quiet (self->peers, (size_t) index,
                            zmesh__discovery_peer_changed, self);
        return;
    }
    zmesh__peers_gone (self->peers, (size_t) index,
                       zmesh__discovery_peer_changed, self);
    s_reconnect_events (self, peer->key, peer->service, events, "");
    zmesh__requester_forget (self->requester, peer->calls);
    zmesh__peers_remove (self->peers, (size_t) index);
}

//  The peer's instance is new: a restart, or another process at its
//  endpoint. Its breaker starts afresh, not with the open state the last
//  instance left, and the attempts still waiting on the last instance,
//  whose requests went with it, are made again at once.
static void
s_new_instance (zmesh_node_t *self, zmesh_peer_info_t *peer,
                const char *instance)
{
    if (*peer->instance) {
        zsys_info ("node %s: peer %s is a new instance, %.8s (was %.8s)",
                   self->config.name, peer->service, instance,
                   peer->instance);
        zmesh_breaker_t *breaker = *peer->calls
                                 ? zmesh_caller_breaker (self->caller,
                                                         peer->calls)
                                 : NULL;
        if (breaker)
            zmesh_breaker_reset (breaker);
        if (*peer->calls)
            zmesh__call_lost (self, peer->calls);
    }
    snprintf (peer->instance, sizeof peer->instance, "%s", instance);
}

void
zmesh__discovery_heartbeat (zmesh_node_t *self, const zmesh_envelope_t *beat,
                            const zmesh__link_t *link)
{
    const char *events = zmesh_envelope_header (beat, "events");
    const char *calls = zmesh_envelope_header (beat, "calls");
    const char *instance = zmesh_envelope_header (beat, "instance");
    if (!events || !calls || !instance) {
        zmesh__node_bad_frame (
            self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
            "heartbeat without instance, events or calls header");
        return;
    }
    if (!s_endpoint_valid (events) || !s_endpoint_valid (calls)) {
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                               "heartbeat with an endpoint that is not one");
        return;
    }
    //  An instance is a UUID: never a configured peer's label, which a
    //  learned peer must not take over.
    zmesh_uuid_t parsed;
    if (zmesh_uuid_parse (instance, &parsed) != ZMESH_OK) {
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                               "heartbeat whose instance is not a UUID");
        return;
    }
    self->stats.heartbeats_received++;
    //  The peer is the one at the other end of the link, however its
    //  heartbeat spells its endpoint (a host name for an address, say)
    long index = zmesh__peers_find_events (self->peers, link->events);
    if (index < 0)
        return;
    zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, (size_t) index);
    if (!s_speaks_for (self, peer, beat))
        return;
    //  Its group, as it says (a node of an older release says none), must
    //  be the service we know it as
    const char *group = zmesh_envelope_header (beat, "service");
    if (group && !streq (group, peer->service)) {
        char why [160];
        snprintf (why, sizeof why, "a heartbeat of service %.40s from a "
                  "peer configured as %.40s", group, peer->service);
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                               why);
        return;
    }
    if (!streq (peer->instance, instance))
        s_new_instance (self, peer, instance);
    if (!*peer->calls)
        snprintf (peer->calls, sizeof peer->calls, "%s", calls);
    zmesh__peers_heard (self->peers, (size_t) index,
                        zmesh_clock_mono_ms (self->clock),
                        zmesh__discovery_peer_changed, self);
    //  What it publishes as, and where to ask for its replays: the
    //  instance at the other end of the link
    const char *log = zmesh_envelope_header (beat, "log");
    zmesh__publisher_t *publisher
        = zhashx_lookup (self->durable, zmesh_envelope_source (beat));
    if (!publisher) {
        publisher = zmesh__calloc (1, sizeof *publisher);
        if (!publisher)
            return;
        zhashx_insert (self->durable, zmesh_envelope_source (beat),
                       publisher);
    }
    publisher->log = log && streq (log, "1");
    if (zmesh_envelope_seq (beat) > 0)
        publisher->tail = zmesh_envelope_seq (beat) - 1;
    snprintf (publisher->service, sizeof publisher->service, "%s",
              peer->service);
    snprintf (publisher->calls, sizeof publisher->calls, "%s", peer->calls);
    //  Not the other members of its group: their events are not for it
    if (zlistx_size (self->consumers)
        && !streq (peer->service, self->config.group)) {
        zmesh__consume_tail (self, beat);
        zmesh__consume_mates (self, peer->service,
                              zmesh_envelope_source (beat));
    }
}

//  Whether a peer left may send as source.
static bool
s_speaks_as_any (zmesh_node_t *self, const char *source)
{
    for (size_t index = 0; index < zmesh__peers_count (self->peers); index++) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (zmesh__discovery_speaks_as (peer->name, peer->service, source))
            return true;
    }
    return false;
}

void
zmesh__discovery_forget (zmesh_node_t *self, int64_t now_ms)
{
    int64_t after = (int64_t) self->config.gone_ms * FORGET_AFTER;
    for (size_t index = zmesh__peers_count (self->peers); index-- > 0;) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (peer->from_config || peer->state != ZMESH_PEER_GONE
            || now_ms - peer->last_heard_ms < after)
            continue;
        char names [2][ZMESH_ENVELOPE_SOURCE_MAX + 1];
        snprintf (names [0], sizeof names [0], "%s", peer->name);
        snprintf (names [1], sizeof names [1], "%s", peer->service);
        zsys_info ("node %s: forgot peer %s (%s), gone since %" PRId64
                   " ms", self->config.name, names [1], peer->key,
                   now_ms - peer->last_heard_ms);
        s_reconnect_events (self, peer->key, peer->service, peer->events, "");
        if (*peer->calls)
            zmesh__requester_forget (self->requester, peer->calls);
        zmesh__peers_remove (self->peers, index);
        //  What was kept by the names it sent as goes too, once no peer
        //  may send as them
        for (int which = 0; which < 2; which++)
            if (!s_speaks_as_any (self, names [which])) {
                zhashx_delete (self->durable, names [which]);
                zhashx_delete (self->positions, names [which]);
                zhashx_delete (self->pending, names [which]);
            }
    }
}

void
zmesh__discovery_gossip (zmesh_node_t *self)
{
    size_t prefix = strlen (ZMESH_GOSSIP_PREFIX);
    char *command = NULL, *key = NULL, *value = NULL;
    if (zstr_recvx (self->gossip, &command, &key, &value, NULL) < 0)
        return;
    //  Our own tuple comes back too; and others may share the directory.
    if (command && streq (command, "DELIVER") && key && value
        && strncmp (key, ZMESH_GOSSIP_PREFIX, prefix) == 0
        && !strstr (key, self->instance_text)) {
        char service [ZMESH_ENVELOPE_SOURCE_MAX + 1] = "";
        char events [ZMESH_ENDPOINT_MAX + 1] = "";
        char calls [ZMESH_ENDPOINT_MAX + 1] = "";
        char name [ZMESH_ENVELOPE_SOURCE_MAX + 1] = "";
        sscanf (key + prefix, "%64[A-Za-z0-9._-]", service);
        sscanf (value, "events=%255s calls=%255s name=%64[A-Za-z0-9._-]",
                events, calls, name);
        if (!*name)             //  A node that names no group of its own
            snprintf (name, sizeof name, "%s", service);
        if (!*service || !s_endpoint_valid (events) || !s_endpoint_valid (calls)
            || strlen (key) > ZMESH_ENDPOINT_MAX)
            zsys_warning ("node %s: ignored gossip %s = %s",
                          self->config.name, key, value);
        else if (zmesh__peers_find_events (self->peers, events) >= 0)
            ;                   //  Known already, from the config
        else if (zmesh__peers_count (self->peers) >= PEERS_MAX)
            zsys_warning ("node %s: knows %d peers, ignored %s",
                          self->config.name, PEERS_MAX, key);
        else {
            zmesh__discovery_add_peer (self, key, name, service, events,
                                       calls, false);
            long index = zmesh__peers_find_events (self->peers, events);
            if (index >= 0)
                zmesh__peers_at (self->peers, (size_t) index)->last_heard_ms =
                    zmesh_clock_mono_ms (self->clock);
        }
    }
    zstr_free (&command);
    zstr_free (&key);
    zstr_free (&value);
}

zmesh_err_t
zmesh__discovery_start_gossip (zmesh_node_t *self, zmesh_detail_t *detail)
{
    self->gossip = zactor_new (zgossip, self->config.name);
    if (!self->gossip) {
        zmesh__detail (detail, "cannot start the gossip actor");
        return ZMESH_ERR_SOCKET;
    }
    //  CZMQ's zgossip points the process's log at stdout unless it runs
    //  "in the background", where a program's data goes: logs go to
    //  stderr, as every zmesh program has them
    zstr_sendx (self->gossip, "SET", "server/background", "1", NULL);
    zsys_set_logstream (stderr);
    if (*self->config.gossip_bind)
        zstr_sendx (self->gossip, "BIND", self->config.gossip_bind, NULL);
    for (size_t index = 0; index < self->config.seed_count; index++)
        zstr_sendx (self->gossip, "CONNECT", self->config.seeds [index], NULL);
    char key [128], value [2 * ZMESH_ENDPOINT_MAX + 96];
    snprintf (key, sizeof key, ZMESH_GOSSIP_PREFIX "%s/%s",
              self->config.group, self->instance_text);
    snprintf (value, sizeof value, "events=%s calls=%s name=%s",
              self->events_endpoint, self->calls_endpoint, self->config.name);
    zstr_sendx (self->gossip, "PUBLISH", key, value, NULL);
    //  Asked at every wait: commands go to it
    if (zmesh__pollset_add (self->pollset, self->gossip,
                            &self->gossip_ready, true) != 0) {
        zactor_destroy (&self->gossip);
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    return ZMESH_OK;
}
