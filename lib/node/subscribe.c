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

//  The first subscription from subscription on (the list's cursor) whose
//  pattern matches type, or NULL.
static zmesh__subscription_t *
s_match (zmesh_node_t *self, zmesh__subscription_t *subscription,
         const char *type)
{
    while (subscription && !zmesh_topic_matches (subscription->pattern, type))
        subscription = zlistx_next (self->subscriptions);
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
    //  Traced once, if a handler takes it, at the time of the turn that
    //  took it (reliable consumers trace theirs as they consume, replayed
    //  ones too)
    zmesh__subscription_t *subscription
        = s_match (self, zlistx_first (self->subscriptions), type);
    if (subscription)
        zmesh__tap_trace (self, ZMESH_TRACE_RECEIVED, event,
                          zmesh_envelope_source (event), ZMESH_OK,
                          zmesh__node_taken_us (self), 0, NULL);
    for (; subscription;
         subscription = s_match (self, zlistx_next (self->subscriptions),
                                 type))
        subscription->handler (self, event, subscription->arg);
    zmesh__flow_leave (self, &saved);
}

static void
s_link_destroy (zmesh__link_t **link_p)
{
    zmesh__link_t *link = *link_p;
    if (link) {
        if (link->monitor)
            zmq_socket_monitor (zsock_resolve (link->socket), NULL, 0);
        zsock_destroy (&link->monitor);
        zsock_destroy (&link->socket);
        zmesh__free (link);
        *link_p = NULL;
    }
}

//  Whether link's consumers take all its events: those of a member of the
//  node's own group are for other groups (zmesh__consume_live), and come
//  only to its handlers, so that its publisher sends no more.
static bool
s_takes_all (zmesh_node_t *self, const zmesh__link_t *link)
{
    return self->subscribed_all && !streq (link->service, self->config.group);
}

//  Subscribe link to what the node's handlers and consumers take.
static void
s_subscribe (zmesh_node_t *self, zmesh__link_t *link)
{
    zsock_t *socket = link->socket;
    zsock_set_subscribe (socket, "$");      //  Control events, always
    if (s_takes_all (self, link)) {
        zsock_set_subscribe (socket, "");
        return;
    }
    for (zmesh__subscription_t *subscription
             = zlistx_first (self->subscriptions);
         subscription; subscription = zlistx_next (self->subscriptions)) {
        char bytes [ZMESH_TOPIC_MAX];
        int size = zmesh_topic_subscription (subscription->pattern, bytes);
        if (size >= 0)
            zmq_setsockopt (zsock_resolve (socket), ZMQ_SUBSCRIBE, bytes,
                            (size_t) size);
    }
}

zmesh_err_t
zmesh__link_open (zmesh_node_t *self, const char *name, const char *service,
                  const char *events, zmesh_detail_t *detail)
{
    if (self->link_count == self->link_max) {
        size_t max = self->link_max ? self->link_max * 2 : 8;
        zmesh__link_t **grown = zmesh__realloc (self->links,
                                                max * sizeof *grown);
        if (!grown) {
            zmesh__detail (detail, "out of memory");
            return ZMESH_ERR_NOMEM;
        }
        self->links = grown;
        self->link_max = max;
    }
    zmesh__link_t *link = zmesh__calloc (1, sizeof *link);
    if (!link) {
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    snprintf (link->events, sizeof link->events, "%s", events);
    snprintf (link->name, sizeof link->name, "%s", name);
    snprintf (link->service, sizeof link->service, "%s", service);
    link->socket = zmesh__socket_new (ZMQ_SUB, &self->config);
    zmesh_err_t rc = link->socket ? ZMESH_OK : ZMESH_ERR_SOCKET;
    if (rc == ZMESH_OK)
        rc = zmesh__security_client (self->security, link->socket, name,
                                     NULL, detail);
    //  A peer that dies drops its connection at once: the link's monitor
    //  says so, and the peer is quiet then, not only after timing/quiet
    //  without a heartbeat (zmesh__link_watch).
    //  A name never used before: a link closed a moment ago may have had
    //  this address, and ZeroMQ may not have let go of its monitor's yet
    char watch [80];
    snprintf (watch, sizeof watch, "inproc://zmesh-link-%p-%" PRIu64,
              (void *) self, ++self->links_made);
    if (rc == ZMESH_OK
        && (zmq_socket_monitor (zsock_resolve (link->socket), watch,
                                ZMQ_EVENT_DISCONNECTED) != 0
            || !(link->monitor = zsock_new_pair (watch)))) {
        zmesh__detail (detail, "cannot watch the link to %s", events);
        rc = ZMESH_ERR_SOCKET;
    }
    if (rc == ZMESH_OK) {
        s_subscribe (self, link);
        if (zsock_connect (link->socket, "%s", events) < 0) {
            zmesh__detail (detail, "cannot connect to %s", events);
            rc = ZMESH_ERR_SOCKET;
        }
    }
    if (rc) {
        s_link_destroy (&link);
        return rc;
    }
    if (zmesh__pollset_add (self->pollset, link->socket, &link->socket_ready,
                            false)
        || zmesh__pollset_add (self->pollset, link->monitor,
                               &link->monitor_ready, false)) {
        zmesh__pollset_remove (self->pollset, link->socket);
        s_link_destroy (&link);
        zmesh__detail (detail, "out of memory");
        return ZMESH_ERR_NOMEM;
    }
    self->links [self->link_count++] = link;
    return ZMESH_OK;
}

void
zmesh__link_watch (zmesh_node_t *self, zmesh__link_t *link)
{
    if (link->closed)
        return;
    void *monitor = zsock_resolve (link->monitor);
    zmq_msg_t frame;
    zmq_msg_init (&frame);
    bool disconnected = false;
    //  Each event is two frames: the event and its value, then the address
    while (zmq_msg_recv (&frame, monitor, ZMQ_DONTWAIT) >= 0) {
        if (zmq_msg_more (&frame) && zmq_msg_size (&frame) >= 2) {
            uint16_t event;
            memcpy (&event, zmq_msg_data (&frame), sizeof event);
            disconnected |= event == ZMQ_EVENT_DISCONNECTED;
        }
        while (zmq_msg_more (&frame))
            zmq_msg_recv (&frame, monitor, 0);
    }
    zmq_msg_close (&frame);
    if (!disconnected)
        return;
    long index = zmesh__peers_find_events (self->peers, link->events);
    if (index >= 0
        && zmesh__peers_at (self->peers, (size_t) index)->state
           == ZMESH_PEER_ALIVE)
        zmesh__peers_quiet (self->peers, (size_t) index,
                            zmesh__discovery_peer_changed, self);
}

//  The open link to events, or NULL.
static zmesh__link_t *
s_link_to (zmesh_node_t *self, const char *events)
{
    for (size_t index = 0; index < self->link_count; index++)
        if (!self->links [index]->closed
            && streq (self->links [index]->events, events))
            return self->links [index];
    return NULL;
}

void
zmesh__link_close (zmesh_node_t *self, const char *events)
{
    zmesh__link_t *link;
    while ((link = s_link_to (self, events))) {
        zmesh__pollset_remove (self->pollset, link->socket);
        zmesh__pollset_remove (self->pollset, link->monitor);
        link->closed = true;
    }
}

void
zmesh__links_sweep (zmesh_node_t *self)
{
    size_t kept = 0;
    for (size_t index = 0; index < self->link_count; index++)
        if (self->links [index]->closed)
            s_link_destroy (&self->links [index]);
        else
            self->links [kept++] = self->links [index];
    self->link_count = kept;
}

void
zmesh__links_repair (zmesh_node_t *self)
{
    for (size_t index = 0; index < zmesh__peers_count (self->peers);
         index++) {
        zmesh_peer_info_t *peer = zmesh__peers_at (self->peers, index);
        if (!*peer->events || s_link_to (self, peer->events))
            continue;           //  None wanted, or open, as nearly always
        zmesh_detail_t detail = {""};
        if (zmesh__link_open (self, peer->name, peer->service, peer->events,
                              &detail)
            == ZMESH_OK)
            zsys_info ("node %s: connected to %s at last", self->config.name,
                       peer->events);
        else
            self->stats.links_failed++;
    }
}

void
zmesh__links_destroy (zmesh_node_t *self)
{
    for (size_t index = 0; index < self->link_count; index++) {
        if (!self->links [index]->closed && self->pollset) {
            zmesh__pollset_remove (self->pollset, self->links [index]->socket);
            zmesh__pollset_remove (self->pollset,
                                   self->links [index]->monitor);
        }
        s_link_destroy (&self->links [index]);
    }
    zmesh__free (self->links);
    self->links = NULL;
    self->link_count = self->link_max = 0;
}

void
zmesh__links_subscribe_all (zmesh_node_t *self)
{
    self->subscribed_all = true;
    for (size_t index = 0; index < self->link_count; index++)
        if (s_takes_all (self, self->links [index])) {
            zsock_set_subscribe (self->links [index]->socket, "");
            zmesh__pollset_touch (self->pollset,
                                  self->links [index]->socket);
        }
}

//  Take the event that data starts with, from link under topic: decode,
//  check and handle it. Its size is *used. False if it is bad (counted):
//  the rest of its frame is dropped with it, since where the next event
//  starts is not known.
static bool
s_take_event (zmesh_node_t *self, zmesh__link_t *link, const void *topic,
              size_t topic_size, const uint8_t *data, size_t size,
              size_t *used)
{
    zmesh_detail_t detail = {""};
    //  The node's own envelope, unless a handler below us holds it
    bool reuse = !self->incoming_busy;
    zmesh_envelope_t *event = reuse ? self->incoming
                                    : zmesh_envelope_new (ZMESH_KIND_EVENT);
    if (!event) {
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_NOMEM,
                               "out of memory: the rest of the message is "
                               "dropped");
        return false;
    }
    bool control = false;
    zmesh_err_t rc = zmesh_envelope_decode_next (data, size, used, event,
                                                 &detail);
    self->incoming_busy = true;
    if (rc == ZMESH_OK && zmesh_envelope_kind (event) != ZMESH_KIND_EVENT) {
        rc = ZMESH_ERR_ENVELOPE_BAD_KIND;
        snprintf (detail.text, sizeof detail.text, "a %s on the events socket",
                  zmesh_kind_name (zmesh_envelope_kind (event)));
    }
    if (rc == ZMESH_OK)
        rc = zmesh_topic_check (topic, topic_size, event, &control);
    //  Only the peer at the other end of the link speaks on it
    if (rc == ZMESH_OK && *link->service
        && !zmesh__discovery_speaks_as (link->name, link->service,
                                        zmesh_envelope_source (event))) {
        rc = ZMESH_ERR_ENVELOPE_BAD_HEADER;
        snprintf (detail.text, sizeof detail.text, "an event from %.24s on "
                  "the link of %.24s, whose label or service (%.24s) its "
                  "events carry", zmesh_envelope_source (event), link->name,
                  link->service);
    }
    //  One of a type its publisher may not publish here goes to no handler;
    //  a reliable consumer passes over it (zmesh__consume_run).
    bool allowed = rc != ZMESH_OK || control
                || zmesh__access_may_publish (self, link->service,
                                              zmesh_envelope_type (event));
    if (!allowed) {
        char why [sizeof detail.text];
        snprintf (why, sizeof why, "%s may not publish %s here "
                  "(access/publish)", link->service,
                  zmesh_envelope_type (event));
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_FORBIDDEN, why);
    }
    if (rc != ZMESH_OK)
        zmesh__node_bad_frame (self, "events", rc, detail.text);
    else if (control && streq (zmesh_envelope_type (event), HEARTBEAT_TYPE))
        zmesh__discovery_heartbeat (self, event, link);
    else if (control && streq (zmesh_envelope_type (event), BYE_TYPE))
        zmesh__discovery_bye (self, event, link);
    else if (!control) {
        if (allowed)
            s_dispatch_event (self, event);
        if (zlistx_size (self->consumers))
            zmesh__consume_live (self, event, data, *used);
    }
    if (reuse)
        self->incoming_busy = false;
    else
        zmesh_envelope_destroy (&event);
    return rc == ZMESH_OK;
}

//  Take one message from link if one is there, without waiting. Returns
//  false when there was none. Receiving with ZMQ_DONTWAIT until there is
//  none costs no system call per message, as asking ZMQ_EVENTS would.
bool
zmesh__subscribe_take (zmesh_node_t *self, zmesh__link_t *link)
{
    if (link->closed)
        return false;
    void *sub = zsock_resolve (link->socket);
    zmq_msg_t topic, frame;
    zmq_msg_init (&topic);
    if (zmq_msg_recv (&topic, sub, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close (&topic);
        zmesh__pollset_drained (self->pollset, link->socket);
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
    //  The envelope frame of a batch holds several events, back to back
    const uint8_t *data = zmq_msg_data (&frame);
    size_t size = zmq_msg_size (&frame), at = 0, used = 0;
    if (frames != 2)
        zmesh__node_bad_frame (self, "events", ZMESH_ERR_BAD_FRAMES, "");
    else
        while (s_take_event (self, link, zmq_msg_data (&topic),
                             zmq_msg_size (&topic), data + at, size - at,
                             &used)
               && (at += used) < size)
            ;
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
    for (size_t index = 0; index < self->link_count; index++) {
        zmq_setsockopt (zsock_resolve (self->links [index]->socket),
                        ZMQ_SUBSCRIBE, bytes, (size_t) size);
        zmesh__pollset_touch (self->pollset, self->links [index]->socket);
    }
    return ZMESH_OK;
}
