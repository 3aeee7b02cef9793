/*  snapshot.c - the newest snapshot of each stream's state, kept in the
    store's file beside the events, for aggregates to load from.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

zmesh_err_t
zmesh_store_save_snapshot (zmesh_store_t *self, const char *stream,
                           int64_t version, const void *state, size_t size)
{
    assert (self && stream && state);
    sqlite3_stmt *statement;
    if (zmesh__store_prepare (self,
                              "INSERT INTO snapshots (stream, version, state) "
                              "VALUES (?, ?, ?) ON CONFLICT (stream) DO UPDATE "
                              "SET version = excluded.version, state = "
                              "excluded.state WHERE excluded.version > version",
                              &statement, NULL) != ZMESH_OK)
        return ZMESH_ERR_STORE;
    sqlite3_bind_text (statement, 1, stream, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (statement, 2, version);
    sqlite3_bind_blob (statement, 3, state, (int) size, SQLITE_STATIC);
    int step = sqlite3_step (statement);
    sqlite3_reset (statement);
    return step == SQLITE_DONE ? ZMESH_OK : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh_store_load_snapshot (zmesh_store_t *self, const char *stream,
                           void **state_p, size_t *size, int64_t *version)
{
    assert (self && stream && state_p && size && version);
    *state_p = NULL;
    *size = 0;
    *version = 0;
    sqlite3_stmt *statement;
    if (zmesh__store_prepare (self, "SELECT version, state FROM snapshots "
                                    "WHERE stream = ?", &statement, NULL)
        != ZMESH_OK)
        return ZMESH_ERR_STORE;
    sqlite3_bind_text (statement, 1, stream, -1, SQLITE_STATIC);
    zmesh_err_t rc = ZMESH_OK;
    int step = sqlite3_step (statement);
    if (step == SQLITE_ROW) {
        size_t bytes = (size_t) sqlite3_column_bytes (statement, 1);
        void *state = zmesh__alloc (bytes);
        if (state) {
            memcpy (state, sqlite3_column_blob (statement, 1), bytes);
            *state_p = state;
            *size = bytes;
            *version = sqlite3_column_int64 (statement, 0);
        }
        else
            rc = ZMESH_ERR_NOMEM;
    }
    else if (step != SQLITE_DONE)
        rc = ZMESH_ERR_STORE;
    sqlite3_reset (statement);
    return rc;
}
