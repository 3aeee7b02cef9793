/*  store_rows.c - rows of events waiting to be inserted together: see
    store_rows.h.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"
#include "store_rows.h"

typedef struct {
    uint64_t position, seq, timestamp;
    int64_t version;
    zmesh_uuid_t id, correlation, causation;
    bool has_body, has_causation;
    size_t body_at, body_size;          //  In the rows' bodies
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
    row->position = position;
    row->version = version;
    row->seq = seq;
    row->timestamp = event->timestamp;
    row->id = event->id;
    row->correlation = event->correlation;
    row->has_causation = event->causation
                         && !zmesh_uuid_is_nil (event->causation);
    if (row->has_causation)
        row->causation = *event->causation;
    row->has_body = event->body_size > 0;
    row->body_at = self->bodies_size;
    row->body_size = event->body_size;
    if (event->body_size)
        memcpy (self->bodies + self->bodies_size, event->body,
                event->body_size);
    self->bodies_size += event->body_size;
    //  All were checked by the append: they fit
    memcpy (row->stream, stream, strlen (stream) + 1);
    memcpy (row->type, event->type, strlen (event->type) + 1);
    const char *key = event->key ? event->key : "";
    memcpy (row->key, key, strlen (key) + 1);
    return ZMESH_OK;
}

//  Bind row as the row of statement that starts at parameter first.
static void
s_bind (zmesh__rows_t *self, zmesh__stmt_t *insert, int first,
        const s_row_t *row, const char *publisher)
{
    zmesh__stmt_int (insert, first, (int64_t) row->position);
    zmesh__stmt_text (insert, first + 1, row->stream);
    zmesh__stmt_int (insert, first + 2, row->version);
    zmesh__stmt_blob (insert, first + 3, row->id.bytes, ZMESH_UUID_SIZE);
    zmesh__stmt_text (insert, first + 4, row->type);
    if (row->has_body)
        zmesh__stmt_blob (insert, first + 5, self->bodies + row->body_at,
                          row->body_size);
    else
        zmesh__stmt_null (insert, first + 5);
    zmesh__stmt_blob (insert, first + 6, row->correlation.bytes,
                      ZMESH_UUID_SIZE);
    if (row->has_causation)
        zmesh__stmt_blob (insert, first + 7, row->causation.bytes,
                          ZMESH_UUID_SIZE);
    else
        zmesh__stmt_null (insert, first + 7);
    zmesh__stmt_int (insert, first + 8, (int64_t) row->timestamp);
    zmesh__stmt_text (insert, first + 9, publisher);
    zmesh__stmt_int (insert, first + 10, (int64_t) row->seq);
    zmesh__stmt_text (insert, first + 11, row->key);
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
            for (size_t row = 0; row < s_sizes [size]; row++)
                s_bind (self, insert, (int) (row * 12 + 1),
                        &self->rows [done + row], publisher);
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
