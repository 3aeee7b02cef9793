/*  report.c - zmesh-bench's report: one row per figure, with its raw
    counterpart and the ratio, printed as a table as the rows come and, at
    the end, written as Markdown.

    Part of zmesh. MIT License.
*/
#include <math.h>
#include <zmq.h>
#include "bench.h"

typedef struct {
    char section [24];
    char what [96];
    char zmesh [48];
    char raw [48];
    char ratio [24];
    char target [40];
    char verdict [16];
} s_row_t;

#define ROWS_MAX 160
static s_row_t s_rows [ROWS_MAX];
static size_t s_row_count;

//  The head of the table, in the columns of bench_row.
void
bench_report_begin (void)
{
    printf ("zmesh-bench %s, %s mode\n  %-9s %-46s %14s %14s %6s %-10s %s\n",
            BENCH_VERSION, bench_options.quick ? "quick" : "full", "section",
            "measurement", "zmesh", "counterpart", "ratio", "target",
            "verdict");
}

//  Add a row. ratio < 0: none. target: "≥ 0.8" / "≤ 1.15" compares ratio,
//  "< 1 µs"-style targets pass verdict in (NULL: no target).
void
bench_row (const char *section, const char *what, const char *zmesh,
           const char *raw, double ratio, const char *target,
           const char *verdict)
{
    if (s_row_count == ROWS_MAX) {
        fprintf (stderr, "zmesh-bench: the report holds %d rows: \"%s\" "
                 "left out (raise ROWS_MAX)\n", ROWS_MAX, what);
        return;
    }
    s_row_t *row = &s_rows [s_row_count++];
    snprintf (row->section, sizeof row->section, "%s", section);
    snprintf (row->what, sizeof row->what, "%s", what);
    snprintf (row->zmesh, sizeof row->zmesh, "%s", zmesh);
    snprintf (row->raw, sizeof row->raw, "%s", raw ? raw : "");
    if (ratio >= 0)
        snprintf (row->ratio, sizeof row->ratio, "%.2f", ratio);
    snprintf (row->target, sizeof row->target, "%s", target ? target : "");
    if (!verdict && target && ratio >= 0) {
        double bound = atof (target + strlen ("≥ "));
        bool ok = strncmp (target, "≥", strlen ("≥")) == 0 ? ratio >= bound
                                                           : ratio <= bound;
        verdict = ok ? "met" : "MISSED";
    }
    snprintf (row->verdict, sizeof row->verdict, "%s", verdict ? verdict : "");
    printf ("  %-9s %-46s %14s %14s %6s %-10s %s\n", section, what, zmesh,
            row->raw, row->ratio, row->target, row->verdict);
    fflush (stdout);
}

size_t
bench_row_count (void)
{
    return s_row_count;
}

const char *
bench_rate_text (char *text, double rate)
{
    if (rate >= 1e6)
        snprintf (text, 48, "%.2f M/s", rate / 1e6);
    else if (rate >= 1e3)
        snprintf (text, 48, "%.1f k/s", rate / 1e3);
    else
        snprintf (text, 48, "%.0f /s", rate);
    return text;
}

const char *
bench_us_text (char *text, double ns)
{
    snprintf (text, 48, "%.1f µs", ns / 1e3);
    return text;
}

//  qsort's comparison of int64_t.
int
bench_compare_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return (x > y) - (x < y);
}

//  The p-th percentile (0..100) of sorted samples.
double
bench_percentile (const int64_t *sorted, size_t count, double p)
{
    size_t index = (size_t) ceil (p / 100.0 * (double) count);
    return (double) sorted [index ? index - 1 : 0];
}

static void
s_machine (char *text, size_t size)
{
    char model [256] = "unknown CPU", line [512];
    FILE *file = fopen ("/proc/cpuinfo", "r");
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "model name : %255[^\n]", model) == 1)
            break;
    if (file)
        fclose (file);
    int major, minor, patch;
    zmq_version (&major, &minor, &patch);
    snprintf (text, size, "%ld cores (%s), libzmq %d.%d.%d, czmq %d.%d.%d",
              sysconf (_SC_NPROCESSORS_ONLN), model, major, minor, patch,
              CZMQ_VERSION_MAJOR, CZMQ_VERSION_MINOR, CZMQ_VERSION_PATCH);
}

bool
bench_report_write (const char *path, const char *started, double seconds)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return false;
    char machine [512];
    s_machine (machine, sizeof machine);
    fprintf (file,
             "# zmesh-bench report\n\n"
             "- Run: %s UTC, %s mode, %.0f s in all\n"
             "- Machine: %s\n"
             "- Each zmesh figure was measured in the same run as its "
             "counterpart; the ratio is zmesh / counterpart.\n"
             "- Counterparts: raw libzmq sending frames of the same sizes as "
             "zmesh's (events: topic + envelope; calls: request and reply "
             "envelopes); for the nats section, Debian's nats-server on "
             "loopback with libnats clients; for durable events, Debian's "
             "RabbitMQ server on loopback, a durable queue of persistent "
             "messages with publisher confirms, through librabbitmq; for the "
             "edge, the tutorial's express mini-project.\n\n"
             "| section | measurement | zmesh | counterpart | ratio | target "
             "| verdict |\n|---|---|---:|---:|---:|---|---|\n",
             started, bench_options.quick ? "quick" : "full", seconds,
             machine);
    for (size_t index = 0; index < s_row_count; index++) {
        s_row_t *row = &s_rows [index];
        fprintf (file, "| %s | %s | %s | %s | %s | %s | %s |\n", row->section,
                 row->what, row->zmesh, row->raw, row->ratio, row->target,
                 row->verdict);
    }
    fclose (file);
    return true;
}
