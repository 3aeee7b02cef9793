/*  test_order.c - the Order aggregate on a real store: its rules, replay,
    snapshots, and streams it cannot read.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <sqlite3.h>
#include "zmesh.h"
#include "order.h"

static char dir [64];
static char path [128];
static zmesh_store_t *store;
static zmesh_rand_t *rand_source;
static order_t order;

static void
s_setup (void)
{
    snprintf (dir, sizeof dir, "/tmp/zmesh-order-XXXXXX");
    cr_assert (mkdtemp (dir) != NULL);
    snprintf (path, sizeof path, "%s/events.db", dir);
    store = zmesh_store_open (path, false, NULL);
    cr_assert (store != NULL);
    rand_source = zmesh_rand_seeded_new (5);
    memset (&order, 0, sizeof order);
}

static void
s_teardown (void)
{
    order_aggregate.fini (&order);
    zmesh_store_close (&store);
    zmesh_rand_destroy (&rand_source);
    char command [200];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    cr_assert (system (command) == 0);
}

TestSuite (order, .init = s_setup, .fini = s_teardown);

//  Give a decided event its ids and commit it.
static void
s_commit (order_event_t *decided, zmesh_aggregate_info_t *info)
{
    zmesh_uuid_generate (rand_source, &decided->event.id);
    zmesh_uuid_generate (rand_source, &decided->event.correlation);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_aggregate_commit (store, &order_aggregate,
                                                "order-1", &decided->event, 1,
                                                &order, info, &detail), 0),
               "%s", detail.text);
}

static void
s_load (zmesh_aggregate_info_t *info)
{
    order_aggregate.fini (&order);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", true, &order, info,
                                              &detail), 0), "%s", detail.text);
}

Test (order, commands_keep_the_rules)
{
    zmesh_aggregate_info_t info;
    s_load (&info);
    order_event_t decided;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, order_add_item (&order, "p-1", 1, 100, &decided,
                                        &detail), ZMESH_ERR_REFUSED));
    cr_assert (eq (int, order_confirm (&order, &decided, &detail),
                   ZMESH_ERR_REFUSED));
    cr_assert (eq (int, order_cancel (&order, "x", &decided, &detail),
                   ZMESH_ERR_REFUSED));
    cr_assert (eq (int, order_create (&order, "o-1", "u-7", &decided, &detail), 0));
    s_commit (&decided, &info);
    cr_assert (eq (int, order.status, ORDER_PENDING));
    cr_assert (eq (int, order_create (&order, "o-1", "u-7", &decided, &detail),
                   ZMESH_ERR_REFUSED));
    cr_assert (eq (int, order_confirm (&order, &decided, &detail),
                   ZMESH_ERR_REFUSED), "no items yet");
    cr_assert (strstr (detail.text, "without items") != NULL);
    cr_assert (eq (int, order_add_item (&order, "p-1", 0, 100, &decided,
                                        &detail), ZMESH_ERR_REFUSED));
    cr_assert (eq (int, order_pay (&order, "pay-1", &decided, &detail),
                   ZMESH_ERR_REFUSED), "not confirmed");
    cr_assert (eq (int, order_add_item (&order, "p-1", 2, 1250, &decided,
                                        &detail), 0));
    s_commit (&decided, &info);
    cr_assert (eq (int, order_confirm (&order, &decided, &detail), 0));
    s_commit (&decided, &info);
    cr_assert (eq (int, order_add_item (&order, "p-2", 1, 100, &decided,
                                        &detail), ZMESH_ERR_REFUSED));
    cr_assert (strstr (detail.text, "confirmed") != NULL, "%s", detail.text);
    cr_assert (eq (int, order_fail_payment (&order, "card declined", &decided,
                                            &detail), 0));
    s_commit (&decided, &info);
    cr_assert (eq (int, order.status, ORDER_PAYMENT_FAILED));
    cr_assert (eq (int, order_pay (&order, "pay-2", &decided, &detail), 0),
                   "a failed payment may be tried again");
    s_commit (&decided, &info);
    cr_assert (eq (int, order_cancel (&order, "too late", &decided, &detail),
                   ZMESH_ERR_REFUSED), "paid orders stay paid");

    //  Everything came from the stream: a fresh load agrees.
    s_load (&info);
    cr_assert (eq (i64, info.version, 5));
    cr_assert (eq (int, order.status, ORDER_PAID));
    cr_assert (eq (str, order.user_id, "u-7"));
    cr_assert (eq (str, order.payment_id, "pay-2"));
    cr_assert (eq (sz, order.item_count, 1));
    cr_assert (eq (i64, order.total, 2500));
}

Test (order, a_decision_on_stale_state_is_refused)
{
    zmesh_aggregate_info_t info;
    s_load (&info);
    order_event_t decided;
    order_create (&order, "o-1", "u-7", &decided, NULL);
    s_commit (&decided, &info);

    //  Two handlers load the same order and both decide.
    order_t other;
    zmesh_aggregate_info_t other_info;
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", true, &other,
                                              &other_info, NULL), 0));
    order_add_item (&order, "p-1", 1, 100, &decided, NULL);
    s_commit (&decided, &info);
    order_event_t late;
    cr_assert (eq (int, order_cancel (&other, "changed my mind", &late, NULL),
                   0));
    zmesh_uuid_generate (rand_source, &late.event.id);
    zmesh_uuid_generate (rand_source, &late.event.correlation);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_aggregate_commit (store, &order_aggregate,
                                                "order-1", &late.event, 1,
                                                &other, &other_info, &detail),
                   ZMESH_ERR_CONCURRENCY));
    cr_assert (strstr (detail.text, "version 2") != NULL, "%s", detail.text);
    order_aggregate.fini (&other);
}

Test (order, ten_thousand_events_load_through_the_snapshot, .timeout = 120)
{
    zmesh_aggregate_info_t info;
    s_load (&info);
    order_event_t decided;
    order_create (&order, "o-1", "u-big", &decided, NULL);
    s_commit (&decided, &info);
    //  9999 items, committed 99 or so at a time.
    enum { ITEMS = 9999, BATCH = 99 };
    zmesh_new_event_t events [BATCH];
    order_event_t bodies [BATCH];
    for (int done = 0; done < ITEMS; done += BATCH) {
        for (int index = 0; index < BATCH; index++) {
            char product [32];
            snprintf (product, sizeof product, "p-%d", done + index);
            cr_assert (eq (int, order_add_item (&order, product, 1 + index % 3,
                                                100 + done + index,
                                                &bodies [index], NULL), 0));
            events [index] = bodies [index].event;
            zmesh_uuid_generate (rand_source, &events [index].id);
            zmesh_uuid_generate (rand_source, &events [index].correlation);
        }
        cr_assert (eq (int, zmesh_aggregate_commit (store, &order_aggregate,
                                                    "order-1", events, BATCH,
                                                    &order, &info, NULL), 0));
    }
    cr_assert (eq (i64, info.version, 10000));
    int64_t total = order.total;

    zmesh_aggregate_info_t from_snapshot;
    s_load (&from_snapshot);
    cr_assert (eq (i64, from_snapshot.snapshot_version, 10000));
    cr_assert (eq (sz, from_snapshot.replayed, 0));
    cr_assert (eq (i64, order.total, total));
    order_t snapped = order;
    memset (&order, 0, sizeof order);

    zmesh_aggregate_info_t from_scratch;
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", false, &order,
                                              &from_scratch, NULL), 0));
    cr_assert (eq (sz, from_scratch.replayed, 10000));
    cr_assert (eq (i64, from_scratch.snapshot_version, 0));
    //  The same state either way, item by item.
    cr_assert (eq (int, order.status, snapped.status));
    cr_assert (eq (str, order.user_id, snapped.user_id));
    cr_assert (eq (i64, order.total, snapped.total));
    cr_assert (eq (sz, order.item_count, snapped.item_count));
    cr_assert (eq (sz, order.item_count, ITEMS));
    for (size_t index = 0; index < order.item_count; index++) {
        cr_assert (eq (str, order.items [index].product_id,
                       snapped.items [index].product_id));
        cr_assert (eq (i64, order.items [index].quantity,
                       snapped.items [index].quantity));
        cr_assert (eq (i64, order.items [index].price,
                       snapped.items [index].price));
    }
    order_aggregate.fini (&snapped);

    //  Newer events than the snapshot are replayed on top of it.
    order_confirm (&order, &decided, NULL);
    s_commit (&decided, &info);
    s_load (&from_snapshot);
    cr_assert (eq (i64, from_snapshot.snapshot_version, 10000));
    cr_assert (eq (sz, from_snapshot.replayed, 1));
    cr_assert (eq (int, order.status, ORDER_CONFIRMED));
}

static void
s_sql (const char *sql)
{
    sqlite3 *db;
    cr_assert (sqlite3_open (path, &db) == SQLITE_OK);
    cr_assert (sqlite3_exec (db, sql, NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close (db);
}

Test (order, streams_it_cannot_read_give_clear_errors)
{
    zmesh_aggregate_info_t info;
    s_load (&info);
    order_event_t decided;
    order_create (&order, "o-1", "u-7", &decided, NULL);
    s_commit (&decided, &info);
    order_add_item (&order, "p-1", 1, 100, &decided, NULL);
    s_commit (&decided, &info);

    //  An event type the aggregate does not know.
    zmesh_new_event_t stranger = {.type = "order.teleported"};
    zmesh_uuid_generate (rand_source, &stranger.id);
    zmesh_uuid_generate (rand_source, &stranger.correlation);
    zmesh_append_result_t result;
    cr_assert (eq (int, zmesh_store_append (store, "order-1", 2, &stranger, 1,
                                            &result, NULL), 0));
    order_aggregate.fini (&order);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", true, &order, &info,
                                              &detail),
                   ZMESH_ERR_UNKNOWN_EVENT));
    cr_assert (strstr (detail.text, "order.teleported") != NULL, "%s",
               detail.text);
    cr_assert (strstr (detail.text, "version 3") != NULL, "%s", detail.text);

    //  A body that lacks what its type needs.
    s_sql ("DELETE FROM events WHERE version = 3");
    s_sql ("UPDATE events SET body = x'81a1780c' WHERE version = 2");
    order_aggregate.fini (&order);
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", true, &order, &info,
                                              &detail), ZMESH_ERR_INVALID));
    cr_assert (strstr (detail.text, "order.item_added") != NULL, "%s",
               detail.text);

    //  Bytes that are not msgpack at all.
    s_sql ("UPDATE events SET body = x'c1c1' WHERE version = 2");
    order_aggregate.fini (&order);
    cr_assert (eq (int, zmesh_aggregate_load (store, &order_aggregate,
                                              "order-1", true, &order, &info,
                                              &detail),
                   ZMESH_ERR_STORE_CORRUPT));
}

Test (order, an_unreadable_snapshot_falls_back_to_replay)
{
    zmesh_aggregate_info_t info;
    s_load (&info);
    order_event_t decided;
    order_create (&order, "o-1", "u-7", &decided, NULL);
    s_commit (&decided, &info);
    cr_assert (eq (int, zmesh_store_save_snapshot (store, "order-1", 1, "\xc1",
                                                   1), 0));
    s_load (&info);
    cr_assert (eq (i64, info.snapshot_version, 0));
    cr_assert (eq (sz, info.replayed, 1));
    cr_assert (eq (int, order.status, ORDER_PENDING));
}
