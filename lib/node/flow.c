/*  flow.c - the flow a message belongs to: correlation, causation, ids.

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  A new message id, made at unix_ms: time-ordered, so that the store's
//  index of event ids takes each new one at its end instead of on a
//  random page.
void
zmesh__flow_message_id (zmesh_node_t *self, uint64_t unix_ms, zmesh_uuid_t *id)
{
    zmesh_uuid_generate_v7 (self->rand, unix_ms, id);
}

void
zmesh__flow_ids (zmesh_node_t *self, zmesh__flow_ids_t *ids)
{
    //  One reading of the clock for the id, the timestamp and the trace
    self->made_us = (uint64_t) zmesh_clock_unix_us (self->clock);
    ids->unix_ms = self->made_us / 1000;
    zmesh__flow_message_id (self, ids->unix_ms, &ids->id);
    ids->causation = NULL;
    if (self->context.active) {
        ids->correlation = self->context.correlation;
        if (self->context.has_cause)
            ids->causation = &self->context.cause;
    }
    else                        //  It starts a flow: the flow is its own
        ids->correlation = ids->id;
}

const char *
zmesh__flow_traceparent (zmesh_node_t *self, char *buffer)
{
    //  A first message of the flow: the trace context it goes on with,
    //  for its parent span (envelope.md, section 3)
    if (!self->context.active || self->context.has_cause
        || !self->context.has_parent)
        return NULL;
    zmesh_traceparent_format (&self->context.correlation,
                              self->context.parent, buffer);
    return buffer;
}

//  Make envelope (reset to kind) a new message of type, carrying the flow
//  of the running handler or flow, or starting a flow of its own. False if
//  type is not a valid name.
bool
zmesh__flow_fill (zmesh_node_t *self, zmesh_envelope_t *envelope,
                  zmesh_kind_t kind, const char *type)
{
    zmesh_envelope_reset (envelope, kind);
    zmesh__flow_ids_t ids;
    zmesh__flow_ids (self, &ids);
    zmesh_envelope_set_id (envelope, &ids.id);
    zmesh_envelope_set_correlation (envelope, &ids.correlation);
    if (ids.causation)
        zmesh_envelope_set_causation (envelope, ids.causation);
    char traceparent [ZMESH_TRACEPARENT_LEN + 1];
    if (zmesh__flow_traceparent (self, traceparent))
        zmesh_envelope_set_header (envelope, "traceparent", traceparent);
    zmesh_envelope_set_source (envelope, self->config.name);
    zmesh_envelope_set_timestamp (envelope, ids.unix_ms);
    return zmesh_envelope_set_type (envelope, type) == ZMESH_OK;
}

//  A new envelope of kind and type, filled as zmesh__flow_fill does, or NULL.
zmesh_envelope_t *
zmesh__flow_envelope_new (zmesh_node_t *self, zmesh_kind_t kind,
                          const char *type)
{
    //  The spare, if there is one: flow_fill resets it, so it costs no
    //  allocation, nor a second clearing of all of it
    zmesh_envelope_t *envelope = self->spare;
    self->spare = NULL;
    if (!envelope)
        envelope = zmesh_envelope_new (kind);
    if (envelope && !zmesh__flow_fill (self, envelope, kind, type))
        zmesh_envelope_destroy (&envelope);
    return envelope;
}

void
zmesh__flow_envelope_done (zmesh_node_t *self, zmesh_envelope_t **envelope_p)
{
    if (!self->spare) {
        self->spare = *envelope_p;
        *envelope_p = NULL;
    }
    zmesh_envelope_destroy (envelope_p);
}

void
zmesh__flow_enter (zmesh_node_t *self, zmesh__context_t *saved,
                   const zmesh_uuid_t *correlation, const zmesh_uuid_t *cause)
{
    *saved = self->context;
    self->context.active = true;
    self->context.correlation = *correlation;
    self->context.has_cause = cause != NULL;
    if (cause)
        self->context.cause = *cause;
    self->context.has_deadline = false;
    self->context.has_parent = false;
}

void
zmesh__flow_leave (zmesh_node_t *self, const zmesh__context_t *saved)
{
    self->context = *saved;
}

void
zmesh_node_flow_begin (zmesh_node_t *self, const zmesh_uuid_t *correlation)
{
    assert (self);
    self->context.active = true;
    self->context.has_cause = false;
    self->context.has_deadline = false;
    self->context.has_parent = false;
    if (correlation && !zmesh_uuid_is_nil (correlation))
        self->context.correlation = *correlation;
    else
        zmesh_uuid_generate (self->rand, &self->context.correlation);
}

zmesh_err_t
zmesh_node_flow_begin_traced (zmesh_node_t *self, const char *traceparent)
{
    assert (self);
    zmesh_uuid_t trace;
    uint8_t parent [ZMESH_SPAN_ID_SIZE];
    if (zmesh_traceparent_parse (traceparent, &trace, parent, NULL)
        != ZMESH_OK)
        return ZMESH_ERR_INVALID;
    zmesh_node_flow_begin (self, &trace);
    self->context.has_parent = true;
    memcpy (self->context.parent, parent, sizeof parent);
    return ZMESH_OK;
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
