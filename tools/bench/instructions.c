/*  instructions.c - zmesh-bench's instructions section: instructions
    per message, counted by callgrind: deterministic, and the same on every
    CPU, so that a change's cost shows through the noise.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <sys/wait.h>
#include "bench.h"

//  The instructions callgrind counts in "--role ir kind count", or -1.
static double
s_callgrind (const char *kind, long count)
{
    char log [PATH_MAX + 32], number [24];
    snprintf (log, sizeof log, "%s/callgrind-%s-%ld.log", bench_options.tmp,
              kind, count);
    snprintf (number, sizeof number, "%ld", count);
    pid_t pid = fork ();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dup2 (fd, STDERR_FILENO);
            dup2 (fd, STDOUT_FILENO);
        }
        execlp ("valgrind", "valgrind", "--tool=callgrind",
                "--callgrind-out-file=/dev/null", bench_self (), "--role",
                "ir", kind, number, (char *) NULL);
        _exit (127);
    }
    int status = 0;
    if (waitpid (pid, &status, 0) != pid || !WIFEXITED (status)
        || WEXITSTATUS (status) != 0)
        return -1;
    FILE *file = fopen (log, "r");
    double collected = -1;
    char line [512];
    while (file && fgets (line, sizeof line, file)) {
        char *at = strstr (line, "Collected : ");
        if (at)
            collected = strtod (at + 12, NULL);
    }
    if (file)
        fclose (file);
    return collected;
}

//  Instructions per message of kind: the difference between two runs,
//  of count and of 3 × count, so that start-up and shutdown cancel out.
static double
s_per_message (const char *kind, long count)
{
    double small = s_callgrind (kind, count);
    double large = s_callgrind (kind, 3 * count);
    return small > 0 && large > small ? (large - small) / (2.0 * count) : -1;
}

void
bench_instructions (void)
{
    long count = bench_options.quick ? 300 : 1000;
    const struct {
        const char *what, *zmesh, *raw;
    } pairs [] = {
        {"instructions per event, 64 B body, published and received",
         "zmesh-event", "raw-event"},
        {"  same, events/batch=" BENCH_BATCH, "zmesh-batched-event",
         "raw-event"},
        {"instructions per call, 64 B body, made and served",
         "zmesh-call", "raw-call"},
    };
    for (size_t index = 0; index < sizeof pairs / sizeof pairs [0]; index++) {
        double zmesh = s_per_message (pairs [index].zmesh, count);
        double raw = s_per_message (pairs [index].raw, count);
        char zt [48], rt [48];
        snprintf (zt, sizeof zt, zmesh > 0 ? "%.0f" : "failed", zmesh);
        snprintf (rt, sizeof rt, raw > 0 ? "%.0f" : "failed", raw);
        bench_row ("instructions", pairs [index].what, zt, rt,
                   zmesh > 0 && raw > 0 ? zmesh / raw : -1, NULL, NULL);
    }
}
