/*  node_private.h - what the files of the node (lib/node/) share.

    The node is one struct, zmesh_node_t, and a file per concept that works
    on it. Nothing outside lib/node/ includes this header.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_NODE_PRIVATE_H_INCLUDED
#define ZMESH_NODE_PRIVATE_H_INCLUDED

#include <ctype.h>
#include <pthread.h>
#include "zmesh_classes.h"
#include "db.h"
#include "inbox.h"
#include "peers.h"
#include "pollset.h"
#include "reply_cache.h"
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
#define PENDING_MAX 10000       //  Events of a publisher left to another
#define PENDING_BYTES (16 << 20)    //  member that are kept meanwhile
#define SETTLE_MS 250           //  How often to see if they are handled
#define SAVE_MS 1000            //  Longest a position moved by events no
                                //  consumer takes waits for a turn
#define ROUTE_MAX       16      //  Instances considered for one call
#define PEERS_MAX       1024    //  Instances a node will learn of
#define CALLS_PER_TURN  1024    //  Calls in flight one turn steps at most
#define HEARTBEATS_EARLY 8      //  Sent at a quarter period after start
#define FORGET_AFTER    6       //  A learned peer gone this many times
                                //  timing/gone is forgotten


//  A handler for events of a pattern: best effort or reliable.
typedef struct {
    char *pattern;              //  As given to subscribe or consume
    zmesh_event_fn *handler;    //  zmesh_node_subscribe's, or
    zmesh_consume_fn *consumer; //  zmesh_node_consume's
    void *arg;
} zmesh__subscription_t;

typedef struct {
    zmesh_method_fn *handler;
    void *arg;
} zmesh__method_t;

//  The flow in force: of the running handler, of a flow begun with
//  zmesh_node_flow_begin, or of the code that made a call whose completion
//  runs.
typedef struct {
    bool active;                //  A handler or a flow is running
    zmesh_uuid_t correlation;   //  Its flow
    bool has_cause;             //  Inside a handler: the message's id
    zmesh_uuid_t cause;
    bool has_deadline;          //  Inside a method: the caller's budget
    int64_t deadline_ms;        //  Monotonic
    bool has_parent;            //  A flow begun from a traceparent: the
    uint8_t parent [ZMESH_SPAN_ID_SIZE];    //  span it goes on from
} zmesh__context_t;

//  The loop's transaction (turn.c).
typedef enum {
    ZMESH__TURN_IDLE,           //  None: each write commits alone
    ZMESH__TURN_GROUP,          //  A publish group outside the loop
    ZMESH__TURN_OPEN            //  The loop's turn
} zmesh__turn_state_t;

//  A request as it came on the calls socket (serve.c), and then its
//  reply: the frames that route it back (the caller's routing id, a
//  REQ_CORRELATE request id, the empty delimiter) and the last frame, the
//  request, which the reply takes the place of. Held as libzmq messages,
//  so taking a request in and sending its reply copy and allocate
//  nothing but this.
#define ZMESH__ROUTES_MAX   8   //  Routing frames: more is a bad message

typedef struct {
    size_t routes;
    zmq_msg_t route [ZMESH__ROUTES_MAX];
    zmq_msg_t body;             //  Its metadata names the caller's key
} zmesh__routed_t;

//  A reply held for the turn's commit, and what the reply cache keeps it
//  under (the request's id, or one made with the caller's identity).
typedef struct {
    zmesh__routed_t *msg;
    bool keyed;
    zmesh_uuid_t key;
} zmesh__held_reply_t;

//  A consumer's position, recorded when the turn commits.
typedef struct {
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    uint64_t seq;
} zmesh__turn_position_t;

//  The confirm owed for an event published with zmesh_node_publish_async.
typedef struct {
    zmesh_confirm_fn *fn;
    void *arg;
    uint64_t seq;               //  The event's sequence number
    zmesh_err_t rc;             //  ZMESH_OK, or why it was taken back
} zmesh__confirm_t;

typedef struct {
    zmesh__turn_state_t state;
    int64_t group_started_ms;   //  GROUP: when it began
    size_t consumed;            //  OPEN: events it holds
    zmesh__turn_position_t *positions;  //  OPEN: one per publisher, in an
    size_t position_count, position_max;    //  array kept from turn to turn
    zlistx_t *events;           //  Event messages held for the commit
    zmesh__held_reply_t *replies;   //  OPEN: replies held for it, in an
    size_t reply_count, reply_max;  //  array kept from turn to turn
    zmesh__confirm_t *confirms; //  Owed, in the order published: those
    size_t confirm_count, confirm_max;  //  before confirm_decided were
    size_t confirm_decided;             //  committed (or failed) and wait
    bool confirming;                    //  to be called, which this says
                                        //  is under way
    uint64_t failed;            //  Commits failed since the last report
    int64_t reported_ms;        //  When a failed commit was last logged
} zmesh__turn_t;

//  Where a savepoint of the turn began.
typedef struct {
    size_t events;              //  Events held then
    uint64_t seq;               //  The node's sequence then
    size_t confirms;            //  Confirms owed then
    bool open;                  //  The store's savepoint is open
} zmesh__turn_mark_t;

//  The method handler that is running, for zmesh_node_defer (serve.c).
typedef struct {
    zmesh__routed_t **msg_p;    //  The request as it came, with its route
    zmesh_envelope_t **reply_p; //  The reply the handler fills
    const zmesh_envelope_t *request;
    zmesh_uuid_t reply_key;     //  Its reply's, in the cache and the store
    uint64_t at_us;             //  When it came, for the trace
    int64_t start_us;
    int64_t deadline_ms;        //  Monotonic: the caller's budget
} zmesh__serving_t;

//  A SUB link to one peer's events endpoint (subscribe.c).
typedef struct {
    zsock_t *socket;
    zsock_t *monitor;           //  Its disconnections, or NULL
    bool socket_ready;          //  Each as the loop's wait found it
    bool monitor_ready;
    char events [ZMESH_ENDPOINT_MAX + 1];
    char name [ZMESH_ENVELOPE_SOURCE_MAX + 1];      //  The peer's node name
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];   //  and service: what its
    bool closed;                                    //  events may say as
} zmesh__link_t;                                    //  their source

//  A publisher heard from (discovery.c): whether it keeps a log, and where
//  to ask it for a replay.
typedef struct {
    bool log;
    uint64_t tail;              //  Its last sequence, as it last beat
    bool watching;              //  A consumer follows it, and so:
    uint64_t watched;           //  our position in its log, as it last beat
    int64_t moved_ms;           //  Monotonic: when that last moved, or we
                                //  were last level with it
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char calls [ZMESH_ENDPOINT_MAX + 1];
} zmesh__publisher_t;

//  A call in flight (call.c).
typedef struct _zmesh__call_t zmesh__call_t;

//  admin.c: the latency of the calls a node makes to one service, for
//  its /metrics: a histogram over ZMESH__LATENCY_BOUNDS bounds, the last
//  bucket past them all. The first ZMESH__LATENCY_SERVICES services
//  called get one each; calls to any further one go to the last, named
//  "_other".
#define ZMESH__LATENCY_BOUNDS 14
#define ZMESH__LATENCY_SERVICES 32
typedef struct {
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    uint64_t buckets [ZMESH__LATENCY_BOUNDS + 1];     //  Not cumulative
    uint64_t count, failed, sum_us;
} zmesh__latency_t;

typedef struct _zmesh__admin_t zmesh__admin_t;
typedef struct _zmesh__otlp_t zmesh__otlp_t;

struct _zmesh_node_t {
    zmesh_node_config_t config;     //  Own copy
    zmesh_clock_t *clock;           //  Borrowed
    zmesh_rand_t *rand;             //  Borrowed, or owned_rand
    zmesh_rand_t *owned_rand;
    zmesh_uuid_t instance;          //  This process, for heartbeats, gossip
    char instance_text [ZMESH_UUID_STR_LEN + 1];
    zsock_t *pub;                   //  Events out
    zmesh__link_t **links;          //  Events in: a SUB socket per peer,
    size_t link_count, link_max;    //  in an array, which is read by
                                    //  index while it grows
    uint64_t links_made;            //  Names each link's monitor
    bool subscribed_all;            //  Links take every event (consumers)
    zsock_t *router;                //  Calls in
    zactor_t *gossip;               //  zgossip, when configured
    zmesh_pollset_t *pollset;       //  What the loop waits on, and
    bool router_ready;              //  whether the wait found these
    bool gossip_ready;              //  ready
    zmesh_requester_t *requester;   //  Calls out, a REQ link per attempt
    zmesh_caller_t *caller;         //  Breakers, retries, failover
    zhashx_t *policies;             //  service -> zmesh_call_policy_t
    zmesh_reply_cache_t *replies;   //  For retried requests
    zmesh__serving_t *serving;      //  The method handler running, or NULL
    zlistx_t *deferred;             //  zmesh_deferred_t: replies kept open
    zlistx_t *calls;                //  zmesh__call_t: calls in flight
    zmesh_peers_t *peers;
    zmesh_store_t *store;           //  With node/data: the durable log
    zmesh__turn_t turn;             //  The loop's transaction
    zlistx_t *consumers;            //  zmesh__subscription_t, reliable
    zhashx_t *positions;            //  publisher -> uint64_t last consumed
    zhashx_t *blocked;              //  publisher -> its event held back
    zhashx_t *repairs;              //  publisher -> its repair under way
    zhashx_t *durable;              //  publisher -> zmesh__publisher_t
    zhashx_t *pending;              //  publisher -> its events another
                                    //  member of the group owns
    uint64_t group_epoch;           //  Bumped when the group's members
                                    //  change (discovery.c)
    int64_t settle_ms;              //  Monotonic: when to look at them
    zhashx_t *unsaved;              //  publisher -> self: its position
                                    //  moved by events passed over, and
                                    //  is not recorded yet
    int64_t unsaved_ms;             //  Monotonic: when to record them
    //  The type a live publish had last, checked, with its topic frame
    //  and the node name's length (publish.c)
    struct {
        char type [ZMESH_ENVELOPE_TYPE_MAX + 1];
        size_t type_length;
        size_t source_length;
        size_t topic_size;
        char topic [ZMESH_TOPIC_MAX];
    } live;
    //  Events to one topic waiting to leave as one message (publish.c)
    struct {
        uint8_t *data;              //  PUBLISH_BATCH_BYTES, or NULL
        size_t size;                //  Of the envelopes at data
        int count;                  //  Envelopes at data
        size_t topic_size;
        char topic [ZMESH_TOPIC_MAX];
    } batch;
    zmesh_envelope_t *spare;        //  A request's or reply's, kept for
                                    //  the next (flow_envelope_new)
    zmesh_envelope_t *incoming;     //  Reused for each event received
    bool incoming_busy;             //  A handler holds incoming
    zmesh_trace_t *trace;           //  The last trace/keep flow records
    zmesh_security_t *security;     //  CURVE, or off
    zsock_t *tap;                   //  The tap's PUB while it is on
    char tap_endpoint [ZMESH_ENDPOINT_MAX + 1];
    uint64_t made_us;               //  Unix time of the last message made
    zlistx_t *subscriptions;        //  zmesh__subscription_t items
    zhashx_t *methods;              //  name -> zmesh__method_t
    char events_endpoint [ZMESH_ENDPOINT_MAX + 1];  //  Advertised
    char calls_endpoint [ZMESH_ENDPOINT_MAX + 1];   //  Advertised
    char events_bound [ZMESH_ENDPOINT_MAX + 1];     //  As bound (a port
    char calls_bound [ZMESH_ENDPOINT_MAX + 1];      //  chosen, say)
    //  Where the PUB, the ROUTER and the tap, unbound to close their links,
    //  are to be bound again ("" for none): the loop tries each turn.
    char rebind [3][ZMESH_ENDPOINT_MAX + 1];
    uint64_t seq;                   //  Last event sequence number used
    zmesh__context_t context;       //  Of the running handler or flow
    int64_t next_heartbeat_ms;      //  Monotonic
    int64_t now_ms;                 //  Monotonic: read once a turn, after
    int64_t now_us;                 //  the loop's wait (now_us / 1000)
    uint64_t taken_us;              //  Unix: when the turn took the
                                    //  messages it found (node_taken_us)
    uint64_t activity_seen;         //  Messages handled, at the last beat
    bool trim_due;                  //  Busy since the last trim
    bool stopped;
    bool draining;                  //  zmesh_node_drain: refusing calls
    int busy;                       //  Running its own code: the loop, a
                                    //  repair, dead letters; their calls
                                    //  keep a shared node's lock
    pthread_mutex_t lock;           //  zmesh_node_lock's
    bool shared;                    //  Since the first zmesh_node_lock
    zmesh_node_stats_t stats;
    zmesh__latency_t *latencies;    //  Of calls made, by service: up to
    size_t latency_count;           //  ZMESH__LATENCY_SERVICES
    zmesh__admin_t *admin;          //  The HTTP endpoint, with admin/port
    zmesh__otlp_t *otlp;            //  The span exporter, with otlp/endpoint
    int64_t bad_logged_ms;          //  When a bad frame was last logged
    uint64_t bad_unlogged;          //  Bad frames since, not logged
};


//  admin.c. start listens at admin/host and admin/port; refresh, called
//  by the loop at each heartbeat, leaves what the endpoint serves until
//  the next; stop (harmless when off) ends its thread.
zmesh_err_t
    zmesh__admin_start (zmesh_node_t *self, zmesh_detail_t *detail);
void
    zmesh__admin_refresh (zmesh_node_t *self);
void
    zmesh__admin_stop (zmesh_node_t *self);
//  One call made to service, ended after latency_us, failed or not.
void
    zmesh__admin_call (zmesh_node_t *self, const char *service,
                       uint64_t latency_us, bool failed);

//  otlp.c. start runs the exporter's thread; record queues a flow record
//  as a span (never waiting); flush, at each heartbeat, sends what is
//  queued; counts reads its counters; stop (harmless when off) sends what
//  is left, once, and ends the thread.
zmesh_err_t
    zmesh__otlp_start (zmesh_node_t *self, zmesh_detail_t *detail);
void
    zmesh__otlp_record (zmesh_node_t *self,
                        const zmesh_trace_record_t *record);
void
    zmesh__otlp_flush (zmesh_node_t *self);
void
    zmesh__otlp_counts (zmesh_node_t *self, uint64_t *exported,
                        uint64_t *dropped);
void
    zmesh__otlp_stop (zmesh_node_t *self);

//  builtins.c: the node's counters and gauges, as zmesh.stats and
//  /metrics give them: fills in up to max, and returns how many.
typedef struct {
    const char *name;
    uint64_t value;
    bool gauge;                 //  Else a counter, which only grows
    const char *help;
} zmesh__counter_t;
#define ZMESH__COUNTERS_MAX 40
size_t
    zmesh__builtins_counters (zmesh_node_t *self, zmesh__counter_t *counters,
                              size_t max);

//  node.c
void zmesh__node_advertised (zmesh_node_t *self, zsock_t *socket,
                             char *endpoint);
void zmesh__node_bad_frame (zmesh_node_t *self, const char *where,
                            zmesh_err_t rc, const char *why);
void
    zmesh__node_frame_destroy (void **item_p);

//  The unix time, in microseconds, of the messages the turn took: read
//  once, by the turn's first record of one (a turn of calls reads none).
static inline uint64_t
zmesh__node_taken_us (zmesh_node_t *self)
{
    if (!self->taken_us)
        self->taken_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    return self->taken_us;
}

//  flow.c
//  The ids and time of a new message: its id, its flow (correlation) and,
//  inside a handler, its cause (the message handled: the context's), made
//  from one reading of the clock, which made_us keeps for its trace.
typedef struct {
    zmesh_uuid_t id;
    zmesh_uuid_t correlation;
    const zmesh_uuid_t *causation;  //  NULL at the start of a flow
    uint64_t unix_ms;               //  Its timestamp
} zmesh__flow_ids_t;
void
    zmesh__flow_ids (zmesh_node_t *self, zmesh__flow_ids_t *ids);
//  The traceparent header a message made now carries, formatted in buffer
//  (ZMESH_TRACEPARENT_LEN + 1 bytes): a flow's first message, of a flow
//  begun with a parent span. NULL for any other message.
const char *
    zmesh__flow_traceparent (zmesh_node_t *self, char *buffer);
//  Make envelope (reset to kind) a new message of type in the flow in
//  force (ids as flow_ids gives them); false if type is not a valid name.
bool
    zmesh__flow_fill (zmesh_node_t *self, zmesh_envelope_t *envelope,
                      zmesh_kind_t kind, const char *type);
zmesh_envelope_t *zmesh__flow_envelope_new (zmesh_node_t *self,
                                            zmesh_kind_t kind,
                                            const char *type);
//  An envelope of flow_envelope_new's that is done with: kept as the
//  node's spare, for the next, or destroyed.
void zmesh__flow_envelope_done (zmesh_node_t *self,
                                zmesh_envelope_t **envelope_p);
void zmesh__flow_message_id (zmesh_node_t *self, uint64_t unix_ms,
                             zmesh_uuid_t *id);
//  Put a flow in force, keeping the one before in saved; leave puts that
//  back. cause (the message handled) may be NULL; no deadline is in force.
void
    zmesh__flow_enter (zmesh_node_t *self, zmesh__context_t *saved,
                       const zmesh_uuid_t *correlation,
                       const zmesh_uuid_t *cause);
void
    zmesh__flow_leave (zmesh_node_t *self, const zmesh__context_t *saved);

//  tap.c
zmesh_err_t
    zmesh__tap_reply_rc (const zmesh_envelope_t *reply);
zmesh_err_t
    zmesh__tap_switch (zmesh_node_t *self, bool on, zmesh_detail_t *detail);
void zmesh__tap_trace (zmesh_node_t *self, zmesh_trace_what_t what,
                       const zmesh_envelope_t *envelope, const char *peer,
                       zmesh_err_t rc, uint64_t at_us, uint64_t latency_us,
                       const zmesh_envelope_t *reply);
void zmesh__tap_trace_published (zmesh_node_t *self,
                                 const zmesh__event_fields_t *event,
                                 uint64_t at_us);

//  publish.c
//  The fields of a stored event, as its publisher sends it (or another
//  instance replays it). With check, false if they are not those of a
//  valid event: a row read back from a store that others write too.
bool
    zmesh__publish_fields_of (zmesh_node_t *self,
                              const zmesh_stored_event_t *stored,
                              zmesh__event_fields_t *event, bool check);
zmesh_err_t
    zmesh__publish_control (zmesh_node_t *self, const char *type);
//  An event's message, its topic and its envelope, as the turn holds it
//  until its commit.
typedef struct {
    size_t topic_size;
    char topic [ZMESH_TOPIC_MAX];
    zmq_msg_t body;
} zmesh__event_msg_t;

//  Send msg (taken, always) on the PUB socket, which never blocks.
zmesh_err_t
    zmesh__publish_send_msg (zmesh_node_t *self, zmesh__event_msg_t **msg_p);
//  Send the events batched so far (events/batch above 1), if any: at each
//  turn of the loop, zmesh_node_flush and zmesh_node_unlock, and before
//  any message that is not one of them. Free the batch's buffer too.
void
    zmesh__publish_batch_flush (zmesh_node_t *self);
void
    zmesh__publish_batch_destroy (zmesh_node_t *self);
//  Free an event's message, unsent; harmless on NULL. The second is the
//  destructor of a list of them.
void
    zmesh__publish_msg_destroy (zmesh__event_msg_t **msg_p);
void
    zmesh__publish_msg_destroy_item (void **item_p);

//  turn.c: the loop's transaction. begin opens the loop's turn (after
//  committing a publish group), or takes the store's write lock in one
//  open: what a consumer reads decides what it writes (the events it has
//  handled); begin_unlocked leaves the lock to the turn's first write
//  (db.h), so that calls served that only read wait for no writer in
//  another process (a replica's, say); group opens a publish group when
//  nothing is open; commit ends whichever is open, sending what it held,
//  and flush commits a publish group only; abort takes back whatever is
//  open, as a failed commit does. A savepoint and its release (keep:
//  its writes stay; otherwise they and the events published since are
//  taken back) bracket each handler. hold_event keeps an event message
//  for the commit (one must be open); reply sends a reply message, or
//  holds it while the loop's turn is open.
void
    zmesh__turn_init (zmesh__turn_t *turn);
void
    zmesh__turn_fini (zmesh__turn_t *turn);
bool
    zmesh__turn_begin (zmesh_node_t *self);
bool
    zmesh__turn_begin_unlocked (zmesh_node_t *self);
zmesh_err_t
    zmesh__turn_group (zmesh_node_t *self, zmesh_detail_t *detail);
void
    zmesh__turn_savepoint (zmesh_node_t *self, zmesh__turn_mark_t *mark);
bool
    zmesh__turn_release (zmesh_node_t *self, const zmesh__turn_mark_t *mark,
                         bool keep);
void
    zmesh__turn_hold_event (zmesh_node_t *self, zmesh__event_msg_t **msg_p);
bool
    zmesh__turn_confirm_reserve (zmesh_node_t *self);
void
    zmesh__turn_confirm_add (zmesh_node_t *self, zmesh_confirm_fn *fn,
                             void *arg, uint64_t seq);
void
    zmesh__turn_confirm_deliver (zmesh_node_t *self);
size_t
    zmesh__turn_held_events (zmesh_node_t *self);
void
    zmesh__turn_reply (zmesh_node_t *self, zmesh__routed_t **msg_p,
                       const zmesh_uuid_t *key);
void
    zmesh__turn_consumed (zmesh_node_t *self);
//  Record publisher's position as seq when the open turn commits.
void
    zmesh__turn_position (zmesh_node_t *self, const char *publisher,
                          uint64_t seq);
bool
    zmesh__turn_full (zmesh_node_t *self);
int64_t
    zmesh__turn_due_ms (zmesh_node_t *self);
zmesh_err_t
    zmesh__turn_flush (zmesh_node_t *self);
zmesh_err_t
    zmesh__turn_commit (zmesh_node_t *self);
void
    zmesh__turn_abort (zmesh_node_t *self);

//  discovery.c
//  Add the peer called key, or update it, and move its events link; false,
//  logged, if out of memory. A link that cannot be opened is not a
//  failure here: zmesh__links_repair opens it later.
bool zmesh__discovery_add_peer (zmesh_node_t *self, const char *key,
                                const char *name, const char *service,
                                const char *events, const char *calls,
                                bool from_config);
//  Whether a peer of node name and service may send as source: its
//  events carry its name, or, from a node that names no group of its own,
//  the service (which is then its name).
bool
    zmesh__discovery_speaks_as (const char *name, const char *service,
                                const char *source);
void
    zmesh__discovery_bye (zmesh_node_t *self, const zmesh_envelope_t *bye,
                          const zmesh__link_t *link);
void
    zmesh__discovery_gossip (zmesh_node_t *self);
//  Forget the learned peers gone for FORGET_AFTER x timing/gone, and what
//  was kept under their names: no table keyed by names peers choose grows
//  without bound.
void
    zmesh__discovery_forget (zmesh_node_t *self, int64_t now_ms);
void zmesh__discovery_heartbeat (zmesh_node_t *self,
                                 const zmesh_envelope_t *beat,
                                 const zmesh__link_t *link);
void zmesh__discovery_peer_changed (const zmesh_peer_info_t *peer,
                                    zmesh_peer_state_t was, void *arg);
zmesh_err_t
    zmesh__discovery_start_gossip (zmesh_node_t *self, zmesh_detail_t *detail);

//  subscribe.c: each peer's events come on a SUB link of its own, so that
//  what arrives on it is known to come from that peer (with security, the
//  peer whose key the link pinned): an event whose source is another
//  service is dropped. link_open connects one (subscribed to what the
//  node's handlers and consumers take) and adds it to the poller;
//  link_close takes it out at once and frees it at the next sweep, after
//  the loop's turn has read what it had; take reads one message from it.
zmesh_err_t
    zmesh__link_open (zmesh_node_t *self, const char *name,
                      const char *service, const char *events,
                      zmesh_detail_t *detail);
void
    zmesh__link_close (zmesh_node_t *self, const char *events);
//  Whether the link's connection dropped: then its peer, if alive, is
//  quiet at once.
void
    zmesh__link_watch (zmesh_node_t *self, zmesh__link_t *link);
void
    zmesh__links_sweep (zmesh_node_t *self);
//  Open the link that a peer's events endpoint calls for and that could
//  not be opened (out of descriptors or memory, say): at each heartbeat,
//  for as long as it fails, each failure counted in links_failed.
void
    zmesh__links_repair (zmesh_node_t *self);
void
    zmesh__links_destroy (zmesh_node_t *self);
//  Subscribe every link, and those to come, to every event.
void
    zmesh__links_subscribe_all (zmesh_node_t *self);
bool
    zmesh__subscribe_take (zmesh_node_t *self, zmesh__link_t *link);
void
    zmesh__subscription_destroy (void **item_p);
zmesh__subscription_t *
    zmesh__subscription_new (const char *pattern, void *arg);

//  consume.c: one event of a publisher, the next in its order (last is
//  its position, NULL for a publisher without a log); a live event, a
//  heartbeat's tail, each consumer once on an event (run, in savepoints);
//  a publisher's position; whether its events wait behind one held back
//  for a retry; when the first retry is due, and the retries that are;
//  and close, which frees what is held back.
void
    zmesh__consume_one (zmesh_node_t *self, const char *publisher,
                        uint64_t *last, const zmesh_envelope_t *event,
                        const void *frame, size_t size);
void
    zmesh__consume_live (zmesh_node_t *self, const zmesh_envelope_t *event,
                         const void *data, size_t size);
void
    zmesh__consume_tail (zmesh_node_t *self, const zmesh_envelope_t *beat);
zmesh_err_t
    zmesh__consume_run (zmesh_node_t *self, const zmesh_envelope_t *event,
                        zmesh_detail_t *detail);
uint64_t *
    zmesh__consume_position (zmesh_node_t *self, const char *publisher);
bool
    zmesh__consume_waits (zmesh_node_t *self, const char *publisher);
int64_t
    zmesh__consume_due_ms (zmesh_node_t *self);
void
    zmesh__consume_turn (zmesh_node_t *self);
void
    zmesh__consume_close (zmesh_node_t *self);
//  Add the positions that events passed over moved to the open turn,
//  which records them as it commits (turn.c).
void
    zmesh__consume_save (zmesh_node_t *self);
//  The same, opening the turn if there are any.
void
    zmesh__consume_flush (zmesh_node_t *self);
void
    zmesh__consume_pending_destroy (void **item_p);
void
    zmesh__consume_mates (zmesh_node_t *self, const char *service,
                          const char *source);
//  How far the consumers are behind the publishers they follow: lag is
//  the events in their logs not yet consumed, in all and at most from one;
//  stalled counts the publishers with events left whose position has not
//  moved for timing/gone.
typedef struct {
    uint64_t lag, lag_max, stalled;
} zmesh__consume_lag_t;
//  each, when not NULL, is told of every publisher followed, with the
//  events it is behind and whether it is stalled.
typedef void (zmesh__consume_lag_fn) (void *arg, const char *publisher,
                                      uint64_t behind, bool stalled);
void
    zmesh__consume_lag (zmesh_node_t *self, zmesh__consume_lag_t *lag,
                        zmesh__consume_lag_fn *each, void *arg);

//  replay.c: repair asks publisher to replay what follows last up to to,
//  a batch per turn of the loop, without waiting; a repair under way for
//  the same publisher takes the new end instead.
void
    zmesh__replay_repair (zmesh_node_t *self, const char *publisher,
                          uint64_t last, uint64_t to);
void
    zmesh__replay_repair_destroy (void **item_p);
void
    zmesh__replay_serve (zmesh_node_t *self, const zmesh_envelope_t *request,
                         zmesh_envelope_t *reply, void *arg);

//  deadletter.c
void zmesh__deadletter_serve_list (zmesh_node_t *self,
                                   const zmesh_envelope_t *request,
                                   zmesh_envelope_t *reply, void *arg);
void zmesh__deadletter_serve_replay (zmesh_node_t *self,
                                     const zmesh_envelope_t *request,
                                     zmesh_envelope_t *reply, void *arg);
void zmesh__deadletter_serve_show (zmesh_node_t *self,
                                   const zmesh_envelope_t *request,
                                   zmesh_envelope_t *reply, void *arg);

//  serve.c
bool
    zmesh__serve_take (zmesh_node_t *self);
void
    zmesh__serve_destroy_item (void **item_p);
//  Close a routed message's frames and free it; harmless on NULL.
void
    zmesh__routed_destroy (zmesh__routed_t **self_p);
//  Send a routed message (taken, always) on socket: 0, or -1 if it could
//  not go.
int
    zmesh__routed_send (zmesh__routed_t **self_p, void *socket);

//  access.c: whether identity (zmesh__security_identity's: "" without
//  security, NULL for a key taken out) may call method here.
bool
    zmesh__access_may_call (zmesh_node_t *self, const char *identity,
                            const char *method);
//  Whether events of type are taken from service (its peers' link).
bool
    zmesh__access_may_publish (zmesh_node_t *self, const char *service,
                               const char *type);

//  call.c: the calls in flight. due_ms is when the first of them has
//  something to do (INT64_MAX: none); turn takes every step that is due;
//  lost retries at once the attempts in flight to endpoint, whose instance
//  is gone; close ends them all, interrupted, running their completions.
int64_t
    zmesh__call_due_ms (zmesh_node_t *self);
void
    zmesh__call_turn (zmesh_node_t *self);
void
    zmesh__call_lost (zmesh_node_t *self, const char *endpoint);
void
    zmesh__call_close (zmesh_node_t *self);
zmesh_err_t
    zmesh__call_prepare (zsock_t *socket, const char *endpoint, void *arg,
                         zmesh_detail_t *detail);
//  zmesh_node_call_async to the one instance at endpoint (NULL: service's
//  instances), under service's policy. own: the node's own call (a
//  repair's replay), which a drain does not wait for.
zmesh_err_t
    zmesh__call_async_at (zmesh_node_t *self, const char *service,
                          const char *endpoint, const char *method,
                          const void *body, size_t body_size,
                          const zmesh_call_options_t *options,
                          zmesh_call_done_fn *done, void *arg, bool own);
//  The calls in flight that a drain waits for: all but the node's own.
size_t
    zmesh__call_awaited (zmesh_node_t *self);

//  builtins.c
void
    zmesh__builtins_reply_json (zmesh_envelope_t *reply, json_t *value);
json_t *
    zmesh__builtins_request_json (const zmesh_envelope_t *request);
void zmesh__builtins_publish (zmesh_node_t *self,
                              const zmesh_envelope_t *request,
                              zmesh_envelope_t *reply, void *arg);
void
    zmesh__builtins_stats (zmesh_node_t *self, const zmesh_envelope_t *request,
                           zmesh_envelope_t *reply, void *arg);
void
    zmesh__builtins_tap (zmesh_node_t *self, const zmesh_envelope_t *request,
                         zmesh_envelope_t *reply, void *arg);
void
    zmesh__builtins_trace (zmesh_node_t *self, const zmesh_envelope_t *request,
                           zmesh_envelope_t *reply, void *arg);

#endif
