/*  requester.c - REQ sockets per endpoint, waited on with a poller.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "requester.h"
#include "sockopt.h"

typedef struct {
    zsock_t *socket;            //  REQ, connected to the endpoint
    zpoller_t *poller;          //  Waits on socket alone
} s_link_t;

struct _zmesh_requester_t {
    const zmesh_node_config_t *config;  //  Socket options
    zmesh_clock_t *clock;       //  Deadlines are on its monotonic time
    zhashx_t *links;            //  endpoint -> s_link_t
    uint64_t reopened;          //  Sockets closed after a failed attempt
    zmesh__requester_prepare_fn *prepare;
    void *prepare_arg;
};

void
zmesh__requester_set_prepare (zmesh_requester_t *self,
                              zmesh__requester_prepare_fn *prepare, void *arg)
{
    assert (self);
    self->prepare = prepare;
    self->prepare_arg = arg;
}

static void
s_link_destroy (void **item_p)
{
    s_link_t *link = *item_p;
    if (link) {
        zpoller_destroy (&link->poller);
        //  A request that was never answered must not hold up close.
        zsock_set_linger (link->socket, 0);
        zsock_destroy (&link->socket);
        zmesh__free (link);
        *item_p = NULL;
    }
}

zmesh_requester_t *
zmesh__requester_new (const zmesh_node_config_t *config, zmesh_clock_t *clock)
{
    assert (config && clock);
    zmesh_requester_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->clock = clock;
    self->links = zhashx_new ();
    zhashx_set_destructor (self->links, s_link_destroy);
    return self;
}

void
zmesh__requester_destroy (zmesh_requester_t **self_p)
{
    assert (self_p);
    zmesh_requester_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->links);
        zmesh__free (self);
        *self_p = NULL;
    }
}

static s_link_t *
s_link (zmesh_requester_t *self, const char *endpoint, zmesh_detail_t *detail)
{
    s_link_t *link = zhashx_lookup (self->links, endpoint);
    if (link)
        return link;
    link = zmesh__calloc (1, sizeof *link);
    if (!link)
        return NULL;
    link->socket = zmesh__socket_new (ZMQ_REQ, self->config);
    zmesh__detail (detail, "cannot connect a REQ socket to %s", endpoint);
    if (!link->socket
        || (self->prepare
            && self->prepare (link->socket, endpoint, self->prepare_arg,
                              detail) != ZMESH_OK)
        || zsock_connect (link->socket, "%s", endpoint) < 0) {
        zsock_destroy (&link->socket);
        zmesh__free (link);
        return NULL;
    }
    link->poller = zpoller_new (link->socket, NULL);
    zhashx_insert (self->links, endpoint, link);
    return link;
}

//  Throw the endpoint's socket away: it is stuck waiting for a reply.
static void
s_reopen (zmesh_requester_t *self, const char *endpoint)
{
    zhashx_delete (self->links, endpoint);
    self->reopened++;
}

//  Wait for the reply and check that it answers this request.
static zmesh_err_t
s_receive (zmesh_requester_t *self, s_link_t *link,
           const zmesh_uuid_t *request_id, int64_t deadline_ms,
           zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    while (true) {
        int64_t remaining = deadline_ms - zmesh_clock_mono_ms (self->clock);
        if (remaining <= 0) {
            zmesh__detail (detail, "no reply before the deadline");
            return ZMESH_ERR_TIMEOUT;
        }
        if (zpoller_wait (link->poller,
                          remaining > INT_MAX ? INT_MAX : (int) remaining))
            break;
        if (zpoller_terminated (link->poller)) {
            zmesh__detail (detail, "interrupted while waiting for a reply");
            return ZMESH_ERR_INTERRUPTED;
        }
    }
    zmsg_t *msg = zmsg_recv (link->socket);
    if (!msg) {
        zmesh__detail (detail, "receive failed: %s", zmq_strerror (zmq_errno ()));
        return ZMESH_ERR_SOCKET;
    }
    zmesh_err_t rc = ZMESH_ERR_BAD_REPLY;
    zframe_t *frame = zmsg_first (msg);
    zmesh_envelope_t *reply = NULL;
    if (zmsg_size (msg) != 1)
        zmesh__detail (detail, "reply of %zu frames, expected 1",
                       zmsg_size (msg));
    else if (zmesh_envelope_decode (zframe_data (frame), zframe_size (frame),
                                    &reply, detail) != ZMESH_OK)
        ;                       //  detail says why
    else if (zmesh_envelope_kind (reply) != ZMESH_KIND_REPLY)
        zmesh__detail (detail, "a %s where a reply was due",
                       zmesh_kind_name (zmesh_envelope_kind (reply)));
    else if (!zmesh_envelope_causation (reply)
             || !zmesh_uuid_eq (zmesh_envelope_causation (reply), request_id))
        zmesh__detail (detail, "a reply to another request, discarded");
    else
        rc = ZMESH_OK;
    zmsg_destroy (&msg);
    if (rc == ZMESH_OK)
        *reply_p = reply;
    else
        zmesh_envelope_destroy (&reply);
    return rc;
}

zmesh_err_t
zmesh__requester_call (zmesh_requester_t *self, const char *endpoint,
                       zframe_t *request, const zmesh_uuid_t *request_id,
                       int64_t deadline_ms, zmesh_envelope_t **reply_p,
                       zmesh_detail_t *detail)
{
    assert (self && endpoint && request && request_id && reply_p);
    s_link_t *link = s_link (self, endpoint, detail);
    if (!link)
        return ZMESH_ERR_SOCKET;
    //  A REQ socket queues the request until its peer is connected, so
    //  this never blocks; the deadline covers the wait for the connection.
    if (zframe_send (&request, link->socket, ZFRAME_REUSE | ZFRAME_DONTWAIT)
        != 0) {
        zmesh__detail (detail, "send to %s failed: %s", endpoint,
                       zmq_strerror (zmq_errno ()));
        s_reopen (self, endpoint);
        return ZMESH_ERR_SOCKET;
    }
    zmesh_err_t rc = s_receive (self, link, request_id, deadline_ms, reply_p,
                                detail);
    if (rc != ZMESH_OK)
        s_reopen (self, endpoint);
    return rc;
}

void
zmesh__requester_forget (zmesh_requester_t *self, const char *endpoint)
{
    assert (self && endpoint);
    zhashx_delete (self->links, endpoint);
}

uint64_t
zmesh__requester_reopened (zmesh_requester_t *self)
{
    assert (self);
    return self->reopened;
}
