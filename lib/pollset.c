/*  pollset.c - the sockets a node waits on, and which were ready.

    The descriptors are kept as the array poll takes, so a wait builds
    nothing; a socket leaves by swapping the last one into its place.

    Part of zmesh. MIT License.
*/
#include <poll.h>
#include "zmesh_classes.h"
#include "pollset.h"

typedef struct {
    void *socket;               //  The libzmq socket
    bool *ready;
    bool always;                //  Asked at every wait, unless drained
    bool ask;                   //  Asked at the next wait, unless drained
    bool drained;               //  Read to the end since: not asked
} s_item_t;

struct _zmesh_pollset_t {
    s_item_t *items;
    struct pollfd *fds;         //  Each item's ZMQ_FD
    size_t count, max;
};

zmesh_pollset_t *
zmesh__pollset_new (void)
{
    return zmesh__calloc (1, sizeof (zmesh_pollset_t));
}

void
zmesh__pollset_destroy (zmesh_pollset_t **self_p)
{
    assert (self_p);
    zmesh_pollset_t *self = *self_p;
    if (self) {
        zmesh__free (self->items);
        zmesh__free (self->fds);
        zmesh__free (self);
        *self_p = NULL;
    }
}

int
zmesh__pollset_add (zmesh_pollset_t *self, void *socket, bool *ready,
                    bool always)
{
    assert (self && socket && ready);
    if (self->count == self->max) {
        size_t max = self->max ? 2 * self->max : 8;
        s_item_t *items = zmesh__realloc (self->items, max * sizeof *items);
        if (!items)
            return -1;
        self->items = items;
        struct pollfd *fds = zmesh__realloc (self->fds, max * sizeof *fds);
        if (!fds)
            return -1;
        self->fds = fds;
        self->max = max;
    }
    void *handle = zsock_resolve (socket);
    int fd;
    size_t size = sizeof fd;
    if (zmq_getsockopt (handle, ZMQ_FD, &fd, &size) != 0)
        return -1;
    self->items [self->count] = (s_item_t) {
        .socket = handle, .ready = ready, .always = always, .ask = true};
    self->fds [self->count++] = (struct pollfd) {.fd = fd, .events = POLLIN};
    *ready = false;
    return 0;
}

//  The index of socket in the set, or count.
static size_t
s_find (zmesh_pollset_t *self, void *socket)
{
    void *handle = zsock_resolve (socket);
    size_t index = 0;
    while (index < self->count && self->items [index].socket != handle)
        index++;
    return index;
}

void
zmesh__pollset_remove (zmesh_pollset_t *self, void *socket)
{
    assert (self && socket);
    size_t index = s_find (self, socket);
    if (index < self->count) {
        self->count--;
        self->items [index] = self->items [self->count];
        self->fds [index] = self->fds [self->count];
    }
}

void
zmesh__pollset_touch (zmesh_pollset_t *self, void *socket)
{
    assert (self && socket);
    size_t index = s_find (self, socket);
    if (index < self->count) {
        self->items [index].ask = true;
        self->items [index].drained = false;
    }
}

void
zmesh__pollset_drained (zmesh_pollset_t *self, void *socket)
{
    assert (self && socket);
    size_t index = s_find (self, socket);
    if (index < self->count)
        self->items [index].drained = true;
}

//  Ask item index for input; 1 if it has some, 0 if not, -1 if the
//  context is going.
static int
s_ask (zmesh_pollset_t *self, size_t index)
{
    s_item_t *item = &self->items [index];
    uint32_t events;
    size_t size = sizeof events;
    if (zmq_getsockopt (item->socket, ZMQ_EVENTS, &events, &size) != 0)
        return -1;
    item->ask = false;
    if (!(events & ZMQ_POLLIN))
        return 0;
    *item->ready = true;
    return 1;
}

int
zmesh__pollset_wait (zmesh_pollset_t *self, int timeout_ms)
{
    assert (self);
    int found = 0;
    for (size_t index = 0; index < self->count; index++) {
        *self->items [index].ready = false;
        self->fds [index].revents = 0;
    }
    for (size_t index = 0; index < self->count; index++) {
        s_item_t *item = &self->items [index];
        bool drained = item->drained;
        item->drained = false;
        if ((item->always || item->ask) && !drained) {
            int rc = s_ask (self, index);
            if (rc < 0)
                return -1;
            found += rc;
        }
        else if (drained)
            item->ask = false;
    }
    int wait = found ? 0 : timeout_ms;
    int64_t end = wait > 0 ? zclock_mono () + wait : 0;
    while (true) {
        int rc = poll (self->fds, (nfds_t) self->count, wait);
        if (rc < 0)
            return -1;          //  EINTR
        //  The descriptors that fired, or, at the end of the time, all
        for (size_t index = 0; index < self->count; index++)
            if ((rc ? self->fds [index].revents : wait != 0)
                && !*self->items [index].ready) {
                int asked = s_ask (self, index);
                if (asked < 0)
                    return -1;
                found += asked;
            }
        if (found || wait == 0)
            break;
        if (wait > 0) {
            int64_t left = end - zclock_mono ();
            if (left <= 0)
                break;
            wait = (int) left;
        }
    }
    //  What is ready now is read before the next wait, which asks again
    for (size_t index = 0; index < self->count; index++)
        if (*self->items [index].ready)
            self->items [index].ask = true;
    return found;
}

size_t
zmesh__pollset_size (zmesh_pollset_t *self)
{
    assert (self);
    return self->count;
}
