/*  store_db.h - the database under an event store, for the modules that
    keep their own tables in it (private).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_STORE_DB_H_INCLUDED
#define ZMESH_STORE_DB_H_INCLUDED

#include "db.h"
#include "zmesh/store.h"

//  ZMESH_ERR_STORE, with detail saying what failed in store self and the
//  database's last error.
#define STORE_ERROR(detail, self, what)                                 \
    (zmesh__detail ((detail), "store %s: %s: %s",                       \
                    zmesh__store_path (self), (what),                  \
                    zmesh__db_error (zmesh__store_db (self))),         \
     ZMESH_ERR_STORE)

zmesh__db_t *
    zmesh__store_db (zmesh_store_t *self);

//  Bring db (the store at path, for messages) to ZMESH_STORE_SCHEMA, one
//  step per transaction (store_schema.c); ZMESH_ERR_STORE_SCHEMA if it
//  is newer than that.
zmesh_err_t
    zmesh__store_migrate (zmesh__db_t *db, const char *path,
                          zmesh_detail_t *detail);
const char *
    zmesh__store_path (zmesh_store_t *self);

//  Deliver the events from position from on, at most limit (0: all), to
//  fn; the last position delivered and how many, if not NULL.
zmesh_err_t
    zmesh__store_read_from (zmesh_store_t *self, uint64_t from, size_t limit,
                            zmesh_stored_event_fn *fn, void *arg,
                            uint64_t *last_p, size_t *count_p,
                            zmesh_detail_t *detail);

//  zmesh_store_append of events whose ids were made for them
//  just now, so that none of them can be a retry: inside a transaction,
//  on SQLite, their rows may wait to be inserted together (store_rows.h),
//  and the commit then fails if they cannot be.
zmesh_err_t
    zmesh__store_append_new (zmesh_store_t *self, const char *stream,
                             int64_t expected, const zmesh_new_event_t *events,
                             size_t count, zmesh_append_result_t *result,
                             zmesh_detail_t *detail);

//  Whether a transaction is open on the store's connection.
bool
    zmesh__store_in_transaction (zmesh_store_t *self);

//  Make the store group's (a node's node/service): the first group to open
//  a store has it, and ZMESH_ERR_CONFIG refuses another, saying so in
//  detail, since the ids a store records as processed are one group's.
zmesh_err_t
    zmesh__store_claim_group (zmesh_store_t *self, const char *group,
                              zmesh_detail_t *detail);

//  Rows changed on the store's connection since it opened: a handler that
//  changed it wrote something.
int64_t
    zmesh__store_changes (zmesh_store_t *self);

//  A number that changes when another connection commits, or -1 where the
//  database has none (PostgreSQL).
int64_t
    zmesh__store_data_version (zmesh_store_t *self);

#endif
