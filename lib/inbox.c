/*  inbox.c - a consumer's positions, processed ids and dead letters.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "inbox.h"
#include "store_db.h"

//  The store keeps these statements prepared: each runs once per
//  consumed event. Reset after use.
static zmesh_err_t
s_prepare (zmesh_store_t *store, const char *sql, sqlite3_stmt **statement)
{
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh__store_prepare (store, sql, statement, &detail);
    if (rc)
        zsys_error ("inbox: %s", detail.text);
    return rc;
}

//  Step a statement that returns no rows, and reset it.
static zmesh_err_t
s_done (sqlite3_stmt *statement)
{
    int step = sqlite3_step (statement);
    sqlite3_reset (statement);
    return step == SQLITE_DONE ? ZMESH_OK : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_position (zmesh_store_t *store, const char *publisher,
                      uint64_t *seq, bool *known)
{
    assert (store && publisher && seq && known);
    sqlite3_stmt *statement;
    if (s_prepare (store, "SELECT seq FROM inbox_positions WHERE publisher = ?",
                   &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_text (statement, 1, publisher, -1, SQLITE_STATIC);
    int step = sqlite3_step (statement);
    *known = step == SQLITE_ROW;
    *seq = *known ? (uint64_t) sqlite3_column_int64 (statement, 0) : 0;
    sqlite3_reset (statement);
    return step == SQLITE_ROW || step == SQLITE_DONE ? ZMESH_OK
                                                     : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_set_position (zmesh_store_t *store, const char *publisher,
                          uint64_t seq)
{
    assert (store && publisher);
    sqlite3_stmt *statement;
    if (s_prepare (store, "INSERT INTO inbox_positions (publisher, seq) "
                          "VALUES (?, ?) ON CONFLICT (publisher) DO UPDATE "
                          "SET seq = excluded.seq", &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_text (statement, 1, publisher, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (statement, 2, (sqlite3_int64) seq);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_seen (zmesh_store_t *store, const zmesh_uuid_t *id, bool *seen)
{
    assert (store && id && seen);
    sqlite3_stmt *statement;
    if (s_prepare (store, "SELECT 1 FROM inbox_processed WHERE event_id = ?",
                   &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE, SQLITE_STATIC);
    int step = sqlite3_step (statement);
    *seen = step == SQLITE_ROW;
    sqlite3_reset (statement);
    return step == SQLITE_ROW || step == SQLITE_DONE ? ZMESH_OK
                                                     : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_mark (zmesh_store_t *store, const zmesh_uuid_t *id,
                  uint64_t unix_ms)
{
    assert (store && id);
    sqlite3_stmt *statement;
    if (s_prepare (store, "INSERT OR IGNORE INTO inbox_processed (event_id, "
                          "at) VALUES (?, ?)", &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE, SQLITE_STATIC);
    sqlite3_bind_int64 (statement, 2, (sqlite3_int64) unix_ms);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_forget (zmesh_store_t *store, uint64_t unix_ms)
{
    assert (store);
    sqlite3_stmt *statement;
    if (s_prepare (store, "DELETE FROM inbox_processed WHERE at < ?",
                   &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_int64 (statement, 1, (sqlite3_int64) unix_ms);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_keep_reply (zmesh_store_t *store, const zmesh_uuid_t *request_id,
                         const void *reply, size_t size, uint64_t at)
{
    assert (store && request_id && reply);
    sqlite3_stmt *statement;
    if (s_prepare (store, "INSERT OR REPLACE INTO inbox_replies (request_id, "
                          "reply, at) VALUES (?, ?, ?)", &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_blob (statement, 1, request_id->bytes, ZMESH_UUID_SIZE,
                       SQLITE_STATIC);
    sqlite3_bind_blob (statement, 2, reply, (int) size, SQLITE_STATIC);
    sqlite3_bind_int64 (statement, 3, (sqlite3_int64) at);
    return s_done (statement);
}

zframe_t *
zmesh__inbox_reply (zmesh_store_t *store, const zmesh_uuid_t *request_id)
{
    assert (store && request_id);
    sqlite3_stmt *statement;
    if (s_prepare (store, "SELECT reply FROM inbox_replies WHERE request_id "
                          "= ?", &statement))
        return NULL;
    sqlite3_bind_blob (statement, 1, request_id->bytes, ZMESH_UUID_SIZE,
                       SQLITE_STATIC);
    zframe_t *frame = NULL;
    if (sqlite3_step (statement) == SQLITE_ROW)
        frame = zframe_new (sqlite3_column_blob (statement, 0),
                            (size_t) sqlite3_column_bytes (statement, 0));
    sqlite3_reset (statement);
    return frame;
}

zmesh_err_t
zmesh__inbox_forget_replies (zmesh_store_t *store, uint64_t unix_ms)
{
    assert (store);
    sqlite3_stmt *statement;
    if (s_prepare (store, "DELETE FROM inbox_replies WHERE at < ?",
                   &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_int64 (statement, 1, (sqlite3_int64) unix_ms);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_bury (zmesh_store_t *store, const zmesh__dead_letter_t *letter)
{
    assert (store && letter);
    sqlite3_stmt *statement;
    if (s_prepare (store, "INSERT OR REPLACE INTO inbox_dead (event_id, "
                          "publisher, seq, envelope, error, attempts, at) "
                          "VALUES (?, ?, ?, ?, ?, ?, ?)", &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_blob (statement, 1, letter->event_id.bytes, ZMESH_UUID_SIZE,
                       SQLITE_STATIC);
    sqlite3_bind_text (statement, 2, letter->publisher, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (statement, 3, (sqlite3_int64) letter->seq);
    sqlite3_bind_blob (statement, 4, letter->envelope,
                       (int) letter->envelope_size, SQLITE_STATIC);
    sqlite3_bind_text (statement, 5, letter->error, -1, SQLITE_STATIC);
    sqlite3_bind_int (statement, 6, letter->attempts);
    sqlite3_bind_int64 (statement, 7, (sqlite3_int64) letter->at);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_dead_letters (zmesh_store_t *store, zmesh__dead_letter_fn *fn,
                          void *arg)
{
    assert (store && fn);
    //  Prepared here, not kept: fn may use the inbox while this runs.
    sqlite3_stmt *statement;
    if (sqlite3_prepare_v2 (zmesh__store_db (store),
                            "SELECT event_id, publisher, seq, envelope, error,"
                            " attempts, at FROM inbox_dead ORDER BY at, rowid",
                            -1, &statement, NULL) != SQLITE_OK) {
        zsys_error ("inbox %s: %s", zmesh__store_path (store),
                    sqlite3_errmsg (zmesh__store_db (store)));
        sqlite3_finalize (statement);
        return ZMESH_ERR_STORE;
    }
    int step;
    while ((step = sqlite3_step (statement)) == SQLITE_ROW) {
        zmesh__dead_letter_t letter;
        memset (&letter, 0, sizeof letter);
        if (sqlite3_column_bytes (statement, 0) == ZMESH_UUID_SIZE)
            memcpy (letter.event_id.bytes, sqlite3_column_blob (statement, 0),
                    ZMESH_UUID_SIZE);
        letter.publisher = (const char *) sqlite3_column_text (statement, 1);
        letter.seq = (uint64_t) sqlite3_column_int64 (statement, 2);
        letter.envelope = sqlite3_column_blob (statement, 3);
        letter.envelope_size = (size_t) sqlite3_column_bytes (statement, 3);
        letter.error = (const char *) sqlite3_column_text (statement, 4);
        letter.attempts = sqlite3_column_int (statement, 5);
        letter.at = (uint64_t) sqlite3_column_int64 (statement, 6);
        if (!fn (&letter, arg))
            break;
    }
    sqlite3_finalize (statement);
    return step == SQLITE_ROW || step == SQLITE_DONE ? ZMESH_OK
                                                     : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_unbury (zmesh_store_t *store, const zmesh_uuid_t *id)
{
    assert (store && id);
    sqlite3_stmt *statement;
    if (s_prepare (store, "DELETE FROM inbox_dead WHERE event_id = ?",
                   &statement))
        return ZMESH_ERR_STORE;
    sqlite3_bind_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE, SQLITE_STATIC);
    zmesh_err_t rc = s_done (statement);
    if (rc == ZMESH_OK && sqlite3_changes (zmesh__store_db (store)) == 0)
        rc = ZMESH_ERR_INVALID;
    return rc;
}
