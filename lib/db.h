/*  db.h - the SQL database under a store, SQLite or PostgreSQL, behind one
    small statement interface (private).

    A path that begins with postgresql:// or postgres:// is a libpq
    connection URI; any other is a SQLite file. Statements are written once
    for both: '?' marks a parameter, numbered from 1 in the order written,
    and only SQL that both understand is used (upserts with ON CONFLICT,
    savepoints, LIMIT with a bound number). Where the two differ (the
    schema, a scalar maximum), the caller picks with zmesh__db_is_pg.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_DB_H_INCLUDED
#define ZMESH_DB_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zmesh/error.h"

typedef struct _zmesh__db_t zmesh__db_t;
typedef struct _zmesh__stmt_t zmesh__stmt_t;

typedef enum {
    ZMESH__DB_ROW,              //  A row is there to read
    ZMESH__DB_DONE,             //  No more rows; the statement ran
    ZMESH__DB_CONSTRAINT,       //  A unique or other constraint refused it
    ZMESH__DB_ERROR             //  Anything else: zmesh__db_error says
} zmesh__db_step_t;

//  Whether path names a PostgreSQL database.
bool
    zmesh__db_path_is_pg (const char *path);

//  Open the database at path. A SQLite file is made 0600 if new, in WAL
//  mode, synced on every commit when synced. NULL with detail on failure.
zmesh__db_t *
    zmesh__db_open (const char *path, bool synced, zmesh_detail_t *detail);

void
    zmesh__db_close (zmesh__db_t **self_p);

bool
    zmesh__db_is_pg (const zmesh__db_t *self);

//  The database's last error message.
const char *
    zmesh__db_error (zmesh__db_t *self);

//  Run sql, one statement or several, with no parameters and no rows.
zmesh_err_t
    zmesh__db_exec (zmesh__db_t *self, const char *sql, zmesh_detail_t *detail);

//  The one integer sql (one statement, no parameters) returns; -1 if it
//  fails or returns none.
int64_t
    zmesh__db_query_int (zmesh__db_t *self, const char *sql);

//  Begin a write transaction: writers in other connections wait for it to
//  end (SQLite: BEGIN IMMEDIATE; PostgreSQL: BEGIN and a transaction
//  advisory lock that every zmesh writer of the database takes, both
//  queued in the pipeline, so that they reach the server with the first
//  statement and cost no round trip of their own), so what it reads
//  cannot change under it, and positions commit in the order they were
//  given.
zmesh_err_t
    zmesh__db_begin (zmesh__db_t *self, zmesh_detail_t *detail);

//  Begin a transaction that takes the write lock only when it first
//  writes (PostgreSQL: BEGIN alone, queued; each statement that inserts,
//  updates or deletes takes the lock first, queued in front of it in the
//  same round trip), so that one that only reads waits for no writer.
//  Reads before the lock see what was committed when they ran: one that
//  decides a write takes the lock first (zmesh__db_lock). SQLite: as
//  zmesh__db_begin.
zmesh_err_t
    zmesh__db_begin_unlocked (zmesh__db_t *self, zmesh_detail_t *detail);

//  In a transaction begun unlocked, take the write lock now (queued in
//  front of the next statement); in any other, nothing.
zmesh_err_t
    zmesh__db_lock (zmesh__db_t *self, zmesh_detail_t *detail);

bool
    zmesh__db_in_transaction (zmesh__db_t *self);

//  Wait for the statements queued (zmesh__stmt_queue) to run: DONE if all
//  did (or none was queued: SQLite runs each at once), CONSTRAINT if one
//  broke a constraint, ERROR otherwise. After a failure the transaction is
//  failed, until it is rolled back, or rolled back to a savepoint made
//  before the statement that failed.
zmesh__db_step_t
    zmesh__db_wait_queued (zmesh__db_t *self);

//  Which transaction is open (each zmesh__db_begin starts another), or 0
//  if none is.
uint64_t
    zmesh__db_transaction (zmesh__db_t *self);

//  Rows inserted, changed or deleted through this connection since it
//  opened, and by its last statement.
int64_t
    zmesh__db_changes (zmesh__db_t *self);
int64_t
    zmesh__db_last_changes (zmesh__db_t *self);

//  A number that changes when another connection commits (SQLite's
//  data_version), or -1 where there is none (PostgreSQL).
int64_t
    zmesh__db_data_version (zmesh__db_t *self);

//  The statement for sql (one statement), prepared on first use and kept
//  until the database closes; with its parameters cleared, unless a read
//  of it is under way (zmesh__stmt_busy), which is left as it is. NULL
//  with detail if it cannot be prepared.
zmesh__stmt_t *
    zmesh__db_prepare (zmesh__db_t *self, const char *sql,
                       zmesh_detail_t *detail);

//  A statement of the caller's own, for a read inside a read of the kept
//  one (zmesh__stmt_busy); freed with zmesh__stmt_free.
zmesh__stmt_t *
    zmesh__db_prepare_own (zmesh__db_t *self, const char *sql,
                           zmesh_detail_t *detail);
void
    zmesh__stmt_free (zmesh__stmt_t **self_p);

//  Whether the statement is between its first step and its reset.
bool
    zmesh__stmt_busy (zmesh__stmt_t *self);

//  Bind parameter index (from 1). Text and blobs are borrowed until the
//  statement is reset.
void
    zmesh__stmt_int (zmesh__stmt_t *self, int index, int64_t value);
void
    zmesh__stmt_text (zmesh__stmt_t *self, int index, const char *value);
void
    zmesh__stmt_blob (zmesh__stmt_t *self, int index, const void *data,
                      size_t size);
void
    zmesh__stmt_null (zmesh__stmt_t *self, int index);

//  Run the statement (on the first step) and move to its next row.
zmesh__db_step_t
    zmesh__stmt_step (zmesh__stmt_t *self);

//  Column index (from 0) of the row: valid until the next step or reset.
//  A NULL reads as 0, NULL and 0 bytes.
int64_t
    zmesh__stmt_column_int (zmesh__stmt_t *self, int index);
const char *
    zmesh__stmt_column_text (zmesh__stmt_t *self, int index);
const void *
    zmesh__stmt_column_blob (zmesh__stmt_t *self, int index);
size_t
    zmesh__stmt_column_bytes (zmesh__stmt_t *self, int index);

//  Make the statement ready to run again, its parameters cleared.
void
    zmesh__stmt_reset (zmesh__stmt_t *self);

//  Step a statement that returns no rows, then reset it.
zmesh__db_step_t
    zmesh__stmt_run (zmesh__stmt_t *self);

//  Run a statement that returns no rows, inside a transaction, without
//  waiting for it where the database allows: on PostgreSQL it is sent in a
//  pipeline, and the next statement that waits goes with it, both in one
//  round trip. ZMESH__DB_DONE then says only that it went. If it fails,
//  so does the statement that waits, and every one after it until the
//  transaction ends, the commit too: a caller learns of it by the next
//  step it waits for, at the latest by the commit. On SQLite, and outside
//  a transaction, it is zmesh__stmt_run. Reset after use.
zmesh__db_step_t
    zmesh__stmt_queue (zmesh__stmt_t *self);

#endif
