/*  test_config.c - node settings: defaults, files, overrides, validation.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

static char path [64];

static void
s_write (const char *text)
{
    snprintf (path, sizeof path, "/tmp/zmesh-config-%d.zpl", getpid ());
    FILE *file = fopen (path, "w");
    cr_assert (file != NULL);
    fputs (text, file);
    fclose (file);
}

static void
s_cleanup (void)
{
    if (*path)
        unlink (path);
}

TestSuite (config, .fini = s_cleanup);

Test (config, defaults_are_a_valid_config_once_named)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, NULL);
    zmesh_detail_t detail;
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "node/name") != NULL);
    zmesh_node_config_defaults (&config, "order");
    cr_assert (eq (int, zmesh_node_config_validate (&config, NULL), ZMESH_OK));
    cr_assert (eq (str, config.events, "tcp://127.0.0.1:*"));
    cr_assert (eq (int, config.heartbeat_ms, 1000));
    cr_assert (eq (int, config.call_timeout_ms, 5000));
    cr_assert (eq (int, config.hwm, 10000));
}

Test (config, file_then_command_line)
{
    s_write ("#   order node\n"
             "node\n"
             "    name = order-1\n"
             "    service = order\n"
             "    events = tcp://127.0.0.1:5601\n"
             "    verbose = true\n"
             "timing\n"
             "    heartbeat = 250\n"
             "gossip\n"
             "    seed = tcp://127.0.0.1:5600\n"
             "    seed = tcp://127.0.0.1:5700\n"
             "peers\n"
             "    user\n"
             "        events = tcp://127.0.0.1:5611\n"
             "        calls = tcp://127.0.0.1:5612\n"
             "    payment-2\n"
             "        service = payment\n"
             "        calls = ipc:///tmp/payment-2\n");
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, NULL);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_load (&config, path, &detail),
                   ZMESH_OK), "%s", detail.text);
    cr_assert (eq (str, config.name, "order-1"));
    cr_assert (eq (str, config.group, "order"));
    cr_assert (eq (str, config.events, "tcp://127.0.0.1:5601"));
    cr_assert (config.verbose);
    cr_assert (eq (int, config.heartbeat_ms, 250));
    cr_assert (eq (sz, config.seed_count, 2));
    cr_assert (eq (str, config.seeds [1], "tcp://127.0.0.1:5700"));
    cr_assert (eq (sz, config.peer_count, 2));
    cr_assert (eq (str, config.peers [0].service, "user"));
    cr_assert (eq (str, config.peers [0].calls, "tcp://127.0.0.1:5612"));
    cr_assert (eq (str, config.peers [1].label, "payment-2"));
    cr_assert (eq (str, config.peers [1].service, "payment"));
    cr_assert (eq (str, config.peers [1].events, ""));

    //  The command line wins over the file.
    cr_assert (eq (int, zmesh_node_config_set (&config, "timing/heartbeat=100",
                                               NULL), ZMESH_OK));
    cr_assert (eq (int, zmesh_node_config_set (
                            &config, "peers/user/calls=tcp://127.0.0.1:6000",
                            NULL), ZMESH_OK));
    cr_assert (eq (int, config.heartbeat_ms, 100));
    cr_assert (eq (str, config.peers [0].calls, "tcp://127.0.0.1:6000"));
    cr_assert (eq (sz, config.peer_count, 2), "same label, same peer");
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail), ZMESH_OK),
               "%s", detail.text);
}

static void
s_assert_refused (const char *setting, const char *mention)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order");
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_set (&config, setting, &detail),
                   ZMESH_ERR_CONFIG), "accepted %s", setting);
    cr_assert (strstr (detail.text, mention) != NULL, "'%s' lacks '%s'",
               detail.text, mention);
}

Test (config, refuses_bad_settings_and_says_which)
{
    s_assert_refused ("timing/heartbeat=fast", "timing/heartbeat");
    s_assert_refused ("timing/heartbeat=5", "from 10 to");
    s_assert_refused ("timing/heartbeat=99999999999999999999", "whole number");
    s_assert_refused ("sockets/hwm=", "sockets/hwm");
    s_assert_refused ("node/events=http://127.0.0.1:80", "node/events");
    s_assert_refused ("node/name=order service", "node/name");
    s_assert_refused ("node/service=order/2", "node/service");
    s_assert_refused ("node/verbose=yes", "node/verbose");
    s_assert_refused ("node/advertise=10:20", "node/advertise");
    s_assert_refused ("timing/hearbeat=100", "unknown key");
    s_assert_refused ("peers/user/port=1", "unknown key");
    s_assert_refused ("peers/user=tcp://127.0.0.1:1", "peers/<label>");
    s_assert_refused ("peers/bad label/calls=tcp://127.0.0.1:1", "label");
    s_assert_refused ("no equals sign", "path=value");
    s_assert_refused ("=value", "path=value");
}

Test (config, refuses_bad_files)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, NULL);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_load (&config, "/nonexistent.zpl",
                                                &detail), ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "no such file") != NULL);
    s_write ("node\n    name = order\n    colour = blue\n");
    cr_assert (eq (int, zmesh_node_config_load (&config, path, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "node/colour") != NULL, "%s", detail.text);
    cr_assert (strstr (detail.text, path) != NULL, "names the file");
}

Test (config, a_bad_name_or_seed_leaves_nothing_behind)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order service");
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "node/name") != NULL);
    zmesh_node_config_defaults (&config, "order");
    cr_assert (eq (int, zmesh_node_config_set (&config, "gossip/seed=bogus",
                                               NULL), ZMESH_ERR_CONFIG));
    cr_assert (eq (sz, config.seed_count, 0));
}

Test (config, validation_checks_timing_and_peers)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order");
    zmesh_node_config_set (&config, "timing/quiet=500", NULL);
    zmesh_node_config_set (&config, "timing/heartbeat=600", NULL);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "heartbeat") != NULL);

    zmesh_node_config_defaults (&config, "order");
    zmesh_node_config_set (&config, "peers/user/service=user", NULL);
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "peers/user") != NULL);
}

Test (config, caps_peers_and_seeds)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order");
    char setting [128];
    for (int index = 0; index < ZMESH_CONFIG_PEERS_MAX; index++) {
        snprintf (setting, sizeof setting, "peers/p%d/calls=tcp://127.0.0.1:%d",
                  index, 7000 + index);
        cr_assert (eq (int, zmesh_node_config_set (&config, setting, NULL), 0));
    }
    s_assert_refused ("gossip/seed=nonsense", "gossip/seed");
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_set (
                            &config, "peers/one-more/calls=tcp://127.0.0.1:1",
                            &detail), ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "more than") != NULL);
}

Test (config, call_policy_for_every_service_and_for_one)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order");
    cr_assert (eq (int, config.policy.breaker.failure_rate, 50));
    cr_assert (eq (int, config.policy.breaker.reset_timeout_ms, 1000));
    cr_assert (eq (int, config.policy.breaker.reset_max_ms, 30000));
    cr_assert (eq (int, config.policy.retry.retries, 3));
    const char *settings [] = {
        "breaker/min_calls=4", "breaker/window=time", "retry/jitter=none",
        "services/payment/breaker/failure_rate=25",
        "services/payment/breaker/mode=forced-open",
        "services/payment/retry/retries=0", "breaker/reset_timeout=1000", NULL};
    zmesh_detail_t detail = {""};
    for (int index = 0; settings [index]; index++)
        cr_assert (eq (int, zmesh_node_config_set (&config, settings [index],
                                                   &detail), 0),
                   "%s: %s", settings [index], detail.text);
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail), 0),
               "%s", detail.text);
    zmesh_call_policy_t user, payment;
    zmesh_node_config_policy (&config, "user", &user);
    zmesh_node_config_policy (&config, "payment", &payment);
    cr_assert (eq (int, user.breaker.min_calls, 4));
    cr_assert (user.breaker.time_window);
    cr_assert (not (user.retry.full_jitter));
    cr_assert (eq (int, user.breaker.failure_rate, 50));
    cr_assert (eq (int, payment.breaker.failure_rate, 25));
    cr_assert (eq (int, payment.breaker.mode, ZMESH_BREAKER_FORCED_OPEN));
    cr_assert (eq (int, payment.retry.retries, 0));
    cr_assert (eq (int, payment.breaker.min_calls, 4), "node-wide values");
    cr_assert (eq (int, payment.breaker.reset_timeout_ms, 1000),
               "even when set after the override");
}

Test (config, refuses_bad_policy_settings)
{
    s_assert_refused ("breaker/failure_rate=0", "breaker/failure_rate");
    s_assert_refused ("breaker/window=sliding", "count or time");
    s_assert_refused ("breaker/mode=off", "forced-open");
    s_assert_refused ("retry/jitter=half", "full or none");
    s_assert_refused ("services/payment/breaker/colour=red", "unknown key");
    s_assert_refused ("services/pay ment/retry/retries=1", "service name");
    s_assert_refused ("services/payment/retry/retries=-1", "retry/retries");

    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "order");
    zmesh_node_config_set (&config, "services/user/breaker/min_calls=50", NULL);
    zmesh_detail_t detail = {""};
    cr_assert (eq (int, zmesh_node_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG), "min_calls above the window size");
    cr_assert (strstr (detail.text, "services/user") != NULL, "%s",
               detail.text);
}

Test (config, service_settings_are_the_programs_own)
{
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "payment");
    cr_assert (eq (int, zmesh_node_config_set (&config,
                                               "service/failure_rate=20", NULL),
                   0));
    cr_assert (eq (int, zmesh_node_config_set (&config,
                                               "service/failure_rate=30", NULL),
                   0));
    cr_assert (eq (str, (char *) zmesh_node_config_service (&config,
                                                            "failure_rate",
                                                            "0"), "30"));
    cr_assert (eq (str, (char *) zmesh_node_config_service (&config, "latency",
                                                            "5"), "5"));
    cr_assert (eq (sz, config.service_count, 1));
    s_assert_refused ("service/=1", "too long");
}
