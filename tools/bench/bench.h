/*  bench.h - zmesh-bench's private header: what its files share.

    main.c parses the options and runs the sections of its table, in order;
    each section (events.c, failure.c, calls.c, ...) adds its rows with
    bench_row (report.c). The processes a measurement is made of are the
    roles of roles.c, started with bench_role (child.c); node.c makes the
    nodes and bodies they share, and knows zmesh's sizes on the wire.

    Part of zmesh. MIT License.
*/
#ifndef BENCH_H_INCLUDED
#define BENCH_H_INCLUDED

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include "zmesh.h"

#define BENCH_VERSION "0.1.0"
#define BODY_SMALL 64
#define BODY_LARGE 1024

//  --------------------------------------------------------------------------
//  Options, from the command line (main.c); tmp is made before the
//  sections run, and the edge writes its wrk script's path in script

typedef struct {
    bool quick;
    const char *report;
    const char *only;
    const char *nodes;
    const char *express;
    const char *postgresql;         //  A server's URI, for the store rows
    const char *nats;               //  A nats-server's URL, for its rows
    const char *rabbitmq;           //  A RabbitMQ server's, for durable's
    double express_rate;
    char tmp [256];                 //  Our directory under /tmp
    char script [320];              //  wrk's script for POST /orders
} bench_options_t;

extern bench_options_t bench_options;

//  --------------------------------------------------------------------------
//  Time, on the monotonic clock

static inline int64_t
bench_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

static inline double
bench_seconds_since (int64_t start_ns)
{
    return (double) (bench_now_ns () - start_ns) / 1e9;
}

//  --------------------------------------------------------------------------
//  Children (child.c): this program again, with --role, its stdin and
//  stdout on pipes

typedef struct {
    pid_t pid;
    int to;                     //  Its stdin
    int from;                   //  Its stdout
    char buffer [1024];
    size_t held;
} bench_child_t;

//  Learn this program's path, for the children. False if it cannot.
bool
    bench_self_init (void);

//  This program's path (empty before bench_self_init).
const char *
    bench_self (void);

//  Send what children log to the file at path, emptied first.
void
    bench_log_start (const char *path);

//  Start argv (NULL-terminated; argv [0] the program) with pipes.
bool
    bench_spawn (bench_child_t *child, char *const argv []);

//  CPU time a process has used, user and system, in ms (-1 if unknown).
double
    bench_cpu_ms (pid_t pid);
//  The same of count children, together.
double
    bench_children_cpu_ms (const bench_child_t *children, int count);

//  Start this program in a role: bench_role (&child, "raw-sub", arg, ...,
//  NULL).
bool
    bench_role (bench_child_t *child, const char *role, ...);

//  Read one line from the child, waiting at most timeout_ms. False on
//  timeout or end of output.
bool
    bench_child_line (bench_child_t *child, char *line, size_t size,
                      int timeout_ms);

//  Write text to the child's stdin.
void
    bench_child_say (bench_child_t *child, const char *text);

//  Stop the child (SIGTERM, then SIGKILL after 5 s) and reap it.
void
    bench_child_stop (bench_child_t *child);

//  --------------------------------------------------------------------------
//  Nodes and sizes (node.c): what zmesh puts on the wire, so raw sends
//  frames as large

//  Fill body with one msgpack bin value of size bytes in all.
void
    bench_fill_body (uint8_t *body, size_t size);

//  The size of an envelope of kind and type with a body of body_size.
size_t
    bench_envelope_size (zmesh_kind_t kind, const char *type,
                         size_t body_size);

//  A node called name with settings ("path=value" ..., NULL) over the
//  defaults; exits on a bad setting, since every setting here is ours.
zmesh_node_t *
    bench_node_new (const char *name, ...);

//  Format into buffer, and return it.
char *
    bench_fmt (char *buffer, size_t size, const char *format, ...);

//  --------------------------------------------------------------------------
//  Roles (roles.c): the processes a measurement is made of

//  Run the role called name with its arguments; 2 if there is none.
int
    bench_role_run (const char *name, int argc, char *argv []);

//  Latency samples of count zmesh calls of bench.echo to service, in ns,
//  after warm-up calls. False if a call failed.
bool
    bench_zmesh_latency (zmesh_node_t *node, const char *service,
                         int64_t *samples, size_t count);

//  --------------------------------------------------------------------------
//  The report (report.c): one row per figure, with its raw counterpart and
//  the ratio

//  Print the head of the table.
void
    bench_report_begin (void);

//  Add a row. ratio < 0: none. target: "≥ 0.8" / "≤ 1.15" compares ratio,
//  "< 1 µs"-style targets pass verdict in (NULL: no target).
void
    bench_row (const char *section, const char *what, const char *zmesh,
               const char *raw, double ratio, const char *target,
               const char *verdict);

//  The rows added so far.
size_t
    bench_row_count (void);

//  Write the table as Markdown to path. False if it cannot.
bool
    bench_report_write (const char *path, const char *started,
                        double seconds);

//  A rate into text (48 bytes), as "1.23 M/s", "4.5 k/s" or "67 /s".
const char *
    bench_rate_text (char *text, double rate);

//  A duration in ns into text (48 bytes), in µs.
const char *
    bench_us_text (char *text, double ns);

//  qsort's comparison of int64_t.
int
    bench_compare_i64 (const void *a, const void *b);

//  The p-th percentile (0..100) of sorted samples.
double
    bench_percentile (const int64_t *sorted, size_t count, double p);

//  --------------------------------------------------------------------------
//  The edge's load (edge.c), which the replicas section puts on its meshes

typedef struct {
    double rate, p50_ms, p99_ms;    //  Rate: of 2xx and 3xx answers only
    long requests;                  //  Answered
    long errors;                    //  Answered, but not 2xx or 3xx
    long failed;                    //  Not answered: socket errors, timeouts
} bench_wrk_t;

//  Through the demo gateway at port: create a user, then put wrk's 50
//  connections on POST /orders for seconds, each waiting delay_ms before
//  each request (0: none, the most the mesh takes). False if that failed.
bool
    bench_edge_load (int port, double seconds, int delay_ms,
                     bench_wrk_t *result);

//  --------------------------------------------------------------------------
//  Runs that other sections repeat against another counterpart

typedef struct {
    double rate;                //  Events/s per subscriber, mean
    double delivered;           //  Fraction of events that arrived
} bench_events_result_t;

//  zmesh's events (kind: "zmesh", one message per event, or "batched",
//  events/batch=BENCH_BATCH) against theirs ("raw" or "nats"), count
//  events to subscribers, the two taking turns (events.c): the median
//  round of each. False if a run failed.
#define BENCH_BATCH "64"
bool
    bench_events_compare (const char *kind, const char *theirs,
                          size_t body_size,
                          size_t topic_size, size_t frame_size,
                          int subscribers, long count,
                          bench_events_result_t *ours,
                          bench_events_result_t *their);

#define BENCH_WARM_CALLS 500    //  Calls made before the timed ones

//  count latency samples of zmesh's calls to endpoint and of theirs ("raw"
//  or "nats") to their_endpoint, each from children of its own, in blocks
//  that take turns (calls.c).
bool
    bench_latency_compare (const char *endpoint, size_t request_size,
                           int64_t *ours, const char *theirs,
                           const char *their_endpoint, size_t their_size,
                           int64_t *their, size_t count);

#ifdef BENCH_NATS
//  nats.c's roles, and its request/reply timing
int
    bench_nats_pub (int argc, char *argv []);
int
    bench_nats_sub (int argc, char *argv []);
int
    bench_nats_echo (int argc, char *argv []);
bool
    bench_nats_latency (const char *url, size_t size, int64_t *samples,
                        size_t count, size_t warm);
#endif

//  rabbitmq.c: persistent messages per second to RabbitMQ's durable queue
//  at url, count of them, at most window unconfirmed; and the rate of a
//  consumer acknowledging each of count messages published first. -1,
//  with a line on stderr, if the server could not be used.
double
    bench_rabbitmq_publish_rate (const char *url, const char *queue,
                                 long count, long window);
double
    bench_rabbitmq_consume_rate (const char *url, long count);

//  Whether wrk and the demo nodes are there for section; if not, says so.
bool
    bench_edge_ready (const char *section);

//  --------------------------------------------------------------------------
//  Sections, in the order main runs them: each adds its rows

void
    bench_events (void);
void
    bench_failure (void);
void
    bench_calls (void);
void
    bench_instructions (void);
void
    bench_durable (void);
void
    bench_memory (void);
void
    bench_scale (void);
void
    bench_edge (void);
void
    bench_replicas (void);
void
    bench_nats (void);

#endif
