/*  store_db.h - the SQLite handle under an event store, for the modules
    that keep their own tables in the same file (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_STORE_DB_H_INCLUDED
#define ZMESH_STORE_DB_H_INCLUDED

#include <sqlite3.h>
#include "zmesh/store.h"

sqlite3 *
    zmesh__store_db (zmesh_store_t *self);
const char *
    zmesh__store_path (zmesh_store_t *self);

//  Run sql (no rows) on the store's connection. A single statement is
//  prepared once and kept (zmesh__store_prepare); a script with several
//  is parsed each time.
zmesh_err_t
    zmesh__store_exec (zmesh_store_t *self, const char *sql,
                       zmesh_detail_t *detail);

//  The store's prepared statement for sql (one statement), made on first
//  use and kept until the store closes. The caller resets it after use,
//  and must not ask for the same sql again before that.
zmesh_err_t
    zmesh__store_prepare (zmesh_store_t *self, const char *sql,
                          sqlite3_stmt **statement_p, zmesh_detail_t *detail);

//  Deliver the events from position from on, at most limit (0: all), to
//  fn; the last position delivered and how many, if not NULL.
zmesh_err_t
    zmesh__store_read_from (zmesh_store_t *self, uint64_t from, size_t limit,
                            zmesh_stored_event_fn *fn, void *arg,
                            uint64_t *last_p, size_t *count_p,
                            zmesh_detail_t *detail);

//  Whether a transaction is open on the store's connection.
bool
    zmesh__store_in_transaction (zmesh_store_t *self);

//  Rows changed on the store's connection since it opened: a handler that
//  changed it wrote something.
int64_t
    zmesh__store_changes (zmesh_store_t *self);

//  The one integer sql (a query or pragma) returns, or -1.
int64_t
    zmesh__store_query_int (zmesh_store_t *self, const char *sql);

//  SQLite's data_version: it changes when another connection commits.
int64_t
    zmesh__store_data_version (zmesh_store_t *self);

#endif
