/*  sockopt.h - the socket options every zmesh socket gets (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_SOCKOPT_H_INCLUDED
#define ZMESH_SOCKOPT_H_INCLUDED

#include "zmesh/config.h"

//  Create a socket of type with high-water marks, linger, reconnect backoff,
//  ZMTP heartbeats, TCP keepalive and the envelope's size limit set, all
//  before it binds or connects. Returns NULL if ZeroMQ refuses.
zsock_t *
    zmesh__socket_new (int type, const zmesh_node_config_t *config);

#endif
