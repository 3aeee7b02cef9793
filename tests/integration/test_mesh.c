/*  test_mesh.c - the demo services as processes: users, orders through
    stock and payment, and what happens when payment or user are down.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"

static char dir [64];
static zmesh_node_t *client;

static void
s_setup (void)
{
    child_dir_make (dir, "mesh");
}

static void
s_teardown (void)
{
    zmesh_node_destroy (&client);
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (mesh, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Start a demo service under dir, knowing its peers, with one more
//  setting, and wait until it is up.
static child_t
s_start (const char *service, const char *const *peers, const char *extra)
{
    return child_start_service (NODES_DIR, dir, service, peers, extra, NULL,
                                0);
}

static const char *order_peers [] = {"user", "inventory", "payment", NULL};
static const char *inventory_peers [] = {"order", NULL};
static const char *payment_peers [] = {"inventory", NULL};

static void
s_client (void)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "client");
    char settings [5][200];
    snprintf (settings [0], 200, "peers/user/calls=ipc://%s/user-calls", dir);
    snprintf (settings [1], 200, "peers/order/calls=ipc://%s/order-calls", dir);
    snprintf (settings [2], 200, "peers/payment/calls=ipc://%s/payment-calls",
              dir);
    snprintf (settings [3], 200, "timing/call_timeout=3000");
    snprintf (settings [4], 200, "retry/attempt_timeout=3000");
    for (int index = 0; index < 5; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   NULL), 0));
    client = zmesh_node_new (&config, NULL, NULL, NULL);
    cr_assert (client != NULL);
}

//  Call with a JSON body; the reply body as JSON in *reply_p.
static zmesh_err_t
s_call (const char *service, const char *method, json_t *body, json_t **reply_p,
        int64_t *code)
{
    void *data = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (body, &data, &size, NULL);
    json_decref (body);
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_node_call (client, service, method, data, size, 0,
                                      &reply, &detail);
    free (data);
    if (reply_p)
        *reply_p = NULL;
    if (reply && reply_p && zmesh_envelope_body_size (reply))
        zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                 zmesh_envelope_body_size (reply), reply_p,
                                 NULL);
    if (code)
        *code = reply ? zmesh_envelope_error_code (reply) : 0;
    zmesh_envelope_destroy (&reply);
    return rc;
}

static char *
s_new_user (void)
{
    json_t *user = NULL;
    cr_assert (eq (int, s_call ("user", "user.create",
                                json_pack ("{s:s, s:s}", "name", "Ada",
                                           "email", "ada@example.org"),
                                &user, NULL), ZMESH_OK));
    char *id = strdup (json_string_value (json_object_get (user, "id")));
    json_decref (user);
    return id;
}

static char *
s_new_order (const char *user, int quantity, int price)
{
    json_t *order = NULL;
    int64_t code;
    zmesh_err_t rc = s_call ("order", "order.create",
                             json_pack ("{s:s, s:[{s:s, s:i, s:i}]}", "userId",
                                        user, "items", "productId", "p-1",
                                        "quantity", quantity, "price", price),
                             &order, &code);
    cr_assert (eq (int, rc, ZMESH_OK), "%s (%" PRId64 ")", zmesh_errname (rc),
               code);
    char *id = strdup (json_string_value (json_object_get (order, "id")));
    json_decref (order);
    return id;
}

//  Poll order.get until the order is paid or cancelled, at most
//  timeout_ms; returns its final JSON (caller frees).
static json_t *
s_final (const char *order, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    json_t *state = NULL;
    while (zclock_mono () < deadline) {
        json_decref (state);
        state = NULL;
        s_call ("order", "order.get", json_pack ("{s:s}", "id", order), &state,
                NULL);
        const char *status = json_string_value (json_object_get (state,
                                                                 "status"));
        if (status && (streq (status, "paid") || streq (status, "cancelled")))
            return state;
        zclock_sleep (50);
    }
    return state;
}

static const char *
s_status (json_t *state)
{
    const char *status = json_string_value (json_object_get (state, "status"));
    return status ? status : "(none)";
}

static bool
s_count_settled (const zmesh_stored_event_t *event, void *arg)
{
    *(int *) arg += streq (event->type, "inventory.settled");
    return true;
}

//  How many orders the inventory node has settled (read from its store,
//  which it keeps using: SQLite lets both in).
static int
s_settled (void)
{
    char path [128];
    snprintf (path, sizeof path, "%s/inventory/inventory.db", dir);
    zmesh_store_t *store = zmesh_store_open (path, false, NULL);
    int count = 0;
    if (store)
        zmesh_store_read_stream (store, "inventory", 1, false, 0,
                                 s_count_settled, &count, NULL);
    zmesh_store_close (&store);
    return count;
}

Test (mesh, orders_go_through_stock_and_payment_in_one_flow)
{
    child_t user = s_start ("user", NULL, NULL);
    child_t order = s_start ("order", order_peers, NULL);
    child_t inventory = s_start ("inventory", inventory_peers,
                                 "service/stock=10");
    child_t payment = s_start ("payment", payment_peers, "service/limit=5000");
    s_client ();
    char *ada = s_new_user ();

    //  Paid: in stock, within the card's limit.
    char *good = s_new_order (ada, 2, 1250);
    json_t *state = s_final (good, 15000);
    cr_assert (eq (str, (char *) s_status (state), "paid"));
    cr_assert (eq (int, (int) json_integer_value (json_object_get (state,
                                                                    "total")),
                   2500));
    //  Every event of the order shares the flow's correlation id.
    json_t *history = json_object_get (state, "history");
    cr_assert (ge (sz, json_array_size (history), 5), "created, item, placed,"
               " confirmed, paid");
    const char *flow = json_string_value (json_object_get (
        json_array_get (history, 0), "correlation"));
    size_t index;
    json_t *entry;
    json_array_foreach (history, index, entry)
        cr_assert (eq (str, (char *) json_string_value (json_object_get (
                                entry, "correlation")), (char *) flow),
                   "%s left the flow",
                   json_string_value (json_object_get (entry, "type")));
    json_decref (state);

    //  Cancelled: more than the 8 left in stock.
    char *greedy = s_new_order (ada, 9, 100);
    state = s_final (greedy, 15000);
    cr_assert (eq (str, (char *) s_status (state), "cancelled"));
    json_decref (state);

    //  Cancelled: over the card's limit; its stock comes back.
    char *dear = s_new_order (ada, 1, 6000);
    state = s_final (dear, 15000);
    cr_assert (eq (str, (char *) s_status (state), "cancelled"));
    json_decref (state);
    char *after = s_new_order (ada, 8, 100);
    state = s_final (after, 15000);
    cr_assert (eq (str, (char *) s_status (state), "paid"),
               "8 more fit only if the refused order gave its unit back");
    json_decref (state);
    //  The two paid orders are settled: inventory no longer holds them
    int64_t deadline = zclock_mono () + 10000;
    while (s_settled () < 2 && zclock_mono () < deadline)
        zclock_sleep (100);
    cr_assert (eq (int, s_settled (), 2));

    //  One product on two lines is one demand: 6 + 6 of p-2 is more than
    //  its 10, though each line alone would fit.
    json_t *doubled = NULL;
    cr_assert (eq (int, s_call ("order", "order.create",
                                json_pack ("{s:s, s:[{s:s, s:i, s:i}, "
                                           "{s:s, s:i, s:i}]}", "userId", ada,
                                           "items", "productId", "p-2",
                                           "quantity", 6, "price", 1,
                                           "productId", "p-2", "quantity", 6,
                                           "price", 1), &doubled, NULL),
                   ZMESH_OK));
    const char *twice = json_string_value (json_object_get (doubled, "id"));
    cr_assert (twice != NULL);
    state = s_final (twice, 15000);
    cr_assert (eq (str, (char *) s_status (state), "cancelled"),
               "a product on two lines is counted once, in full");
    json_decref (state);
    json_decref (doubled);

    //  An unknown user is refused at once.
    json_t *refused = NULL;
    int64_t code = 0;
    cr_assert (eq (int, s_call ("order", "order.create",
                                json_pack ("{s:s, s:[{s:s, s:i, s:i}]}",
                                           "userId",
                                           "00000000-0000-4000-8000-000000000000",
                                           "items", "productId", "p-1",
                                           "quantity", 1, "price", 1),
                                &refused, &code), ZMESH_ERR_APP_ERROR));
    cr_assert (eq (i64, code, 422));
    free (ada);
    free (good);
    free (greedy);
    free (dear);
    free (after);
    cr_assert (eq (int, child_stop (&payment, 5000), 0));
    cr_assert (eq (int, child_stop (&inventory, 5000), 0));
    cr_assert (eq (int, child_stop (&order, 5000), 0));
    cr_assert (eq (int, child_stop (&user, 5000), 0));
}

Test (mesh, orders_wait_for_payment_to_come_back_and_are_charged_once)
{
    child_t user = s_start ("user", NULL, NULL);
    child_t order = s_start ("order", order_peers, NULL);
    child_t inventory = s_start ("inventory", inventory_peers, NULL);
    child_t payment = s_start ("payment", payment_peers, NULL);
    s_client ();
    char *ada = s_new_user ();
    char *first = s_new_order (ada, 1, 100);
    json_t *state = s_final (first, 15000);
    cr_assert (eq (str, (char *) s_status (state), "paid"));
    json_decref (state);

    //  Payment crashes; orders are still taken, and wait.
    child_kill (&payment);
    enum { WAITING = 5 };
    char *orders [WAITING];
    for (int index = 0; index < WAITING; index++)
        orders [index] = s_new_order (ada, 1, 100 + index);
    zclock_sleep (500);
    for (int index = 0; index < WAITING; index++) {
        state = NULL;
        s_call ("order", "order.get", json_pack ("{s:s}", "id", orders [index]),
                &state, NULL);
        cr_assert (eq (str, (char *) s_status (state), "confirmed"),
                   "reserved, not yet paid");
        json_decref (state);
    }
    //  Back, it catches up from the events it missed.
    payment = s_start ("payment", payment_peers, NULL);
    for (int index = 0; index < WAITING; index++) {
        state = s_final (orders [index], 20000);
        cr_assert (eq (str, (char *) s_status (state), "paid"));
        json_decref (state);
    }
    cr_assert (eq (int, child_stop (&payment, 5000), 0));

    //  Each order charged once: one event in its payment stream.
    char path [160];
    snprintf (path, sizeof path, "%s/payment/payment.db", dir);
    zmesh_store_t *store = zmesh_store_open (path, false, NULL);
    cr_assert (store != NULL);
    for (int index = 0; index < WAITING; index++) {
        char stream [80];
        snprintf (stream, sizeof stream, "payment-%s", orders [index]);
        int64_t version = 0;
        zmesh_store_version (store, stream, &version);
        cr_assert (eq (i64, version, 1), "order %d charged %" PRId64 " times",
                   index, version);
        free (orders [index]);
    }
    zmesh_store_close (&store);
    free (ada);
    free (first);
    cr_assert (eq (int, child_stop (&inventory, 5000), 0));
    cr_assert (eq (int, child_stop (&order, 5000), 0));
    cr_assert (eq (int, child_stop (&user, 5000), 0));
}

Test (mesh, without_the_user_service_orders_get_503_in_time_then_recover)
{
    child_t user = s_start ("user", NULL, NULL);
    child_t order = s_start ("order", order_peers, "timing/call_timeout=1000");
    s_client ();
    char *ada = s_new_user ();
    child_kill (&user);
    json_t *reply = NULL;
    int64_t code = 0;
    int64_t started = zclock_mono ();
    zmesh_err_t rc = s_call ("order", "order.create",
                             json_pack ("{s:s, s:[{s:s, s:i, s:i}]}", "userId",
                                        ada, "items", "productId", "p-1",
                                        "quantity", 1, "price", 1),
                             &reply, &code);
    int64_t elapsed = zclock_mono () - started;
    cr_assert (eq (int, rc, ZMESH_ERR_APP_ERROR));
    cr_assert (eq (i64, code, 503));
    cr_assert (le (i64, elapsed, 1000 + 500), "took %" PRId64 " ms", elapsed);
    user = s_start ("user", NULL, NULL);
    int64_t deadline = zclock_mono () + 15000;
    do {
        rc = s_call ("order", "order.create",
                     json_pack ("{s:s, s:[{s:s, s:i, s:i}]}", "userId", ada,
                                "items", "productId", "p-1", "quantity", 1,
                                "price", 1), &reply, &code);
        json_decref (reply);
        reply = NULL;
        if (rc != ZMESH_OK)
            zclock_sleep (200);
    } while (rc != ZMESH_OK && zclock_mono () < deadline);
    cr_assert (eq (int, rc, ZMESH_OK), "no recovery: %s (%" PRId64 ")",
               zmesh_errname (rc), code);
    free (ada);
    cr_assert (eq (int, child_stop (&order, 5000), 0));
    cr_assert (eq (int, child_stop (&user, 5000), 0));
}
