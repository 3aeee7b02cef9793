/*  aggregate.c - loading aggregates by replay, committing their events.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

typedef struct {
    const zmesh_aggregate_type_t *type;
    void *state;
    zmesh_aggregate_info_t *info;
    zmesh_detail_t *detail;
    zmesh_err_t rc;             //  First failure, which stops the read
} s_replay_t;

static bool
s_apply (const zmesh_stored_event_t *event, void *arg)
{
    s_replay_t *replay = arg;
    const zmesh_applier_t *applier = replay->type->appliers;
    while (applier->type && !streq (applier->type, event->type))
        applier++;
    if (!applier->type) {
        zmesh__detail (replay->detail, "%s %s: version %" PRId64 " is a %s, "
                       "which the %s aggregate cannot apply",
                       replay->type->name, event->stream, event->version,
                       event->type, replay->type->name);
        replay->rc = ZMESH_ERR_UNKNOWN_EVENT;
        return false;
    }
    replay->rc = applier->apply (replay->state, event, replay->detail);
    if (replay->rc)
        return false;
    replay->info->version = event->version;
    replay->info->replayed++;
    return true;
}

//  Apply every event of stream after info->version to state.
static zmesh_err_t
s_replay (zmesh_store_t *store, const zmesh_aggregate_type_t *type,
          const char *stream, void *state, zmesh_aggregate_info_t *info,
          zmesh_detail_t *detail)
{
    s_replay_t replay = {type, state, info, detail, ZMESH_OK};
    zmesh_err_t rc = zmesh_store_read_stream (store, stream, info->version + 1,
                                              false, 0, s_apply, &replay,
                                              detail);
    return rc ? rc : replay.rc;
}

zmesh_err_t
zmesh_aggregate_load (zmesh_store_t *store, const zmesh_aggregate_type_t *type,
                      const char *stream, bool use_snapshot, void *state,
                      zmesh_aggregate_info_t *info, zmesh_detail_t *detail)
{
    assert (store && type && stream && state && info);
    memset (info, 0, sizeof *info);
    type->init (state);
    if (use_snapshot && type->snapshot_every > 0) {
        void *bytes = NULL;
        size_t size = 0;
        int64_t version = 0;
        zmesh_err_t rc = zmesh_store_load_snapshot (store, stream, &bytes,
                                                    &size, &version);
        if (rc == ZMESH_OK && bytes) {
            rc = type->load (state, bytes, size, detail);
            if (rc == ZMESH_OK)
                info->version = info->snapshot_version = version;
            else {
                //  A snapshot that does not read is only a lost shortcut:
                //  start again from the first event.
                zsys_warning ("aggregate %s %s: snapshot at %" PRId64 " is "
                              "unreadable, replaying from scratch",
                              type->name, stream, version);
                if (type->fini)
                    type->fini (state);
                type->init (state);
            }
        }
        free (bytes);
    }
    return s_replay (store, type, stream, state, info, detail);
}

static void
s_snapshot (zmesh_store_t *store, const zmesh_aggregate_type_t *type,
            const char *stream, const void *state, int64_t version)
{
    void *bytes = NULL;
    size_t size = 0;
    if (type->save (state, &bytes, &size) != ZMESH_OK
        || zmesh_store_save_snapshot (store, stream, version, bytes, size)
               != ZMESH_OK)
        zsys_warning ("aggregate %s %s: could not snapshot version %" PRId64,
                      type->name, stream, version);
    free (bytes);
}

zmesh_err_t
zmesh_aggregate_commit (zmesh_store_t *store,
                        const zmesh_aggregate_type_t *type,
                        const char *stream, const zmesh_new_event_t *events,
                        size_t count, void *state,
                        zmesh_aggregate_info_t *info, zmesh_detail_t *detail)
{
    assert (store && type && stream && state && info);
    zmesh_append_result_t result;
    zmesh_err_t rc = zmesh_store_append (store, stream,
                                         info->version ? info->version
                                                       : ZMESH_VERSION_NO_STREAM,
                                         events, count, &result, detail);
    if (rc)
        return rc;
    int64_t before = info->version;
    rc = s_replay (store, type, stream, state, info, detail);
    int every = type->snapshot_every;
    if (rc == ZMESH_OK && every > 0 && info->version / every > before / every)
        s_snapshot (store, type, stream, state, info->version);
    return rc;
}
