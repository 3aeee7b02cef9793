/*  test_store.c - the event store: expected versions, atomic and idempotent
    appends, reads, subscriptions, and files that are not what they seem.

    Built twice: on SQLite files (test_store), and with ZMESH_STORE_PG on
    the PostgreSQL server whose URI ZMESH_TEST_PG gives (test_store_pg),
    each test in a schema of its own.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include <sqlite3.h>
#include <sys/stat.h>
#include "zmesh.h"
#include "inbox.h"
#include "store_db.h"

static char dir [64];
static char path [1024];
static zmesh_store_t *store;
static zmesh_rand_t *rand_source;

#ifdef ZMESH_STORE_PG
#include "../integration/pgtest.h"
static char schema [64];
#endif

static void
s_setup (void)
{
    snprintf (dir, sizeof dir, "/tmp/zmesh-store-XXXXXX");
    cr_assert (mkdtemp (dir) != NULL);
    snprintf (path, sizeof path, "%s/events.db", dir);
#ifdef ZMESH_STORE_PG
    pgtest_schema_new (schema, path, sizeof path);
#endif
    rand_source = zmesh_rand_seeded_new (17);
}

static void
s_teardown (void)
{
    zmesh_store_close (&store);
    zmesh_rand_destroy (&rand_source);
    char command [200];
    snprintf (command, sizeof command, "rm -rf %s", dir);
    cr_assert (system (command) == 0);
#ifdef ZMESH_STORE_PG
    pgtest_schema_drop (schema);
#endif
}

TestSuite (store, .init = s_setup, .fini = s_teardown);

static void
s_open (void)
{
    zmesh_detail_t detail = {""};
    store = zmesh_store_open (path, true, &detail);
    cr_assert (store != NULL, "%s", detail.text);
}

//  count events of type "thing.happened", bodies [n], fresh ids.
static zmesh_new_event_t *
s_events (size_t count)
{
    static zmesh_new_event_t events [64];
    static uint8_t bodies [64][2];
    cr_assert (count <= 64);
    for (size_t index = 0; index < count; index++) {
        zmesh_new_event_t *event = &events [index];
        memset (event, 0, sizeof *event);
        zmesh_uuid_generate (rand_source, &event->id);
        zmesh_uuid_generate (rand_source, &event->correlation);
        event->type = "thing.happened";
        bodies [index][0] = 0x91;
        bodies [index][1] = (uint8_t) (index & 0x7f);
        event->body = bodies [index];
        event->body_size = 2;
        event->timestamp = 1764374400000 + index;
    }
    return events;
}

static zmesh_err_t
s_append (const char *stream, int64_t expected, size_t count,
          zmesh_append_result_t *result)
{
    zmesh_detail_t detail = {""};
    return zmesh_store_append (store, stream, expected, s_events (count), count,
                               result, &detail);
}

static uint64_t
s_head (void)
{
    uint64_t head;
    cr_assert (eq (int, zmesh_store_head (store, &head), 0));
    return head;
}

Test (store, every_expected_version_case)
{
    s_open ();
    zmesh_append_result_t result;
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_EXISTS, 1, &result),
                   ZMESH_ERR_CONCURRENCY), "no stream yet");
    cr_assert (eq (i64, result.version, 0));
    cr_assert (eq (int, s_append ("order-1", 3, 1, &result),
                   ZMESH_ERR_CONCURRENCY));
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_NO_STREAM, 2,
                                  &result), ZMESH_OK));
    cr_assert (eq (i64, result.version, 2));
    cr_assert (eq (u64, result.first_position, 1));
    cr_assert (eq (u64, result.last_position, 2));
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_NO_STREAM, 1,
                                  &result), ZMESH_ERR_CONCURRENCY));
    cr_assert (eq (i64, result.version, 2), "the actual version comes back");
    cr_assert (eq (int, s_append ("order-1", 1, 1, &result),
                   ZMESH_ERR_CONCURRENCY));
    cr_assert (eq (int, s_append ("order-1", 2, 1, &result), ZMESH_OK));
    cr_assert (eq (i64, result.version, 3));
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_EXISTS, 1, &result),
                   ZMESH_OK));
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_ANY, 1, &result),
                   ZMESH_OK));
    cr_assert (eq (int, s_append ("order-2", ZMESH_VERSION_ANY, 1, &result),
                   ZMESH_OK));
    cr_assert (eq (i64, result.version, 1));
    cr_assert (eq (u64, result.first_position, 6), "positions are global");
    cr_assert (eq (u64, s_head (), 6), "refused appends wrote nothing");
    int64_t version;
    cr_assert (eq (int, zmesh_store_version (store, "order-1", &version), 0));
    cr_assert (eq (i64, version, 5));
}

//  A msgpack bin of size bytes in all, head included.
static const uint8_t *
s_bin (size_t size)
{
    static uint8_t body [ZMESH_STORE_BODY_MAX + 1];
    cr_assert (le (sz, size, sizeof body));
    size_t data = size - 5;
    body [0] = 0xc6;
    for (int index = 0; index < 4; index++)
        body [1 + index] = (uint8_t) (data >> (24 - 8 * index));
    return body;
}

Test (store, an_append_is_all_or_nothing)
{
    s_open ();
    zmesh_new_event_t *events = s_events (3);
    events [2].body = "\xc1";
    events [2].body_size = 1;
    zmesh_append_result_t result;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, events, 3,
                                            &result, &detail),
                   ZMESH_ERR_INVALID));
    cr_assert (strstr (detail.text, "event 3 of 3") != NULL, "%s", detail.text);
    events = s_events (3);
    events [2].id = events [0].id;
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, events, 3,
                                            &result, &detail),
                   ZMESH_ERR_STORE_DUPLICATE));
    cr_assert (eq (u64, s_head (), 0), "the first two were rolled back");
    cr_assert (eq (int, zmesh_store_append (store, "bad stream",
                                            ZMESH_VERSION_ANY, s_events (1), 1,
                                            &result, &detail),
                   ZMESH_ERR_INVALID));

    //  A body the store takes must fit a replay reply: one byte more is
    //  refused, the largest is stored (a bin of that many bytes in all).
    events = s_events (1);
    events [0].body = s_bin (ZMESH_STORE_BODY_MAX + 1);
    events [0].body_size = ZMESH_STORE_BODY_MAX + 1;
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, events, 1,
                                            &result, &detail),
                   ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE));
    cr_assert (strstr (detail.text, "replayed") != NULL, "%s", detail.text);
    events [0].body = s_bin (ZMESH_STORE_BODY_MAX);
    events [0].body_size = ZMESH_STORE_BODY_MAX;
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, events, 1,
                                            &result, &detail), ZMESH_OK),
               "%s", detail.text);
}

//  Inside a transaction of the caller's, an append of several events that
//  gives an id twice is refused whole, and the transaction goes on: the
//  appends before and after it commit. (On PostgreSQL the rows of an
//  append go in one round trip, and the one that fails is found there.)
Test (store, a_refused_append_in_a_transaction_leaves_the_rest_of_it)
{
    s_open ();
    zmesh_detail_t detail = {""};
    zmesh_append_result_t result;
    cr_assert (eq (int, zmesh_store_begin (store, &detail), 0), "%s",
               detail.text);
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, s_events (1), 1,
                                            &result, &detail), 0), "%s",
               detail.text);
    zmesh_new_event_t *events = s_events (3);
    events [2].id = events [1].id;
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, events, 3,
                                            &result, &detail),
                   ZMESH_ERR_STORE_DUPLICATE), "%s", detail.text);
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, s_events (2), 2,
                                            &result, &detail), 0), "%s",
               detail.text);
    cr_assert (eq (i64, result.version, 3));
    cr_assert (eq (int, zmesh_store_commit (store, &detail), 0), "%s",
               detail.text);
    cr_assert (eq (u64, s_head (), 3), "one event and two, none of the three");
}

Test (store, a_retried_append_is_a_no_op_that_reports_where_it_went)
{
    s_open ();
    zmesh_append_result_t first, again;
    zmesh_new_event_t *events = s_events (3);
    zmesh_new_event_t copy [3];
    memcpy (copy, events, sizeof copy);
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_NO_STREAM, copy, 3,
                                            &first, NULL), 0));
    //  The retry repeats the expected version, which no longer holds.
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_NO_STREAM, copy, 3,
                                            &again, NULL), 0));
    cr_assert (again.duplicate);
    cr_assert (eq (u64, again.first_position, first.first_position));
    cr_assert (eq (u64, again.last_position, first.last_position));
    cr_assert (eq (i64, again.version, 3));
    cr_assert (eq (u64, s_head (), 3));
    //  Part stored, part new: not a retry.
    zmesh_new_event_t mixed [2] = {copy [0], s_events (1) [0]};
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_append (store, "order-1",
                                            ZMESH_VERSION_ANY, mixed, 2,
                                            &again, &detail),
                   ZMESH_ERR_STORE_DUPLICATE));
    cr_assert (eq (int, zmesh_store_append (store, "order-9",
                                            ZMESH_VERSION_ANY, copy, 1, &again,
                                            &detail),
                   ZMESH_ERR_STORE_DUPLICATE), "same id, another stream");
}

typedef struct {
    zmesh_stored_event_t seen [64];
    char streams [64][ZMESH_STREAM_MAX + 1];
    char keys [64][ZMESH_STREAM_MAX + 1];
    size_t count;
    size_t stop_after;
} s_collect_t;

static bool
s_collect (const zmesh_stored_event_t *event, void *arg)
{
    s_collect_t *collect = arg;
    cr_assert (lt (sz, collect->count, 64));
    collect->seen [collect->count] = *event;
    snprintf (collect->streams [collect->count], ZMESH_STREAM_MAX + 1, "%s",
              event->stream);
    snprintf (collect->keys [collect->count], ZMESH_STREAM_MAX + 1, "%s",
              event->key);
    collect->count++;
    return collect->stop_after == 0 || collect->count < collect->stop_after;
}

Test (store, reads_streams_both_ways_and_everything_by_position)
{
    s_open ();
    zmesh_append_result_t result;
    zmesh_new_event_t *events = s_events (4);
    zmesh_uuid_t cause;
    zmesh_uuid_generate (rand_source, &cause);
    events [1].causation = &cause;
    zmesh_new_event_t copy [4];
    memcpy (copy, events, sizeof copy);
    cr_assert (eq (int, zmesh_store_append (store, "order-1", ZMESH_VERSION_ANY,
                                            copy, 4, &result, NULL), 0));
    cr_assert (eq (int, s_append ("order-2", ZMESH_VERSION_ANY, 2, &result), 0));

    s_collect_t forward = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_stream (store, "order-1", 2, false, 2,
                                                 s_collect, &forward, NULL), 0));
    cr_assert (eq (sz, forward.count, 2));
    cr_assert (eq (i64, forward.seen [0].version, 2));
    cr_assert (eq (i64, forward.seen [1].version, 3));
    cr_assert (zmesh_uuid_eq (&forward.seen [0].id, &copy [1].id));
    cr_assert (forward.seen [0].has_causation);
    cr_assert (zmesh_uuid_eq (&forward.seen [0].causation, &cause));
    cr_assert (not (forward.seen [1].has_causation));
    cr_assert (zmesh_uuid_eq (&forward.seen [0].correlation,
                              &copy [1].correlation));
    cr_assert (eq (u64, forward.seen [0].timestamp, copy [1].timestamp));
    cr_assert (eq (sz, forward.seen [0].body_size, 2));

    s_collect_t backward = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_stream (store, "order-1", 4, true, 0,
                                                 s_collect, &backward, NULL),
                   0));
    cr_assert (eq (sz, backward.count, 4));
    cr_assert (eq (i64, backward.seen [0].version, 4));
    cr_assert (eq (i64, backward.seen [3].version, 1));

    s_collect_t all = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_all (store, 4, 0, s_collect, &all,
                                              NULL), 0));
    cr_assert (eq (sz, all.count, 3));
    cr_assert (eq (u64, all.seen [0].position, 4));
    cr_assert (eq (str, all.streams [1], "order-2"));
    s_collect_t stopped = {.count = 0, .stop_after = 1};
    zmesh_store_read_all (store, 1, 0, s_collect, &stopped, NULL);
    cr_assert (eq (sz, stopped.count, 1), "a callback can stop the read");
}

//  For each event, read the whole log again from inside the read.
static bool
s_read_again (const zmesh_stored_event_t *event, void *arg)
{
    (void) event;
    size_t *inner = arg;
    s_collect_t all = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_all (store, 1, 0, s_collect, &all,
                                              NULL), 0));
    *inner += all.count;
    return true;
}

//  Reads keep their statements prepared; a read from inside a read of the
//  same kind gets one of its own, and neither disturbs the other.
Test (store, a_read_inside_a_read_of_the_same_kind_sees_everything)
{
    s_open ();
    zmesh_append_result_t result;
    cr_assert (eq (int, s_append ("order-1", ZMESH_VERSION_ANY, 3, &result), 0));
    size_t inner = 0;
    cr_assert (eq (int, zmesh_store_read_all (store, 1, 0, s_read_again,
                                              &inner, NULL), 0));
    cr_assert (eq (sz, inner, 9), "three inner reads of three events each");
    s_collect_t stopped = {.count = 0, .stop_after = 2};
    cr_assert (eq (int, zmesh_store_read_all (store, 1, 0, s_collect, &stopped,
                                              NULL), 0));
    cr_assert (eq (sz, stopped.count, 2));
    s_collect_t again = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_all (store, 2, 0, s_collect, &again,
                                              NULL), 0));
    cr_assert (eq (sz, again.count, 2), "a stopped read leaves it reusable");
    cr_assert (eq (u64, again.seen [0].position, 2));
}

Test (store, a_subscription_catches_up_then_sees_new_appends)
{
    s_open ();
    zmesh_append_result_t result;
    s_append ("order-1", ZMESH_VERSION_ANY, 3, &result);
    s_collect_t collect = {.count = 0};
    zmesh_store_sub_t *sub = zmesh_store_subscribe (store, 2, s_collect,
                                                    &collect);
    size_t delivered;
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, NULL), 0));
    cr_assert (eq (sz, delivered, 2));
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, NULL), 0));
    cr_assert (eq (sz, delivered, 0));

    //  An append by another connection, as another process would make.
    zmesh_store_t *other = zmesh_store_open (path, true, NULL);
    zmesh_store_t *mine = store;
    store = other;
    s_append ("order-2", ZMESH_VERSION_ANY, 2, &result);
    store = mine;
    zmesh_store_close (&other);
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 1, &delivered, NULL), 0));
    cr_assert (eq (sz, delivered, 1), "at most the limit");
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, NULL), 0));
    cr_assert (eq (sz, delivered, 1));
    cr_assert (eq (u64, zmesh_store_sub_next (sub), 6));
    s_append ("order-1", ZMESH_VERSION_ANY, 1, &result);
    cr_assert (eq (int, zmesh_store_sub_poll (sub, 0, &delivered, NULL), 0));
    cr_assert (eq (sz, delivered, 1), "and our own appends too");
    cr_assert (eq (sz, collect.count, 5));
    zmesh_store_sub_destroy (&sub);
}

//  Change the store behind its back, in the dialect of its kind.
static void
s_sql (const char *lite, const char *pg)
{
#ifdef ZMESH_STORE_PG
    (void) lite;
    pgtest_exec (path, pg);
#else
    (void) pg;
    sqlite3 *db;
    cr_assert (sqlite3_open (path, &db) == SQLITE_OK);
    char *message = NULL;
    cr_assert (sqlite3_exec (db, lite, NULL, NULL, &message) == SQLITE_OK,
               "%s", message ? message : "");
    sqlite3_close (db);
#endif
}

static zmesh_store_t *
s_open_as (const char *publisher)
{
    zmesh_detail_t detail = {""};
    zmesh_store_t *opened = zmesh_store_open (path, true, &detail);
    cr_assert (opened != NULL, "%s", detail.text);
    cr_assert (eq (int, zmesh_store_publish_as (opened, publisher, &detail),
                   0), "%s", detail.text);
    return opened;
}

static zmesh_append_result_t
s_append_to (zmesh_store_t *into, const char *stream, size_t count)
{
    zmesh_append_result_t result;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_append (into, stream, ZMESH_VERSION_ANY,
                                            s_events (count), count, &result,
                                            &detail), 0), "%s", detail.text);
    return result;
}

static s_collect_t
s_log_of (zmesh_store_t *from, const char *publisher, uint64_t seq)
{
    s_collect_t collect = {.count = 0};
    cr_assert (eq (int, zmesh_store_read_log (from, publisher, seq, 0,
                                              s_collect, &collect, NULL), 0));
    return collect;
}

#ifdef ZMESH_STORE_PG
//  The store, opened with the schema's name as its application's, so that
//  s_index_entries_read can wait for its connection to end.
static void
s_open_named (void)
{
    char uri [sizeof path + 128];
    snprintf (uri, sizeof uri, "%s&application_name=%s", path, schema);
    zmesh_detail_t detail = {""};
    store = zmesh_store_open (uri, true, &detail);
    cr_assert (store != NULL, "%s", detail.text);
}

//  Close the store, and return the entries the server read in the
//  indexes of the schema's events table. A connection's counts reach
//  pg_stat_user_indexes as it ends.
static long long
s_index_entries_read (void)
{
    zmesh_store_close (&store);
    char sql [256];
    snprintf (sql, sizeof sql, "SELECT count (*) FROM pg_stat_activity WHERE "
              "application_name = '%s'", schema);
    for (int tries = 0; tries < 200 && pgtest_query_int (NULL, sql); tries++)
        usleep (10000);
    snprintf (sql, sizeof sql, "SELECT COALESCE (sum (idx_tup_read), 0) FROM "
              "pg_stat_user_indexes WHERE schemaname = '%s' AND relname = "
              "'events'", schema);
    return pgtest_query_int (NULL, sql);
}

//  A savepoint or a release goes to the server with the next statement:
//  one that fails there fails that statement, and the commit, which would
//  otherwise end the failed transaction as a rollback that reports
//  success. Once rolled back, the store works again.
Test (store, a_release_that_fails_on_the_server_fails_the_commit)
{
    s_open ();
    zmesh_detail_t detail = {""};
    for (int round = 0; round < 2; round++) {
        //  The first round works, and has every statement prepared
        cr_assert (eq (int, zmesh_store_begin (store, &detail), 0));
        s_append_to (store, "order-1", 1);
        if (round == 0)
            cr_assert (eq (int, zmesh_store_savepoint (store, &detail), 0));
        cr_assert (eq (int, zmesh_store_release (store, &detail), 0),
                   "the second has no savepoint, but nothing said so yet");
        uint64_t head;
        zmesh_err_t rc = zmesh_store_head (store, &head);
        if (round == 0) {
            cr_assert (eq (int, rc, 0));
            cr_assert (eq (int, zmesh_store_commit (store, &detail), 0), "%s",
                       detail.text);
            cr_assert (eq (u64, s_head (), 1));
            continue;
        }
        cr_assert (ne (int, rc, 0), "the next statement fails");
        cr_assert (ne (int, zmesh_store_commit (store, &detail), 0),
                   "and so does the commit");
        cr_assert (strstr (detail.text, "savepoint") != NULL, "%s",
                   detail.text);
        zmesh_store_rollback (store);
        cr_assert (eq (u64, s_head (), 1), "the append was taken back");
    }
    s_append_to (store, "order-1", 1);
    cr_assert (eq (u64, s_head (), 2), "and the store works again");
}

//  An append reads its stream's version and its log's head by key, in a
//  few index entries, however long the stream and the log: the server
//  plans a kept statement once, while the tables are still empty, and a
//  plan that reads every version of the stream (an aggregate over the
//  index, which MAX (version) may get) makes each append slower than the
//  one before. The index entries the server read say which plan it kept.
Test (store, appends_read_a_few_index_entries_however_long_the_stream)
{
    enum { APPENDS = 2000 };
    s_open_named ();
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_publish_as (store, "order-a", &detail), 0));
    for (int index = 0; index < APPENDS; index++)
        s_append_to (store, "inventory-p-book", 1);
    long long read = s_index_entries_read ();
    cr_assert (gt (i64, read, 0), "the server counted its reads");
    cr_assert (lt (i64, read, 10 * APPENDS), "%lld index entries read for %d "
               "appends", read, APPENDS);
}
#endif

//  Two instances of a service on one store: positions interleave, and
//  each has a log of its own, numbered from 1 with no holes, which either
//  can read and which trimming never empties.
Test (store, instances_sharing_a_store_each_have_a_log_of_their_own)
{
    zmesh_store_t *one = s_open_as ("order-a");
    zmesh_store_t *two = s_open_as ("order-b");
    cr_assert (eq (str, (char *) zmesh_store_publisher (two), "order-b"));
    zmesh_append_result_t result = s_append_to (one, "order-1", 2);
    cr_assert (eq (u64, result.first_seq, 1));
    cr_assert (eq (u64, result.last_seq, 2));
    result = s_append_to (two, "order-2", 1);
    cr_assert (eq (u64, result.first_position, 3));
    cr_assert (eq (u64, result.first_seq, 1), "order-b's log starts at 1");
    result = s_append_to (one, "order-2", 1);
    cr_assert (eq (u64, result.first_position, 4));
    cr_assert (eq (u64, result.first_seq, 3));
    zmesh_new_event_t again = s_events (1) [0];
    again.key = "user-7";
    cr_assert (eq (int, zmesh_store_append (two, "order-1", ZMESH_VERSION_ANY,
                                            &again, 1, &result, NULL), 0));
    cr_assert (eq (u64, result.first_seq, 2));
    s_collect_t keyed = s_log_of (one, "order-b", 2);
    cr_assert (eq (str, keyed.keys [0], "user-7"));
    cr_assert (eq (str, s_log_of (one, "order-b", 1).keys [0], ""),
               "no key: the stream's");
    zmesh_new_event_t bad = s_events (1) [0];
    bad.key = "not a key";
    cr_assert (eq (int, zmesh_store_append (two, "order-1", ZMESH_VERSION_ANY,
                                            &bad, 1, &result, NULL),
                   ZMESH_ERR_INVALID));
    //  A retry reports where the event went, whoever retries it
    cr_assert (eq (int, zmesh_store_append (one, "order-1", ZMESH_VERSION_ANY,
                                            &again, 1, &result, NULL), 0));
    cr_assert (result.duplicate);
    cr_assert (eq (u64, result.first_seq, 2));
    cr_assert (eq (u64, result.first_position, 5));

    s_collect_t log = s_log_of (two, "order-a", 1);
    cr_assert (eq (sz, log.count, 3), "read by the other instance");
    uint64_t positions [] = {1, 2, 4};
    for (size_t index = 0; index < 3; index++) {
        cr_assert (eq (u64, log.seen [index].seq, index + 1));
        cr_assert (eq (u64, log.seen [index].position, positions [index]));
    }
    cr_assert (eq (sz, s_log_of (one, "order-a", 3).count, 1));
    uint64_t seq = 0;
    cr_assert (eq (int, zmesh_store_log_head (one, "order-b", &seq), 0));
    cr_assert (eq (u64, seq, 2));
    cr_assert (eq (int, zmesh_store_log_head (one, "order-c", &seq), 0));
    cr_assert (eq (u64, seq, 0));

    //  Everything before position 5 goes, but each log's last event
    cr_assert (eq (int, zmesh_store_trim (one, 5, NULL), 0));
    cr_assert (eq (int, zmesh_store_log_earliest (one, "order-a", &seq), 0));
    cr_assert (eq (u64, seq, 3));
    cr_assert (eq (int, zmesh_store_log_head (one, "order-a", &seq), 0));
    cr_assert (eq (u64, seq, 3));
    result = s_append_to (one, "order-3", 1);
    cr_assert (eq (u64, result.first_seq, 4), "the log goes on after a trim");
    cr_assert (eq (int, zmesh_store_log_earliest (one, "order-c", &seq), 0));
    cr_assert (eq (u64, seq, 1));
    cr_assert (eq (int, zmesh_store_publish_as (one, "not a name", NULL),
                   ZMESH_ERR_INVALID));
    zmesh_store_close (&one);
    zmesh_store_close (&two);
}

//  What was appended under no publisher's name (a tool, or a store from
//  before logs) is the log of the first publisher that has none.
Test (store, the_log_of_nobody_goes_to_the_first_publisher)
{
    s_open ();
    zmesh_append_result_t result;
    s_append ("order-1", ZMESH_VERSION_ANY, 3, &result);
    cr_assert (eq (u64, result.first_seq, 1));
    zmesh_store_t *owner = s_open_as ("order");
    cr_assert (eq (sz, s_log_of (owner, "order", 1).count, 3));
    cr_assert (eq (sz, s_log_of (owner, "", 1).count, 0));
    cr_assert (eq (u64, s_append_to (owner, "order-1", 1).first_seq, 4));
    zmesh_store_t *other = s_open_as ("order-b");
    cr_assert (eq (sz, s_log_of (other, "order-b", 1).count, 0));
    cr_assert (eq (sz, s_log_of (other, "order", 1).count, 4));
    zmesh_store_close (&owner);
    zmesh_store_close (&other);
}

#ifndef ZMESH_STORE_PG
//  A file of schema 3 (before logs and consumers in positions) is migrated
//  on open, its log and positions kept, and both become its node's.
Test (store, a_store_of_schema_3_keeps_its_log_and_positions)
{
    s_sql ("CREATE TABLE events (position INTEGER PRIMARY KEY, stream TEXT "
           "NOT NULL, version INTEGER NOT NULL, id BLOB NOT NULL UNIQUE, type "
           "TEXT NOT NULL, body BLOB, correlation BLOB NOT NULL, causation "
           "BLOB, timestamp INTEGER NOT NULL, UNIQUE (stream, version));"
           "CREATE TABLE snapshots (stream TEXT PRIMARY KEY, version INTEGER "
           "NOT NULL, state BLOB NOT NULL);"
           "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
           "CREATE TABLE inbox_positions (publisher TEXT PRIMARY KEY, seq "
           "INTEGER NOT NULL);"
           "CREATE TABLE inbox_processed (event_id BLOB PRIMARY KEY, at "
           "INTEGER NOT NULL);"
           "CREATE TABLE inbox_dead (event_id BLOB PRIMARY KEY, publisher "
           "TEXT NOT NULL, seq INTEGER NOT NULL, envelope BLOB NOT NULL, "
           "error TEXT NOT NULL, attempts INTEGER NOT NULL, at INTEGER NOT "
           "NULL);"
           "CREATE TABLE inbox_replies (request_id BLOB PRIMARY KEY, reply "
           "BLOB NOT NULL, at INTEGER NOT NULL);"
           "INSERT INTO events VALUES (7, 'order-1', 1, x'0102030405060708090a"
           "0b0c0d0e0f10', 'order.placed', NULL, x'0102030405060708090a0b0c0d"
           "0e0f11', NULL, 1764374400000);"
           "INSERT INTO inbox_positions VALUES ('payment', 41);"
           "PRAGMA user_version = 3;", "");
    zmesh_store_t *owner = s_open_as ("order");
    s_collect_t log = s_log_of (owner, "order", 1);
    cr_assert (eq (sz, log.count, 1));
    cr_assert (eq (u64, log.seen [0].seq, 7), "published as 7: still 7");
    cr_assert (eq (u64, s_append_to (owner, "order-2", 1).first_seq, 8));
    zmesh_store_close (&owner);
    sqlite3 *db;
    sqlite3_stmt *statement;
    cr_assert (sqlite3_open (path, &db) == SQLITE_OK);
    cr_assert (sqlite3_prepare_v2 (db, "SELECT consumer, seq FROM "
                                       "inbox_positions WHERE publisher = "
                                       "'payment'", -1, &statement, NULL)
               == SQLITE_OK);
    cr_assert (eq (int, sqlite3_step (statement), SQLITE_ROW));
    cr_assert (eq (str, (char *) sqlite3_column_text (statement, 0), "order"));
    cr_assert (eq (int, sqlite3_column_int (statement, 1), 41));
    sqlite3_finalize (statement);
    cr_assert (eq (int, sqlite3_prepare_v2 (db, "PRAGMA user_version", -1,
                                            &statement, NULL), SQLITE_OK));
    cr_assert (eq (int, sqlite3_step (statement), SQLITE_ROW));
    cr_assert (eq (int, sqlite3_column_int (statement, 0),
                   ZMESH_STORE_SCHEMA));
    sqlite3_finalize (statement);
    sqlite3_close (db);
}
#endif

Test (store, a_corrupt_body_is_reported_with_its_position)
{
    s_open ();
    zmesh_append_result_t result;
    s_append ("order-1", ZMESH_VERSION_ANY, 3, &result);
    s_sql ("UPDATE events SET body = x'c1' WHERE position = 2",
           "UPDATE events SET body = '\\xc1' WHERE position = 2");
    s_collect_t collect = {.count = 0};
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_read_stream (store, "order-1", 1, false, 0,
                                                 s_collect, &collect, &detail),
                   ZMESH_ERR_STORE_CORRUPT));
    cr_assert (eq (sz, collect.count, 1), "the events before it were read");
    cr_assert (strstr (detail.text, "position 2") != NULL, "%s", detail.text);
    s_sql ("UPDATE events SET body = NULL, id = x'0102' WHERE position = 2",
           "UPDATE events SET body = NULL, id = '\\x0102' WHERE position = 2");
    collect.count = 0;
    cr_assert (eq (int, zmesh_store_read_all (store, 1, 0, s_collect, &collect,
                                              &detail),
                   ZMESH_ERR_STORE_CORRUPT));
    cr_assert (strstr (detail.text, "16 bytes") != NULL, "%s", detail.text);
}

Test (store, a_file_from_a_newer_zmesh_is_refused_untouched)
{
    s_open ();
    zmesh_store_close (&store);
    s_sql ("PRAGMA user_version = 99", "INSERT INTO zmesh_schema VALUES (99)");
    zmesh_detail_t detail = {""};
    cr_assert (zmesh_store_open (path, true, &detail) == NULL);
    cr_assert (strstr (detail.text, "schema 99 is newer") != NULL, "%s",
               detail.text);
}

#ifndef ZMESH_STORE_PG
Test (store, a_file_that_is_not_a_database_is_refused)
{
    FILE *file = fopen (path, "w");
    for (int index = 0; index < 1000; index++)
        fputs ("not a database ", file);
    fclose (file);
    zmesh_detail_t detail = {""};
    cr_assert (zmesh_store_open (path, true, &detail) == NULL);
    cr_assert (strstr (detail.text, "not a database") != NULL, "%s",
               detail.text);
    cr_assert (zmesh_store_open ("/nonexistent/dir/events.db", true, &detail)
               == NULL);
    cr_assert (strstr (detail.text, "cannot open") != NULL, "%s", detail.text);
}
#else
Test (store, a_server_that_is_not_there_is_refused)
{
    zmesh_detail_t detail = {""};
    cr_assert (zmesh_store_open ("postgresql:///postgres?host=/nonexistent&"
                                 "user=zmesh&password=secret", true, &detail)
               == NULL);
    cr_assert (strstr (detail.text, "cannot connect") != NULL, "%s",
               detail.text);
}
#endif

Test (store, snapshots_keep_only_the_newest)
{
    s_open ();
    cr_assert (eq (int, zmesh_store_save_snapshot (store, "order-1", 100,
                                                   "\x01", 1), 0));
    cr_assert (eq (int, zmesh_store_save_snapshot (store, "order-1", 50,
                                                   "\x02", 1), 0));
    void *state;
    size_t size;
    int64_t version;
    cr_assert (eq (int, zmesh_store_load_snapshot (store, "order-1", &state,
                                                   &size, &version), 0));
    cr_assert (eq (i64, version, 100), "an older snapshot does not replace");
    cr_assert (eq (int, ((uint8_t *) state) [0], 1));
    free (state);
    cr_assert (eq (int, zmesh_store_load_snapshot (store, "order-2", &state,
                                                   &size, &version), 0));
    cr_assert (state == NULL);
    cr_assert (eq (i64, version, 0));
}

Test (store, savepoints_take_back_only_what_came_after_them)
{
    s_open ();
    zmesh_append_result_t result;
    cr_assert (eq (int, zmesh_store_begin (store, NULL), 0));
    cr_assert (eq (int, s_append ("a", ZMESH_VERSION_ANY, 1, &result), 0));
    //  Inner savepoints nest inside outer ones, and end innermost first.
    cr_assert (eq (int, zmesh_store_savepoint (store, NULL), 0));
    cr_assert (eq (int, s_append ("b", ZMESH_VERSION_ANY, 1, &result), 0));
    cr_assert (eq (int, zmesh_store_savepoint (store, NULL), 0));
    cr_assert (eq (int, s_append ("c", ZMESH_VERSION_ANY, 1, &result), 0));
    zmesh_store_rollback_to (store);                    //  c goes
    cr_assert (eq (u64, s_head (), 2));
    cr_assert (eq (int, zmesh_store_release (store, NULL), 0));  //  b stays
    cr_assert (eq (int, zmesh_store_savepoint (store, NULL), 0));
    cr_assert (eq (int, s_append ("d", ZMESH_VERSION_ANY, 2, &result), 0));
    zmesh_store_rollback_to (store);                    //  d goes
    cr_assert (eq (int, zmesh_store_commit (store, NULL), 0));
    cr_assert (eq (u64, s_head (), 2));
    int64_t version = -1;
    cr_assert (eq (int, zmesh_store_version (store, "b", &version), 0));
    cr_assert (eq (i64, version, 1));
    cr_assert (eq (int, zmesh_store_version (store, "c", &version), 0));
    cr_assert (eq (i64, version, 0));
    //  Outside a transaction, there is nothing to mark.
    cr_assert (eq (int, zmesh_store_release (store, NULL), ZMESH_ERR_STORE));
}

//  Appends one after another in one transaction, as a node's group makes
//  them (on SQLite, from what the append before left, without reading):
//  versions and positions go on from each other, a retry is still found
//  to be one, a wrong expected version is still refused, and what a
//  savepoint takes back is given again.
Test (store, appends_in_one_transaction_go_on_from_each_other)
{
    s_open ();
    zmesh_append_result_t result;
    cr_assert (eq (int, zmesh_store_begin (store, NULL), 0));
    for (int64_t index = 0; index < 3; index++) {
        cr_assert (eq (int, s_append ("s", index, 1, &result), 0));
        cr_assert (eq (u64, result.first_position, (uint64_t) index + 1));
        cr_assert (eq (u64, result.first_seq, (uint64_t) index + 1));
        cr_assert (eq (i64, result.version, index + 1));
    }
    //  The fourth, then its retry: the same, not a fifth
    zmesh_new_event_t event = *s_events (1);
    cr_assert (eq (int, zmesh_store_append (store, "s", ZMESH_VERSION_ANY,
                                            &event, 1, &result, NULL), 0));
    cr_assert (eq (u64, result.first_position, 4));
    cr_assert (eq (int, zmesh_store_append (store, "s", ZMESH_VERSION_ANY,
                                            &event, 1, &result, NULL), 0));
    cr_assert (result.duplicate);
    cr_assert (eq (u64, result.first_position, 4));
    cr_assert (eq (i64, result.version, 4));
    cr_assert (eq (int, s_append ("s", 1, 1, &result), ZMESH_ERR_CONCURRENCY));
    cr_assert (eq (i64, result.version, 4));
    cr_assert (eq (int, zmesh_store_savepoint (store, NULL), 0));
    cr_assert (eq (int, s_append ("s", 4, 1, &result), 0));
    cr_assert (eq (u64, result.first_position, 5));
    zmesh_store_rollback_to (store);
    cr_assert (eq (int, s_append ("s", ZMESH_VERSION_ANY, 1, &result), 0));
    cr_assert (eq (i64, result.version, 5), "version 5 was taken back");
    cr_assert (eq (u64, result.first_position, 5));
    cr_assert (eq (u64, result.first_seq, 5));
    cr_assert (eq (int, zmesh_store_commit (store, NULL), 0));
    cr_assert (eq (u64, s_head (), 5));
    int64_t version = -1;
    cr_assert (eq (int, zmesh_store_version (store, "s", &version), 0));
    cr_assert (eq (i64, version, 5));
}

//  Events a node made, count of them, appended one at a time as its group
//  does (on SQLite their rows wait and go in together).
static void
s_append_new (const char *stream, size_t count, uint64_t first_position)
{
    for (size_t index = 0; index < count; index++) {
        zmesh_append_result_t result;
        zmesh_detail_t detail = {""};
        cr_assert (eq (int, zmesh__store_append_new (
                                store, stream, ZMESH_VERSION_ANY, s_events (1),
                                1, &result, &detail), 0), "%s", detail.text);
        cr_assert (eq (u64, result.first_position, first_position + index));
    }
}

static bool
s_count (const zmesh_stored_event_t *event, void *arg)
{
    size_t *count = arg;
    cr_assert (eq (i64, event->version, (int64_t) ++*count));
    return true;
}

//  Whatever reads the store sees the events appended before it, even those
//  whose rows were waiting; what is rolled back is gone, rows waiting
//  too; and rows that cannot be written fail the commit, not silently.
Test (store, events_appended_together_are_seen_and_taken_back_as_any)
{
    s_open ();
    cr_assert (eq (int, zmesh_store_begin (store, NULL), 0));
    s_append_new ("s", 300, 1);     //  Batches of rows; PostgreSQL: syncs
    size_t count = 0;
    cr_assert (eq (int, zmesh_store_read_stream (store, "s", 1, false, 0,
                                                 s_count, &count, NULL), 0));
    cr_assert (eq (sz, count, 300), "read before the commit");
    s_append_new ("s", 5, 301);
    cr_assert (eq (int, zmesh_store_savepoint (store, NULL), 0));
    s_append_new ("s", 7, 306);
    zmesh_store_rollback_to (store);            //  The 7 go
    s_append_new ("s", 1, 306);
    cr_assert (eq (int, zmesh_store_commit (store, NULL), 0));
    cr_assert (eq (u64, s_head (), 306));
    count = 0;
    cr_assert (eq (int, zmesh_store_read_stream (store, "s", 1, false, 0,
                                                 s_count, &count, NULL), 0));
    cr_assert (eq (sz, count, 306));

    cr_assert (eq (int, zmesh_store_begin (store, NULL), 0));
    s_append_new ("s", 3, 307);
    zmesh_store_rollback (store);
    cr_assert (eq (u64, s_head (), 306), "the 3 were rolled back");

#ifndef ZMESH_STORE_PG
    //  An id that is not new after all: the append has said yes, so the
    //  commit must say no, and the store goes on after the rollback (on
    //  PostgreSQL, where no rows wait, the append finds the duplicate)
    zmesh_new_event_t copy = *s_events (1);
    zmesh_append_result_t result;
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_append (store, "t", ZMESH_VERSION_ANY,
                                            &copy, 1, &result, NULL), 0));
    cr_assert (eq (int, zmesh_store_begin (store, NULL), 0));
    s_append_new ("s", 2, 308);
    cr_assert (eq (int, zmesh__store_append_new (store, "s", ZMESH_VERSION_ANY,
                                                 &copy, 1, &result, NULL), 0));
    uint64_t head;
    cr_assert (ne (int, zmesh_store_head (store, &head), 0),
               "the next statement writes the rows, and fails");
    cr_assert (ne (int, zmesh_store_commit (store, &detail), 0),
               "a transaction that lost rows was committed");
    cr_assert (strstr (detail.text, "rolled back") != NULL, "%s", detail.text);
    zmesh_store_rollback (store);
    cr_assert (eq (u64, s_head (), 307));
    s_append_to (store, "s", 1);
    cr_assert (eq (u64, s_head (), 308));
#endif
}

//  A group member asks, for the events another member owns, how many at
//  the front are processed: one query for a batch, stopping at the first
//  that is not.
Test (store, processed_ids_are_found_a_batch_at_a_time_up_to_the_first_not)
{
    s_open ();
    zmesh_uuid_t ids [ZMESH__INBOX_BATCH];
    for (int index = 0; index < ZMESH__INBOX_BATCH; index++)
        zmesh_uuid_generate (rand_source, &ids [index]);
    size_t seen = 99;
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids, 0, &seen), 0));
    cr_assert (eq (sz, seen, 0));
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids, 5, &seen), 0));
    cr_assert (eq (sz, seen, 0));
    //  0, 1, 2 and 4 processed, not 3
    int marked [] = {0, 1, 2, 4};
    for (int index = 0; index < 4; index++)
        cr_assert (eq (int, zmesh__inbox_mark (store, &ids [marked [index]],
                                               1000), 0));
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids, 5, &seen), 0));
    cr_assert (eq (sz, seen, 3));
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids, 2, &seen), 0));
    cr_assert (eq (sz, seen, 2));
    for (int index = 3; index < ZMESH__INBOX_BATCH; index++)
        if (index != 4)
            cr_assert (eq (int, zmesh__inbox_mark (store, &ids [index], 1000),
                           0));
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids,
                                                  ZMESH__INBOX_BATCH, &seen),
                   0));
    cr_assert (eq (sz, seen, ZMESH__INBOX_BATCH));
    cr_assert (eq (int, zmesh__inbox_seen_prefix (store, ids + 4, 1, &seen),
                   0));
    cr_assert (eq (sz, seen, 1));
}

//  An event's id is recorded once. A member of a group that handled an
//  event after another member did (each took itself to own it for a
//  moment) records it again, and is refused: when it records it, or, on
//  PostgreSQL, where the record waits in the pipeline, when it commits.
Test (store, an_id_recorded_again_is_refused)
{
    s_open ();
    zmesh_uuid_t id;
    zmesh_uuid_generate (rand_source, &id);
    cr_assert (eq (int, zmesh__inbox_mark (store, &id, 1000), 0));
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_store_begin (store, &detail), 0));
    zmesh_err_t rc = zmesh__inbox_mark (store, &id, 2000);
    if (rc == ZMESH_OK)
        rc = zmesh_store_commit (store, &detail);
    cr_assert (ne (int, rc, ZMESH_OK), "recorded twice");
    zmesh_store_rollback (store);
    bool seen = false;
    cr_assert (eq (int, zmesh__inbox_seen (store, &id, &seen), 0));
    cr_assert (seen, "the first record stands");
}

#ifndef ZMESH_STORE_PG
Test (store, a_new_store_is_its_owners_alone)
{
    s_open ();
    struct stat status;
    cr_assert (eq (int, stat (path, &status), 0));
    cr_assert (eq (int, (int) (status.st_mode & 0777), 0600));
}
#endif
