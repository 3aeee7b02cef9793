/*  test_peers.c - the peer directory and liveness, on made-up times.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"
#include "peers.h"

static int changes;
static zmesh_peer_state_t last_was, last_now;

static void
s_changed (const zmesh_peer_info_t *peer, zmesh_peer_state_t was, void *arg)
{
    (void) arg;
    changes++;
    last_was = was;
    last_now = peer->state;
}

Test (peers, silence_makes_a_peer_quiet_then_gone)
{
    zmesh_peers_t *peers = zmesh__peers_new ();
    char old [ZMESH_ENDPOINT_MAX + 1];
    long index = zmesh__peers_upsert (peers, "user", "user", "tcp://a:1",
                                      "tcp://a:2", true, old);
    cr_assert (eq (long, index, 0));
    cr_assert (eq (str, old, ""));
    zmesh_peer_info_t *peer = zmesh__peers_at (peers, 0);
    cr_assert (eq (int, peer->state, ZMESH_PEER_UNKNOWN));

    zmesh__peers_tick (peers, 10000, 3000, 10000, s_changed, NULL);
    cr_assert (eq (int, changes, 0), "never heard: nothing to age");

    zmesh__peers_heard (peers, 0, 1000, s_changed, NULL);
    cr_assert (eq (int, peer->state, ZMESH_PEER_ALIVE));
    zmesh__peers_tick (peers, 3999, 3000, 10000, s_changed, NULL);
    cr_assert (eq (int, peer->state, ZMESH_PEER_ALIVE));
    zmesh__peers_tick (peers, 4000, 3000, 10000, s_changed, NULL);
    cr_assert (eq (int, peer->state, ZMESH_PEER_QUIET));
    cr_assert (eq (int, last_was, ZMESH_PEER_ALIVE));
    zmesh__peers_tick (peers, 11000, 3000, 10000, s_changed, NULL);
    cr_assert (eq (int, peer->state, ZMESH_PEER_GONE));
    cr_assert (eq (int, last_now, ZMESH_PEER_GONE));
    zmesh__peers_heard (peers, 0, 12000, s_changed, NULL);
    cr_assert (eq (int, peer->state, ZMESH_PEER_ALIVE));
    cr_assert (eq (int, changes, 4));
    zmesh__peers_destroy (&peers);
}

Test (peers, routes_alive_first_and_skips_gone)
{
    zmesh_peers_t *peers = zmesh__peers_new ();
    char old [ZMESH_ENDPOINT_MAX + 1];
    zmesh__peers_upsert (peers, "u1", "user", "", "tcp://u1", true, old);
    zmesh__peers_upsert (peers, "u2", "user", "tcp://e2", "tcp://u2", true, old);
    zmesh__peers_upsert (peers, "u3", "user", "tcp://e3", "tcp://u3", true, old);
    zmesh__peers_upsert (peers, "o1", "order", "", "tcp://o1", true, old);
    zmesh__peers_heard (peers, 1, 0, NULL, NULL);       //  u2 alive
    zmesh__peers_heard (peers, 2, 0, NULL, NULL);
    zmesh__peers_tick (peers, 20000, 3000, 10000, NULL, NULL);  //  both gone
    zmesh__peers_heard (peers, 1, 20000, NULL, NULL);   //  u2 back
    const char *endpoints [8];
    size_t equal;
    size_t count = zmesh__peers_route (peers, "user", NULL, endpoints, 8,
                                       &equal);
    cr_assert (eq (sz, count, 2));
    cr_assert (eq (sz, equal, 1), "one alive");
    cr_assert (eq (str, (char *) endpoints [0], "tcp://u2"));
    cr_assert (eq (str, (char *) endpoints [1], "tcp://u1"));
    cr_assert (eq (sz, zmesh__peers_route (peers, "nobody", NULL, endpoints, 8,
                                           &equal), 0));
    cr_assert (eq (sz, equal, 0));
    cr_assert (eq (long, zmesh__peers_find_events (peers, "tcp://e3"), 2));
    cr_assert (eq (long, zmesh__peers_find_events (peers, ""), -1));

    //  What the config set, only the config changes: a learned peer under
    //  a configured key is refused, and the peer stays as it was.
    cr_assert (eq (long, zmesh__peers_upsert (peers, "u2", "user", "tcp://x",
                                              "tcp://x", false, old), -1));
    cr_assert (eq (str, zmesh__peers_at (peers, 1)->calls, "tcp://u2"));
    cr_assert (zmesh__peers_at (peers, 1)->from_config);
    //  Moving an instance reports where it was.
    zmesh__peers_upsert (peers, "u2", "user", "tcp://e9", "tcp://u9", true, old);
    cr_assert (eq (str, old, "tcp://e2"));
    cr_assert (eq (sz, zmesh__peers_count (peers), 4));

    //  A goodbye: gone at once, then forgotten.
    zmesh__peers_gone (peers, 0, s_changed, NULL);
    cr_assert (eq (int, zmesh__peers_at (peers, 0)->state, ZMESH_PEER_GONE));
    zmesh__peers_remove (peers, 0);
    cr_assert (eq (sz, zmesh__peers_count (peers), 3));
    cr_assert (eq (str, zmesh__peers_at (peers, 0)->key, "u2"));
    cr_assert (eq (str, zmesh__peers_at (peers, 2)->key, "o1"));
    zmesh__peers_destroy (&peers);
}

Test (peers, a_goodbye_holds_until_the_next_heartbeat)
{
    zmesh_peers_t *peers = zmesh__peers_new ();
    char old [ZMESH_ENDPOINT_MAX + 1];
    zmesh__peers_upsert (peers, "user", "user", "tcp://a:1", "tcp://a:2", true,
                         old);
    zmesh__peers_heard (peers, 0, 1000, NULL, NULL);
    zmesh__peers_gone (peers, 0, NULL, NULL);
    zmesh__peers_tick (peers, 1001, 3000, 10000, NULL, NULL);
    cr_assert (eq (int, zmesh__peers_at (peers, 0)->state, ZMESH_PEER_GONE),
               "a recent beat does not undo a goodbye");
    zmesh__peers_heard (peers, 0, 1500, NULL, NULL);
    cr_assert (eq (int, zmesh__peers_at (peers, 0)->state, ZMESH_PEER_ALIVE));
    zmesh__peers_destroy (&peers);
}

Test (peers, a_gossip_peer_never_heard_from_ages_but_a_configured_one_waits)
{
    zmesh_peers_t *peers = zmesh__peers_new ();
    char old [ZMESH_ENDPOINT_MAX + 1];
    zmesh__peers_upsert (peers, "zmesh/user/1", "user", "tcp://a:1",
                         "tcp://a:2", false, old);
    zmesh__peers_upsert (peers, "user-static", "user", "", "tcp://b:2", true,
                         old);
    zmesh__peers_at (peers, 0)->last_heard_ms = 5000;   //  Learned then
    zmesh__peers_tick (peers, 14999, 3000, 10000, NULL, NULL);
    cr_assert (eq (int, zmesh__peers_at (peers, 0)->state, ZMESH_PEER_UNKNOWN));
    zmesh__peers_tick (peers, 15000, 3000, 10000, NULL, NULL);
    cr_assert (eq (int, zmesh__peers_at (peers, 0)->state, ZMESH_PEER_GONE));
    cr_assert (eq (int, zmesh__peers_at (peers, 1)->state, ZMESH_PEER_UNKNOWN));
    const char *endpoints [4];
    size_t equal;
    cr_assert (eq (sz, zmesh__peers_route (peers, "user", NULL, endpoints, 4,
                                           &equal), 1));
    cr_assert (eq (str, (char *) endpoints [0], "tcp://b:2"));
    zmesh__peers_destroy (&peers);
}

//  With a key, each rank of instances is in rendezvous order: every key
//  has one owner, the same whatever order the peers were learned in, and
//  taking an instance out moves only the keys that it owned.
//  The members of a group, each with the others as alive peers, agree on
//  one owner per key; a publisher in the group owns none of its events.
Test (peers, the_members_of_a_group_agree_on_one_owner_per_key)
{
    const char *names [] = {"pay-a", "pay-b", "pay-c"};
    zmesh_peers_t *views [3];
    char old [ZMESH_ENDPOINT_MAX + 1];
    for (int member = 0; member < 3; member++) {
        views [member] = zmesh__peers_new ();
        for (int other = 0; other < 3; other++) {
            if (other == member)
                continue;
            long index = zmesh__peers_upsert (views [member], names [other],
                                              "pay", "", "tcp://x", true, old);
            snprintf (zmesh__peers_at (views [member], (size_t) index)->name,
                      ZMESH_ENVELOPE_SOURCE_MAX + 1, "%s", names [other]);
            zmesh__peers_heard (views [member], (size_t) index, 0, NULL,
                                NULL);
        }
        //  Another service's instance is no member
        long index = zmesh__peers_upsert (views [member], "order-a", "order",
                                          "", "tcp://y", true, old);
        snprintf (zmesh__peers_at (views [member], (size_t) index)->name,
                  ZMESH_ENVELOPE_SOURCE_MAX + 1, "order-a");
        zmesh__peers_heard (views [member], (size_t) index, 0, NULL, NULL);
    }
    int owned [3] = {0};
    for (int number = 0; number < 300; number++) {
        char key [16];
        snprintf (key, sizeof key, "order-%d", number);
        int owners = 0;
        for (int member = 0; member < 3; member++) {
            bool owns = zmesh__peers_owns (views [member], "pay",
                                           names [member], key);
            owners += owns;
            owned [member] += owns;
        }
        cr_assert (eq (int, owners, 1), "%s has one owner", key);
    }
    for (int member = 0; member < 3; member++) {
        cr_assert (gt (int, owned [member], 70), "%s owns %d of 300",
                   names [member], owned [member]);
        zmesh__peers_destroy (&views [member]);
    }
    //  Alone, a member owns everything
    zmesh_peers_t *alone = zmesh__peers_new ();
    cr_assert (zmesh__peers_owns (alone, "pay", "pay-a", "order-1"));
    zmesh__peers_destroy (&alone);
}

Test (peers, a_key_has_one_owner_and_only_its_keys_move)
{
    const char *labels [] = {"order-a", "order-b", "order-c"};
    zmesh_peers_t *forward = zmesh__peers_new (),
                  *backward = zmesh__peers_new (),
                  *fewer = zmesh__peers_new ();
    char old [ZMESH_ENDPOINT_MAX + 1], calls [32];
    for (int index = 0; index < 3; index++) {
        snprintf (calls, sizeof calls, "tcp://%s", labels [index]);
        zmesh__peers_upsert (forward, labels [index], "order", "", calls, true,
                             old);
        snprintf (calls, sizeof calls, "tcp://%s", labels [2 - index]);
        zmesh__peers_upsert (backward, labels [2 - index], "order", "", calls,
                             true, old);
        if (index != 1) {
            snprintf (calls, sizeof calls, "tcp://%s", labels [index]);
            zmesh__peers_upsert (fewer, labels [index], "order", "", calls,
                                 true, old);
        }
    }
    int owned [3] = {0}, moved = 0;
    for (int number = 0; number < 300; number++) {
        char key [16];
        snprintf (key, sizeof key, "key-%d", number);
        const char *first [3], *second [3], *third [3];
        size_t equal;
        cr_assert (eq (sz, zmesh__peers_route (forward, "order", key, first, 3,
                                               &equal), 3));
        cr_assert (eq (sz, equal, 3), "three never heard from");
        zmesh__peers_route (backward, "order", key, second, 3, &equal);
        for (int at = 0; at < 3; at++)
            cr_assert (eq (str, (char *) first [at], (char *) second [at]));
        for (int index = 0; index < 3; index++)
            owned [index] += strstr (first [0], labels [index]) != NULL;
        zmesh__peers_route (fewer, "order", key, third, 2, &equal);
        if (strstr (first [0], "order-b"))
            cr_assert (eq (str, (char *) third [0], (char *) first [1]),
                       "b's keys go to their second choice");
        else
            cr_assert (eq (str, (char *) third [0], (char *) first [0]),
                       "the others' stay");
        moved += !streq (third [0], first [0]);
    }
    for (int index = 0; index < 3; index++)
        cr_assert (gt (int, owned [index], 70), "%s owns %d of 300",
                   labels [index], owned [index]);
    cr_assert (eq (int, moved, owned [1]));
    zmesh__peers_destroy (&forward);
    zmesh__peers_destroy (&backward);
    zmesh__peers_destroy (&fewer);
}
