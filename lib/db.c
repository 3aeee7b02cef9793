/*  db.c - the SQL database under a store: SQLite through its C API, or
    PostgreSQL through libpq, with statements prepared once and kept.

    On PostgreSQL a statement is prepared on the server under a name of its
    own; its parameters go as text (numbers, names) or binary (blobs), and
    its rows come back binary and whole, so that a read may run another
    statement from inside its loop, as it may on SQLite.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include <sqlite3.h>
#include <libpq-fe.h>
#include "zmesh_classes.h"
#include "db.h"

#define PARAMS_MAX      16      //  Parameters of one statement
#define CACHED_MAX      48      //  Statements a database keeps prepared
#define QUEUED_MAX      256     //  PostgreSQL: statements in the pipeline,
                                //  at most, before their results are read

//  Every zmesh writer of a store on PostgreSQL takes this transaction lock
//  first, so that one writes at a time: one lock per schema (the store's),
//  so that the stores of several services in one database, each in a
//  schema of its own, do not wait for each other.
#define PG_WRITE_LOCK   "SELECT pg_advisory_xact_lock (1325933672, " \
                        "hashtext (current_schema ()))"

struct _zmesh__stmt_t {
    zmesh__db_t *db;
    char *sql;
    const char *key;            //  The SQL as its first caller gave it
    bool busy;                  //  Stepped since its last reset
    sqlite3_stmt *lite;         //  SQLite
    char name [16];             //  PostgreSQL: the server's statement,
    int params;                 //  its parameters,
    const char *values [PARAMS_MAX];
    int lengths [PARAMS_MAX];
    int formats [PARAMS_MAX];
    char numbers [PARAMS_MAX][24];
    PGresult *result;           //  and the rows of the run under way
    int row, rows;
};

struct _zmesh__db_t {
    char *path;                 //  For messages (a URI's password too:
                                //  it is never printed)
    sqlite3 *lite;
    PGconn *pg;
    char error [256];           //  PostgreSQL's last error
    int64_t changes, last_changes;
    int queued;                 //  PostgreSQL: statements in the pipeline
    bool queue_failed;          //  One of them failed: the transaction did
    uint64_t transactions;      //  Begun through this connection
    zmesh__stmt_t *cached [CACHED_MAX];
    size_t cached_count;
};

bool
zmesh__db_path_is_pg (const char *path)
{
    return path && (strncmp (path, "postgresql://", 13) == 0
                    || strncmp (path, "postgres://", 11) == 0);
}

bool
zmesh__db_is_pg (const zmesh__db_t *self)
{
    assert (self);
    return self->pg != NULL;
}

//  Keep PostgreSQL's message for zmesh__db_error, without its newline.
static void
s_pg_error (zmesh__db_t *self, const char *message)
{
    snprintf (self->error, sizeof self->error, "%s",
              message && *message ? message : "failed");
    size_t length = strlen (self->error);
    while (length && (self->error [length - 1] == '\n'
                      || self->error [length - 1] == ' '))
        self->error [--length] = 0;
}

const char *
zmesh__db_error (zmesh__db_t *self)
{
    assert (self);
    return self->pg ? self->error : sqlite3_errmsg (self->lite);
}

//  PostgreSQL's notices (a table that exists already, say) are not ours
//  to print.
static void
s_pg_quiet (void *arg, const char *message)
{
    (void) arg, (void) message;
}

static zmesh_err_t
s_open_pg (zmesh__db_t *self, bool synced, zmesh_detail_t *detail)
{
    self->pg = PQconnectdb (self->path);
    if (!self->pg || PQstatus (self->pg) != CONNECTION_OK) {
        s_pg_error (self, self->pg ? PQerrorMessage (self->pg)
                                   : "out of memory");
        zmesh__detail (detail, "store: cannot connect to PostgreSQL: %s",
                       self->error);
        return ZMESH_ERR_STORE;
    }
    PQsetNoticeProcessor (self->pg, s_pg_quiet, NULL);
    return zmesh__db_exec (self, synced ? "SET synchronous_commit = on"
                                        : "SET synchronous_commit = off",
                           detail);
}

static pthread_once_t s_lite_once = PTHREAD_ONCE_INIT;

static void
s_lite_configure (void)
{
    sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
}

static zmesh_err_t
s_open_lite (zmesh__db_t *self, bool synced, zmesh_detail_t *detail)
{
    //  A new store is its owner's alone (0600), and so are its -wal and
    //  -shm files, which SQLite makes with the database file's mode. An
    //  existing one keeps its mode.
    int fd = open (self->path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW
                               | O_CLOEXEC, 0600);
    if (fd >= 0)
        close (fd);
    //  SQLite counts the memory it holds, under a mutex of the process's,
    //  at every allocation; nothing here reads the count. This takes
    //  effect only before SQLite's first use in the process, and is
    //  refused (harmlessly) after it.
    pthread_once (&s_lite_once, s_lite_configure);
    if (sqlite3_open_v2 (self->path, &self->lite,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                         | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        zmesh__detail (detail, "store %s: cannot open: %s", self->path,
                       self->lite ? sqlite3_errmsg (self->lite)
                                  : "out of memory");
        return ZMESH_ERR_STORE;
    }
    //  Writers in other processes wait for each other, not fail.
    sqlite3_busy_timeout (self->lite, 10000);
    zmesh_err_t rc = zmesh__db_exec (self, "PRAGMA journal_mode = WAL",
                                     detail);
    if (rc == ZMESH_OK)
        rc = zmesh__db_exec (self, synced ? "PRAGMA synchronous = FULL"
                                          : "PRAGMA synchronous = NORMAL",
                             detail);
    return rc;
}

zmesh__db_t *
zmesh__db_open (const char *path, bool synced, zmesh_detail_t *detail)
{
    assert (path);
    zmesh__db_t *self = zmesh__calloc (1, sizeof *self);
    if (!self || !(self->path = zmesh__strndup (path, strlen (path)))) {
        zmesh__detail (detail, "store: out of memory");
        zmesh__free (self);
        return NULL;
    }
    zmesh_err_t rc = zmesh__db_path_is_pg (path)
                   ? s_open_pg (self, synced, detail)
                   : s_open_lite (self, synced, detail);
    if (rc)
        zmesh__db_close (&self);
    return self;
}

void
zmesh__db_close (zmesh__db_t **self_p)
{
    assert (self_p);
    zmesh__db_t *self = *self_p;
    if (!self)
        return;
    for (size_t index = 0; index < self->cached_count; index++)
        zmesh__stmt_free (&self->cached [index]);
    if (self->pg)
        PQfinish (self->pg);
    sqlite3_close (self->lite);
    zmesh__free (self->path);
    zmesh__free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  PostgreSQL's pipeline: statements queued with zmesh__stmt_queue wait
//  in libpq's buffer, and go to the server with the next statement that
//  waits for its result, in one round trip.

//  Read the results of the statements queued, then (own) that of the one
//  sent after them, which is returned; NULL if there is none. If one of
//  those queued failed, the server skipped what came after it in the
//  pipeline, and the transaction is failed: queue_failed says so until
//  the caller rolls it back.
static PGresult *
s_pg_sync (zmesh__db_t *self, bool own)
{
    PGresult *kept = NULL;
    if (PQpipelineSync (self->pg) != 1) {
        s_pg_error (self, PQerrorMessage (self->pg));
        self->queue_failed = true;
    }
    for (int index = 0; index < self->queued + own; index++) {
        PGresult *result;
        while ((result = PQgetResult (self->pg))) {
            ExecStatusType status = PQresultStatus (result);
            if (index == self->queued && !kept) {
                kept = result;
                continue;
            }
            if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK
                && !self->queue_failed) {
                s_pg_error (self, status == PGRES_PIPELINE_ABORTED
                                  ? "aborted" : PQresultErrorMessage (result));
                self->queue_failed = true;
            }
            PQclear (result);
        }
    }
    PQclear (PQgetResult (self->pg));       //  The sync's own
    if (PQexitPipelineMode (self->pg) != 1) {
        s_pg_error (self, PQerrorMessage (self->pg));
        self->queue_failed = true;
    }
    self->queued = 0;
    return kept;
}

//  Before a statement that does not go through the pipeline: the queued
//  ones go first. False if one of them failed, and the transaction with
//  it (sql may still be ROLLBACK, which ends it).
static bool
s_pg_flush (zmesh__db_t *self, const char *sql)
{
    if (self->queued)
        s_pg_sync (self, false);
    return !self->queue_failed || streq (sql, "ROLLBACK");
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
            s_pg_sync (self, false);
        return true;
    }
    s_pg_error (self, PQerrorMessage (self->pg));
    if (self->queued)
        s_pg_sync (self, false);
    else if (PQpipelineStatus (self->pg) != PQ_PIPELINE_OFF)
        PQexitPipelineMode (self->pg);
    return false;
}

//  A command's result: ok, or its error kept. Clears result.
static zmesh_err_t
s_pg_done (zmesh__db_t *self, PGresult *result, const char *what,
           zmesh_detail_t *detail)
{
    ExecStatusType status = result ? PQresultStatus (result)
                                   : PGRES_FATAL_ERROR;
    zmesh_err_t rc = ZMESH_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        s_pg_error (self, result ? PQresultErrorMessage (result)
                                 : PQerrorMessage (self->pg));
        zmesh__detail (detail, "store: %s: %s", what, self->error);
        rc = ZMESH_ERR_STORE;
    }
    PQclear (result);
    return rc;
}

zmesh_err_t
zmesh__db_exec (zmesh__db_t *self, const char *sql, zmesh_detail_t *detail)
{
    assert (self && sql);
    if (self->pg && !s_pg_flush (self, sql)) {
        zmesh__detail (detail, "store: %s: a statement before it failed: %s",
                       sql, self->error);
        return ZMESH_ERR_STORE;
    }
    if (self->pg) {
        zmesh_err_t rc = s_pg_done (self, PQexec (self->pg, sql), sql, detail);
        if (streq (sql, "ROLLBACK"))
            self->queue_failed = false;
        return rc;
    }
    char *message = NULL;
    if (sqlite3_exec (self->lite, sql, NULL, NULL, &message) == SQLITE_OK)
        return ZMESH_OK;
    zmesh__detail (detail, "store %s: %s", self->path,
                   message ? message : "failed");
    sqlite3_free (message);
    return ZMESH_ERR_STORE;
}

//  An integer column of a binary PostgreSQL row, as the width it comes in.
static int64_t
s_pg_int (const PGresult *result, int row, int column)
{
    if (PQgetisnull (result, row, column))
        return 0;
    const uint8_t *bytes = (const uint8_t *) PQgetvalue (result, row, column);
    int length = PQgetlength (result, row, column);
    uint64_t value = 0;
    for (int index = 0; index < length && index < 8; index++)
        value = (value << 8) | bytes [index];
    switch (length) {
        case 1: return (int8_t) value;
        case 2: return (int16_t) value;
        case 4: return (int32_t) value;
        default: return (int64_t) value;
    }
}

int64_t
zmesh__db_query_int (zmesh__db_t *self, const char *sql)
{
    assert (self && sql);
    int64_t value = -1;
    if (self->pg) {
        if (!s_pg_flush (self, sql))
            return -1;
        PGresult *result = PQexecParams (self->pg, sql, 0, NULL, NULL, NULL,
                                         NULL, 1);
        if (PQresultStatus (result) == PGRES_TUPLES_OK
            && PQntuples (result) > 0 && PQnfields (result) > 0)
            value = s_pg_int (result, 0, 0);
        else
            s_pg_error (self, PQresultErrorMessage (result));
        PQclear (result);
        return value;
    }
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2 (self->lite, sql, -1, &statement, NULL) == SQLITE_OK
        && sqlite3_step (statement) == SQLITE_ROW)
        value = sqlite3_column_int64 (statement, 0);
    sqlite3_finalize (statement);
    return value;
}

zmesh_err_t
zmesh__db_begin (zmesh__db_t *self, zmesh_detail_t *detail)
{
    assert (self);
    self->transactions++;
    if (!self->pg) {
        zmesh__stmt_t *begin = zmesh__db_prepare (self, "BEGIN IMMEDIATE",
                                                  detail);
        if (!begin)
            return ZMESH_ERR_STORE;
        if (zmesh__stmt_run (begin) == ZMESH__DB_DONE)
            return ZMESH_OK;
        zmesh__detail (detail, "store %s: BEGIN: %s", self->path,
                       zmesh__db_error (self));
        return ZMESH_ERR_STORE;
    }
    //  One round trip: the two go as one simple query
    zmesh_err_t rc = zmesh__db_exec (self, "BEGIN; " PG_WRITE_LOCK, detail);
    if (rc && zmesh__db_in_transaction (self))
        zmesh__db_exec (self, "ROLLBACK", NULL);
    return rc;
}

uint64_t
zmesh__db_transaction (zmesh__db_t *self)
{
    assert (self);
    return zmesh__db_in_transaction (self) ? self->transactions : 0;
}

bool
zmesh__db_in_transaction (zmesh__db_t *self)
{
    assert (self);
    if (!self->pg)
        return !sqlite3_get_autocommit (self->lite);
    //  One that failed in the pipeline is open until it is rolled back,
    //  whatever became of it on the server
    PGTransactionStatusType status = PQtransactionStatus (self->pg);
    return self->queue_failed || status == PQTRANS_INTRANS || status == PQTRANS_INERROR
        || status == PQTRANS_ACTIVE;
}

int64_t
zmesh__db_changes (zmesh__db_t *self)
{
    assert (self);
    return self->pg ? self->changes : sqlite3_total_changes64 (self->lite);
}

int64_t
zmesh__db_last_changes (zmesh__db_t *self)
{
    assert (self);
    return self->pg ? self->last_changes : sqlite3_changes64 (self->lite);
}

int64_t
zmesh__db_data_version (zmesh__db_t *self)
{
    assert (self);
    return self->pg ? -1 : zmesh__db_query_int (self, "PRAGMA data_version");
}


//  ---------------------------------------------------------------------
//  Statements

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

static zmesh__stmt_t *
s_stmt_new (zmesh__db_t *self, const char *sql)
{
    zmesh__stmt_t *stmt = zmesh__calloc (1, sizeof *stmt);
    if (stmt && !(stmt->sql = zmesh__strndup (sql, strlen (sql))))
        zmesh__free (stmt);
    else if (stmt)
        stmt->db = self;
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
        if (!s_pg_flush (self, stmt->sql)) {
            zmesh__free (numbered);
            zmesh__detail (detail, "store: cannot prepare %s: a statement "
                           "before it failed: %s", stmt->sql, self->error);
            return ZMESH_ERR_STORE;
        }
        zmesh_err_t rc = s_pg_done (self, PQprepare (self->pg, stmt->name,
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

//  The first step on PostgreSQL: run it, and keep its rows.
static zmesh__db_step_t
s_pg_run (zmesh__stmt_t *self)
{
    zmesh__db_t *db = self->db;
    if (db->queue_failed)
        self->result = NULL;    //  The transaction has failed already
    else if (db->queued)        //  With those queued, in one round trip
        self->result = PQsendQueryPrepared (db->pg, self->name, self->params,
                                            self->values, self->lengths,
                                            self->formats, 1) == 1
                     ? s_pg_sync (db, true) : (s_pg_sync (db, false), NULL);
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
    }
    else {
        if (!db->queue_failed)      //  Else the error is the queued one's
            s_pg_error (db, self->result
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
    return s_pg_cell (self, index) ? s_pg_int (self->result, self->row, index)
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

zmesh__db_step_t
zmesh__stmt_queue (zmesh__stmt_t *self)
{
    assert (self);
    zmesh__db_t *db = self->db;
    if (self->lite || db->queue_failed || !zmesh__db_in_transaction (db))
        return zmesh__stmt_run (self);
    return s_pg_queue (self) ? ZMESH__DB_DONE : ZMESH__DB_ERROR;
}
