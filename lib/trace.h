/*  trace.h - what a node remembers of the flows through it (private).

    A node keeps its last trace/keep records, one per event it publishes or
    receives and per call it makes or serves, so that `zmesh trace` can ask
    every node for what happened under one correlation id (zmesh.trace) and
    put the tree together. The same records, with the call envelopes, go out
    on the node's tap while it is switched on (zmesh.tap). proto/node.md,
    "Tracing and the tap", is the contract.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TRACE_H_INCLUDED
#define ZMESH_TRACE_H_INCLUDED

#include "zmesh_classes.h"

typedef enum {
    ZMESH_TRACE_PUBLISHED = 0,  //  An event this node published
    ZMESH_TRACE_RECEIVED = 1,   //  An event from a peer, handed to handlers
    ZMESH_TRACE_MADE = 2,       //  A call this node made (all its attempts)
    ZMESH_TRACE_SERVED = 3      //  A call this node answered
} zmesh_trace_what_t;

typedef struct {
    zmesh_trace_what_t what;
    zmesh_uuid_t id;            //  The event's or the request's id
    zmesh_uuid_t correlation;
    zmesh_uuid_t causation;
    bool has_causation;
    bool has_parent;            //  Its parent span: the causation's, or
    uint8_t parent [ZMESH_SPAN_ID_SIZE];    //  the traceparent header's
    char name [ZMESH_ENVELOPE_TYPE_MAX + 1];    //  Event type or method
    char peer [ZMESH_ENVELOPE_SOURCE_MAX + 1];  //  Publisher, caller or
                                                //  callee; "" for published
    uint64_t at_us;             //  Unix time, microseconds: sent or received
    uint64_t seq;               //  Events: their sequence number, or 0
    uint64_t latency_us;        //  Calls: from request to reply
    zmesh_err_t rc;             //  ZMESH_OK, or what went wrong: kept as a
                                //  number, named when read (trace_status)
} zmesh_trace_record_t;

//  How a record's rc reads: "ok", or the error's name in lower case
//  ("timeout", "circuit_open", "app_error", ...), in text (size bytes).
const char *
    zmesh__trace_status (zmesh_err_t rc, char *text, size_t size);

typedef struct _zmesh_trace_t zmesh_trace_t;

//  A ring of keep records (0: remember nothing). NULL if out of memory.
zmesh_trace_t *
    zmesh__trace_new (size_t keep);
void
    zmesh__trace_destroy (zmesh_trace_t **self_p);

//  The slot of the next record, for the caller to fill in whole: the
//  oldest record's when the ring is full. NULL when keep is 0.
zmesh_trace_record_t *
    zmesh__trace_slot (zmesh_trace_t *self);

//  The records under correlation, oldest first, as a JSON array of
//  objects (zmesh__trace_json each), with node set to this node's name.
json_t *
    zmesh__trace_find (zmesh_trace_t *self, const zmesh_uuid_t *correlation,
                       const char *node);

//  One record as a JSON object: {what, node, name, peer, id, cid, cause,
//  at_us, seq, latency_us, status}; cause and seq only when set, latency_us
//  only for calls.
json_t *
    zmesh__trace_json (const zmesh_trace_record_t *record, const char *node);

//  The name of what: "published", "received", "made", "served".
const char *
    zmesh__trace_what_name (zmesh_trace_what_t what);

#endif
