/*  zmesh/node.h - a zmesh node: one service process in the mesh.

    A node binds a PUB socket for the events it publishes and a ROUTER
    socket (REQ-compatible) for the calls it serves; it connects a SUB socket
    to its peers' publishers and REQ sockets to the peers it calls. Peers
    come from the config and, when gossip is configured, from a CZMQ zgossip
    directory. Everything runs in the thread that calls zmesh_node_run (or
    zmesh_node_poll): handlers run there, one at a time, and the loop never
    waits for a peer. Handlers call out with zmesh_node_call_async, whose
    completion runs in the loop later, and a method handler that needs the
    answer defers its reply (zmesh_node_defer): the node goes on serving
    meanwhile. Other threads may share the node under its lock
    (zmesh_node_lock), and their blocking calls (zmesh_node_call) wait for
    their replies side by side.

    A node uses a REQ socket per peer instance it calls, and one more for
    each call to that instance in flight at the same time. A process with
    many peers should raise ZeroMQ's socket limit (1024 by default) with
    zsys_set_max_sockets (0) first thing in main, before any socket exists:
    ZeroMQ fixes the limit when its first socket is made.

    A node logs through CZMQ (zsys_info and friends), one line each, with
    its name: what it starts with, peers coming and going, breaker
    changes, gaps repaired, dead letters; node/verbose for more. Set
    zsys_set_logstream (stderr) first if stdout carries your data (CZMQ's
    default is stdout; a node with gossip sets stderr itself, since
    CZMQ's zgossip would point it at stdout).

    Correlation is automatic: inside a handler, everything the handler
    publishes or calls carries the incoming message's correlation id, and
    the incoming message's id as its causation id.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_NODE_H_INCLUDED
#define ZMESH_NODE_H_INCLUDED

#include "zmesh/export.h"
#include "zmesh/caller.h"
#include "zmesh/clock.h"
#include "zmesh/config.h"
#include "zmesh/envelope.h"
#include "zmesh/rand.h"
#include "zmesh/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _zmesh_node_t zmesh_node_t;

//  A node's gossip tuple is keyed ZMESH_GOSSIP_PREFIX <service>/<instance>,
//  its value "events=<endpoint> calls=<endpoint>" (proto/node.md).
#define ZMESH_GOSSIP_PREFIX "zmesh/"

//  Called for each event that matches a subscription. event is borrowed
//  for the duration of the call.
typedef void (zmesh_event_fn) (zmesh_node_t *node,
                               const zmesh_envelope_t *event, void *arg);

//  Called for each request to a method the node serves. reply arrives as an
//  ok reply with ids, type and source filled in; the handler sets its body
//  (zmesh_envelope_set_body) or an application error
//  (zmesh_envelope_set_status with ZMESH_STATUS_APP_ERROR). Both envelopes
//  are borrowed for the duration of the call. On a node with a store, it
//  runs inside the transaction of the loop's turn, like a consumer, and
//  the reply is sent once that has committed (proto/node.md, section 1).
typedef void (zmesh_method_fn) (zmesh_node_t *node,
                                const zmesh_envelope_t *request,
                                zmesh_envelope_t *reply, void *arg);

typedef enum {
    ZMESH_PEER_UNKNOWN = 0,     //  Configured or learned, never heard from
    ZMESH_PEER_ALIVE = 1,       //  Heard from within timing/quiet
    ZMESH_PEER_QUIET = 2,       //  Silent for timing/quiet
    ZMESH_PEER_GONE = 3         //  Silent for timing/gone
} zmesh_peer_state_t;

typedef struct {
    char key [ZMESH_ENDPOINT_MAX + 1];      //  Config label or gossip key
    char name [ZMESH_ENVELOPE_SOURCE_MAX + 1];      //  Its node name: the
                                                    //  label, or gossip's
    char service [ZMESH_ENVELOPE_SOURCE_MAX + 1];
    char events [ZMESH_ENDPOINT_MAX + 1];   //  Its PUB endpoint, or ""
    char calls [ZMESH_ENDPOINT_MAX + 1];    //  Its call endpoint, or ""
    zmesh_peer_state_t state;
    int64_t last_heard_ms;      //  Monotonic: its last heartbeat, or when
                                //  gossip brought it
    bool from_config;           //  False if learned through gossip
    char instance [ZMESH_UUID_STR_LEN + 1];     //  From its heartbeats, or
                                                //  "" before the first
} zmesh_peer_info_t;

typedef struct {
    uint64_t events_published;
    uint64_t events_received;   //  Valid events handed to handlers
    uint64_t bad_frames;        //  Dropped: not a valid message
    uint64_t calls_served;      //  Requests answered, any status
    uint64_t unknown_methods;   //  Requests for a method not served
    uint64_t calls_refused;     //  Requests the caller may not make
    uint64_t calls_made;        //  Attempts through the REQ path
    uint64_t call_timeouts;
    uint64_t bad_replies;       //  Garbage or replies to other requests
    uint64_t heartbeats_sent;
    uint64_t heartbeats_received;
    uint64_t duplicates_answered;   //  Retried requests answered from cache
    uint64_t events_consumed;       //  Handled by reliable consumers
    uint64_t events_repeated;       //  Seen again (replays, repeats): skipped
    uint64_t events_replayed;       //  Fetched to repair a gap
    uint64_t replays_failed;        //  Repair calls that did not answer
    uint64_t ranges_trimmed;        //  Asked for, but gone from the log
    uint64_t dead_letters;          //  Events handlers gave up on
    uint64_t batch_commits;         //  Transactions of the loop: the
                                    //  events and calls of one turn
    uint64_t replies_late;          //  Deferred replies finished after
                                    //  the caller's budget: dropped
    uint64_t events_left;           //  Another member of the group owned
                                    //  them, and handled them
    uint64_t spans_exported;        //  Flow records the collector took
    uint64_t spans_dropped;         //  ... it did not, or the queue had
                                    //  no room for (otlp/endpoint)
    uint64_t links_failed;          //  Event links to peers that could
                                    //  not be opened: each is tried
                                    //  again at every heartbeat
} zmesh_node_stats_t;

//  A reliable consumer's handler: ZMESH_OK when the event is handled, or
//  an error (with detail) to have it tried again events/retry_delay x 2^n ms
//  later (from a timer: the node goes on meanwhile, and the publisher's
//  later events wait behind it), and after events/attempts tries, put in
//  the dead-letter store. It runs inside the transaction
//  that records the event as processed: what it writes to the node's store
//  (zmesh_node_store) commits with that, or not at all, and what it
//  publishes is sent once that has committed. The events the loop takes
//  in one turn share one transaction (one fsync); each runs in a savepoint
//  of its own, so one that fails takes back only its own writes.
typedef zmesh_err_t (zmesh_consume_fn) (zmesh_node_t *node,
                                        const zmesh_envelope_t *event,
                                        void *arg, zmesh_detail_t *detail);

typedef struct {
    uint32_t timeout_ms;        //  0: timing/call_timeout
    zmesh_fallback_fn *fallback;    //  Makes the reply if the call fails
    void *fallback_arg;
    const char *key;            //  NULL: to the live instance with the
                                //  fewest calls in flight; else to the one
                                //  that owns key (rendezvous hashing), or,
                                //  failing it, the next
} zmesh_call_options_t;

//  Create a node from a validated config (copied), binding its sockets and
//  connecting to its configured peers and gossip seeds. clock and rand are
//  borrowed (NULL: the real clock, and a kernel source the node owns).
//  Returns NULL on failure, with detail saying why (e.g. a bind failed).
//  With glibc, the first node of a process fixes malloc's mmap threshold
//  at 128 KiB, and each node gives freed memory back to the system once a
//  busy heartbeat period is followed by an idle one (malloc_trim).
ZMESH_EXPORT zmesh_node_t *
    zmesh_node_new (const zmesh_node_config_t *config, zmesh_clock_t *clock,
                    zmesh_rand_t *rand, zmesh_detail_t *detail);

//  Close the node's sockets (lingering at most sockets/linger) and free it;
//  harmless on NULL.
ZMESH_EXPORT void
    zmesh_node_destroy (zmesh_node_t **self_p);

//  The node's name, and the endpoints others reach it at (with the port a
//  "*" bind got, and node/advertise in place of a wildcard host).
ZMESH_EXPORT const char *
    zmesh_node_name (zmesh_node_t *self);
ZMESH_EXPORT const char *
    zmesh_node_events_endpoint (zmesh_node_t *self);
ZMESH_EXPORT const char *
    zmesh_node_calls_endpoint (zmesh_node_t *self);

//  Call handler for events whose type matches pattern: "user.created"
//  exactly, "order.*" by prefix, "*" for all. Returns ZMESH_OK or
//  ZMESH_ERR_INVALID for a bad pattern.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_subscribe (zmesh_node_t *self, const char *pattern,
                          zmesh_event_fn *handler, void *arg);

//  Serve method (a type name, e.g. "user.get") with handler. Returns ZMESH_OK
//  or ZMESH_ERR_INVALID for a bad name or a method served twice. Every node
//  already serves "zmesh.stats": its zmesh_node_stats_t counters, one reply
//  header each ("bad_frames" = "3", ...), and "zmesh.publish" {type, body}:
//  publishes for the caller. A node with a store also serves
//  "zmesh.replay", "zmesh.dlq.list" (its dead letters) and
//  "zmesh.dlq.replay" (proto/node.md).
ZMESH_EXPORT zmesh_err_t
    zmesh_node_serve (zmesh_node_t *self, const char *method,
                      zmesh_method_fn *handler, void *arg);

//  A reply kept open after its method's handler has returned.
typedef struct _zmesh_deferred_t zmesh_deferred_t;

//  Inside a method handler: keep the reply open, to finish it later with
//  zmesh_deferred_finish, from the completion of a call the handler made
//  (zmesh_node_call_async), an event, or a later turn of the loop. The
//  reply the handler was given becomes the deferred reply
//  (zmesh_deferred_reply), and the handler must not touch it once it
//  returns. A retry of the request that comes meanwhile waits for the same
//  reply. Returns the handle, which the node owns until it is finished
//  (or the node destroyed), or NULL outside a method handler, when the
//  reply is deferred already, or out of memory.
ZMESH_EXPORT zmesh_deferred_t *
    zmesh_node_defer (zmesh_node_t *self);

//  The reply to fill: borrowed until zmesh_deferred_finish.
ZMESH_EXPORT zmesh_envelope_t *
    zmesh_deferred_reply (zmesh_deferred_t *self);

//  Send the deferred reply and free the handle; *self_p is set to NULL. On
//  a node with a store, the reply leaves once what was written before it
//  in this turn of the loop has committed. A reply finished after the
//  request's budget is not sent (the caller has given up on it): it is
//  counted as replies_late. Harmless on NULL.
ZMESH_EXPORT void
    zmesh_deferred_finish (zmesh_deferred_t **self_p);

//  Publish an event of type with a body of one msgpack value (or NULL, 0).
//  With node/data, the event is appended to the node's store (stream: the
//  node's name) before it is sent, and publish returns once that is
//  committed; its sequence number is its position in the store, and
//  subscribers that miss it get it replayed. With events/group above 1,
//  publish returns once it is appended, and the group is committed (and
//  only then sent) when it is full, events/group_ms later, or at
//  zmesh_node_flush. Without node/data, it is sent only, and a subscriber
//  over its high-water mark misses it. With events/batch above 1, it may
//  wait to leave with the next events of its type, until the batch is
//  full, another message goes, or the loop turns (zmesh_node_poll),
//  zmesh_node_flush or zmesh_node_unlock. Never blocks on a subscriber.
//  Returns ZMESH_OK, an envelope error for a bad type or body (with
//  node/data, ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE over ZMESH_STORE_BODY_MAX),
//  or a store error.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_publish (zmesh_node_t *self, const char *type,
                        const void *body, size_t body_size);

//  Commit the open group (events/group above 1) now, and send its events
//  and those batched (events/batch above 1): once this returns ZMESH_OK,
//  every event published before it is durable, as a batch of publisher
//  confirms would say, and sent. ZMESH_OK at once
//  when no group is open; a store error if the commit fails, in which case
//  the group's events are lost and not sent.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_flush (zmesh_node_t *self);

//  The confirm of an event published with zmesh_node_publish_async, called
//  once: rc ZMESH_OK when the event is committed to the node's store and
//  sent, seq its sequence number; ZMESH_ERR_STORE when it is not (the
//  commit failed, or the handler it was published from failed and its
//  writes were taken back): the event is lost and was never sent, and seq
//  is 0.
typedef void (zmesh_confirm_fn) (zmesh_node_t *node, zmesh_err_t rc,
                                 uint64_t seq, void *arg);

//  Publish as zmesh_node_publish does with node/data, but return once the
//  event is appended, before it is committed: the confirm says when it is.
//  The events published between two turns of the loop share one commit
//  (one fsync, under events/sync=full), which the next zmesh_node_poll
//  makes (at once: a confirm owed lets the poll wait no longer), or
//  zmesh_node_flush, or the publish itself once 4096 are waiting; the
//  confirms are called at the end of that poll or flush, in the order the
//  events were published, and may publish again. Inside a handler, the
//  event waits for the turn's commit, as zmesh_node_publish's does.
//  Confirms still owed when the node is destroyed are not called: flush
//  first. Returns ZMESH_OK (the confirm will be called), ZMESH_ERR_INVALID
//  without node/data, an envelope error for a bad type or body, or a store
//  error (no confirm will be).
ZMESH_EXPORT zmesh_err_t
    zmesh_node_publish_async (zmesh_node_t *self, const char *type,
                              const void *body, size_t body_size,
                              zmesh_confirm_fn *confirm, void *arg);

//  Append events to stream in the node's store, expecting it at expected
//  (zmesh_store_append), then publish them under their positions. Ids,
//  correlation, causation and timestamp left empty are filled in as
//  publish does. Returns ZMESH_ERR_INVALID without node/data, or the
//  append's result; a retried append (duplicate ids) is not sent again.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_append (zmesh_node_t *self, const char *stream,
                       int64_t expected, const zmesh_new_event_t *events,
                       size_t count, zmesh_append_result_t *result,
                       zmesh_detail_t *detail);

//  Consume events whose type matches pattern reliably: every event of
//  every publisher the node hears, exactly once per event id, in each
//  publisher's order, surviving restarts of either side: gaps are filled
//  by asking the publisher to replay from its store, and the position
//  reached with each publisher is kept in this node's store. Needs
//  node/data (ZMESH_ERR_INVALID otherwise). events/start says where to
//  begin with a publisher never heard from.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_consume (zmesh_node_t *self, const char *pattern,
                        zmesh_consume_fn *handler, void *arg);

//  Run the consumers again on every dead letter, one try each; those that
//  now succeed leave the dead-letter store. *replayed and *failed, if not
//  NULL, count them.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_replay_dead_letters (zmesh_node_t *self, size_t *replayed,
                                    size_t *failed, zmesh_detail_t *detail);

//  The node's store, or NULL without node/data. Borrowed.
ZMESH_EXPORT zmesh_store_t *
    zmesh_node_store (zmesh_node_t *self);

//  Call method on an instance of service and wait at most timeout_ms (0:
//  timing/call_timeout; inside a handler, never past the incoming request's
//  budget). The call goes through the node's caller (zmesh/caller.h):
//  breakers per instance, bulkheads, retries of the same request id with
//  backoff, failover to other instances, all within the one deadline, under
//  the policy configured for service. Returns ZMESH_OK with *reply_p set
//  (caller owns it), or ZMESH_ERR_APP_ERROR with *reply_p set to the error
//  reply, or an error with *reply_p untouched: ZMESH_ERR_NO_ROUTE,
//  ZMESH_ERR_CIRCUIT_OPEN, ZMESH_ERR_OVERLOADED, ZMESH_ERR_TIMEOUT,
//  ZMESH_ERR_UNKNOWN_METHOD, ZMESH_ERR_BAD_REQUEST, ZMESH_ERR_UNAVAILABLE,
//  ZMESH_ERR_REMOTE_INTERNAL, ZMESH_ERR_BAD_REPLY, ZMESH_ERR_INTERRUPTED.
//  detail, if not NULL, says more. Every attempt carries what is left of
//  the deadline as its budget. This waits: it is for code outside the
//  node's loop, such as another thread sharing the node. Called from a
//  handler, it holds up the node's loop until it returns; handlers use
//  zmesh_node_call_async.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_call (zmesh_node_t *self, const char *service,
                     const char *method, const void *body, size_t body_size,
                     uint32_t timeout_ms, zmesh_envelope_t **reply_p,
                     zmesh_detail_t *detail);

//  zmesh_node_call with options: a timeout and a fallback (NULL: none).
ZMESH_EXPORT zmesh_err_t
    zmesh_node_call_with (zmesh_node_t *self, const char *service,
                          const char *method, const void *body,
                          size_t body_size, const zmesh_call_options_t *options,
                          zmesh_envelope_t **reply_p, zmesh_detail_t *detail);

//  Called once when a call made with zmesh_node_call_async completes: in
//  the node's loop, in the flow (correlation, causation, deadline) of the
//  code that made the call, and on a node with a store inside the loop's
//  turn, like a handler. rc is what zmesh_node_call would have returned;
//  reply, borrowed for the duration of the call, is the reply with
//  ZMESH_OK and ZMESH_ERR_APP_ERROR, else NULL; detail says more (never
//  NULL). When the node is destroyed with calls in flight, each completes
//  with ZMESH_ERR_INTERRUPTED.
typedef void (zmesh_call_done_fn) (zmesh_node_t *node, zmesh_err_t rc,
                                   const zmesh_envelope_t *reply,
                                   const char *detail, void *arg);

//  Make the call zmesh_node_call makes, on the same path (breakers,
//  bulkheads, retries, failover, budget, fallback, within one deadline
//  that never passes the budget of the request being handled), without
//  waiting: the node's loop drives it, and done runs when it is over,
//  never before this returns. Handlers, many at a time, may have many
//  calls in flight; a method handler that needs the answer defers its
//  reply (zmesh_node_defer) and finishes it from done. options may be
//  NULL. Returns ZMESH_OK when the call is under way, or, with done never
//  run, ZMESH_ERR_ENVELOPE_BAD_NAME for a bad method name, an envelope
//  error for a bad body, or ZMESH_ERR_NOMEM.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_call_async (zmesh_node_t *self, const char *service,
                           const char *method, const void *body,
                           size_t body_size,
                           const zmesh_call_options_t *options,
                           zmesh_call_done_fn *done, void *arg);

//  Answer a request with "overloaded, retry after retry_after_ms": a mesh
//  error (unavailable) that callers retry no sooner than asked.
ZMESH_EXPORT void
    zmesh_reply_overloaded (zmesh_envelope_t *reply, uint32_t retry_after_ms);

//  The node's caller, to look at its breakers and counters.
ZMESH_EXPORT zmesh_caller_t *
    zmesh_node_caller (zmesh_node_t *self);

//  Start a flow outside any handler: until zmesh_node_flow_end, what the
//  node publishes and calls carries correlation (NULL: a new one). Outside
//  a flow and a handler, every publish and call starts a flow of its own.
ZMESH_EXPORT void
    zmesh_node_flow_begin (zmesh_node_t *self,
                           const zmesh_uuid_t *correlation);
ZMESH_EXPORT void
    zmesh_node_flow_end (zmesh_node_t *self);

//  Start a flow that goes on with a W3C trace context: its correlation is
//  traceparent's trace id, and the flow's first messages (those no handler
//  makes) carry traceparent, whose parent-id is their parent span
//  (envelope.md, section 3). ZMESH_ERR_INVALID, and no flow, if
//  traceparent is not one (zmesh_traceparent_parse).
ZMESH_EXPORT zmesh_err_t
    zmesh_node_flow_begin_traced (zmesh_node_t *self,
                                  const char *traceparent);

//  The correlation id in force (inside a handler or a flow), or NULL.
ZMESH_EXPORT const zmesh_uuid_t *
    zmesh_node_correlation (zmesh_node_t *self);

//  Handle what is ready, waiting at most timeout_ms, and run due timers
//  (heartbeats, peer liveness). Returns ZMESH_OK, or ZMESH_ERR_INTERRUPTED
//  once SIGINT or SIGTERM has arrived.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_poll (zmesh_node_t *self, int timeout_ms);

//  Poll until zmesh_node_stop is called (from a handler) or a signal
//  arrives. Returns ZMESH_OK or ZMESH_ERR_INTERRUPTED; never hangs: a
//  signal is seen within one poll.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_run (zmesh_node_t *self);

//  Share the node between threads. A node is used by one thread at a
//  time: every thread that uses a shared node holds its lock while it does,
//  from zmesh_node_flow_begin to zmesh_node_flow_end when it starts a flow.
//  The first zmesh_node_lock makes the node shared. From then on, a call
//  the application makes lets go of the lock while it waits for a reply or
//  between attempts, and takes it back before it returns: calls from
//  several threads are in flight at once, each in its own flow. Calls made
//  by handlers keep the lock, and so does zmesh_node_poll, its wait
//  included: the thread that runs the loop of a shared node polls with a
//  short timeout and waits outside the lock, as zmesh-gateway does.
ZMESH_EXPORT void
    zmesh_node_lock (zmesh_node_t *self);
ZMESH_EXPORT void
    zmesh_node_unlock (zmesh_node_t *self);

//  Read security/keys again (on SIGHUP, say): the keys now there are the
//  ones let in and pinned, and a link made with a key taken out speaks for
//  nobody any more: its calls are refused (mesh error forbidden). If a key
//  was taken out, the node closes every link made to it (events, calls,
//  the tap), to be made again through ZAP: the taken-out key's
//  subscriptions end too. On error, with
//  detail, the keys read before stay. With security off, does nothing.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_reload_keys (zmesh_node_t *self, zmesh_detail_t *detail);

//  Stop gracefully, before zmesh_node_destroy: say goodbye, answer new
//  requests "unavailable, retry after 250 ms" (so that callers go to
//  another instance, or to this one restarted), and turn the loop until
//  the calls it has in flight (not its own replays, which repair gaps) and
//  the replies it has deferred are done, at most timing/drain ms; signals
//  do not cut this short. Returns ZMESH_OK
//  when all were done, or ZMESH_ERR_TIMEOUT.
ZMESH_EXPORT zmesh_err_t
    zmesh_node_drain (zmesh_node_t *self);

//  Make zmesh_node_run return after the current handler.
ZMESH_EXPORT void
    zmesh_node_stop (zmesh_node_t *self);

//  Copy the node's counters into stats.
ZMESH_EXPORT void
    zmesh_node_stats (zmesh_node_t *self, zmesh_node_stats_t *stats);

//  The node's metrics in the Prometheus text format (version 0.0.4), as
//  its admin endpoint serves them at /metrics: its counters, the latency
//  of the calls it makes by service called, its consumers' lag by
//  publisher, and its breakers' states (proto/node.md). The caller frees
//  the text; NULL if out of memory.
ZMESH_EXPORT char *
    zmesh_node_metrics (zmesh_node_t *self);

//  The port the admin endpoint listens on (admin/port; with 0, the one
//  the system chose), or 0 when it is off.
ZMESH_EXPORT int
    zmesh_node_admin_port (zmesh_node_t *self);

//  The peers the node knows: count, and a copy of the index-th.
ZMESH_EXPORT size_t
    zmesh_node_peer_count (zmesh_node_t *self);
ZMESH_EXPORT void
    zmesh_node_peer (zmesh_node_t *self, size_t index,
                     zmesh_peer_info_t *info);

//  Return the name of a peer state: "unknown", "alive", "quiet", "gone".
ZMESH_EXPORT const char *
    zmesh_peer_state_name (zmesh_peer_state_t state);

#ifdef __cplusplus
}
#endif

#endif
