/*  test_examples.c - the small programs in examples/ do what they say.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "child.h"

static char s_dir [64];         //  A test's own directory, if it made one

//  Also after a failed assertion: no directory is left behind.
static void
s_teardown (void)
{
    child_cleanup ();
    if (*s_dir)
        child_dir_remove (s_dir);
}

TestSuite (examples, .fini = s_teardown, .timeout = 60);

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
    char output [8192] = "";
    child_dir_make (s_dir, "examples");
    int rc = s_run (EXAMPLES_DIR "/order_aggregate", s_dir, output,
                    sizeof output);
    cr_assert (eq (int, rc, 0));
    cr_assert (strstr (output, "add_item refused") != NULL, "%s", output);
    cr_assert (strstr (output, "rebuilt from 3 events: status confirmed, "
                               "1 item(s), total 2500 cents") != NULL, "%s",
               output);
}

//  Append "--set SETTING" for each of extra (NULL-terminated) to argv,
//  which holds argc, and end it with NULL.
static void
s_add_settings (char **argv, int argc, const char *const *extra)
{
    for (size_t index = 0; extra && extra [index]; index++) {
        argv [argc++] = "--set";
        argv [argc++] = (char *) extra [index];
    }
    argv [argc] = NULL;
}

//  The tutorial, as docs/tutorial.md runs it (ipc in place of its tcp
//  ports, so that parallel suites cannot collide): the friend gets its
//  greeting and the event its call caused; a missing greeter is an error;
//  with keys, the same over CURVE.
static int
s_friend (const char *dir, const char *const *extra, char *output,
          size_t size)
{
    char *argv [16] = {EXAMPLES_DIR "/friend", "Ada", "--set", NULL, "--set",
                       NULL};
    static char events [128], calls [128];
    snprintf (events, sizeof events, "peers/greeter/events=ipc://%s/e", dir);
    snprintf (calls, sizeof calls, "peers/greeter/calls=ipc://%s/c", dir);
    argv [3] = events;
    argv [5] = calls;
    s_add_settings (argv, 6, extra);
    child_t child = child_spawn (argv);
    size_t used = 0;
    char line [512];
    *output = 0;
    while (child_read_line (child.out, line, sizeof line, 20000))
        used += (size_t) snprintf (output + used, size - used, "%s", line);
    return child_reap (&child, 20000);
}

static child_t
s_greeter (const char *dir, const char *const *extra)
{
    static char events [128], calls [128];
    snprintf (events, sizeof events, "node/events=ipc://%s/e", dir);
    snprintf (calls, sizeof calls, "node/calls=ipc://%s/c", dir);
    char *argv [16] = {EXAMPLES_DIR "/greeter", "--set", events, "--set",
                       calls};
    s_add_settings (argv, 5, extra);
    child_t child = child_spawn (argv);
    char line [512];
    cr_assert (child_read_line (child.out, line, sizeof line, 10000));
    cr_assert (strncmp (line, "events=ipc://", 13) == 0, "%s", line);
    return child;
}

Test (examples, the_tutorial_runs_as_written)
{
    char output [2048];
    child_dir_make (s_dir, "tutorial");
    child_t greeter = s_greeter (s_dir, NULL);
    cr_assert (eq (int, s_friend (s_dir, NULL, output, sizeof output), 0),
               "%s", output);
    cr_assert (strstr (output, "reply: hello, Ada\n") == output, "%s", output);
    cr_assert (strstr (output, "event greeter.greeted from greeter (flow ")
               != NULL, "%s", output);
    cr_assert (strstr (output, "{\"greeting\":\"hello, Ada\"}") != NULL);
    cr_assert (eq (int, child_stop (&greeter, 5000), 0));

    //  No greeter: the call fails within its deadline
    const char *quick [] = {"timing/call_timeout=500", NULL};
    cr_assert (eq (int, s_friend (s_dir, quick, output, sizeof output), 1));

    //  With keys, over CURVE
    char keys [96];
    snprintf (keys, sizeof keys, "%s/keys", s_dir);
    const char *names [] = {"greeter", "friend"};
    for (int index = 0; index < 2; index++) {
        char *argv [] = {ZMESH, "keygen", (char *) names [index], keys, NULL};
        cr_assert (eq (int, child_run (argv, 5000), 0));
    }
    char greeter_cert [128], friend_cert [128], allowed [128];
    snprintf (greeter_cert, sizeof greeter_cert,
              "security/cert=%s/greeter.cert", keys);
    snprintf (friend_cert, sizeof friend_cert,
              "security/cert=%s/friend.cert", keys);
    snprintf (allowed, sizeof allowed, "security/keys=%s", keys);
    const char *greeter_secure [] = {greeter_cert, allowed, NULL};
    const char *friend_secure [] = {friend_cert, allowed, NULL};
    greeter = s_greeter (s_dir, greeter_secure);
    cr_assert (eq (int, s_friend (s_dir, friend_secure, output, sizeof output),
                   0), "%s", output);
    cr_assert (strstr (output, "reply: hello, Ada\n") == output, "%s", output);
    cr_assert (eq (int, child_stop (&greeter, 5000), 0));
}
