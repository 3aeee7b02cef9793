/*  security.h - CURVE on every link of a node (private).

    With security/cert set, a node's sockets speak CURVE: the ones it binds
    (PUB, ROUTER, the tap) as servers that a ZAP handler (this module's,
    started before anything binds) lets only the keys in security/keys
    through, naming each link by its key's certificate (ZAP's User-Id);
    the ones it connects (SUB, REQ) as clients that insist on the server
    key pinned for that peer in security/keys. Keys come from files, never
    from the network, read by one loader. proto/node.md, "Security", is the
    contract.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_SECURITY_PRIVATE_H_INCLUDED
#define ZMESH_SECURITY_PRIVATE_H_INCLUDED

#include "zmesh_classes.h"

typedef struct _zmesh_security_t zmesh_security_t;

//  Load the node's certificate and the allowed keys, and start the ZAP
//  handler, per config. With security/cert empty, security is off: the
//  object says so and changes no socket. NULL with detail on failure (a
//  missing or bad file, gossip configured, another node of this process
//  allowing other keys).
zmesh_security_t *
    zmesh__security_new (const zmesh_node_config_t *config,
                         zmesh_detail_t *detail);
void
    zmesh__security_destroy (zmesh_security_t **self_p);

bool
    zmesh__security_on (zmesh_security_t *self);

//  Read security/keys again: the keys now there are the ones let in, and
//  pinned; links made with a key taken out no longer speak for anyone
//  (zmesh__security_identity), and *removed says whether any was. On
//  error (detail), nothing changes.
zmesh_err_t
    zmesh__security_reload (zmesh_security_t *self, bool *removed,
                            zmesh_detail_t *detail);

//  Who sent msg, received on a socket this node binds: with security
//  on, the name of the certificate its link authenticated with, or NULL
//  if that key is no longer allowed; with security off, "" (anyone).
const char *
    zmesh__security_identity (zmesh_security_t *self, zmq_msg_t *msg);

//  Make socket a CURVE server that ZAP authenticates, before it binds.
zmesh_err_t
    zmesh__security_server (zmesh_security_t *self, zsock_t *socket,
                            zmesh_detail_t *detail);

//  Make socket a CURVE client of the peer called name (its certificate's
//  "name"; else service, if not NULL), before it connects.
//  ZMESH_ERR_CONFIG if no key is pinned for either.
zmesh_err_t
    zmesh__security_client (zmesh_security_t *self, zsock_t *socket,
                            const char *name, const char *service,
                            zmesh_detail_t *detail);

#endif
