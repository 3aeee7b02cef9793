/*  pollset.c - the sockets a node waits on, and which were ready.

    The items are kept as the array zmq_poll takes, so a wait builds
    nothing; a socket leaves by swapping the last item into its place.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "pollset.h"

struct _zmesh_pollset_t {
    zmq_pollitem_t *items;
    bool **ready;               //  Each item's flag
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
        zmesh__free (self->ready);
        zmesh__free (self);
        *self_p = NULL;
    }
}

int
zmesh__pollset_add (zmesh_pollset_t *self, void *socket, bool *ready)
{
    assert (self && socket && ready);
    if (self->count == self->max) {
        size_t max = self->max ? 2 * self->max : 8;
        zmq_pollitem_t *items = zmesh__realloc (self->items,
                                                max * sizeof *items);
        if (!items)
            return -1;
        self->items = items;
        bool **flags = zmesh__realloc (self->ready, max * sizeof *flags);
        if (!flags)
            return -1;
        self->ready = flags;
        self->max = max;
    }
    self->items [self->count] = (zmq_pollitem_t) {
        .socket = zsock_resolve (socket), .events = ZMQ_POLLIN};
    self->ready [self->count++] = ready;
    *ready = false;
    return 0;
}

void
zmesh__pollset_remove (zmesh_pollset_t *self, void *socket)
{
    assert (self && socket);
    void *handle = zsock_resolve (socket);
    for (size_t index = 0; index < self->count; index++)
        if (self->items [index].socket == handle) {
            self->count--;
            self->items [index] = self->items [self->count];
            self->ready [index] = self->ready [self->count];
            return;
        }
}

int
zmesh__pollset_wait (zmesh_pollset_t *self, int timeout_ms)
{
    assert (self);
    int rc = zmq_poll (self->items, (int) self->count, timeout_ms);
    for (size_t index = 0; index < self->count; index++)
        *self->ready [index] = rc > 0
                            && (self->items [index].revents & ZMQ_POLLIN);
    return rc;
}

size_t
zmesh__pollset_size (zmesh_pollset_t *self)
{
    assert (self);
    return self->count;
}
