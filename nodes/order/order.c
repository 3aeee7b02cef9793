/*  order.c - the Order aggregate: rules, events, replay and snapshots.

    Part of zmesh. MIT License.
*/
#include <msgpack.h>
#include "order.h"

//  ---------------------------------------------------------------------
//  Bodies: small msgpack maps of strings and integers

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} s_buffer_t;

static int
s_write (void *data, const char *bytes, size_t length)
{
    s_buffer_t *buffer = data;
    if (buffer->capacity - buffer->size < length)
        return -1;
    memcpy (buffer->data + buffer->size, bytes, length);
    buffer->size += length;
    return 0;
}

static void
s_pack_text (msgpack_packer *packer, const char *text)
{
    size_t length = strlen (text);
    msgpack_pack_str_with_body (packer, text, length);
}

//  Start out as an event of type whose body is a map of the order's id
//  and fields more entries.
static void
s_begin (order_event_t *out, const char *order_id, const char *type,
         size_t fields, msgpack_packer *packer, s_buffer_t *buffer)
{
    memset (out, 0, sizeof *out);
    out->event.type = type;
    buffer->data = out->body;
    buffer->size = 0;
    buffer->capacity = sizeof out->body;
    msgpack_packer_init (packer, buffer, s_write);
    msgpack_pack_map (packer, fields + 1);
    msgpack_pack_str_with_body (packer, "orderId", 7);
    msgpack_pack_str_with_body (packer, order_id, strlen (order_id));
}

static void
s_end (order_event_t *out, const s_buffer_t *buffer)
{
    out->event.body = out->body;
    out->event.body_size = buffer->size;
}

//  A body's field, or NULL if the body has none of that name.
static const msgpack_object *
s_field (const msgpack_object *body, const char *name)
{
    if (body->type != MSGPACK_OBJECT_MAP)
        return NULL;
    for (uint32_t index = 0; index < body->via.map.size; index++) {
        const msgpack_object *key = &body->via.map.ptr [index].key;
        if (key->type == MSGPACK_OBJECT_STR
            && key->via.str.size == strlen (name)
            && memcmp (key->via.str.ptr, name, key->via.str.size) == 0)
            return &body->via.map.ptr [index].val;
    }
    return NULL;
}

static bool
s_text (const msgpack_object *body, const char *name, char *target)
{
    const msgpack_object *value = s_field (body, name);
    if (!value || value->type != MSGPACK_OBJECT_STR || value->via.str.size == 0
        || value->via.str.size > ORDER_ID_MAX)
        return false;
    memcpy (target, value->via.str.ptr, value->via.str.size);
    target [value->via.str.size] = 0;
    return true;
}

static bool
s_integer (const msgpack_object *body, const char *name, int64_t *target)
{
    const msgpack_object *value = s_field (body, name);
    if (!value)
        return false;
    if (value->type == MSGPACK_OBJECT_POSITIVE_INTEGER
        && value->via.u64 <= INT64_MAX)
        *target = (int64_t) value->via.u64;
    else if (value->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        *target = value->via.i64;
    else
        return false;
    return true;
}

static bool
s_id_valid (const char *id)
{
    return id && *id && strlen (id) <= ORDER_ID_MAX;
}


//  ---------------------------------------------------------------------
//  Commands

#define REFUSE(detail, ...)                     \
    do {                                        \
        if (detail)                             \
            snprintf ((detail)->text, sizeof (detail)->text, __VA_ARGS__); \
        return ZMESH_ERR_REFUSED;               \
    } while (0)

zmesh_err_t
order_create (const order_t *order, const char *order_id, const char *user_id,
              order_event_t *out, zmesh_detail_t *detail)
{
    if (order->status != ORDER_NEW)
        REFUSE (detail, "the order exists already");
    if (!s_id_valid (user_id) || !s_id_valid (order_id))
        REFUSE (detail, "order and user ids are 1 to %d bytes", ORDER_ID_MAX);
    msgpack_packer packer;
    s_buffer_t buffer;
    s_begin (out, order_id, "order.created", 1, &packer, &buffer);
    s_pack_text (&packer, "userId");
    s_pack_text (&packer, user_id);
    s_end (out, &buffer);
    return ZMESH_OK;
}

zmesh_err_t
order_add_item (const order_t *order, const char *product_id,
                int64_t quantity, int64_t price, order_event_t *out,
                zmesh_detail_t *detail)
{
    if (order->status != ORDER_PENDING)
        REFUSE (detail, "items can be added only while the order is "
                "pending, and it is %s", order_status_name (order->status));
    if (!s_id_valid (product_id))
        REFUSE (detail, "a product id is 1 to %d bytes", ORDER_ID_MAX);
    if (quantity < 1 || quantity > 1000000)
        REFUSE (detail, "a quantity is 1 to 1000000, not %" PRId64, quantity);
    if (price < 0 || price > 100000000)
        REFUSE (detail, "a price is 0 to 100000000 cents, not %" PRId64, price);
    msgpack_packer packer;
    s_buffer_t buffer;
    s_begin (out, order->id, "order.item_added", 3, &packer, &buffer);
    s_pack_text (&packer, "productId");
    s_pack_text (&packer, product_id);
    s_pack_text (&packer, "quantity");
    msgpack_pack_int64 (&packer, quantity);
    s_pack_text (&packer, "price");
    msgpack_pack_int64 (&packer, price);
    s_end (out, &buffer);
    return ZMESH_OK;
}

zmesh_err_t
order_confirm (const order_t *order, order_event_t *out,
               zmesh_detail_t *detail)
{
    if (order->status != ORDER_PENDING)
        REFUSE (detail, "only a pending order can be confirmed, and it is %s",
                order_status_name (order->status));
    if (order->item_count == 0)
        REFUSE (detail, "an order without items cannot be confirmed");
    msgpack_packer packer;
    s_buffer_t buffer;
    s_begin (out, order->id, "order.confirmed", 0, &packer, &buffer);
    s_end (out, &buffer);
    return ZMESH_OK;
}

zmesh_err_t
order_pay (const order_t *order, const char *payment_id, order_event_t *out,
           zmesh_detail_t *detail)
{
    if (order->status != ORDER_CONFIRMED
        && order->status != ORDER_PAYMENT_FAILED)
        REFUSE (detail, "only a confirmed order can be paid, and it is %s",
                order_status_name (order->status));
    if (!s_id_valid (payment_id))
        REFUSE (detail, "a payment id is 1 to %d bytes", ORDER_ID_MAX);
    msgpack_packer packer;
    s_buffer_t buffer;
    s_begin (out, order->id, "order.paid", 1, &packer, &buffer);
    s_pack_text (&packer, "paymentId");
    s_pack_text (&packer, payment_id);
    s_end (out, &buffer);
    return ZMESH_OK;
}

static zmesh_err_t
s_with_reason (const order_t *order, order_event_t *out, const char *type,
               const char *reason)
{
    msgpack_packer packer;
    s_buffer_t buffer;
    s_begin (out, order->id, type, 1, &packer, &buffer);
    s_pack_text (&packer, "reason");
    char bounded [128];
    snprintf (bounded, sizeof bounded, "%s", reason ? reason : "");
    s_pack_text (&packer, bounded);
    s_end (out, &buffer);
    return ZMESH_OK;
}

zmesh_err_t
order_fail_payment (const order_t *order, const char *reason,
                    order_event_t *out, zmesh_detail_t *detail)
{
    if (order->status != ORDER_CONFIRMED)
        REFUSE (detail, "only a confirmed order's payment can fail, and it "
                "is %s", order_status_name (order->status));
    return s_with_reason (order, out, "order.payment_failed", reason);
}

zmesh_err_t
order_cancel (const order_t *order, const char *reason, order_event_t *out,
              zmesh_detail_t *detail)
{
    if (order->status == ORDER_NEW || order->status == ORDER_PAID
        || order->status == ORDER_CANCELLED)
        REFUSE (detail, "a %s order cannot be cancelled",
                order_status_name (order->status));
    return s_with_reason (order, out, "order.cancelled", reason);
}

const char *
order_status_name (order_status_t status)
{
    switch (status) {
        case ORDER_NEW: return "new";
        case ORDER_PENDING: return "pending";
        case ORDER_CONFIRMED: return "confirmed";
        case ORDER_PAID: return "paid";
        case ORDER_PAYMENT_FAILED: return "payment_failed";
        case ORDER_CANCELLED: return "cancelled";
    }
    return "invalid";
}


//  ---------------------------------------------------------------------
//  Replay

static void
s_init (void *state)
{
    memset (state, 0, sizeof (order_t));
}

static void
s_fini (void *state)
{
    order_t *order = state;
    free (order->items);
    order->items = NULL;
}

static zmesh_err_t
s_add_item (order_t *order, const char *product_id, int64_t quantity,
            int64_t price)
{
    if (order->item_count == order->item_capacity) {
        size_t capacity = order->item_capacity ? order->item_capacity * 2 : 8;
        order_item_t *grown = realloc (order->items,
                                       capacity * sizeof *grown);
        if (!grown)
            return ZMESH_ERR_NOMEM;
        order->items = grown;
        order->item_capacity = capacity;
    }
    order_item_t *item = &order->items [order->item_count++];
    snprintf (item->product_id, sizeof item->product_id, "%s", product_id);
    item->quantity = quantity;
    item->price = price;
    order->total += quantity * price;
    return ZMESH_OK;
}

//  Unpack event's body and hand it to the apply step; a body that lacks
//  what the event type needs is an error naming the event.
static zmesh_err_t
s_apply (void *state, const zmesh_stored_event_t *event,
         zmesh_detail_t *detail)
{
    order_t *order = state;
    msgpack_zone zone;
    msgpack_zone_init (&zone, 512);
    msgpack_object body = {.type = MSGPACK_OBJECT_MAP};
    body.via.map.size = 0;
    if (event->body_size
        && msgpack_unpack (event->body, event->body_size, NULL, &zone, &body)
               != MSGPACK_UNPACK_SUCCESS)
        body.type = MSGPACK_OBJECT_NIL;
    const char *type = event->type;
    zmesh_err_t rc = ZMESH_OK;
    char text [ORDER_ID_MAX + 1];
    int64_t quantity, price;
    if (streq (type, "order.created")) {
        if (s_text (&body, "userId", order->user_id)
            && s_text (&body, "orderId", order->id))
            order->status = ORDER_PENDING;
        else
            rc = ZMESH_ERR_INVALID;
    }
    else if (streq (type, "order.placed"))
        ;                       //  For other services: changes nothing here
    else if (streq (type, "order.item_added")) {
        if (s_text (&body, "productId", text)
            && s_integer (&body, "quantity", &quantity)
            && s_integer (&body, "price", &price) && quantity > 0
            && price >= 0)
            rc = s_add_item (order, text, quantity, price);
        else
            rc = ZMESH_ERR_INVALID;
    }
    else if (streq (type, "order.confirmed"))
        order->status = ORDER_CONFIRMED;
    else if (streq (type, "order.paid")) {
        if (s_text (&body, "paymentId", order->payment_id))
            order->status = ORDER_PAID;
        else
            rc = ZMESH_ERR_INVALID;
    }
    else if (streq (type, "order.payment_failed"))
        order->status = ORDER_PAYMENT_FAILED;
    else if (streq (type, "order.cancelled"))
        order->status = ORDER_CANCELLED;
    msgpack_zone_destroy (&zone);
    if (rc == ZMESH_ERR_INVALID && detail)
        snprintf (detail->text, sizeof detail->text,
                  "order %s version %" PRId64 ": the %s body lacks a field it "
                  "needs", event->stream, event->version, type);
    return rc;
}


zmesh_err_t
order_apply (order_t *order, const order_event_t *decided)
{
    zmesh_stored_event_t event = {.stream = order->id,
                                  .type = decided->event.type,
                                  .body = decided->event.body,
                                  .body_size = decided->event.body_size};
    return s_apply (order, &event, NULL);
}


//  ---------------------------------------------------------------------
//  Snapshots: [status, id, userId, paymentId, total,
//              [[productId, qty, price]]]

static zmesh_err_t
s_save (const void *state, void **bytes, size_t *size)
{
    const order_t *order = state;
    msgpack_sbuffer buffer;
    msgpack_sbuffer_init (&buffer);
    msgpack_packer packer;
    msgpack_packer_init (&packer, &buffer, msgpack_sbuffer_write);
    msgpack_pack_array (&packer, 6);
    msgpack_pack_int (&packer, (int) order->status);
    s_pack_text (&packer, order->id);
    s_pack_text (&packer, order->user_id);
    s_pack_text (&packer, order->payment_id);
    msgpack_pack_int64 (&packer, order->total);
    msgpack_pack_array (&packer, order->item_count);
    for (size_t index = 0; index < order->item_count; index++) {
        const order_item_t *item = &order->items [index];
        msgpack_pack_array (&packer, 3);
        s_pack_text (&packer, item->product_id);
        msgpack_pack_int64 (&packer, item->quantity);
        msgpack_pack_int64 (&packer, item->price);
    }
    *size = buffer.size;
    *bytes = msgpack_sbuffer_release (&buffer);
    msgpack_sbuffer_destroy (&buffer);
    return *bytes ? ZMESH_OK : ZMESH_ERR_NOMEM;
}

static bool
s_snapshot_text (const msgpack_object *value, char *target, bool may_be_empty)
{
    if (value->type != MSGPACK_OBJECT_STR || value->via.str.size > ORDER_ID_MAX
        || (!may_be_empty && value->via.str.size == 0))
        return false;
    memcpy (target, value->via.str.ptr, value->via.str.size);
    target [value->via.str.size] = 0;
    return true;
}

static zmesh_err_t
s_load (void *state, const void *bytes, size_t size, zmesh_detail_t *detail)
{
    order_t *order = state;
    msgpack_zone zone;
    msgpack_zone_init (&zone, 4096);
    msgpack_object root;
    bool ok = msgpack_unpack (bytes, size, NULL, &zone, &root)
                  == MSGPACK_UNPACK_SUCCESS
           && root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size == 6;
    const msgpack_object *field = ok ? root.via.array.ptr : NULL;
    ok = ok && field [0].type == MSGPACK_OBJECT_POSITIVE_INTEGER
         && field [0].via.u64 <= ORDER_CANCELLED
         && s_snapshot_text (&field [1], order->id, true)
         && s_snapshot_text (&field [2], order->user_id, true)
         && s_snapshot_text (&field [3], order->payment_id, true)
         && field [5].type == MSGPACK_OBJECT_ARRAY;
    if (ok)
        order->status = (order_status_t) field [0].via.u64;
    for (uint32_t index = 0; ok && index < field [5].via.array.size; index++) {
        const msgpack_object *item = &field [5].via.array.ptr [index];
        char product [ORDER_ID_MAX + 1];
        ok = item->type == MSGPACK_OBJECT_ARRAY && item->via.array.size == 3
          && s_snapshot_text (&item->via.array.ptr [0], product, false)
          && item->via.array.ptr [1].type == MSGPACK_OBJECT_POSITIVE_INTEGER
          && item->via.array.ptr [2].type == MSGPACK_OBJECT_POSITIVE_INTEGER
          && s_add_item (order, product,
                         (int64_t) item->via.array.ptr [1].via.u64,
                         (int64_t) item->via.array.ptr [2].via.u64)
                 == ZMESH_OK;
    }
    msgpack_zone_destroy (&zone);
    if (!ok && detail)
        snprintf (detail->text, sizeof detail->text,
                  "order snapshot of %zu bytes does not read back", size);
    return ok ? ZMESH_OK : ZMESH_ERR_INVALID;
}

static const zmesh_applier_t s_appliers [] = {
    {"order.created", s_apply},       {"order.item_added", s_apply},
    {"order.placed", s_apply},
    {"order.confirmed", s_apply},     {"order.paid", s_apply},
    {"order.payment_failed", s_apply}, {"order.cancelled", s_apply},
    {NULL, NULL}};

const zmesh_aggregate_type_t order_aggregate = {
    .name = "order",
    .init = s_init,
    .fini = s_fini,
    .appliers = s_appliers,
    .snapshot_every = 100,
    .save = s_save,
    .load = s_load};
