/*  inventory.c - the inventory service: stock, reserved per order.

    Consumes order.placed: if every item is in stock, reserves it and
    publishes inventory.reserved {orderId, items, total}; else publishes
    inventory.rejected {orderId, reason}. Consumes order.cancelled: gives a
    reservation back (inventory.released {orderId}). Consumes order.paid:
    the reservation is final (inventory.settled {orderId}), and this node
    stops holding its items in memory. Each product starts with
    service/stock units (default 100).

    The stock is not kept anywhere but in the stream "inventory": what
    this node appends it folds in as it appends, and what another replica
    appended it reads from there before each event; a copy ahead of the
    stream (a consume transaction that was rolled back) is recomputed from
    scratch.

    Part of zmesh. MIT License.
*/
#include "service.h"
#include "inventory.h"

typedef struct {
    int64_t initial;            //  Units of each product to start with
    zhashx_t *used;             //  product -> int64_t units reserved
    zhashx_t *held;             //  order id -> json items it reserved,
                                //  until the order is paid or cancelled
    int64_t version;            //  Of "inventory" that these reflect
} s_stock_t;

static int64_t *
s_used (s_stock_t *stock, const char *product)
{
    int64_t *used = zhashx_lookup (stock->used, product);
    if (!used) {
        used = calloc (1, sizeof *used);
        zhashx_insert (stock->used, product, used);
    }
    return used;
}

//  Add (sign 1) or take back (sign -1) what items hold.
static void
s_count (s_stock_t *stock, json_t *items, int sign)
{
    size_t index;
    json_t *item;
    json_array_foreach (items, index, item) {
        const char *product = json_string_value (json_object_get (item,
                                                                  "productId"));
        if (product)
            *s_used (stock, product) += sign * json_integer_value (
                                                   json_object_get (item,
                                                                    "quantity"));
    }
}

static bool
s_fold (const zmesh_stored_event_t *event, void *arg)
{
    s_stock_t *stock = arg;
    json_t *body = NULL;
    zmesh_json_from_msgpack (event->body, event->body_size, &body, NULL);
    const char *order = json_string_value (json_object_get (body, "orderId"));
    if (order && streq (event->type, "inventory.reserved")) {
        json_t *items = json_object_get (body, "items");
        s_count (stock, items, 1);
        zhashx_update (stock->held, order, json_incref (items));
    }
    else if (order && streq (event->type, "inventory.released")) {
        json_t *items = zhashx_lookup (stock->held, order);
        if (items) {
            s_count (stock, items, -1);
            zhashx_delete (stock->held, order);
        }
    }
    else if (order && streq (event->type, "inventory.settled"))
        zhashx_delete (stock->held, order);     //  Its units stay used
    stock->version = event->version;
    json_decref (body);
    return true;
}

//  Bring the counts up to the stream, from scratch if they ran ahead of it.
static zmesh_err_t
s_refresh (zmesh_node_t *node, s_stock_t *stock)
{
    int64_t version = 0;
    zmesh_store_t *store = zmesh_node_store (node);
    zmesh_err_t rc = zmesh_store_version (store, "inventory", &version);
    if (rc == ZMESH_OK && version < stock->version) {
        zhashx_purge (stock->used);
        zhashx_purge (stock->held);
        stock->version = 0;
    }
    if (rc == ZMESH_OK && version > stock->version)
        rc = zmesh_store_read_stream (store, "inventory", stock->version + 1,
                                      false, 0, s_fold, stock, NULL);
    return rc;
}

static zmesh_err_t
s_on_order (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
            zmesh_detail_t *detail)
{
    s_stock_t *stock = arg;
    json_t *body = service_body (event, detail);
    const char *order = body ? service_string (body, "orderId", 36) : NULL;
    json_t *items = body ? json_object_get (body, "items") : NULL;
    zmesh_err_t rc = order ? s_refresh (node, stock) : ZMESH_ERR_INVALID;
    //  Its events are about the order: they go with the order's own to
    //  one member of each consuming group
    char key [64];
    snprintf (key, sizeof key, "order-%s", order ? order : "");
    if (rc == ZMESH_OK && streq (zmesh_envelope_type (event), "order.placed")
        && json_is_array (items) && !zhashx_lookup (stock->held, order)) {
        //  The whole order counts at once: a product on two lines needs
        //  both lines' units. Counted in, checked, and taken out again;
        //  the reservation itself is the event appended below.
        const char *short_of = NULL;
        size_t index;
        json_t *item;
        s_count (stock, items, 1);
        json_array_foreach (items, index, item) {
            const char *product = service_string (item, "productId", 64);
            json_int_t quantity = json_integer_value (json_object_get (
                item, "quantity"));
            if (!product || quantity < 1
                || *s_used (stock, product) > stock->initial)
                short_of = product ? product : "?";
        }
        s_count (stock, items, -1);
        json_t *news = short_of
            ? json_pack ("{s:s, s:s+}", "orderId", order, "reason",
                         "out of stock: ", short_of)
            : json_pack ("{s:s, s:O, s:O}", "orderId", order, "items", items,
                         "total", json_object_get (body, "total"));
        rc = service_append (node, "inventory", stock->version, key,
                             short_of ? "inventory.rejected"
                                      : "inventory.reserved", news, s_fold,
                             stock, detail);
    }
    else if (rc == ZMESH_OK && zhashx_lookup (stock->held, order)) {
        //  A cancelled order's units come back; a paid one's are gone
        bool cancelled = streq (zmesh_envelope_type (event),
                                "order.cancelled");
        if (cancelled || streq (zmesh_envelope_type (event), "order.paid"))
            rc = service_append (node, "inventory", stock->version, key,
                                 cancelled ? "inventory.released"
                                           : "inventory.settled",
                                 json_pack ("{s:s}", "orderId", order),
                                 s_fold, stock, detail);
    }
    json_decref (body);
    return rc;
}

static void
s_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_json_free (void **item_p)
{
    json_decref (*item_p);
    *item_p = NULL;
}

static zmesh_err_t
s_attach (zmesh_node_t *node, const zmesh_node_config_t *config,
          void **state_p)
{
    s_stock_t *stock = calloc (1, sizeof *stock);
    stock->initial = strtoll (zmesh_node_config_service (config, "stock",
                                                         "100"), NULL, 10);
    stock->used = zhashx_new ();
    zhashx_set_destructor (stock->used, s_free);
    stock->held = zhashx_new ();
    zhashx_set_destructor (stock->held, s_json_free);
    *state_p = stock;
    if (s_refresh (node, stock)
        || zmesh_node_consume (node, "order.placed", s_on_order, stock)
        || zmesh_node_consume (node, "order.cancelled", s_on_order, stock)
        || zmesh_node_consume (node, "order.paid", s_on_order, stock))
        return ZMESH_ERR_INVALID;
    return ZMESH_OK;
}

static void
s_detach (void **state_p)
{
    s_stock_t *stock = *state_p;
    if (stock) {
        zhashx_destroy (&stock->used);
        zhashx_destroy (&stock->held);
        free (stock);
        *state_p = NULL;
    }
}

const service_t inventory_service = {
    .name = "inventory",
    .stored = "stock is kept in the store",
    .summary = "The inventory service of the zmesh demo: reserves stock for "
               "placed orders, releases it for cancelled ones.",
    .attach = s_attach,
    .detach = s_detach};
