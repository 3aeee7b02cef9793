/*  store_read.c - reading a store: a stream either way, the whole store
    by position, and one publisher's log by sequence; each row checked as
    if it came from the wire.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

//  Read the current row of statement into event, checking what the file
//  holds as if it came from the wire.
static zmesh_err_t
s_row (zmesh_store_t *self, zmesh__stmt_t *statement,
       zmesh_stored_event_t *event, zmesh_detail_t *detail)
{
    memset (event, 0, sizeof *event);
    event->position = (uint64_t) zmesh__stmt_column_int (statement, 0);
    event->stream = zmesh__stmt_column_text (statement, 1);
    event->version = zmesh__stmt_column_int (statement, 2);
    const void *id = zmesh__stmt_column_blob (statement, 3);
    int id_size = zmesh__stmt_column_bytes (statement, 3);
    event->type = zmesh__stmt_column_text (statement, 4);
    event->body = zmesh__stmt_column_blob (statement, 5);
    event->body_size = zmesh__stmt_column_bytes (statement, 5);
    const void *correlation = zmesh__stmt_column_blob (statement, 6);
    int correlation_size = zmesh__stmt_column_bytes (statement, 6);
    const void *causation = zmesh__stmt_column_blob (statement, 7);
    int causation_size = zmesh__stmt_column_bytes (statement, 7);
    event->timestamp = (uint64_t) zmesh__stmt_column_int (statement, 8);
    event->publisher = zmesh__stmt_column_text (statement, 9);
    event->seq = (uint64_t) zmesh__stmt_column_int (statement, 10);
    event->key = zmesh__stmt_column_text (statement, 11);
    size_t end = 0;
    const char *problem = NULL;
    if (id_size != ZMESH_UUID_SIZE || correlation_size != ZMESH_UUID_SIZE
        || (causation && causation_size != ZMESH_UUID_SIZE))
        problem = "an id is not 16 bytes";
    else if (!event->stream || !event->type || !event->publisher
             || !event->key
             || !zmesh_envelope_name_valid (event->type,
                                            ZMESH_ENVELOPE_TYPE_MAX))
        problem = "stream or type is not a name";
    else if (event->body_size
             && (zmesh__msgpack_check (event->body, event->body_size, &end,
                                       NULL) != ZMESH_OK
                 || end != event->body_size))
        problem = "the body is not one msgpack value";
    if (problem) {
        zmesh__detail (detail, "store %s: event at position %" PRIu64 ": %s",
                       zmesh__store_path (self), event->position, problem);
        return ZMESH_ERR_STORE_CORRUPT;
    }
    memcpy (event->id.bytes, id, ZMESH_UUID_SIZE);
    memcpy (event->correlation.bytes, correlation, ZMESH_UUID_SIZE);
    event->has_causation = causation != NULL;
    if (causation)
        memcpy (event->causation.bytes, causation, ZMESH_UUID_SIZE);
    if (!event->body_size)
        event->body = NULL;
    return ZMESH_OK;
}

#define EVENT_COLUMNS                                                   \
    "SELECT position, stream, version, id, type, body, correlation,"    \
    " causation, timestamp, publisher, seq, key FROM events "

//  A LIMIT for "no limit", in both dialects.
#define LIMIT_NONE  INT64_MAX

//  The statement of a read: the one kept prepared, or, when a read further
//  up the stack has that one running (fn reading again), one of its own,
//  *owned, which s_read frees. NULL if it cannot be prepared.
static zmesh__stmt_t *
s_read_statement (zmesh_store_t *self, const char *sql, bool *owned)
{
    zmesh__stmt_t *statement = zmesh__db_prepare (zmesh__store_db (self), sql, NULL);
    *owned = false;
    if (statement && !zmesh__stmt_busy (statement))
        return statement;
    if (!statement)
        return NULL;
    *owned = true;
    return zmesh__db_prepare_own (zmesh__store_db (self), sql, NULL);
}
//  Run statement (from s_read_statement, its parameters bound) and hand
//  each row to fn.
static zmesh_err_t
s_read (zmesh_store_t *self, zmesh__stmt_t *statement, bool owned,
        zmesh_stored_event_fn *fn, void *arg, uint64_t *last_p,
        size_t *count_p, zmesh_detail_t *detail)
{
    zmesh_err_t rc = ZMESH_OK;
    size_t count = 0;
    zmesh__db_step_t step;
    while ((step = zmesh__stmt_step (statement)) == ZMESH__DB_ROW) {
        zmesh_stored_event_t event;
        rc = s_row (self, statement, &event, detail);
        if (rc)
            break;
        count++;
        if (last_p)
            *last_p = event.position;
        if (!fn (&event, arg))
            break;
    }
    if (rc == ZMESH_OK && step != ZMESH__DB_ROW && step != ZMESH__DB_DONE)
        rc = STORE_ERROR (detail, self, "read failed");
    if (owned)
        zmesh__stmt_free (&statement);
    else
        zmesh__stmt_reset (statement);
    if (count_p)
        *count_p = count;
    return rc;
}

zmesh_err_t
zmesh_store_read_stream (zmesh_store_t *self, const char *stream, int64_t from,
                         bool backward, size_t limit,
                         zmesh_stored_event_fn *fn, void *arg,
                         zmesh_detail_t *detail)
{
    assert (self && stream && fn);
    const char *sql = backward
        ? EVENT_COLUMNS "WHERE stream = ? AND version <= ? "
                        "ORDER BY version DESC LIMIT ?"
        : EVENT_COLUMNS "WHERE stream = ? AND version >= ? "
                        "ORDER BY version LIMIT ?";
    bool owned;
    zmesh__stmt_t *statement = s_read_statement (self, sql, &owned);
    if (!statement)
        return STORE_ERROR (detail, self, "cannot prepare a read");
    zmesh__stmt_text (statement, 1, stream);
    zmesh__stmt_int (statement, 2, from);
    zmesh__stmt_int (statement, 3, limit ? (int64_t) limit : LIMIT_NONE);
    return s_read (self, statement, owned, fn, arg, NULL, NULL, detail);
}

//  Read the log from position from, at most limit events (0: all), as
//  zmesh_store_read_all; *last_p and *count_p, if not NULL, get the last
//  position read and how many were.
zmesh_err_t
zmesh__store_read_from (zmesh_store_t *self, uint64_t from, size_t limit,
                        zmesh_stored_event_fn *fn, void *arg, uint64_t *last_p,
                        size_t *count_p, zmesh_detail_t *detail)
{
    bool owned;
    zmesh__stmt_t *statement = s_read_statement (
        self, EVENT_COLUMNS "WHERE position >= ? ORDER BY position LIMIT ?",
        &owned);
    if (!statement)
        return STORE_ERROR (detail, self, "cannot prepare a read");
    zmesh__stmt_int (statement, 1, (int64_t) from);
    zmesh__stmt_int (statement, 2, limit ? (int64_t) limit : LIMIT_NONE);
    return s_read (self, statement, owned, fn, arg, last_p, count_p, detail);
}

zmesh_err_t
zmesh_store_read_log (zmesh_store_t *self, const char *publisher,
                      uint64_t from, size_t limit, zmesh_stored_event_fn *fn,
                      void *arg, zmesh_detail_t *detail)
{
    assert (self && publisher && fn);
    bool owned;
    zmesh__stmt_t *statement = s_read_statement (
        self, EVENT_COLUMNS "WHERE publisher = ? AND seq >= ? ORDER BY seq "
                            "LIMIT ?", &owned);
    if (!statement)
        return STORE_ERROR (detail, self, "cannot prepare a read");
    zmesh__stmt_text (statement, 1, publisher);
    zmesh__stmt_int (statement, 2, (int64_t) from);
    zmesh__stmt_int (statement, 3, limit ? (int64_t) limit : LIMIT_NONE);
    return s_read (self, statement, owned, fn, arg, NULL, NULL, detail);
}

zmesh_err_t
zmesh_store_read_all (zmesh_store_t *self, uint64_t from, size_t limit,
                      zmesh_stored_event_fn *fn, void *arg,
                      zmesh_detail_t *detail)
{
    assert (self && fn);
    return zmesh__store_read_from (self, from, limit, fn, arg, NULL, NULL,
                                   detail);
}
