/*  storetool.c - a process that writes to an event store, for the
    integration suites.

        zmesh_storetool race PATH STREAM ROUNDS START_UNIX_MS
            waits until START_UNIX_MS, then for k = 0 .. ROUNDS-1 appends one
            event to STREAM expecting version k, printing "k ok" or
            "k conflict".
        zmesh_storetool write PATH STREAM
            appends one event after another, printing "position N" once
            each is committed, until killed (or 200000 events, or 60 s).

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

static zmesh_new_event_t
s_event (zmesh_rand_t *rand, uint64_t n)
{
    static uint8_t body [9];
    body [0] = 0xcf;            //  uint64 n
    for (int index = 0; index < 8; index++)
        body [1 + index] = (uint8_t) (n >> (56 - 8 * index));
    zmesh_new_event_t event = {.type = "thing.happened", .body = body,
                               .body_size = sizeof body};
    zmesh_uuid_generate (rand, &event.id);
    zmesh_uuid_generate (rand, &event.correlation);
    event.timestamp = (uint64_t) zclock_time ();
    return event;
}

int
main (int argc, char *argv [])
{
    if (argc < 4) {
        fprintf (stderr, "usage: zmesh_storetool race|write PATH STREAM ...\n");
        return 2;
    }
    zmesh_detail_t detail = {""};
    zmesh_store_t *store = zmesh_store_open (argv [2], true, &detail);
    if (!store) {
        fprintf (stderr, "storetool: %s\n", detail.text);
        return 1;
    }
    zmesh_rand_t *rand = zmesh_rand_new ();
    zmesh_append_result_t result;
    int rc = 0;
    if (streq (argv [1], "race") && argc == 6) {
        long rounds = strtol (argv [4], NULL, 10);
        int64_t start = strtoll (argv [5], NULL, 10);
        while (zclock_time () < start)
            zclock_sleep (1);
        for (long round = 0; round < rounds; round++) {
            zmesh_new_event_t event = s_event (rand, (uint64_t) round);
            zmesh_err_t outcome = zmesh_store_append (store, argv [3], round,
                                                      &event, 1, &result,
                                                      &detail);
            if (outcome != ZMESH_OK && outcome != ZMESH_ERR_CONCURRENCY) {
                fprintf (stderr, "storetool: %s\n", detail.text);
                rc = 1;
                break;
            }
            printf ("%ld %s\n", round, outcome == ZMESH_OK ? "ok" : "conflict");
        }
    }
    else if (streq (argv [1], "write")) {
        int64_t until = zclock_mono () + 60000;
        for (uint64_t n = 1; n <= 200000 && zclock_mono () < until; n++) {
            zmesh_new_event_t event = s_event (rand, n);
            if (zmesh_store_append (store, argv [3], ZMESH_VERSION_ANY, &event,
                                    1, &result, &detail) != ZMESH_OK) {
                fprintf (stderr, "storetool: %s\n", detail.text);
                rc = 1;
                break;
            }
            printf ("position %" PRIu64 "\n", result.last_position);
            fflush (stdout);
        }
    }
    else {
        fprintf (stderr, "storetool: unknown command\n");
        rc = 2;
    }
    fflush (stdout);
    zmesh_rand_destroy (&rand);
    zmesh_store_close (&store);
    return rc;
}
