/*  node.c - the zmesh node runtime: events, calls, correlation, peers.

    Part of zmesh. MIT License.
*/
#include <ctype.h>
#include <pthread.h>
#include "zmesh_classes.h"
#include "peers.h"
#include "replay.h"
#include "requester.h"
#include "security.h"
#include "sockopt.h"
#include "store_db.h"
#include "trace.h"

#define HEARTBEAT_TYPE  "zmesh.heartbeat"
#define BYE_TYPE        "zmesh.bye"
#define DRAIN_MAX       100     //  Messages taken from one socket per poll
#define CONSUME_BATCH_MAX 1000  //  Consumed events one transaction holds
#define ROUTE_MAX       16      //  Instances considered for one call
#define PEERS_MAX       1024    //  Instances a node will learn of

//  A handler for events of a pattern: best effort or reliable.
typedef struct {
    char *pattern;              //  As given to subscribe or consume
    zmesh_event_fn *handler;    //  zmesh_node_subscribe's, or
    zmesh_consume_fn *consumer; //  zmesh_node_consume's
    void *arg;
} s_subscription_t;

typedef struct {
    zmesh_method_fn *handler;
    void *arg;
} s_method_t;

//  What the handler that is running was called for.
typedef struct {
    bool active;                //  A handler or a flow is running
    zmesh_uuid_t correlation;   //  Its flow
    bool has_cause;             //  Inside a handler: the message's id
    zmesh_uuid_t cause;
    bool has_deadline;          //  Inside a method: the caller's budget
    int64_t deadline_ms;        //  Monotonic
} s_context_t;

struct _zmesh_node_t {
    zmesh_node_config_t config;     //  Own copy
    zmesh_clock_t *clock;           //  Borrowed
    zmesh_rand_t *rand;             //  Borrowed, or owned_rand
    zmesh_rand_t *owned_rand;
    zmesh_uuid_t instance;          //  This process, for heartbeats, gossip
    char instance_text [ZMESH_UUID_STR_LEN + 1];
    zsock_t *pub;                   //  Events out
    zsock_t *sub;                   //  Events in, from every peer
    zsock_t *router;                //  Calls in
    zactor_t *gossip;               //  zgossip, when configured
    zpoller_t *poller;
    zmesh_requester_t *requester;   //  Calls out, a REQ link per attempt
    zmesh_caller_t *caller;         //  Breakers, retries, failover
    zhashx_t *policies;             //  service -> zmesh_call_policy_t
    zhashx_t *replies;              //  request id -> reply frame, for retries
    zlistx_t *reply_order;          //  Their ids, oldest first
    size_t reply_bytes;             //  Bytes of the frames kept
    zmesh_peers_t *peers;
    zmesh_store_t *store;           //  With node/data: the durable log
    zlistx_t *consumers;            //  s_subscription_t items, reliable
    zhashx_t *positions;            //  publisher -> uint64_t last consumed
    zhashx_t *durable;              //  publisher -> "1" keeps a log, "0" not
    zlistx_t *unsent;               //  Messages waiting for a commit
    zmesh_envelope_t *outgoing;     //  Reused by each live publish
    zmesh_envelope_t *incoming;     //  Reused for each event received
    bool incoming_busy;             //  A handler holds incoming
    zmesh_trace_t *trace;           //  The last trace/keep flow records
    zmesh_security_t *security;     //  CURVE, or off
    zsock_t *tap;                   //  The tap's PUB while it is on
    char tap_endpoint [ZMESH_ENDPOINT_MAX + 1];
    uint64_t made_us;               //  Unix time of the last message made
    bool batching;                  //  Inside the loop's transaction
    size_t consumed_uncommitted;    //  Events it holds
    zlistx_t *held;                 //  Replies waiting for its commit
    int64_t group_started_ms;       //  When its transaction began
    zlistx_t *subscriptions;        //  s_subscription_t items
    zhashx_t *methods;              //  name -> s_method_t
    char events_endpoint [ZMESH_ENDPOINT_MAX + 1];  //  Advertised
    char calls_endpoint [ZMESH_ENDPOINT_MAX + 1];   //  Advertised
    uint64_t seq;                   //  Last event sequence number used
    s_context_t context;            //  Of the running handler or flow
    int64_t next_heartbeat_ms;      //  Monotonic
    bool stopped;
    int busy;                       //  Running its own code: the loop, a
                                    //  repair, dead letters; their calls
                                    //  keep a shared node's lock
    pthread_mutex_t lock;           //  zmesh_node_lock's
    bool shared;                    //  Since the first zmesh_node_lock
    zmesh_node_stats_t stats;
    int64_t bad_logged_ms;          //  When a bad frame was last logged
    uint64_t bad_unlogged;          //  Bad frames since, not logged
};


static void
    s_consume_tail (zmesh_node_t *self, const zmesh_envelope_t *beat);
static void
    s_uncache_reply (zmesh_node_t *self, const char *key);
static void
    s_uuid_key (const zmesh_uuid_t *id, char *key);


//  ---------------------------------------------------------------------
//  Small helpers

static void
s_subscription_destroy (void **item_p)
{
    s_subscription_t *subscription = *item_p;
    if (subscription) {
        zmesh__free (subscription->pattern);
        zmesh__free (subscription);
        *item_p = NULL;
    }
}

//  A new subscription of pattern, or NULL if out of memory.
static s_subscription_t *
s_subscription_new (const char *pattern, void *arg)
{
    s_subscription_t *subscription = zmesh__calloc (1, sizeof *subscription);
    if (subscription
        && !(subscription->pattern = zmesh__strndup (pattern,
                                                     strlen (pattern)))) {
        zmesh__free (subscription);
        return NULL;
    }
    if (subscription)
        subscription->arg = arg;
    return subscription;
}

//  For containers of plain zmesh__alloc'd items.
static void
s_method_destroy (void **item_p)
{
    zmesh__free (*item_p);
    *item_p = NULL;
}

static void
s_frame_destroy (void **item_p)
{
    zframe_destroy ((zframe_t **) item_p);
}

static void
s_msg_destroy (void **item_p)
{
    zmsg_destroy ((zmsg_t **) item_p);
}

//  Bad input is counted always and logged once per burst: the first frame
//  of a burst, then a count of the rest at most once a second.
static void
s_bad_frame (zmesh_node_t *self, const char *where, zmesh_err_t rc,
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
static void
s_advertised (zmesh_node_t *self, zsock_t *socket, char *endpoint)
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

//  Move the SUB socket's connection to peer name from old_events to
//  events (with security on, to the key pinned for name).
static void
s_reconnect_events (zmesh_node_t *self, const char *name,
                    const char *old_events, const char *events)
{
    if (streq (old_events, events))
        return;
    if (*old_events)
        zsock_disconnect (self->sub, "%s", old_events);
    zmesh_detail_t detail = {""};
    if (*events
        && zmesh__security_client (self->security, self->sub, name, NULL,
                                   &detail))
        zsys_error ("node %s: not connecting to %s: %s", self->config.name,
                    events, detail.text);
    else if (*events && zsock_connect (self->sub, "%s", events) < 0)
        zsys_warning ("node %s: cannot connect to events at %s",
                      self->config.name, events);
}

//  A new REQ socket to endpoint: with security on, a CURVE client of the
//  peer whose calls endpoint it is.
static zmesh_err_t
s_prepare_request (zsock_t *socket, const char *endpoint, void *arg,
                   zmesh_detail_t *detail)
{
    zmesh_node_t *self = arg;
    if (!zmesh__security_on (self->security))
        return ZMESH_OK;
    for (size_t index = 0; index < zmesh__peers_count (self->peers); index++) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (streq (peer->calls, endpoint))
            return zmesh__security_client (self->security, socket, peer->key,
                                           peer->service, detail);
    }
    zmesh__detail (detail, "no peer has calls endpoint %s, so no key", endpoint);
    return ZMESH_ERR_CONFIG;
}

static void
s_peer_changed (const zmesh_peer_info_t *peer, zmesh_peer_state_t was,
                void *arg)
{
    zmesh_node_t *self = arg;
    zsys_info ("node %s: peer %s (%s) %s -> %s", self->config.name,
               peer->service, peer->key, zmesh_peer_state_name (was),
               zmesh_peer_state_name (peer->state));
}

static void
s_add_peer (zmesh_node_t *self, const char *key, const char *service,
            const char *events, const char *calls, bool from_config)
{
    char old_events [ZMESH_ENDPOINT_MAX + 1];
    if (zmesh__peers_upsert (self->peers, key, service, events, calls,
                             from_config, old_events) < 0) {
        zsys_error ("node %s: out of memory adding peer %s",
                    self->config.name, key);
        return;
    }
    s_reconnect_events (self, key, old_events, events);
}


//  ---------------------------------------------------------------------
//  Building and sending

//  A new message id, made at unix_ms: time-ordered, so that the store's
//  index of event ids takes each new one at its end instead of on a
//  random page.
static void
s_message_id (zmesh_node_t *self, uint64_t unix_ms, zmesh_uuid_t *id)
{
    zmesh_uuid_generate_v7 (self->rand, unix_ms, id);
}

//  Make envelope (reset to kind) a new message of type, carrying the flow
//  of the running handler or flow, or starting a flow of its own. False if
//  type is not a valid name.
static bool
s_envelope_fill (zmesh_node_t *self, zmesh_envelope_t *envelope,
                 zmesh_kind_t kind, const char *type)
{
    zmesh_envelope_reset (envelope, kind);
    //  One reading of the clock for the id, the timestamp and the trace
    self->made_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    uint64_t unix_ms = self->made_us / 1000;
    zmesh_uuid_t id;
    s_message_id (self, unix_ms, &id);
    zmesh_envelope_set_id (envelope, &id);
    if (self->context.active) {
        zmesh_envelope_set_correlation (envelope, &self->context.correlation);
        if (self->context.has_cause)
            zmesh_envelope_set_causation (envelope, &self->context.cause);
    }
    else {
        zmesh_uuid_t correlation;
        zmesh_uuid_generate (self->rand, &correlation);
        zmesh_envelope_set_correlation (envelope, &correlation);
    }
    zmesh_envelope_set_source (envelope, self->config.name);
    zmesh_envelope_set_timestamp (envelope, unix_ms);
    return zmesh_envelope_set_type (envelope, type) == ZMESH_OK;
}

//  A new envelope of kind and type, filled as s_envelope_fill does, or NULL.
static zmesh_envelope_t *
s_envelope_new (zmesh_node_t *self, zmesh_kind_t kind, const char *type)
{
    zmesh_envelope_t *envelope = zmesh_envelope_new (kind);
    if (envelope && !s_envelope_fill (self, envelope, kind, type))
        zmesh_envelope_destroy (&envelope);
    return envelope;
}

//  ---------------------------------------------------------------------
//  Tracing and the tap (trace.h)

//  The status of a call as a trace shows it: "ok", or the error's name in
//  lower case ("timeout", "circuit_open", "app_error", ...).
static void
s_status_name (zmesh_err_t rc, char *text, size_t size)
{
    const char *name = rc == ZMESH_OK ? "ok" : zmesh_errname (rc);
    if (strncmp (name, "ERR_", 4) == 0)
        name += 4;
    size_t index = 0;
    for (; name [index] && index + 1 < size; index++)
        text [index] = (char) tolower ((unsigned char) name [index]);
    text [index] = 0;
}

//  What a reply says, as the caller would see it.
static zmesh_err_t
s_reply_rc (const zmesh_envelope_t *reply)
{
    if (!reply || zmesh_envelope_status (reply) == ZMESH_STATUS_OK)
        return ZMESH_OK;
    return zmesh_caller_reply_error (reply);
}

//  Remember one flow record of envelope (an event, or a call's request)
//  and, for calls while the tap is on, mirror it there with both
//  envelopes: [what] [record] [request] [reply or empty].
static void
s_trace (zmesh_node_t *self, zmesh_trace_what_t what,
         const zmesh_envelope_t *envelope, const char *peer, zmesh_err_t rc,
         uint64_t at_us, uint64_t latency_us, const zmesh_envelope_t *reply)
{
    //  Filled in place, field by field: this runs for every event
    zmesh_trace_record_t spare, *record = zmesh__trace_slot (self->trace);
    if (!record) {
        if (!self->tap)
            return;
        record = &spare;
    }
    record->what = what;
    record->at_us = at_us;
    record->latency_us = latency_us;
    record->seq = zmesh_envelope_seq (envelope);
    record->id = *zmesh_envelope_id (envelope);
    record->correlation = *zmesh_envelope_correlation (envelope);
    const zmesh_uuid_t *cause = zmesh_envelope_causation (envelope);
    record->has_causation = cause != NULL;
    if (cause)
        record->causation = *cause;
    //  Both fit: an envelope's type and source are checked names
    strcpy (record->name, zmesh_envelope_type (envelope));
    size_t length = strnlen (peer, sizeof record->peer - 1);
    memcpy (record->peer, peer, length);
    record->peer [length] = 0;
    s_status_name (rc, record->status, sizeof record->status);
    if (self->config.verbose) {
        //  node/verbose: every record of the flows, one line each
        char cid [ZMESH_UUID_STR_LEN + 1];
        zmesh_uuid_unparse (&record->correlation, cid);
        zsys_debug ("node %s: %s %s%s%s, %s, %" PRIu64 " us, cid %.8s",
                    self->config.name, zmesh__trace_what_name (what),
                    record->name,
                    !*record->peer ? ""
                    : what == ZMESH_TRACE_MADE ? " -> " : " <- ",
                    record->peer, record->status, latency_us, cid);
    }
    if (!self->tap || (what != ZMESH_TRACE_MADE && what != ZMESH_TRACE_SERVED))
        return;
    json_t *json = zmesh__trace_json (record, self->config.name);
    void *data = NULL;
    size_t size = 0;
    zframe_t *request = NULL, *answer = NULL;
    if (json && zmesh_json_to_msgpack (json, &data, &size, NULL) == ZMESH_OK
        && zmesh_envelope_encode (envelope, &request, NULL) == ZMESH_OK) {
        if (reply)
            zmesh_envelope_encode (reply, &answer, NULL);
        zmsg_t *msg = zmsg_new ();
        zmsg_addstr (msg, zmesh__trace_what_name (what));
        zmsg_addmem (msg, data, size);
        zmsg_append (msg, &request);
        if (answer)
            zmsg_append (msg, &answer);
        else
            zmsg_addmem (msg, NULL, 0);
        if (zmsg_send (&msg, self->tap) != 0)
            zmsg_destroy (&msg);
    }
    zframe_destroy (&request);
    free (data);
    json_decref (json);
}

//  Switch the tap on (bind tap/bind) or off (close it).
static zmesh_err_t
s_tap_switch (zmesh_node_t *self, bool on, zmesh_detail_t *detail)
{
    if (!on) {
        zsock_destroy (&self->tap);
        *self->tap_endpoint = 0;
        return ZMESH_OK;
    }
    if (self->tap)
        return ZMESH_OK;
    self->tap = zmesh__socket_new (ZMQ_PUB, &self->config);
    if (!self->tap
        || zmesh__security_server (self->security, self->tap, detail)
        || zsock_bind (self->tap, "%s", self->config.tap_bind) < 0) {
        zmesh__detail (detail, "tap/bind: cannot bind %s: %s",
                       self->config.tap_bind, zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->tap);
        return ZMESH_ERR_SOCKET;
    }
    s_advertised (self, self->tap, self->tap_endpoint);
    return ZMESH_OK;
}

//  The message of an event: its topic frame and the encoded envelope
//  (frame, taken).
static zmsg_t *
s_event_msg (const char *type, bool control, zframe_t **frame_p)
{
    char topic [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh_topic_format (type, control, topic);
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, topic, topic_size);
    zmsg_append (msg, frame_p);
    return msg;
}

//  Send on PUB, which never blocks; the message is taken either way.
static zmesh_err_t
s_send_msg (zmesh_node_t *self, zmsg_t **msg_p)
{
    if (zmsg_send (msg_p, self->pub) == 0)
        return ZMESH_OK;
    zmsg_destroy (msg_p);
    return ZMESH_ERR_SOCKET;
}

//  Encode event and send it after its topic frame, straight from the
//  stack: this is the path every live event takes.
static zmesh_err_t
s_send_event (zmesh_node_t *self, zmesh_envelope_t *event, bool control)
{
    zmq_msg_t msg;
    zmesh_err_t rc = zmesh_envelope_encode_msg (event, &msg, NULL);
    if (rc)
        return rc;
    char topic [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh_topic_format (zmesh_envelope_type (event),
                                            control, topic);
    void *pub = zsock_resolve (self->pub);
    if (zmq_send (pub, topic, topic_size, ZMQ_SNDMORE) < 0
        || zmq_msg_send (&msg, pub, 0) < 0) {
        zmq_msg_close (&msg);
        return ZMESH_ERR_SOCKET;
    }
    return ZMESH_OK;
}

//  The envelope of a stored event, as its publisher sends it.
static zmesh_envelope_t *
s_envelope_of (zmesh_node_t *self, const zmesh_stored_event_t *stored)
{
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    if (!event)
        return NULL;
    zmesh_envelope_set_id (event, &stored->id);
    zmesh_envelope_set_correlation (event, &stored->correlation);
    if (stored->has_causation)
        zmesh_envelope_set_causation (event, &stored->causation);
    zmesh_envelope_set_source (event, self->config.name);
    zmesh_envelope_set_timestamp (event, stored->timestamp);
    zmesh_envelope_set_seq (event, stored->position);
    if (zmesh_envelope_set_type (event, stored->type) != ZMESH_OK
        || zmesh_envelope_set_body (event, stored->body, stored->body_size)
               != ZMESH_OK)
        zmesh_envelope_destroy (&event);
    return event;
}

//  After a commit, send the events it made durable; after a failure,
//  drop them and take the sequence back from the store.
static void
s_send_unsent (zmesh_node_t *self, bool committed)
{
    if (!committed) {
        zlistx_purge (self->unsent);
        zmesh_store_head (self->store, &self->seq);
        return;
    }
    zmsg_t *msg;
    while ((msg = zlistx_detach (self->unsent, NULL)))
        if (s_send_msg (self, &msg) == ZMESH_OK)
            self->stats.events_published++;
}

//  Group commit (events/group > 1): commit the open transaction, then
//  send what it held. Events are never sent before they are committed: a
//  crash must not take back a sequence number a subscriber has seen.
static zmesh_err_t
s_flush_group (zmesh_node_t *self)
{
    if (!self->group_started_ms)
        return ZMESH_OK;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_commit (self->store, &detail);
    self->group_started_ms = 0;
    if (rc) {
        zsys_error ("node %s: group commit failed, %zu events lost: %s",
                    self->config.name, zlistx_size (self->unsent), detail.text);
        zmesh_store_rollback (self->store);
    }
    s_send_unsent (self, rc == ZMESH_OK);
    return rc;
}

zmesh_err_t
zmesh_node_append (zmesh_node_t *self, const char *stream, int64_t expected,
                   const zmesh_new_event_t *events, size_t count,
                   zmesh_append_result_t *result, zmesh_detail_t *detail)
{
    assert (self && events && result);
    if (!self->store) {
        zmesh__detail (detail, "node %s has no store: set node/data",
                       self->config.name);
        return ZMESH_ERR_INVALID;
    }
    //  Fill in what the caller left empty, as publish would.
    zmesh_new_event_t *filled = zmesh__calloc (count ? count : 1,
                                               sizeof *filled);
    if (!filled)
        return ZMESH_ERR_NOMEM;
    uint64_t unix_ms = (uint64_t) zmesh_clock_unix_ms (self->clock);
    for (size_t index = 0; index < count; index++) {
        filled [index] = events [index];
        if (zmesh_uuid_is_nil (&filled [index].id))
            s_message_id (self, unix_ms, &filled [index].id);
        if (zmesh_uuid_is_nil (&filled [index].correlation)) {
            if (self->context.active)
                filled [index].correlation = self->context.correlation;
            else
                zmesh_uuid_generate (self->rand, &filled [index].correlation);
        }
        if (!filled [index].causation && self->context.has_cause)
            filled [index].causation = &self->context.cause;
        if (!filled [index].timestamp)
            filled [index].timestamp = unix_ms;
    }
    //  Inside the loop's transaction (a consumer's or a handler's) the
    //  events wait for its commit too.
    bool grouped = self->config.group_events > 1 || self->batching;
    zmesh_err_t rc = ZMESH_OK;
    if (grouped && !self->batching && !self->group_started_ms) {
        rc = zmesh_store_begin (self->store, detail);
        if (rc == ZMESH_OK)
            self->group_started_ms = zmesh_clock_mono_ms (self->clock);
    }
    if (rc == ZMESH_OK)
        rc = zmesh_store_append (self->store, stream, expected, filled, count,
                                 result, detail);
    //  Committed (or, grouped, to be committed first): now send. Were the
    //  process to die in between, subscribers would see the next heartbeat
    //  ahead of them and have the events replayed.
    for (size_t index = 0; rc == ZMESH_OK && !result->duplicate
                           && index < count; index++) {
        zmesh_stored_event_t stored = {
            .position = result->first_position + index,
            .id = filled [index].id,
            .type = filled [index].type,
            .body = filled [index].body,
            .body_size = filled [index].body_size,
            .correlation = filled [index].correlation,
            .has_causation = filled [index].causation != NULL,
            .timestamp = filled [index].timestamp};
        if (filled [index].causation)
            stored.causation = *filled [index].causation;
        zmesh_envelope_t *event = s_envelope_of (self, &stored);
        if (event)
            s_trace (self, ZMESH_TRACE_PUBLISHED, event, "", ZMESH_OK,
                     (uint64_t) zmesh_clock_unix_us (self->clock), 0, NULL);
        zframe_t *frame = NULL;
        if (event && zmesh_envelope_encode (event, &frame, NULL) == ZMESH_OK) {
            zmsg_t *msg = s_event_msg (stored.type, false, &frame);
            if (grouped)
                zlistx_add_end (self->unsent, msg);
            else if (s_send_msg (self, &msg) == ZMESH_OK)
                self->stats.events_published++;
        }
        zmesh_envelope_destroy (&event);
        self->seq = stored.position;
    }
    zmesh__free (filled);
    if (grouped && !self->batching
        && (rc != ZMESH_OK
            || zlistx_size (self->unsent) >= (size_t) self->config.group_events))
        s_flush_group (self);
    return rc;
}

zmesh_err_t
zmesh_node_flush (zmesh_node_t *self)
{
    assert (self);
    return s_flush_group (self);
}

zmesh_err_t
zmesh_node_publish (zmesh_node_t *self, const char *type, const void *body,
                    size_t body_size)
{
    assert (self);
    if (self->store) {
        if (!zmesh_envelope_name_valid (type, ZMESH_ENVELOPE_TYPE_MAX))
            return ZMESH_ERR_ENVELOPE_BAD_NAME;
        zmesh_new_event_t event = {.type = type, .body = body,
                                   .body_size = body_size};
        zmesh_append_result_t result;
        return zmesh_node_append (self, self->config.name, ZMESH_VERSION_ANY,
                                  &event, 1, &result, NULL);
    }
    zmesh_envelope_t *event = self->outgoing;
    if (!s_envelope_fill (self, event, ZMESH_KIND_EVENT, type))
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    zmesh_err_t rc = body_size
                     ? zmesh_envelope_set_body (event, body, body_size)
                     : ZMESH_OK;
    if (rc == ZMESH_OK) {
        zmesh_envelope_set_seq (event, self->seq + 1);
        rc = s_send_event (self, event, false);
    }
    if (rc == ZMESH_OK) {
        self->seq++;
        self->stats.events_published++;
        s_trace (self, ZMESH_TRACE_PUBLISHED, event, "", ZMESH_OK,
                 self->made_us, 0, NULL);
    }
    return rc;
}

//  A control event (heartbeat or bye) says who we are, where to reach us,
//  and the sequence number our next event will get. All of one instance's
//  control events share one correlation id: the instance id.
static zmesh_err_t
s_send_control (zmesh_node_t *self, const char *type)
{
    s_context_t saved = self->context;
    self->context.active = true;
    self->context.correlation = self->instance;
    self->context.has_cause = false;
    zmesh_envelope_t *control = s_envelope_new (self, ZMESH_KIND_EVENT, type);
    self->context = saved;
    if (!control)
        return ZMESH_ERR_NOMEM;
    zmesh_envelope_set_seq (control, self->seq + 1);
    zmesh_envelope_set_header (control, "instance", self->instance_text);
    zmesh_envelope_set_header (control, "events", self->events_endpoint);
    zmesh_envelope_set_header (control, "calls", self->calls_endpoint);
    if (self->store)
        zmesh_envelope_set_header (control, "log", "1");
    zmesh_err_t rc = s_send_event (self, control, true);
    zmesh_envelope_destroy (&control);
    return rc;
}


//  ---------------------------------------------------------------------
//  Events in

//  A peer that says goodbye is gone at once, not after timing/gone. One
//  learned through gossip is forgotten and disconnected too: if it comes
//  back, it comes back as a new instance, and gossip says so. A silent
//  peer, by contrast, stays connected, since it may only be cut off.
static void
s_on_bye (zmesh_node_t *self, const zmesh_envelope_t *bye)
{
    const char *events = zmesh_envelope_header (bye, "events");
    long index = events ? zmesh__peers_find_events (self->peers, events) : -1;
    if (index < 0)
        return;
    zmesh__peers_gone (self->peers, (size_t) index, s_peer_changed, self);
    zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, (size_t) index);
    if (!peer->from_config) {
        s_reconnect_events (self, peer->key, events, "");
        zmesh__requester_forget (self->requester, peer->calls);
        zmesh__peers_remove (self->peers, (size_t) index);
    }
}

static void
s_on_heartbeat (zmesh_node_t *self, const zmesh_envelope_t *beat)
{
    const char *events = zmesh_envelope_header (beat, "events");
    const char *calls = zmesh_envelope_header (beat, "calls");
    const char *instance = zmesh_envelope_header (beat, "instance");
    if (!events || !calls || !instance) {
        s_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                     "heartbeat without instance, events or calls header");
        return;
    }
    if (!s_endpoint_valid (events) || !s_endpoint_valid (calls)) {
        s_bad_frame (self, "events", ZMESH_ERR_ENVELOPE_BAD_HEADER,
                     "heartbeat with an endpoint that is not one");
        return;
    }
    self->stats.heartbeats_received++;
    long index = zmesh__peers_find_events (self->peers, events);
    if (index < 0) {
        //  We reach it through an endpoint spelled otherwise (a host name
        //  for an address): we already receive from it, so learn it under
        //  its instance id without connecting a second time.
        char old_events [ZMESH_ENDPOINT_MAX + 1];
        if (zmesh__peers_count (self->peers) >= PEERS_MAX)
            return;
        index = zmesh__peers_upsert (self->peers, instance,
                                     zmesh_envelope_source (beat), events,
                                     calls, false, old_events);
        if (index < 0)
            return;
    }
    zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, (size_t) index);
    if (!*peer->calls)
        snprintf (peer->calls, sizeof peer->calls, "%s", calls);
    zmesh__peers_heard (self->peers, (size_t) index,
                        zmesh_clock_mono_ms (self->clock), s_peer_changed,
                        self);
    const char *log = zmesh_envelope_header (beat, "log");
    zhashx_update (self->durable, zmesh_envelope_source (beat),
                   log && streq (log, "1") ? "1" : "0");
    if (zlistx_size (self->consumers))
        s_consume_tail (self, beat);
}

static void
s_dispatch_event (zmesh_node_t *self, const zmesh_envelope_t *event)
{
    s_context_t saved = self->context;
    self->context.active = true;
    self->context.correlation = *zmesh_envelope_correlation (event);
    self->context.has_cause = true;
    self->context.cause = *zmesh_envelope_id (event);
    self->context.has_deadline = false;
    self->stats.events_received++;
    const char *type = zmesh_envelope_type (event);
    //  Traced once, if a handler takes it (reliable consumers trace
    //  theirs as they consume, replayed ones too)
    s_subscription_t *subscription = zlistx_first (self->subscriptions);
    while (subscription && !zmesh_topic_matches (subscription->pattern, type))
        subscription = zlistx_next (self->subscriptions);
    if (subscription)
        s_trace (self, ZMESH_TRACE_RECEIVED, event,
                 zmesh_envelope_source (event), ZMESH_OK,
                 (uint64_t) zmesh_clock_unix_us (self->clock), 0, NULL);
    subscription = zlistx_first (self->subscriptions);
    while (subscription) {
        if (zmesh_topic_matches (subscription->pattern, type))
            subscription->handler (self, event, subscription->arg);
        subscription = zlistx_next (self->subscriptions);
    }
    self->context = saved;
}

//  ---------------------------------------------------------------------
//  Reliable consumers

//  The last sequence consumed from publisher, from memory or the store.
static uint64_t *
s_position (zmesh_node_t *self, const char *publisher, bool *known)
{
    uint64_t *last = zhashx_lookup (self->positions, publisher);
    *known = last != NULL;
    if (last)
        return last;
    uint64_t saved = 0;
    if (zmesh_inbox_position (self->store, publisher, &saved, known)
        != ZMESH_OK)
        return NULL;
    last = zmesh__alloc (sizeof *last);
    if (!last)
        return NULL;
    *last = saved;
    zhashx_insert (self->positions, publisher, last);
    return last;
}

//  Run every matching consumer on event, each up to events/attempts times
//  with backoff, inside a savepoint per try so a failed try leaves no
//  writes. Returns ZMESH_OK, or the last error of a consumer that gave up
//  (with detail).
static zmesh_err_t
s_run_consumers (zmesh_node_t *self, const zmesh_envelope_t *event,
                 int *attempts, zmesh_detail_t *detail)
{
    s_context_t saved = self->context;
    self->context.active = true;
    self->context.correlation = *zmesh_envelope_correlation (event);
    self->context.has_cause = true;
    self->context.cause = *zmesh_envelope_id (event);
    self->context.has_deadline = false;
    zmesh_err_t rc = ZMESH_OK;
    *attempts = 0;
    s_subscription_t *consumer = zlistx_first (self->consumers);
    for (; consumer && rc == ZMESH_OK;
         consumer = zlistx_next (self->consumers)) {
        if (!zmesh_topic_matches (consumer->pattern,
                                  zmesh_envelope_type (event)))
            continue;
        for (int attempt = 1; attempt <= self->config.handler_attempts;
             attempt++) {
            *attempts = attempt;
            if (attempt > 1)
                zmesh_clock_sleep (self->clock, (int64_t)
                                   self->config.handler_retry_ms
                                   << (attempt - 2));
            zmesh__store_exec (self->store, "SAVEPOINT consume", NULL);
            size_t queued = zlistx_size (self->unsent);
            uint64_t seq = self->seq;
            rc = consumer->consumer (self, event, consumer->arg, detail);
            zmesh__store_exec (self->store, rc == ZMESH_OK
                               ? "RELEASE consume"
                               : "ROLLBACK TO consume; RELEASE consume", NULL);
            if (rc == ZMESH_OK)
                break;
            //  What the failed try published was rolled back: unsend it.
            while (zlistx_size (self->unsent) > queued) {
                zlistx_last (self->unsent);
                zmsg_t *msg = zlistx_detach_cur (self->unsent);
                zmsg_destroy (&msg);
            }
            self->seq = seq;
        }
    }
    self->context = saved;
    return rc;
}

//  Send the replies held for the loop's commit. If it failed, each becomes
//  a mesh error (unavailable, retry after a second) and leaves the reply
//  cache, so that the caller's retry runs the handler again.
static void
s_send_held (zmesh_node_t *self, bool committed)
{
    zmsg_t *msg;
    while ((msg = zlistx_detach (self->held, NULL))) {
        zframe_t *frame = zmsg_last (msg);
        zmesh_envelope_t *reply = NULL;
        if (!committed
            && zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                      &reply, NULL) == ZMESH_OK) {
            char key [2 * ZMESH_UUID_SIZE + 1];
            if (zmesh_envelope_causation (reply)) {
                s_uuid_key (zmesh_envelope_causation (reply), key);
                s_uncache_reply (self, key);
            }
            zmesh_envelope_set_body (reply, NULL, 0);
            zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                       ZMESH_MESH_UNAVAILABLE,
                                       "the reply could not be made durable, "
                                       "retry after 1000 ms");
            zmesh_envelope_set_header (reply, "retry-after-ms", "1000");
            zframe_t *error = NULL;
            if (zmesh_envelope_encode (reply, &error, NULL) == ZMESH_OK) {
                zmsg_remove (msg, frame);
                zframe_destroy (&frame);
                zmsg_append (msg, &error);
            }
            zmesh_envelope_destroy (&reply);
        }
        if (zmsg_send (&msg, self->router) != 0)
            zmsg_destroy (&msg);    //  The caller is gone
    }
}

//  Open the loop's transaction, unless it is open: the events and calls
//  one turn of the loop takes share it (s_batch_commit). False if the
//  store cannot begin one.
static bool
s_batch_begin (zmesh_node_t *self)
{
    if (self->batching)
        return true;
    s_flush_group (self);
    zmesh_detail_t detail = {""};
    if (zmesh_store_begin (self->store, &detail) != ZMESH_OK) {
        zsys_error ("node %s: cannot begin a transaction: %s",
                    self->config.name, detail.text);
        return false;
    }
    self->batching = true;
    return true;
}

//  What one turn of the loop did is committed together: the events it
//  consumed and the calls it served, so that one fsync covers many under
//  load and one when idle. The events they published and the replies are
//  sent after the commit. If it fails, no event is sent, every reply
//  becomes an error, and the positions are read back from the store, so
//  that the lost events come again by replay.
static void
s_batch_commit (zmesh_node_t *self)
{
    if (!self->batching)
        return;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_commit (self->store, &detail);
    self->batching = false;
    if (rc == ZMESH_OK)
        self->stats.batch_commits++;
    else {
        zmesh_store_rollback (self->store);
        //  In place: a repair in progress holds a pointer to its position
        for (uint64_t *last = zhashx_first (self->positions); last;
             last = zhashx_next (self->positions)) {
            bool known = false;
            *last = 0;
            zmesh_inbox_position (self->store, zhashx_cursor (self->positions),
                                  last, &known);
        }
        zsys_error ("node %s: could not commit %zu consumed events, which "
                    "will be replayed, and %zu replies, which are errors: %s",
                    self->config.name, self->consumed_uncommitted,
                    zlistx_size (self->held), detail.text);
    }
    self->consumed_uncommitted = 0;
    s_send_unsent (self, rc == ZMESH_OK);
    s_send_held (self, rc == ZMESH_OK);
}

//  Handle one event of publisher's, which must be the next in its order:
//  run the consumers (or bury the event if they give up), and record it
//  processed and the position moved, all in one savepoint of the loop's
//  transaction (s_batch_commit). last is NULL for a publisher that keeps
//  no log: its sequence numbers start again when it restarts, so only
//  event ids keep repeats out.
static void
s_consume (zmesh_node_t *self, const char *publisher, uint64_t *last,
           const zmesh_envelope_t *event, const void *frame, size_t size)
{
    uint64_t seq = zmesh_envelope_seq (event);
    zmesh_detail_t detail = {""};
    if (self->consumed_uncommitted >= CONSUME_BATCH_MAX)
        s_batch_commit (self);      //  A long replay commits as it goes
    if (!s_batch_begin (self))
        return;
    zmesh__store_exec (self->store, "SAVEPOINT event", NULL);
    size_t queued = zlistx_size (self->unsent);
    uint64_t published = self->seq;
    bool seen = false;
    zmesh_err_t rc = zmesh_inbox_seen (self->store, zmesh_envelope_id (event),
                                       &seen);
    if (rc == ZMESH_OK && seen)
        self->stats.events_repeated++;
    else if (rc == ZMESH_OK) {
        int attempts = 0;
        uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
        zmesh_err_t handled = s_run_consumers (self, event, &attempts, &detail);
        s_trace (self, ZMESH_TRACE_RECEIVED, event, publisher, handled, at_us,
                 0, NULL);
        if (handled == ZMESH_OK)
            self->stats.events_consumed++;
        else {
            zmesh_dead_letter_t letter = {
                .event_id = *zmesh_envelope_id (event), .publisher = publisher,
                .seq = seq, .envelope = frame, .envelope_size = size,
                .error = detail.text, .attempts = attempts,
                .at = (uint64_t) zmesh_clock_unix_ms (self->clock)};
            rc = zmesh_inbox_bury (self->store, &letter);
            self->stats.dead_letters++;
            zsys_warning ("node %s: %s from %s (seq %" PRIu64 ") buried after "
                          "%d attempts: %s", self->config.name,
                          zmesh_envelope_type (event), publisher, seq, attempts,
                          detail.text);
        }
        if (rc == ZMESH_OK)
            rc = zmesh_inbox_mark (self->store, zmesh_envelope_id (event),
                                   (uint64_t) zmesh_clock_unix_ms (self->clock));
    }
    if (rc == ZMESH_OK && last)
        rc = zmesh_inbox_set_position (self->store, publisher, seq);
    zmesh__store_exec (self->store, rc == ZMESH_OK
                       ? "RELEASE event"
                       : "ROLLBACK TO event; RELEASE event", NULL);
    if (rc == ZMESH_OK) {
        self->consumed_uncommitted++;
        if (last)
            *last = seq;
    }
    else {
        //  What its consumers published goes with it
        while (zlistx_size (self->unsent) > queued) {
            zlistx_last (self->unsent);
            zmsg_t *msg = zlistx_detach_cur (self->unsent);
            zmsg_destroy (&msg);
        }
        self->seq = published;
        zsys_error ("node %s: could not record seq %" PRIu64 " of %s: %s",
                    self->config.name, seq, publisher,
                    zmesh_strerror (rc));
    }
}

typedef struct {
    zmesh_node_t *node;
    const char *publisher;
    uint64_t *last;
} s_repair_t;

//  One replayed frame: it must be the publisher's next event.
static zmesh_err_t
s_replayed (const void *frame, size_t size, void *arg)
{
    s_repair_t *repair = arg;
    zmesh_envelope_t *event = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_envelope_decode (frame, size, &event, &detail);
    if (rc == ZMESH_OK
        && (zmesh_envelope_kind (event) != ZMESH_KIND_EVENT
            || !streq (zmesh_envelope_source (event), repair->publisher)))
        rc = ZMESH_ERR_BAD_REPLY;
    if (rc == ZMESH_OK && zmesh_envelope_seq (event) > *repair->last) {
        if (zmesh_envelope_seq (event) == *repair->last + 1) {
            repair->node->stats.events_replayed++;
            s_consume (repair->node, repair->publisher, repair->last, event,
                       frame, size);
        }
        else
            rc = ZMESH_ERR_BAD_REPLY;   //  A hole in the replay itself
    }
    if (rc)
        s_bad_frame (repair->node, "replay", rc, detail.text);
    zmesh_envelope_destroy (&event);
    return rc;
}

//  Fill the gap after *last up to to, from the publisher's log.
static void
s_repair_range (zmesh_node_t *self, const char *publisher, uint64_t *last,
                uint64_t to)
{
    s_repair_t repair = {self, publisher, last};
    while (*last < to) {
        uint8_t request [32];
        size_t size = zmesh__replay_request (*last + 1, to, request);
        zmesh_envelope_t *reply = NULL;
        zmesh_detail_t detail = {""};
        zmesh_err_t rc = zmesh_node_call (self, publisher, ZMESH_REPLAY_METHOD,
                                          request, size, 0, &reply, &detail);
        if (rc == ZMESH_ERR_APP_ERROR
            && zmesh_envelope_error_code (reply) == ZMESH_REPLAY_TRIMMED) {
            //  Gone for good: say so, and go on from what is left.
            const char *earliest = zmesh_envelope_header (reply, "earliest");
            uint64_t from = earliest ? strtoull (earliest, NULL, 10) : 0;
            zsys_error ("node %s: %s trimmed seq %" PRIu64 " to %" PRIu64
                        " before we had it: lost", self->config.name,
                        publisher, *last + 1, from - 1);
            self->stats.ranges_trimmed++;
            zmesh_envelope_destroy (&reply);
            if (from <= *last + 1)
                return;
            *last = from - 1;
            zmesh_inbox_set_position (self->store, publisher, *last);
            continue;
        }
        if (rc != ZMESH_OK) {
            self->stats.replays_failed++;
            zsys_warning ("node %s: replay of %s from %" PRIu64 " failed: %s "
                          "%s", self->config.name, publisher, *last + 1,
                          zmesh_strerror (rc), detail.text);
            zmesh_envelope_destroy (&reply);
            return;             //  The next heartbeat tries again
        }
        uint64_t next = 0, before = *last;
        rc = zmesh__replay_reply_read (zmesh_envelope_body (reply),
                                       zmesh_envelope_body_size (reply), &next,
                                       s_replayed, &repair);
        zmesh_envelope_destroy (&reply);
        if (rc != ZMESH_OK || *last == before)
            return;             //  No progress: do not spin
    }
}

//  Repair, and say in one line what was repaired.
static void
s_repair (zmesh_node_t *self, const char *publisher, uint64_t *last,
          uint64_t to)
{
    uint64_t before = *last;
    //  Its calls keep a shared node's lock: last points into positions.
    self->busy++;
    s_repair_range (self, publisher, last, to);
    self->busy--;
    if (*last > before)
        zsys_info ("node %s: repaired seq %" PRIu64 " to %" PRIu64 " of %s "
                   "by replay", self->config.name, before + 1, *last,
                   publisher);
}

//  A live event from a publisher: consume it in order, repairing the gap
//  before it first if there is one.
static void
s_consume_live (zmesh_node_t *self, const zmesh_envelope_t *event,
                const void *data, size_t size)
{
    const char *publisher = zmesh_envelope_source (event);
    uint64_t seq = zmesh_envelope_seq (event);
    const char *durable = zhashx_lookup (self->durable, publisher);
    //  Until its first heartbeat says whether it keeps a log, events are
    //  left: if it does, they are replayed, in order, once it beats.
    if (!durable)
        return;
    if (streq (durable, "0")) {
        //  No log, so its numbers restart with it: best effort, ids only.
        s_consume (self, publisher, NULL, event, data, size);
        return;
    }
    bool known;
    uint64_t *last = s_position (self, publisher, &known);
    if (!last)
        return;
    if (!known && self->config.start_now)
        *last = seq - 1;        //  Begin with this one
    if (seq <= *last) {
        self->stats.events_repeated++;
        return;
    }
    if (seq > *last + 1)
        s_repair (self, publisher, last, seq - 1);
    if (seq == *last + 1)
        s_consume (self, publisher, last, event, data, size);
}

//  A heartbeat says what the publisher's next sequence will be: anything
//  before it that we lack is a lost tail.
static void
s_consume_tail (zmesh_node_t *self, const zmesh_envelope_t *beat)
{
    const char *publisher = zmesh_envelope_source (beat);
    uint64_t next = zmesh_envelope_seq (beat);
    const char *durable = zhashx_lookup (self->durable, publisher);
    if (!durable || streq (durable, "0"))
        return;
    bool known;
    uint64_t *last = s_position (self, publisher, &known);
    if (!last)
        return;
    if (!known && self->config.start_now) {
        *last = next - 1;
        zmesh_inbox_set_position (self->store, publisher, *last);
        return;
    }
    if (next > *last + 1)
        s_repair (self, publisher, last, next - 1);
}

zmesh_err_t
zmesh_node_consume (zmesh_node_t *self, const char *pattern,
                    zmesh_consume_fn *handler, void *arg)
{
    assert (self && handler);
    char bytes [ZMESH_TOPIC_MAX];
    if (!self->store || zmesh_topic_subscription (pattern, bytes) < 0)
        return ZMESH_ERR_INVALID;
    s_subscription_t *consumer = s_subscription_new (pattern, arg);
    if (!consumer)
        return ZMESH_ERR_NOMEM;
    consumer->consumer = handler;
    //  Sequence numbers count all of a publisher's events: to see every
    //  one, and so every gap, a consumer takes them all and filters here.
    if (zlistx_size (self->consumers) == 0)
        zsock_set_subscribe (self->sub, "");
    zlistx_add_end (self->consumers, consumer);
    return ZMESH_OK;
}

typedef struct {
    zmesh_node_t *node;
    zlistx_t *letters;          //  Copies of the envelopes, to replay
} s_dead_t;

static bool
s_collect_dead (const zmesh_dead_letter_t *letter, void *arg)
{
    s_dead_t *dead = arg;
    zframe_t *frame = zframe_new (letter->envelope, letter->envelope_size);
    if (frame)
        zlistx_add_end (dead->letters, frame);
    return true;
}

zmesh_err_t
zmesh_node_replay_dead_letters (zmesh_node_t *self, size_t *replayed,
                                size_t *failed, zmesh_detail_t *detail)
{
    assert (self);
    size_t ok = 0, not_ok = 0;
    if (!self->store)
        return ZMESH_ERR_INVALID;
    //  Each letter has a transaction of its own: end the loop's (when the
    //  zmesh.dlq.replay method runs this) and the publish group.
    s_batch_commit (self);
    s_flush_group (self);
    s_dead_t dead = {self, zlistx_new ()};
    zlistx_set_destructor (dead.letters, s_frame_destroy);
    zmesh_err_t rc = zmesh_inbox_dead_letters (self->store, s_collect_dead,
                                               &dead);
    for (zframe_t *frame = zlistx_first (dead.letters); frame && rc == ZMESH_OK;
         frame = zlistx_next (dead.letters)) {
        zmesh_envelope_t *event = NULL;
        if (zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                   &event, detail) != ZMESH_OK) {
            not_ok++;
            continue;
        }
        int attempts = 0;
        rc = zmesh_store_begin (self->store, detail);
        if (rc == ZMESH_OK) {
            //  What the consumers publish waits for the commit
            self->batching = true;
            self->busy++;
            bool handled = s_run_consumers (self, event, &attempts, detail)
                           == ZMESH_OK;
            self->busy--;
            if (handled)
                rc = zmesh_inbox_unbury (self->store, zmesh_envelope_id (event));
            if (rc == ZMESH_OK)
                rc = zmesh_store_commit (self->store, detail);
            if (rc != ZMESH_OK)
                zmesh_store_rollback (self->store);
            self->batching = false;
            s_send_unsent (self, rc == ZMESH_OK);
            ok += handled && rc == ZMESH_OK;
            not_ok += !handled;
        }
        zmesh_envelope_destroy (&event);
    }
    zlistx_destroy (&dead.letters);
    if (replayed)
        *replayed = ok;
    if (failed)
        *failed = not_ok;
    return rc;
}

zmesh_store_t *
zmesh_node_store (zmesh_node_t *self)
{
    assert (self);
    return self->store;
}

//  Take one message from SUB if one is there, without waiting. Returns
//  false when there was none. Receiving with ZMQ_DONTWAIT until there is
//  none costs no system call per message, as asking ZMQ_EVENTS would.
static bool
s_on_event_message (zmesh_node_t *self)
{
    void *sub = zsock_resolve (self->sub);
    zmq_msg_t topic, frame;
    zmq_msg_init (&topic);
    if (zmq_msg_recv (&topic, sub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&topic);
        return false;
    }
    //  The rest of a multipart message is there once its first part is.
    size_t frames = 1;
    zmq_msg_init (&frame);
    bool more = zmq_msg_more (&topic);
    if (more) {
        frames++;
        zmq_msg_recv (&frame, sub, 0);
        more = zmq_msg_more (&frame);
    }
    while (more) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        zmq_msg_recv (&extra, sub, 0);
        more = zmq_msg_more (&extra);
        zmq_msg_close (&extra);
        frames++;
    }
    zmesh_detail_t detail = {""};
    //  The node's own envelope, unless a handler below us holds it
    bool reuse = !self->incoming_busy;
    zmesh_envelope_t *event = reuse ? self->incoming : NULL;
    bool control = false;
    const void *data = zmq_msg_data (&frame);
    size_t size = zmq_msg_size (&frame);
    zmesh_err_t rc = frames != 2 ? ZMESH_ERR_BAD_FRAMES
                     : reuse ? zmesh_envelope_decode_into (data, size, event,
                                                           &detail)
                             : zmesh_envelope_decode (data, size, &event,
                                                      &detail);
    self->incoming_busy = true;
    if (rc == ZMESH_OK && zmesh_envelope_kind (event) != ZMESH_KIND_EVENT) {
        rc = ZMESH_ERR_ENVELOPE_BAD_KIND;
        snprintf (detail.text, sizeof detail.text, "a %s on the events socket",
                  zmesh_kind_name (zmesh_envelope_kind (event)));
    }
    if (rc == ZMESH_OK)
        rc = zmesh_topic_check (zmq_msg_data (&topic), zmq_msg_size (&topic),
                                event, &control);
    if (rc != ZMESH_OK)
        s_bad_frame (self, "events", rc, detail.text);
    else if (control && streq (zmesh_envelope_type (event), HEARTBEAT_TYPE))
        s_on_heartbeat (self, event);
    else if (control && streq (zmesh_envelope_type (event), BYE_TYPE))
        s_on_bye (self, event);
    else if (!control) {
        s_dispatch_event (self, event);
        if (zlistx_size (self->consumers))
            s_consume_live (self, event, data, size);
    }
    if (reuse)
        self->incoming_busy = false;
    else
        zmesh_envelope_destroy (&event);
    zmq_msg_close (&topic);
    zmq_msg_close (&frame);
    return true;
}


//  ---------------------------------------------------------------------
//  Calls in

//  Keep a reply frame (taken) under its request's id, so that a retry of
//  the request is answered without running the handler again. Oldest
//  replies go first, to stay within calls/dedupe and calls/dedupe_bytes.
static void
s_cache_reply (zmesh_node_t *self, const char *key, zframe_t **frame_p)
{
    size_t size = zframe_size (*frame_p);
    if (!self->config.dedupe_entries
        || size > (size_t) self->config.dedupe_bytes) {
        zframe_destroy (frame_p);
        return;
    }
    while (zhashx_size (self->replies) >= (size_t) self->config.dedupe_entries
           || self->reply_bytes + size > (size_t) self->config.dedupe_bytes) {
        //  A key may be there still after s_uncache_reply took its reply
        const char *oldest = zlistx_first (self->reply_order);
        zframe_t *evicted = zhashx_lookup (self->replies, oldest);
        if (evicted) {
            self->reply_bytes -= zframe_size (evicted);
            zhashx_delete (self->replies, oldest);
        }
        zlistx_delete (self->reply_order, zlistx_cursor (self->reply_order));
    }
    char *copy = zmesh__strndup (key, strlen (key));
    if (!copy) {
        zframe_destroy (frame_p);
        return;
    }
    zhashx_insert (self->replies, key, *frame_p);
    zlistx_add_end (self->reply_order, copy);
    self->reply_bytes += size;
    *frame_p = NULL;
}

//  Forget the reply kept under key, if there is one.
static void
s_uncache_reply (zmesh_node_t *self, const char *key)
{
    zframe_t *kept = zhashx_lookup (self->replies, key);
    if (kept) {
        self->reply_bytes -= zframe_size (kept);
        zhashx_delete (self->replies, key);
    }
}

//  The cache key of a request: its id in hex.
static void
s_uuid_key (const zmesh_uuid_t *id, char *key)
{
    static const char digits [] = "0123456789abcdef";
    const uint8_t *bytes = id->bytes;
    for (size_t index = 0; index < ZMESH_UUID_SIZE; index++) {
        key [2 * index] = digits [bytes [index] >> 4];
        key [2 * index + 1] = digits [bytes [index] & 0x0f];
    }
    key [2 * ZMESH_UUID_SIZE] = 0;
}

//  Send a reply frame (taken) to the request routed by msg (taken), whose
//  last frame, the request, it replaces.
static void
s_send_frame (zmesh_node_t *self, zmsg_t **msg_p, zframe_t **frame_p)
{
    zmsg_t *msg = *msg_p;
    zframe_t *request = zmsg_last (msg);
    zmsg_remove (msg, request);
    zframe_destroy (&request);
    zmsg_append (msg, frame_p);
    if (self->batching)         //  Sent once what the handler did commits
        zlistx_add_end (self->held, *msg_p);
    else if (zmsg_send (msg_p, self->router) != 0)
        zmsg_destroy (msg_p);   //  The caller is gone
    *msg_p = NULL;
    self->stats.calls_served++;
}

//  Reply to the request routed by msg (taken); cache_key, if not NULL,
//  keeps the reply for retries of the request.
static void
s_send_reply (zmesh_node_t *self, zmsg_t **msg_p, zmesh_envelope_t *reply,
              const char *cache_key)
{
    zframe_t *frame = NULL;
    zmesh_detail_t detail = {""};
    if (zmesh_envelope_encode (reply, &frame, &detail) != ZMESH_OK) {
        //  A handler left the reply unencodable (a bad body, say).
        zsys_error ("node %s: cannot encode reply to %s: %s",
                    self->config.name, zmesh_envelope_type (reply),
                    detail.text);
        zmesh_envelope_set_body (reply, NULL, 0);
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL,
                                   "the handler's reply could not be encoded");
        if (zmesh_envelope_encode (reply, &frame, NULL) != ZMESH_OK) {
            zmsg_destroy (msg_p);
            return;
        }
    }
    if (cache_key) {
        zframe_t *kept = zframe_dup (frame);
        s_cache_reply (self, cache_key, &kept);
    }
    s_send_frame (self, msg_p, &frame);
}

//  Reply with a mesh error; request may be NULL if it could not be read.
static void
s_reply_error (zmesh_node_t *self, zmsg_t **msg_p,
               const zmesh_envelope_t *request, zmesh_mesh_error_t code,
               const char *text)
{
    s_context_t saved = self->context;
    self->context.active = request != NULL;
    if (request) {
        self->context.correlation = *zmesh_envelope_correlation (request);
        self->context.has_cause = true;
        self->context.cause = *zmesh_envelope_id (request);
    }
    zmesh_envelope_t *reply = s_envelope_new (
        self, ZMESH_KIND_REPLY,
        request ? zmesh_envelope_type (request) : "zmesh.error");
    self->context = saved;
    if (!reply) {
        zmsg_destroy (msg_p);
        return;
    }
    char bounded [ZMESH_ENVELOPE_TEXT_MAX + 1];
    snprintf (bounded, sizeof bounded, "%s", text);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR, code, bounded);
    if (request && zmesh_envelope_kind (request) == ZMESH_KIND_REQUEST)
        s_trace (self, ZMESH_TRACE_SERVED, request,
                 zmesh_envelope_source (request), s_reply_rc (reply),
                 (uint64_t) zmesh_clock_unix_us (self->clock), 0, reply);
    s_send_reply (self, msg_p, reply, NULL);
    zmesh_envelope_destroy (&reply);
}

//  Run method on request and reply to msg (taken), keeping the reply under
//  key for retries of the request.
static void
s_run_method (zmesh_node_t *self, zmsg_t **msg_p,
              const zmesh_envelope_t *request, s_method_t *method,
              const char *key)
{
    //  What the handler writes commits with the loop's turn, before the
    //  reply goes (without a transaction, each write commits alone).
    if (self->store)
        s_batch_begin (self);
    s_context_t saved = self->context;
    self->context.active = true;
    self->context.correlation = *zmesh_envelope_correlation (request);
    self->context.has_cause = true;
    self->context.cause = *zmesh_envelope_id (request);
    zmesh_envelope_t *reply = s_envelope_new (self, ZMESH_KIND_REPLY,
                                              zmesh_envelope_type (request));
    self->context.has_deadline = true;
    self->context.deadline_ms = zmesh_clock_mono_ms (self->clock)
                              + zmesh_envelope_budget_ms (request);
    uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    int64_t start_us = zmesh_clock_mono_us (self->clock);
    if (reply)
        method->handler (self, request, reply, method->arg);
    self->context = saved;
    if (reply)
        s_trace (self, ZMESH_TRACE_SERVED, request,
                 zmesh_envelope_source (request), s_reply_rc (reply), at_us,
                 (uint64_t) (zmesh_clock_mono_us (self->clock) - start_us),
                 reply);
    if (reply)
        s_send_reply (self, msg_p, reply, key);
    else
        zmsg_destroy (msg_p);
    zmesh_envelope_destroy (&reply);
}

//  Take one call from the ROUTER if one is there (its receive timeout is
//  0, so this never waits). Returns false when there was none.
static bool
s_on_call_message (zmesh_node_t *self)
{
    zmsg_t *msg = zmsg_recv (self->router);
    if (!msg)
        return false;
    //  [routing id] ... [empty] [envelope]: REQ and REQ_CORRELATE alike.
    size_t frames = zmsg_size (msg);
    zframe_t *last = zmsg_last (msg);
    bool routed = false;
    if (frames >= 3) {
        zframe_t *frame = zmsg_first (msg);
        for (size_t index = 0; index + 2 < frames; index++)
            frame = zmsg_next (msg);
        routed = zframe_size (frame) == 0;
    }
    if (!routed) {
        s_bad_frame (self, "calls", ZMESH_ERR_BAD_FRAMES,
                     "not a REQ-style message");
        zmsg_destroy (&msg);
        return true;
    }
    zmesh_detail_t detail = {""};
    zmesh_envelope_t *request = NULL;
    zmesh_err_t rc = zmesh_envelope_decode (zframe_data (last),
                                            zframe_size (last), &request,
                                            &detail);
    if (rc != ZMESH_OK) {
        s_bad_frame (self, "calls", rc, detail.text);
        char text [256];
        snprintf (text, sizeof text, "%s: %s", zmesh_strerror (rc),
                  detail.text);
        s_reply_error (self, &msg, NULL, ZMESH_MESH_BAD_REQUEST, text);
        return true;
    }
    const char *name = zmesh_envelope_type (request);
    s_method_t *method = zhashx_lookup (self->methods, name);
    char text [256];
    if (zmesh_envelope_kind (request) != ZMESH_KIND_REQUEST) {
        s_bad_frame (self, "calls", ZMESH_ERR_ENVELOPE_BAD_KIND, "not a request");
        s_reply_error (self, &msg, request, ZMESH_MESH_BAD_REQUEST,
                       "the calls socket takes requests only");
    }
    else if (!method) {
        self->stats.unknown_methods++;
        snprintf (text, sizeof text, "node %s serves no method %s",
                  self->config.name, name);
        s_reply_error (self, &msg, request, ZMESH_MESH_UNKNOWN_METHOD, text);
    }
    else if (zmesh_envelope_budget_ms (request) == 0)
        s_reply_error (self, &msg, request, ZMESH_MESH_DEADLINE_EXCEEDED,
                       "the caller's budget was spent before the call began");
    else {
        //  A retry of a request already answered gets the same answer,
        //  and the handler does not run twice.
        char key [2 * ZMESH_UUID_SIZE + 1];
        s_uuid_key (zmesh_envelope_id (request), key);
        zframe_t *kept = zhashx_lookup (self->replies, key);
        if (kept) {
            zframe_t *copy = zframe_dup (kept);
            self->stats.duplicates_answered++;
            s_send_frame (self, &msg, &copy);
        }
        else
            s_run_method (self, &msg, request, method, key);
    }
    zmesh_envelope_destroy (&request);
    return true;
}


//  ---------------------------------------------------------------------
//  Calls out

//  The request of a call in progress, for its attempts.
typedef struct {
    zmesh_node_t *node;
    zmesh_envelope_t *request;
} s_call_t;

//  While a call made outside the loop of a shared node waits, let other
//  threads use the node: give up the lock, and keep the flow in force
//  aside, for another thread's flow may be in force meanwhile. False if
//  the node is not shared, or the call is made in the loop (a handler's).
static bool
s_let_go (zmesh_node_t *self, s_context_t *saved)
{
    if (!self->shared || self->busy)
        return false;
    *saved = self->context;
    memset (&self->context, 0, sizeof self->context);
    pthread_mutex_unlock (&self->lock);
    return true;
}

static void
s_take_back (zmesh_node_t *self, const s_context_t *saved)
{
    pthread_mutex_lock (&self->lock);
    self->context = *saved;
}

//  One attempt: the same request, with the time that is left.
static zmesh_err_t
s_attempt (void *arg, const char *endpoint, int64_t deadline_ms,
           zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    s_call_t *call = arg;
    zmesh_node_t *self = call->node;
    int64_t left = deadline_ms - zmesh_clock_mono_ms (self->clock);
    if (left <= 0) {
        zmesh__detail (detail, "the deadline passed");
        return ZMESH_ERR_TIMEOUT;
    }
    zmesh_envelope_set_budget_ms (call->request, left > UINT32_MAX
                                                 ? UINT32_MAX : (uint32_t) left);
    zframe_t *frame = NULL;
    zmesh_link_t *link = NULL;
    zmesh_err_t rc = zmesh_envelope_encode (call->request, &frame, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__requester_take (self->requester, endpoint, &link, detail);
    if (rc == ZMESH_OK) {
        self->stats.calls_made++;
        s_context_t saved;
        bool let_go = s_let_go (self, &saved);
        rc = zmesh__requester_exchange (self->requester, link, frame,
                                        zmesh_envelope_id (call->request),
                                        deadline_ms, reply_p, detail);
        if (let_go)
            s_take_back (self, &saved);
        zmesh__requester_give (self->requester, endpoint, &link,
                               rc == ZMESH_OK);
    }
    zframe_destroy (&frame);
    if (rc == ZMESH_ERR_TIMEOUT)
        self->stats.call_timeouts++;
    else if (rc == ZMESH_ERR_BAD_REPLY)
        self->stats.bad_replies++;
    return rc;
}

//  The wait between two attempts, with the lock given up as for a reply.
static bool
s_backoff (void *arg, int64_t delay_ms)
{
    zmesh_node_t *self = ((s_call_t *) arg)->node;
    s_context_t saved;
    bool let_go = s_let_go (self, &saved);
    bool slept = zmesh_clock_sleep (self->clock, delay_ms);
    if (let_go)
        s_take_back (self, &saved);
    return slept;
}

//  The policy for calls to service, worked out once.
static const zmesh_call_policy_t *
s_policy (zmesh_node_t *self, const char *service)
{
    zmesh_call_policy_t *policy = zhashx_lookup (self->policies, service);
    if (!policy && (policy = zmesh__alloc (sizeof *policy))) {
        zmesh_node_config_policy (&self->config, service, policy);
        zhashx_insert (self->policies, service, policy);
    }
    return policy ? policy : &self->config.policy;
}

zmesh_err_t
zmesh_node_call_with (zmesh_node_t *self, const char *service,
                      const char *method, const void *body, size_t body_size,
                      const zmesh_call_options_t *options,
                      zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && service && reply_p);
    uint32_t timeout_ms = options && options->timeout_ms
                        ? options->timeout_ms
                        : (uint32_t) self->config.call_timeout_ms;
    int64_t deadline = zmesh_clock_mono_ms (self->clock) + timeout_ms;
    if (self->context.has_deadline && self->context.deadline_ms < deadline)
        deadline = self->context.deadline_ms;
    zmesh_envelope_t *request = s_envelope_new (self, ZMESH_KIND_REQUEST,
                                                method);
    if (!request) {
        zmesh__detail (detail, "'%s' is not a method name", method);
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    }
    zmesh_err_t rc = body_size ? zmesh_envelope_set_body (request, body,
                                                          body_size)
                               : ZMESH_OK;
    if (rc == ZMESH_OK) {
        //  Copies: the peer table may change while the call waits.
        const char *routes [ROUTE_MAX];
        size_t count = zmesh__peers_route (self->peers, service, routes,
                                           ROUTE_MAX);
        char copies [ROUTE_MAX][ZMESH_ENDPOINT_MAX + 1];
        const char *endpoints [ROUTE_MAX];
        for (size_t index = 0; index < count; index++) {
            snprintf (copies [index], sizeof copies [index], "%s",
                      routes [index]);
            endpoints [index] = copies [index];
        }
        s_call_t attempt_arg = {self, request};
        zmesh_call_t call = {
            .attempt = s_attempt,
            .attempt_arg = &attempt_arg,
            .backoff = s_backoff,
            .service = service,
            .method = method,
            .correlation = zmesh_envelope_correlation (request),
            .policy = s_policy (self, service),
            .endpoints = endpoints,
            .endpoint_count = count,
            .deadline_ms = deadline,
            .fallback = options ? options->fallback : NULL,
            .fallback_arg = options ? options->fallback_arg : NULL};
        uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
        int64_t start_us = zmesh_clock_mono_us (self->clock);
        rc = zmesh_caller_call (self->caller, &call, reply_p, detail);
        bool replied = rc == ZMESH_OK || rc == ZMESH_ERR_APP_ERROR;
        s_trace (self, ZMESH_TRACE_MADE, request, service, rc, at_us,
                 (uint64_t) (zmesh_clock_mono_us (self->clock) - start_us),
                 replied ? *reply_p : NULL);
    }
    zmesh_envelope_destroy (&request);
    return rc;
}

zmesh_err_t
zmesh_node_call (zmesh_node_t *self, const char *service, const char *method,
                 const void *body, size_t body_size, uint32_t timeout_ms,
                 zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    zmesh_call_options_t options = {timeout_ms, NULL, NULL};
    return zmesh_node_call_with (self, service, method, body, body_size,
                                 &options, reply_p, detail);
}

void
zmesh_reply_overloaded (zmesh_envelope_t *reply, uint32_t retry_after_ms)
{
    assert (reply);
    char text [64];
    snprintf (text, sizeof text, "overloaded, retry after %u ms",
              retry_after_ms);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                               ZMESH_MESH_UNAVAILABLE, text);
    snprintf (text, sizeof text, "%u", retry_after_ms);
    zmesh_envelope_set_header (reply, "retry-after-ms", text);
}

zmesh_caller_t *
zmesh_node_caller (zmesh_node_t *self)
{
    assert (self);
    return self->caller;
}


//  ---------------------------------------------------------------------
//  Gossip

static void
s_on_gossip (zmesh_node_t *self)
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
        sscanf (key + prefix, "%64[A-Za-z0-9._-]", service);
        sscanf (value, "events=%255s calls=%255s", events, calls);
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
            s_add_peer (self, key, service, events, calls, false);
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

static zmesh_err_t
s_start_gossip (zmesh_node_t *self, zmesh_detail_t *detail)
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
    char key [128], value [2 * ZMESH_ENDPOINT_MAX + 16];
    snprintf (key, sizeof key, ZMESH_GOSSIP_PREFIX "%s/%s",
              self->config.name, self->instance_text);
    snprintf (value, sizeof value, "events=%s calls=%s", self->events_endpoint,
              self->calls_endpoint);
    zstr_sendx (self->gossip, "PUBLISH", key, value, NULL);
    zpoller_add (self->poller, self->gossip);
    return ZMESH_OK;
}


//  ---------------------------------------------------------------------
//  Lifecycle

//  Every node serves zmesh.stats: its counters, as reply headers.
static void
s_serve_stats (zmesh_node_t *self, const zmesh_envelope_t *request,
               zmesh_envelope_t *reply, void *arg)
{
    (void) request;
    (void) arg;
    const zmesh_node_stats_t *stats = &self->stats;
    //  Peers heard from, and breakers not closed, of the peers we know
    uint64_t alive = 0, open = 0;
    for (size_t index = 0; index < zmesh_node_peer_count (self); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (self, index, &peer);
        alive += peer.state == ZMESH_PEER_ALIVE;
        zmesh_breaker_t *breaker = *peer.calls
                                   ? zmesh_caller_breaker (self->caller,
                                                           peer.calls)
                                   : NULL;
        open += breaker && zmesh_breaker_state (breaker) != ZMESH_BREAKER_CLOSED;
    }
    const struct {
        const char *name;
        uint64_t value;
    } counters [] = {
        {"events_published", stats->events_published},
        {"events_received", stats->events_received},
        {"bad_frames", stats->bad_frames},
        {"calls_served", stats->calls_served},
        {"unknown_methods", stats->unknown_methods},
        {"calls_made", stats->calls_made},
        {"call_timeouts", stats->call_timeouts},
        {"bad_replies", stats->bad_replies},
        {"heartbeats_sent", stats->heartbeats_sent},
        {"heartbeats_received", stats->heartbeats_received},
        {"duplicates_answered", stats->duplicates_answered},
        {"events_consumed", stats->events_consumed},
        {"events_repeated", stats->events_repeated},
        {"events_replayed", stats->events_replayed},
        {"replays_failed", stats->replays_failed},
        {"ranges_trimmed", stats->ranges_trimmed},
        {"dead_letters", stats->dead_letters},
        {"batch_commits", stats->batch_commits},
        {"seq", self->seq},
        {"peers_alive", alive},
        {"breakers_open", open},
    };
    for (size_t index = 0; index < sizeof counters / sizeof counters [0];
         index++) {
        char value [24];
        snprintf (value, sizeof value, "%" PRIu64, counters [index].value);
        zmesh_envelope_set_header (reply, counters [index].name, value);
    }
}

typedef struct {
    zmesh_node_t *node;
    uint64_t to;                //  Last sequence asked for
    uint64_t next;              //  First sequence not in the reply
    zframe_t *frames [ZMESH_REPLAY_BATCH];
    size_t count;
    size_t bytes;
} s_replaying_t;

static bool
s_replay_one (const zmesh_stored_event_t *stored, void *arg)
{
    s_replaying_t *replaying = arg;
    if (stored->position > replaying->to)
        return false;
    zmesh_envelope_t *event = s_envelope_of (replaying->node, stored);
    zframe_t *frame = NULL;
    if (!event || zmesh_envelope_encode (event, &frame, NULL) != ZMESH_OK) {
        zmesh_envelope_destroy (&event);
        return false;
    }
    zmesh_envelope_destroy (&event);
    //  Stop before the reply outgrows its share of the body limit; the
    //  caller asks again from next.
    if (replaying->count > 0
        && replaying->bytes + zframe_size (frame) > ZMESH_REPLAY_BYTES) {
        zframe_destroy (&frame);
        return false;
    }
    replaying->bytes += zframe_size (frame);
    replaying->frames [replaying->count++] = frame;
    replaying->next = stored->position + 1;
    return replaying->count < ZMESH_REPLAY_BATCH;
}

//  zmesh.replay: the events from..to of this node's log, as published.
static void
s_serve_replay (zmesh_node_t *self, const zmesh_envelope_t *request,
                zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    uint64_t from, to, earliest = 1;
    s_flush_group (self);       //  Serve only what is committed
    if (zmesh__replay_request_read (zmesh_envelope_body (request),
                                    zmesh_envelope_body_size (request), &from,
                                    &to) != ZMESH_OK) {
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "replay wants {from, to} with from <= to");
        return;
    }
    zmesh_store_earliest (self->store, &earliest);
    if (from < earliest) {
        char text [96];
        snprintf (text, sizeof text, "%" PRIu64, earliest);
        zmesh_envelope_set_header (reply, "earliest", text);
        snprintf (text, sizeof text, "trimmed: %s keeps events from %" PRIu64,
                  self->config.name, earliest);
        zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR,
                                   ZMESH_REPLAY_TRIMMED, text);
        return;
    }
    s_replaying_t replaying = {.node = self, .to = to, .next = from};
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_store_read_all (self->store, from,
                                           ZMESH_REPLAY_BATCH + 1, s_replay_one,
                                           &replaying, &detail);
    void *body = NULL;
    size_t size = 0;
    if (rc == ZMESH_OK)
        rc = zmesh__replay_reply (replaying.next, replaying.frames,
                                  replaying.count, &body, &size);
    if (rc == ZMESH_OK)
        rc = zmesh_envelope_set_body (reply, body, size);
    if (rc != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    free (body);
    for (size_t index = 0; index < replaying.count; index++)
        zframe_destroy (&replaying.frames [index]);
}

//  Set a JSON value (taken) as a reply's body.
static void
s_reply_json (zmesh_envelope_t *reply, json_t *value)
{
    void *data = NULL;
    size_t size = 0;
    if (zmesh_json_to_msgpack (value, &data, &size, NULL) == ZMESH_OK)
        zmesh_envelope_set_body (reply, data, size);
    free (data);
    json_decref (value);
}

//  A dead letter as JSON: with the event's type only, or with the whole
//  event.
static json_t *
s_letter_json (const zmesh_dead_letter_t *letter, bool whole)
{
    char id [ZMESH_UUID_STR_LEN + 1];
    zmesh_envelope_t *event = NULL;
    zmesh_envelope_decode (letter->envelope, letter->envelope_size, &event,
                           NULL);
    json_t *object = json_pack (
        "{s:s, s:s, s:I, s:s, s:i, s:I}",
        "id", zmesh_uuid_unparse (&letter->event_id, id), "publisher",
        letter->publisher ? letter->publisher : "", "seq",
        (json_int_t) letter->seq, "error", letter->error ? letter->error : "",
        "attempts", letter->attempts, "at", (json_int_t) letter->at);
    if (whole)
        json_object_set_new (object, "event", event
                             ? zmesh_json_from_envelope (event) : json_null ());
    else
        json_object_set_new (object, "type", json_string (
                             event ? zmesh_envelope_type (event) : "?"));
    zmesh_envelope_destroy (&event);
    return object;
}

//  A request's body as JSON; NULL if it is not valid msgpack.
static json_t *
s_request_json (const zmesh_envelope_t *request)
{
    json_t *body = NULL;
    zmesh_json_from_msgpack (zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request), &body, NULL);
    return body;
}

static bool
s_list_dead (const zmesh_dead_letter_t *letter, void *arg)
{
    json_array_append_new ((json_t *) arg, s_letter_json (letter, false));
    return true;
}

//  zmesh.dlq.list: the node's dead letters, oldest first.
static void
s_serve_dlq_list (zmesh_node_t *self, const zmesh_envelope_t *request,
                  zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) arg;
    json_t *letters = json_array ();
    zmesh_inbox_dead_letters (self->store, s_list_dead, letters);
    s_reply_json (reply, letters);
}

typedef struct {
    zmesh_uuid_t id;
    json_t *found;              //  The letter, whole, once found
} s_show_dead_t;

static bool
s_show_dead (const zmesh_dead_letter_t *letter, void *arg)
{
    s_show_dead_t *show = (s_show_dead_t *) arg;
    if (!zmesh_uuid_eq (&letter->event_id, &show->id))
        return true;
    show->found = s_letter_json (letter, true);
    return false;
}

//  zmesh.dlq.show {id}: one dead letter, with the whole event.
static void
s_serve_dlq_show (zmesh_node_t *self, const zmesh_envelope_t *request,
                  zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = s_request_json (request);
    const char *id = json_string_value (json_object_get (body, "id"));
    s_show_dead_t show = {.found = NULL};
    if (!id || zmesh_uuid_parse (id, &show.id) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.dlq.show wants {id}: an event id");
    else {
        zmesh_inbox_dead_letters (self->store, s_show_dead, &show);
        if (show.found)
            s_reply_json (reply, show.found);
        else
            zmesh_envelope_set_status (reply, ZMESH_STATUS_APP_ERROR, 404,
                                       "no dead letter has that id");
    }
    json_decref (body);
}

//  zmesh.dlq.replay: run the consumers on them again.
static void
s_serve_dlq_replay (zmesh_node_t *self, const zmesh_envelope_t *request,
                    zmesh_envelope_t *reply, void *arg)
{
    (void) request, (void) arg;
    size_t replayed = 0, failed = 0;
    zmesh_detail_t detail = {""};
    if (zmesh_node_replay_dead_letters (self, &replayed, &failed, &detail)
        != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    else
        s_reply_json (reply, json_pack ("{s:I, s:I}", "replayed",
                                        (json_int_t) replayed, "failed",
                                        (json_int_t) failed));
}

//  zmesh.publish {type, body}: publish on the caller's behalf, stored and
//  sequenced like the node's own events.
static void
s_serve_publish (zmesh_node_t *self, const zmesh_envelope_t *request,
                 zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = s_request_json (request);
    const char *type = json_string_value (json_object_get (body, "type"));
    json_t *payload = json_object_get (body, "body");
    void *data = NULL;
    size_t size = 0;
    zmesh_err_t rc = type ? ZMESH_OK : ZMESH_ERR_INVALID;
    if (rc == ZMESH_OK && payload)
        rc = zmesh_json_to_msgpack (payload, &data, &size, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_publish (self, type, data, size);
    if (rc != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.publish wants {type, body}: a type "
                                   "name and any JSON");
    else
        s_reply_json (reply, json_pack ("{s:I}", "seq", (json_int_t) self->seq));
    free (data);
    json_decref (body);
}

//  zmesh.trace {cid}: what this node remembers of that flow.
static void
s_serve_trace (zmesh_node_t *self, const zmesh_envelope_t *request,
               zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = s_request_json (request);
    const char *text = json_string_value (json_object_get (body, "cid"));
    zmesh_uuid_t correlation;
    if (!text || zmesh_uuid_parse (text, &correlation) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.trace wants {cid}: a correlation id");
    else
        s_reply_json (reply, zmesh__trace_find (self->trace, &correlation,
                                                self->config.name));
    json_decref (body);
}

//  zmesh.tap {on}: switch the tap on or off; {on, endpoint}.
static void
s_serve_tap (zmesh_node_t *self, const zmesh_envelope_t *request,
             zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = s_request_json (request);
    json_t *on = json_object_get (body, "on");
    zmesh_detail_t detail = {""};
    if (!json_is_boolean (on))
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.tap wants {on}: true or false");
    else if (s_tap_switch (self, json_is_true (on), &detail) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    else {
        zsys_info ("node %s: tap %s %s", self->config.name,
                   self->tap ? "on at" : "off", self->tap_endpoint);
        s_reply_json (reply, json_pack ("{s:b, s:s}", "on", self->tap != NULL,
                                        "endpoint", self->tap_endpoint));
    }
    json_decref (body);
}

//  With node/data: open <data>/<name>.db, and number events on from it.
static zmesh_err_t
s_open_store (zmesh_node_t *self, zmesh_detail_t *detail)
{
    if (zsys_dir_create ("%s", self->config.data) != 0) {
        zmesh__detail (detail, "node/data: cannot create %s",
                       self->config.data);
        return ZMESH_ERR_CONFIG;
    }
    char path [ZMESH_ENDPOINT_MAX + 80];
    snprintf (path, sizeof path, "%s/%s.db", self->config.data,
              self->config.name);
    self->store = zmesh_store_open (path, self->config.events_synced, detail);
    if (!self->store)
        return ZMESH_ERR_STORE;
    zmesh_store_head (self->store, &self->seq);
    zmesh_err_t rc = zmesh_node_serve (self, ZMESH_REPLAY_METHOD,
                                       s_serve_replay, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.list", s_serve_dlq_list, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.show", s_serve_dlq_show, NULL);
    if (rc == ZMESH_OK)
        rc = zmesh_node_serve (self, "zmesh.dlq.replay", s_serve_dlq_replay,
                               NULL);
    return rc;
}

static zmesh_err_t
s_bind (zmesh_node_t *self, zsock_t *socket, const char *endpoint,
        char *advertised, zmesh_detail_t *detail)
{
    if (zsock_bind (socket, "%s", endpoint) < 0) {
        zmesh__detail (detail, "cannot bind %s: %s", endpoint,
                       zmq_strerror (zmq_errno ()));
        return ZMESH_ERR_BIND;
    }
    s_advertised (self, socket, advertised);
    return ZMESH_OK;
}

static zmesh_err_t
s_open_sockets (zmesh_node_t *self, zmesh_detail_t *detail)
{
    self->pub = zmesh__socket_new (ZMQ_PUB, &self->config);
    self->sub = zmesh__socket_new (ZMQ_SUB, &self->config);
    self->router = zmesh__socket_new (ZMQ_ROUTER, &self->config);
    if (!self->pub || !self->sub || !self->router) {
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
    //  Control topics ('$') always; event topics as handlers ask.
    zsock_set_subscribe (self->sub, "$");
    //  A reply to a caller that is gone is dropped, not an error.
    zsock_set_router_mandatory (self->router, 0);
    zmesh_err_t rc = s_bind (self, self->pub, self->config.events,
                             self->events_endpoint, detail);
    if (rc == ZMESH_OK)
        rc = s_bind (self, self->router, self->config.calls,
                     self->calls_endpoint, detail);
    if (rc)
        return rc;
    self->poller = zpoller_new (self->sub, self->router, NULL);
    for (size_t index = 0; index < self->config.peer_count; index++) {
        const zmesh_peer_config_t *peer = &self->config.peers [index];
        s_add_peer (self, peer->label, peer->service, peer->events,
                    peer->calls, true);
    }
    return ZMESH_OK;
}

zmesh_node_t *
zmesh_node_new (const zmesh_node_config_t *config, zmesh_clock_t *clock,
                zmesh_rand_t *rand, zmesh_detail_t *detail)
{
    assert (config);
    if (zmesh_node_config_validate (config, detail) != ZMESH_OK)
        return NULL;
    zmesh_node_t *self = zmesh__calloc (1, sizeof *self);
    if (!self) {
        zmesh__detail (detail, "out of memory");
        return NULL;
    }
    self->config = *config;
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
    zlistx_set_destructor (self->subscriptions, s_subscription_destroy);
    self->methods = zhashx_new ();
    zhashx_set_destructor (self->methods, s_method_destroy);
    self->policies = zhashx_new ();
    zhashx_set_destructor (self->policies, s_method_destroy);
    self->replies = zhashx_new ();
    zhashx_set_destructor (self->replies, s_frame_destroy);
    self->reply_order = zlistx_new ();
    zlistx_set_destructor (self->reply_order, s_method_destroy);
    self->consumers = zlistx_new ();
    zlistx_set_destructor (self->consumers, s_subscription_destroy);
    self->positions = zhashx_new ();
    zhashx_set_destructor (self->positions, s_method_destroy);
    self->durable = zhashx_new ();
    self->unsent = zlistx_new ();
    self->held = zlistx_new ();
    zlistx_set_destructor (self->held, s_msg_destroy);
    self->outgoing = zmesh_envelope_new (ZMESH_KIND_EVENT);
    self->incoming = zmesh_envelope_new (ZMESH_KIND_EVENT);
    self->trace = zmesh__trace_new ((size_t) config->trace_keep);
    zlistx_set_destructor (self->unsent, s_msg_destroy);
    if (!self->outgoing || !self->incoming || !self->trace) {
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
    zmesh__requester_set_prepare (self->requester, s_prepare_request, self);
    zmesh_caller_set_owner (self->caller, config->name);
    if (zmesh_node_serve (self, "zmesh.stats", s_serve_stats, NULL) != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.publish", s_serve_publish, NULL)
               != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.trace", s_serve_trace, NULL)
               != ZMESH_OK
        || zmesh_node_serve (self, "zmesh.tap", s_serve_tap, NULL) != ZMESH_OK
        || (*config->data && s_open_store (self, detail) != ZMESH_OK)
        || s_open_sockets (self, detail) != ZMESH_OK
        || ((*config->gossip_bind || config->seed_count)
            && s_start_gossip (self, detail) != ZMESH_OK)
        || (config->tap_on && s_tap_switch (self, true, detail) != ZMESH_OK)) {
        zmesh_node_destroy (&self);
        return NULL;
    }
    self->next_heartbeat_ms = zmesh_clock_mono_ms (self->clock);
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
    if (self->store) {
        s_batch_commit (self);
        s_flush_group (self);
    }
    //  Tell subscribers we are going; PUB's linger lets it leave.
    if (self->pub && *self->events_endpoint)
        s_send_control (self, BYE_TYPE);
    zpoller_destroy (&self->poller);
    zactor_destroy (&self->gossip);
    zmesh_caller_destroy (&self->caller);
    zmesh__requester_destroy (&self->requester);
    zsock_destroy (&self->router);
    zsock_destroy (&self->sub);
    zsock_destroy (&self->pub);
    zlistx_destroy (&self->subscriptions);
    zhashx_destroy (&self->methods);
    zlistx_destroy (&self->consumers);
    zhashx_destroy (&self->positions);
    zhashx_destroy (&self->durable);
    zlistx_destroy (&self->unsent);
    zlistx_destroy (&self->held);
    zmesh_envelope_destroy (&self->outgoing);
    zmesh_envelope_destroy (&self->incoming);
    zmesh__trace_destroy (&self->trace);
    zsock_destroy (&self->tap);
    zmesh_store_close (&self->store);
    zhashx_destroy (&self->policies);
    zhashx_destroy (&self->replies);
    zlistx_destroy (&self->reply_order);
    zmesh__peers_destroy (&self->peers);
    zmesh_rand_destroy (&self->owned_rand);
    //  Last: the ZAP handler outlives every socket it guarded
    zmesh__security_destroy (&self->security);
    pthread_mutex_destroy (&self->lock);
    zmesh__free (self);
    *self_p = NULL;
}


//  ---------------------------------------------------------------------
//  Registration and accessors

zmesh_err_t
zmesh_node_subscribe (zmesh_node_t *self, const char *pattern,
                      zmesh_event_fn *handler, void *arg)
{
    assert (self && handler);
    char bytes [ZMESH_TOPIC_MAX];
    int size = zmesh_topic_subscription (pattern, bytes);
    if (size < 0)
        return ZMESH_ERR_INVALID;
    s_subscription_t *subscription = s_subscription_new (pattern, arg);
    if (!subscription)
        return ZMESH_ERR_NOMEM;
    subscription->handler = handler;
    zlistx_add_end (self->subscriptions, subscription);
    zmq_setsockopt (zsock_resolve (self->sub), ZMQ_SUBSCRIBE, bytes,
                    (size_t) size);
    return ZMESH_OK;
}

zmesh_err_t
zmesh_node_serve (zmesh_node_t *self, const char *method,
                  zmesh_method_fn *handler, void *arg)
{
    assert (self && handler);
    if (!zmesh_envelope_name_valid (method, ZMESH_ENVELOPE_TYPE_MAX)
        || zhashx_lookup (self->methods, method))
        return ZMESH_ERR_INVALID;
    s_method_t *entry = zmesh__calloc (1, sizeof *entry);
    if (!entry)
        return ZMESH_ERR_NOMEM;
    entry->handler = handler;
    entry->arg = arg;
    zhashx_insert (self->methods, method, entry);
    return ZMESH_OK;
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
zmesh_node_flow_begin (zmesh_node_t *self, const zmesh_uuid_t *correlation)
{
    assert (self);
    self->context.active = true;
    self->context.has_cause = false;
    self->context.has_deadline = false;
    if (correlation && !zmesh_uuid_is_nil (correlation))
        self->context.correlation = *correlation;
    else
        zmesh_uuid_generate (self->rand, &self->context.correlation);
}

void
zmesh_node_flow_end (zmesh_node_t *self)
{
    assert (self);
    self->context.active = false;
}

const zmesh_uuid_t *
zmesh_node_correlation (zmesh_node_t *self)
{
    assert (self);
    return self->context.active ? &self->context.correlation : NULL;
}

void
zmesh_node_stats (zmesh_node_t *self, zmesh_node_stats_t *stats)
{
    assert (self && stats);
    *stats = self->stats;
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


//  ---------------------------------------------------------------------
//  The loop

//  Retention, once a heartbeat: trim the log by count and age, and forget
//  old processed ids.
static void
s_retain (zmesh_node_t *self)
{
    uint64_t unix_ms = (uint64_t) zmesh_clock_unix_ms (self->clock);
    if (self->config.retain_events && self->seq > (uint64_t)
                                                  self->config.retain_events)
        zmesh_store_trim (self->store,
                          self->seq - (uint64_t) self->config.retain_events + 1,
                          NULL);
    if (self->config.retain_ms && unix_ms > (uint64_t) self->config.retain_ms)
        zmesh_store_trim_older (self->store,
                                unix_ms - (uint64_t) self->config.retain_ms,
                                NULL);
    if (unix_ms > (uint64_t) self->config.remember_ms)
        zmesh_inbox_forget (self->store,
                            unix_ms - (uint64_t) self->config.remember_ms);
}

static void
s_run_timers (zmesh_node_t *self)
{
    int64_t now = zmesh_clock_mono_ms (self->clock);
    if (now >= self->next_heartbeat_ms) {
        if (s_send_control (self, HEARTBEAT_TYPE) == ZMESH_OK)
            self->stats.heartbeats_sent++;
        if (self->store)
            s_retain (self);
        self->next_heartbeat_ms = now + self->config.heartbeat_ms;
    }
    zmesh__peers_tick (self->peers, now, self->config.quiet_ms,
                       self->config.gone_ms, s_peer_changed, self);
    if (self->group_started_ms
        && now - self->group_started_ms >= self->config.group_ms)
        s_flush_group (self);
}

zmesh_err_t
zmesh_node_poll (zmesh_node_t *self, int timeout_ms)
{
    assert (self);
    int64_t until_beat = self->next_heartbeat_ms
                       - zmesh_clock_mono_ms (self->clock);
    if (self->group_started_ms) {
        int64_t until_group = self->group_started_ms + self->config.group_ms
                            - zmesh_clock_mono_ms (self->clock);
        if (until_group < until_beat)
            until_beat = until_group;
    }
    int wait = timeout_ms;
    if (wait < 0 || until_beat < wait)
        wait = until_beat <= 0 ? 0 : until_beat > INT_MAX ? INT_MAX
                                                          : (int) until_beat;
    void *ready = zpoller_wait (self->poller, wait);
    if (!ready && zpoller_terminated (self->poller))
        return ZMESH_ERR_INTERRUPTED;
    self->busy++;
    //  Take a bounded batch from each socket, so no peer can starve another
    //  socket or the timers.
    for (int count = 0; count < DRAIN_MAX && !self->stopped
                        && s_on_event_message (self); count++)
        ;
    for (int count = 0; count < DRAIN_MAX && !self->stopped
                        && s_on_call_message (self); count++)
        ;
    s_batch_commit (self);
    for (int count = 0; self->gossip && count < DRAIN_MAX
                        && (zsock_events (zactor_sock (self->gossip))
                            & ZMQ_POLLIN); count++)
        s_on_gossip (self);
    s_run_timers (self);
    self->busy--;
    return zsys_interrupted ? ZMESH_ERR_INTERRUPTED : ZMESH_OK;
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
    pthread_mutex_unlock (&self->lock);
}

void
zmesh_node_stop (zmesh_node_t *self)
{
    assert (self);
    self->stopped = true;
}
