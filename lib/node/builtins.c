/*  builtins.c - the zmesh.* methods every node serves.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

size_t
zmesh__builtins_counters (zmesh_node_t *self, zmesh__counter_t *counters,
                          size_t max)
{
    zmesh_node_stats_t copy;
    zmesh_node_stats (self, &copy);
    const zmesh_node_stats_t *stats = &copy;
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
        open
            += breaker && zmesh_breaker_state (breaker) != ZMESH_BREAKER_CLOSED;
    }
    zmesh__consume_lag_t lag;
    zmesh__consume_lag (self, &lag, NULL, NULL);
    const zmesh__counter_t all [] = {
        {"events_published", stats->events_published, false,
         "Events published, live or to the log"},
        {"events_received", stats->events_received, false,
         "Valid events handed to handlers"},
        {"bad_frames", stats->bad_frames, false,
         "Messages dropped as invalid"},
        {"calls_served", stats->calls_served, false,
         "Requests answered, any status"},
        {"unknown_methods", stats->unknown_methods, false,
         "Requests for a method not served"},
        {"calls_refused", stats->calls_refused, false,
         "Requests the caller may not make"},
        {"calls_made", stats->calls_made, false,
         "Attempts made through the REQ path"},
        {"call_timeouts", stats->call_timeouts, false,
         "Attempts that timed out"},
        {"bad_replies", stats->bad_replies, false,
         "Replies that were garbage or answered another request"},
        {"heartbeats_sent", stats->heartbeats_sent, false, "Heartbeats sent"},
        {"heartbeats_received", stats->heartbeats_received, false,
         "Valid heartbeats received"},
        {"duplicates_answered", stats->duplicates_answered, false,
         "Retried requests answered from the reply cache"},
        {"events_consumed", stats->events_consumed, false,
         "Events handled by reliable consumers"},
        {"events_repeated", stats->events_repeated, false,
         "Events seen again, and skipped"},
        {"events_replayed", stats->events_replayed, false,
         "Events fetched to repair a gap"},
        {"replays_failed", stats->replays_failed, false,
         "Repair calls that did not answer"},
        {"ranges_trimmed", stats->ranges_trimmed, false,
         "Ranges asked for but gone from the publisher's log"},
        {"dead_letters", stats->dead_letters, false,
         "Events the handlers gave up on"},
        {"batch_commits", stats->batch_commits, false,
         "Transactions of the loop"},
        {"replies_late", stats->replies_late, false,
         "Deferred replies finished after the caller's budget"},
        {"events_left", stats->events_left, false,
         "Events another member of the group owned and handled"},
        {"spans_exported", stats->spans_exported, false,
         "Flow records the OTLP collector took"},
        {"spans_dropped", stats->spans_dropped, false,
         "Flow records not exported: the collector away, or the queue "
         "full"},
        {"links_failed", stats->links_failed, false,
         "Event links to peers that could not be opened, each tried again "
         "at every heartbeat"},
        {"seq", self->seq, true, "The sequence number of the last event"},
        {"peers_alive", alive, true, "Peers heard from within timing/quiet"},
        {"breakers_open", open, true, "Breakers of known peers not closed"},
        {"lag", lag.lag, true,
         "Events of the publishers followed not yet consumed"},
        {"lag_max", lag.lag_max, true,
         "The most events behind one publisher"},
        {"stalled", lag.stalled, true,
         "Publishers with events left whose position has not moved for "
         "timing/gone"},
    };
    size_t count = sizeof all / sizeof all [0];
    if (count > max)
        count = max;
    memcpy (counters, all, count * sizeof all [0]);
    return count;
}

//  Every node serves zmesh.stats: its counters, as reply headers.
void
zmesh__builtins_stats (zmesh_node_t *self, const zmesh_envelope_t *request,
                       zmesh_envelope_t *reply, void *arg)
{
    (void) request;
    (void) arg;
    zmesh__counter_t counters [ZMESH__COUNTERS_MAX];
    size_t count = zmesh__builtins_counters (self, counters,
                                             ZMESH__COUNTERS_MAX);
    for (size_t index = 0; index < count; index++) {
        char value [24];
        snprintf (value, sizeof value, "%" PRIu64, counters [index].value);
        zmesh_envelope_set_header (reply, counters [index].name, value);
    }
}

//  Set a JSON value (taken) as a reply's body.
void
zmesh__builtins_reply_json (zmesh_envelope_t *reply, json_t *value)
{
    void *data = NULL;
    size_t size = 0;
    if (zmesh_json_to_msgpack (value, &data, &size, NULL) == ZMESH_OK)
        zmesh_envelope_set_body (reply, data, size);
    free (data);
    json_decref (value);
}

//  A request's body as JSON; NULL if it is not valid msgpack.
json_t *
zmesh__builtins_request_json (const zmesh_envelope_t *request)
{
    json_t *body = NULL;
    zmesh_json_from_msgpack (zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request), &body, NULL);
    return body;
}

//  zmesh.publish {type, body}: publish on the caller's behalf, stored and
//  sequenced like the node's own events.
void
zmesh__builtins_publish (zmesh_node_t *self, const zmesh_envelope_t *request,
                         zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = zmesh__builtins_request_json (request);
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
        zmesh__builtins_reply_json (
            reply, json_pack ("{s:I}", "seq", (json_int_t) self->seq));
    free (data);
    json_decref (body);
}

//  zmesh.trace {cid}: what this node remembers of that flow.
void
zmesh__builtins_trace (zmesh_node_t *self, const zmesh_envelope_t *request,
                       zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = zmesh__builtins_request_json (request);
    const char *text = json_string_value (json_object_get (body, "cid"));
    zmesh_uuid_t correlation;
    if (!text || zmesh_uuid_parse (text, &correlation) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.trace wants {cid}: a correlation id");
    else
        zmesh__builtins_reply_json (
            reply,
            zmesh__trace_find (self->trace, &correlation, self->config.name));
    json_decref (body);
}

//  zmesh.tap {on}: switch the tap on or off; {on, endpoint}.
void
zmesh__builtins_tap (zmesh_node_t *self, const zmesh_envelope_t *request,
                     zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = zmesh__builtins_request_json (request);
    json_t *on = json_object_get (body, "on");
    zmesh_detail_t detail = {""};
    if (!json_is_boolean (on))
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_BAD_REQUEST,
                                   "zmesh.tap wants {on}: true or false");
    else if (zmesh__tap_switch (self, json_is_true (on), &detail) != ZMESH_OK)
        zmesh_envelope_set_status (reply, ZMESH_STATUS_MESH_ERROR,
                                   ZMESH_MESH_INTERNAL, detail.text);
    else {
        zsys_info ("node %s: tap %s %s", self->config.name,
                   self->tap ? "on at" : "off", self->tap_endpoint);
        zmesh__builtins_reply_json (
            reply, json_pack ("{s:b, s:s}", "on", self->tap != NULL, "endpoint",
                              self->tap_endpoint));
    }
    json_decref (body);
}
