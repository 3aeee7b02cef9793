/*  pollset.h - the sockets a node waits on, each with a flag that says
    whether it had a message when the wait ended (private).

    The node's loop waits once on every socket it reads (the calls ROUTER,
    a SUB and a monitor per link, a REQ per call in flight, gossip) and
    then reads only those the wait found ready: a socket with nothing
    waiting costs no receive, and the wait tells all that are ready, not
    the first. ZeroMQ's poll is level-triggered, so a message that comes
    after the wait, or one left over a batch, is found by the next.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_POLLSET_H_INCLUDED
#define ZMESH_POLLSET_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

typedef struct _zmesh_pollset_t zmesh_pollset_t;

//  An empty set; NULL if out of memory.
zmesh_pollset_t *
    zmesh__pollset_new (void);

//  Free the set (not its sockets); harmless on NULL.
void
    zmesh__pollset_destroy (zmesh_pollset_t **self_p);

//  Wait on socket (a zsock_t, zactor_t or libzmq socket) for input from
//  now on; each wait sets *ready, which must live until the socket is
//  removed, and *ready is false until then. -1 if out of memory.
int
    zmesh__pollset_add (zmesh_pollset_t *self, void *socket, bool *ready);

//  Wait on socket no more; harmless if it is not in the set.
void
    zmesh__pollset_remove (zmesh_pollset_t *self, void *socket);

//  Wait up to timeout_ms (-1: without end) for input on any socket, and set
//  every socket's flag. Returns how many are ready, or -1 if the wait was
//  cut short (a signal: errno EINTR) or the context is going (ETERM).
int
    zmesh__pollset_wait (zmesh_pollset_t *self, int timeout_ms);

//  How many sockets are in the set.
size_t
    zmesh__pollset_size (zmesh_pollset_t *self);

#endif
