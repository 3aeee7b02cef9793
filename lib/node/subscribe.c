/*  subscribe.c - events in, and the handlers of best-effort subscriptions.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

void
zmesh__subscription_destroy (void **item_p)
{
    zmesh__subscription_t *subscription = *item_p;
    if (subscription) {
        zmesh__free (subscription->pattern);
        zmesh__free (subscription);
        *item_p = NULL;
    }
}

//  A new subscription of pattern, or NULL if out of memory.
zmesh__subscription_t *
zmesh__subscription_new (const char *pattern, void *arg)
{
    zmesh__subscription_t *subscription
        = zmesh__calloc (1, sizeof *subscription);
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

static void
s_dispatch_event (zmesh_node_t *self, const zmesh_envelope_t *event)
{
    zmesh__context_t saved;
    zmesh__flow_enter (self, &saved, zmesh_envelope_correlation (event),
                       zmesh_envelope_id (event));
    self->stats.events_received++;
    const char *type = zmesh_envelope_type (event);
    //  Traced once, if a handler takes it (reliable consumers trace
    //  theirs as they consume, replayed ones too)
    zmesh__subscription_t *subscription = zlistx_first (self->subscriptions);
    while (subscription && !zmesh_topic_matches (subscription->pattern, type))
        subscription = zlistx_next (self->subscriptions);
    if (subscription)
        zmesh__tap_trace (self, ZMESH_TRACE_RECEIVED, event,
                          zmesh_envelope_source (event), ZMESH_OK,
                          (uint64_t) zmesh_clock_unix_us (self->clock), 0, NULL);
    subscription = zlistx_first (self->subscriptions);
    while (subscription) {
        if (zmesh_topic_matches (subscription->pattern, type))
            subscription->handler (self, event, subscription->arg);
        subscription = zlistx_next (self->subscriptions);
    }
    zmesh__flow_leave (self, &saved);
}

//  Take one message from SUB if one is there, without waiting. Returns
//  false when there was none. Receiving with ZMQ_DONTWAIT until there is
//  none costs no system call per message, as asking ZMQ_EVENTS would.
bool
zmesh__subscribe_take (zmesh_node_t *self)
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
        zmesh__node_bad_frame (self, "events", rc, detail.text);
    else if (control && streq (zmesh_envelope_type (event), HEARTBEAT_TYPE))
        zmesh__discovery_heartbeat (self, event);
    else if (control && streq (zmesh_envelope_type (event), BYE_TYPE))
        zmesh__discovery_bye (self, event);
    else if (!control) {
        s_dispatch_event (self, event);
        if (zlistx_size (self->consumers))
            zmesh__consume_live (self, event, data, size);
    }
    if (reuse)
        self->incoming_busy = false;
    else
        zmesh_envelope_destroy (&event);
    zmq_msg_close (&topic);
    zmq_msg_close (&frame);
    return true;
}

zmesh_err_t
zmesh_node_subscribe (zmesh_node_t *self, const char *pattern,
                      zmesh_event_fn *handler, void *arg)
{
    assert (self && handler);
    char bytes [ZMESH_TOPIC_MAX];
    int size = zmesh_topic_subscription (pattern, bytes);
    if (size < 0)
        return ZMESH_ERR_INVALID;
    zmesh__subscription_t *subscription
        = zmesh__subscription_new (pattern, arg);
    if (!subscription)
        return ZMESH_ERR_NOMEM;
    subscription->handler = handler;
    zlistx_add_end (self->subscriptions, subscription);
    zmq_setsockopt (zsock_resolve (self->sub), ZMQ_SUBSCRIBE, bytes,
                    (size_t) size);
    return ZMESH_OK;
}
