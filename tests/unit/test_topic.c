/*  test_topic.c - topic frames and subscription patterns.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

Test (topic, frame_is_type_and_nul)
{
    char frame [ZMESH_TOPIC_MAX];
    cr_assert (eq (sz, zmesh_topic_format ("user.created", false, frame), 13));
    cr_assert (memcmp (frame, "user.created\0", 13) == 0);
    cr_assert (eq (sz, zmesh_topic_format ("zmesh.heartbeat", true, frame), 17));
    cr_assert (memcmp (frame, "$zmesh.heartbeat\0", 17) == 0);
    cr_assert (eq (sz, zmesh_topic_format ("bad type", false, frame), 0));
    cr_assert (eq (sz, zmesh_topic_format ("", false, frame), 0));
}

Test (topic, exact_subscription_does_not_match_a_longer_type)
{
    char bytes [ZMESH_TOPIC_MAX], frame [ZMESH_TOPIC_MAX];
    int size = zmesh_topic_subscription ("user.created", bytes);
    cr_assert (eq (int, size, 13));
    //  ZeroMQ's rule: a subscription matches a frame it is a prefix of.
    size_t longer = zmesh_topic_format ("user.created_v2", false, frame);
    cr_assert (longer < (size_t) size || memcmp (frame, bytes, (size_t) size) != 0);
    size_t same = zmesh_topic_format ("user.created", false, frame);
    cr_assert (same >= (size_t) size && memcmp (frame, bytes, (size_t) size) == 0);
    cr_assert (zmesh_topic_matches ("user.created", "user.created"));
    cr_assert (not (zmesh_topic_matches ("user.created", "user.created_v2")));
}

Test (topic, prefix_subscription_matches_every_type_under_it)
{
    char bytes [ZMESH_TOPIC_MAX], frame [ZMESH_TOPIC_MAX];
    int size = zmesh_topic_subscription ("order.*", bytes);
    cr_assert (eq (int, size, 6));
    const char *types [] = {"order.created", "order.confirmed", NULL};
    for (int index = 0; types [index]; index++) {
        zmesh_topic_format (types [index], false, frame);
        cr_assert (memcmp (frame, bytes, (size_t) size) == 0);
        cr_assert (zmesh_topic_matches ("order.*", types [index]));
    }
    cr_assert (not (zmesh_topic_matches ("order.*", "orders.created")));
    cr_assert (eq (int, zmesh_topic_subscription ("*", bytes), 0));
    cr_assert (zmesh_topic_matches ("*", "anything.at.all"));
}

Test (topic, rejects_bad_patterns)
{
    char bytes [ZMESH_TOPIC_MAX];
    const char *bad [] = {"", "order. *", "or*der", "**", "$zmesh.*", NULL};
    for (int index = 0; bad [index]; index++)
        cr_assert (eq (int, zmesh_topic_subscription (bad [index], bytes), -1),
                   "accepted '%s'", bad [index]);
    cr_assert (eq (int, zmesh_topic_subscription (NULL, bytes), -1));
}

Test (topic, check_compares_frame_with_envelope)
{
    zmesh_envelope_t *event = zmesh_envelope_new (ZMESH_KIND_EVENT);
    zmesh_envelope_set_type (event, "order.created");
    bool control = true;
    cr_assert (eq (int, zmesh_topic_check ("order.created", 14, event, &control),
                   ZMESH_OK));
    cr_assert (not (control));
    cr_assert (eq (int, zmesh_topic_check ("$order.created", 15, event, &control),
                   ZMESH_OK));
    cr_assert (control);
    cr_assert (eq (int, zmesh_topic_check ("order.created", 13, event, &control),
                   ZMESH_ERR_BAD_TOPIC), "the NUL is required");
    cr_assert (eq (int, zmesh_topic_check ("order.create", 13, event, &control),
                   ZMESH_ERR_BAD_TOPIC));
    cr_assert (eq (int, zmesh_topic_check ("user.created", 13, event, &control),
                   ZMESH_ERR_BAD_TOPIC));
    cr_assert (eq (int, zmesh_topic_check ("", 0, event, &control),
                   ZMESH_ERR_BAD_TOPIC));
    zmesh_envelope_destroy (&event);
}
