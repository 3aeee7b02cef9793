/*  test_retry.c - backoff, jitter, what is retried, the retry budget.

    Part of zmesh. MIT License.
*/
#include <criterion/criterion.h>
#include "new_assert.h"
#include "zmesh.h"

Test (retry, backoff_doubles_up_to_the_cap_without_jitter)
{
    zmesh_retry_config_t config;
    zmesh_retry_config_defaults (&config);
    config.full_jitter = false;
    int64_t expected [] = {100, 200, 400, 800, 1600, 2000, 2000};
    for (int retry = 1; retry <= 7; retry++)
        cr_assert (eq (i64, zmesh_retry_delay (&config, retry, NULL),
                       expected [retry - 1]), "retry %d", retry);
    cr_assert (eq (i64, zmesh_retry_delay (&config, 1000000, NULL), 2000),
               "no overflow however many retries");
}

Test (retry, full_jitter_draws_from_zero_to_the_backoff)
{
    zmesh_retry_config_t config;
    zmesh_retry_config_defaults (&config);
    zmesh_rand_t *rand = zmesh_rand_seeded_new (21);
    for (int retry = 1; retry <= 6; retry++) {
        int64_t backoff = retry < 6 ? 100 << (retry - 1) : 2000;
        int64_t low = backoff, high = 0;
        for (int draw = 0; draw < 2000; draw++) {
            int64_t delay = zmesh_retry_delay (&config, retry, rand);
            cr_assert (ge (i64, delay, 0));
            cr_assert (le (i64, delay, backoff), "retry %d: %" PRId64, retry,
                       delay);
            low = delay < low ? delay : low;
            high = delay > high ? delay : high;
        }
        //  2000 draws cover the range nearly end to end.
        cr_assert (lt (i64, low, backoff / 10 + 1));
        cr_assert (gt (i64, high, backoff - backoff / 10 - 1));
    }
    zmesh_rand_destroy (&rand);
}

Test (retry, only_failures_about_the_target_are_retried)
{
    int retried [] = {ZMESH_ERR_TIMEOUT, ZMESH_ERR_SOCKET,
                      ZMESH_ERR_UNAVAILABLE, ZMESH_ERR_CIRCUIT_OPEN,
                      ZMESH_ERR_OVERLOADED, ZMESH_ERR_BAD_REPLY};
    int final [] = {ZMESH_OK, ZMESH_ERR_APP_ERROR, ZMESH_ERR_UNKNOWN_METHOD,
                    ZMESH_ERR_BAD_REQUEST, ZMESH_ERR_REMOTE_INTERNAL,
                    ZMESH_ERR_NO_ROUTE, ZMESH_ERR_INTERRUPTED,
                    ZMESH_ERR_ENVELOPE_BAD_NAME};
    for (size_t index = 0; index < sizeof retried / sizeof retried [0]; index++)
        cr_assert (zmesh_retry_retryable (retried [index]), "%s",
                   zmesh_errname (retried [index]));
    for (size_t index = 0; index < sizeof final / sizeof final [0]; index++)
        cr_assert (not (zmesh_retry_retryable (final [index])), "%s",
                   zmesh_errname (final [index]));
}

Test (retry, budget_allows_a_share_of_calls)
{
    zmesh_retry_config_t config;
    zmesh_retry_config_defaults (&config);
    config.budget = 20;
    config.budget_max = 3;
    zmesh_retry_budget_t budget;
    zmesh_retry_budget_init (&budget, &config);
    //  It starts full: three retries saved up.
    for (int index = 0; index < 3; index++)
        cr_assert (zmesh_retry_budget_spend (&budget));
    cr_assert (not (zmesh_retry_budget_spend (&budget)));
    //  Every call earns a fifth of a retry.
    for (int call = 0; call < 4; call++)
        zmesh_retry_budget_earn (&budget, &config);
    cr_assert (not (zmesh_retry_budget_spend (&budget)), "4 calls: 0.8");
    zmesh_retry_budget_earn (&budget, &config);
    cr_assert (zmesh_retry_budget_spend (&budget), "5 calls: one retry");
    //  Never more than budget_max saved up.
    for (int call = 0; call < 1000; call++)
        zmesh_retry_budget_earn (&budget, &config);
    for (int index = 0; index < 3; index++)
        cr_assert (zmesh_retry_budget_spend (&budget));
    cr_assert (not (zmesh_retry_budget_spend (&budget)));
}

Test (retry, config_ranges_are_checked)
{
    zmesh_retry_config_t config;
    zmesh_retry_config_defaults (&config);
    cr_assert (eq (int, zmesh_retry_config_validate (&config, NULL), 0));
    config.max_delay_ms = 50;
    zmesh_detail_t detail;
    cr_assert (eq (int, zmesh_retry_config_validate (&config, &detail),
                   ZMESH_ERR_CONFIG));
    cr_assert (strstr (detail.text, "max_delay") != NULL);
}
