/*  order_aggregate.c - an event-sourced aggregate: an order decided by
    commands, kept as events in a store, and rebuilt from them.

        order_aggregate [DIRECTORY]

    Creates DIRECTORY/orders.db (default: a new directory under /tmp).

    Part of zmesh. MIT License.
*/
#include "order.h"

static zmesh_rand_t *rand_source;

//  Give a decided event its ids and commit it; say what happened.
static void
s_commit (zmesh_store_t *store, order_t *order, zmesh_aggregate_info_t *info,
          order_event_t *decided)
{
    zmesh_uuid_generate (rand_source, &decided->event.id);
    zmesh_uuid_generate (rand_source, &decided->event.correlation);
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_aggregate_commit (store, &order_aggregate,
                                             "order-1", &decided->event, 1,
                                             order, info, &detail);
    printf ("%-20s -> version %" PRId64 ", status %s%s%s\n",
            decided->event.type, info->version,
            order_status_name (order->status), rc ? ": " : "",
            rc ? detail.text : "");
}

static bool
s_print (const zmesh_stored_event_t *event, void *arg)
{
    (void) arg;
    printf ("  position %" PRIu64 ", version %" PRId64 ": %s\n",
            event->position, event->version, event->type);
    return true;
}

int
main (int argc, char *argv [])
{
    char dir [128];
    if (argc > 1 && (streq (argv [1], "--help") || argv [1][0] == '-')) {
        printf ("usage: order_aggregate [DIRECTORY]\n");
        return streq (argv [1], "--help") ? 0 : 2;
    }
    if (argc > 1)
        snprintf (dir, sizeof dir, "%s", argv [1]);
    else {
        snprintf (dir, sizeof dir, "/tmp/zmesh-order-example-XXXXXX");
        if (!mkdtemp (dir))
            return 1;
    }
    char path [200];
    snprintf (path, sizeof path, "%s/orders.db", dir);
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, true, &detail);
    if (!store) {
        fprintf (stderr, "order_aggregate: %s\n", detail.text);
        return 1;
    }
    rand_source = zmesh_rand_new ();
    order_t order;
    zmesh_aggregate_info_t info;
    zmesh_aggregate_load (store, &order_aggregate, "order-1", true, &order,
                          &info, NULL);
    order_event_t decided;
    if (order_create (&order, "order-1", "user-7", &decided, NULL) == ZMESH_OK)
        s_commit (store, &order, &info, &decided);
    if (order_add_item (&order, "p-book", 2, 1250, &decided, NULL) == ZMESH_OK)
        s_commit (store, &order, &info, &decided);
    if (order_confirm (&order, &decided, NULL) == ZMESH_OK)
        s_commit (store, &order, &info, &decided);
    //  A command against the rules is refused; nothing is written.
    if (order_add_item (&order, "p-pen", 1, 100, &decided, &detail)
        == ZMESH_ERR_REFUSED)
        printf ("add_item refused: %s\n", detail.text);

    //  Rebuilt from its events, in a fresh state.
    order_aggregate.fini (&order);
    zmesh_aggregate_load (store, &order_aggregate, "order-1", false, &order,
                          &info, NULL);
    printf ("rebuilt from %zu events: status %s, %zu item(s), total %" PRId64
            " cents\n", info.replayed, order_status_name (order.status),
            order.item_count, order.total);
    zmesh_store_read_stream (store, "order-1", 1, false, 0, s_print, NULL,
                             NULL);
    order_aggregate.fini (&order);
    zmesh_rand_destroy (&rand_source);
    zmesh_store_close (&store);
    return 0;
}
