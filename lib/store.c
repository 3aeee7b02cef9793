/*  store.c - the event store on SQLite or PostgreSQL: appends under
    expected versions, publishers' logs, transactions and savepoints. Its
    schema (store_schema.c), reads (store_read.c), retention
    (retention.c), subscriptions (store_sub.c) and snapshots (snapshot.c)
    keep to the same database.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"
#include "store_rows.h"
#include "db.h"

struct _zmesh_store_t {
    zmesh__db_t *db;
    char *path;
    char publisher [ZMESH_ENVELOPE_SOURCE_MAX + 1];  //  Appends go in its log
    //  The heads and the stream's version after the last append inside a
    //  write transaction, for the next one in it (s_append_known)
    struct {
        uint64_t transaction;       //  zmesh__db_transaction's; 0: none
        int64_t head, log_head, version;
        char stream [ZMESH_STREAM_MAX + 1];
    } known;
    zmesh__rows_t *rows;            //  SQLite: rows waiting (store_rows.h),
    uint64_t rows_transaction;      //  for this transaction
    uint64_t doomed;                //  One whose rows could not be written
};

zmesh_store_t *
zmesh_store_open (const char *path, bool synced, zmesh_detail_t *detail)
{
    assert (path);
    zmesh_store_t *self = zmesh__calloc (1, sizeof *self);
    if (!self || !(self->path = zmesh__strndup (path, strlen (path)))) {
        zmesh__detail (detail, "store %s: out of memory", path);
        zmesh__free (self);
        return NULL;
    }
    //  A URI's password is not for the logs
    if (zmesh__db_path_is_pg (path)) {
        char *at = strchr (self->path, '@');
        char *colon = strchr (strstr (self->path, "://") + 3, ':');
        if (at && colon && colon < at)
            memset (colon + 1, '*', (size_t) (at - colon - 1));
    }
    self->db = zmesh__db_open (path, synced, detail);
    zmesh_err_t rc = self->db ? zmesh__store_migrate (self->db, self->path,
                                                      detail)
                              : ZMESH_ERR_STORE;
    if (rc == ZMESH_OK && !zmesh__db_is_pg (self->db)
        && !(self->rows = zmesh__rows_new ())) {
        zmesh__detail (detail, "store %s: out of memory", path);
        rc = ZMESH_ERR_NOMEM;
    }
    if (rc) {
        zmesh_store_close (&self);
        return NULL;
    }
    return self;
}

void
zmesh_store_close (zmesh_store_t **self_p)
{
    assert (self_p);
    zmesh_store_t *self = *self_p;
    if (!self)
        return;
    //  Rows still waiting are of a transaction that closing rolls back
    zmesh__rows_destroy (&self->rows);
    zmesh__db_close (&self->db);
    zmesh__free (self->path);
    zmesh__free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Appending

static bool
s_stream_valid (const char *stream)
{
    //  Stream names are type names that may also hold '-' ids: the same
    //  characters, and a longer limit.
    return zmesh_envelope_name_valid (stream, ZMESH_STREAM_MAX);
}

//  Insert the rows waiting (store_rows.h): before any other statement on
//  the connection, so that every statement sees what was appended before
//  it. If that fails, the appends that kept them have said they were
//  made: their transaction is doomed, its commit to fail.
static zmesh_err_t
s_flush (zmesh_store_t *self, zmesh_detail_t *detail)
{
    if (!self->rows || zmesh__rows_count (self->rows) == 0)
        return ZMESH_OK;
    zmesh_err_t rc = ZMESH_ERR_STORE;
    if (self->rows_transaction == zmesh__db_transaction (self->db))
        rc = zmesh__rows_insert (self->rows, self->db, self->publisher,
                                 detail);
    else {
        zmesh__rows_clear (self->rows);
        zmesh__detail (detail, "store %s: the transaction of events waiting "
                       "to be written ended", self->path);
    }
    if (rc) {
        self->doomed = self->rows_transaction;
        self->known.transaction = 0;
    }
    return rc;
}

//  The statement kept for sql, with detail if it cannot be prepared, or
//  if the transaction is doomed.
static zmesh__stmt_t *
s_statement (zmesh_store_t *self, const char *sql, zmesh_detail_t *detail)
{
    if (s_flush (self, detail))
        return NULL;
    if (self->doomed && self->doomed == zmesh__db_transaction (self->db)) {
        zmesh__detail (detail, "store %s: events of this transaction could "
                       "not be written: it can only be rolled back",
                       self->path);
        return NULL;
    }
    return zmesh__db_prepare (self->db, sql, detail);
}

//  Run statement (parameters bound) for its one integer, then reset it.
static zmesh_err_t
s_query_int (zmesh_store_t *self, zmesh__stmt_t *statement, int64_t *value,
             zmesh_detail_t *detail)
{
    zmesh__db_step_t step = zmesh__stmt_step (statement);
    if (step == ZMESH__DB_ROW)
        *value = zmesh__stmt_column_int (statement, 0);
    zmesh__stmt_reset (statement);
    return step == ZMESH__DB_ROW ? ZMESH_OK
                                 : STORE_ERROR (detail, self, "query failed");
}

//  Run sql (one statement, no parameters, no rows).
static zmesh_err_t
s_run (zmesh_store_t *self, const char *sql, zmesh_detail_t *detail)
{
    zmesh__stmt_t *statement = s_statement (self, sql, detail);
    if (!statement)
        return ZMESH_ERR_STORE;
    return zmesh__stmt_run (statement) == ZMESH__DB_DONE
         ? ZMESH_OK : STORE_ERROR (detail, self, sql);
}

//  Run sql (no rows) without waiting for it: zmesh__stmt_queue.
static zmesh_err_t
s_queue (zmesh_store_t *self, const char *sql, zmesh_detail_t *detail)
{
    zmesh__stmt_t *statement = s_statement (self, sql, detail);
    if (!statement)
        return ZMESH_ERR_STORE;
    return zmesh__stmt_queue (statement) == ZMESH__DB_DONE
         ? ZMESH_OK : STORE_ERROR (detail, self, sql);
}

//  The last of column in events, among those where (SQL) says: as the
//  first entry of an index read backwards, never as MAX (column), for
//  which PostgreSQL may keep a plan, made while the table was empty, that
//  reads every entry of the stream or the log to find the largest.
#define LAST_OF(column, where)                                          \
    "(SELECT " column " FROM events " where " ORDER BY " column         \
    " DESC LIMIT 1)"

#define VERSION_OF_SQL                                                  \
    "SELECT COALESCE (" LAST_OF ("version", "WHERE stream = ?") ", 0)"

//  Trimming may empty the table: the head is remembered in meta.
#define HEAD_OF(greatest)                                               \
    greatest " (COALESCE (" LAST_OF ("position", "") ", 0),"            \
    " COALESCE ((SELECT value FROM meta WHERE key = 'trimmed_before'),"  \
    " 1) - 1)"
#define HEAD_OF_LITE    HEAD_OF ("MAX")
#define HEAD_OF_PG      HEAD_OF ("GREATEST")

static const char *
s_head_sql (zmesh_store_t *self)
{
    return zmesh__db_is_pg (self->db) ? "SELECT " HEAD_OF_PG
                                      : "SELECT " HEAD_OF_LITE;
}

//  The last sequence in a publisher's log (trimming keeps each log's last
//  event, so it survives).
#define LOG_HEAD_SQL                                                    \
    "COALESCE (" LAST_OF ("seq", "WHERE publisher = ?") ", 0)"

//  An append's reads, in one statement (one round trip to a server):
//  whether the id of its first event is stored already (a retry), the
//  stream's version, the head, and the head of the store's publisher's log.
static zmesh_err_t
s_append_reads (zmesh_store_t *self, const char *stream,
                const zmesh_uuid_t *first, bool *stored, int64_t *version,
                int64_t *head, int64_t *log_head, zmesh_detail_t *detail)
{
#define APPEND_READS_SQL(head_of)                                        \
    "SELECT COALESCE (" LAST_OF ("version", "WHERE stream = ?") ", 0), " \
    head_of ", " LOG_HEAD_SQL ", CASE WHEN EXISTS (SELECT 1 FROM events "  \
    "WHERE id = ?) THEN 1 ELSE 0 END"
    zmesh__stmt_t *statement = s_statement (
        self, zmesh__db_is_pg (self->db) ? APPEND_READS_SQL (HEAD_OF_PG)
                                         : APPEND_READS_SQL (HEAD_OF_LITE),
        detail);
#undef APPEND_READS_SQL
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, stream);
    zmesh__stmt_text (statement, 2, self->publisher);
    zmesh__stmt_blob (statement, 3, first->bytes, ZMESH_UUID_SIZE);
    zmesh__db_step_t step = zmesh__stmt_step (statement);
    if (step == ZMESH__DB_ROW) {
        *version = zmesh__stmt_column_int (statement, 0);
        *head = zmesh__stmt_column_int (statement, 1);
        *log_head = zmesh__stmt_column_int (statement, 2);
        *stored = zmesh__stmt_column_int (statement, 3) != 0;
    }
    zmesh__stmt_reset (statement);
    return step == ZMESH__DB_ROW ? ZMESH_OK
                                 : STORE_ERROR (detail, self, "query failed");
}

//  Run sql, with text for its one parameter, for its one integer.
static zmesh_err_t
s_query_text_int (zmesh_store_t *self, const char *sql, const char *text,
                  int64_t *value, zmesh_detail_t *detail)
{
    zmesh__stmt_t *statement = s_statement (self, sql, detail);
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, text);
    return s_query_int (self, statement, value, detail);
}

static zmesh_err_t
s_head (zmesh_store_t *self, int64_t *head, zmesh_detail_t *detail)
{
    zmesh__stmt_t *statement = s_statement (self, s_head_sql (self), detail);
    return statement ? s_query_int (self, statement, head, detail)
                     : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh_store_version (zmesh_store_t *self, const char *stream,
                     int64_t *version)
{
    assert (self && stream && version);
    return s_query_text_int (self, VERSION_OF_SQL, stream, version, NULL);
}

zmesh_err_t
zmesh_store_head (zmesh_store_t *self, uint64_t *position)
{
    assert (self && position);
    int64_t value = 0;
    zmesh_err_t rc = s_head (self, &value, NULL);
    *position = (uint64_t) value;
    return rc;
}

zmesh_err_t
zmesh_store_publish_as (zmesh_store_t *self, const char *publisher,
                        zmesh_detail_t *detail)
{
    assert (self && publisher);
    if (!zmesh_envelope_name_valid (publisher, ZMESH_ENVELOPE_SOURCE_MAX)) {
        zmesh__detail (detail, "store %s: '%s' is not a publisher's name",
                       self->path, publisher);
        return ZMESH_ERR_INVALID;
    }
    //  The rows of a store from before logs had publishers, or appended
    //  with none, are the log of the first publisher to open it; and so
    //  are the positions it kept as a consumer.
    static const char *claims [] = {
        "UPDATE events SET publisher = ? WHERE publisher = '' AND NOT "
        "EXISTS (SELECT 1 FROM events WHERE publisher = ?)",
        "UPDATE inbox_positions SET consumer = ? WHERE consumer = '' AND NOT "
        "EXISTS (SELECT 1 FROM inbox_positions WHERE consumer = ?)"};
    for (size_t index = 0; index < 2; index++) {
        zmesh__stmt_t *claim = s_statement (self, claims [index], detail);
        if (!claim)
            return ZMESH_ERR_STORE;
        zmesh__stmt_text (claim, 1, publisher);
        zmesh__stmt_text (claim, 2, publisher);
        if (zmesh__stmt_run (claim) != ZMESH__DB_DONE)
            return STORE_ERROR (detail, self, "cannot take the log of before");
    }
    snprintf (self->publisher, sizeof self->publisher, "%s", publisher);
    self->known.transaction = 0;
    return ZMESH_OK;
}

zmesh_err_t
zmesh__store_claim_group (zmesh_store_t *self, const char *group,
                          zmesh_detail_t *detail)
{
    assert (self && group);
    //  meta holds integers: the group's name as a 62-bit FNV-1a hash
    uint64_t hash = 14695981039346656037ULL;
    for (const char *byte = group; *byte; byte++)
        hash = (hash ^ (uint8_t) *byte) * 1099511628211ULL;
    int64_t mine = (int64_t) (hash >> 2), owner = -1;
    zmesh__stmt_t *claim = s_statement (
        self, "INSERT INTO meta (key, value) VALUES ('group', ?) ON CONFLICT "
              "(key) DO NOTHING", detail);
    if (!claim)
        return ZMESH_ERR_STORE;
    zmesh__stmt_int (claim, 1, mine);
    if (zmesh__stmt_run (claim) != ZMESH__DB_DONE)
        return STORE_ERROR (detail, self, "cannot record its group");
    zmesh__stmt_t *read = s_statement (
        self, "SELECT value FROM meta WHERE key = 'group'", detail);
    zmesh_err_t rc = read ? s_query_int (self, read, &owner, detail)
                          : ZMESH_ERR_STORE;
    if (rc == ZMESH_OK && owner != mine) {
        zmesh__detail (detail, "store %s belongs to another service than %s: "
                       "give each service a database (or schema) of its own "
                       "(proto/store.md)", self->path, group);
        rc = ZMESH_ERR_CONFIG;
    }
    return rc;
}

const char *
zmesh_store_publisher (zmesh_store_t *self)
{
    assert (self);
    return self->publisher;
}

zmesh_err_t
zmesh_store_log_head (zmesh_store_t *self, const char *publisher,
                      uint64_t *seq)
{
    assert (self && publisher && seq);
    int64_t value = 0;
    zmesh_err_t rc = s_query_text_int (self, "SELECT " LOG_HEAD_SQL, publisher,
                                       &value, NULL);
    *seq = (uint64_t) value;
    return rc;
}

zmesh_err_t
zmesh_store_log_earliest (zmesh_store_t *self, const char *publisher,
                          uint64_t *seq)
{
    assert (self && publisher && seq);
    int64_t value = 1;
    zmesh_err_t rc = s_query_text_int (
        self, "SELECT COALESCE ((SELECT seq FROM events WHERE publisher = ? "
              "ORDER BY seq LIMIT 1), 1)",
        publisher, &value, NULL);
    *seq = value < 1 ? 1 : (uint64_t) value;
    return rc;
}

static zmesh_err_t
s_check_events (const char *stream, const zmesh_new_event_t *events,
                size_t count, zmesh_detail_t *detail)
{
    if (!s_stream_valid (stream)) {
        zmesh__detail (detail, "stream name '%s' is not 1 to %d characters "
                       "of [A-Za-z0-9._-]", stream ? stream : "(null)",
                       ZMESH_STREAM_MAX);
        return ZMESH_ERR_INVALID;
    }
    for (size_t index = 0; index < count; index++) {
        const zmesh_new_event_t *event = &events [index];
        size_t end;
        if (event->body_size > ZMESH_STORE_BODY_MAX) {
            zmesh__detail (detail, "event %zu of %zu: a body of %zu bytes; a "
                           "stored event's is at most %d, so that it can be "
                           "replayed", index + 1, count, event->body_size,
                           ZMESH_STORE_BODY_MAX);
            return ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE;
        }
        if (event->key && *event->key && !s_stream_valid (event->key)) {
            zmesh__detail (detail, "event %zu of %zu: a key is a name like a "
                           "stream's", index + 1, count);
            return ZMESH_ERR_INVALID;
        }
        if (!zmesh_envelope_name_valid (event->type, ZMESH_ENVELOPE_TYPE_MAX)
            || zmesh_uuid_is_nil (&event->id)
            || zmesh_uuid_is_nil (&event->correlation)
            || (event->body_size
                && (zmesh__msgpack_check (event->body, event->body_size, &end,
                                          NULL) != ZMESH_OK
                    || end != event->body_size))) {
            zmesh__detail (detail, "event %zu of %zu: needs a type name, "
                           "ids, and a body of one msgpack value", index + 1,
                           count);
            return ZMESH_ERR_INVALID;
        }
    }
    return ZMESH_OK;
}

//  A retried append: if the first event's id is stored, the whole call
//  must be, in the same stream and order; then report where it went.
static zmesh_err_t
s_find_duplicate (zmesh_store_t *self, const char *stream,
                  const zmesh_new_event_t *events, size_t count,
                  zmesh_append_result_t *result, bool *found,
                  zmesh_detail_t *detail)
{
    *found = false;
    zmesh__stmt_t *find = s_statement (
        self, "SELECT position, stream, version, seq FROM events WHERE "
              "id = ?",
        detail);
    if (!find)
        return ZMESH_ERR_STORE;
    uint64_t first = 0, first_seq = 0;
    for (size_t index = 0; index < count; index++) {
        zmesh__stmt_blob (find, 1, events [index].id.bytes, ZMESH_UUID_SIZE);
        zmesh__db_step_t step = zmesh__stmt_step (find);
        bool stored = step == ZMESH__DB_ROW;
        uint64_t position = stored ? (uint64_t) zmesh__stmt_column_int (find, 0)
                                   : 0;
        const char *was = stored ? zmesh__stmt_column_text (find, 1) : NULL;
        bool same = stored && was && streq (was, stream)
                 && (index == 0 || position == first + index);
        int64_t version = stored ? zmesh__stmt_column_int (find, 2) : 0;
        uint64_t seq = stored ? (uint64_t) zmesh__stmt_column_int (find, 3)
                              : 0;
        zmesh__stmt_reset (find);
        if (step != ZMESH__DB_ROW && step != ZMESH__DB_DONE)
            return STORE_ERROR (detail, self, "cannot look up an event id");
        if (index == 0) {
            if (!stored)
                return ZMESH_OK;
            first = position;
            first_seq = seq;
        }
        if (!same) {
            char text [ZMESH_UUID_STR_LEN + 1];
            zmesh__detail (detail, "event %s is %s, but the call is not a "
                           "retry of the append that stored it",
                           zmesh_uuid_unparse (&events [index].id, text),
                           stored ? "stored" : "new");
            return ZMESH_ERR_STORE_DUPLICATE;
        }
        result->last_position = position;
        result->last_seq = seq;
        result->version = version;
    }
    result->first_position = first;
    result->first_seq = first_seq;
    result->duplicate = true;
    *found = true;
    return ZMESH_OK;
}

static bool
s_expected_ok (int64_t expected, int64_t actual)
{
    switch (expected) {
        case ZMESH_VERSION_ANY: return true;
        case ZMESH_VERSION_NO_STREAM: return actual == 0;
        case ZMESH_VERSION_EXISTS: return actual > 0;
        default: return expected == actual;
    }
}

//  What an insert's step says, as an append's error.
static zmesh_err_t
s_insert_rc (zmesh_store_t *self, zmesh__db_step_t step,
             zmesh_detail_t *detail)
{
    if (step == ZMESH__DB_DONE)
        return ZMESH_OK;
    if (step == ZMESH__DB_CONSTRAINT) {
        zmesh__detail (detail, "an event id of the call appears twice");
        return ZMESH_ERR_STORE_DUPLICATE;
    }
    return STORE_ERROR (detail, self, "cannot insert");
}

//  Insert an event's row: it goes with the next statement
//  (zmesh__stmt_queue; SQLite runs it now), and a failure of the server's
//  shows there, at the latest at the commit, or at s_inserted. One
//  appended alone cannot be refused: its id, stream version, position and
//  sequence were all read free under the write lock.
static zmesh_err_t
s_insert (zmesh_store_t *self, const char *stream, uint64_t position,
          int64_t version, uint64_t seq, const zmesh_new_event_t *event,
          zmesh_detail_t *detail)
{
    zmesh__stmt_t *insert = s_statement (
        self, "INSERT INTO events (" ZMESH__ROW_COLUMNS ") VALUES "
              ZMESH__ROW_PARAMS, detail);
    if (!insert)
        return ZMESH_ERR_STORE;
    zmesh__row_bind (insert, 1, stream, position, version, seq,
                     self->publisher, event);
    return s_insert_rc (self, zmesh__stmt_queue (insert), detail);
}

//  Wait for the rows queued: whether they are all in.
static zmesh_err_t
s_inserted (zmesh_store_t *self, zmesh_detail_t *detail)
{
    return s_insert_rc (self, zmesh__db_wait_queued (self->db), detail);
}

//  Keep what an append inside the caller's transaction left: heads and
//  version, after it.
static void
s_know (zmesh_store_t *self, const char *stream,
        const zmesh_append_result_t *result)
{
    self->known.transaction = zmesh__db_transaction (self->db);
    self->known.head = (int64_t) result->last_position;
    self->known.log_head = (int64_t) result->last_seq;
    self->known.version = result->version;
    if (!streq (self->known.stream, stream))   //  Checked: it fits
        memcpy (self->known.stream, stream, strlen (stream) + 1);
}

//  An append of one event in the same transaction as the append before
//  it, to the same stream: what that one read and wrote still holds, for
//  no other connection writes meanwhile, so nothing needs reading (on the
//  path of every event a node publishes in a group). A retry's duplicate
//  id is left to the insert's unique index: SQLite takes back only the
//  statement that broke it, and the append then goes the way of any
//  other, as does one whose expected version does not hold. On PostgreSQL
//  that error would end the transaction, so there only an event whose id
//  is new (fresh), which cannot be a retry, goes this way: its INSERT
//  waits in the pipeline, as every append's does, and would fail the
//  commit. On SQLite a fresh event's row waits to be inserted with others
//  (store_rows.h). True if it was made, or failed (rc says which); false
//  if it is to be made the usual way.
static bool
s_append_known (zmesh_store_t *self, const char *stream, int64_t expected,
                const zmesh_new_event_t *event, bool fresh,
                zmesh_append_result_t *result, zmesh_err_t *rc,
                zmesh_detail_t *detail)
{
    bool pg = zmesh__db_is_pg (self->db);
    if (self->known.transaction == 0
        || self->known.transaction != zmesh__db_transaction (self->db)
        || (pg && !fresh) || !streq (self->known.stream, stream)
        || !s_expected_ok (expected, self->known.version))
        return false;
    uint64_t position = (uint64_t) self->known.head + 1;
    uint64_t seq = (uint64_t) self->known.log_head + 1;
    if (!fresh || pg)
        *rc = s_insert (self, stream, position, self->known.version + 1, seq,
                        event, detail);
    else if (zmesh__rows_full (self->rows) && s_flush (self, detail))
        *rc = ZMESH_ERR_STORE;
    else {
        *rc = zmesh__rows_add (self->rows, stream, position,
                               self->known.version + 1, seq, event);
        self->rows_transaction = self->known.transaction;
    }
    if (*rc == ZMESH_ERR_STORE_DUPLICATE)
        return false;
    if (*rc == ZMESH_OK) {
        result->first_position = result->last_position = position;
        result->first_seq = result->last_seq = seq;
        result->version = self->known.version + 1;
        s_know (self, stream, result);
    }
    else
        self->known.transaction = 0;
    return true;
}

static zmesh_err_t
s_append (zmesh_store_t *self, const char *stream, int64_t expected,
          const zmesh_new_event_t *events, size_t count, bool fresh,
          zmesh_append_result_t *result, zmesh_detail_t *detail)
{
    assert (self && result && (events || count == 0));
    memset (result, 0, sizeof *result);
    if (count == 0 || expected < ZMESH_VERSION_EXISTS) {
        zmesh__detail (detail, "an append needs events and an expected "
                       "version");
        return ZMESH_ERR_INVALID;
    }
    zmesh_err_t rc = s_check_events (stream, events, count, detail);
    if (rc)
        return rc;
    //  A write transaction takes the write lock now (zmesh__db_begin),
    //  or before its reads if it was begun without (a node's turn that
    //  serves a call): versions and positions read in it cannot change
    //  under it, in any process, and positions commit in order, with no
    //  holes. Inside a transaction of the caller's (zmesh_store_begin), a
    //  savepoint makes an append of several events all or nothing; one of
    //  a single event writes one row or none, and needs none (on the hot
    //  path of a node's turn, two round trips fewer).
    bool nested = zmesh__db_in_transaction (self->db);
    if (nested && (rc = zmesh__db_lock (self->db, detail)))
        return rc;
    if (nested && count == 1
        && s_append_known (self, stream, expected, events, fresh, result,
                           &rc, detail))
        return rc;
    bool marked = nested && count > 1;
    rc = marked  ? s_run (self, "SAVEPOINT append", detail)
       : nested ? ZMESH_OK
                : zmesh__db_begin (self->db, detail);
    if (rc)
        return rc;
    bool duplicate = false;
    int64_t version = 0, head = 0, log_head = 0;
    rc = s_append_reads (self, stream, &events [0].id, &duplicate, &version,
                         &head, &log_head, detail);
    //  A retry, most likely: whether it is the whole call, and where it went
    if (rc == ZMESH_OK && duplicate)
        rc = s_find_duplicate (self, stream, events, count, result,
                               &duplicate, detail);
    if (rc == ZMESH_OK && !duplicate) {
        if (!s_expected_ok (expected, version)) {
            result->version = version;
            zmesh__detail (detail, "stream %s is at version %" PRId64 ", the "
                           "append expected %" PRId64, stream, version,
                           expected);
            rc = ZMESH_ERR_CONCURRENCY;
        }
        //  The inserts wait in the pipeline, and go in one round trip:
        //  one of a single event with the commit, those of several now,
        //  so that an id given twice is known here (SQLite runs each at
        //  once)
        for (size_t index = 0; rc == ZMESH_OK && index < count; index++)
            rc = s_insert (self, stream, (uint64_t) head + 1 + index,
                           version + 1 + (int64_t) index,
                           (uint64_t) log_head + 1 + index, &events [index],
                           detail);
        if (rc == ZMESH_OK && count > 1)
            rc = s_inserted (self, detail);
    }
    if (rc == ZMESH_OK && !nested)
        rc = s_run (self, "COMMIT", detail);
    else if (rc == ZMESH_OK && marked)
        rc = s_run (self, "RELEASE append", detail);
    if (rc != ZMESH_OK) {
        self->known.transaction = 0;
        if (marked) {
            zmesh__db_exec (self->db, "ROLLBACK TO append", NULL);
            zmesh__db_exec (self->db, "RELEASE append", NULL);
        }
        else if (!nested)
            zmesh__db_exec (self->db, "ROLLBACK", NULL);
        return rc;
    }
    if (!duplicate) {
        result->first_position = (uint64_t) head + 1;
        result->last_position = (uint64_t) head + count;
        result->first_seq = (uint64_t) log_head + 1;
        result->last_seq = (uint64_t) log_head + count;
        result->version = version + (int64_t) count;
        if (nested)
            s_know (self, stream, result);
    }
    return ZMESH_OK;
}

zmesh_err_t
zmesh_store_append (zmesh_store_t *self, const char *stream, int64_t expected,
                    const zmesh_new_event_t *events, size_t count,
                    zmesh_append_result_t *result, zmesh_detail_t *detail)
{
    return s_append (self, stream, expected, events, count, false, result,
                     detail);
}

zmesh_err_t
zmesh__store_append_new (zmesh_store_t *self, const char *stream,
                         int64_t expected, const zmesh_new_event_t *events,
                         size_t count, zmesh_append_result_t *result,
                         zmesh_detail_t *detail)
{
    return s_append (self, stream, expected, events, count, true, result,
                     detail);
}

zmesh_err_t
zmesh_store_begin (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return zmesh__db_begin (self->db, detail);
}

zmesh_err_t
zmesh_store_commit (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return s_run (self, "COMMIT", detail);
}

void
zmesh_store_rollback (zmesh_store_t *self)
{
    assert (self);
    if (self->rows)
        zmesh__rows_clear (self->rows);
    if (zmesh__db_in_transaction (self->db))
        zmesh__db_exec (self->db, "ROLLBACK", NULL);
}

//  One name serves every level: the innermost savepoint of a name ends
//  first, so nesting works as a stack.
//  Both go with the next statement, in one round trip, on PostgreSQL: a
//  failure shows there, at the latest at the commit.
zmesh_err_t
zmesh_store_savepoint (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return s_queue (self, "SAVEPOINT turn", detail);
}

zmesh_err_t
zmesh_store_release (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return s_queue (self, "RELEASE turn", detail);
}

void
zmesh_store_rollback_to (zmesh_store_t *self)
{
    assert (self);
    if (s_run (self, "ROLLBACK TO turn", NULL) == ZMESH_OK)
        s_run (self, "RELEASE turn", NULL);
    self->known.transaction = 0;
}

zmesh__db_t *
zmesh__store_db (zmesh_store_t *self)
{
    assert (self);
    //  For another module's statement: the rows waiting go first (if
    //  they fail, the transaction is doomed, and its commit says so)
    s_flush (self, NULL);
    return self->db;
}

const char *
zmesh__store_path (zmesh_store_t *self)
{
    assert (self);
    return self->path;
}

int64_t
zmesh__store_data_version (zmesh_store_t *self)
{
    assert (self);
    return zmesh__db_data_version (self->db);
}

bool
zmesh__store_in_transaction (zmesh_store_t *self)
{
    assert (self);
    return zmesh__db_in_transaction (self->db);
}

int64_t
zmesh__store_changes (zmesh_store_t *self)
{
    assert (self);
    s_flush (self, NULL);               //  Rows waiting are changes too
    return zmesh__db_changes (self->db);
}
