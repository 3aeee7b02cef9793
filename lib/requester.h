/*  requester.h - call attempts over REQ sockets (private).

    This is the seam on the REQ path: the node builds a request, and every
    attempt to deliver it to one endpoint goes through a link taken from
    the requester. The breaker and retry module wraps it.

    A REQ socket carries one request at a time, so the requester keeps a
    pool of idle links per endpoint and opens another when every one is
    out. Taking and giving back links needs the node's lock; the exchange
    on a link that was taken does not, so that a node shared by several
    threads has calls from each in flight at once.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_REQUESTER_H_INCLUDED
#define ZMESH_REQUESTER_H_INCLUDED

#include "zmesh/config.h"

typedef struct _zmesh_requester_t zmesh_requester_t;

//  A REQ socket connected to one endpoint, with its poller.
typedef struct _zmesh_link_t zmesh_link_t;

//  Create a requester. config and clock are borrowed and must outlive it.
//  NULL if out of memory.
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

//  Close every idle socket and free the requester; harmless on NULL.
//  Every link taken must have been given back.
void
    zmesh__requester_destroy (zmesh_requester_t **self_p);

//  Take an idle link to endpoint, or open one. Returns ZMESH_OK with
//  *link_p set, or ZMESH_ERR_SOCKET with detail.
zmesh_err_t
    zmesh__requester_take (zmesh_requester_t *self, const char *endpoint,
                           zmesh_link_t **link_p, zmesh_detail_t *detail);

//  An exchange on a link: send the request (a message, which the caller
//  closes after, sent or not), then wait until the monotonic time
//  deadline_ms for the reply whose causation is request_id, on the
//  link's own poller; or, for a caller that polls the link's socket
//  itself (a node's loop), receive once it is readable, which never
//  waits: *ready false means nothing has come yet, *ready true that this
//  is the attempt's outcome. The outcome is ZMESH_OK with
//  *reply_p set (caller owns it), or ZMESH_ERR_TIMEOUT,
//  ZMESH_ERR_INTERRUPTED, ZMESH_ERR_BAD_REPLY (garbage, or a reply to
//  another request: discarded) or ZMESH_ERR_SOCKET. These touch only the
//  link and the clock: they may run without the node's lock.
zsock_t *
    zmesh__requester_socket (zmesh_link_t *link);
zmesh_err_t
    zmesh__requester_send (zmesh_requester_t *self, zmesh_link_t *link,
                           zmq_msg_t *request, zmesh_detail_t *detail);
zmesh_err_t
    zmesh__requester_wait (zmesh_requester_t *self, zmesh_link_t *link,
                           const zmesh_uuid_t *request_id, int64_t deadline_ms,
                           zmesh_envelope_t **reply_p, zmesh_detail_t *detail);
zmesh_err_t
    zmesh__requester_receive (zmesh_requester_t *self, zmesh_link_t *link,
                              const zmesh_uuid_t *request_id,
                              zmesh_envelope_t **reply_p, bool *ready,
                              zmesh_detail_t *detail);

//  Give back the link taken for endpoint. After an exchange that failed,
//  pass reusable false: a REQ socket that lost its reply cannot be used
//  again, so it is closed. So is a link whose endpoint was forgotten while
//  it was out.
void
    zmesh__requester_give (zmesh_requester_t *self, const char *endpoint,
                           zmesh_link_t **link_p, bool reusable);

//  Close the idle sockets to endpoint: its peer is gone.
void
    zmesh__requester_forget (zmesh_requester_t *self, const char *endpoint);

#endif
