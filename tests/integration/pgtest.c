/*  pgtest.c - a schema of its own on the suites' PostgreSQL server.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "pgtest.h"

static const char *
s_server (void)
{
    const char *uri = getenv ("ZMESH_TEST_PG");
    cr_assert (uri && *uri, "ZMESH_TEST_PG names no PostgreSQL server: "
               "start one with tools/pg.sh start DIR, and export the URI it "
               "prints");
    return uri;
}

static void
s_quiet (void *arg, const char *message)
{
    (void) arg, (void) message;
}

void
pgtest_exec (const char *uri, const char *sql)
{
    PGconn *conn = PQconnectdb (uri ? uri : s_server ());
    cr_assert (PQstatus (conn) == CONNECTION_OK, "%s", PQerrorMessage (conn));
    PQsetNoticeProcessor (conn, s_quiet, NULL);
    PGresult *result = PQexec (conn, sql);
    cr_assert (PQresultStatus (result) == PGRES_COMMAND_OK, "%s: %s", sql,
               PQresultErrorMessage (result));
    PQclear (result);
    PQfinish (conn);
}

long long
pgtest_query_int (const char *uri, const char *sql)
{
    PGconn *conn = PQconnectdb (uri ? uri : s_server ());
    cr_assert (PQstatus (conn) == CONNECTION_OK, "%s", PQerrorMessage (conn));
    PGresult *result = PQexec (conn, sql);
    cr_assert (PQresultStatus (result) == PGRES_TUPLES_OK
               && PQntuples (result) > 0 && !PQgetisnull (result, 0, 0),
               "%s: %s", sql, PQresultErrorMessage (result));
    long long value = atoll (PQgetvalue (result, 0, 0));
    PQclear (result);
    PQfinish (conn);
    return value;
}

void
pgtest_schema_new (char *schema, char *uri, size_t size)
{
    static int made;
    const char *server = s_server ();
    snprintf (schema, 64, "t_%d_%d", (int) getpid (), ++made);
    char sql [128];
    snprintf (sql, sizeof sql, "CREATE SCHEMA %s", schema);
    pgtest_exec (NULL, sql);
    snprintf (uri, size, "%s%soptions=-csearch_path%%3D%s", server,
              strchr (server, '?') ? "&" : "?", schema);
}

void
pgtest_schema_drop (const char *schema)
{
    char sql [128];
    snprintf (sql, sizeof sql, "DROP SCHEMA %s CASCADE", schema);
    pgtest_exec (NULL, sql);
}
