/*  peer.h - a peer written elsewhere, for the integration suites: a raw
    ROUTER socket that answers a request the way the test says, and a raw
    PUB socket that publishes what the test says, forged or not.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_TEST_PEER_H_INCLUDED
#define ZMESH_TEST_PEER_H_INCLUDED

#include "zmesh.h"

//  Sets what a reply says beyond its ids, flow, type and source: its
//  status (ok unless it sets another), headers and body.
typedef void (peer_fill_fn) (const zmesh_envelope_t *request,
                             zmesh_envelope_t *reply, void *arg);

//  Read the request waiting on router (it must have one ready), reply to
//  it as source, with fill setting the rest, and return the request,
//  decoded (the test owns it). Asserts on anything unexpected.
zmesh_envelope_t *
    peer_reply (zsock_t *router, const char *source, peer_fill_fn *fill,
                void *arg);

//  The envelope frame of an event of type from source with seq, the
//  headers (name, value, ..., NULL; or NULL) and a body of size bytes (or
//  none), its ids drawn from rand (the test owns it).
zframe_t *
    peer_event (zmesh_rand_t *rand, const char *type, const char *source,
                uint64_t seq, const char *const *headers, const void *body,
                size_t size);

//  Publish on pub the event peer_event makes. Types zmesh.* go as
//  control events.
void
    peer_publish (zsock_t *pub, zmesh_rand_t *rand, const char *type,
                  const char *source, uint64_t seq,
                  const char *const *headers, const void *body, size_t size);

#endif
