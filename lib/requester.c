/*  requester.c - pools of REQ sockets per endpoint, waited on with pollers.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "requester.h"
#include "sockopt.h"

#define IDLE_MAX    64          //  Idle links kept per endpoint: the
                                //  default calls/max_in_flight

struct _zmesh_link_t {
    zsock_t *socket;            //  REQ, connected to the endpoint
    zpoller_t *poller;          //  Waits on socket alone
};

//  The idle links to one endpoint.
typedef struct {
    zmesh_link_t *idle [IDLE_MAX];
    size_t count;
} s_pool_t;

struct _zmesh_requester_t {
    const zmesh_node_config_t *config;  //  Socket options
    zmesh_clock_t *clock;       //  Deadlines are on its monotonic time
    zhashx_t *pools;            //  endpoint -> s_pool_t
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
s_link_destroy (zmesh_link_t **link_p)
{
    zmesh_link_t *link = *link_p;
    if (link) {
        zpoller_destroy (&link->poller);
        //  A request that was never answered must not hold up close.
        if (link->socket)
            zsock_set_linger (link->socket, 0);
        zsock_destroy (&link->socket);
        zmesh__free (link);
        *link_p = NULL;
    }
}

static void
s_pool_destroy (void **item_p)
{
    s_pool_t *pool = *item_p;
    if (pool) {
        while (pool->count)
            s_link_destroy (&pool->idle [--pool->count]);
        zmesh__free (pool);
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
    self->pools = zhashx_new ();
    zhashx_set_destructor (self->pools, s_pool_destroy);
    return self;
}

void
zmesh__requester_destroy (zmesh_requester_t **self_p)
{
    assert (self_p);
    zmesh_requester_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->pools);
        zmesh__free (self);
        *self_p = NULL;
    }
}

zmesh_err_t
zmesh__requester_take (zmesh_requester_t *self, const char *endpoint,
                       zmesh_link_t **link_p, zmesh_detail_t *detail)
{
    assert (self && endpoint && link_p);
    s_pool_t *pool = zhashx_lookup (self->pools, endpoint);
    if (!pool && (pool = zmesh__calloc (1, sizeof *pool)))
        zhashx_insert (self->pools, endpoint, pool);
    if (pool && pool->count) {
        *link_p = pool->idle [--pool->count];
        return ZMESH_OK;
    }
    zmesh_link_t *link = pool ? zmesh__calloc (1, sizeof *link) : NULL;
    if (link)
        link->socket = zmesh__socket_new (ZMQ_REQ, self->config);
    zmesh__detail (detail, "cannot connect a REQ socket to %s", endpoint);
    if (!link || !link->socket
        || (self->prepare
            && self->prepare (link->socket, endpoint, self->prepare_arg,
                              detail) != ZMESH_OK)
        || zsock_connect (link->socket, "%s", endpoint) < 0
        || !(link->poller = zpoller_new (link->socket, NULL))) {
        s_link_destroy (&link);
        return ZMESH_ERR_SOCKET;
    }
    *link_p = link;
    return ZMESH_OK;
}

void
zmesh__requester_give (zmesh_requester_t *self, const char *endpoint,
                       zmesh_link_t **link_p, bool reusable)
{
    assert (self && endpoint && link_p);
    s_pool_t *pool = zhashx_lookup (self->pools, endpoint);
    if (reusable && pool && pool->count < IDLE_MAX) {
        pool->idle [pool->count++] = *link_p;
        *link_p = NULL;
    }
    else
        s_link_destroy (link_p);
}

zsock_t *
zmesh__requester_socket (zmesh_link_t *link)
{
    assert (link);
    return link->socket;
}

zmesh_err_t
zmesh__requester_send (zmesh_requester_t *self, zmesh_link_t *link,
                       zmq_msg_t *request, zmesh_detail_t *detail)
{
    assert (self && link && request);
    //  A REQ socket queues the request until its peer is connected, so
    //  this never blocks; the deadline covers the wait for the connection.
    if (zmq_msg_send (request, zsock_resolve (link->socket), ZMQ_DONTWAIT)
        < 0) {
        zmesh__detail (detail, "send failed: %s", zmq_strerror (zmq_errno ()));
        return ZMESH_ERR_SOCKET;
    }
    return ZMESH_OK;
}

zmesh_err_t
zmesh__requester_receive (zmesh_requester_t *self, zmesh_link_t *link,
                          const zmesh_uuid_t *request_id,
                          zmesh_envelope_t **reply_p, bool *ready,
                          zmesh_detail_t *detail)
{
    assert (self && link && request_id && reply_p && ready);
    void *socket = zsock_resolve (link->socket);
    zmq_msg_t first;
    zmq_msg_init (&first);
    *ready = zmq_msg_recv (&first, socket, ZMQ_DONTWAIT) >= 0;
    if (!*ready) {
        int error = zmq_errno ();
        zmq_msg_close (&first);
        if (error == EAGAIN)
            return ZMESH_OK;        //  Nothing yet
        *ready = true;
        zmesh__detail (detail, "receive failed: %s", zmq_strerror (error));
        return ZMESH_ERR_SOCKET;
    }
    //  A reply is one frame: the rest of anything longer is dropped.
    size_t frames = 1;
    for (bool more = zmq_msg_more (&first); more; frames++) {
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, socket, 0) >= 0 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
    }
    zmesh_err_t rc = ZMESH_ERR_BAD_REPLY;
    zmesh_envelope_t *reply = NULL;
    if (frames != 1)
        zmesh__detail (detail, "reply of %zu frames, expected 1", frames);
    else if (zmesh_envelope_decode (zmq_msg_data (&first),
                                    zmq_msg_size (&first), &reply, detail)
             != ZMESH_OK)
        ;                       //  detail says why
    else if (zmesh_envelope_kind (reply) != ZMESH_KIND_REPLY)
        zmesh__detail (detail, "a %s where a reply was due",
                       zmesh_kind_name (zmesh_envelope_kind (reply)));
    else if (!zmesh_envelope_causation (reply)
             || !zmesh_uuid_eq (zmesh_envelope_causation (reply), request_id))
        zmesh__detail (detail, "a reply to another request, discarded");
    else
        rc = ZMESH_OK;
    zmq_msg_close (&first);
    if (rc == ZMESH_OK)
        *reply_p = reply;
    else
        zmesh_envelope_destroy (&reply);
    return rc;
}

zmesh_err_t
zmesh__requester_wait (zmesh_requester_t *self, zmesh_link_t *link,
                       const zmesh_uuid_t *request_id, int64_t deadline_ms,
                       zmesh_envelope_t **reply_p, zmesh_detail_t *detail)
{
    assert (self && link && request_id && reply_p);
    zmesh_err_t rc = ZMESH_OK;
    while (rc == ZMESH_OK) {
        int64_t remaining = deadline_ms - zmesh_clock_mono_ms (self->clock);
        if (remaining <= 0) {
            zmesh__detail (detail, "no reply before the deadline");
            return ZMESH_ERR_TIMEOUT;
        }
        if (zpoller_wait (link->poller,
                          remaining > INT_MAX ? INT_MAX : (int) remaining)) {
            bool ready = false;
            rc = zmesh__requester_receive (self, link, request_id, reply_p,
                                           &ready, detail);
            if (ready)
                return rc;
        }
        else if (zpoller_terminated (link->poller)) {
            zmesh__detail (detail, "interrupted while waiting for a reply");
            return ZMESH_ERR_INTERRUPTED;
        }
    }
    return rc;
}

void
zmesh__requester_forget (zmesh_requester_t *self, const char *endpoint)
{
    assert (self && endpoint);
    zhashx_delete (self->pools, endpoint);
}
