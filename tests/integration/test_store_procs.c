/*  test_store_procs.c - the event store shared by processes: racing
    writers, a writer killed with SIGKILL mid-stream, and a reader that
    follows two writers; on a SQLite file and on PostgreSQL.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <sqlite3.h>
#include "zmesh.h"
#include "child.h"
#include "pgtest.h"

static char dir [64];
static char path [1024];
static char schema [64];

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
    if (*schema)
        pgtest_schema_drop (schema);
    *schema = 0;
}

//  The store in a schema of its own on the suites' PostgreSQL server.
static void
s_on_postgresql (void)
{
    pgtest_schema_new (schema, path, sizeof path);
}

TestSuite (store_procs, .init = s_setup, .fini = s_teardown, .timeout = 120);

//  Two processes append to one stream, each expecting the version of the
//  round: one wins each version, the other gets a conflict.
static void
s_race (void)
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

Test (store_procs, two_racing_writers_one_wins_each_version)
{
    s_race ();
}

Test (store_procs, on_postgresql_two_racing_writers_one_wins_each_version)
{
    s_on_postgresql ();
    s_race ();
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

//  A writer killed with SIGKILL after 500 acknowledged appends: every one
//  is there, with no holes in the positions.
static void
s_killed (void)
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
    if (!*schema) {
        //  The file is whole
        sqlite3 *db;
        cr_assert (sqlite3_open (path, &db) == SQLITE_OK);
        sqlite3_stmt *check;
        sqlite3_prepare_v2 (db, "PRAGMA integrity_check", -1, &check, NULL);
        cr_assert (sqlite3_step (check) == SQLITE_ROW);
        cr_assert (eq (str, (char *) sqlite3_column_text (check, 0), "ok"));
        sqlite3_finalize (check);
        sqlite3_close (db);
    }
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

Test (store_procs, a_writer_killed_mid_stream_leaves_every_acknowledged_event)
{
    s_killed ();
}

Test (store_procs, on_postgresql_a_killed_writer_leaves_every_acknowledged_event)
{
    s_on_postgresql ();
    s_killed ();
}

//  Two processes append to streams of their own as fast as they can while
//  this one follows the log by subscription: each position shows up in
//  order, none skipped, so that no commit of a later position lands before
//  an earlier one's.
static void
s_follow_two_writers (void)
{
    enum { FOLLOW = 3000 };
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (path, true, &detail);
    cr_assert (store != NULL, "%s", detail.text);
    char *first [] = {STORETOOL, "write", path, "order-a", NULL};
    char *second [] = {STORETOOL, "write", path, "order-b", NULL};
    child_t writers [2] = {child_spawn (first), child_spawn (second)};
    s_walk_t walk = {1, false};
    zmesh_store_sub_t *sub = zmesh_store_subscribe (store, 1, s_walk, &walk);
    int64_t deadline = zclock_mono () + 60000;
    while (walk.expected <= FOLLOW && !walk.holes
           && zclock_mono () < deadline) {
        size_t delivered = 0;
        cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, &detail),
                       0), "%s", detail.text);
        if (!delivered)
            zclock_sleep (1);
        char line [64];     //  Keep the writers' pipes from filling
        for (int index = 0; index < 2; index++)
            while (child_read_line (writers [index].out, line, sizeof line, 0))
                ;
    }
    for (int index = 0; index < 2; index++)
        child_kill (&writers [index]);
    cr_assert (not (walk.holes), "a position was skipped: %" PRIu64,
               walk.expected);
    cr_assert (gt (u64, walk.expected, FOLLOW));
    //  And what the subscription did not see yet follows on
    size_t delivered = 0;
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, &detail), 0));
    uint64_t head;
    cr_assert (eq (int, zmesh_store_head (store, &head), 0));
    cr_assert (not (walk.holes));
    cr_assert (eq (u64, zmesh_store_sub_next (sub), head + 1));
    fprintf (stderr, "store_procs: followed %" PRIu64 " positions of two "
             "writers\n", head);
    zmesh_store_sub_destroy (&sub);
    zmesh_store_close (&store);
}

Test (store_procs, a_reader_sees_two_writers_positions_in_order)
{
    s_follow_two_writers ();
}

Test (store_procs, on_postgresql_a_reader_sees_two_writers_positions_in_order)
{
    s_on_postgresql ();
    s_follow_two_writers ();
}
