/*  hello_service.c - a service of your own, built outside the zmesh tree
    against the installed library (with find_package or pkg-config).

    A "hello" node serves hello.greet, replying {"greeting": "hello, NAME"}
    and publishing hello.greeted; in the same process, a "friend" node
    subscribes to hello.* and calls it. Prints "ok" once the friend has
    the reply and the event, and exits 0.

    Part of zmesh. MIT License.
*/
#include <pthread.h>
#include <zmesh.h>

static void
s_greet (zmesh_node_t *node, const zmesh_envelope_t *request,
         zmesh_envelope_t *reply, void *arg)
{
    (void) arg;
    json_t *body = NULL;
    zmesh_json_from_msgpack (zmesh_envelope_body (request),
                             zmesh_envelope_body_size (request), &body, NULL);
    const char *name = json_string_value (json_object_get (body, "name"));
    char text [128];
    snprintf (text, sizeof text, "hello, %s", name ? name : "stranger");
    json_t *answer = json_pack ("{s:s}", "greeting", text);
    void *packed = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (answer, &packed, &size, NULL);
    zmesh_envelope_set_body (reply, packed, size);
    zmesh_node_publish (node, "hello.greeted", packed, size);
    free (packed);
    json_decref (answer);
    json_decref (body);
}

static void *
s_serve (void *node)
{
    zmesh_node_run (node);
    return NULL;
}

static void
s_heard (zmesh_node_t *node, const zmesh_envelope_t *event, void *arg)
{
    (void) node, (void) event;
    *(bool *) arg = true;
}

int
main (void)
{
    zmesh_node_config_t config;
    zmesh_detail_t detail = {""};
    zmesh_node_config_defaults (&config, "hello");
    zmesh_node_t *hello = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!hello || zmesh_node_serve (hello, "hello.greet", s_greet, NULL)) {
        fprintf (stderr, "hello: %s\n", detail.text);
        return 1;
    }
    //  The friend knows where hello is
    char setting [300];
    zmesh_node_config_defaults (&config, "friend");
    snprintf (setting, sizeof setting, "peers/hello/calls=%s",
              zmesh_node_calls_endpoint (hello));
    zmesh_node_config_set (&config, setting, NULL);
    snprintf (setting, sizeof setting, "peers/hello/events=%s",
              zmesh_node_events_endpoint (hello));
    zmesh_node_config_set (&config, setting, NULL);
    zmesh_node_t *friend = zmesh_node_new (&config, NULL, NULL, &detail);
    if (!friend) {
        fprintf (stderr, "friend: %s\n", detail.text);
        return 1;
    }
    bool heard = false;
    zmesh_node_subscribe (friend, "hello.*", s_heard, &heard);
    pthread_t server;
    pthread_create (&server, NULL, s_serve, hello);

    json_t *request = json_pack ("{s:s}", "name", "Ada");
    void *packed = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (request, &packed, &size, NULL);
    json_decref (request);
    bool answered = false;
    //  The first events may go before the subscription is through: call
    //  until one is heard, for at most ten seconds
    for (int attempt = 0; attempt < 100 && !(answered && heard); attempt++) {
        zmesh_envelope_t *reply = NULL;
        if (zmesh_node_call (friend, "hello", "hello.greet", packed, size,
                             2000, &reply, &detail) == ZMESH_OK) {
            json_t *body = NULL;
            zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                     zmesh_envelope_body_size (reply), &body,
                                     NULL);
            answered = streq (json_string_value (json_object_get (
                                  body, "greeting")) ?: "", "hello, Ada");
            json_decref (body);
        }
        zmesh_envelope_destroy (&reply);
        zmesh_node_poll (friend, 100);
    }
    free (packed);
    zmesh_node_stop (hello);
    pthread_join (server, NULL);
    zmesh_node_destroy (&friend);
    zmesh_node_destroy (&hello);
    printf ("%s\n", answered && heard ? "ok" : "failed");
    return answered && heard ? 0 : 1;
}
