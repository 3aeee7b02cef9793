/*  peers.h - a node's directory of peer instances and their liveness
    (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_PEERS_H_INCLUDED
#define ZMESH_PEERS_H_INCLUDED

#include "zmesh/node.h"

typedef struct _zmesh_peers_t zmesh_peers_t;

//  Called when a peer changes state.
typedef void (zmesh_peer_change_fn) (const zmesh_peer_info_t *peer,
                                     zmesh_peer_state_t was, void *arg);

zmesh_peers_t *
    zmesh__peers_new (void);
void
    zmesh__peers_destroy (zmesh_peers_t **self_p);

//  Add the peer called key, or update its service and endpoints. Writes
//  the events endpoint it had before into old_events (ZMESH_ENDPOINT_MAX + 1
//  bytes; "" if none) so the caller can move its SUB connection. Returns the
//  peer's index, or -1 if out of memory.
long
    zmesh__peers_upsert (zmesh_peers_t *self, const char *key,
                         const char *service, const char *events,
                         const char *calls, bool from_config,
                         char *old_events);

//  Index of the peer whose events endpoint is events, or -1.
long
    zmesh__peers_find_events (zmesh_peers_t *self, const char *events);

size_t
    zmesh__peers_count (zmesh_peers_t *self);
zmesh_peer_info_t *
    zmesh__peers_at (zmesh_peers_t *self, size_t index);

//  Record a heartbeat from the peer at index at monotonic time now_ms.
void
    zmesh__peers_heard (zmesh_peers_t *self, size_t index, int64_t now_ms,
                        zmesh_peer_change_fn *changed, void *arg);

//  Mark the peer at index gone (a learned peer said goodbye), or quiet (a
//  configured one did: it is likely to restart, and stays routable).
void
    zmesh__peers_gone (zmesh_peers_t *self, size_t index,
                       zmesh_peer_change_fn *changed, void *arg);
void
    zmesh__peers_quiet (zmesh_peers_t *self, size_t index,
                        zmesh_peer_change_fn *changed, void *arg);

//  Forget the peer at index; later peers move down by one.
void
    zmesh__peers_remove (zmesh_peers_t *self, size_t index);

//  Move every peer to the state its silence calls for at now_ms.
void
    zmesh__peers_tick (zmesh_peers_t *self, int64_t now_ms, int quiet_ms,
                       int gone_ms, zmesh_peer_change_fn *changed, void *arg);

//  Fill endpoints (up to max) with the call endpoints of service's
//  instances, best first: alive, then never heard, then quiet; gone ones
//  are left out. With a key (or NULL), each of those ranks is in the
//  order of rendezvous hashing: the instance whose label weighs most for
//  key first. *equal says how many lead in the best rank found. Returns
//  how many.
//  Whether name, a member of group service, owns key: whether it weighs
//  most for key, by the rendezvous hashing of zmesh__peers_route over
//  instance names, among itself and the alive peers of service.
bool
    zmesh__peers_owns (zmesh_peers_t *self, const char *service,
                       const char *name, const char *key);

size_t
    zmesh__peers_route (zmesh_peers_t *self, const char *service,
                        const char *key, const char **endpoints, size_t max,
                        size_t *equal);

#endif
