/*  order_service.c - the order service: orders as event-sourced aggregates.

        order.create {userId, items: [{productId, quantity, price}]}
            checks the user with a call to user.get that does not hold
            up the node (the reply is deferred until it answers), appends
            order.created, order.item_added..., order.placed to the stream
            "order-<id>"; replies {id, status, total}; 422 for an unknown
            user, 503 when the user service cannot be reached within
            800 ms.
        order.get {id}
            {id, userId, status, total, items, history: [{version, type,
            correlation}]}, or 404.

    It consumes inventory.reserved (confirms), inventory.rejected
    (cancels), payment.processed (pays) and payment.failed (records the
    failure and cancels), each exactly once, in the order of its publisher.
    Reports of two publishers may arrive in either order: a payment that
    comes before its reservation confirms the order too, and the
    reservation then changes nothing.

    Part of zmesh. MIT License.
*/
#include "service.h"
#include "order.h"
#include "order_service.h"

#define ITEMS_MAX 50
#define USER_CHECK_MS 800       //  The longest the user check may take

//  node/verbose: also log the reports that change nothing. They are the
//  normal case whenever a payment overtakes its reservation, so without
//  it they would flood the log under load.
static bool s_verbose;

static void
s_stream (const char *order_id, char *stream)
{
    snprintf (stream, 80, "order-%s", order_id);
}

//  What user.get's outcome means for an order: 0 when the user exists,
//  else the HTTP-like code to refuse the order with (why in detail).
static int
s_user_refusal (zmesh_err_t rc, const zmesh_envelope_t *reply,
                const char *why, zmesh_detail_t *detail)
{
    if (rc == ZMESH_ERR_APP_ERROR)
        return zmesh_envelope_error_code (reply) == 404 ? 422 : 502;
    if (rc == ZMESH_OK)
        return 0;
    snprintf (detail->text, sizeof detail->text, "%s%s%.100s",
              zmesh_strerror (rc), *why ? ": " : "", why);
    return 503;
}

//  Decide the events of a new order, applying each to order in turn.
static zmesh_err_t
s_decide (order_t *order, const char *order_id, const char *user_id,
          json_t *items, order_event_t *decided, size_t *count,
          zmesh_detail_t *detail)
{
    zmesh_err_t rc = order_create (order, order_id, user_id, &decided [0],
                                   detail);
    if (rc == ZMESH_OK)
        rc = order_apply (order, &decided [0]);
    *count = 1;
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        if (rc != ZMESH_OK)
            break;
        const char *product = service_string (item, "productId", ORDER_ID_MAX);
        json_t *quantity = json_object_get (item, "quantity");
        json_t *price = json_object_get (item, "price");
        if (!product || !json_is_integer (quantity) || !json_is_integer (price)) {
            snprintf (detail->text, sizeof detail->text, "item %zu needs "
                      "productId (text), quantity and price (integers)",
                      index + 1);
            return ZMESH_ERR_REFUSED;
        }
        rc = order_add_item (order, product, json_integer_value (quantity),
                             json_integer_value (price), &decided [*count],
                             detail);
        if (rc == ZMESH_OK)
            rc = order_apply (order, &decided [(*count)++]);
    }
    return rc;
}

static bool
s_placed (const zmesh_stored_event_t *event, void *arg)
{
    if (!streq (event->type, "order.placed"))
        return true;
    zmesh_json_from_msgpack (event->body, event->body_size, (json_t **) arg,
                             NULL);
    return false;
}

//  A create that repeats one made before with the same idempotency key
//  (its order's stream, given): the first answer again if it asks for the
//  same order, else 422.
static void
s_repeat (zmesh_node_t *node, const char *stream, json_t *body,
          zmesh_envelope_t *reply)
{
    json_t *placed = NULL;
    zmesh_store_read_stream (zmesh_node_store (node), stream, 1, false, 0,
                             s_placed, &placed, NULL);
    if (!placed)
        service_refuse (reply, 409, "an order with this Idempotency-Key is "
                        "being placed; retry");
    else if (!json_equal (json_object_get (placed, "userId"),
                          json_object_get (body, "userId"))
             || !json_equal (json_object_get (placed, "items"),
                             json_object_get (body, "items")))
        service_refuse (reply, 422, "this Idempotency-Key was used for "
                        "another order");
    else
        service_set_body (reply, json_pack (
            "{s:O, s:s, s:O}", "id", json_object_get (placed, "orderId"),
            "status", "pending", "total", json_object_get (placed, "total")));
    json_decref (placed);
}

//  The id of the order body asks for: keyed by its idempotency key and
//  user, or new.
static void
s_order_id (zmesh_rand_t *rand, json_t *body, char *order_id)
{
    const char *key = service_string (body, "idempotencyKey",
                                      SERVICE_KEY_MAX);
    char scope [64];
    snprintf (scope, sizeof scope, "order/%s",
              service_string (body, "userId", 36));
    if (key)
        service_keyed_id (scope, key, order_id);
    else {
        zmesh_uuid_t uuid;
        zmesh_uuid_generate (rand, &uuid);
        zmesh_uuid_unparse (&uuid, order_id);
    }
}

//  Place the order body asks for, its user known to exist: decide its
//  events, append them to its stream, and say so in reply. An order whose
//  key has made one already is answered as s_repeat does.
static void
s_place (zmesh_node_t *node, zmesh_rand_t *rand, json_t *body,
         zmesh_envelope_t *reply)
{
    zmesh_detail_t detail = {""};
    const char *user_id = service_string (body, "userId", 36);
    json_t *items = json_object_get (body, "items");
    char order_id [ZMESH_UUID_STR_LEN + 1], stream [80];
    s_order_id (rand, body, order_id);
    s_stream (order_id, stream);

    order_t order;
    order_aggregate.init (&order);
    order_event_t *decided = calloc (ITEMS_MAX + 2, sizeof *decided);
    size_t count = 0;
    zmesh_err_t rc = decided ? s_decide (&order, order_id, user_id, items,
                                         decided, &count, &detail)
                             : ZMESH_ERR_NOMEM;
    //  Last, the news for the other services, in the same append.
    json_t *placed = json_pack ("{s:s, s:s, s:O, s:I}", "orderId", order_id,
                                "userId", user_id, "items", items, "total",
                                (json_int_t) order.total);
    void *placed_body = NULL;
    size_t placed_size = 0;
    if (placed)
        zmesh_json_to_msgpack (placed, &placed_body, &placed_size, NULL);
    json_decref (placed);
    if (rc == ZMESH_OK) {
        zmesh_new_event_t *events = calloc (count + 1, sizeof *events);
        for (size_t index = 0; events && index < count; index++)
            events [index] = decided [index].event;
        zmesh_append_result_t result;
        if (events) {
            events [count] = (zmesh_new_event_t) {.type = "order.placed",
                                                  .body = placed_body,
                                                  .body_size = placed_size};
            rc = zmesh_node_append (node, stream, ZMESH_VERSION_NO_STREAM,
                                    events, count + 1, &result, &detail);
        }
        else
            rc = ZMESH_ERR_NOMEM;
        free (events);
    }
    if (rc == ZMESH_ERR_CONCURRENCY)
        s_repeat (node, stream, body, reply);
    else if (rc == ZMESH_ERR_REFUSED || rc == ZMESH_ERR_INVALID)
        service_refuse (reply, 400, "%s", detail.text);
    else if (rc != ZMESH_OK)
        service_refuse (reply, 503, "cannot store the order: %s", detail.text);
    else
        service_set_body (reply, json_pack ("{s:s, s:s, s:I}", "id", order_id,
                                            "status", "pending", "total",
                                            (json_int_t) order.total));
    free (placed_body);
    free (decided);
    order_aggregate.fini (&order);
}

//  An order.create whose reply waits for user.get.
typedef struct {
    zmesh_deferred_t *deferred;
    zmesh_rand_t *rand;
    json_t *body;               //  The request's
} s_creating_t;

//  user.get has answered (or not): place the order or refuse it, and
//  finish the reply. This runs in the request's flow, so the order's
//  events carry its correlation and, as their cause, the request.
static void
s_user_checked (zmesh_node_t *node, zmesh_err_t rc,
                const zmesh_envelope_t *user, const char *why, void *arg)
{
    s_creating_t *creating = arg;
    zmesh_envelope_t *reply = zmesh_deferred_reply (creating->deferred);
    zmesh_detail_t detail = {""};
    int refusal = s_user_refusal (rc, user, why, &detail);
    if (refusal == 422)
        service_refuse (reply, 422, "unknown user %s",
                        service_string (creating->body, "userId", 36));
    else if (refusal) {
        service_refuse (reply, refusal, "user service unavailable: %s",
                        detail.text);
        if (refusal == 503)
            zmesh_envelope_set_header (reply, "retry-after-ms", "1000");
    }
    else
        s_place (node, creating->rand, creating->body, reply);
    zmesh_deferred_finish (&creating->deferred);
    json_decref (creating->body);
    free (creating);
}

//  order.create: check the user with a call that does not hold up the
//  node (others' requests are served meanwhile), then place the order.
static void
s_create (zmesh_node_t *node, const zmesh_envelope_t *request,
          zmesh_envelope_t *reply, void *arg)
{
    zmesh_detail_t detail = {""};
    json_t *body = service_body (request, &detail);
    const char *user_id = body ? service_string (body, "userId", 36) : NULL;
    json_t *items = body ? json_object_get (body, "items") : NULL;
    if (!user_id || !json_is_array (items) || json_array_size (items) == 0
        || json_array_size (items) > ITEMS_MAX) {
        service_refuse (reply, 400, "an order needs userId and 1 to %d items%s"
                        "%s", ITEMS_MAX, *detail.text ? ": " : "", detail.text);
        json_decref (body);
        return;
    }
    //  A repeat of an order placed already is answered at once.
    char order_id [ZMESH_UUID_STR_LEN + 1], stream [80];
    int64_t version = 0;
    bool keyed = service_string (body, "idempotencyKey", SERVICE_KEY_MAX);
    if (keyed) {
        s_order_id (arg, body, order_id);
        s_stream (order_id, stream);
    }
    if (keyed
        && zmesh_store_version (zmesh_node_store (node), stream, &version)
               == ZMESH_OK
        && version > 0) {
        s_repeat (node, stream, body, reply);
        json_decref (body);
        return;
    }
    json_t *query = json_pack ("{s:s}", "id", user_id);
    void *data = NULL;
    size_t size = 0;
    if (query)
        zmesh_json_to_msgpack (query, &data, &size, NULL);
    json_decref (query);
    s_creating_t *creating = calloc (1, sizeof *creating);
    zmesh_err_t rc = data && creating ? ZMESH_OK : ZMESH_ERR_NOMEM;
    if (rc == ZMESH_OK) {
        creating->rand = arg;
        creating->body = body;
        creating->deferred = zmesh_node_defer (node);
        //  Within a caller's attempt (retry/attempt_timeout, 1 s by
        //  default): a user service that does not answer makes this a
        //  quick 503, which the caller takes as an answer, not a timeout
        //  to hold against this node.
        zmesh_call_options_t options = {.timeout_ms = USER_CHECK_MS};
        rc = creating->deferred
             ? zmesh_node_call_async (node, "user", "user.get", data, size,
                                      &options, s_user_checked, creating)
             : ZMESH_ERR_NOMEM;
    }
    free (data);
    if (rc == ZMESH_OK)
        return;                 //  s_user_checked finishes the reply
    //  Not under way: refuse now, on the reply deferred or not.
    if (creating && creating->deferred)
        reply = zmesh_deferred_reply (creating->deferred);
    service_refuse (reply, 503, "cannot check the user: %s",
                    zmesh_strerror (rc));
    if (creating)
        zmesh_deferred_finish (&creating->deferred);
    free (creating);
    json_decref (body);
}

static bool
s_history (const zmesh_stored_event_t *event, void *arg)
{
    char correlation [ZMESH_UUID_STR_LEN + 1];
    zmesh_uuid_unparse (&event->correlation, correlation);
    json_array_append_new ((json_t *) arg,
                           json_pack ("{s:I, s:I, s:s, s:s, s:I}", "version",
                                      (json_int_t) event->version, "position",
                                      (json_int_t) event->position, "type",
                                      event->type, "correlation", correlation,
                                      "timestamp",
                                      (json_int_t) event->timestamp));
    return true;
}

static void
s_get (zmesh_node_t *node, const zmesh_envelope_t *request,
       zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = service_body (request, NULL);
    const char *id = body ? service_string (body, "id", 36) : NULL;
    char stream [80];
    zmesh_aggregate_info_t info;
    order_t order;
    if (!id) {
        service_refuse (reply, 400, "order.get needs {\"id\": an order id}");
        json_decref (body);
        return;
    }
    s_stream (id, stream);
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_aggregate_load (zmesh_node_store (node),
                                           &order_aggregate, stream, true,
                                           &order, &info, &detail);
    if (rc == ZMESH_OK && info.version == 0)
        service_refuse (reply, 404, "no order %s", id);
    else if (rc != ZMESH_OK)
        service_refuse (reply, 500, "order %s does not load: %s", id,
                        detail.text);
    else {
        json_t *items = json_array ();
        for (size_t index = 0; index < order.item_count; index++)
            json_array_append_new (
                items, json_pack ("{s:s, s:I, s:I}", "productId",
                                  order.items [index].product_id, "quantity",
                                  (json_int_t) order.items [index].quantity,
                                  "price",
                                  (json_int_t) order.items [index].price));
        json_t *history = json_array ();
        zmesh_store_read_stream (zmesh_node_store (node), stream, 1, false, 0,
                                 s_history, history, NULL);
        service_set_body (reply, json_pack ("{s:s, s:s, s:s, s:I, s:o, s:o}",
                                            "id", id, "userId", order.user_id,
                                            "status",
                                            order_status_name (order.status),
                                            "total", (json_int_t) order.total,
                                            "items", items, "history",
                                            history));
    }
    order_aggregate.fini (&order);
    json_decref (body);
}

//  What other services report moves the order on. A report the order's
//  rules refuse (it came too late, say) is done with.
static zmesh_err_t
s_on_report (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
             zmesh_detail_t *detail)
{
    (void) arg;
    json_t *body = service_body (event, detail);
    const char *id = body ? service_string (body, "orderId", 36) : NULL;
    if (!id) {
        json_decref (body);
        return ZMESH_ERR_INVALID;   //  Buried: a report we cannot read
    }
    const char *type = zmesh_envelope_type (event);
    char stream [80];
    s_stream (id, stream);
    order_t order;
    zmesh_aggregate_info_t info;
    zmesh_err_t rc = zmesh_aggregate_load (zmesh_node_store (node),
                                           &order_aggregate, stream, true,
                                           &order, &info, detail);
    order_event_t decided [3];
    size_t count = 0;
    const char *reason = service_string (body, "reason", 200);
    if (rc == ZMESH_OK && info.version == 0) {
        zsys_warning ("order: %s for unknown order %s", type, id);
        rc = ZMESH_ERR_REFUSED;
    }
    else if (rc == ZMESH_OK && streq (type, "inventory.reserved"))
        rc = order_confirm (&order, &decided [count++], detail);
    else if (rc == ZMESH_OK && streq (type, "inventory.rejected"))
        rc = order_cancel (&order, reason ? reason : "out of stock",
                           &decided [count++], detail);
    else if (rc == ZMESH_OK && strncmp (type, "payment.", 8) == 0) {
        //  Payment follows the reservation, but its report may overtake
        //  the reservation's on the way here: two publishers keep no order
        //  between them. A payment proves the reservation; confirm first.
        if (order.status == ORDER_PENDING) {
            rc = order_confirm (&order, &decided [count], detail);
            if (rc == ZMESH_OK)
                rc = order_apply (&order, &decided [count++]);
        }
        if (rc == ZMESH_OK && streq (type, "payment.processed")) {
            const char *payment = service_string (body, "paymentId",
                                                  ORDER_ID_MAX);
            rc = order_pay (&order, payment ? payment : "?",
                            &decided [count++], detail);
        }
        else if (rc == ZMESH_OK && streq (type, "payment.failed")) {
            rc = order_fail_payment (&order, reason, &decided [count], detail);
            if (rc == ZMESH_OK)
                rc = order_apply (&order, &decided [count++]);
            if (rc == ZMESH_OK)
                rc = order_cancel (&order, "payment failed",
                                   &decided [count++], detail);
        }
    }
    else if (rc == ZMESH_OK)
        count = 0;              //  A report that needs nothing of us
    if (rc == ZMESH_OK && count) {
        zmesh_new_event_t events [3];
        for (size_t index = 0; index < count; index++)
            events [index] = decided [index].event;
        zmesh_append_result_t result;
        rc = zmesh_node_append (node, stream, info.version, events, count,
                                &result, detail);
    }
    if (rc == ZMESH_ERR_REFUSED) {
        if (s_verbose)
            zsys_info ("order %s: %s changes nothing: %s", id, type,
                       detail->text);
        rc = ZMESH_OK;
    }
    order_aggregate.fini (&order);
    json_decref (body);
    return rc;
}

static zmesh_err_t
s_attach (zmesh_node_t *node, const zmesh_node_config_t *config,
          void **state_p)
{
    s_verbose = config->verbose;
    zmesh_rand_t *rand = zmesh_rand_new ();
    if (!rand)
        return ZMESH_ERR_NOMEM;
    *state_p = rand;
    if (zmesh_node_serve (node, "order.create", s_create, rand)
        || zmesh_node_serve (node, "order.get", s_get, NULL)
        || zmesh_node_consume (node, "inventory.*", s_on_report, NULL)
        || zmesh_node_consume (node, "payment.*", s_on_report, NULL))
        return ZMESH_ERR_INVALID;
    return ZMESH_OK;
}

static void
s_detach (void **state_p)
{
    zmesh_rand_destroy ((zmesh_rand_t **) state_p);
}

const service_t order_service = {
    .name = "order",
    .stored = "orders are kept in the store",
    .summary = "The order service of the zmesh demo: order.create, order.get; "
               "follows inventory and payment.",
    .attach = s_attach,
    .detach = s_detach};
