/*  requester.h - one call attempt over a REQ socket (private).

    This is the seam on the REQ path: the node builds a request, and every
    attempt to deliver it to one endpoint goes through
    zmesh__requester_call. The breaker and retry module wraps it.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_REQUESTER_H_INCLUDED
#define ZMESH_REQUESTER_H_INCLUDED

#include "zmesh/config.h"

typedef struct _zmesh_requester_t zmesh_requester_t;

//  Create a requester; it opens one REQ socket per endpoint on first use.
//  config and clock are borrowed and must outlive it. NULL if out of memory.
zmesh_requester_t *
    zmesh__requester_new (const zmesh_node_config_t *config,
                          zmesh_clock_t *clock);

//  Called with each new REQ socket before it connects to endpoint: the
//  node makes it a CURVE client there. An error fails the attempt.
typedef zmesh_err_t (zmesh__requester_prepare_fn) (zsock_t *socket,
                                                   const char *endpoint,
                                                   void *arg,
                                                   zmesh_detail_t *detail);
void
    zmesh__requester_set_prepare (zmesh_requester_t *self,
                                  zmesh__requester_prepare_fn *prepare,
                                  void *arg);

//  Close every socket and free the requester; harmless on NULL.
void
    zmesh__requester_destroy (zmesh_requester_t **self_p);

//  Send request (borrowed) to endpoint and wait, on a poller, until the
//  monotonic time deadline_ms for the reply whose causation is request_id.
//  Returns ZMESH_OK with *reply_p set (caller owns it), or
//  ZMESH_ERR_TIMEOUT, ZMESH_ERR_INTERRUPTED, ZMESH_ERR_BAD_REPLY (garbage,
//  or a reply to another request: discarded) or ZMESH_ERR_SOCKET. After
//  anything but ZMESH_OK the endpoint's socket is closed, since a REQ socket
//  that lost its reply cannot be used again; the next call opens a new one.
zmesh_err_t
    zmesh__requester_call (zmesh_requester_t *self, const char *endpoint,
                           zframe_t *request, const zmesh_uuid_t *request_id,
                           int64_t deadline_ms, zmesh_envelope_t **reply_p,
                           zmesh_detail_t *detail);

//  Close the socket to endpoint, if there is one: its peer is gone.
void
    zmesh__requester_forget (zmesh_requester_t *self, const char *endpoint);

//  How many sockets the requester has replaced after a failed attempt.
uint64_t
    zmesh__requester_reopened (zmesh_requester_t *self);

#endif
