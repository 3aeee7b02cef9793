/*  db_private.h - what the database (db.c) and its statements
    (db_stmt.c) share: their structures, and PostgreSQL's pipeline and
    results (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_DB_PRIVATE_H_INCLUDED
#define ZMESH_DB_PRIVATE_H_INCLUDED

#include <sqlite3.h>
#include <libpq-fe.h>
#include "db.h"

#define PARAMS_MAX      16      //  Parameters of one statement
#define CACHED_MAX      48      //  Statements a database keeps prepared
#define QUEUED_MAX      256     //  PostgreSQL: statements in the pipeline,
                                //  at most, before their results are read

struct _zmesh__stmt_t {
    zmesh__db_t *db;
    char *sql;
    const char *key;            //  The SQL as its first caller gave it
    bool busy;                  //  Stepped since its last reset
    bool writes;                //  Inserts, updates or deletes
    bool unlocks;               //  Rolls back (to a savepoint, say)
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
    bool queue_constraint;      //  and by breaking a constraint
    uint64_t transactions;      //  Begun through this connection
    uint64_t locked;            //  PostgreSQL: the one that holds the
                                //  write lock
    zmesh__stmt_t *cached [CACHED_MAX];
    size_t cached_count;
};

//  PostgreSQL's message kept for zmesh__db_error, without its newline.
void
    zmesh__db_pg_error (zmesh__db_t *self, const char *message);
//  The pipeline: statements queued with zmesh__stmt_queue wait in libpq's
//  buffer, and go to the server with the next statement that waits for
//  its result. Sync reads the results of those queued, then (own) that of
//  the one sent after them, which it returns; flush sends the queued
//  before a statement sql that does not go through the pipeline, false if
//  one of them failed (db.c says more).
PGresult *
    zmesh__db_pg_sync (zmesh__db_t *self, bool own);
bool
    zmesh__db_pg_flush (zmesh__db_t *self, const char *sql);
//  A command's result: ok, or its error kept, with what in the detail.
//  Clears result.
zmesh_err_t
    zmesh__db_pg_done (zmesh__db_t *self, PGresult *result, const char *what,
                       zmesh_detail_t *detail);
//  An integer column of a binary row, as the width it comes in.
int64_t
    zmesh__db_pg_int (const PGresult *result, int row, int column);

#endif
