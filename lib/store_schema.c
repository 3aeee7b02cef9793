/*  store_schema.c - the event store's tables, on SQLite and PostgreSQL,
    and the steps that bring a database of an older schema to this one.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_db.h"

//  Schema steps: step n takes a store from schema n to n + 1. Append only;
//  a released step never changes. One list for SQLite and one for
//  PostgreSQL, step for step the same tables.
static const char *s_migrations_lite [] = {
    //  0 -> 1
    "CREATE TABLE events ("
    "  position INTEGER PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  id BLOB NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  body BLOB,"
    "  correlation BLOB NOT NULL,"
    "  causation BLOB,"
    "  timestamp INTEGER NOT NULL,"
    "  UNIQUE (stream, version));"
    "CREATE TABLE snapshots ("
    "  stream TEXT PRIMARY KEY,"
    "  version INTEGER NOT NULL,"
    "  state BLOB NOT NULL);",
    //  1 -> 2: retention, and what a consumer of other nodes' events keeps
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE inbox_positions ("
    "  publisher TEXT PRIMARY KEY,"
    "  seq INTEGER NOT NULL);"
    "CREATE TABLE inbox_processed ("
    "  event_id BLOB PRIMARY KEY,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX inbox_processed_at ON inbox_processed (at);"
    "CREATE TABLE inbox_dead ("
    "  event_id BLOB PRIMARY KEY,"
    "  publisher TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  envelope BLOB NOT NULL,"
    "  error TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  at INTEGER NOT NULL);",
    //  2 -> 3: replies kept with the writes of the requests they answer
    "CREATE TABLE inbox_replies ("
    "  request_id BLOB PRIMARY KEY,"
    "  reply BLOB NOT NULL,"
    "  at INTEGER NOT NULL);"
    "CREATE INDEX inbox_replies_at ON inbox_replies (at);",
    //  3 -> 4: a log per publisher, so that the instances of a service
    //  share one store, and positions per consumer in it. The rows from
    //  before belong to no publisher yet (zmesh_store_publish_as).
    "ALTER TABLE events ADD COLUMN publisher TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE events ADD COLUMN key TEXT NOT NULL DEFAULT '';"
    "UPDATE events SET seq = position;"
    "CREATE UNIQUE INDEX events_log ON events (publisher, seq);"
    "CREATE TABLE positions ("
    "  consumer TEXT NOT NULL,"
    "  publisher TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  PRIMARY KEY (consumer, publisher));"
    "INSERT INTO positions SELECT '', publisher, seq FROM inbox_positions;"
    "DROP TABLE inbox_positions;"
    "ALTER TABLE positions RENAME TO inbox_positions;",
};
static const char *s_migrations_pg [] = {
    "CREATE TABLE events ("
    "  position BIGINT PRIMARY KEY,"
    "  stream TEXT NOT NULL,"
    "  version BIGINT NOT NULL,"
    "  id BYTEA NOT NULL UNIQUE,"
    "  type TEXT NOT NULL,"
    "  body BYTEA,"
    "  correlation BYTEA NOT NULL,"
    "  causation BYTEA,"
    "  timestamp BIGINT NOT NULL,"
    "  UNIQUE (stream, version));"
    "CREATE TABLE snapshots ("
    "  stream TEXT PRIMARY KEY,"
    "  version BIGINT NOT NULL,"
    "  state BYTEA NOT NULL);",
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "CREATE TABLE inbox_positions ("
    "  publisher TEXT PRIMARY KEY,"
    "  seq BIGINT NOT NULL);"
    "CREATE TABLE inbox_processed ("
    "  event_id BYTEA PRIMARY KEY,"
    "  at BIGINT NOT NULL);"
    "CREATE INDEX inbox_processed_at ON inbox_processed (at);"
    "CREATE TABLE inbox_dead ("
    "  event_id BYTEA PRIMARY KEY,"
    "  publisher TEXT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  envelope BYTEA NOT NULL,"
    "  error TEXT NOT NULL,"
    "  attempts INTEGER NOT NULL,"
    "  at BIGINT NOT NULL);",
    "CREATE TABLE inbox_replies ("
    "  request_id BYTEA PRIMARY KEY,"
    "  reply BYTEA NOT NULL,"
    "  at BIGINT NOT NULL);"
    "CREATE INDEX inbox_replies_at ON inbox_replies (at);",
    "ALTER TABLE events ADD COLUMN publisher TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;"
    "ALTER TABLE events ADD COLUMN key TEXT NOT NULL DEFAULT '';"
    "UPDATE events SET seq = position;"
    "CREATE UNIQUE INDEX events_log ON events (publisher, seq);"
    "CREATE TABLE positions ("
    "  consumer TEXT NOT NULL,"
    "  publisher TEXT NOT NULL,"
    "  seq BIGINT NOT NULL,"
    "  PRIMARY KEY (consumer, publisher));"
    "INSERT INTO positions SELECT '', publisher, seq FROM inbox_positions;"
    "DROP TABLE inbox_positions;"
    "ALTER TABLE positions RENAME TO inbox_positions;",
};
#define MIGRATIONS (sizeof s_migrations_lite / sizeof s_migrations_lite [0])

//  PostgreSQL keeps the schema version in a table of its own (SQLite in
//  PRAGMA user_version), and migrates under a session lock, so that two
//  stores opening one new database do not both make its tables.
#define PG_MIGRATE_LOCK     "SELECT pg_advisory_lock (521325933673)"
#define PG_MIGRATE_UNLOCK   "SELECT pg_advisory_unlock (521325933673)"

//  The schema version the database is at, or -1.
static int64_t
s_schema (zmesh__db_t *db)
{
    return zmesh__db_is_pg (db)
         ? zmesh__db_query_int (db, "SELECT COALESCE (MAX (version), 0)"
                                    " FROM zmesh_schema")
         : zmesh__db_query_int (db, "PRAGMA user_version");
}

//  Bring the schema to ZMESH_STORE_SCHEMA, one step per transaction.
static zmesh_err_t
s_migrate_steps (zmesh__db_t *db, const char *path, zmesh_detail_t *detail)
{
    bool pg = zmesh__db_is_pg (db);
    int64_t version = s_schema (db);
    if (version < 0) {
        zmesh__detail (detail, "store %s: cannot read the schema version: %s",
                       path, zmesh__db_error (db));
        return ZMESH_ERR_STORE;
    }
    if (version > (int64_t) MIGRATIONS) {
        zmesh__detail (detail, "store %s: schema %" PRId64 " is newer than "
                       "this zmesh knows (%zu): refusing to touch it",
                       path, version, MIGRATIONS);
        return ZMESH_ERR_STORE_SCHEMA;
    }
    for (; version < (int64_t) MIGRATIONS; version++) {
        char bump [80];
        snprintf (bump, sizeof bump, pg ? "INSERT INTO zmesh_schema VALUES "
                                          "(%" PRId64 ")"
                                        : "PRAGMA user_version = %" PRId64,
                  version + 1);
        zmesh_err_t rc = zmesh__db_begin (db, detail);
        if (rc == ZMESH_OK) {
            //  Another process may have migrated while we waited.
            if (s_schema (db) > version) {
                zmesh__db_exec (db, "COMMIT", NULL);
                continue;
            }
            rc = zmesh__db_exec (db, pg ? s_migrations_pg [version]
                                        : s_migrations_lite [version],
                                 detail);
        }
        if (rc == ZMESH_OK)
            rc = zmesh__db_exec (db, bump, detail);
        if (rc == ZMESH_OK)
            rc = zmesh__db_exec (db, "COMMIT", detail);
        if (rc) {
            zmesh__db_exec (db, "ROLLBACK", NULL);
            return rc;
        }
    }
    return ZMESH_OK;
}

zmesh_err_t
zmesh__store_migrate (zmesh__db_t *db, const char *path,
                      zmesh_detail_t *detail)
{
    assert (db && path);
    if (!zmesh__db_is_pg (db))
        return s_migrate_steps (db, path, detail);
    zmesh_err_t rc = zmesh__db_exec (db, PG_MIGRATE_LOCK, detail);
    if (rc == ZMESH_OK)
        rc = zmesh__db_exec (db, "CREATE TABLE IF NOT EXISTS zmesh_schema "
                                 "(version INTEGER NOT NULL)", detail);
    if (rc == ZMESH_OK)
        rc = s_migrate_steps (db, path, detail);
    zmesh__db_exec (db, PG_MIGRATE_UNLOCK, NULL);
    return rc;
}
