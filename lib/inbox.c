/*  inbox.c - a consumer's positions, processed ids and dead letters.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "inbox.h"
#include "store_db.h"

//  The store keeps these statements prepared: each runs once per
//  consumed event. Reset after use.
static zmesh__stmt_t *
s_prepare (zmesh_store_t *store, const char *sql)
{
    zmesh_detail_t detail = {""};
    zmesh__stmt_t *statement = zmesh__db_prepare (zmesh__store_db (store), sql,
                                                  &detail);
    if (!statement)
        zsys_error ("inbox: %s", detail.text);
    return statement;
}

//  Run a statement that returns no rows, and reset it.
static zmesh_err_t
s_done (zmesh__stmt_t *statement)
{
    return zmesh__stmt_run (statement) == ZMESH__DB_DONE ? ZMESH_OK
                                                         : ZMESH_ERR_STORE;
}

//  The same for a write whose result nothing waits for: in a transaction
//  on PostgreSQL it goes with the next statement (zmesh__stmt_queue).
static zmesh_err_t
s_queued (zmesh__stmt_t *statement)
{
    return zmesh__stmt_queue (statement) == ZMESH__DB_DONE ? ZMESH_OK
                                                           : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_position (zmesh_store_t *store, const char *publisher,
                      uint64_t *seq, bool *known)
{
    assert (store && publisher && seq && known);
    //  Its own, or else the furthest of another member of its group: the
    //  events up to there are handled, by one member or another.
    zmesh__stmt_t *statement = s_prepare (
        store, "SELECT seq FROM inbox_positions WHERE publisher = ? ORDER BY "
               "consumer = ? DESC, seq DESC LIMIT 1");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, publisher);
    zmesh__stmt_text (statement, 2, zmesh_store_publisher (store));
    zmesh__db_step_t step = zmesh__stmt_step (statement);
    *known = step == ZMESH__DB_ROW;
    *seq = *known ? (uint64_t) zmesh__stmt_column_int (statement, 0) : 0;
    zmesh__stmt_reset (statement);
    return step == ZMESH__DB_ROW || step == ZMESH__DB_DONE ? ZMESH_OK
                                                           : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_set_position (zmesh_store_t *store, const char *publisher,
                          uint64_t seq)
{
    assert (store && publisher);
    zmesh__stmt_t *statement = s_prepare (
        store, "INSERT INTO inbox_positions (consumer, publisher, seq) VALUES "
               "(?, ?, ?) ON CONFLICT (consumer, publisher) DO UPDATE SET seq "
               "= excluded.seq");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_text (statement, 1, zmesh_store_publisher (store));
    zmesh__stmt_text (statement, 2, publisher);
    zmesh__stmt_int (statement, 3, (int64_t) seq);
    return s_queued (statement);
}

zmesh_err_t
zmesh__inbox_seen (zmesh_store_t *store, const zmesh_uuid_t *id, bool *seen)
{
    assert (store && id && seen);
    zmesh__stmt_t *statement = s_prepare (
        store, "SELECT 1 FROM inbox_processed WHERE event_id = ?");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE);
    zmesh__db_step_t step = zmesh__stmt_step (statement);
    *seen = step == ZMESH__DB_ROW;
    zmesh__stmt_reset (statement);
    return step == ZMESH__DB_ROW || step == ZMESH__DB_DONE ? ZMESH_OK
                                                           : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_seen_prefix (zmesh_store_t *store, const zmesh_uuid_t *ids,
                          size_t count, size_t *seen)
{
    assert (store && ids && seen && count <= ZMESH__INBOX_BATCH);
    *seen = 0;
    if (count == 0)
        return ZMESH_OK;
    //  One statement for every count: the places past count repeat the
    //  last id. A look-up by key each, not one IN list: PostgreSQL keeps
    //  the plan it made for a statement while the table was small, and for
    //  an IN list that is a scan of the whole table, however large it grows.
#define ID_1 "SELECT event_id FROM inbox_processed WHERE event_id = ?"
#define ID_2 ID_1 " UNION ALL " ID_1
#define ID_4 ID_2 " UNION ALL " ID_2
#define ID_8 ID_4 " UNION ALL " ID_4
    _Static_assert (ZMESH__INBOX_BATCH == 16, "the statement has 16 ids");
    static const char sql [] = ID_8 " UNION ALL " ID_8;
#undef ID_1
#undef ID_2
#undef ID_4
#undef ID_8
    zmesh__stmt_t *statement = s_prepare (store, sql);
    if (!statement)
        return ZMESH_ERR_STORE;
    for (size_t place = 0; place < ZMESH__INBOX_BATCH; place++)
        zmesh__stmt_blob (statement, (int) place + 1,
                          ids [place < count ? place : count - 1].bytes,
                          ZMESH_UUID_SIZE);
    bool found [ZMESH__INBOX_BATCH] = {false};
    zmesh__db_step_t step;
    while ((step = zmesh__stmt_step (statement)) == ZMESH__DB_ROW) {
        const void *id = zmesh__stmt_column_blob (statement, 0);
        if (!id || zmesh__stmt_column_bytes (statement, 0) != ZMESH_UUID_SIZE)
            continue;
        for (size_t place = 0; place < count; place++)
            if (memcmp (ids [place].bytes, id, ZMESH_UUID_SIZE) == 0)
                found [place] = true;
    }
    zmesh__stmt_reset (statement);
    while (*seen < count && found [*seen])
        (*seen)++;
    return step == ZMESH__DB_DONE ? ZMESH_OK : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_mark (zmesh_store_t *store, const zmesh_uuid_t *id,
                  uint64_t unix_ms)
{
    assert (store && id);
    zmesh__stmt_t *statement = s_prepare (
        store, "INSERT INTO inbox_processed (event_id, at) VALUES (?, ?)");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE);
    zmesh__stmt_int (statement, 2, (int64_t) unix_ms);
    return s_queued (statement);
}

zmesh_err_t
zmesh__inbox_forget (zmesh_store_t *store, uint64_t unix_ms)
{
    assert (store);
    zmesh__stmt_t *statement = s_prepare (
        store, "DELETE FROM inbox_processed WHERE at < ?");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_int (statement, 1, (int64_t) unix_ms);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_keep_reply (zmesh_store_t *store, const zmesh_uuid_t *request_id,
                         const void *reply, size_t size, uint64_t at)
{
    assert (store && request_id && reply);
    zmesh__stmt_t *statement = s_prepare (
        store, "INSERT INTO inbox_replies (request_id, reply, at) VALUES "
               "(?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET reply = "
               "excluded.reply, at = excluded.at");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_blob (statement, 1, request_id->bytes, ZMESH_UUID_SIZE);
    zmesh__stmt_blob (statement, 2, reply, size);
    zmesh__stmt_int (statement, 3, (int64_t) at);
    return s_queued (statement);
}

bool
zmesh__inbox_reply (zmesh_store_t *store, const zmesh_uuid_t *request_id,
                    zmq_msg_t *reply)
{
    assert (store && request_id && reply);
    zmesh__stmt_t *statement = s_prepare (
        store, "SELECT reply FROM inbox_replies WHERE request_id = ?");
    if (!statement)
        return false;
    zmesh__stmt_blob (statement, 1, request_id->bytes, ZMESH_UUID_SIZE);
    bool found = false;
    if (zmesh__stmt_step (statement) == ZMESH__DB_ROW) {
        size_t size = zmesh__stmt_column_bytes (statement, 0);
        found = zmq_msg_init_size (reply, size) == 0;
        if (found && size)
            memcpy (zmq_msg_data (reply),
                    zmesh__stmt_column_blob (statement, 0), size);
    }
    zmesh__stmt_reset (statement);
    return found;
}

zmesh_err_t
zmesh__inbox_forget_replies (zmesh_store_t *store, uint64_t unix_ms)
{
    assert (store);
    zmesh__stmt_t *statement = s_prepare (
        store, "DELETE FROM inbox_replies WHERE at < ?");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_int (statement, 1, (int64_t) unix_ms);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_bury (zmesh_store_t *store, const zmesh__dead_letter_t *letter)
{
    assert (store && letter);
    zmesh__stmt_t *statement = s_prepare (
        store, "INSERT INTO inbox_dead (event_id, publisher, seq, envelope, "
               "error, attempts, at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT "
               "(event_id) DO UPDATE SET publisher = excluded.publisher, seq "
               "= excluded.seq, envelope = excluded.envelope, error = "
               "excluded.error, attempts = excluded.attempts, at = "
               "excluded.at");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_blob (statement, 1, letter->event_id.bytes, ZMESH_UUID_SIZE);
    zmesh__stmt_text (statement, 2, letter->publisher);
    zmesh__stmt_int (statement, 3, (int64_t) letter->seq);
    zmesh__stmt_blob (statement, 4, letter->envelope, letter->envelope_size);
    zmesh__stmt_text (statement, 5, letter->error);
    zmesh__stmt_int (statement, 6, letter->attempts);
    zmesh__stmt_int (statement, 7, (int64_t) letter->at);
    return s_done (statement);
}

zmesh_err_t
zmesh__inbox_dead_letters (zmesh_store_t *store, zmesh__dead_letter_fn *fn,
                          void *arg)
{
    assert (store && fn);
    //  Of its own, not the kept one: fn may use the inbox while this runs.
    //  Oldest first; of one millisecond, in the order they were buried
    //  (SQLite's rowid) or of their ids.
    zmesh__db_t *db = zmesh__store_db (store);
    zmesh_detail_t detail = {""};
    zmesh__stmt_t *statement = zmesh__db_prepare_own (
        db, zmesh__db_is_pg (db)
                ? "SELECT event_id, publisher, seq, envelope, error, attempts,"
                  " at FROM inbox_dead ORDER BY at, event_id"
                : "SELECT event_id, publisher, seq, envelope, error, attempts,"
                  " at FROM inbox_dead ORDER BY at, rowid",
        &detail);
    if (!statement) {
        zsys_error ("inbox %s: %s", zmesh__store_path (store), detail.text);
        return ZMESH_ERR_STORE;
    }
    zmesh__db_step_t step;
    while ((step = zmesh__stmt_step (statement)) == ZMESH__DB_ROW) {
        zmesh__dead_letter_t letter;
        memset (&letter, 0, sizeof letter);
        if (zmesh__stmt_column_bytes (statement, 0) == ZMESH_UUID_SIZE)
            memcpy (letter.event_id.bytes,
                    zmesh__stmt_column_blob (statement, 0), ZMESH_UUID_SIZE);
        letter.publisher = zmesh__stmt_column_text (statement, 1);
        letter.seq = (uint64_t) zmesh__stmt_column_int (statement, 2);
        letter.envelope = zmesh__stmt_column_blob (statement, 3);
        letter.envelope_size = zmesh__stmt_column_bytes (statement, 3);
        letter.error = zmesh__stmt_column_text (statement, 4);
        letter.attempts = (int) zmesh__stmt_column_int (statement, 5);
        letter.at = (uint64_t) zmesh__stmt_column_int (statement, 6);
        if (!fn (&letter, arg))
            break;
    }
    zmesh__stmt_free (&statement);
    return step == ZMESH__DB_ROW || step == ZMESH__DB_DONE ? ZMESH_OK
                                                           : ZMESH_ERR_STORE;
}

zmesh_err_t
zmesh__inbox_unbury (zmesh_store_t *store, const zmesh_uuid_t *id)
{
    assert (store && id);
    zmesh__stmt_t *statement = s_prepare (
        store, "DELETE FROM inbox_dead WHERE event_id = ?");
    if (!statement)
        return ZMESH_ERR_STORE;
    zmesh__stmt_blob (statement, 1, id->bytes, ZMESH_UUID_SIZE);
    zmesh_err_t rc = s_done (statement);
    if (rc == ZMESH_OK && zmesh__db_last_changes (zmesh__store_db (store)) == 0)
        rc = ZMESH_ERR_INVALID;
    return rc;
}
