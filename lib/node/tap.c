/*  tap.c - flow records of what the node does, and the call tap.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  What a reply says, as the caller would see it.
zmesh_err_t
zmesh__tap_reply_rc (const zmesh_envelope_t *reply)
{
    if (!reply || zmesh_envelope_status (reply) == ZMESH_STATUS_OK)
        return ZMESH_OK;
    return zmesh_caller_reply_error (reply);
}

//  The slot for a new record: the ring's next, or spare when the ring
//  keeps none but the record goes elsewhere; NULL if it goes nowhere.
static zmesh_trace_record_t *
s_record_slot (zmesh_node_t *self, zmesh_trace_record_t *spare)
{
    zmesh_trace_record_t *record = zmesh__trace_slot (self->trace);
    return record ? record : self->tap || self->otlp ? spare : NULL;
}

//  A filled record to the OTLP exporter and, with node/verbose, the log.
static void
s_record_out (zmesh_node_t *self, const zmesh_trace_record_t *record)
{
    if (self->otlp)
        zmesh__otlp_record (self, record);
    if (self->config.verbose) {
        //  node/verbose: every record of the flows, one line each
        char cid [ZMESH_UUID_STR_LEN + 1], status [40];
        zmesh_uuid_unparse (&record->correlation, cid);
        zsys_debug ("node %s: %s %s%s%s, %s, %" PRIu64 " us, cid %.8s",
                    self->config.name, zmesh__trace_what_name (record->what),
                    record->name,
                    !*record->peer ? ""
                    : record->what == ZMESH_TRACE_MADE ? " -> " : " <- ",
                    record->peer,
                    zmesh__trace_status (record->rc, status, sizeof status),
                    record->latency_us, cid);
    }
}

//  Remember one flow record of envelope (an event, or a call's request)
//  and, for calls while the tap is on, mirror it there with both
//  envelopes: [what] [record] [request] [reply or empty].
void
zmesh__tap_trace (zmesh_node_t *self, zmesh_trace_what_t what,
                  const zmesh_envelope_t *envelope, const char *peer,
                  zmesh_err_t rc, uint64_t at_us, uint64_t latency_us,
                  const zmesh_envelope_t *reply)
{
    //  Filled in place, field by field: this runs for every event
    zmesh_trace_record_t spare, *record = s_record_slot (self, &spare);
    if (!record)
        return;
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
    record->has_parent = zmesh_envelope_parent_span (envelope,
                                                     record->parent);
    //  Both fit: an envelope's type and source are checked names
    strcpy (record->name, zmesh_envelope_type (envelope));
    size_t length = strnlen (peer, sizeof record->peer - 1);
    memcpy (record->peer, peer, length);
    record->peer [length] = 0;
    record->rc = rc;
    s_record_out (self, record);
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

//  The record of an event published from its fields, as zmesh__tap_trace
//  records the envelope that has them.
void
zmesh__tap_trace_published (zmesh_node_t *self,
                            const zmesh__event_fields_t *event,
                            uint64_t at_us)
{
    zmesh_trace_record_t spare, *record = s_record_slot (self, &spare);
    if (!record)
        return;
    record->what = ZMESH_TRACE_PUBLISHED;
    record->at_us = at_us;
    record->latency_us = 0;
    record->seq = event->seq;
    record->id = *event->id;
    record->correlation = *event->correlation;
    record->has_causation = event->causation != NULL;
    if (event->causation)
        record->causation = *event->causation;
    record->has_parent = zmesh__envelope_parent_of (
        event->causation, event->correlation,
        event->header && streq (event->header, "traceparent")
        ? event->header_value : NULL, record->parent);
    memcpy (record->name, event->type, event->type_length + 1);
    record->peer [0] = 0;
    record->rc = ZMESH_OK;
    s_record_out (self, record);
}

//  Switch the tap on (bind tap/bind) or off (close it).
zmesh_err_t
zmesh__tap_switch (zmesh_node_t *self, bool on, zmesh_detail_t *detail)
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
    zmesh__node_advertised (self, self->tap, self->tap_endpoint);
    return ZMESH_OK;
}
