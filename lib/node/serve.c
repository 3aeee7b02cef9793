/*  serve.c - calls in: requests, their handlers, and replies, now or
    deferred.

    A request runs its method's handler once: a retry of it (the same
    request id) that comes after the reply is answered from the reply
    cache, and one that comes while a deferred reply is open waits for that
    reply. Replies leave through the turn, so on a node with a store a
    reply goes only once what its handler wrote has committed.

    Part of zmesh. MIT License.
*/
#include <uuid/uuid.h>
#include "node_private.h"

#define DRAIN_RETRY_MS "250"    //  What a stopping node asks callers to wait
#define S_TEXT(value)   #value
#define S_STRING(value) S_TEXT (value)

struct _zmesh_deferred_t {
    zmesh_node_t *node;
    zmesh__routed_t *msg;       //  The request's routing frames and itself
    zlistx_t *retries;          //  Retries of it that came meanwhile
    zmesh_envelope_t *reply;
    zmesh_uuid_t request_id;
    int64_t deadline_ms;        //  Monotonic: the request's budget
    uint64_t at_us;             //  When it came, for the trace
    int64_t start_us;
    void *handle;               //  In the node's deferred list
};

void
zmesh__routed_destroy (zmesh__routed_t **self_p)
{
    zmesh__routed_t *self = *self_p;
    if (self) {
        for (size_t index = 0; index < self->routes; index++)
            zmq_msg_close (&self->route [index]);
        zmq_msg_close (&self->body);
        zmesh__free (self);
        *self_p = NULL;
    }
}

static void
s_routed_destroy_item (void **item_p)
{
    zmesh__routed_destroy ((zmesh__routed_t **) item_p);
}

int
zmesh__routed_send (zmesh__routed_t **self_p, void *socket)
{
    zmesh__routed_t *self = *self_p;
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < self->routes; index++)
        rc = zmq_msg_send (&self->route [index], socket, ZMQ_SNDMORE) < 0
           ? -1 : 0;
    if (rc == 0 && zmq_msg_send (&self->body, socket, 0) < 0)
        rc = -1;
    zmesh__routed_destroy (self_p);
    return rc;
}

//  Send reply (taken: moved) to the request routed by msg (taken), whose
//  last frame, the request, it replaces. key: what the reply is kept under
//  in the reply cache by this turn (NULL: none), which a failed commit
//  takes out again.
static void
s_send_frame (zmesh_node_t *self, zmesh__routed_t **msg_p, zmq_msg_t *reply,
              const zmesh_uuid_t *key)
{
    zmq_msg_move (&(*msg_p)->body, reply);
    zmesh__turn_reply (self, msg_p, key);
    self->stats.calls_served++;
}

//  The reply as a message in frame (which it initializes; false if out of
//  memory): a handler may have left it unencodable (a bad body, say), and
//  then it is an internal error.
static bool
s_encode_reply (zmesh_node_t *self, zmesh_envelope_t *reply, zmq_msg_t *frame)
{
    zmesh_detail_t detail = {""};
    if (zmesh_envelope_encode_msg (reply, frame, &detail) == ZMESH_OK)
        return true;
    zsys_error ("node %s: cannot encode reply to %s: %s", self->config.name,
                zmesh_envelope_type (reply), detail.text);
    zmesh_envelope_set_body (reply, NULL, 0);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                               ZMESH_MESH_INTERNAL,
                               "the handler's reply could not be encoded");
    return zmesh_envelope_encode_msg (reply, frame, NULL) == ZMESH_OK;
}

//  Keep frame, the reply to request_id, for retries of the request: in
//  memory, and, when durable, in the store, in the transaction of the
//  loop's turn, which holds the writes it reports; a retry after a crash
//  then gets it too, and the handler does not run again.
static void
s_keep_reply (zmesh_node_t *self, const zmesh_uuid_t *request_id,
              zmq_msg_t *frame, bool durable)
{
    if (durable && self->store && self->turn.state == ZMESH__TURN_OPEN
        && zmesh__store_in_transaction (self->store))
        zmesh__inbox_keep_reply (self->store, request_id, zmq_msg_data (frame),
                                 zmq_msg_size (frame),
                                 (uint64_t) zmesh_clock_unix_ms (self->clock));
    zmesh__reply_cache_put (self->replies, request_id, zmq_msg_data (frame),
                            zmq_msg_size (frame));
}

//  Reply to the request routed by msg (taken); with request_id, keep the
//  reply for retries of the request (durable: in the store too, with what
//  the handler wrote). An answer to try again later (mesh error 4) from a
//  handler that wrote nothing is not kept: the retry it asks for runs the
//  handler again.
static void
s_send_reply (zmesh_node_t *self, zmesh__routed_t **msg_p,
              zmesh_envelope_t *reply, const zmesh_uuid_t *request_id,
              bool durable)
{
    zmq_msg_t frame;
    if (!s_encode_reply (self, reply, &frame)) {
        zmesh__routed_destroy (msg_p);
        return;
    }
    if (!durable && zmesh_envelope_status (reply) == ZMESH_STATUS_MESH_ERROR
        && zmesh_envelope_error_code (reply) == ZMESH_MESH_UNAVAILABLE)
        request_id = NULL;
    if (request_id)
        s_keep_reply (self, request_id, &frame, durable);
    s_send_frame (self, msg_p, &frame, request_id);
    zmq_msg_close (&frame);
}

//  Reply with a mesh error; request may be NULL if it could not be read.
static void
s_reply_error (zmesh_node_t *self, zmesh__routed_t **msg_p,
               const zmesh_envelope_t *request, zmesh_mesh_error_t code,
               const char *text)
{
    zmesh__context_t saved = self->context;
    if (request)
        zmesh__flow_enter (self, &saved, zmesh_envelope_correlation (request),
                           zmesh_envelope_id (request));
    else
        self->context.active = false;
    zmesh_envelope_t *reply = zmesh__flow_envelope_new (
        self, ZMESH_KIND_REPLY,
        request ? zmesh_envelope_type (request) : "zmesh.error");
    zmesh__flow_leave (self, &saved);
    if (!reply) {
        zmesh__routed_destroy (msg_p);
        return;
    }
    char bounded [ZMESH_ENVELOPE_TEXT_MAX + 1];
    snprintf (bounded, sizeof bounded, "%s", text);
    zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR, code, bounded);
    if (code == ZMESH_MESH_UNAVAILABLE)
        zmesh_envelope_set_header (reply, "retry-after-ms", DRAIN_RETRY_MS);
    if (request && zmesh_envelope_kind (request) == ZMESH_KIND_REQUEST)
        zmesh__tap_trace (
            self, ZMESH_TRACE_SERVED, request, zmesh_envelope_source (request),
            zmesh__tap_reply_rc (reply),
            (uint64_t) zmesh_clock_unix_us (self->clock), 0, reply);
    s_send_reply (self, msg_p, reply, NULL, false);
    zmesh__flow_envelope_done (self, &reply);
}

//  Run method on request and reply to msg (taken), keeping the reply for
//  retries of the request; unless the handler defers it
//  (zmesh_node_defer), which then takes msg and the reply.
static void
s_run_method (zmesh_node_t *self, zmesh__routed_t **msg_p,
              const zmesh_envelope_t *request, const zmesh_uuid_t *reply_key,
              zmesh__method_t *method)
{
    //  What the handler writes commits with the loop's turn, before the
    //  reply goes (without a transaction, each write commits alone).
    if (self->store)
        zmesh__turn_begin_unlocked (self);
    zmesh__context_t saved;
    zmesh__flow_enter (self, &saved, zmesh_envelope_correlation (request),
                       zmesh_envelope_id (request));
    zmesh_envelope_t *reply = zmesh__flow_envelope_new (
        self, ZMESH_KIND_REPLY, zmesh_envelope_type (request));
    //  The wall clock's reading was made for the reply's id (flow_fill);
    //  the budget and the timing start when the turn took the request
    int64_t start_us = self->now_us;
    self->context.has_deadline = true;
    self->context.deadline_ms = start_us / 1000
                              + zmesh_envelope_budget_ms (request);
    zmesh__serving_t serving = {
        .msg_p = msg_p, .reply_p = &reply, .request = request,
        .reply_key = *reply_key,
        .at_us = self->made_us,
        .start_us = start_us,
        .deadline_ms = self->context.deadline_ms};
    zmesh__serving_t *outer = self->serving;
    self->serving = &serving;
    int64_t changes = self->store ? zmesh__store_changes (self->store) : 0;
    if (reply)
        method->handler (self, request, reply, method->arg);
    self->serving = outer;
    zmesh__flow_leave (self, &saved);
    if (!reply)
        return;                 //  Deferred, or out of memory
    zmesh__tap_trace (
        self, ZMESH_TRACE_SERVED, request, zmesh_envelope_source (request),
        zmesh__tap_reply_rc (reply), serving.at_us,
        (uint64_t) (zmesh_clock_mono_us (self->clock) - serving.start_us),
        reply);
    //  Only the reply of a handler that wrote is kept in the store: one
    //  that did not may simply run again.
    bool wrote = self->store && zmesh__store_changes (self->store) != changes;
    s_send_reply (self, msg_p, reply, reply_key, wrote);
    zmesh__flow_envelope_done (self, &reply);
}

//  The open deferred reply to request_id, or NULL.
static zmesh_deferred_t *
s_deferred_find (zmesh_node_t *self, const zmesh_uuid_t *request_id)
{
    for (zmesh_deferred_t *deferred = zlistx_first (self->deferred); deferred;
         deferred = zlistx_next (self->deferred))
        if (zmesh_uuid_eq (&deferred->request_id, request_id))
            return deferred;
    return NULL;
}

static void
s_deferred_destroy (zmesh_deferred_t **self_p)
{
    zmesh_deferred_t *self = *self_p;
    if (self) {
        zmesh__routed_destroy (&self->msg);
        zlistx_destroy (&self->retries);
        zmesh_envelope_destroy (&self->reply);
        zmesh__free (self);
        *self_p = NULL;
    }
}

void
zmesh__serve_destroy_item (void **item_p)
{
    s_deferred_destroy ((zmesh_deferred_t **) item_p);
}

zmesh_deferred_t *
zmesh_node_defer (zmesh_node_t *self)
{
    assert (self);
    zmesh__serving_t *serving = self->serving;
    if (!serving || !*serving->reply_p)
        return NULL;            //  Not in a handler, or deferred already
    zmesh_deferred_t *deferred = zmesh__calloc (1, sizeof *deferred);
    if (!deferred)
        return NULL;
    deferred->node = self;
    deferred->retries = zlistx_new ();
    deferred->handle = deferred->retries
                     ? zlistx_add_end (self->deferred, deferred) : NULL;
    if (!deferred->handle) {
        s_deferred_destroy (&deferred);
        return NULL;
    }
    zlistx_set_destructor (deferred->retries, s_routed_destroy_item);
    deferred->msg = *serving->msg_p;
    *serving->msg_p = NULL;
    deferred->reply = *serving->reply_p;
    *serving->reply_p = NULL;
    deferred->request_id = serving->reply_key;
    deferred->deadline_ms = serving->deadline_ms;
    deferred->at_us = serving->at_us;
    deferred->start_us = serving->start_us;
    return deferred;
}

zmesh_envelope_t *
zmesh_deferred_reply (zmesh_deferred_t *self)
{
    assert (self);
    return self->reply;
}

void
zmesh_deferred_finish (zmesh_deferred_t **self_p)
{
    assert (self_p);
    zmesh_deferred_t *self = *self_p;
    if (!self)
        return;
    zmesh_node_t *node = self->node;
    zlistx_detach (node->deferred, self->handle);
    *self_p = NULL;
    if (zmesh_clock_mono_ms (node->clock) > self->deadline_ms) {
        //  The caller has given up on it, and its retries come as new
        //  requests: the reply would only be thrown away there.
        node->stats.replies_late++;
        s_deferred_destroy (&self);
        return;
    }
    zmq_msg_t *last = &self->msg->body;
    zmesh_envelope_t *request = NULL;
    if (zmesh_envelope_decode (zmq_msg_data (last), zmq_msg_size (last),
                               &request, NULL) == ZMESH_OK)
        zmesh__tap_trace (
            node, ZMESH_TRACE_SERVED, request,
            zmesh_envelope_source (request), zmesh__tap_reply_rc (self->reply),
            self->at_us,
            (uint64_t) (zmesh_clock_mono_us (node->clock) - self->start_us),
            self->reply);
    zmesh_envelope_destroy (&request);
    zmq_msg_t frame;
    if (s_encode_reply (node, self->reply, &frame)) {
        zmesh__routed_t *retry;
        while ((retry = zlistx_detach (self->retries, NULL))) {
            zmq_msg_t copy;
            zmq_msg_init (&copy);
            node->stats.duplicates_answered++;
            if (zmq_msg_copy (&copy, &frame) == 0)
                s_send_frame (node, &retry, &copy, &self->request_id);
            zmq_msg_close (&copy);
            zmesh__routed_destroy (&retry);
        }
        //  Whatever it wrote was written since the handler returned:
        //  kept in the store as a reply that wrote
        s_keep_reply (node, &self->request_id, &frame, true);
        s_send_frame (node, &self->msg, &frame, &self->request_id);
        zmq_msg_close (&frame);
    }
    s_deferred_destroy (&self);
}

//  What the reply to request, from identity, is kept under: the request's
//  id, or, from a named caller, an id made of both (RFC 4122 version 5),
//  so that no caller gets the reply to another's request by sending its
//  id again.
static zmesh_uuid_t
s_reply_key (const char *identity, const zmesh_envelope_t *request)
{
    zmesh_uuid_t key = *zmesh_envelope_id (request);
    if (*identity) {
        uuid_t space, made;
        memcpy (space, key.bytes, sizeof space);
        uuid_generate_sha1 (made, space, identity, strlen (identity));
        memcpy (key.bytes, made, sizeof key.bytes);
    }
    return key;
}

//  The next message on the calls socket, in *msg_p, or false if none is
//  waiting. Each turn of the loop asks, so finding none costs no
//  allocation. The frames stay libzmq's messages: the last keeps its
//  metadata (the peer's key). A message that is not [routing id] ...
//  [empty] [envelope], as REQ and REQ_CORRELATE send, with at most
//  ZMESH__ROUTES_MAX routing frames, is counted and dropped, and leaves
//  *msg_p NULL; so does one that finds no memory, which its caller
//  retries.
static bool
s_receive (zmesh_node_t *self, zmesh__routed_t **msg_p)
{
    *msg_p = NULL;
    void *router = zsock_resolve (self->router);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    if (zmq_msg_recv (&frame, router, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&frame);
        return false;
    }
    zmesh__routed_t *msg = zmesh__alloc (sizeof *msg);
    if (!msg) {
        //  Dropped whole, as a message comes
        while (zmq_msg_more (&frame)
               && zmq_msg_recv (&frame, router, ZMQ_DONTWAIT) >= 0)
            ;
        zmq_msg_close (&frame);
        return true;
    }
    msg->routes = 0;
    zmq_msg_init (&msg->body);
    zmq_msg_move (&msg->body, &frame);
    //  Each frame is the body until another comes, and then a route
    bool fits = true;
    while (zmq_msg_more (&msg->body)) {
        if (zmq_msg_recv (&frame, router, ZMQ_DONTWAIT) < 0) {
            fits = false;       //  A message comes whole: not seen
            break;
        }
        if (msg->routes < ZMESH__ROUTES_MAX) {
            zmq_msg_t *route = &msg->route [msg->routes++];
            zmq_msg_init (route);
            zmq_msg_move (route, &msg->body);
        }
        else
            fits = false;
        zmq_msg_move (&msg->body, &frame);
    }
    zmq_msg_close (&frame);
    if (fits && msg->routes >= 2
        && zmq_msg_size (&msg->route [msg->routes - 1]) == 0) {
        *msg_p = msg;
        return true;
    }
    zmesh__node_bad_frame (self, "calls", ZMESH_ERR_BAD_FRAMES,
                           fits ? "not a REQ-style message"
                                : "more than " S_STRING (ZMESH__ROUTES_MAX)
                                  " routing frames");
    zmesh__routed_destroy (&msg);
    return true;
}

//  Take one call from the ROUTER if one is there; this never waits.
//  Returns false when there was none.
bool
zmesh__serve_take (zmesh_node_t *self)
{
    zmesh__routed_t *msg;
    if (!s_receive (self, &msg)) {
        //  Replies sent on it from here on touch it (zmesh__turn_reply)
        zmesh__pollset_drained (self->pollset, self->router);
        return false;
    }
    if (!msg)
        return true;
    zmq_msg_t *last = &msg->body;
    zmesh_detail_t detail = {""};
    zmesh_envelope_t *request = NULL;
    zmesh_err_t rc = zmesh_envelope_decode (zmq_msg_data (last),
                                            zmq_msg_size (last), &request,
                                            &detail);
    if (rc != ZMESH_OK) {
        zmesh__node_bad_frame (self, "calls", rc, detail.text);
        char text [256];
        snprintf (text, sizeof text, "%s: %s", zmesh_strerror (rc),
                  detail.text);
        s_reply_error (self, &msg, NULL, ZMESH_MESH_BAD_REQUEST, text);
        return true;
    }
    const char *name = zmesh_envelope_type (request);
    zmesh__method_t *method = zhashx_lookup (self->methods, name);
    const char *identity = zmesh__security_identity (self->security, last);
    char text [256];
    if (zmesh_envelope_kind (request) != ZMESH_KIND_REQUEST) {
        zmesh__node_bad_frame (self, "calls", ZMESH_ERR_ENVELOPE_BAD_KIND,
                               "not a request");
        s_reply_error (self, &msg, request, ZMESH_MESH_BAD_REQUEST,
                       "the calls socket takes requests only");
    }
    else if (!zmesh__access_may_call (self, identity, name)) {
        //  Before the method is looked up: a caller learns nothing of
        //  what it may not call.
        self->stats.calls_refused++;
        snprintf (text, sizeof text, "%s may not call %s on node %s",
                  !identity ? "a key no longer allowed"
                  : *identity ? identity : "a caller without an identity",
                  name, self->config.name);
        s_reply_error (self, &msg, request, ZMESH_MESH_FORBIDDEN, text);
    }
    else if (!method) {
        self->stats.unknown_methods++;
        snprintf (text, sizeof text, "node %s serves no method %s",
                  self->config.name, name);
        s_reply_error (self, &msg, request, ZMESH_MESH_UNKNOWN_METHOD, text);
    }
    else if (self->draining) {
        //  Stopping: the caller goes elsewhere, or here again once this
        //  node has restarted.
        s_reply_error (self, &msg, request, ZMESH_MESH_UNAVAILABLE,
                       "the node is stopping, retry after " DRAIN_RETRY_MS
                       " ms");
    }
    else if (zmesh_envelope_budget_ms (request) == 0)
        s_reply_error (self, &msg, request, ZMESH_MESH_DEADLINE_EXCEEDED,
                       "the caller's budget was spent before the call began");
    else {
        //  A retry of a request already answered gets the same answer,
        //  one of a request whose reply is deferred waits for it, and the
        //  handler does not run twice.
        zmesh_uuid_t key = s_reply_key (identity, request);
        size_t size = 0;
        const uint8_t *kept = zmesh__reply_cache_get (self->replies, &key,
                                                      &size);
        zmesh_deferred_t *deferred = kept ? NULL : s_deferred_find (self, &key);
        zmq_msg_t again;            //  The reply given before, if found
        bool found = false;
        if (kept) {
            found = zmq_msg_init_size (&again, size) == 0;
            if (found)
                memcpy (zmq_msg_data (&again), kept, size);
        }
        else if (!deferred && self->store
                 && zmesh__inbox_reply (self->store, &key, &again)) {
            //  After a restart, the reply kept with what its handler wrote
            zmesh__reply_cache_put (self->replies, &key, zmq_msg_data (&again),
                                    zmq_msg_size (&again));
            found = true;
        }
        if (found) {
            self->stats.duplicates_answered++;
            s_send_frame (self, &msg, &again, NULL);
            zmq_msg_close (&again);
        }
        else if (kept)
            zmesh__routed_destroy (&msg);   //  Out of memory: it retries
        else if (deferred) {
            if (zlistx_add_end (deferred->retries, msg))
                msg = NULL;
            zmesh__routed_destroy (&msg);
        }
        else
            s_run_method (self, &msg, request, &key, method);
    }
    zmesh_envelope_destroy (&request);
    return true;
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

zmesh_err_t
zmesh_node_serve (zmesh_node_t *self, const char *method,
                  zmesh_method_fn *handler, void *arg)
{
    assert (self && handler);
    if (!zmesh_envelope_name_valid (method, ZMESH_ENVELOPE_TYPE_MAX)
        || zhashx_lookup (self->methods, method))
        return ZMESH_ERR_INVALID;
    zmesh__method_t *entry = zmesh__calloc (1, sizeof *entry);
    if (!entry)
        return ZMESH_ERR_NOMEM;
    entry->handler = handler;
    entry->arg = arg;
    zhashx_insert (self->methods, method, entry);
    return ZMESH_OK;
}
