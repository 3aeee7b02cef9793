/*  sockopt.c - one place that sets up a zmesh socket.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

zsock_t *
zmesh__socket_new (int type, const zmesh_node_config_t *config)
{
    assert (config);
    zsock_t *socket = zsock_new (type);
    if (!socket)
        return NULL;
    zsock_set_sndhwm (socket, config->hwm);
    zsock_set_rcvhwm (socket, config->hwm);
    zsock_set_linger (socket, config->linger_ms);
    zsock_set_reconnect_ivl (socket, config->reconnect_ms);
    zsock_set_reconnect_ivl_max (socket, config->reconnect_max_ms);
    //  ZMTP heartbeats must be set before connect to take effect. The TTL
    //  tells the peer how long to wait for us. Not on the event link, PUB
    //  or SUB: a subscriber that falls behind stops reading by design, so
    //  it misses pings (SUB side) or leaves them unanswered (PUB side), the
    //  link is dropped while its input is stalled, and libzmq 4.3.4 then
    //  aborts the subscriber ("Assertion failed: _input_stopped", libzmq
    //  issue 3937, or "!_io_error", stream_engine_base.cpp). Subscribers
    //  learn that a publisher is gone from zmesh's own heartbeats; both
    //  ends drop a dead TCP link through keepalive.
    if (config->zmtp_heartbeat_ms > 0 && type != ZMQ_SUB && type != ZMQ_PUB) {
        zsock_set_heartbeat_ivl (socket, config->zmtp_heartbeat_ms);
        zsock_set_heartbeat_timeout (socket, config->zmtp_timeout_ms);
        zsock_set_heartbeat_ttl (socket, config->zmtp_timeout_ms);
    }
    zsock_set_tcp_keepalive (socket, 1);
    zsock_set_tcp_keepalive_idle (socket, 60);
    zsock_set_tcp_keepalive_intvl (socket, 10);
    zsock_set_tcp_keepalive_cnt (socket, 6);
    //  A frame over the envelope limit is refused by ZeroMQ itself, before
    //  it is buffered: the peer's connection is dropped.
    zsock_set_maxmsgsize (socket, ZMESH_ENVELOPE_FRAME_MAX);
    return socket;
}
