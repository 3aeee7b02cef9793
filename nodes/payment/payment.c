/*  payment.c - the payment service: charges reserved orders, simulated.

    Consumes inventory.reserved {orderId, total}: after service/latency_ms
    (default 0) it charges, and publishes payment.processed {orderId,
    paymentId, amount} or payment.failed {orderId, reason}. A charge fails
    when the total exceeds service/limit cents (default 1000000), or for
    service/failure_rate percent of orders (default 0), chosen by the order
    id so that the same order always gets the same answer.

    Each charge is the stream "payment-<orderId>", appended only if the
    stream does not exist yet: an order is never charged twice, however
    often its reservation arrives.

    Part of zmesh. MIT License.
*/
#include "service.h"
#include "payment.h"

typedef struct {
    int latency_ms;
    int failure_rate;
    int64_t limit;
} s_settings_t;

static zmesh_err_t
s_on_reserved (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg,
               zmesh_detail_t *detail)
{
    s_settings_t *settings = arg;
    json_t *body = service_body (event, detail);
    const char *order = body ? service_string (body, "orderId", 36) : NULL;
    json_t *total = body ? json_object_get (body, "total") : NULL;
    if (!order || !json_is_integer (total)) {
        json_decref (body);
        return ZMESH_ERR_INVALID;
    }
    if (settings->latency_ms)
        zclock_sleep (settings->latency_ms);
    //  The same order, the same verdict: a hash of its id, not chance.
    uint32_t hash = 2166136261u;
    for (const char *c = order; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    const char *reason = NULL;
    if (json_integer_value (total) > settings->limit)
        reason = "over the card's limit";
    else if ((int) (hash % 100) < settings->failure_rate)
        reason = "card declined";
    char stream [80], payment [48];
    snprintf (stream, sizeof stream, "payment-%s", order);
    snprintf (payment, sizeof payment, "pay-%08x", hash);
    json_t *news = reason
        ? json_pack ("{s:s, s:s}", "orderId", order, "reason", reason)
        : json_pack ("{s:s, s:s, s:O}", "orderId", order, "paymentId", payment,
                     "amount", total);
    char key [64];              //  With the order's own events
    snprintf (key, sizeof key, "order-%s", order);
    zmesh_err_t rc = service_append (node, stream, ZMESH_VERSION_NO_STREAM,
                                     key,
                                     reason ? "payment.failed"
                                            : "payment.processed",
                                     news, NULL, NULL, detail);
    if (rc == ZMESH_ERR_CONCURRENCY) {
        zsys_info ("payment: order %s was charged before; not again", order);
        rc = ZMESH_OK;
    }
    json_decref (body);
    return rc;
}

static zmesh_err_t
s_attach (zmesh_node_t *node, const zmesh_node_config_t *config,
          void **state_p)
{
    s_settings_t *settings = calloc (1, sizeof *settings);
    settings->latency_ms = (int) strtol (
        zmesh_node_config_service (config, "latency_ms", "0"), NULL, 10);
    settings->failure_rate = (int) strtol (
        zmesh_node_config_service (config, "failure_rate", "0"), NULL, 10);
    settings->limit = strtoll (zmesh_node_config_service (config, "limit",
                                                          "1000000"), NULL, 10);
    *state_p = settings;
    return zmesh_node_consume (node, "inventory.reserved", s_on_reserved,
                               settings);
}

static void
s_detach (void **state_p)
{
    free (*state_p);
    *state_p = NULL;
}

const service_t payment_service = {
    .name = "payment",
    .stored = "charges are kept in the store",
    .summary = "The payment service of the zmesh demo: charges reserved "
               "orders (simulated).",
    .attach = s_attach,
    .detach = s_detach};
