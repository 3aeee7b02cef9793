/*  db.c - the SQL database under a store: SQLite through its C API, or
    PostgreSQL through libpq: connections, commands and transactions. The
    statements, prepared once and kept, are db_stmt.c's.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>
#include "zmesh_classes.h"
#include "db_private.h"

//  Every zmesh writer of a store on PostgreSQL takes this transaction lock
//  before it writes, so that one writes at a time: one lock per schema
//  (the store's), so that the stores of several services in one database,
//  each in a schema of its own, do not wait for each other.
#define PG_WRITE_LOCK   "SELECT pg_advisory_xact_lock (1325933672, " \
                        "hashtext (current_schema ()))"

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
void
zmesh__db_pg_error (zmesh__db_t *self, const char *message)
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
        zmesh__db_pg_error (self, self->pg ? PQerrorMessage (self->pg)
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
PGresult *
zmesh__db_pg_sync (zmesh__db_t *self, bool own)
{
    PGresult *kept = NULL;
    if (PQpipelineSync (self->pg) != 1) {
        zmesh__db_pg_error (self, PQerrorMessage (self->pg));
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
                zmesh__db_pg_error (self, status == PGRES_PIPELINE_ABORTED
                                  ? "aborted" : PQresultErrorMessage (result));
                self->queue_failed = true;
                //  Class 23: integrity constraint violation
                const char *state = PQresultErrorField (result,
                                                        PG_DIAG_SQLSTATE);
                self->queue_constraint = state
                                      && strncmp (state, "23", 2) == 0;
            }
            PQclear (result);
        }
    }
    PQclear (PQgetResult (self->pg));       //  The sync's own
    if (PQexitPipelineMode (self->pg) != 1) {
        zmesh__db_pg_error (self, PQerrorMessage (self->pg));
        self->queue_failed = true;
    }
    self->queued = 0;
    return kept;
}

//  Before a statement that does not go through the pipeline: the queued
//  ones go first. False if one of them failed, and the transaction with
//  it (sql may still be ROLLBACK, which ends it).
bool
zmesh__db_pg_flush (zmesh__db_t *self, const char *sql)
{
    if (self->queued)
        zmesh__db_pg_sync (self, false);
    return !self->queue_failed || strncmp (sql, "ROLLBACK", 8) == 0;
}

zmesh__db_step_t
zmesh__db_wait_queued (zmesh__db_t *self)
{
    assert (self);
    if (self->pg && self->queued)
        zmesh__db_pg_sync (self, false);
    return !self->queue_failed    ? ZMESH__DB_DONE
         : self->queue_constraint ? ZMESH__DB_CONSTRAINT
                                  : ZMESH__DB_ERROR;
}

//  A command's result: ok, or its error kept. Clears result.
zmesh_err_t
zmesh__db_pg_done (zmesh__db_t *self, PGresult *result, const char *what,
           zmesh_detail_t *detail)
{
    ExecStatusType status = result ? PQresultStatus (result)
                                   : PGRES_FATAL_ERROR;
    zmesh_err_t rc = ZMESH_OK;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
        zmesh__db_pg_error (self, result ? PQresultErrorMessage (result)
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
    if (self->pg && !zmesh__db_pg_flush (self, sql)) {
        zmesh__detail (detail, "store: %s: a statement before it failed: %s",
                       sql, self->error);
        return ZMESH_ERR_STORE;
    }
    if (self->pg) {
        //  A rollback, to a savepoint too, lets go of a lock taken after
        //  it: the next write takes it again
        if (strncmp (sql, "ROLLBACK", 8) == 0)
            self->locked = 0;
        zmesh_err_t rc = zmesh__db_pg_done (self, PQexec (self->pg, sql), sql, detail);
        //  A rollback ends the transaction; one to a savepoint that
        //  succeeds mends it, whatever failed after the savepoint
        if (streq (sql, "ROLLBACK")
            || (rc == ZMESH_OK && strncmp (sql, "ROLLBACK TO", 11) == 0))
            self->queue_failed = self->queue_constraint = false;
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
int64_t
zmesh__db_pg_int (const PGresult *result, int row, int column)
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
        if (!zmesh__db_pg_flush (self, sql))
            return -1;
        PGresult *result = PQexecParams (self->pg, sql, 0, NULL, NULL, NULL,
                                         NULL, 1);
        if (PQresultStatus (result) == PGRES_TUPLES_OK
            && PQntuples (result) > 0 && PQnfields (result) > 0)
            value = zmesh__db_pg_int (result, 0, 0);
        else
            zmesh__db_pg_error (self, PQresultErrorMessage (result));
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

//  BEGIN into the pipeline, to go with the transaction's first statement
//  that waits for its result (in a pipeline, a sync ends no transaction
//  that BEGIN opened).
static zmesh_err_t
s_pg_queue_begin (zmesh__db_t *self, zmesh_detail_t *detail)
{
    if ((PQpipelineStatus (self->pg) != PQ_PIPELINE_OFF
         || PQenterPipelineMode (self->pg) == 1)
        && PQsendQueryParams (self->pg, "BEGIN", 0, NULL, NULL, NULL, NULL,
                              1) == 1) {
        if (++self->queued >= QUEUED_MAX)
            zmesh__db_pg_sync (self, false);
        return ZMESH_OK;
    }
    zmesh__db_pg_error (self, PQerrorMessage (self->pg));
    zmesh__detail (detail, "store %s: BEGIN: %s", self->path, self->error);
    if (self->queued)
        zmesh__db_pg_sync (self, false);
    else if (PQpipelineStatus (self->pg) != PQ_PIPELINE_OFF)
        PQexitPipelineMode (self->pg);
    return ZMESH_ERR_STORE;
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
    //  No round trip of their own: the two go with the first statement
    zmesh_err_t rc = s_pg_queue_begin (self, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__db_lock (self, detail);
    if (rc && zmesh__db_in_transaction (self))
        zmesh__db_exec (self, "ROLLBACK", NULL);
    return rc;
}

zmesh_err_t
zmesh__db_begin_unlocked (zmesh__db_t *self, zmesh_detail_t *detail)
{
    assert (self);
    if (!self->pg)
        return zmesh__db_begin (self, detail);
    self->transactions++;
    return s_pg_queue_begin (self, detail);
}

zmesh_err_t
zmesh__db_lock (zmesh__db_t *self, zmesh_detail_t *detail)
{
    assert (self);
    if (!self->pg || self->locked == self->transactions
        || !zmesh__db_in_transaction (self))
        return ZMESH_OK;
    zmesh__stmt_t *lock = zmesh__db_prepare (self, PG_WRITE_LOCK, detail);
    if (!lock)
        return ZMESH_ERR_STORE;
    self->locked = self->transactions;
    if (zmesh__stmt_queue (lock) == ZMESH__DB_DONE)
        return ZMESH_OK;
    zmesh__detail (detail, "store: cannot take the write lock: %s",
                   self->error);
    return ZMESH_ERR_STORE;
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
