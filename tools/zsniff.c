/*  zsniff.c - tap the events of a running zmesh mesh and show them, or
    (--calls) the calls nodes mirror on their taps.

    Connects a SUB socket to the publishers it is given, takes everything
    they publish (subscribing changes nothing for anyone else), and prints
    one line per event, or one JSON object per line with --json. It can
    write what it takes to a capture file and show one again later; the
    file format is in proto/capture.md. See --help.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <getopt.h>
#include <unistd.h>
#include "zmesh.h"

#define PATTERNS_MAX 16
#define BODY_SHOWN 160          //  Characters of a body on a line
#define CAPTURE_MAGIC "ZSNIFF1\n"
#define CAPTURE_FRAMES_MAX 16   //  Frames per message in a capture file

typedef struct {
    const char *patterns [PATTERNS_MAX];
    size_t pattern_count;
    const char *source;
    const char *matches [PATTERNS_MAX];     //  --match PATH=VALUE
    size_t match_count;
    bool have_cid;
    zmesh_uuid_t cid;
    bool json;
    bool control;
    bool color;
    long count;                 //  Events to show; 0: no limit
    long duration_s;            //  0: no limit
    FILE *capture;              //  --write: every message goes here too
    struct s_stats_t *stats;    //  --stats: count instead of print
    bool live;                  //  --stats on a terminal: redraw each second
    const char *format;         //  --format: the line template
    bool calls;                 //  --calls: read nodes' taps, not events
} s_options_t;

static int
s_misuse (const char *message)
{
    fprintf (stderr, "zsniff: %s\ntry 'zsniff --help'\n", message);
    return 2;
}

static void
s_usage (void)
{
    printf (
        "usage: zsniff [OPTION]... (--connect ENDPOINT | --config FILE |\n"
        "                           --seed ENDPOINT)...\n"
        "       zsniff [OPTION]... --read FILE\n"
        "\n"
        "Tap the events of a zmesh mesh and print them, one per line:\n"
        "time, source node, type, sequence number, short correlation id,\n"
        "and the body as JSON. Nothing in the mesh notices the tap.\n"
        "\n"
        "With --calls, show the calls nodes make and serve instead, from\n"
        "their taps (switched on with 'zmesh tap on TARGET', the setting\n"
        "tap/on, or by --config here): time, node, made or served, method,\n"
        "the other side, status, latency, short correlation id, and the\n"
        "request's body.\n"
        "\n"
        "Where to listen:\n"
        "  -e, --connect ENDPOINT  a publisher's events endpoint, e.g.\n"
        "                          tcp://127.0.0.1:7720; repeatable\n"
        "  -f, --config FILE       a node's settings (ZPL): tap every peer\n"
        "                          it lists, with its security/cert and\n"
        "                          security/keys in a secured mesh, at its\n"
        "                          events endpoint (with\n"
        "                          --calls: switch on the tap of every peer\n"
        "                          with a calls endpoint, and tap that;\n"
        "                          'zmesh tap off' switches one off)\n"
        "  -g, --seed ENDPOINT     a gossip directory (a node's gossip/bind):\n"
        "                          tap every node it tells of, and each new\n"
        "                          one as it joins; repeatable\n"
        "  -r, --read FILE         show a capture that --write made, with\n"
        "                          the same filters, instead of listening\n"
        "  -w, --write FILE        write every message taken, filtered or\n"
        "                          not, malformed or not, to FILE with its\n"
        "                          arrival time (format: proto/capture.md)\n"
        "What to show:\n"
        "  -t, --type PATTERN      only types matching PATTERN: a type, or a\n"
        "                          prefix ending in * (order.*); repeatable\n"
        "  -s, --source NODE       only events from NODE\n"
        "      --cid UUID          only events of one flow (correlation id)\n"
        "  -m, --match PATH=VALUE  only events whose body has VALUE at PATH,\n"
        "                          keys joined by dots (customer.id=42); a\n"
        "                          string as it is, else as JSON (3, true);\n"
        "                          repeatable, all must match\n"
        "      --control           show the mesh's own heartbeats and\n"
        "                          goodbyes too\n"
        "      --calls             show calls from nodes' taps, not events;\n"
        "                          --connect then names tap endpoints, and\n"
        "                          --type, --source, --cid and --match\n"
        "                          apply to the method, the node, the flow\n"
        "                          and the request's body\n"
        "How:\n"
        "      --stats             count instead of print: per type and per\n"
        "                          source, events, events/s, bytes/s,\n"
        "                          (sources) sequence gaps, and for a node\n"
        "                          with reliable consumers, their lag (the\n"
        "                          events they have still to take) and the\n"
        "                          publishers they are stalled on, by its\n"
        "                          heartbeats; and malformed\n"
        "                          frames; redrawn each second on a\n"
        "                          terminal, printed when done; with --json,\n"
        "                          one object when done\n"
        "  -F, --format TEMPLATE   one line per event from TEMPLATE: {field}\n"
        "                          for a field of --json, {time} for the\n"
        "                          clock time, {cid} for the short\n"
        "                          correlation id; \\t, \\n are escapes; e.g.\n"
        "                          '{seq}\\t{type}\\t{body}'\n"
        "  -j, --json              one JSON object per line, every envelope\n"
        "                          field, the event's W3C traceparent and its\n"
        "                          parent_span, and the arrival time in\n"
        "                          microseconds since the epoch, for jq and\n"
        "                          scripts\n"
        "      --color, --no-color colour on or off (default: when stdout\n"
        "                          is a terminal)\n"
        "  -n, --count N           stop after N events\n"
        "  -d, --duration SECONDS  stop listening after SECONDS\n"
        "  -h, --help              this text\n"
        "  -V, --version           the zmesh version\n"
        "\n"
        "A frame that is not a zmesh event is shown as malformed, with the\n"
        "decoder's error and its first bytes in hex, counted, and the tap\n"
        "goes on. Exit status: 0 when done or interrupted, 1 if it cannot\n"
        "listen or a capture file cannot be written or read, 2 on a usage\n"
        "error.\n");
}

static long
s_number (const char *text, long max)
{
    char *end;
    errno = 0;
    long value = strtol (text, &end, 10);
    return errno || *end || value < 1 || value > max ? -1 : value;
}

//  Connect sub to every peer with an events endpoint in the config file.
//  Switch on the tap of every peer of config with a calls endpoint, and
//  connect sub to it. Returns 0, or 1 if none could be switched on.
static int
s_tap_calls (zsock_t *sub, zmesh_node_config_t *config, int *taps)
{
    zmesh_detail_t detail = {""};
    zmesh_node_t *node = zmesh_node_new (config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "zsniff: %s\n", detail.text);
        return 1;
    }
    json_t *on = json_pack ("{s:b}", "on", 1);
    void *body = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (on, &body, &size, NULL);
    json_decref (on);
    for (size_t index = 0; index < config->peer_count; index++) {
        const zmesh_peer_config_t *peer = &config->peers [index];
        if (!*peer->calls)
            continue;
        zmesh_envelope_t *reply = NULL;
        zmesh_err_t rc = zmesh_node_call (node, peer->service, "zmesh.tap",
                                          body, size, 0, &reply, &detail);
        json_t *answer = NULL;
        if (rc == ZMESH_OK)
            zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                     zmesh_envelope_body_size (reply), &answer,
                                     NULL);
        const char *endpoint = json_string_value (json_object_get (answer,
                                                                   "endpoint"));
        if (endpoint && zmesh_security_client (config, sub, peer->label,
                                               &detail) != ZMESH_OK) {
            fprintf (stderr, "zsniff: %s\n", detail.text);
            endpoint = NULL;
            rc = ZMESH_ERR_CONFIG;
        }
        if (endpoint && zsock_connect (sub, "%s", endpoint) == 0)
            (*taps)++;
        else
            fprintf (stderr, "zsniff: %s at %s: no tap: %s\n", peer->service,
                     peer->calls, rc ? zmesh_strerror (rc) : "a bad answer");
        json_decref (answer);
        zmesh_envelope_destroy (&reply);
    }
    free (body);
    zmesh_node_destroy (&node);
    return *taps ? 0 : 1;
}

static int
s_tap_config (zsock_t *sub, const char *path, bool calls, int *taps)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "zsniff");
    zmesh_detail_t detail = {""};
    if (zmesh_node_config_load (&config, path, &detail) != ZMESH_OK) {
        fprintf (stderr, "zsniff: %s\n", detail.text);
        return 2;
    }
    if (calls)
        return s_tap_calls (sub, &config, taps);
    for (size_t index = 0; index < config.peer_count; index++)
        if (*config.peers [index].events) {
            //  A secured mesh is tapped with a key it allows
            if (zmesh_security_client (&config, sub, config.peers [index].label,
                                       &detail) != ZMESH_OK) {
                fprintf (stderr, "zsniff: %s\n", detail.text);
                return 1;
            }
            if (zsock_connect (sub, "%s", config.peers [index].events) != 0) {
                fprintf (stderr, "zsniff: cannot connect to %s\n",
                         config.peers [index].events);
                return 1;
            }
            (*taps)++;
        }
    return 0;
}

//  True if the body has VALUE at PATH (keys joined by dots): a string
//  compares as it is, anything else as its compact JSON (3, true, null).
static bool
s_body_matches (json_t *body, const char *match)
{
    const char *equals = strchr (match, '=');
    json_t *value = body;
    for (const char *key = match; value && key < equals;) {
        const char *end = key + strcspn (key, ".=");
        char name [256];
        snprintf (name, sizeof name, "%.*s", (int) (end - key), key);
        value = json_object_get (value, name);
        key = end + 1;
    }
    if (!value)
        return false;
    if (json_is_string (value))
        return streq (json_string_value (value), equals + 1);
    char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
    bool same = text && streq (text, equals + 1);
    free (text);
    return same;
}

static bool
s_wanted (const s_options_t *options, const zmesh_envelope_t *event,
          bool control)
{
    if (control && !options->control)
        return false;
    if (options->source && !options->calls
        && !streq (options->source, zmesh_envelope_source (event)))
        return false;
    if (options->have_cid
        && !zmesh_uuid_eq (&options->cid, zmesh_envelope_correlation (event)))
        return false;
    if (options->match_count) {
        json_t *object = zmesh_json_from_envelope (event);
        json_t *body = json_object_get (object, "body");
        bool all = true;
        for (size_t index = 0; index < options->match_count && all; index++)
            all = s_body_matches (body, options->matches [index]);
        json_decref (object);
        if (!all)
            return false;
    }
    if (options->pattern_count == 0)
        return true;
    for (size_t index = 0; index < options->pattern_count; index++)
        if (zmesh_topic_matches (options->patterns [index],
                                 zmesh_envelope_type (event)))
            return true;
    return false;
}

static void
s_clock (char *text, size_t size, uint64_t unix_ms)
{
    time_t seconds = (time_t) (unix_ms / 1000);
    struct tm when;
    localtime_r (&seconds, &when);
    size_t used = strftime (text, size, "%H:%M:%S", &when);
    snprintf (text + used, size - used, ".%03u", (unsigned) (unix_ms % 1000));
}

//  --stats: counts per type and per source, shown as a table.
typedef struct {
    uint64_t events, bytes;     //  Shown events and their frames' bytes
    uint64_t events_then, bytes_then;   //  ... at the last refresh
    uint64_t gaps;              //  Sources: sequence numbers never seen
    uint64_t last_seq;          //  Sources: the last domain event's seq
    bool consumes;              //  Sources: its heartbeats tell its lag
    uint64_t lag, stalled;      //  ... as of the last one
} s_count_t;

typedef struct s_stats_t {
    zhash_t *types;             //  type -> s_count_t
    zhash_t *sources;           //  source node -> s_count_t
    uint64_t malformed;
    uint64_t first_us, last_us; //  Arrival of the first and last message
    int64_t refreshed_ms;       //  When the live table was last drawn
} s_stats_t;

static s_count_t *
s_count (zhash_t *hash, const char *key)
{
    s_count_t *count = (s_count_t *) zhash_lookup (hash, key);
    if (!count) {
        count = (s_count_t *) zmalloc (sizeof (s_count_t));
        zhash_insert (hash, key, count);
        zhash_freefn (hash, key, free);
    }
    return count;
}

//  Every domain event counts towards its source's gaps, shown or not, as
//  the tap sees the whole stream; a sequence that goes back is a restart.
static void
s_stats_sequence (s_stats_t *stats, const zmesh_envelope_t *event)
{
    s_count_t *count = s_count (stats->sources,
                                zmesh_envelope_source (event));
    uint64_t seq = zmesh_envelope_seq (event);
    if (count->last_seq && seq > count->last_seq + 1)
        count->gaps += seq - count->last_seq - 1;
    count->last_seq = seq;
}

//  A heartbeat of a node with reliable consumers says how far behind
//  they are (node.md, section 2): kept per source, shown or not.
static void
s_stats_heartbeat (s_stats_t *stats, const zmesh_envelope_t *beat)
{
    const char *lag = zmesh_envelope_header (beat, "lag");
    const char *stalled = zmesh_envelope_header (beat, "stalled");
    if (!streq (zmesh_envelope_type (beat), "zmesh.heartbeat") || !lag
        || !stalled || strspn (lag, "0123456789") != strlen (lag)
        || strspn (stalled, "0123456789") != strlen (stalled))
        return;
    s_count_t *count = s_count (stats->sources, zmesh_envelope_source (beat));
    count->consumes = true;
    count->lag = strtoull (lag, NULL, 10);
    count->stalled = strtoull (stalled, NULL, 10);
}

static void
s_stats_event (s_stats_t *stats, const zmesh_envelope_t *event, size_t bytes)
{
    s_count_t *count = s_count (stats->types, zmesh_envelope_type (event));
    count->events++;
    count->bytes += bytes;
    count = s_count (stats->sources, zmesh_envelope_source (event));
    count->events++;
    count->bytes += bytes;
}

static json_t *
s_stats_rows (zhash_t *hash, double seconds, bool sources)
{
    json_t *rows = json_object ();
    for (s_count_t *count = (s_count_t *) zhash_first (hash); count;
         count = (s_count_t *) zhash_next (hash)) {
        json_t *row = json_pack ("{s:I, s:I, s:f, s:f}", "events",
                                 (json_int_t) count->events, "bytes",
                                 (json_int_t) count->bytes, "events_per_s",
                                 seconds > 0 ? count->events / seconds : 0.0,
                                 "bytes_per_s",
                                 seconds > 0 ? count->bytes / seconds : 0.0);
        if (sources)
            json_object_set_new (row, "gaps",
                                 json_integer ((json_int_t) count->gaps));
        if (count->consumes) {
            json_object_set_new (row, "lag",
                                 json_integer ((json_int_t) count->lag));
            json_object_set_new (row, "stalled",
                                 json_integer ((json_int_t) count->stalled));
        }
        json_object_set_new (rows, zhash_cursor (hash), row);
    }
    return rows;
}

static void
s_stats_table_rows (zhash_t *hash, const char *what, double seconds,
                    bool live)
{
    zlist_t *keys = zhash_keys (hash);
    zlist_sort (keys, NULL);
    for (const char *key = (const char *) zlist_first (keys); key;
         key = (const char *) zlist_next (keys)) {
        s_count_t *count = (s_count_t *) zhash_lookup (hash, key);
        uint64_t events = live ? count->events - count->events_then
                               : count->events;
        uint64_t bytes = live ? count->bytes - count->bytes_then
                              : count->bytes;
        char gaps [24] = "-", lag [24] = "-", stalled [24] = "-";
        if (streq (what, "source"))
            snprintf (gaps, sizeof gaps, "%" PRIu64, count->gaps);
        if (count->consumes) {
            snprintf (lag, sizeof lag, "%" PRIu64, count->lag);
            snprintf (stalled, sizeof stalled, "%" PRIu64, count->stalled);
        }
        printf ("%-6s %-32s %10" PRIu64 " %10.1f %12.0f %8s %8s %8s\n", what,
                key, count->events, seconds > 0 ? events / seconds : 0.0,
                seconds > 0 ? bytes / seconds : 0.0, gaps, lag, stalled);
        count->events_then = count->events;
        count->bytes_then = count->bytes;
    }
    zlist_destroy (&keys);
}

//  The table: on a terminal, redrawn each second with the rates of that
//  second; at the end, with the rates from the first message to the last;
//  with --json, one object at the end.
static void
s_stats_print (s_stats_t *stats, const s_options_t *options, bool live)
{
    int64_t now = zclock_mono ();
    double span = (stats->last_us - stats->first_us) / 1e6;
    double seconds = live ? (now - stats->refreshed_ms) / 1000.0 : span;
    stats->refreshed_ms = now;
    if (options->json) {
        json_t *object = json_pack (
            "{s:f, s:I, s:o, s:o}", "seconds", seconds, "malformed",
            (json_int_t) stats->malformed, "types",
            s_stats_rows (stats->types, seconds, false), "sources",
            s_stats_rows (stats->sources, seconds, true));
        char *text = json_dumps (object, JSON_COMPACT | JSON_SORT_KEYS);
        printf ("%s\n", text);
        free (text);
        json_decref (object);
        return;
    }
    if (live)
        printf ("\033[H\033[2J");
    printf ("%-6s %-32s %10s %10s %12s %8s %8s %8s\n", "",
            live ? "last second" : "whole tap", "events", "events/s",
            "bytes/s", "gaps", "lag", "stalled");
    s_stats_table_rows (stats->types, "type", seconds, live);
    s_stats_table_rows (stats->sources, "source", seconds, live);
    printf ("malformed frames: %" PRIu64 "; %.1f s from the first message "
            "to the last\n", stats->malformed, span);
    fflush (stdout);
}

static void
s_print_json (json_t *object, uint64_t arrived_us)
{
    json_object_set_new (object, "arrived", json_integer ((json_int_t)
                                                          arrived_us));
    char *text = json_dumps (object, JSON_COMPACT);
    printf ("%s\n", text);
    free (text);
    json_decref (object);
}

//  --format: a line template with {field} for any field of --json, plus
//  {time} (the event's clock time), {cid} (short correlation id); \t, \n
//  and \\ are escapes.
static const char *s_fields [] = {
    "version", "kind", "id", "correlation", "causation", "type", "source",
    "timestamp", "seq", "budget_ms", "status", "error_code", "error_text",
    "headers", "body", "arrived", "time", "cid", NULL};

//  The first field in format that is not known, or NULL.
static const char *
s_format_unknown (const char *format, char *name, size_t size)
{
    for (const char *at = strchr (format, '{'); at; at = strchr (at, '{')) {
        const char *end = strchr (at, '}');
        if (!end) {
            snprintf (name, size, "%s", "{ without }");
            return name;
        }
        snprintf (name, size, "%.*s", (int) (end - at - 1), at + 1);
        size_t index = 0;
        while (s_fields [index] && !streq (s_fields [index], name))
            index++;
        if (!s_fields [index])
            return name;
        at = end + 1;
    }
    return NULL;
}

static void
s_print_format (const char *format, json_t *object, const char *when,
                const char *cid)
{
    for (const char *at = format; *at; at++) {
        if (*at == '\\' && at [1]) {
            at++;
            putchar (*at == 't' ? '\t' : *at == 'n' ? '\n' : *at);
            continue;
        }
        if (*at != '{') {
            putchar (*at);
            continue;
        }
        const char *end = strchr (at, '}');
        char name [32];
        snprintf (name, sizeof name, "%.*s", (int) (end - at - 1), at + 1);
        at = end;
        json_t *value = json_object_get (object, name);
        if (streq (name, "time"))
            fputs (when, stdout);
        else
        if (streq (name, "cid"))
            printf ("%.8s", cid);
        else
        if (json_is_string (value))
            fputs (json_string_value (value), stdout);
        else
        if (value) {
            char *text = json_dumps (value, JSON_COMPACT | JSON_ENCODE_ANY);
            fputs (text ? text : "", stdout);
            free (text);
        }
    }
    putchar ('\n');
}

static void
s_print_event (const s_options_t *options, const zmesh_envelope_t *event,
               uint64_t arrived_us)
{
    json_t *object = zmesh_json_from_envelope (event);
    //  Its trace context (envelope.md, section 3)
    char traceparent [ZMESH_TRACEPARENT_LEN + 1];
    json_object_set_new (object, "traceparent", json_string (
        zmesh_envelope_traceparent (event, traceparent)));
    uint8_t parent [ZMESH_SPAN_ID_SIZE];
    if (zmesh_envelope_parent_span (event, parent))
        json_object_set_new (object, "parent_span", json_string (
            zmesh_span_format (parent, traceparent)));
    if (options->json) {
        s_print_json (object, arrived_us);
        return;
    }
    char when [32], cid [ZMESH_UUID_STR_LEN + 1];
    s_clock (when, sizeof when, zmesh_envelope_timestamp (event));
    zmesh_uuid_unparse (zmesh_envelope_correlation (event), cid);
    if (options->format) {
        json_object_set_new (object, "arrived", json_integer ((json_int_t)
                                                              arrived_us));
        s_print_format (options->format, object, when, cid);
        json_decref (object);
        return;
    }
    json_t *body = json_object_get (object, "body");
    char *text = json_dumps (body, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t length = text ? strlen (text) : 0;
    printf ("%s %s%-12s %-24s%s #%-6" PRIu64 " cid=%.8s %.*s%s\n", when,
            options->color ? "\033[36m" : "", zmesh_envelope_source (event),
            zmesh_envelope_type (event), options->color ? "\033[0m" : "",
            zmesh_envelope_seq (event), cid, BODY_SHOWN,
            text ? text : "null", length > BODY_SHOWN ? "..." : "");
    free (text);
    json_decref (object);
}

static void
s_print_malformed (const s_options_t *options, zmsg_t *msg, zmesh_err_t rc,
                   const char *why, uint64_t arrived_us)
{
    zframe_t *frame = zmsg_size (msg) >= 2 ? zmsg_last (msg) : zmsg_first (msg);
    char hex [3 * 16 + 1] = "";
    size_t shown = frame ? zframe_size (frame) : 0;
    if (shown > 16)
        shown = 16;
    for (size_t index = 0; index < shown; index++)
        snprintf (hex + 3 * index, 4, "%02x ", zframe_data (frame) [index]);
    if (options->json)
        s_print_json (json_pack ("{s:b, s:s, s:s, s:s}", "malformed", 1,
                                 "error", zmesh_errname (rc), "detail", why,
                                 "hex", hex),
                      arrived_us);
    else
        printf ("%smalformed%s %s: %s; first bytes %s\n",
                options->color ? "\033[31m" : "", options->color ? "\033[0m"
                                                                : "",
                zmesh_strerror (rc), why, hex);
}

//  Decode one message taken from the wire or a capture, count it, and show
//  it if the filters want it.
//  One call from a node's tap: [what] [record] [request] [reply or empty]
//  (proto/node.md, "Tracing and the tap"). Filters: --type on the method,
//  --source on the node, --cid, --match on the request's body.
static void
s_show_call (const s_options_t *options, zmsg_t *msg, uint64_t arrived_us,
             long *shown, long *malformed)
{
    json_t *record = NULL;
    zmesh_envelope_t *request = NULL, *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = ZMESH_ERR_BAD_FRAMES;
    if (zmsg_size (msg) == 4) {
        zmsg_first (msg);
        zframe_t *data = zmsg_next (msg), *asked = zmsg_next (msg),
                 *answered = zmsg_next (msg);
        rc = zmesh_json_from_msgpack (zframe_data (data), zframe_size (data),
                                      &record, &detail);
        if (rc == ZMESH_OK && !json_is_object (record))
            rc = ZMESH_ERR_BAD_FRAMES;
        if (rc == ZMESH_OK)
            rc = zmesh_envelope_decode (zframe_data (asked),
                                        zframe_size (asked), &request, &detail);
        if (rc == ZMESH_OK && zframe_size (answered))
            rc = zmesh_envelope_decode (zframe_data (answered),
                                        zframe_size (answered), &reply,
                                        &detail);
    }
    if (rc != ZMESH_OK) {
        (*malformed)++;
        s_print_malformed (options, msg, rc, detail.text, arrived_us);
    }
    else if (s_wanted (options, request, false)
             && (!options->source
                 || streq (options->source,
                           zmesh_json_text (record, "node", "")))) {
        (*shown)++;
        json_object_set_new (record, "request",
                             zmesh_json_from_envelope (request));
        json_object_set_new (record, "reply", reply
                             ? zmesh_json_from_envelope (reply) : json_null ());
        if (options->json)
            s_print_json (json_incref (record), arrived_us);
        else {
            char when [32];
            s_clock (when, sizeof when,
                     json_integer_value (json_object_get (record, "at_us"))
                     / 1000);
            const char *what = zmesh_json_text (record, "what", "");
            json_t *body = json_object_get (json_object_get (record,
                                                             "request"),
                                            "body");
            char *text = json_dumps (body, JSON_COMPACT | JSON_ENCODE_ANY);
            size_t length = text ? strlen (text) : 0;
            const char *status = zmesh_json_text (record, "status", "");
            bool ok = status && streq (status, "ok");
            printf ("%s %s%-12s %-6s %-24s %s %-12s%s %s%s%s %.3f ms cid=%.8s "
                    "%.*s%s\n", when, options->color ? "\033[36m" : "",
                    zmesh_json_text (record, "node", ""), what,
                    zmesh_json_text (record, "name", ""),
                    streq (what, "made") ? "->" : "<-",
                    zmesh_json_text (record, "peer", ""),
                    options->color ? "\033[0m" : "",
                    options->color && !ok ? "\033[31m" : "", status,
                    options->color && !ok ? "\033[0m" : "",
                    (double) json_integer_value (json_object_get (
                        record, "latency_us")) / 1000,
                    zmesh_json_text (record, "cid", ""),
                    BODY_SHOWN, text ? text : "null",
                    length > BODY_SHOWN ? "..." : "");
            free (text);
        }
    }
    fflush (stdout);
    json_decref (record);
    zmesh_envelope_destroy (&request);
    zmesh_envelope_destroy (&reply);
}

static void
s_show (const s_options_t *options, zmsg_t *msg, uint64_t arrived_us,
        long *shown, long *malformed)
{
    if (options->calls) {
        s_show_call (options, msg, arrived_us, shown, malformed);
        return;
    }
    //  The envelope frame of a batch holds several events, back to back:
    //  a bad one ends it, since where the next starts is not known
    zframe_t *topic = zmsg_first (msg), *frame = zmsg_next (msg);
    bool two = zmsg_size (msg) == 2;
    size_t at = 0, size = two ? zframe_size (frame) : 0;
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_err_t rc;
    do {
        zmesh_detail_t detail = {""};
        bool control = false;
        size_t used = 0;
        rc = !event ? ZMESH_ERR_NOMEM
           : !two   ? ZMESH_ERR_BAD_FRAMES
                    : zmesh_envelope_decode_next (zframe_data (frame) + at,
                                                  size - at, &used, event,
                                                  &detail);
        at += used;
        if (rc == ZMESH_OK && zmesh_envelope_kind (event) != ZMESH_KIND_EVENT)
            rc = ZMESH_ERR_ENVELOPE_BAD_KIND;
        if (rc == ZMESH_OK)
            rc = zmesh_topic_check (zframe_data (topic), zframe_size (topic),
                                    event, &control);
        s_stats_t *stats = options->stats;
        if (stats) {
            if (!stats->first_us)
                stats->first_us = arrived_us;
            stats->last_us = arrived_us;
            if (rc == ZMESH_OK && !control)
                s_stats_sequence (stats, event);
            if (rc == ZMESH_OK && control)
                s_stats_heartbeat (stats, event);
        }
        if (rc != ZMESH_OK) {
            (*malformed)++;
            if (stats)
                stats->malformed++;
            else
                s_print_malformed (options, msg, rc, detail.text, arrived_us);
        }
        else if (s_wanted (options, event, control)) {
            if (stats)
                s_stats_event (stats, event, zframe_size (topic) + used);
            else
                s_print_event (options, event, arrived_us);
            (*shown)++;
        }
    } while (rc == ZMESH_OK && at < size
             && (!options->count || *shown < options->count));
    fflush (stdout);
    zmesh_envelope_destroy (&event);
}

static void
s_put_u32 (byte *at, uint32_t value)
{
    for (int index = 0; index < 4; index++)
        at [index] = (byte) (value >> (24 - 8 * index));
}

static uint32_t
s_get_u32 (const byte *at)
{
    return (uint32_t) at [0] << 24 | (uint32_t) at [1] << 16
         | (uint32_t) at [2] << 8 | at [3];
}

//  Append one message to the capture: its arrival time, its frame count,
//  then each frame's size and bytes. Returns false when the write fails.
static bool
s_capture (FILE *file, zmsg_t *msg, uint64_t arrived_us)
{
    byte head [12];
    s_put_u32 (head, (uint32_t) (arrived_us >> 32));
    s_put_u32 (head + 4, (uint32_t) arrived_us);
    s_put_u32 (head + 8, (uint32_t) zmsg_size (msg));
    bool ok = fwrite (head, sizeof head, 1, file) == 1;
    for (zframe_t *frame = zmsg_first (msg); frame && ok;
         frame = zmsg_next (msg)) {
        s_put_u32 (head, (uint32_t) zframe_size (frame));
        ok = fwrite (head, 4, 1, file) == 1
          && (zframe_size (frame) == 0
              || fwrite (zframe_data (frame), zframe_size (frame), 1, file)
                 == 1);
    }
    return ok;
}

//  A tuple from a gossip directory: a node's "events=E calls=C" under
//  zmesh/<service>/<instance> (proto/node.md, section 4). Connect to
//  each events endpoint once; ignore what is not a zmesh node's.
static void
s_on_gossip (zactor_t *gossip, zsock_t *sub, zhash_t *tapped)
{
    char *command = NULL, *key = NULL, *value = NULL;
    if (zstr_recvx (gossip, &command, &key, &value, NULL) < 0)
        return;
    char events [ZMESH_ENDPOINT_MAX + 1] = "";
    size_t prefix = strlen (ZMESH_GOSSIP_PREFIX);
    if (command && streq (command, "DELIVER") && key && value
        && strncmp (key, ZMESH_GOSSIP_PREFIX, prefix) == 0
        && sscanf (value, "events=%255s", events) == 1
        && !zhash_lookup (tapped, events)) {
        if (zsock_connect (sub, "%s", events) == 0) {
            zhash_insert (tapped, events, (void *) "");
            fprintf (stderr, "zsniff: tapping %s (%s)\n", events,
                     key + prefix);
        }
        else
            fprintf (stderr, "zsniff: gossip gave %s for %s: cannot "
                     "connect to it\n", events, key + prefix);
    }
    zstr_free (&command);
    zstr_free (&key);
    zstr_free (&value);
}

//  Take messages until the count, the duration or a signal says stop,
//  tapping the publishers gossip tells of as they come (gossip may be
//  NULL). Returns 1 if the capture file could not be written, else 0.
static int
s_tap (zsock_t *sub, zactor_t *gossip, const s_options_t *options,
       long *shown, long *malformed)
{
    zpoller_t *poller = zpoller_new (sub, gossip, NULL);
    zhash_t *tapped = zhash_new ();
    int64_t until = options->duration_s
                  ? zclock_mono () + options->duration_s * 1000 : 0;
    int rc = 0;
    while (!options->count || *shown < options->count) {
        int64_t wait = until ? until - zclock_mono () : 1000;
        if (until && wait <= 0)
            break;
        if (options->live && zclock_mono () - options->stats->refreshed_ms
                             >= 1000)
            s_stats_print (options->stats, options, true);
        void *which = zpoller_wait (poller, (int) (wait > 1000 ? 1000
                                                              : wait));
        if (!which) {
            if (zpoller_terminated (poller))
                break;
            continue;
        }
        if (which == gossip) {
            s_on_gossip (gossip, sub, tapped);
            continue;
        }
        zmsg_t *msg = zmsg_recv (sub);
        if (!msg)
            break;
        struct timespec now;
        clock_gettime (CLOCK_REALTIME, &now);
        uint64_t arrived_us = (uint64_t) now.tv_sec * 1000000
                            + (uint64_t) now.tv_nsec / 1000;
        if (options->capture && !s_capture (options->capture, msg,
                                            arrived_us)) {
            fprintf (stderr, "zsniff: cannot write the capture: %s\n",
                     strerror (errno));
            zmsg_destroy (&msg);
            rc = 1;
            break;
        }
        s_show (options, msg, arrived_us, shown, malformed);
        zmsg_destroy (&msg);
    }
    zhash_destroy (&tapped);
    zpoller_destroy (&poller);
    return rc;
}

//  Show the messages of a capture file. A file cut short in its last
//  message (the tap was killed mid-write) shows all that is whole and says
//  so; anything else that is not a capture is an error. Returns 0 or 1.
static int
s_read (const char *path, const s_options_t *options, long *shown,
        long *malformed)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        fprintf (stderr, "zsniff: cannot read %s: %s\n", path,
                 strerror (errno));
        return 1;
    }
    char magic [sizeof CAPTURE_MAGIC - 1];
    if (fread (magic, sizeof magic, 1, file) != 1
        || memcmp (magic, CAPTURE_MAGIC, sizeof magic) != 0) {
        fprintf (stderr, "zsniff: %s is not a zsniff capture\n", path);
        fclose (file);
        return 1;
    }
    byte *data = malloc (ZMESH_ENVELOPE_FRAME_MAX);
    assert (data);
    const char *error = NULL;
    const char *cut = "it ends in the middle of a message";
    byte head [12];
    size_t got;
    while ((!options->count || *shown < options->count)
           && (got = fread (head, 1, sizeof head, file)) > 0) {
        if (got < sizeof head) {
            error = cut;
            break;
        }
        uint64_t arrived_us = (uint64_t) s_get_u32 (head) << 32
                            | s_get_u32 (head + 4);
        uint32_t frames = s_get_u32 (head + 8);
        if (frames == 0 || frames > CAPTURE_FRAMES_MAX) {
            error = "a message has an impossible frame count";
            break;
        }
        zmsg_t *msg = zmsg_new ();
        for (uint32_t index = 0; index < frames && !error; index++) {
            uint32_t size = 0;
            if (fread (head, 4, 1, file) != 1)
                error = cut;
            else
            if ((size = s_get_u32 (head)) > ZMESH_ENVELOPE_FRAME_MAX)
                error = "a frame is larger than any zmesh frame";
            else
            if (size && fread (data, size, 1, file) != 1)
                error = cut;
            else
                zmsg_addmem (msg, data, size);
        }
        if (!error)
            s_show (options, msg, arrived_us, shown, malformed);
        zmsg_destroy (&msg);
    }
    int rc = 0;
    if (ferror (file)) {
        fprintf (stderr, "zsniff: cannot read %s: %s\n", path,
                 strerror (errno));
        rc = 1;
    }
    else
    if (error) {
        fprintf (stderr, "zsniff: %s: %s; what came before is shown\n",
                 path, error);
        rc = 1;
    }
    free (data);
    fclose (file);
    return rc;
}

int
main (int argc, char *argv [])
{
    static const struct option longs [] = {
        {"connect", required_argument, NULL, 'e'},
        {"config", required_argument, NULL, 'f'},
        {"seed", required_argument, NULL, 'g'},
        {"read", required_argument, NULL, 'r'},
        {"write", required_argument, NULL, 'w'},
        {"type", required_argument, NULL, 't'},
        {"source", required_argument, NULL, 's'},
        {"cid", required_argument, NULL, 'C'},
        {"match", required_argument, NULL, 'm'},
        {"control", no_argument, NULL, 'K'},
        {"json", no_argument, NULL, 'j'},
        {"stats", no_argument, NULL, 'S'},
        {"calls", no_argument, NULL, 'L'},
        {"format", required_argument, NULL, 'F'},
        {"color", no_argument, NULL, 'O'},
        {"no-color", no_argument, NULL, 'N'},
        {"count", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    s_options_t options = {.color = isatty (STDOUT_FILENO)};
    s_stats_t stats = {NULL, NULL, 0, 0, 0, 0};
    const char *endpoints [64];
    size_t endpoint_count = 0;
    const char *seeds [16];
    size_t seed_count = 0;
    const char *config = NULL, *reading = NULL, *writing = NULL;
    int option;
    char bytes [ZMESH_TOPIC_MAX];
    while ((option = getopt_long (argc, argv, "e:f:g:r:w:t:s:m:F:jn:d:hV", longs, NULL))
           != -1) {
        switch (option) {
            case 'e':
                if (endpoint_count == 64)
                    return s_misuse ("at most 64 --connect");
                endpoints [endpoint_count++] = optarg;
                break;
            case 'f': config = optarg; break;
            case 'g':
                if (seed_count == 16)
                    return s_misuse ("at most 16 --seed");
                if (!strstr (optarg, "://"))
                    return s_misuse ("--seed wants an endpoint, e.g. "
                                     "tcp://10.0.0.1:5670");
                seeds [seed_count++] = optarg;
                break;
            case 'r': reading = optarg; break;
            case 'w': writing = optarg; break;
            case 't':
                if (options.pattern_count == PATTERNS_MAX
                    || zmesh_topic_subscription (optarg, bytes) < 0)
                    return s_misuse ("--type wants a type or a prefix "
                                     "ending in *");
                options.patterns [options.pattern_count++] = optarg;
                break;
            case 's': options.source = optarg; break;
            case 'C':
                if (zmesh_uuid_parse (optarg, &options.cid) != ZMESH_OK)
                    return s_misuse ("--cid wants a correlation id (UUID)");
                options.have_cid = true;
                break;
            case 'm': {
                const char *equals = strchr (optarg, '=');
                if (options.match_count == PATTERNS_MAX || !equals
                    || equals == optarg || equals [-1] == '.'
                    || *optarg == '.' || strstr (optarg, "..")
                    || (size_t) (equals - optarg) > 255)
                    return s_misuse ("--match wants PATH=VALUE, e.g. "
                                     "customer.id=42");
                options.matches [options.match_count++] = optarg;
                break;
            }
            case 'K': options.control = true; break;
            case 'j': options.json = true; break;
            case 'S': options.stats = &stats; break;
            case 'L': options.calls = true; break;
            case 'F': options.format = optarg; break;
            case 'O': options.color = true; break;
            case 'N': options.color = false; break;
            case 'n':
                if ((options.count = s_number (optarg, 1000000000)) < 0)
                    return s_misuse ("--count wants a number above 0");
                break;
            case 'd':
                if ((options.duration_s = s_number (optarg, 86400 * 365)) < 0)
                    return s_misuse ("--duration wants seconds above 0");
                break;
            case 'h': s_usage (); return 0;
            case 'V':
                printf ("zsniff (zmesh) %d.%d.%d\n", ZMESH_VERSION_MAJOR,
                        ZMESH_VERSION_MINOR, ZMESH_VERSION_PATCH);
                return 0;
            default: return s_misuse ("unknown option");
        }
    }
    if (optind < argc)
        return s_misuse ("unexpected argument");
    if (reading && (endpoint_count || config || seed_count || writing
                    || options.duration_s))
        return s_misuse ("--read takes no --connect, --config, --seed, "
                         "--write or --duration");
    if (!endpoint_count && !config && !seed_count && !reading)
        return s_misuse ("say where to listen: --connect, --config or "
                         "--seed, or what to --read");
    if (options.format && (options.json || options.stats))
        return s_misuse ("--format takes no --json or --stats");
    if (options.calls && (options.stats || options.format || seed_count
                          || options.control))
        return s_misuse ("--calls takes no --stats, --format, --seed or "
                         "--control");
    char name [32];
    if (options.format && s_format_unknown (options.format, name,
                                            sizeof name)) {
        fprintf (stderr, "zsniff: --format: no field '%s'; the fields are "
                 "those of --json, and time and cid\n", name);
        return 2;
    }
    if (options.json)
        options.color = false;
    options.live = options.stats && options.color;
    if (options.stats) {
        stats.types = zhash_new ();
        stats.sources = zhash_new ();
        stats.refreshed_ms = zclock_mono ();
    }
    //  stdout is for data: CZMQ's own messages go to stderr.
    zsys_set_logstream (stderr);
    long shown = 0, malformed = 0;
    if (reading) {
        int rc = s_read (reading, &options, &shown, &malformed);
        if (options.stats)
            s_stats_print (&stats, &options, false);
        zhash_destroy (&stats.types);
        zhash_destroy (&stats.sources);
        fprintf (stderr, "zsniff: %ld events shown, %ld malformed\n", shown,
                 malformed);
        return rc;
    }
    if (writing) {
        //  A capture holds the traffic: its owner's alone, and never
        //  written through a symbolic link someone left in its place.
        int fd = open (writing, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW
                                | O_CLOEXEC, 0600);
        options.capture = fd >= 0 ? fdopen (fd, "wb") : NULL;
        if (fd >= 0 && !options.capture)
            close (fd);
        if (!options.capture
            || fwrite (CAPTURE_MAGIC, sizeof CAPTURE_MAGIC - 1, 1,
                       options.capture) != 1) {
            fprintf (stderr, "zsniff: cannot write %s: %s\n", writing,
                     strerror (errno));
            if (options.capture)
                fclose (options.capture);
            zhash_destroy (&stats.types);
            zhash_destroy (&stats.sources);
            return 1;
        }
    }
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zsock_set_subscribe (sub, "");
    zsock_set_maxmsgsize (sub, ZMESH_ENVELOPE_FRAME_MAX);
    int taps = 0, rc = 0;
    for (size_t index = 0; index < endpoint_count && rc == 0; index++) {
        if (zsock_connect (sub, "%s", endpoints [index]) != 0) {
            fprintf (stderr, "zsniff: cannot connect to %s\n",
                     endpoints [index]);
            rc = 1;
        }
        taps++;
    }
    if (rc == 0 && config)
        rc = s_tap_config (sub, config, options.calls, &taps);
    zactor_t *gossip = NULL;
    if (rc == 0 && seed_count) {
        gossip = zactor_new (zgossip, "zsniff");
        //  zgossip points the log at stdout, which is for events here
        zstr_sendx (gossip, "SET", "server/background", "1", NULL);
        zsys_set_logstream (stderr);
        for (size_t index = 0; index < seed_count; index++)
            zstr_sendx (gossip, "CONNECT", seeds [index], NULL);
        taps++;
    }
    if (rc == 0 && taps == 0) {
        fprintf (stderr, "zsniff: %s lists no peer with an events endpoint\n",
                 config);
        rc = 1;
    }
    if (rc == 0) {
        rc = s_tap (sub, gossip, &options, &shown, &malformed);
        if (options.stats)
            s_stats_print (&stats, &options, false);
        fprintf (stderr, "zsniff: %ld %s shown, %ld malformed\n", shown,
                 options.calls ? "calls" : "events", malformed);
    }
    zactor_destroy (&gossip);
    zsock_destroy (&sub);
    zhash_destroy (&stats.types);
    zhash_destroy (&stats.sources);
    if (options.capture && fclose (options.capture) != 0) {
        fprintf (stderr, "zsniff: cannot write %s: %s\n", writing,
                 strerror (errno));
        rc = 1;
    }
    return rc;
}
