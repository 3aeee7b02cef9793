/*  retention.c - a store's log trimmed by count and age: positions never
    move, and the log says where it now begins.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

zmesh_err_t
zmesh_store_trim (zmesh_store_t *self, uint64_t before, zmesh_detail_t *detail)
{
    assert (self);
    uint64_t head;
    zmesh_err_t rc = zmesh_store_head (self, &head);
    if (rc)
        return rc;
    if (before > head + 1)
        before = head + 1;      //  Never past what exists
    zmesh__db_t *db = zmesh__store_db (self);
    //  Each log's last event stays: it holds where the log goes on.
    char sql [400];
    snprintf (sql, sizeof sql,
              "DELETE FROM events WHERE position < %" PRIu64 " AND position "
              "NOT IN (SELECT MAX (position) FROM events GROUP BY publisher);"
              "INSERT INTO meta (key, value) VALUES ('trimmed_before', %" PRIu64
              ") ON CONFLICT (key) DO UPDATE SET value = %s (meta.value, "
              "excluded.value);", before, before,
              zmesh__db_is_pg (db) ? "GREATEST" : "MAX");
    rc = zmesh__db_begin (db, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__db_exec (db, sql, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__db_exec (db, "COMMIT", detail);
    if (rc)
        zmesh_store_rollback (self);
    return rc;
}

zmesh_err_t
zmesh_store_trim_older (zmesh_store_t *self, uint64_t unix_ms,
                        zmesh_detail_t *detail)
{
    assert (self);
    //  Events are appended in time order, near enough: keep everything
    //  from the first one young enough.
    char sql [160];
    snprintf (sql, sizeof sql,
              "SELECT COALESCE ((SELECT MIN (position) FROM events WHERE "
              "timestamp >= %" PRIu64 "), (SELECT COALESCE (MAX (position), "
              "0) + 1 FROM events))", unix_ms);
    int64_t before = zmesh__db_query_int (zmesh__store_db (self), sql);
    if (before < 0) {
        zmesh__detail (detail, "store %s: cannot find old events",
                       zmesh__store_path (self));
        return ZMESH_ERR_STORE;
    }
    return zmesh_store_trim (self, (uint64_t) before, detail);
}

zmesh_err_t
zmesh_store_earliest (zmesh_store_t *self, uint64_t *position)
{
    assert (self && position);
    int64_t value = zmesh__db_query_int (
        zmesh__store_db (self), "SELECT COALESCE ((SELECT value FROM meta WHERE key = "
              "'trimmed_before'), 1)");
    *position = value < 1 ? 1 : (uint64_t) value;
    return value < 0 ? ZMESH_ERR_STORE : ZMESH_OK;
}
