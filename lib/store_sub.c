/*  store_sub.c - a subscription to a store: the events appended to it,
    delivered in order as they are committed, by this process or another.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

struct _zmesh_store_sub_t {
    zmesh_store_t *store;       //  Borrowed
    uint64_t next;              //  Next position to deliver
    int64_t data_version;       //  PRAGMA data_version at the last poll
    zmesh_stored_event_fn *fn;
    void *arg;
};

zmesh_store_sub_t *
zmesh_store_subscribe (zmesh_store_t *self, uint64_t from,
                       zmesh_stored_event_fn *fn, void *arg)
{
    assert (self && fn);
    zmesh_store_sub_t *sub = zmesh__calloc (1, sizeof *sub);
    if (sub) {
        sub->store = self;
        sub->next = from ? from : 1;
        sub->data_version = -1;
        sub->fn = fn;
        sub->arg = arg;
    }
    return sub;
}

zmesh_err_t
zmesh_store_sub_poll (zmesh_store_sub_t *self, size_t limit,
                      size_t *delivered, zmesh_detail_t *detail)
{
    assert (self);
    if (delivered)
        *delivered = 0;
    //  data_version changes when another connection commits; our own
    //  commits are seen through the head.
    int64_t data_version = zmesh__store_data_version (self->store);
    uint64_t head = 0;
    zmesh_store_head (self->store, &head);
    if (data_version == self->data_version && head < self->next)
        return ZMESH_OK;
    self->data_version = data_version;
    uint64_t last = 0;
    size_t count = 0;
    zmesh_err_t rc = zmesh__store_read_from (self->store, self->next, limit,
                                             self->fn, self->arg, &last,
                                             &count, detail);
    if (count)
        self->next = last + 1;
    if (delivered)
        *delivered = count;
    return rc;
}

uint64_t
zmesh_store_sub_next (zmesh_store_sub_t *self)
{
    assert (self);
    return self->next;
}

void
zmesh_store_sub_destroy (zmesh_store_sub_t **self_p)
{
    assert (self_p);
    zmesh__free (*self_p);
    *self_p = NULL;
}
