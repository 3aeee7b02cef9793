/*  pgtest.h - a schema of its own on the suites' PostgreSQL server, whose
    libpq URI ZMESH_TEST_PG gives (tools/check.sh starts one with
    tools/pg.sh).

    Part of zmesh. MIT License.
*/
#ifndef PGTEST_H_INCLUDED
#define PGTEST_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

//  Make a new schema, named into schema (64 bytes), and write into uri
//  (size bytes) the server's URI with that schema first on its search
//  path: a store opened there has tables of its own. Asserts on failure,
//  saying how to start a server when there is none.
void
    pgtest_schema_new (char *schema, char *uri, size_t size);

//  Drop the schema and all it holds.
void
    pgtest_schema_drop (const char *schema);

//  Run sql (no rows) at uri, or on the server when uri is NULL.
void
    pgtest_exec (const char *uri, const char *sql);

//  The integer in the first column of the first row sql returns at uri (on
//  the server when uri is NULL); asserts that there is one.
long long
    pgtest_query_int (const char *uri, const char *sql);

#endif
