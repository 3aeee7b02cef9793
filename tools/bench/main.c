/*  main.c - zmesh-bench: zmesh against raw libzmq, side by side in one run.

    Every figure that has a raw counterpart is measured next to it, in the
    same run on the same machine, and reported as a ratio: absolute figures
    drift on shared machines, ratios much less. Each side of a measurement
    runs in processes of its own (this program, started again with --role),
    over tcp loopback unless the section says otherwise.

    This file holds the options, --help, and the table of sections.

    Part of zmesh. MIT License.
*/
#include <getopt.h>
#include <signal.h>
#include "bench.h"

bench_options_t bench_options;

//  The sections, in the order they run: --only picks among them by name,
//  and --help lists them with their help (lines split at '\n'). A new
//  section is a file of its own, its entry point in bench.h, and one line
//  here.
static const struct {
    const char *name;
    void (*run) (void);
    const char *help;
} s_sections [] = {
    {"events", bench_events,
     "publish/subscribe over tcp loopback, 64 B and 1 KiB bodies,\n"
     "1, 4 and 16 subscribers; raw sends frames of zmesh's sizes;\n"
     "raw and zmesh take three turns each, and the medians count"},
    {"failure", bench_failure,
     "the cost of a call refused by an open breaker, and the time\n"
     "from a server's SIGKILL until calls fail fast"},
    {"calls", bench_calls,
     "round-trip latency (p50, p99, p99.9) of one caller, and the\n"
     "throughput of four, against raw REQ/REP; each side calls\n"
     "from processes of its own, ten turns each"},
    {"nats", bench_nats,
     "the broker a user would pick instead, on loopback (--nats):\n"
     "NATS pub/sub at 64 B and 1 KiB, and request/reply p50 and p99,\n"
     "against zmesh's events and calls, taking turns"},
    {"instructions", bench_instructions,
     "per event and per call, zmesh and raw side by side,\n"
     "counted by valgrind's callgrind in one process over inproc:\n"
     "the same on every CPU"},
    {"durable", bench_durable,
     "publish with the store: fsynced (default), events/sync=normal,\n"
     "group commit, asynchronous confirms, against a RabbitMQ\n"
     "durable queue with publisher confirms (--rabbitmq); a restarted\n"
     "consumer catching up, against RabbitMQ's acknowledging one;\n"
     "the store's own appends, fsynced, on PostgreSQL beside SQLite"},
    {"memory", bench_memory,
     "resident size of an idle node, after garbage at every socket,\n"
     "and under sustained load"},
    {"scale", bench_scale,
     "meshes of 2, 8 and 32 nodes: events/s per node, call latency"},
    {"edge", bench_edge,
     "POST /orders through the demo gateway under wrk (50\n"
     "connections), against the tutorial's express mini-project;\n"
     "the rates count 2xx answers only"},
    {"replicas", bench_replicas,
     "the edge's load on the demo mesh on PostgreSQL (--postgresql),\n"
     "with 1 and with 2 replicas of each service, five turns each\n"
     "(medians): the rate each takes, then, both paced at half the\n"
     "first run's rate, the CPU of every node per order until the\n"
     "services are through"},
};
#define SECTIONS (sizeof s_sections / sizeof s_sections [0])
#define HELP_COLUMN 11          //  Where --help starts a section's help

//  Mark in picked each section that list names (comma-separated). False,
//  with a line on stderr, at a name that is no section's.
static bool
s_pick_sections (const char *list, bool *picked)
{
    for (const char *name = list; *name;) {
        size_t length = strcspn (name, ",");
        if (length > 0) {
            size_t index = 0;
            while (index < SECTIONS
                   && (strlen (s_sections [index].name) != length
                       || strncmp (name, s_sections [index].name, length)))
                index++;
            if (index == SECTIONS) {
                fprintf (stderr, "zmesh-bench: no section '%.*s'; try "
                         "--help\n", (int) length, name);
                return false;
            }
            picked [index] = true;
        }
        name += length + (name [length] == ',');
    }
    return true;
}

static void
s_remove_tree (const char *path)
{
    char command [PATH_MAX + 16];
    if (strncmp (path, "/tmp/zmesh-bench.", 17) == 0) {
        snprintf (command, sizeof command, "rm -rf '%s'", path);
        if (system (command) != 0)
            fprintf (stderr, "zmesh-bench: could not remove %s\n", path);
    }
}

static void
s_usage (FILE *out)
{
    fprintf (out,
"Usage: zmesh-bench [OPTION]...\n"
"Measure zmesh against raw libzmq, side by side in one run, and print a\n"
"table of figures and ratios (zmesh / counterpart).\n"
"\n"
"Sections, in order:\n");
    for (size_t index = 0; index < SECTIONS; index++) {
        const char *name = s_sections [index].name;
        int pad = HELP_COLUMN - 2 - (int) strlen (name);
        fprintf (out, "  %s%*s", name, pad < 2 ? 2 : pad, "");
        const char *line = s_sections [index].help;
        while (true) {
            size_t length = strcspn (line, "\n");
            fprintf (out, "%.*s\n", (int) length, line);
            if (!line [length])
                break;
            line += length + 1;
            fprintf (out, "%*s", HELP_COLUMN, "");
        }
    }
    fprintf (out,
"\n"
"Options:\n"
"  -q, --quick             small counts and short runs (under 30 s; the\n"
"                          16-subscriber and 32-node runs are left out)\n"
"  -o, --report FILE       also write the table as Markdown to FILE\n"
"      --only LIST         run only these sections (comma-separated)\n"
"      --nodes DIR         the demo node programs, for the edge (default:\n"
"                          ../nodes beside this program, if there)\n"
"      --express SCRIPT    the express mini-project to run with node(1),\n"
"                          for the edge's counterpart\n"
"      --postgresql URI    a PostgreSQL server (libpq URI) for the durable\n"
"                          section's store rows, beside SQLite (bench.sh\n"
"                          starts one with tools/pg.sh)\n"
"      --nats URL          a nats-server (nats://127.0.0.1:PORT) for the\n"
"                          nats section (bench.sh starts one)\n"
"      --rabbitmq URL      a RabbitMQ server (amqp://127.0.0.1:PORT) for the\n"
"                          durable section's counterpart (bench.sh starts\n"
"                          one with tools/rabbitmq.sh)\n"
"      --express-rate N    requests/s to compare the edge with when\n"
"                          --express is not given (default: none)\n"
"  -h, --help              show this help and exit\n"
"  -V, --version           show the version and exit\n"
"\n"
"Targets (ratios in one run): events >= 0.8 x raw; call p50 <= 1.15 x raw,\n"
"p99 <= 1.5 x; open-breaker refusal < 1 us; durable events with\n"
"asynchronous confirms >= 5 x RabbitMQ's streaming confirms; POST /orders\n"
">= 2 x express; an idle node < 10 MB, flat under load. A verdict column\n"
"says which were met; the exit status does not.\n"
"\n"
"Every load is bounded in count and time; traffic stays on loopback and\n"
"ipc. What the processes of a run log goes to /tmp/zmesh-bench.log.\n"
"Exit status: 0 done, 1 nothing could be measured, 2 usage error.\n");
}

int
main (int argc, char *argv [])
{
    if (!bench_self_init ())
        return 1;
    zsys_set_logstream (stderr);        //  stdout carries our own lines
    if (argc >= 3 && streq (argv [1], "--role"))
        return bench_role_run (argv [2], argc - 3, argv + 3);
    static const struct option options [] = {
        {"quick", no_argument, NULL, 'q'},
        {"report", required_argument, NULL, 'o'},
        {"only", required_argument, NULL, 'O'},
        {"nodes", required_argument, NULL, 'N'},
        {"express", required_argument, NULL, 'E'},
        {"postgresql", required_argument, NULL, 'P'},
        {"nats", required_argument, NULL, 'T'},
        {"rabbitmq", required_argument, NULL, 'R'},
        {"express-rate", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int option;
    while ((option = getopt_long (argc, argv, "qo:hV", options, NULL)) != -1) {
        char *end = NULL;
        switch (option) {
            case 'q': bench_options.quick = true; break;
            case 'o': bench_options.report = optarg; break;
            case 'O': bench_options.only = optarg; break;
            case 'N': bench_options.nodes = optarg; break;
            case 'E': bench_options.express = optarg; break;
            case 'P': bench_options.postgresql = optarg; break;
            case 'T': bench_options.nats = optarg; break;
            case 'R': bench_options.rabbitmq = optarg; break;
            case 'e':
                bench_options.express_rate = strtod (optarg, &end);
                if (*end || bench_options.express_rate <= 0) {
                    fprintf (stderr, "zmesh-bench: --express-rate takes a "
                             "positive number; try --help\n");
                    return 2;
                }
                break;
            case 'h': s_usage (stdout); return 0;
            case 'V': printf ("zmesh-bench %s\n", BENCH_VERSION); return 0;
            default:
                fprintf (stderr, "zmesh-bench: try --help\n");
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "zmesh-bench: unexpected '%s'; try --help\n",
                 argv [optind]);
        return 2;
    }
    bool picked [SECTIONS] = {false};
    if (bench_options.only && !s_pick_sections (bench_options.only, picked))
        return 2;
    static char nodes [PATH_MAX];
    if (!bench_options.nodes) {
        snprintf (nodes, sizeof nodes, "%s", bench_self ());
        char *slash = strrchr (nodes, '/');
        if (slash) {
            *slash = 0;
            slash = strrchr (nodes, '/');
            if (slash)
                snprintf (slash, sizeof nodes - (size_t) (slash - nodes),
                          "/nodes");
            if (access (nodes, X_OK) == 0)
                bench_options.nodes = nodes;
        }
    }
    zsys_set_max_sockets (0);
    signal (SIGPIPE, SIG_IGN);
    snprintf (bench_options.tmp, sizeof bench_options.tmp,
              "/tmp/zmesh-bench.XXXXXX");
    if (!mkdtemp (bench_options.tmp)) {
        fprintf (stderr, "zmesh-bench: cannot make a directory in /tmp\n");
        return 1;
    }
    bench_log_start ("/tmp/zmesh-bench.log");
    char started [32];
    time_t now = time (NULL);
    strftime (started, sizeof started, "%Y-%m-%d %H:%M", gmtime (&now));
    int64_t start = bench_now_ns ();
    bench_report_begin ();
    for (size_t index = 0; index < SECTIONS; index++)
        if (!bench_options.only || picked [index])
            s_sections [index].run ();
    s_remove_tree (bench_options.tmp);
    if (bench_options.report
        && !bench_report_write (bench_options.report, started,
                                bench_seconds_since (start))) {
        fprintf (stderr, "zmesh-bench: cannot write %s\n",
                 bench_options.report);
        return 1;
    }
    return bench_row_count () > 0 ? 0 : 1;
}
