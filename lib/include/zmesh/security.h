/*  zmesh/security.h - keys for CURVE links, for tools beside the nodes.

    A node secures its own sockets from its settings (security/cert,
    security/keys; proto/node.md, "Security"). These functions are for
    programs that open sockets of their own to a secured mesh, such as
    zsniff, and for making the keys.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_SECURITY_H_INCLUDED
#define ZMESH_SECURITY_H_INCLUDED

#include "zmesh/export.h"
#include <czmq.h>
#include "zmesh/config.h"
#include "zmesh/error.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Write a new key pair for the node called name: <dir>/<name>.cert (the
//  public key, which goes into every allowed node's security/keys) and
//  <dir>/<name>.cert_secret (which stays on the node's host, readable by
//  it alone). Refuses to overwrite either. Returns ZMESH_OK, or
//  ZMESH_ERR_INVALID with detail (a bad name, files that exist, a
//  directory that cannot be written).
ZMESH_EXPORT zmesh_err_t
    zmesh_security_keygen (const char *dir, const char *name,
                           zmesh_detail_t *detail);

//  Make socket a CURVE client of the peer called name, with the key pair
//  of config's security/cert and name's key pinned in its security/keys,
//  before socket connects. With security off in config, does nothing.
//  Returns ZMESH_OK or ZMESH_ERR_CONFIG with detail.
ZMESH_EXPORT zmesh_err_t
    zmesh_security_client (const zmesh_node_config_t *config, zsock_t *socket,
                           const char *name, zmesh_detail_t *detail);

#ifdef __cplusplus
}
#endif

#endif
