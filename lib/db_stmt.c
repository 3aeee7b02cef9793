/*  db_stmt.c - the statements of the SQL database under a store (db.c):
    prepared once and kept, bound, stepped and read alike on SQLite and on
    PostgreSQL.

    On PostgreSQL a statement is prepared on the server under a name of its
    own; its parameters go as text (numbers, names) or binary (blobs), and
    its rows come back binary and whole, so that a read may run another
    statement from inside its loop, as it may on SQLite.

    Part of zmesh. MIT License.
*/
#include <strings.h>
#include "zmesh_classes.h"
#include "db_private.h"

//  sql with each '?' outside quotes made $1, $2, ...; the count in *params.
//  NULL if out of memory or over PARAMS_MAX.
static char *
s_pg_numbered (const char *sql, int *params)
{
    char *text = zmesh__alloc (strlen (sql) * 3 + 1);
    if (!text)
        return NULL;
    char *out = text;
    bool quoted = false;
    *params = 0;
    for (const char *in = sql; *in; in++) {
        if (*in == '\'')
            quoted = !quoted;
        if (*in == '?' && !quoted) {
            if (++*params > PARAMS_MAX) {
                zmesh__free (text);
                return NULL;
            }
            out += sprintf (out, "$%d", *params);
        }
        else
            *out++ = *in;
    }
    *out = 0;
    return text;
}

//  Whether sql starts with word.
static bool
s_starts (const char *sql, const char *word)
{
    sql += strspn (sql, " \n");
    return strncasecmp (sql, word, strlen (word)) == 0;
}

static zmesh__stmt_t *
s_stmt_new (zmesh__db_t *self, const char *sql)
{
    zmesh__stmt_t *stmt = zmesh__calloc (1, sizeof *stmt);
    if (stmt && !(stmt->sql = zmesh__strndup (sql, strlen (sql))))
        zmesh__free (stmt);
    else if (stmt) {
        stmt->db = self;
        //  On PostgreSQL, a statement that writes takes the write lock
        //  first (zmesh__db_begin_unlocked); a rollback, to a savepoint
        //  too, may let it go
        stmt->writes = s_starts (sql, "INSERT") || s_starts (sql, "UPDATE")
                    || s_starts (sql, "DELETE");
        stmt->unlocks = s_starts (sql, "ROLLBACK");
    }
    return stmt;
}

//  The kept statement of sql: callers pass the same literal each time, so
//  its address finds it first (and the text confirms it).
static zmesh__stmt_t *
s_cached (zmesh__db_t *self, const char *sql)
{
    for (size_t index = 0; index < self->cached_count; index++)
        if (self->cached [index]->key == sql
            && streq (self->cached [index]->sql, sql))
            return self->cached [index];
    for (size_t index = 0; index < self->cached_count; index++)
        if (streq (self->cached [index]->sql, sql))
            return self->cached [index];
    return NULL;
}

//  Prepare stmt's SQL: on SQLite, a statement of its own; on PostgreSQL,
//  on the server, as statement number.
static zmesh_err_t
s_prepare (zmesh__db_t *self, zmesh__stmt_t *stmt, size_t number,
           bool kept, zmesh_detail_t *detail)
{
    if (self->pg) {
        char *numbered = s_pg_numbered (stmt->sql, &stmt->params);
        if (!numbered) {
            zmesh__detail (detail, "store: cannot prepare %s: more than %d "
                           "parameters, or no memory", stmt->sql, PARAMS_MAX);
            return ZMESH_ERR_STORE;
        }
        snprintf (stmt->name, sizeof stmt->name, "zmesh%zu", number);
        if (!zmesh__db_pg_flush (self, stmt->sql)) {
            zmesh__free (numbered);
            zmesh__detail (detail, "store: cannot prepare %s: a statement "
                           "before it failed: %s", stmt->sql, self->error);
            return ZMESH_ERR_STORE;
        }
        zmesh_err_t rc = zmesh__db_pg_done (self, PQprepare (self->pg, stmt->name,
                                                     numbered, 0, NULL),
                                    stmt->sql, detail);
        zmesh__free (numbered);
        return rc;
    }
    const char *tail = NULL;
    if (sqlite3_prepare_v3 (self->lite, stmt->sql, -1,
                            kept ? SQLITE_PREPARE_PERSISTENT : 0, &stmt->lite,
                            &tail) != SQLITE_OK
        || !stmt->lite || tail [strspn (tail, " ;\n")]) {
        zmesh__detail (detail, "store %s: cannot prepare %s: %s", self->path,
                       stmt->sql, sqlite3_errmsg (self->lite));
        return ZMESH_ERR_STORE;
    }
    return ZMESH_OK;
}

zmesh__stmt_t *
zmesh__db_prepare (zmesh__db_t *self, const char *sql, zmesh_detail_t *detail)
{
    assert (self && sql);
    zmesh__stmt_t *stmt = s_cached (self, sql);
    if (stmt) {
        if (!stmt->busy)        //  One under way is left as it is
            zmesh__stmt_reset (stmt);
        return stmt;
    }
    if (self->cached_count == CACHED_MAX) {
        zmesh__detail (detail, "store %s: more than %d statements to keep",
                       self->path, CACHED_MAX);
        return NULL;
    }
    stmt = s_stmt_new (self, sql);
    if (!stmt) {
        zmesh__detail (detail, "store: out of memory");
        return NULL;
    }
    if (s_prepare (self, stmt, self->cached_count, true, detail)) {
        zmesh__stmt_free (&stmt);
        return NULL;
    }
    stmt->key = sql;
    self->cached [self->cached_count++] = stmt;
    return stmt;
}

zmesh__stmt_t *
zmesh__db_prepare_own (zmesh__db_t *self, const char *sql,
                       zmesh_detail_t *detail)
{
    assert (self && sql);
    zmesh__stmt_t *stmt = s_stmt_new (self, sql);
    if (!stmt) {
        zmesh__detail (detail, "store: out of memory");
        return NULL;
    }
    if (self->pg) {
        //  The server's statement is shared; the rows are this one's own
        zmesh__stmt_t *kept = s_cached (self, sql);
        if (!kept && !(kept = zmesh__db_prepare (self, sql, detail))) {
            zmesh__stmt_free (&stmt);
            return NULL;
        }
        memcpy (stmt->name, kept->name, sizeof stmt->name);
        stmt->params = kept->params;
    }
    else if (s_prepare (self, stmt, 0, false, detail))
        zmesh__stmt_free (&stmt);
    return stmt;
}

void
zmesh__stmt_free (zmesh__stmt_t **self_p)
{
    assert (self_p);
    zmesh__stmt_t *self = *self_p;
    if (!self)
        return;
    sqlite3_finalize (self->lite);
    PQclear (self->result);
    zmesh__free (self->sql);
    zmesh__free (self);
    *self_p = NULL;
}

bool
zmesh__stmt_busy (zmesh__stmt_t *self)
{
    assert (self);
    return self->busy;
}

static bool
s_param (zmesh__stmt_t *self, int index)
{
    return index >= 1 && index <= self->params;
}

void
zmesh__stmt_int (zmesh__stmt_t *self, int index, int64_t value)
{
    assert (self);
    if (self->lite)
        sqlite3_bind_int64 (self->lite, index, value);
    else if (s_param (self, index)) {
        snprintf (self->numbers [index - 1], sizeof self->numbers [0],
                  "%" PRId64, value);
        self->values [index - 1] = self->numbers [index - 1];
        self->formats [index - 1] = 0;
    }
}

void
zmesh__stmt_text (zmesh__stmt_t *self, int index, const char *value)
{
    assert (self);
    if (self->lite)
        sqlite3_bind_text (self->lite, index, value, -1, SQLITE_STATIC);
    else if (s_param (self, index)) {
        self->values [index - 1] = value;
        self->formats [index - 1] = 0;
    }
}

void
zmesh__stmt_blob (zmesh__stmt_t *self, int index, const void *data,
                  size_t size)
{
    assert (self);
    if (self->lite)
        sqlite3_bind_blob (self->lite, index, size ? data : "", (int) size,
                           SQLITE_STATIC);
    else if (s_param (self, index)) {
        self->values [index - 1] = size ? data : "";
        self->lengths [index - 1] = (int) size;
        self->formats [index - 1] = 1;
    }
}

void
zmesh__stmt_null (zmesh__stmt_t *self, int index)
{
    assert (self);
    if (self->lite)
        sqlite3_bind_null (self->lite, index);
    else if (s_param (self, index))
        self->values [index - 1] = NULL;
}

//  Before stmt goes to the server: a rollback may let the write lock go,
//  and a write takes it first (zmesh__db_begin_unlocked). False if it
//  could not be taken.
static bool
s_pg_lock_for (zmesh__stmt_t *self)
{
    if (self->unlocks)
        self->db->locked = 0;
    return !self->writes || zmesh__db_lock (self->db, NULL) == ZMESH_OK;
}

//  The first step on PostgreSQL: run it, and keep its rows.
static zmesh__db_step_t
s_pg_run (zmesh__stmt_t *self)
{
    zmesh__db_t *db = self->db;
    if (!s_pg_lock_for (self))
        self->result = NULL;    //  The lock's error is the one kept
    else if (db->queue_failed && !self->unlocks)
        self->result = NULL;    //  The transaction has failed already
    else if (db->queued)        //  With those queued, in one round trip
        self->result = PQsendQueryPrepared (db->pg, self->name, self->params,
                                            self->values, self->lengths,
                                            self->formats, 1) == 1
                     ? zmesh__db_pg_sync (db, true) : (zmesh__db_pg_sync (db, false), NULL);
    else
        self->result = PQexecPrepared (db->pg, self->name, self->params,
                                       self->values, self->lengths,
                                       self->formats, 1);
    ExecStatusType status = self->result ? PQresultStatus (self->result)
                                         : PGRES_FATAL_ERROR;
    self->row = -1;
    self->rows = 0;
    if (status == PGRES_TUPLES_OK)
        self->rows = PQntuples (self->result);
    else if (status == PGRES_COMMAND_OK) {
        db->last_changes = strtoll (PQcmdTuples (self->result), NULL, 10);
        db->changes += db->last_changes;
        //  A rollback ends a failed transaction, or, to a savepoint made
        //  before what failed, mends it
        if (self->unlocks)
            db->queue_failed = db->queue_constraint = false;
    }
    else {
        if (!db->queue_failed)      //  Else the error is the queued one's
            zmesh__db_pg_error (db, self->result
                            ? PQresultErrorMessage (self->result)
                            : PQerrorMessage (db->pg));
        const char *state = self->result
                          ? PQresultErrorField (self->result,
                                                PG_DIAG_SQLSTATE)
                          : NULL;
        //  Class 23: integrity constraint violation
        return state && strncmp (state, "23", 2) == 0 ? ZMESH__DB_CONSTRAINT
                                                      : ZMESH__DB_ERROR;
    }
    return ZMESH__DB_DONE;
}

zmesh__db_step_t
zmesh__stmt_step (zmesh__stmt_t *self)
{
    assert (self);
    bool first = !self->busy;
    self->busy = true;
    if (self->lite) {
        int step = sqlite3_step (self->lite);
        return step == SQLITE_ROW          ? ZMESH__DB_ROW
             : step == SQLITE_DONE         ? ZMESH__DB_DONE
             : step == SQLITE_CONSTRAINT   ? ZMESH__DB_CONSTRAINT
                                           : ZMESH__DB_ERROR;
    }
    if (first) {
        zmesh__db_step_t step = s_pg_run (self);
        if (step != ZMESH__DB_DONE)
            return step;
    }
    if (!self->result)
        return ZMESH__DB_ERROR;
    return ++self->row < self->rows ? ZMESH__DB_ROW : ZMESH__DB_DONE;
}

static bool
s_pg_cell (zmesh__stmt_t *self, int index)
{
    return self->result && self->row >= 0 && self->row < self->rows
        && index >= 0 && index < PQnfields (self->result)
        && !PQgetisnull (self->result, self->row, index);
}

int64_t
zmesh__stmt_column_int (zmesh__stmt_t *self, int index)
{
    assert (self);
    if (self->lite)
        return sqlite3_column_int64 (self->lite, index);
    return s_pg_cell (self, index) ? zmesh__db_pg_int (self->result, self->row, index)
                                   : 0;
}

const char *
zmesh__stmt_column_text (zmesh__stmt_t *self, int index)
{
    assert (self);
    if (self->lite)
        return (const char *) sqlite3_column_text (self->lite, index);
    return s_pg_cell (self, index) ? PQgetvalue (self->result, self->row,
                                                 index)
                                   : NULL;
}

const void *
zmesh__stmt_column_blob (zmesh__stmt_t *self, int index)
{
    assert (self);
    if (self->lite)
        return sqlite3_column_blob (self->lite, index);
    return s_pg_cell (self, index) ? PQgetvalue (self->result, self->row,
                                                 index)
                                   : NULL;
}

size_t
zmesh__stmt_column_bytes (zmesh__stmt_t *self, int index)
{
    assert (self);
    if (self->lite)
        return (size_t) sqlite3_column_bytes (self->lite, index);
    return s_pg_cell (self, index)
         ? (size_t) PQgetlength (self->result, self->row, index)
         : 0;
}

void
zmesh__stmt_reset (zmesh__stmt_t *self)
{
    assert (self);
    self->busy = false;
    if (self->lite) {
        sqlite3_reset (self->lite);
        sqlite3_clear_bindings (self->lite);
        return;
    }
    PQclear (self->result);
    self->result = NULL;
    for (int index = 0; index < PARAMS_MAX; index++) {
        self->values [index] = NULL;
        self->lengths [index] = 0;
        self->formats [index] = 0;
    }
}

zmesh__db_step_t
zmesh__stmt_run (zmesh__stmt_t *self)
{
    zmesh__db_step_t step = zmesh__stmt_step (self);
    zmesh__stmt_reset (self);
    return step;
}

//  Send stmt into the pipeline, and reset it. False if it could not go
//  (the connection is lost, most likely).
static bool
s_pg_queue (zmesh__stmt_t *stmt)
{
    zmesh__db_t *self = stmt->db;
    bool sent = (PQpipelineStatus (self->pg) != PQ_PIPELINE_OFF
                 || PQenterPipelineMode (self->pg) == 1)
             && PQsendQueryPrepared (self->pg, stmt->name, stmt->params,
                                     stmt->values, stmt->lengths,
                                     stmt->formats, 1) == 1;
    zmesh__stmt_reset (stmt);
    if (sent) {
        //  Results not read fill the server's side of the connection,
        //  then ours, until both wait on each other: read them in time
        if (++self->queued >= QUEUED_MAX)
            zmesh__db_pg_sync (self, false);
        return true;
    }
    zmesh__db_pg_error (self, PQerrorMessage (self->pg));
    if (self->queued)
        zmesh__db_pg_sync (self, false);
    else if (PQpipelineStatus (self->pg) != PQ_PIPELINE_OFF)
        PQexitPipelineMode (self->pg);
    return false;
}

zmesh__db_step_t
zmesh__stmt_queue (zmesh__stmt_t *self)
{
    assert (self);
    zmesh__db_t *db = self->db;
    if (self->lite || db->queue_failed || !zmesh__db_in_transaction (db))
        return zmesh__stmt_run (self);
    if (!s_pg_lock_for (self)) {
        zmesh__stmt_reset (self);
        return ZMESH__DB_ERROR;
    }
    return s_pg_queue (self) ? ZMESH__DB_DONE : ZMESH__DB_ERROR;
}
