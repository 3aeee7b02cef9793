/*  zmesh/aggregate.h - state rebuilt from a stream of events.

    An aggregate type says how to start a state, how each event type
    changes it, and, for long streams, how to write the state down as a
    snapshot and read it back. Loading replays the stream, from the latest
    snapshot when there is one; committing appends new events with the
    version the state was loaded at as the expected version, so a command
    decided on stale state is refused rather than written.

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_AGGREGATE_H_INCLUDED
#define ZMESH_AGGREGATE_H_INCLUDED

#include "zmesh/export.h"
#include "zmesh/store.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Apply one event to state. Returns ZMESH_OK, or an error with detail
//  when the event cannot be read (a body without a field it needs).
typedef zmesh_err_t (zmesh_apply_fn) (void *state,
                                      const zmesh_stored_event_t *event,
                                      zmesh_detail_t *detail);

typedef struct {
    const char *type;           //  Event type; NULL ends the list
    zmesh_apply_fn *apply;
} zmesh_applier_t;

typedef struct {
    const char *name;           //  For messages, e.g. "order"
    void (*init) (void *state);         //  A fresh state
    void (*fini) (void *state);         //  Free what state owns; may be NULL
    const zmesh_applier_t *appliers;    //  One per event type
    int snapshot_every;         //  Snapshot each N versions; 0: never
    //  Write state as bytes (allocated with malloc), and read them back
    //  into a fresh state. Both may be NULL when snapshot_every is 0.
    zmesh_err_t (*save) (const void *state, void **bytes, size_t *size);
    zmesh_err_t (*load) (void *state, const void *bytes, size_t size,
                         zmesh_detail_t *detail);
} zmesh_aggregate_type_t;

typedef struct {
    int64_t version;            //  The stream's version the state is at
    int64_t snapshot_version;   //  Where loading started; 0: from scratch
    size_t replayed;            //  Events applied while loading
} zmesh_aggregate_info_t;

//  Load stream into state, which this call initializes (the caller
//  finalizes it with type->fini even on failure). With use_snapshot, start
//  from the stream's snapshot if it has one. Returns ZMESH_OK and fills
//  info; ZMESH_ERR_UNKNOWN_EVENT for an event type the aggregate has no
//  apply function for; an apply function's error; a store error.
ZMESH_EXPORT zmesh_err_t
    zmesh_aggregate_load (zmesh_store_t *store,
                          const zmesh_aggregate_type_t *type,
                          const char *stream, bool use_snapshot, void *state,
                          zmesh_aggregate_info_t *info,
                          zmesh_detail_t *detail);

//  Append events to stream, expecting it at info->version (the version the
//  state was loaded at), then apply them to state and move info->version
//  on; take a snapshot when the stream passes a multiple of
//  snapshot_every. Returns ZMESH_OK, or ZMESH_ERR_CONCURRENCY (reload and
//  decide again), or another append or apply error.
ZMESH_EXPORT zmesh_err_t
    zmesh_aggregate_commit (zmesh_store_t *store,
                            const zmesh_aggregate_type_t *type,
                            const char *stream, const zmesh_new_event_t *events,
                            size_t count, void *state,
                            zmesh_aggregate_info_t *info,
                            zmesh_detail_t *detail);

#ifdef __cplusplus
}
#endif

#endif
