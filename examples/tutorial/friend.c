/*  friend.c - the tutorial's second service (docs/tutorial.md).

    Subscribes to greeter.*, calls greeter.greet with the name given, and
    prints the reply and the event the call caused; exits 0 once it has
    both, 1 if the call fails (after the breaker and retry policy) or no
    event comes within ten seconds.

        friend NAME --set peers/greeter/calls=tcp://127.0.0.1:5601 \
                    --set peers/greeter/events=tcp://127.0.0.1:5600

    Part of zmesh. MIT License.
*/
#include "zmesh.h"

static void
s_greeted (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node;
    json_t *body = NULL;
    zmesh_json_from_msgpack (zmesh_envelope_body (event),
                             zmesh_envelope_body_size (event), &body, NULL);
    char *text = json_dumps (body, JSON_COMPACT);
    char cid [ZMESH_UUID_STR_LEN + 1];
    printf ("event %s from %s (flow %s): %s\n", zmesh_envelope_type (event),
            zmesh_envelope_source (event),
            zmesh_uuid_unparse (zmesh_envelope_correlation (event), cid),
            text);
    fflush (stdout);
    free (text);
    json_decref (body);
    *(bool *) arg = true;
}

//  Has the node heard service's heartbeat lately?
static bool
s_alive (zmesh_node_t *node, const char *service)
{
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (node, index, &peer);
        if (streq (peer.service, service) && peer.state == ZMESH_PEER_ALIVE)
            return true;
    }
    return false;
}

int
main (int argc, char *argv [])
{
    if (argc < 2 || *argv [1] == '-') {
        fprintf (stderr, "usage: friend NAME [--config FILE] "
                 "[--set PATH=VALUE]...\n");
        return 2;
    }
    //  Logs (CZMQ's zsys) to stderr: stdout is for what we print
    zsys_set_logstream (stderr);
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "friend");
    zmesh_detail_t detail = {""};
    for (int index = 2; index + 1 < argc; index += 2)
        if ((streq (argv [index], "--config")
             ? zmesh_node_config_load (&config, argv [index + 1], &detail)
             : zmesh_node_config_set (&config, argv [index + 1], &detail))
            != ZMESH_OK) {
            fprintf (stderr, "friend: %s\n", detail.text);
            return 2;
        }
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!node) {
        fprintf (stderr, "friend: %s\n", detail.text);
        return 1;
    }
    bool heard = false;
    zmesh_node_subscribe (node, "greeter.*", s_greeted, &heard);
    //  A subscriber gets only what is published once it is connected:
    //  wait for the greeter's heartbeat, which comes the same way as its
    //  events (at most 3 s; then call anyway, and let the call decide).
    for (int tick = 0; tick < 30 && !s_alive (node, "greeter"); tick++)
        zmesh_node_poll (node, 100);

    json_t *request = json_pack ("{s:s}", "name", argv [1]);
    void *packed = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (request, &packed, &size, NULL);
    zmesh_envelope_t *reply = NULL;
    //  Through the breaker and retry policy (services/greeter/... settings)
    zmesh_err_t rc = zmesh_node_call (node, "greeter", "greeter.greet",
                                      packed, size, 0, &reply, &detail);
    if (rc == ZMESH_OK) {
        json_t *body = NULL;
        zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                 zmesh_envelope_body_size (reply), &body,
                                 NULL);
        printf ("reply: %s\n", json_string_value (json_object_get (
                                   body, "greeting")));
        fflush (stdout);
        json_decref (body);
    }
    else
        fprintf (stderr, "friend: greeter.greet: %s: %s\n",
                 zmesh_strerror (rc), detail.text);
    //  Wait for the event the call caused
    for (int tick = 0; rc == ZMESH_OK && !heard && tick < 100; tick++)
        zmesh_node_poll (node, 100);
    zmesh_envelope_destroy (&reply);
    free (packed);
    json_decref (request);
    zmesh_node_destroy (&node);
    return rc == ZMESH_OK && heard ? 0 : 1;
}
