/*  store.c - the event store on SQLite: its file and schema, appends
    under expected versions, transactions and savepoints, and reads.
    Retention (retention.c), subscriptions (store_sub.c) and snapshots
    (snapshot.c) keep to the same file.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <unistd.h>
#include "zmesh_classes.h"
#include "store_db.h"

//  Schema steps: step n takes a store from user_version n to n + 1. Append
//  only; a released step never changes.
static const char *s_migrations [] = {
    //  0 -> 1
    "CREATE TABLE events ("
    "  position INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  id BLOB NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  body BLOB,"
    "  correlation BLOB NOT NULL,"
    "  causation BLOB,"
    "  timestamp INTEGER NOT NULL,"
    "  UNIQUE (stream, version));"
    "CREATE TABLE snapshots ("
    "  stream TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL,"
    "  state BLOB NOT NULL);",
    //  1 -> 2: retention, and what a consumer of other nodes' events keeps
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE inbox_positions ("
    "  publisher TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL);"
    "CREATE TABLE inbox_processed ("
    "  event_id BLOB PRIMARY KEY,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX inbox_processed_at ON inbox_processed (at);"
    "CREATE TABLE inbox_dead ("
    "  event_id BLOB PRIMARY KEY,"
    "  publisher TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  envelope BLOB NOT NULL,"
    "  error TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  at INTEGER NOT NULL);",
    //  2 -> 3: replies kept with the writes of the requests they answer
    "CREATE TABLE inbox_replies ("
    "  request_id BLOB PRIMARY KEY,"
    "  reply BLOB NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX inbox_replies_at ON inbox_replies (at);",
};
#define MIGRATIONS (sizeof s_migrations / sizeof s_migrations [0])

#define STATEMENTS_CACHED 32     //  Of the modules that share the file

struct _zmesh_store_t {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *insert;       //  Prepared once: the hot path
    sqlite3_stmt *version_of;
    sqlite3_stmt *find_id;
    sqlite3_stmt *head;
    sqlite3_stmt *begin;        //  Transaction control, for every append
    sqlite3_stmt *commit;
    sqlite3_stmt *savepoint;
    sqlite3_stmt *release;
    struct {                    //  zmesh__store_prepare's, by their SQL
        char *sql;
        sqlite3_stmt *statement;
    } cached [STATEMENTS_CACHED];
    size_t cached_count;
};

#define STORE_ERROR(detail, self, what)                                 \
    (zmesh__detail ((detail), "store %s: %s: %s", (self)->path, (what), \
                    sqlite3_errmsg ((self)->db)),                       \
     ZMESH_ERR_STORE)

static zmesh_err_t
s_exec (zmesh_store_t *self, const char *sql, zmesh_detail_t *detail)
{
    char *message = NULL;
    if (sqlite3_exec (self->db, sql, NULL, NULL, &message) == SQLITE_OK)
        return ZMESH_OK;
    zmesh__detail (detail, "store %s: %s", self->path,
                   message ? message : "failed");
    sqlite3_free (message);
    return ZMESH_ERR_STORE;
}

static int64_t
s_pragma (zmesh_store_t *self, const char *sql)
{
    sqlite3_stmt *statement;
    int64_t value = -1;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &statement, NULL) == SQLITE_OK
        && sqlite3_step (statement) == SQLITE_ROW)
        value = sqlite3_column_int64 (statement, 0);
    sqlite3_finalize (statement);
    return value;
}

//  Bring the schema to ZMESH_STORE_SCHEMA, one step per transaction.
static zmesh_err_t
s_migrate (zmesh_store_t *self, zmesh_detail_t *detail)
{
    int64_t version = s_pragma (self, "PRAGMA user_version");
    if (version < 0)
        return STORE_ERROR (detail, self, "cannot read the schema version");
    if (version > (int64_t) MIGRATIONS) {
        zmesh__detail (detail, "store %s: schema %" PRId64 " is newer than "
                       "this zmesh knows (%zu): refusing to touch it",
                       self->path, version, MIGRATIONS);
        return ZMESH_ERR_STORE_SCHEMA;
    }
    for (; version < (int64_t) MIGRATIONS; version++) {
        char bump [64];
        snprintf (bump, sizeof bump, "PRAGMA user_version = %" PRId64,
                  version + 1);
        zmesh_err_t rc = s_exec (self, "BEGIN IMMEDIATE", detail);
        if (rc == ZMESH_OK) {
            //  Another process may have migrated while we waited.
            if (s_pragma (self, "PRAGMA user_version") > version) {
                s_exec (self, "COMMIT", NULL);
                continue;
            }
            rc = s_exec (self, s_migrations [version], detail);
        }
        if (rc == ZMESH_OK)
            rc = s_exec (self, bump, detail);
        if (rc == ZMESH_OK)
            rc = s_exec (self, "COMMIT", detail);
        if (rc) {
            s_exec (self, "ROLLBACK", NULL);
            return rc;
        }
    }
    return ZMESH_OK;
}

static zmesh_err_t
s_prepare (zmesh_store_t *self, zmesh_detail_t *detail)
{
    struct {
        sqlite3_stmt **statement;
        const char *sql;
    } statements [] = {
        {&self->insert,
         "INSERT INTO events (position, stream, version, id, type, body,"
         " correlation, causation, timestamp) VALUES (?,?,?,?,?,?,?,?,?)"},
        {&self->version_of,
         "SELECT COALESCE (MAX (version), 0) FROM events WHERE stream = ?"},
        {&self->find_id,
         "SELECT position, stream, version FROM events WHERE id = ?"},
        //  Trimming may empty the table: the head is remembered in meta.
        {&self->head,
         "SELECT MAX (COALESCE ((SELECT MAX (position) FROM events), 0),"
         " COALESCE ((SELECT value FROM meta WHERE key = 'trimmed_before'),"
         " 1) - 1)"},
        {&self->begin, "BEGIN IMMEDIATE"},
        {&self->commit, "COMMIT"},
        {&self->savepoint, "SAVEPOINT append"},
        {&self->release, "RELEASE append"},
    };
    for (size_t index = 0; index < sizeof statements / sizeof statements [0];
         index++)
        if (sqlite3_prepare_v3 (self->db, statements [index].sql, -1,
                                SQLITE_PREPARE_PERSISTENT,
                                statements [index].statement, NULL)
            != SQLITE_OK)
            return STORE_ERROR (detail, self, "cannot prepare statements");
    return ZMESH_OK;
}

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
    zmesh_err_t rc = ZMESH_OK;
    //  A new store is its owner's alone (0600), and so are its -wal and
    //  -shm files, which SQLite makes with the database file's mode. An
    //  existing one keeps its mode.
    int fd = open (path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                   0600);
    if (fd >= 0)
        close (fd);
    if (sqlite3_open_v2 (path, &self->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
        rc = STORE_ERROR (detail, self, "cannot open");
    if (rc == ZMESH_OK) {
        //  Writers in other processes wait for each other, not fail.
        sqlite3_busy_timeout (self->db, 10000);
        rc = s_exec (self, "PRAGMA journal_mode = WAL", detail);
    }
    if (rc == ZMESH_OK)
        rc = s_exec (self, synced ? "PRAGMA synchronous = FULL"
                                  : "PRAGMA synchronous = NORMAL", detail);
    if (rc == ZMESH_OK)
        rc = s_migrate (self, detail);
    if (rc == ZMESH_OK)
        rc = s_prepare (self, detail);
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
    sqlite3_finalize (self->insert);
    sqlite3_finalize (self->version_of);
    sqlite3_finalize (self->find_id);
    sqlite3_finalize (self->head);
    sqlite3_finalize (self->begin);
    sqlite3_finalize (self->commit);
    sqlite3_finalize (self->savepoint);
    sqlite3_finalize (self->release);
    for (size_t index = 0; index < self->cached_count; index++) {
        sqlite3_finalize (self->cached [index].statement);
        zmesh__free (self->cached [index].sql);
    }
    sqlite3_close (self->db);
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

static zmesh_err_t
s_query_int (zmesh_store_t *self, sqlite3_stmt *statement, int64_t *value,
             zmesh_detail_t *detail)
{
    int step = sqlite3_step (statement);
    if (step == SQLITE_ROW)
        *value = sqlite3_column_int64 (statement, 0);
    sqlite3_reset (statement);
    sqlite3_clear_bindings (statement);
    return step == SQLITE_ROW ? ZMESH_OK
                              : STORE_ERROR (detail, self, "query failed");
}

//  Run a prepared statement that returns no rows.
static zmesh_err_t
s_run (zmesh_store_t *self, sqlite3_stmt *statement, zmesh_detail_t *detail)
{
    zmesh_err_t rc = sqlite3_step (statement) == SQLITE_DONE
                     ? ZMESH_OK
                     : STORE_ERROR (detail, self, sqlite3_sql (statement));
    sqlite3_reset (statement);
    return rc;
}

zmesh_err_t
zmesh_store_version (zmesh_store_t *self, const char *stream,
                     int64_t *version)
{
    assert (self && stream && version);
    sqlite3_bind_text (self->version_of, 1, stream, -1, SQLITE_STATIC);
    return s_query_int (self, self->version_of, version, NULL);
}

zmesh_err_t
zmesh_store_head (zmesh_store_t *self, uint64_t *position)
{
    assert (self && position);
    int64_t value = 0;
    zmesh_err_t rc = s_query_int (self, self->head, &value, NULL);
    *position = (uint64_t) value;
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
    uint64_t first = 0;
    for (size_t index = 0; index < count; index++) {
        sqlite3_bind_blob (self->find_id, 1, events [index].id.bytes,
                           ZMESH_UUID_SIZE, SQLITE_STATIC);
        int step = sqlite3_step (self->find_id);
        bool stored = step == SQLITE_ROW;
        uint64_t position = stored ? (uint64_t) sqlite3_column_int64 (
                                         self->find_id, 0)
                                   : 0;
        bool same = stored
                 && streq ((const char *) sqlite3_column_text (self->find_id,
                                                               1),
                           stream)
                 && (index == 0 || position == first + index);
        int64_t version = stored ? sqlite3_column_int64 (self->find_id, 2) : 0;
        sqlite3_reset (self->find_id);
        if (step != SQLITE_ROW && step != SQLITE_DONE)
            return STORE_ERROR (detail, self, "cannot look up an event id");
        if (index == 0) {
            if (!stored)
                return ZMESH_OK;
            first = position;
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
        result->version = version;
    }
    result->first_position = first;
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

static zmesh_err_t
s_insert (zmesh_store_t *self, const char *stream, uint64_t position,
          int64_t version, const zmesh_new_event_t *event,
          zmesh_detail_t *detail)
{
    sqlite3_stmt *insert = self->insert;
    sqlite3_bind_int64 (insert, 1, (sqlite3_int64) position);
    sqlite3_bind_text (insert, 2, stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (insert, 3, version);
    sqlite3_bind_blob (insert, 4, event->id.bytes, ZMESH_UUID_SIZE,
                       SQLITE_STATIC);
    sqlite3_bind_text (insert, 5, event->type, -1, SQLITE_STATIC);
    if (event->body_size)
        sqlite3_bind_blob (insert, 6, event->body, (int) event->body_size,
                           SQLITE_STATIC);
    else
        sqlite3_bind_null (insert, 6);
    sqlite3_bind_blob (insert, 7, event->correlation.bytes, ZMESH_UUID_SIZE,
                       SQLITE_STATIC);
    if (event->causation && !zmesh_uuid_is_nil (event->causation))
        sqlite3_bind_blob (insert, 8, event->causation->bytes, ZMESH_UUID_SIZE,
                           SQLITE_STATIC);
    else
        sqlite3_bind_null (insert, 8);
    sqlite3_bind_int64 (insert, 9, (sqlite3_int64) event->timestamp);
    int step = sqlite3_step (insert);
    sqlite3_reset (insert);
    sqlite3_clear_bindings (insert);
    if (step == SQLITE_DONE)
        return ZMESH_OK;
    if (step == SQLITE_CONSTRAINT) {
        zmesh__detail (detail, "an event id of the call appears twice");
        return ZMESH_ERR_STORE_DUPLICATE;
    }
    return STORE_ERROR (detail, self, "cannot insert");
}

zmesh_err_t
zmesh_store_append (zmesh_store_t *self, const char *stream, int64_t expected,
                    const zmesh_new_event_t *events, size_t count,
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
    //  IMMEDIATE takes the write lock now: versions and positions read in
    //  the transaction cannot change under it, in any process. Inside a
    //  transaction of the caller's (zmesh_store_begin), which holds that
    //  lock already, a savepoint makes the append all or nothing.
    bool nested = !sqlite3_get_autocommit (self->db);
    rc = s_run (self, nested ? self->savepoint : self->begin, detail);
    if (rc)
        return rc;
    bool duplicate = false;
    rc = s_find_duplicate (self, stream, events, count, result, &duplicate,
                           detail);
    int64_t version = 0, head = 0;
    if (rc == ZMESH_OK && !duplicate) {
        sqlite3_bind_text (self->version_of, 1, stream, -1, SQLITE_STATIC);
        rc = s_query_int (self, self->version_of, &version, detail);
        if (rc == ZMESH_OK)
            rc = s_query_int (self, self->head, &head, detail);
        if (rc == ZMESH_OK && !s_expected_ok (expected, version)) {
            result->version = version;
            zmesh__detail (detail, "stream %s is at version %" PRId64 ", the "
                           "append expected %" PRId64, stream, version,
                           expected);
            rc = ZMESH_ERR_CONCURRENCY;
        }
        for (size_t index = 0; rc == ZMESH_OK && index < count; index++)
            rc = s_insert (self, stream, (uint64_t) head + 1 + index,
                           version + 1 + (int64_t) index, &events [index],
                           detail);
    }
    if (rc == ZMESH_OK)
        rc = s_run (self, nested ? self->release : self->commit, detail);
    if (rc != ZMESH_OK) {
        if (nested) {
            s_exec (self, "ROLLBACK TO append", NULL);
            s_exec (self, "RELEASE append", NULL);
        }
        else
            s_exec (self, "ROLLBACK", NULL);
        return rc;
    }
    if (!duplicate) {
        result->first_position = (uint64_t) head + 1;
        result->last_position = (uint64_t) head + count;
        result->version = version + (int64_t) count;
    }
    return ZMESH_OK;
}


zmesh_err_t
zmesh_store_begin (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return s_run (self, self->begin, detail);
}

zmesh_err_t
zmesh_store_commit (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return s_run (self, self->commit, detail);
}

void
zmesh_store_rollback (zmesh_store_t *self)
{
    assert (self);
    if (!sqlite3_get_autocommit (self->db))
        s_exec (self, "ROLLBACK", NULL);
}

//  One name serves every level: SQLite ends the innermost savepoint of a
//  name, so nesting works as a stack.
zmesh_err_t
zmesh_store_savepoint (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return zmesh__store_exec (self, "SAVEPOINT turn", detail);
}

zmesh_err_t
zmesh_store_release (zmesh_store_t *self, zmesh_detail_t *detail)
{
    assert (self);
    return zmesh__store_exec (self, "RELEASE turn", detail);
}

void
zmesh_store_rollback_to (zmesh_store_t *self)
{
    assert (self);
    if (zmesh__store_exec (self, "ROLLBACK TO turn", NULL) == ZMESH_OK)
        zmesh__store_exec (self, "RELEASE turn", NULL);
}

//  The statement kept prepared for sql, or NULL.
static sqlite3_stmt *
s_cached (zmesh_store_t *self, const char *sql)
{
    for (size_t index = 0; index < self->cached_count; index++)
        if (streq (self->cached [index].sql, sql))
            return self->cached [index].statement;
    return NULL;
}

zmesh_err_t
zmesh__store_prepare (zmesh_store_t *self, const char *sql,
                      sqlite3_stmt **statement_p, zmesh_detail_t *detail)
{
    assert (self && sql && statement_p);
    sqlite3_stmt *kept = s_cached (self, sql);
    if (kept) {
        sqlite3_clear_bindings (kept);
        *statement_p = kept;
        return ZMESH_OK;
    }
    if (self->cached_count == STATEMENTS_CACHED) {
        zmesh__detail (detail, "store %s: more than %d statements to keep",
                       self->path, STATEMENTS_CACHED);
        return ZMESH_ERR_STORE;
    }
    char *copy = zmesh__strndup (sql, strlen (sql));
    const char *tail = NULL;
    sqlite3_stmt *statement = NULL;
    if (!copy
        || sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                               &statement, &tail) != SQLITE_OK
        || !statement || tail [strspn (tail, " ;\n")]) {
        zmesh__detail (detail, "store %s: cannot prepare %s: %s", self->path,
                       sql, copy ? sqlite3_errmsg (self->db) : "no memory");
        sqlite3_finalize (statement);
        zmesh__free (copy);
        return ZMESH_ERR_STORE;
    }
    self->cached [self->cached_count].sql = copy;
    self->cached [self->cached_count++].statement = statement;
    *statement_p = statement;
    return ZMESH_OK;
}

zmesh_err_t
zmesh__store_exec (zmesh_store_t *self, const char *sql,
                   zmesh_detail_t *detail)
{
    assert (self && sql);
    sqlite3_stmt *statement;
    //  A single statement is kept prepared; a script runs as it is.
    if (strchr (sql, ';')
        || zmesh__store_prepare (self, sql, &statement, NULL) != ZMESH_OK)
        return s_exec (self, sql, detail);
    return s_run (self, statement, detail);
}

sqlite3 *
zmesh__store_db (zmesh_store_t *self)
{
    assert (self);
    return self->db;
}

const char *
zmesh__store_path (zmesh_store_t *self)
{
    assert (self);
    return self->path;
}


//  ---------------------------------------------------------------------
//  Reading

//  Read the current row of statement into event, checking what the file
//  holds as if it came from the wire.
static zmesh_err_t
s_row (zmesh_store_t *self, sqlite3_stmt *statement,
       zmesh_stored_event_t *event, zmesh_detail_t *detail)
{
    memset (event, 0, sizeof *event);
    event->position = (uint64_t) sqlite3_column_int64 (statement, 0);
    event->stream = (const char *) sqlite3_column_text (statement, 1);
    event->version = sqlite3_column_int64 (statement, 2);
    const void *id = sqlite3_column_blob (statement, 3);
    int id_size = sqlite3_column_bytes (statement, 3);
    event->type = (const char *) sqlite3_column_text (statement, 4);
    event->body = sqlite3_column_blob (statement, 5);
    event->body_size = (size_t) sqlite3_column_bytes (statement, 5);
    const void *correlation = sqlite3_column_blob (statement, 6);
    int correlation_size = sqlite3_column_bytes (statement, 6);
    const void *causation = sqlite3_column_blob (statement, 7);
    int causation_size = sqlite3_column_bytes (statement, 7);
    event->timestamp = (uint64_t) sqlite3_column_int64 (statement, 8);
    size_t end = 0;
    const char *problem = NULL;
    if (id_size != ZMESH_UUID_SIZE || correlation_size != ZMESH_UUID_SIZE
        || (causation && causation_size != ZMESH_UUID_SIZE))
        problem = "an id is not 16 bytes";
    else if (!event->stream || !event->type
             || !zmesh_envelope_name_valid (event->type,
                                            ZMESH_ENVELOPE_TYPE_MAX))
        problem = "stream or type is not a name";
    else if (event->body_size
             && (zmesh__msgpack_check (event->body, event->body_size, &end,
                                       NULL) != ZMESH_OK
                 || end != event->body_size))
        problem = "the body is not one msgpack value";
    if (problem) {
        zmesh__detail (detail, "store %s: event at position %" PRIu64 ": %s",
                       self->path, event->position, problem);
        return ZMESH_ERR_STORE_CORRUPT;
    }
    memcpy (event->id.bytes, id, ZMESH_UUID_SIZE);
    memcpy (event->correlation.bytes, correlation, ZMESH_UUID_SIZE);
    event->has_causation = causation != NULL;
    if (causation)
        memcpy (event->causation.bytes, causation, ZMESH_UUID_SIZE);
    if (!event->body_size)
        event->body = NULL;
    return ZMESH_OK;
}

#define EVENT_COLUMNS                                                   \
    "SELECT position, stream, version, id, type, body, correlation,"    \
    " causation, timestamp FROM events "

//  The statement of a read: the one kept prepared, or, when a read further
//  up the stack has that one running (fn reading again), one of its own,
//  *owned, which s_read finalizes. NULL if it cannot be prepared.
static sqlite3_stmt *
s_read_statement (zmesh_store_t *self, const char *sql, bool *owned)
{
    sqlite3_stmt *statement = s_cached (self, sql);
    *owned = false;
    if (statement && !sqlite3_stmt_busy (statement))
        return statement;       //  Every parameter is bound again
    if (!statement
        && zmesh__store_prepare (self, sql, &statement, NULL) == ZMESH_OK)
        return statement;
    *owned = true;
    if (sqlite3_prepare_v2 (self->db, sql, -1, &statement, NULL) != SQLITE_OK)
        return NULL;
    return statement;
}

//  Run statement (from s_read_statement, its parameters bound) and hand
//  each row to fn.
static zmesh_err_t
s_read (zmesh_store_t *self, sqlite3_stmt *statement, bool owned,
        zmesh_stored_event_fn *fn, void *arg, uint64_t *last_p,
        size_t *count_p, zmesh_detail_t *detail)
{
    zmesh_err_t rc = ZMESH_OK;
    size_t count = 0;
    int step;
    while ((step = sqlite3_step (statement)) == SQLITE_ROW) {
        zmesh_stored_event_t event;
        rc = s_row (self, statement, &event, detail);
        if (rc)
            break;
        count++;
        if (last_p)
            *last_p = event.position;
        if (!fn (&event, arg))
            break;
    }
    if (rc == ZMESH_OK && step != SQLITE_ROW && step != SQLITE_DONE)
        rc = STORE_ERROR (detail, self, "read failed");
    if (owned)
        sqlite3_finalize (statement);
    else
        sqlite3_reset (statement);
    if (count_p)
        *count_p = count;
    return rc;
}

zmesh_err_t
zmesh_store_read_stream (zmesh_store_t *self, const char *stream, int64_t from,
                         bool backward, size_t limit,
                         zmesh_stored_event_fn *fn, void *arg,
                         zmesh_detail_t *detail)
{
    assert (self && stream && fn);
    const char *sql = backward
        ? EVENT_COLUMNS "WHERE stream = ? AND version <= ? "
                        "ORDER BY version DESC LIMIT ?"
        : EVENT_COLUMNS "WHERE stream = ? AND version >= ? "
                        "ORDER BY version LIMIT ?";
    bool owned;
    sqlite3_stmt *statement = s_read_statement (self, sql, &owned);
    if (!statement)
        return STORE_ERROR (detail, self, "cannot prepare a read");
    sqlite3_bind_text (statement, 1, stream, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64 (statement, 2, from);
    sqlite3_bind_int64 (statement, 3, limit ? (sqlite3_int64) limit : -1);
    return s_read (self, statement, owned, fn, arg, NULL, NULL, detail);
}

//  Read the log from position from, at most limit events (0: all), as
//  zmesh_store_read_all; *last_p and *count_p, if not NULL, get the last
//  position read and how many were.
zmesh_err_t
zmesh__store_read_from (zmesh_store_t *self, uint64_t from, size_t limit,
                        zmesh_stored_event_fn *fn, void *arg, uint64_t *last_p,
                        size_t *count_p, zmesh_detail_t *detail)
{
    bool owned;
    sqlite3_stmt *statement = s_read_statement (
        self, EVENT_COLUMNS "WHERE position >= ? ORDER BY position LIMIT ?",
        &owned);
    if (!statement)
        return STORE_ERROR (detail, self, "cannot prepare a read");
    sqlite3_bind_int64 (statement, 1, (sqlite3_int64) from);
    sqlite3_bind_int64 (statement, 2, limit ? (sqlite3_int64) limit : -1);
    return s_read (self, statement, owned, fn, arg, last_p, count_p, detail);
}

zmesh_err_t
zmesh_store_read_all (zmesh_store_t *self, uint64_t from, size_t limit,
                      zmesh_stored_event_fn *fn, void *arg,
                      zmesh_detail_t *detail)
{
    assert (self && fn);
    return zmesh__store_read_from (self, from, limit, fn, arg, NULL, NULL,
                                   detail);
}

int64_t
zmesh__store_data_version (zmesh_store_t *self)
{
    assert (self);
    return s_pragma (self, "PRAGMA data_version");
}

bool
zmesh__store_in_transaction (zmesh_store_t *self)
{
    assert (self);
    return !sqlite3_get_autocommit (self->db);
}

int64_t
zmesh__store_changes (zmesh_store_t *self)
{
    assert (self);
    return sqlite3_total_changes64 (self->db);
}

int64_t
zmesh__store_query_int (zmesh_store_t *self, const char *sql)
{
    assert (self && sql);
    return s_pragma (self, sql);
}
