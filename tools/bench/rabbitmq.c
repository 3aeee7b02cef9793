/*  rabbitmq.c - zmesh-bench's RabbitMQ client, for the durable section's
    counterpart: a server of bench.sh's own on loopback (--rabbitmq URL,
    tools/rabbitmq.sh), Debian's librabbitmq on the client side.

    What is measured is what the seed's services do with RabbitMQ: a
    durable queue, persistent messages (delivery mode 2), publisher
    confirms; and a consumer that acknowledges each message. The
    publisher keeps at most window messages unconfirmed: 1 is a publish
    that waits for its confirm, as zmesh_node_publish waits for its
    commit; 1000 is a stream of confirms, as publish_async's.

    Part of zmesh. MIT License.
*/
#include "bench.h"

#ifdef BENCH_RABBITMQ
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <sys/time.h>

#define CHANNEL 1

//  Whether an RPC's reply says it went well; if not, says so.
static bool
s_replied (amqp_connection_state_t connection, const char *what)
{
    amqp_rpc_reply_t reply = amqp_get_rpc_reply (connection);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    fprintf (stderr, "zmesh-bench: RabbitMQ %s failed (%s)\n", what,
             reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION
                 ? amqp_error_string2 (reply.library_error)
                 : "refused by the server");
    return false;
}

//  A connection to url with channel 1 open and the durable queue declared,
//  emptied first if empty. NULL if any of that failed.
static amqp_connection_state_t
s_connect (const char *url, const char *queue, bool empty)
{
    char copy [256];
    snprintf (copy, sizeof copy, "%s", url);
    struct amqp_connection_info info;
    amqp_default_connection_info (&info);
    if (amqp_parse_url (copy, &info) != AMQP_STATUS_OK) {
        fprintf (stderr, "zmesh-bench: not an AMQP URL: %s\n", url);
        return NULL;
    }
    amqp_connection_state_t connection = amqp_new_connection ();
    amqp_socket_t *socket = amqp_tcp_socket_new (connection);
    bool ok = socket && amqp_socket_open (socket, info.host, info.port)
                            == AMQP_STATUS_OK;
    if (!ok)
        fprintf (stderr, "zmesh-bench: cannot connect to RabbitMQ at %s\n",
                 url);
    if (ok) {
        amqp_rpc_reply_t reply = amqp_login (
            connection, info.vhost, 0, AMQP_DEFAULT_FRAME_SIZE, 0,
            AMQP_SASL_METHOD_PLAIN, info.user, info.password);
        ok = reply.reply_type == AMQP_RESPONSE_NORMAL;
        if (!ok)
            fprintf (stderr, "zmesh-bench: RabbitMQ refused the login\n");
    }
    if (ok) {
        amqp_channel_open (connection, CHANNEL);
        ok = s_replied (connection, "channel.open");
    }
    if (ok) {
        amqp_queue_declare (connection, CHANNEL, amqp_cstring_bytes (queue),
                            0, 1, 0, 0, amqp_empty_table);
        ok = s_replied (connection, "queue.declare");
    }
    if (ok && empty) {
        amqp_queue_purge (connection, CHANNEL, amqp_cstring_bytes (queue));
        ok = s_replied (connection, "queue.purge");
    }
    if (!ok) {
        amqp_destroy_connection (connection);
        return NULL;
    }
    return connection;
}

static void
s_close (amqp_connection_state_t connection)
{
    amqp_channel_close (connection, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close (connection, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection (connection);
}

//  The publisher's confirms: acked [tag] once the server confirmed tag;
//  every tag up to floor is confirmed.
typedef struct {
    bool *acked;
    long floor, confirmed, refused;
} s_confirms_t;

static void
s_confirm (s_confirms_t *confirms, long tag, bool multiple, bool ack)
{
    long from = multiple ? confirms->floor + 1 : tag;
    for (long each = from; each <= tag; each++)
        if (!confirms->acked [each]) {
            confirms->acked [each] = true;
            if (ack)
                confirms->confirmed++;
            else
                confirms->refused++;
        }
    while (confirms->acked [confirms->floor + 1])
        confirms->floor++;
}

double
bench_rabbitmq_publish_rate (const char *url, const char *queue,
                             long count, long window)
{
    amqp_connection_state_t connection = s_connect (url, queue, true);
    if (!connection)
        return -1;
    amqp_confirm_select (connection, CHANNEL);
    if (!s_replied (connection, "confirm.select")) {
        s_close (connection);
        return -1;
    }
    s_confirms_t confirms = {calloc ((size_t) count + 2, sizeof (bool)),
                             0, 0, 0};
    uint8_t body [BODY_SMALL];
    bench_fill_body (body, sizeof body);
    amqp_bytes_t bytes = {sizeof body, body};
    amqp_basic_properties_t properties = {
        ._flags = AMQP_BASIC_DELIVERY_MODE_FLAG,
        .delivery_mode = AMQP_DELIVERY_PERSISTENT};
    long published = 0;
    bool failed = false;
    int64_t start = bench_now_ns ();
    while (!failed && confirms.floor < count
           && bench_seconds_since (start) < 120) {
        for (; published < count && published - confirms.floor < window;
             published++)
            if (amqp_basic_publish (connection, CHANNEL, amqp_empty_bytes,
                                    amqp_cstring_bytes (queue), 0, 0,
                                    &properties, bytes) != AMQP_STATUS_OK) {
                failed = true;
                break;
            }
        //  One frame: a confirm, which may confirm many (multiple)
        amqp_frame_t frame;
        struct timeval wait = {5, 0};
        int rc = amqp_simple_wait_frame_noblock (connection, &frame, &wait);
        if (rc != AMQP_STATUS_OK) {
            fprintf (stderr, "zmesh-bench: RabbitMQ confirms: %s\n",
                     amqp_error_string2 (rc));
            failed = true;
        }
        else
        if (frame.frame_type == AMQP_FRAME_METHOD
            && (frame.payload.method.id == AMQP_BASIC_ACK_METHOD
                || frame.payload.method.id == AMQP_BASIC_NACK_METHOD)) {
            bool ack = frame.payload.method.id == AMQP_BASIC_ACK_METHOD;
            //  The two have the same fields, tag then multiple
            amqp_basic_ack_t *confirm = frame.payload.method.decoded;
            long tag = (long) confirm->delivery_tag;
            if (tag >= 1 && tag <= published)
                s_confirm (&confirms, tag, confirm->multiple, ack);
        }
    }
    double seconds = bench_seconds_since (start);
    free (confirms.acked);
    s_close (connection);
    if (confirms.refused || confirms.floor < count)
        fprintf (stderr, "zmesh-bench: RabbitMQ: %ld of %ld confirmed, %ld "
                 "refused\n", confirms.confirmed, count, confirms.refused);
    return failed || !confirms.confirmed ? -1
                                         : (double) confirms.confirmed
                                               / seconds;
}

double
bench_rabbitmq_consume_rate (const char *url, long count)
{
    const char *queue = "bench.consume";
    double published = bench_rabbitmq_publish_rate (url, queue, count, 1000);
    if (published < 0)
        return -1;
    amqp_connection_state_t connection = s_connect (url, queue, false);
    if (!connection)
        return -1;
    amqp_basic_qos (connection, CHANNEL, 0, 1000, 0);
    bool ok = s_replied (connection, "basic.qos");
    if (ok) {
        amqp_basic_consume (connection, CHANNEL, amqp_cstring_bytes (queue),
                            amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
        ok = s_replied (connection, "basic.consume");
    }
    long consumed = 0;
    int64_t start = bench_now_ns ();
    while (ok && consumed < count && bench_seconds_since (start) < 120) {
        amqp_envelope_t envelope;
        struct timeval wait = {5, 0};
        amqp_maybe_release_buffers (connection);
        amqp_rpc_reply_t reply = amqp_consume_message (connection, &envelope,
                                                       &wait, 0);
        if (reply.reply_type != AMQP_RESPONSE_NORMAL)
            break;
        //  Each message acknowledged on its own, as a consumer that has
        //  handled it would
        ok = amqp_basic_ack (connection, CHANNEL, envelope.delivery_tag, 0)
             == AMQP_STATUS_OK;
        amqp_destroy_envelope (&envelope);
        consumed++;
    }
    double seconds = bench_seconds_since (start);
    s_close (connection);
    if (consumed < count)
        fprintf (stderr, "zmesh-bench: RabbitMQ: %ld of %ld consumed\n",
                 consumed, count);
    return consumed == count ? (double) consumed / seconds : -1;
}

#else

double
bench_rabbitmq_publish_rate (const char *url, const char *queue,
                             long count, long window)
{
    (void) url, (void) queue, (void) count, (void) window;
    fprintf (stderr, "zmesh-bench: built without librabbitmq "
             "(tools/bench.sh installs librabbitmq-dev)\n");
    return -1;
}

double
bench_rabbitmq_consume_rate (const char *url, long count)
{
    return bench_rabbitmq_publish_rate (url, NULL, count, 0);
}

#endif
