/*  order.h - the Order aggregate: an order's state, the rules its commands
    must keep, and the events that record what happened to it.

    Events (bodies are msgpack maps; every one also has orderId):
        order.created           userId
        order.item_added        productId, quantity, price (cents)
        order.placed            userId, items, total: for other services
        order.confirmed         -
        order.paid              paymentId
        order.payment_failed    reason
        order.cancelled         reason

    Commands check the rules against the current state and give the event
    to append, or refuse with ZMESH_ERR_REFUSED and a reason:
        created once; items only while pending, with a quantity above 0;
        confirmed only when pending with at least one item; paid only when
        confirmed or after a failed payment; a payment fails only when
        confirmed; cancelled any time before it is paid, once.

    Part of zmesh. MIT License.
*/
#ifndef ORDER_H_INCLUDED
#define ORDER_H_INCLUDED

#include "zmesh.h"

#define ORDER_ID_MAX 64         //  Bytes of a user, product or payment id

typedef enum {
    ORDER_NEW = 0,              //  No event yet
    ORDER_PENDING,
    ORDER_CONFIRMED,
    ORDER_PAID,
    ORDER_PAYMENT_FAILED,
    ORDER_CANCELLED
} order_status_t;

typedef struct {
    char product_id [ORDER_ID_MAX + 1];
    int64_t quantity;
    int64_t price;              //  Cents, each
} order_item_t;

typedef struct {
    order_status_t status;
    char id [ORDER_ID_MAX + 1];
    char user_id [ORDER_ID_MAX + 1];
    char payment_id [ORDER_ID_MAX + 1];
    order_item_t *items;        //  Owned
    size_t item_count;
    size_t item_capacity;
    int64_t total;              //  Cents
} order_t;

//  The aggregate type, for zmesh_aggregate_load and _commit: snapshots
//  every 100 versions.
extern const zmesh_aggregate_type_t order_aggregate;

//  An event a command decided on: type and body, ready for the caller to
//  give ids and a timestamp (in event) and append.
typedef struct {
    zmesh_new_event_t event;
    uint8_t body [320];
} order_event_t;

zmesh_err_t
    order_create (const order_t *order, const char *order_id,
                  const char *user_id, order_event_t *out,
                  zmesh_detail_t *detail);
zmesh_err_t
    order_add_item (const order_t *order, const char *product_id,
                    int64_t quantity, int64_t price, order_event_t *out,
                    zmesh_detail_t *detail);
zmesh_err_t
    order_confirm (const order_t *order, order_event_t *out,
                   zmesh_detail_t *detail);
zmesh_err_t
    order_pay (const order_t *order, const char *payment_id,
               order_event_t *out, zmesh_detail_t *detail);
zmesh_err_t
    order_fail_payment (const order_t *order, const char *reason,
                        order_event_t *out, zmesh_detail_t *detail);
zmesh_err_t
    order_cancel (const order_t *order, const char *reason,
                  order_event_t *out, zmesh_detail_t *detail);

//  Apply a decided event to order, as replay would once it is stored:
//  for deciding several events in a row before one append.
zmesh_err_t
    order_apply (order_t *order, const order_event_t *decided);

//  "new", "pending", "confirmed", "paid", "payment_failed", "cancelled".
const char *
    order_status_name (order_status_t status);

#endif
