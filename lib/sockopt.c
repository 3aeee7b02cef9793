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
    //  tells the peer how long to wait for us. Not on SUB: a subscriber
    //  that falls behind stops reading, misses the pings, has its link
    //  dropped, and libzmq 4.3 then aborts on reconnect (libzmq issue
    //  3937: "Assertion failed: _input_stopped"). Subscribers learn that a
    //  publisher is gone from zmesh's own heartbeats, and TCP keepalive.
    if (config->zmtp_heartbeat_ms > 0 && type != ZMQ_SUB) {
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
