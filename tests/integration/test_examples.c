/*  test_examples.c - the small programs in examples/ do what they say.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include "zmesh.h"
#include "child.h"

TestSuite (examples, .fini = child_cleanup, .timeout = 60);

//  Run program and collect its stdout into output.
static int
s_run (const char *program, const char *arg, char *output, size_t size)
{
    char *argv [] = {(char *) program, (char *) arg, NULL};
    child_t child = child_spawn (argv);
    size_t used = 0;
    char line [512];
    while (child_read_line (child.out, line, sizeof line, 10000))
        used += (size_t) snprintf (output + used, size - used, "%s", line);
    return child_reap (&child, 10000);
}

Test (examples, call_breaker_fails_fast_then_recovers)
{
    char output [8192] = "";
    cr_assert (eq (int, s_run (EXAMPLES_DIR "/call_breaker", NULL, output,
                               sizeof output), 0));
    cr_assert (strstr (output, "call  1: ok") != NULL, "%s", output);
    cr_assert (strstr (output, "circuit open, the call was not made")
               != NULL, "%s", output);
    cr_assert (strstr (output, "call  9: ok") != NULL, "%s", output);
    cr_assert (strstr (output, "call  9: ok                           in")
               != NULL);
    char *last = strstr (output, "call  9:");
    cr_assert (strstr (last, "breaker closed") != NULL, "%s", last);
}

Test (examples, order_aggregate_refuses_and_rebuilds)
{
    char output [8192] = "", dir [64];
    child_dir_make (dir, "examples");
    int rc = s_run (EXAMPLES_DIR "/order_aggregate", dir, output,
                    sizeof output);
    child_dir_remove (dir);
    cr_assert (eq (int, rc, 0));
    cr_assert (strstr (output, "add_item refused") != NULL, "%s", output);
    cr_assert (strstr (output, "rebuilt from 3 events: status confirmed, "
                               "1 item(s), total 2500 cents") != NULL, "%s",
               output);
}
