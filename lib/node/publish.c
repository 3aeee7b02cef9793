/*  publish.c - events out: live, durable, and the control events.

    Part of zmesh. MIT License.
*/
#include "node_private.h"
#include "envelope_private.h"

//  An event's frame in msg (initialised here): packed on the stack, where
//  most fit, and copied, or packed again in place.
static zmesh_err_t
s_pack_msg (const zmesh__event_fields_t *event, zmq_msg_t *msg)
{
    uint8_t packed [1024];
    size_t size = zmesh__envelope_pack_event (event, packed, sizeof packed);
    if (zmq_msg_init_size (msg, size))
        return ZMESH_ERR_NOMEM;
    if (size <= sizeof packed)
        memcpy (zmq_msg_data (msg), packed, size);
    else
        zmesh__envelope_pack_event (event, zmq_msg_data (msg), size);
    return ZMESH_OK;
}

//  The message of event, to hold for the turn's commit: its topic and
//  its frame, in one allocation. NULL if out of memory.
static zmesh__event_msg_t *
s_event_msg (const zmesh__event_fields_t *event)
{
    zmesh__event_msg_t *msg = zmesh__alloc (sizeof *msg);
    if (!msg)
        return NULL;
    if (s_pack_msg (event, &msg->body) != ZMESH_OK) {
        zmesh__free (msg);
        return NULL;
    }
    msg->topic_size = zmesh__topic_frame (event->type, false, msg->topic);
    return msg;
}

void
zmesh__publish_msg_destroy (zmesh__event_msg_t **msg_p)
{
    if (*msg_p) {
        zmq_msg_close (&(*msg_p)->body);
        zmesh__free (*msg_p);
        *msg_p = NULL;
    }
}

void
zmesh__publish_msg_destroy_item (void **item_p)
{
    zmesh__publish_msg_destroy ((zmesh__event_msg_t **) item_p);
}

//  With events/batch above 1, events to one topic leave together: one
//  message, the topic and then their envelopes back to back in one frame
//  (proto/envelope.md, section 1). A batch leaves once it holds
//  events/batch events or would pass this size, before an event to
//  another topic or any other message, and at each turn of the loop,
//  zmesh_node_flush and zmesh_node_unlock. Control events never go in
//  one: subscribers see them after every event sent before them.
#define PUBLISH_BATCH_BYTES (64 * 1024)

void
zmesh__publish_batch_flush (zmesh_node_t *self)
{
    if (self->batch.count == 0)
        return;
    void *pub = zsock_resolve (self->pub);
    //  A PUB never blocks: it fails only as its context ends
    if (zmq_send (pub, self->batch.topic, self->batch.topic_size,
                  ZMQ_SNDMORE) < 0
        || zmq_send (pub, self->batch.data, self->batch.size, 0) < 0)
        zsys_warning ("node %s: a batch of %d events not sent: %s",
                      self->config.name, self->batch.count,
                      zmq_strerror (zmq_errno ()));
    self->batch.count = 0;
    self->batch.size = 0;
}

void
zmesh__publish_batch_destroy (zmesh_node_t *self)
{
    zmesh__publish_batch_flush (self);
    zmesh__free (self->batch.data);
    self->batch.data = NULL;
}

//  Add an event's envelope (data, size) to the batch for topic. False if
//  it does not fit in an empty one, or out of memory: it goes alone.
static bool
s_batch_add (zmesh_node_t *self, const char *topic, size_t topic_size,
             const void *data, size_t size)
{
    if (self->batch.count
        && (self->batch.topic_size != topic_size
            || memcmp (self->batch.topic, topic, topic_size)
            || self->batch.size + size > PUBLISH_BATCH_BYTES))
        zmesh__publish_batch_flush (self);
    if (size > PUBLISH_BATCH_BYTES
        || (!self->batch.data
            && !(self->batch.data = zmesh__alloc (PUBLISH_BATCH_BYTES))))
        return false;
    if (self->batch.count == 0) {
        memcpy (self->batch.topic, topic, topic_size);
        self->batch.topic_size = topic_size;
    }
    memcpy (self->batch.data + self->batch.size, data, size);
    self->batch.size += size;
    if (++self->batch.count >= self->config.batch_events)
        zmesh__publish_batch_flush (self);
    return true;
}

//  Send an event's two frames on the PUB socket, which never blocks,
//  after the batch before it; body is sent, or left to its owner to close.
static zmesh_err_t
s_send_frames (zmesh_node_t *self, const char *topic, size_t topic_size,
               zmq_msg_t *body)
{
    zmesh__publish_batch_flush (self);
    void *pub = zsock_resolve (self->pub);
    return zmq_send (pub, topic, topic_size, ZMQ_SNDMORE) >= 0
           && zmq_msg_send (body, pub, 0) >= 0 ? ZMESH_OK : ZMESH_ERR_SOCKET;
}

zmesh_err_t
zmesh__publish_send_msg (zmesh_node_t *self, zmesh__event_msg_t **msg_p)
{
    zmesh__event_msg_t *msg = *msg_p;
    zmesh_err_t rc = ZMESH_OK;
    if (self->config.batch_events == 1
        || !s_batch_add (self, msg->topic, msg->topic_size,
                         zmq_msg_data (&msg->body), zmq_msg_size (&msg->body)))
        rc = s_send_frames (self, msg->topic, msg->topic_size, &msg->body);
    zmesh__publish_msg_destroy (msg_p);
    return rc;
}

//  Send event after its topic frame, or into the batch, written from its
//  fields straight into its frame.
static zmesh_err_t
s_send_fields (zmesh_node_t *self, const zmesh__event_fields_t *event,
               const char *topic, size_t topic_size)
{
    if (self->config.batch_events > 1) {
        uint8_t packed [1024];
        size_t size = zmesh__envelope_pack_event (event, packed,
                                                  sizeof packed);
        if (size <= sizeof packed
            && s_batch_add (self, topic, topic_size, packed, size))
            return ZMESH_OK;
    }
    zmq_msg_t msg;
    zmesh_err_t rc = s_pack_msg (event, &msg);
    if (rc == ZMESH_OK) {
        rc = s_send_frames (self, topic, topic_size, &msg);
        zmq_msg_close (&msg);
    }
    return rc;
}

//  Encode a control event and send it after its topic frame, after the
//  batch before it (it never goes in one).
static zmesh_err_t
s_send_control (zmesh_node_t *self, zmesh_envelope_t *event)
{
    char topic [ZMESH_TOPIC_MAX];
    size_t topic_size = zmesh__topic_frame (zmesh_envelope_type (event), true,
                                            topic);
    zmq_msg_t msg;
    zmesh_err_t rc = zmesh_envelope_encode_msg (event, &msg, NULL);
    if (rc)
        return rc;
    rc = s_send_frames (self, topic, topic_size, &msg);
    zmq_msg_close (&msg);
    return rc;
}

bool
zmesh__publish_fields_of (zmesh_node_t *self,
                          const zmesh_stored_event_t *stored,
                          zmesh__event_fields_t *event, bool check)
{
    //  As its publisher sent it: another instance may replay it
    const char *source = stored->publisher && *stored->publisher
                       ? stored->publisher : self->config.name;
    //  Events of an aggregate say which (or the key they were given): the
    //  members of a consuming group divide events by it, keeping each
    //  key's order (proto/node.md).
    const char *key = stored->key && *stored->key ? stored->key
                    : stored->stream && !streq (stored->stream,
                                                self->config.name)
                    ? stored->stream : NULL;
    *event = (zmesh__event_fields_t) {
        .id = &stored->id, .correlation = &stored->correlation,
        .causation = stored->has_causation ? &stored->causation : NULL,
        .type = stored->type, .type_length = strlen (stored->type),
        .source = source, .source_length = strlen (source),
        .header = key ? "key" : NULL, .header_value = key,
        .header_value_length = key ? strlen (key) : 0,
        .timestamp = stored->timestamp, .seq = stored->seq,
        .body = stored->body, .body_size = stored->body_size};
    return !check
        || (zmesh__envelope_name_valid (event->type, event->type_length,
                                        ZMESH_ENVELOPE_TYPE_MAX)
            && zmesh__envelope_name_valid (source, event->source_length,
                                           ZMESH_ENVELOPE_SOURCE_MAX)
            && event->header_value_length <= ZMESH_ENVELOPE_TEXT_MAX
            && !zmesh_uuid_is_nil (event->id)
            && !zmesh_uuid_is_nil (event->correlation) && event->seq > 0
            && event->body_size <= ZMESH_ENVELOPE_BODY_MAX
            && (!event->body_size
                || zmesh__envelope_body_valid (event->body,
                                               event->body_size)));
}

//  An asynchronous publish group commits at the loop's next turn, or at
//  once when it holds this many events.
#define ASYNC_GROUP_MAX 4096

//  Append and publish, as zmesh_node_append says. With confirm (for
//  zmesh_node_publish_async: one event, room for its confirm reserved),
//  into the open group, which the loop commits.
static zmesh_err_t
s_append (zmesh_node_t *self, const char *stream, int64_t expected,
          const zmesh_new_event_t *events, size_t count,
          zmesh_append_result_t *result, zmesh_confirm_fn *confirm, void *arg,
          zmesh_detail_t *detail)
{
    bool async = confirm != NULL;
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
    //  One reading for the ids, the timestamps and the trace records
    uint64_t unix_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    uint64_t unix_ms = unix_us / 1000;
    bool fresh = true;                  //  No id is the caller's
    for (size_t index = 0; index < count; index++) {
        filled [index] = events [index];
        if (zmesh_uuid_is_nil (&filled [index].id))
            zmesh__flow_message_id (self, unix_ms, &filled [index].id);
        else
            fresh = false;
        if (zmesh_uuid_is_nil (&filled [index].correlation))
            filled [index].correlation = self->context.active
                                       ? self->context.correlation
                                       : filled [index].id;
        if (!filled [index].causation && self->context.has_cause)
            filled [index].causation = &self->context.cause;
        if (!filled [index].timestamp)
            filled [index].timestamp = unix_ms;
    }
    //  Inside the loop's transaction (a consumer's or a handler's) the
    //  events wait for its commit too.
    bool in_turn = self->turn.state == ZMESH__TURN_OPEN;
    bool grouped = self->config.group_events > 1 || async
                   || self->turn.state != ZMESH__TURN_IDLE;
    zmesh_err_t rc = grouped ? zmesh__turn_group (self, detail) : ZMESH_OK;
    if (rc == ZMESH_OK)
        rc = fresh ? zmesh__store_append_new (self->store, stream, expected,
                                              filled, count, result, detail)
                   : zmesh_store_append (self->store, stream, expected, filled,
                                         count, result, detail);
    if (rc == ZMESH_OK && async)
        zmesh__turn_confirm_add (self, confirm, arg, result->first_seq);
    //  Committed (or, grouped, to be committed first): now send. Were the
    //  process to die in between, subscribers would see the next heartbeat
    //  ahead of them and have the events replayed.
    for (size_t index = 0; rc == ZMESH_OK && !result->duplicate
                           && index < count; index++) {
        zmesh_stored_event_t stored = {
            .position = result->first_position + index,
            .stream = stream,
            .key = filled [index].key,
            .seq = result->first_seq + index,
            .id = filled [index].id,
            .type = filled [index].type,
            .body = filled [index].body,
            .body_size = filled [index].body_size,
            .correlation = filled [index].correlation,
            .has_causation = filled [index].causation != NULL,
            .timestamp = filled [index].timestamp};
        if (filled [index].causation)
            stored.causation = *filled [index].causation;
        //  Checked on the way into the store
        zmesh__event_fields_t event;
        zmesh__publish_fields_of (self, &stored, &event, false);
        zmesh__tap_trace_published (self, &event, unix_us);
        if (grouped) {
            zmesh__event_msg_t *msg = s_event_msg (&event);
            if (msg)
                zmesh__turn_hold_event (self, &msg);
        }
        else {
            char topic [ZMESH_TOPIC_MAX];
            size_t topic_size = zmesh__topic_frame (event.type, false, topic);
            if (s_send_fields (self, &event, topic, topic_size) == ZMESH_OK)
                self->stats.events_published++;
        }
        self->seq = stored.seq;
    }
    zmesh__free (filled);
    size_t held = zmesh__turn_held_events (self);
    if (grouped && !in_turn
        && (rc != ZMESH_OK
            || (async ? held >= ASYNC_GROUP_MAX
                      : held >= (size_t) self->config.group_events)))
        zmesh__turn_flush (self);
    return rc;
}

zmesh_err_t
zmesh_node_append (zmesh_node_t *self, const char *stream, int64_t expected,
                   const zmesh_new_event_t *events, size_t count,
                   zmesh_append_result_t *result, zmesh_detail_t *detail)
{
    assert (self && events && result);
    return s_append (self, stream, expected, events, count, result, NULL, NULL,
                     detail);
}

zmesh_err_t
zmesh_node_flush (zmesh_node_t *self)
{
    assert (self);
    zmesh_err_t rc = zmesh__turn_flush (self);
    zmesh__publish_batch_flush (self);
    zmesh__turn_confirm_deliver (self);
    return rc;
}

//  Publish one event to the node's own stream in its store; with
//  confirm, asynchronously.
static zmesh_err_t
s_publish_stored (zmesh_node_t *self, const char *type, const void *body,
                  size_t body_size, zmesh_confirm_fn *confirm, void *arg)
{
    if (!zmesh_envelope_name_valid (type, ZMESH_ENVELOPE_TYPE_MAX))
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    if (confirm && !zmesh__turn_confirm_reserve (self))
        return ZMESH_ERR_NOMEM;
    zmesh_new_event_t event = {.type = type, .body = body,
                               .body_size = body_size};
    zmesh_append_result_t result;
    return s_append (self, self->config.name, ZMESH_VERSION_ANY, &event, 1,
                     &result, confirm, arg, NULL);
}

zmesh_err_t
zmesh_node_publish_async (zmesh_node_t *self, const char *type,
                          const void *body, size_t body_size,
                          zmesh_confirm_fn *confirm, void *arg)
{
    assert (self && confirm);
    if (!self->store)
        return ZMESH_ERR_INVALID;
    return s_publish_stored (self, type, body, body_size, confirm, arg);
}

//  The live path's type: the last one published, checked once for as
//  long as it is published again, with its topic frame. False if type is
//  not a valid name.
static bool
s_live_type (zmesh_node_t *self, const char *type)
{
    if (type && *self->live.type && streq (type, self->live.type))
        return true;
    if (!zmesh_envelope_name_valid (type, ZMESH_ENVELOPE_TYPE_MAX))
        return false;
    self->live.type_length = strlen (type);
    memcpy (self->live.type, type, self->live.type_length + 1);
    self->live.topic_size = zmesh__topic_frame (type, false,
                                                self->live.topic);
    self->live.source_length = strlen (self->config.name);
    return true;
}

//  Publish a live event of the live type: the path of every event a node
//  without a store publishes.
static zmesh_err_t
s_publish_live (zmesh_node_t *self, const void *body, size_t body_size)
{
    zmesh__flow_ids_t ids;
    zmesh__flow_ids (self, &ids);
    char traceparent [ZMESH_TRACEPARENT_LEN + 1];
    const char *parent = zmesh__flow_traceparent (self, traceparent);
    zmesh__event_fields_t event = {
        .id = &ids.id, .correlation = &ids.correlation,
        .causation = ids.causation, .type = self->live.type,
        .type_length = self->live.type_length, .source = self->config.name,
        .source_length = self->live.source_length, .timestamp = ids.unix_ms,
        .seq = self->seq + 1, .header = parent ? "traceparent" : NULL,
        .header_value = parent,
        .header_value_length = parent ? ZMESH_TRACEPARENT_LEN : 0,
        .body = body, .body_size = body_size};
    zmesh_err_t rc = s_send_fields (self, &event, self->live.topic,
                                    self->live.topic_size);
    if (rc == ZMESH_OK) {
        self->seq++;
        self->stats.events_published++;
        zmesh__tap_trace_published (self, &event, self->made_us);
    }
    return rc;
}

zmesh_err_t
zmesh_node_publish (zmesh_node_t *self, const char *type, const void *body,
                    size_t body_size)
{
    assert (self);
    if (self->store)
        return s_publish_stored (self, type, body, body_size, NULL, NULL);
    //  As the envelope's setters check them, in their order
    if (!s_live_type (self, type))
        return ZMESH_ERR_ENVELOPE_BAD_NAME;
    if (body_size > ZMESH_ENVELOPE_BODY_MAX)
        return ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE;
    if (body_size && !zmesh__envelope_body_valid (body, body_size))
        return ZMESH_ERR_ENVELOPE_BAD_BODY;
    return s_publish_live (self, body, body_size);
}

//  A control event (heartbeat or bye) says who we are, where to reach us,
//  and the sequence number our next event will get. All of one instance's
//  control events share one correlation id: the instance id.
zmesh_err_t
zmesh__publish_control (zmesh_node_t *self, const char *type)
{
    zmesh__context_t saved;
    zmesh__flow_enter (self, &saved, &self->instance, NULL);
    zmesh_envelope_t *control
        = zmesh__flow_envelope_new (self, ZMESH_KIND_EVENT, type);
    zmesh__flow_leave (self, &saved);
    if (!control)
        return ZMESH_ERR_NOMEM;
    zmesh_envelope_set_seq (control, self->seq + 1);
    zmesh_envelope_set_header (control, "instance", self->instance_text);
    zmesh_envelope_set_header (control, "service", self->config.group);
    zmesh_envelope_set_header (control, "events", self->events_endpoint);
    zmesh_envelope_set_header (control, "calls", self->calls_endpoint);
    if (self->store)
        zmesh_envelope_set_header (control, "log", "1");
    //  What a tap needs to see a consumer fall behind (zsniff --stats)
    if (streq (type, HEARTBEAT_TYPE) && zlistx_size (self->consumers)) {
        zmesh__consume_lag_t lag;
        zmesh__consume_lag (self, &lag, NULL, NULL);
        char value [24];
        snprintf (value, sizeof value, "%" PRIu64, lag.lag);
        zmesh_envelope_set_header (control, "lag", value);
        snprintf (value, sizeof value, "%" PRIu64, lag.stalled);
        zmesh_envelope_set_header (control, "stalled", value);
    }
    zmesh_err_t rc = s_send_control (self, control);
    zmesh_envelope_destroy (&control);
    return rc;
}
