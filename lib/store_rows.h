/*  store_rows.h - rows of events waiting to be inserted together (private).

    A node's group appends its events one at a time, inside one
    transaction; on SQLite each INSERT costs as much in the statement
    around the row as in the row. The store keeps the rows of events whose
    ids are new (no retry to find) here, and inserts them
    ZMESH__ROWS_MAX at a time, in one statement, before any other
    statement of its connection runs (store.c).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_STORE_ROWS_H_INCLUDED
#define ZMESH_STORE_ROWS_H_INCLUDED

#include "db.h"
#include "zmesh/store.h"

#define ZMESH__ROWS_MAX 64      //  Rows kept, and inserted by one statement

//  An event's row: its columns, in the order of their parameters
#define ZMESH__ROW_COLUMNS                                               \
    "position, stream, version, id, type, body, correlation, causation, " \
    "timestamp, publisher, seq, key"
#define ZMESH__ROW_PARAMS "(?,?,?,?,?,?,?,?,?,?,?,?)"
#define ZMESH__ROW_PARAM_COUNT 12

//  Bind the row of event, in stream at position and version, seq in
//  publisher's log, as the parameters of insert from first on (in
//  ZMESH__ROW_COLUMNS's order). What it points to is borrowed until the
//  statement is reset.
void
    zmesh__row_bind (zmesh__stmt_t *insert, int first, const char *stream,
                     uint64_t position, int64_t version, uint64_t seq,
                     const char *publisher, const zmesh_new_event_t *event);

typedef struct _zmesh__rows_t zmesh__rows_t;

zmesh__rows_t *
    zmesh__rows_new (void);
void
    zmesh__rows_destroy (zmesh__rows_t **self_p);

//  Rows kept.
size_t
    zmesh__rows_count (const zmesh__rows_t *self);

//  Whether the rows are to be inserted before another is kept: there are
//  ZMESH__ROWS_MAX, or their bodies hold a MiB.
bool
    zmesh__rows_full (const zmesh__rows_t *self);

//  Keep the row of event in stream at position, version and seq (what
//  they point to is copied). ZMESH_ERR_NOMEM if it cannot be. Not when
//  full.
zmesh_err_t
    zmesh__rows_add (zmesh__rows_t *self, const char *stream,
                     uint64_t position, int64_t version, uint64_t seq,
                     const zmesh_new_event_t *event);

//  Insert the rows kept, in publisher's log, through db, then forget
//  them, whatever became of them.
zmesh_err_t
    zmesh__rows_insert (zmesh__rows_t *self, zmesh__db_t *db,
                        const char *publisher, zmesh_detail_t *detail);

//  Forget the rows kept.
void
    zmesh__rows_clear (zmesh__rows_t *self);

#endif
