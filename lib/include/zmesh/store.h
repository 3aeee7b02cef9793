/*  zmesh/store.h - the event store: streams of events with versions, on
    SQLite or PostgreSQL.

    Every event belongs to one stream (an aggregate, e.g. "order-42") and has
    a version in it (1, 2, 3, ...), and a global position in the store (1, 2,
    3, ... across all streams, with no holes). It belongs to the log of the
    publisher that appended it, too (zmesh_store_publish_as), with a sequence
    number in that log (1, 2, 3, ..., no holes), under which the node
    publishes it: the instances of a service can share one store, each
    with a log of its own. An append states what version
    it expects the stream to be at, and writes nothing if it is wrong, so
    two writers cannot both extend a stream from the same state.

    The file is SQLite in WAL mode, synced on every commit unless the store
    is opened with durability relaxed; or, for a path that is a
    postgresql:// URI, a PostgreSQL database through libpq. Several
    processes may open one store; writes are serialized, and positions
    commit in order. The schema carries its version and is migrated forward
    on open; a store from a newer zmesh is refused (proto/store.md).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_STORE_H_INCLUDED
#define ZMESH_STORE_H_INCLUDED

#include "zmesh/export.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "zmesh/envelope.h"
#include "zmesh/error.h"
#include "zmesh/uuid.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZMESH_STORE_SCHEMA      4       //  Schema version this build writes

//  Expected versions that are not a number.
#define ZMESH_VERSION_ANY       (-1)    //  Whatever the stream holds
#define ZMESH_VERSION_NO_STREAM (-2)    //  The stream must not exist yet
#define ZMESH_VERSION_EXISTS    (-3)    //  The stream must have an event

#define ZMESH_STREAM_MAX        128     //  Bytes of a stream name

//  The largest body of a stored event: 16 KiB under the envelope's limit,
//  so that the event's envelope fits one zmesh.replay reply's body.
#define ZMESH_STORE_BODY_MAX    (ZMESH_ENVELOPE_BODY_MAX - 16 * 1024)

//  An event to append. The id makes retries safe: an event whose id is
//  stored already is not stored again.
typedef struct {
    zmesh_uuid_t id;
    const char *type;           //  A type name (zmesh_envelope_name_valid)
    const void *body;           //  One msgpack value, or NULL
    size_t body_size;
    zmesh_uuid_t correlation;
    const zmesh_uuid_t *causation;  //  Or NULL
    uint64_t timestamp;         //  Unix ms
    const char *key;            //  What the members of a consuming group
                                //  divide events by, named like a
                                //  stream: NULL or "" for the stream
} zmesh_new_event_t;

//  An event as stored. Borrowed: valid during the callback that gets it.
typedef struct {
    uint64_t position;          //  Global, from 1, no holes
    const char *stream;
    int64_t version;            //  In its stream, from 1
    zmesh_uuid_t id;
    const char *type;
    const void *body;           //  NULL when there is none
    size_t body_size;
    zmesh_uuid_t correlation;
    bool has_causation;
    zmesh_uuid_t causation;
    uint64_t timestamp;
    const char *publisher;      //  Whose log it is in ("": nobody's)
    uint64_t seq;               //  In that log, from 1, no holes
    const char *key;            //  As appended ("": the stream)
} zmesh_stored_event_t;

//  What an append did.
typedef struct {
    uint64_t first_position;    //  Of the first event of the call
    uint64_t last_position;
    uint64_t first_seq;         //  In the publisher's log
    uint64_t last_seq;
    int64_t version;            //  The stream's version afterwards
    bool duplicate;             //  Stored before: nothing was written
} zmesh_append_result_t;

//  Called for each event a read finds; return false to stop the read.
typedef bool (zmesh_stored_event_fn) (const zmesh_stored_event_t *event,
                                      void *arg);

typedef struct _zmesh_store_t zmesh_store_t;

//  Open the store at path (a SQLite file, or a postgresql:// URI), creating
//  it if needed, and migrate its schema. synced: sync every commit to disk (nothing acknowledged is lost even on
//  power loss); otherwise a commit survives a crash of the process but
//  maybe not of the machine. Returns NULL with detail saying why: not a
//  database, a newer schema, no permission, no server.
ZMESH_EXPORT zmesh_store_t *
    zmesh_store_open (const char *path, bool synced, zmesh_detail_t *detail);

//  Close the store and set *self_p to NULL; harmless on NULL.
ZMESH_EXPORT void
    zmesh_store_close (zmesh_store_t **self_p);

//  Append count events to stream, all or nothing, if the stream is at
//  expected (a version, or one of ZMESH_VERSION_*). Returns ZMESH_OK and
//  fills result; ZMESH_ERR_CONCURRENCY, writing nothing, with the actual
//  version in result->version and in detail; ZMESH_ERR_INVALID for a bad
//  stream name, type or body; ZMESH_ERR_ENVELOPE_BODY_TOO_LARGE for a body
//  over ZMESH_STORE_BODY_MAX; ZMESH_ERR_STORE_DUPLICATE if some events of
//  the call are stored already and others are not, or elsewhere;
//  ZMESH_ERR_STORE for a failure of the file.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_append (zmesh_store_t *self, const char *stream,
                        int64_t expected, const zmesh_new_event_t *events,
                        size_t count, zmesh_append_result_t *result,
                        zmesh_detail_t *detail);

//  Start a transaction that holds the store's write lock until
//  zmesh_store_commit or zmesh_store_rollback: appends and other writes made
//  meanwhile (a consumer's own writes and its record of what it processed)
//  commit together or not at all.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_begin (zmesh_store_t *self, zmesh_detail_t *detail);
ZMESH_EXPORT zmesh_err_t
    zmesh_store_commit (zmesh_store_t *self, zmesh_detail_t *detail);
//  Harmless when no transaction is open.
ZMESH_EXPORT void
    zmesh_store_rollback (zmesh_store_t *self);

//  Inside a transaction, mark a point that what is written after it can be
//  taken back to, alone: zmesh_store_release keeps those writes (they
//  commit with the transaction), zmesh_store_rollback_to takes them back
//  and ends the savepoint. Savepoints nest; each call ends the innermost.
//  On PostgreSQL a savepoint and a release go to the server with the next
//  statement, in one round trip: if one of them fails, so does that
//  statement, and every one after it (the commit too) until
//  zmesh_store_rollback.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_savepoint (zmesh_store_t *self, zmesh_detail_t *detail);
ZMESH_EXPORT zmesh_err_t
    zmesh_store_release (zmesh_store_t *self, zmesh_detail_t *detail);
ZMESH_EXPORT void
    zmesh_store_rollback_to (zmesh_store_t *self);

//  Forget events before position before (retention), but the last event
//  of each publisher's log, which holds where the log goes on. Positions
//  never move: the head stays where it is, and zmesh_store_earliest says
//  what is left.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_trim (zmesh_store_t *self, uint64_t before,
                      zmesh_detail_t *detail);

//  Forget events older than unix_ms (by their timestamps).
ZMESH_EXPORT zmesh_err_t
    zmesh_store_trim_older (zmesh_store_t *self, uint64_t unix_ms,
                            zmesh_detail_t *detail);

//  The first position still kept: 1 unless the store was trimmed.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_earliest (zmesh_store_t *self, uint64_t *position);

//  The stream's version now: 0 if it has no events.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_version (zmesh_store_t *self, const char *stream,
                         int64_t *version);

//  The last position in the store: 0 if it is empty.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_head (zmesh_store_t *self, uint64_t *position);

//  Append from now on into the log of publisher (a node's name), after its
//  last sequence number in the store; a node's consumers keep their
//  positions under the same name. Until this is called, both go under "".
//  What "" has (a store from before publishers had logs, or written by a
//  tool) becomes publisher's if it has none of its own yet.
//  ZMESH_ERR_INVALID for a bad name.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_publish_as (zmesh_store_t *self, const char *publisher,
                            zmesh_detail_t *detail);

//  The publisher whose log appends go in ("" by default).
ZMESH_EXPORT const char *
    zmesh_store_publisher (zmesh_store_t *self);

//  The last sequence number in publisher's log: 0 if it has none.
//  Trimming keeps each log's last event, so this never goes back.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_log_head (zmesh_store_t *self, const char *publisher,
                          uint64_t *seq);

//  The first sequence number still kept in publisher's log: 1 unless
//  trimmed.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_log_earliest (zmesh_store_t *self, const char *publisher,
                              uint64_t *seq);

//  Read publisher's log from sequence number from (inclusive), in order,
//  calling fn for at most limit events (0: no limit).
ZMESH_EXPORT zmesh_err_t
    zmesh_store_read_log (zmesh_store_t *self, const char *publisher,
                          uint64_t from, size_t limit,
                          zmesh_stored_event_fn *fn, void *arg,
                          zmesh_detail_t *detail);

//  Read stream from version from (inclusive) forward, or backward when
//  backward is true, calling fn for at most limit events (0: no limit).
//  Returns ZMESH_OK, or ZMESH_ERR_STORE_CORRUPT if a stored event does not
//  read back (detail gives its position), or ZMESH_ERR_STORE.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_read_stream (zmesh_store_t *self, const char *stream,
                             int64_t from, bool backward, size_t limit,
                             zmesh_stored_event_fn *fn, void *arg,
                             zmesh_detail_t *detail);

//  Read all streams in position order from position from (inclusive),
//  calling fn for at most limit events (0: no limit).
ZMESH_EXPORT zmesh_err_t
    zmesh_store_read_all (zmesh_store_t *self, uint64_t from, size_t limit,
                          zmesh_stored_event_fn *fn, void *arg,
                          zmesh_detail_t *detail);

//  A subscription catches up from a position, then sees new appends, by
//  this process or any other, each time it is polled.
typedef struct _zmesh_store_sub_t zmesh_store_sub_t;

//  Subscribe from position from (1: the beginning; head + 1: from now).
//  NULL if out of memory.
ZMESH_EXPORT zmesh_store_sub_t *
    zmesh_store_subscribe (zmesh_store_t *self, uint64_t from,
                           zmesh_stored_event_fn *fn, void *arg);

//  Deliver up to limit events (0: no limit) appended since the last poll.
//  Cheap when nothing changed. Returns ZMESH_OK or a read error; *delivered,
//  if not NULL, gets how many.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_sub_poll (zmesh_store_sub_t *self, size_t limit,
                          size_t *delivered, zmesh_detail_t *detail);

//  The position the subscription will deliver next.
ZMESH_EXPORT uint64_t
    zmesh_store_sub_next (zmesh_store_sub_t *self);

ZMESH_EXPORT void
    zmesh_store_sub_destroy (zmesh_store_sub_t **self_p);

//  Keep a snapshot of stream's state at version (one per stream; a newer
//  one replaces it).
ZMESH_EXPORT zmesh_err_t
    zmesh_store_save_snapshot (zmesh_store_t *self, const char *stream,
                               int64_t version, const void *state,
                               size_t size);

//  Load stream's snapshot: *state_p (caller frees with free()) and
//  *version, or *state_p = NULL and *version = 0 if there is none.
ZMESH_EXPORT zmesh_err_t
    zmesh_store_load_snapshot (zmesh_store_t *self, const char *stream,
                               void **state_p, size_t *size,
                               int64_t *version);

#ifdef __cplusplus
}
#endif

#endif
