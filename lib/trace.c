/*  trace.c - what a node remembers of the flows through it.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "trace.h"

struct _zmesh_trace_t {
    zmesh_trace_record_t *ring;     //  keep records
    size_t keep;
    size_t next;                    //  Where the next record goes
    size_t count;                   //  Records held, at most keep
};

zmesh_trace_t *
zmesh__trace_new (size_t keep)
{
    zmesh_trace_t *self = zmesh__calloc (1, sizeof *self);
    if (self && keep) {
        //  calloc: pages of the ring become resident only as it fills
        self->ring = zmesh__calloc (keep, sizeof *self->ring);
        if (!self->ring)
            zmesh__trace_destroy (&self);
    }
    if (self)
        self->keep = keep;
    return self;
}

void
zmesh__trace_destroy (zmesh_trace_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zmesh__free ((*self_p)->ring);
        zmesh__free (*self_p);
        *self_p = NULL;
    }
}

zmesh_trace_record_t *
zmesh__trace_slot (zmesh_trace_t *self)
{
    assert (self);
    if (!self->keep)
        return NULL;
    zmesh_trace_record_t *slot = &self->ring [self->next];
    self->next = (self->next + 1) % self->keep;
    if (self->count < self->keep)
        self->count++;
    return slot;
}

const char *
zmesh__trace_what_name (zmesh_trace_what_t what)
{
    static const char *names [] = {"published", "received", "made", "served"};
    return what <= ZMESH_TRACE_SERVED ? names [what] : "?";
}

const char *
zmesh__trace_status (zmesh_err_t rc, char *text, size_t size)
{
    assert (size > 0);
    const char *name = rc == ZMESH_OK ? "ok" : zmesh_errname (rc);
    if (strncmp (name, "ERR_", 4) == 0)
        name += 4;
    size_t index = 0;
    for (; name [index] && index + 1 < size; index++)
        text [index] = (char) tolower ((unsigned char) name [index]);
    text [index] = 0;
    return text;
}

json_t *
zmesh__trace_json (const zmesh_trace_record_t *record, const char *node)
{
    char id [ZMESH_UUID_STR_LEN + 1], cid [ZMESH_UUID_STR_LEN + 1];
    char status [40];
    json_t *object = json_pack (
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s}",
        "what", zmesh__trace_what_name (record->what), "node", node,
        "name", record->name, "peer", record->peer,
        "id", zmesh_uuid_unparse (&record->id, id),
        "cid", zmesh_uuid_unparse (&record->correlation, cid),
        "at_us", (json_int_t) record->at_us, "status",
        zmesh__trace_status (record->rc, status, sizeof status));
    if (!object)
        return NULL;
    if (record->has_causation)
        json_object_set_new (object, "cause",
                             json_string (zmesh_uuid_unparse (&record->causation,
                                                              id)));
    if (record->seq)
        json_object_set_new (object, "seq",
                             json_integer ((json_int_t) record->seq));
    //  Its W3C trace context: the flow's trace, its own span, its parent's
    char traceparent [ZMESH_TRACEPARENT_LEN + 1];
    json_object_set_new (object, "traceparent", json_string (
        zmesh_traceparent_format (&record->correlation,
                                  record->id.bytes + ZMESH_UUID_SIZE
                                  - ZMESH_SPAN_ID_SIZE, traceparent)));
    if (record->has_parent)
        json_object_set_new (object, "parent_span", json_string (
            zmesh_span_format (record->parent, traceparent)));
    if (record->what == ZMESH_TRACE_MADE || record->what == ZMESH_TRACE_SERVED)
        json_object_set_new (object, "latency_us",
                             json_integer ((json_int_t) record->latency_us));
    return object;
}

json_t *
zmesh__trace_find (zmesh_trace_t *self, const zmesh_uuid_t *correlation,
                   const char *node)
{
    assert (self && correlation);
    json_t *found = json_array ();
    size_t first = (self->next + self->keep - self->count) % (self->keep
                                                               ? self->keep
                                                               : 1);
    for (size_t index = 0; found && index < self->count; index++) {
        const zmesh_trace_record_t *record
            = &self->ring [(first + index) % self->keep];
        if (zmesh_uuid_eq (&record->correlation, correlation))
            json_array_append_new (found, zmesh__trace_json (record, node));
    }
    return found;
}
