/*  store_rows.c - rows of events waiting to be inserted together: see
    store_rows.h.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_rows.h"

//  The event as appended, its strings and causation pointing into the
//  row; its body, at body_at in the rows' bodies, is pointed to only when
//  the rows are inserted (the bodies may move as they grow).
typedef struct {
    zmesh_new_event_t event;
    uint64_t position, seq;
    int64_t version;
    zmesh_uuid_t causation;
    size_t body_at;
    char type [ZMESH_ENVELOPE_TYPE_MAX + 1];
    char key [ZMESH_STREAM_MAX + 1];
    char stream [ZMESH_STREAM_MAX + 1];
} s_row_t;

//  The statements, by the rows they insert: the largest that fits first
static const size_t s_sizes [] = {ZMESH__ROWS_MAX, 8, 1};
#define SIZES (sizeof s_sizes / sizeof s_sizes [0])

struct _zmesh__rows_t {
    s_row_t rows [ZMESH__ROWS_MAX];
    size_t count;
    uint8_t *bodies;                    //  Every row's body, end to end
    size_t bodies_size, bodies_max;
    char *sql [SIZES];                  //  The INSERT of s_sizes [n] rows
};

zmesh__rows_t *
zmesh__rows_new (void)
{
    zmesh__rows_t *self = zmesh__calloc (1, sizeof *self);
    if (!self)
        return NULL;
    for (size_t size = 0; size < SIZES; size++) {
        size_t rows = s_sizes [size];
        size_t prefix = strlen ("INSERT INTO events () VALUES ")
                      + strlen (ZMESH__ROW_COLUMNS);
        size_t each = strlen (ZMESH__ROW_PARAMS) + 1;
        char *sql = zmesh__calloc (1, prefix + rows * each + 1);
        if (!sql) {
            zmesh__rows_destroy (&self);
            return NULL;
        }
        char *end = sql + sprintf (sql, "INSERT INTO events (%s) VALUES ",
                                   ZMESH__ROW_COLUMNS);
        for (size_t row = 0; row < rows; row++)
            end += sprintf (end, "%s%s", row ? "," : "", ZMESH__ROW_PARAMS);
        self->sql [size] = sql;
    }
    return self;
}

void
zmesh__rows_destroy (zmesh__rows_t **self_p)
{
    assert (self_p);
    zmesh__rows_t *self = *self_p;
    if (!self)
        return;
    for (size_t size = 0; size < SIZES; size++)
        zmesh__free (self->sql [size]);
    zmesh__free (self->bodies);
    zmesh__free (self);
    *self_p = NULL;
}

size_t
zmesh__rows_count (const zmesh__rows_t *self)
{
    assert (self);
    return self->count;
}

bool
zmesh__rows_full (const zmesh__rows_t *self)
{
    assert (self);
    return self->count == ZMESH__ROWS_MAX || self->bodies_size >= 1 << 20;
}

zmesh_err_t
zmesh__rows_add (zmesh__rows_t *self, const char *stream, uint64_t position,
                 int64_t version, uint64_t seq, const zmesh_new_event_t *event)
{
    assert (self && stream && event && !zmesh__rows_full (self));
    if (self->bodies_size + event->body_size > self->bodies_max) {
        size_t max = (self->bodies_size + event->body_size) * 2;
        uint8_t *bodies = zmesh__realloc (self->bodies, max);
        if (!bodies)
            return ZMESH_ERR_NOMEM;
        self->bodies = bodies;
        self->bodies_max = max;
    }
    s_row_t *row = &self->rows [self->count++];
    row->event = *event;
    row->position = position;
    row->version = version;
    row->seq = seq;
    if (event->causation) {
        row->causation = *event->causation;
        row->event.causation = &row->causation;
    }
    row->body_at = self->bodies_size;
    if (event->body_size)
        memcpy (self->bodies + self->bodies_size, event->body,
                event->body_size);
    self->bodies_size += event->body_size;
    //  All were checked by the append: they fit
    memcpy (row->stream, stream, strlen (stream) + 1);
    memcpy (row->type, event->type, strlen (event->type) + 1);
    row->event.type = row->type;
    const char *key = event->key ? event->key : "";
    memcpy (row->key, key, strlen (key) + 1);
    row->event.key = row->key;
    return ZMESH_OK;
}

void
zmesh__row_bind (zmesh__stmt_t *insert, int first, const char *stream,
                 uint64_t position, int64_t version, uint64_t seq,
                 const char *publisher, const zmesh_new_event_t *event)
{
    zmesh__stmt_int (insert, first, (int64_t) position);
    zmesh__stmt_text (insert, first + 1, stream);
    zmesh__stmt_int (insert, first + 2, version);
    zmesh__stmt_blob (insert, first + 3, event->id.bytes, ZMESH_UUID_SIZE);
    zmesh__stmt_text (insert, first + 4, event->type);
    if (event->body_size)
        zmesh__stmt_blob (insert, first + 5, event->body, event->body_size);
    else
        zmesh__stmt_null (insert, first + 5);
    zmesh__stmt_blob (insert, first + 6, event->correlation.bytes,
                      ZMESH_UUID_SIZE);
    if (event->causation && !zmesh_uuid_is_nil (event->causation))
        zmesh__stmt_blob (insert, first + 7, event->causation->bytes,
                          ZMESH_UUID_SIZE);
    else
        zmesh__stmt_null (insert, first + 7);
    zmesh__stmt_int (insert, first + 8, (int64_t) event->timestamp);
    zmesh__stmt_text (insert, first + 9, publisher);
    zmesh__stmt_int (insert, first + 10, (int64_t) seq);
    zmesh__stmt_text (insert, first + 11, event->key ? event->key : "");
}

zmesh_err_t
zmesh__rows_insert (zmesh__rows_t *self, zmesh__db_t *db,
                    const char *publisher, zmesh_detail_t *detail)
{
    assert (self && db && publisher);
    zmesh_err_t rc = ZMESH_OK;
    size_t done = 0;
    for (size_t size = 0; rc == ZMESH_OK && size < SIZES; size++)
        while (rc == ZMESH_OK && self->count - done >= s_sizes [size]) {
            zmesh__stmt_t *insert = zmesh__db_prepare (db, self->sql [size],
                                                       detail);
            if (!insert) {
                rc = ZMESH_ERR_STORE;
                break;
            }
            for (size_t index = 0; index < s_sizes [size]; index++) {
                s_row_t *row = &self->rows [done + index];
                row->event.body = row->event.body_size
                                ? self->bodies + row->body_at : NULL;
                zmesh__row_bind (insert, (int) (index * ZMESH__ROW_PARAM_COUNT
                                                + 1),
                                 row->stream, row->position, row->version,
                                 row->seq, publisher, &row->event);
            }
            zmesh__db_step_t step = zmesh__stmt_run (insert);
            if (step != ZMESH__DB_DONE) {
                zmesh__detail (detail, "store: cannot insert %zu events: %s",
                               s_sizes [size], step == ZMESH__DB_CONSTRAINT
                               ? "an event id appears twice"
                               : zmesh__db_error (db));
                rc = ZMESH_ERR_STORE;
            }
            done += s_sizes [size];
        }
    zmesh__rows_clear (self);
    return rc;
}

void
zmesh__rows_clear (zmesh__rows_t *self)
{
    assert (self);
    self->count = 0;
    self->bodies_size = 0;
}
