/*  test_store_procs.c - the event store shared by processes: racing
    writers, and a writer killed with SIGKILL mid-stream.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <sqlite3.h>
#include "zmesh.h"
#include "child.h"

static char dir [64];
static char path [128];

static void
s_setup (void)
{
    child_dir_make (dir, "procs");
    snprintf (path, sizeof path, "%s/events.db", dir);
}

static void
s_teardown (void)
{
    child_cleanup ();
    child_dir_remove (dir);
}

TestSuite (store_procs, .init = s_setup, .fini = s_teardown, .timeout = 120);

Test (store_procs, two_racing_writers_one_wins_each_version)
{
    enum { ROUNDS = 200 };
    //  Create the store first, so neither racer pays for the schema.
    zmesh_store_t *store = zmesh_store_open (path, true, NULL);
    cr_assert (store != NULL);
    char rounds [16], start [32];
    snprintf (rounds, sizeof rounds, "%d", ROUNDS);
    snprintf (start, sizeof start, "%" PRId64, zclock_time () + 300);
    char *argv [] = {STORETOOL, "race", path, "order-race", rounds, start, NULL};
    child_t racers [2] = {child_spawn (argv), child_spawn (argv)};
    int wins [ROUNDS] = {0}, conflicts [2] = {0, 0};
    for (int racer = 0; racer < 2; racer++) {
        char line [64];
        for (int round = 0; round < ROUNDS; round++) {
            cr_assert (child_read_line (racers [racer].out, line, sizeof line,
                                        30000), "racer %d stopped", racer);
            long k;
            char outcome [16];
            cr_assert (sscanf (line, "%ld %15s", &k, outcome) == 2);
            cr_assert (eq (long, k, round));
            if (streq (outcome, "ok"))
                wins [k]++;
            else
                conflicts [racer]++;
        }
        cr_assert (eq (int, child_reap (&racers [racer], 10000), 0));
    }
    for (int round = 0; round < ROUNDS; round++)
        cr_assert (eq (int, wins [round], 1), "version %d had %d winners",
                   round + 1, wins [round]);
    int64_t version;
    cr_assert (eq (int, zmesh_store_version (store, "order-race", &version), 0));
    cr_assert (eq (i64, version, ROUNDS));
    fprintf (stderr, "store_procs: %d versions, conflicts %d and %d\n", ROUNDS,
             conflicts [0], conflicts [1]);
    cr_assert (eq (int, conflicts [0] + conflicts [1], ROUNDS));
    zmesh_store_close (&store);
}

typedef struct {
    uint64_t expected;          //  Next position to see
    bool holes;
} s_walk_t;

static bool
s_walk (const zmesh_stored_event_t *event, void *arg)
{
    s_walk_t *walk = arg;
    if (event->position != walk->expected)
        walk->holes = true;
    walk->expected = event->position + 1;
    return true;
}

Test (store_procs, a_writer_killed_mid_stream_leaves_every_acknowledged_event)
{
    char *argv [] = {STORETOOL, "write", path, "order-kill", NULL};
    child_t writer = child_spawn (argv);
    uint64_t acknowledged = 0;
    char line [64];
    while (acknowledged < 500
           && child_read_line (writer.out, line, sizeof line, 10000))
        cr_assert (sscanf (line, "position %" SCNu64, &acknowledged) == 1);
    cr_assert (ge (u64, acknowledged, 500), "the writer stalled");
    child_kill (&writer);

    //  The file is whole, and holds at least all that was acknowledged,
    //  with no holes in its positions.
    sqlite3 *db;
    cr_assert (sqlite3_open (path, &db) == SQLITE_OK);
    sqlite3_stmt *check;
    sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &check, NULL);
    cr_assert (sqlite3_step (check) == SQLITE_ROW);
    cr_assert (eq (str, (char *) sqlite3_column_text (check, 0), "ok"));
    sqlite3_finalize (check);
    sqlite3_close (db);

    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, true, &detail);
    cr_assert (store != NULL, "%s", detail.text);
    uint64_t head;
    cr_assert (eq (int, zmesh_store_head (store, &head), 0));
    cr_assert (ge (u64, head, acknowledged));
    s_walk_t walk = {1, false};
    cr_assert (eq (int, zmesh_store_read_all (store, 1, 0, s_walk, &walk,
                                              &detail), 0), "%s", detail.text);
    cr_assert (not (walk.holes));
    cr_assert (eq (u64, walk.expected, head + 1));
    int64_t version;
    zmesh_store_version (store, "order-kill", &version);
    cr_assert (eq (i64, version, (int64_t) head));
    fprintf (stderr, "store_procs: killed after %" PRIu64 " acknowledged, "
                     "%" PRIu64 " stored\n", acknowledged, head);
    zmesh_store_close (&store);
}
