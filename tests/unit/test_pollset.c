/*  test_pollset.c - the sockets a node waits on: each wait says which had
    input, removing one keeps the others' flags straight, a socket used
    between waits is asked again, one read to its end is not, and a wait
    cut short says so.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include <signal.h>
#include <pthread.h>
#include "zmesh.h"
#include "pollset.h"

#define SOCKETS 12

//  SOCKETS PAIRs bound to inproc, and their connected ends.
static zsock_t *s_ins [SOCKETS], *s_outs [SOCKETS];

static void
s_pairs (void)
{
    for (int index = 0; index < SOCKETS; index++) {
        char endpoint [64];
        snprintf (endpoint, sizeof endpoint, "@inproc://pollset-%d", index);
        s_ins [index] = zsock_new_pair (endpoint);
        s_outs [index] = zsock_new_pair (endpoint + 1);     //  Connects
        cr_assert (s_ins [index] && s_outs [index]);
    }
}

static void
s_unpair (void)
{
    for (int index = 0; index < SOCKETS; index++) {
        zsock_destroy (&s_ins [index]);
        zsock_destroy (&s_outs [index]);
    }
}

Test (pollset, flags_the_sockets_with_input_and_no_others,
      .init = s_pairs, .fini = s_unpair)
{
    zmesh_pollset_t *set = zmesh__pollset_new ();
    bool ready [SOCKETS];
    for (int index = 0; index < SOCKETS; index++) {
        ready [index] = true;
        cr_assert (zmesh__pollset_add (set, s_ins [index], &ready [index],
                                       index == 5)
                   == 0);
        cr_assert (!ready [index], "false until a wait says otherwise");
    }
    cr_assert (zmesh__pollset_size (set) == SOCKETS);
    cr_assert (zmesh__pollset_wait (set, 0) == 0);
    zstr_send (s_outs [3], "three");
    zstr_send (s_outs [10], "ten");
    cr_assert (zmesh__pollset_wait (set, 1000) == 2);
    for (int index = 0; index < SOCKETS; index++)
        cr_assert (ready [index] == (index == 3 || index == 10),
                   "socket %d", index);
    //  Level-triggered: what is still there is found again
    cr_assert (zmesh__pollset_wait (set, 0) == 2);
    char *text = zstr_recv (s_ins [3]);
    zstr_free (&text);
    cr_assert (zmesh__pollset_wait (set, 0) == 1);
    cr_assert (!ready [3] && ready [10]);
    //  Removing one moves the last into its place: each flag stays its own
    zmesh__pollset_remove (set, s_ins [0]);
    zmesh__pollset_remove (set, s_ins [0]);     //  Harmless twice
    cr_assert (zmesh__pollset_size (set) == SOCKETS - 1);
    ready [0] = false;
    zstr_send (s_outs [0], "gone");
    zstr_send (s_outs [SOCKETS - 1], "last");
    cr_assert (zmesh__pollset_wait (set, 1000) == 2);
    cr_assert (!ready [0], "a removed socket's flag is left alone");
    cr_assert (ready [10] && ready [SOCKETS - 1]);
    for (int index = 1; index < SOCKETS - 1; index++)
        cr_assert (ready [index] == (index == 10), "socket %d", index);
    zmesh__pollset_destroy (&set);
    zmesh__pollset_destroy (&set);
    cr_assert (set == NULL);
}

static void
s_on_alarm (int signal)
{
    (void) signal;
}

Test (pollset, says_when_a_signal_cuts_the_wait_short, .init = s_pairs,
      .fini = s_unpair)
{
    zmesh_pollset_t *set = zmesh__pollset_new ();
    bool ready;
    zmesh__pollset_add (set, s_ins [0], &ready, false);
    struct sigaction action = {.sa_handler = s_on_alarm};
    sigaction (SIGALRM, &action, NULL);
    alarm (1);
    int64_t start = zclock_mono ();
    cr_assert (zmesh__pollset_wait (set, 10000) == -1);
    cr_assert (zmq_errno () == EINTR);
    cr_assert (zclock_mono () - start < 5000);
    cr_assert (!ready);
    zmesh__pollset_destroy (&set);
}

//  Sending on a socket takes in its commands, and with them the signal on
//  its descriptor that input came: the set must ask it anyway.
Test (pollset, finds_input_on_a_socket_used_between_waits, .init = s_pairs,
      .fini = s_unpair)
{
    zmesh_pollset_t *set = zmesh__pollset_new ();
    bool ready [3];
    zmesh__pollset_add (set, s_ins [0], &ready [0], false);
    zmesh__pollset_add (set, s_ins [1], &ready [1], true);
    zmesh__pollset_add (set, s_ins [2], &ready [2], false);
    cr_assert (zmesh__pollset_wait (set, 0) == 0);
    for (int index = 0; index < 3; index++) {
        zstr_send (s_outs [index], "in");
        //  Until the signal has come, which libzmq's pipes take a moment
        //  to give: then the send takes it in
        zclock_sleep (20);
        zstr_send (s_ins [index], "out");
    }
    zmesh__pollset_touch (set, s_ins [0]);
    cr_assert (zmesh__pollset_wait (set, 0) == 2, "touched, or always asked");
    cr_assert (ready [0] && ready [1] && !ready [2]);
    //  A wait that times out asks all: the one left untouched is found
    int64_t start = zclock_mono ();
    char *text = zstr_recv (s_ins [0]);
    zstr_free (&text);
    text = zstr_recv (s_ins [1]);
    zstr_free (&text);
    cr_assert (zmesh__pollset_wait (set, 100) == 1);
    cr_assert (!ready [0] && !ready [1] && ready [2]);
    cr_assert (zclock_mono () - start >= 100);
    zmesh__pollset_destroy (&set);
}

//  A socket read until it had nothing is not asked at the next wait, even
//  one asked always: its descriptor signals whatever comes from then on.
//  Marked drained with input waiting and its signal taken in (a lie the
//  loop never tells), it is found only once touched, or, for one asked
//  always, at the wait after.
Test (pollset, does_not_ask_a_drained_socket_until_it_is_touched,
      .init = s_pairs, .fini = s_unpair)
{
    zmesh_pollset_t *set = zmesh__pollset_new ();
    bool ready [2];
    zmesh__pollset_add (set, s_ins [0], &ready [0], true);
    zmesh__pollset_add (set, s_ins [1], &ready [1], false);
    cr_assert (zmesh__pollset_wait (set, 0) == 0);
    for (int index = 0; index < 2; index++) {
        zstr_send (s_outs [index], "in");
        zclock_sleep (20);
        //  Takes in the signal, as a receive that found nothing would
        cr_assert (zsock_events (s_ins [index]) & ZMQ_POLLIN);
        zmesh__pollset_drained (set, s_ins [index]);
    }
    cr_assert (zmesh__pollset_wait (set, 0) == 0, "drained: not asked");
    cr_assert (!ready [0] && !ready [1]);
    cr_assert (zmesh__pollset_wait (set, 0) == 1, "always: asked again");
    cr_assert (ready [0] && !ready [1]);
    zmesh__pollset_touch (set, s_ins [1]);
    cr_assert (zmesh__pollset_wait (set, 0) == 2);
    //  Touched after it was drained: asked
    char *text = zstr_recv (s_ins [1]);
    zstr_free (&text);
    zstr_send (s_outs [1], "again");
    zclock_sleep (20);
    cr_assert (zsock_events (s_ins [1]) & ZMQ_POLLIN);
    zmesh__pollset_drained (set, s_ins [1]);
    zmesh__pollset_touch (set, s_ins [1]);
    cr_assert (zmesh__pollset_wait (set, 0) == 2);
    cr_assert (ready [0] && ready [1]);
    zmesh__pollset_destroy (&set);
}
