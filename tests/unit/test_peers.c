/*  test_peers.c - the peer directory and liveness, on made-up times.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
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
    size_t count = zmesh__peers_route (peers, "user", endpoints, 8);
    cr_assert (eq (sz, count, 2));
    cr_assert (eq (str, (char *) endpoints [0], "tcp://u2"));
    cr_assert (eq (str, (char *) endpoints [1], "tcp://u1"));
    cr_assert (eq (sz, zmesh__peers_route (peers, "nobody", endpoints, 8), 0));
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
    cr_assert (eq (sz, zmesh__peers_route (peers, "user", endpoints, 4), 1));
    cr_assert (eq (str, (char *) endpoints [0], "tcp://b:2"));
    zmesh__peers_destroy (&peers);
}
