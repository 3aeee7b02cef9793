/*  pollset.h - the sockets a node waits on, each with a flag that says
    whether it had a message when the wait ended (private).

    The node's loop waits once on every socket it reads (the calls ROUTER,
    a SUB and a monitor per link, a REQ per call in flight, gossip) and
    then reads only those the wait found ready.

    A wait costs what is ready, not what is in the set: a node linked to
    thirty peers asks only the sockets that may have input. The set polls
    each socket's ZMQ_FD, which signals when the socket has commands to
    take in, and asks ZMQ_EVENTS only of those whose descriptor fired, of
    those that were ready at the last wait (and so were read since), of
    those added or touched since, and of those marked to be asked always,
    except those read to the end since (drained), whose last use took in
    their commands and found no input.
    ZMQ_FD is edge-triggered: any send, receive or option set on a socket
    may take in its commands and leave the descriptor quiet with input
    waiting. So a socket that anything but the loop's reads may use is
    added with always set, or touched after each such use; and a wait that
    times out asks every socket, so that one missed edge costs at most
    one wait's timeout.

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
//  removed, and *ready is false until then. always: ask the socket at
//  every wait that it is not drained for (one that is sent on between
//  waits). -1 if out of memory or
//  if socket has no descriptor.
int
    zmesh__pollset_add (zmesh_pollset_t *self, void *socket, bool *ready,
                        bool always);

//  Wait on socket no more; harmless if it is not in the set.
void
    zmesh__pollset_remove (zmesh_pollset_t *self, void *socket);

//  Socket was used (an option set, a message sent): the next wait asks it.
void
    zmesh__pollset_touch (zmesh_pollset_t *self, void *socket);

//  Socket has no message, and its descriptor will signal the next one: it
//  was just read until it had none (EAGAIN), or it is a REQ whose request
//  has just gone, whose reply cannot have come yet. The next wait need
//  not ask it, even if it is asked always, unless it is touched first:
//  any send or option set on it before that wait must touch it.
void
    zmesh__pollset_drained (zmesh_pollset_t *self, void *socket);

//  Wait up to timeout_ms (-1: without end) for input on any socket, and set
//  every socket's flag. Returns how many are ready, or -1 if the wait was
//  cut short (a signal: errno EINTR) or the context is going (ETERM).
int
    zmesh__pollset_wait (zmesh_pollset_t *self, int timeout_ms);

//  How many sockets are in the set.
size_t
    zmesh__pollset_size (zmesh_pollset_t *self);

#endif
