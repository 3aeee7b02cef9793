/*  serve.c - calls in: requests, replies, and the reply cache.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

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
        //  A key may be there still after zmesh__serve_uncache took its reply
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
void
zmesh__serve_uncache (zmesh_node_t *self, const char *key)
{
    zframe_t *kept = zhashx_lookup (self->replies, key);
    if (kept) {
        self->reply_bytes -= zframe_size (kept);
        zhashx_delete (self->replies, key);
    }
}

//  The cache key of a request: its id in hex.
void
zmesh__serve_key (const zmesh_uuid_t *id, char *key)
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
    zmesh__context_t saved = self->context;
    self->context.active = request != NULL;
    if (request) {
        self->context.correlation = *zmesh_envelope_correlation (request);
        self->context.has_cause = true;
        self->context.cause = *zmesh_envelope_id (request);
    }
    zmesh_envelope_t *reply = zmesh__flow_envelope_new (
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
        zmesh__tap_trace (
            self, ZMESH_TRACE_SERVED, request, zmesh_envelope_source (request),
            zmesh__tap_reply_rc (reply),
            (uint64_t) zmesh_clock_unix_us (self->clock), 0, reply);
    s_send_reply (self, msg_p, reply, NULL);
    zmesh_envelope_destroy (&reply);
}

//  Run method on request and reply to msg (taken), keeping the reply under
//  key for retries of the request.
static void
s_run_method (zmesh_node_t *self, zmsg_t **msg_p,
              const zmesh_envelope_t *request, zmesh__method_t *method,
              const char *key)
{
    //  What the handler writes commits with the loop's turn, before the
    //  reply goes (without a transaction, each write commits alone).
    if (self->store)
        zmesh__turn_begin (self);
    zmesh__context_t saved = self->context;
    self->context.active = true;
    self->context.correlation = *zmesh_envelope_correlation (request);
    self->context.has_cause = true;
    self->context.cause = *zmesh_envelope_id (request);
    zmesh_envelope_t *reply = zmesh__flow_envelope_new (
        self, ZMESH_KIND_REPLY, zmesh_envelope_type (request));
    self->context.has_deadline = true;
    self->context.deadline_ms = zmesh_clock_mono_ms (self->clock)
                              + zmesh_envelope_budget_ms (request);
    uint64_t at_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    int64_t start_us = zmesh_clock_mono_us (self->clock);
    if (reply)
        method->handler (self, request, reply, method->arg);
    self->context = saved;
    if (reply)
        zmesh__tap_trace (
            self, ZMESH_TRACE_SERVED, request, zmesh_envelope_source (request),
            zmesh__tap_reply_rc (reply), at_us,
            (uint64_t) (zmesh_clock_mono_us (self->clock) - start_us), reply);
    if (reply)
        s_send_reply (self, msg_p, reply, key);
    else
        zmsg_destroy (msg_p);
    zmesh_envelope_destroy (&reply);
}

//  Take one call from the ROUTER if one is there (its receive timeout is
//  0, so this never waits). Returns false when there was none.
bool
zmesh__serve_take (zmesh_node_t *self)
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
        zmesh__node_bad_frame (self, "calls", ZMESH_ERR_BAD_FRAMES,
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
        zmesh__node_bad_frame (self, "calls", rc, detail.text);
        char text [256];
        snprintf (text, sizeof text, "%s: %s", zmesh_strerror (rc),
                  detail.text);
        s_reply_error (self, &msg, NULL, ZMESH_MESH_BAD_REQUEST, text);
        return true;
    }
    const char *name = zmesh_envelope_type (request);
    zmesh__method_t *method = zhashx_lookup (self->methods, name);
    char text [256];
    if (zmesh_envelope_kind (request) != ZMESH_KIND_REQUEST) {
        zmesh__node_bad_frame (self, "calls", ZMESH_ERR_ENVELOPE_BAD_KIND,
                               "not a request");
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
        zmesh__serve_key (zmesh_envelope_id (request), key);
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
