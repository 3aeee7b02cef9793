/*  snapshot.c - the newest snapshot of each stream's state, kept in the
    store beside the events, for aggregates to load from.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

zmesh_err_t
zmesh_store_save_snapshot (zmesh_store_t *self, const char *stream,
                           int64_t version, const void *state, size_t size)
{
    assert (self && stream && state);
    zmesh__stmt_t *statement = zmesh__db_prepare (
        zmesh__store_db (self),
        "INSERT INTO snapshots (stream, version, state) VALUES (?, ?, ?) ON "
        "CONFLICT (stream) DO UPDATE SET version = excluded.version, state = "
        "excluded.state WHERE excluded.version > snapshots.version",
        NULL);
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, stream);
    zmesh__stmt_int (statement, 2, version);
    zmesh__stmt_blob (statement, 3, state, size);
    return zmesh__stmt_run (statement) == ZMESH__DB_DONE ? ZMESH_OK
                                                         : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh_store_load_snapshot (zmesh_store_t *self, const char *stream,
                           void **state_p, size_t *size, int64_t *version)
{
    assert (self && stream && state_p && size && version);
    *state_p = NULL;
    *size = 0;
    *version = 0;
    zmesh__stmt_t *statement = zmesh__db_prepare (
        zmesh__store_db (self),
        "SELECT version, state FROM snapshots WHERE stream = ?", NULL);
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, stream);
    zmesh_err_t rc = ZMESH_OK;
    zmesh__db_step_t step = zmesh__stmt_step (statement);
    if (step == ZMESH__DB_ROW) {
        size_t bytes = zmesh__stmt_column_bytes (statement, 1);
        void *state = zmesh__alloc (bytes ? bytes : 1);
        if (state) {
            if (bytes)
                memcpy (state, zmesh__stmt_column_blob (statement, 1), bytes);
            *state_p = state;
            *size = bytes;
            *version = zmesh__stmt_column_int (statement, 0);
        }
        else
            rc = ZMESH_ERR_NOMEM;
    }
    else if (step != ZMESH__DB_DONE)
        rc = ZMESH_ERR_STORE;
    zmesh__stmt_reset (statement);
    return rc;
}
