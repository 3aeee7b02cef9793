/*  retry.c - backoff with jitter, what may be retried, the retry budget.

    Part of zmesh. MIT License.
*/
#include "zmesh_classes.h"

void
zmesh_retry_config_defaults (zmesh_retry_config_t *config)
{
    assert (config);
    config->retries = 3;
    config->attempt_timeout_ms = 1000;
    config->base_delay_ms = 100;
    config->max_delay_ms = 2000;
    config->full_jitter = true;
    config->budget = 20;
    config->budget_max = 10;
}

zmesh_err_t
zmesh_retry_config_validate (const zmesh_retry_config_t *config,
                             zmesh_detail_t *detail)
{
    assert (config);
    const char *problem = NULL;
    if (config->retries < 0 || config->retries > 100)
        problem = "retries must be 0 to 100";
    else if (config->attempt_timeout_ms < 0)
        problem = "attempt_timeout cannot be negative";
    else if (config->base_delay_ms < 0 || config->max_delay_ms < 0)
        problem = "delays cannot be negative";
    else if (config->max_delay_ms < config->base_delay_ms)
        problem = "max_delay cannot be below base_delay";
    else if (config->budget < 0 || config->budget > 100)
        problem = "budget must be 0 to 100 percent";
    else if (config->budget_max < 0 || config->budget_max > 1000000)
        problem = "budget_max must be 0 to 1000000";
    if (!problem)
        return ZMESH_OK;
    zmesh__detail (detail, "retry: %s", problem);
    return ZMESH_ERR_CONFIG;
}

int64_t
zmesh_retry_delay (const zmesh_retry_config_t *config, int retry,
                   zmesh_rand_t *rand)
{
    assert (config && retry >= 1);
    //  Doubling stops at the cap, long before it could overflow.
    int64_t backoff = config->base_delay_ms;
    for (int step = 1; step < retry && backoff < config->max_delay_ms; step++)
        backoff *= 2;
    if (backoff > config->max_delay_ms)
        backoff = config->max_delay_ms;
    if (!config->full_jitter || backoff == 0)
        return backoff;
    assert (rand);
    return (int64_t) zmesh_rand_below (rand, (uint64_t) backoff + 1);
}

bool
zmesh_retry_retryable (zmesh_err_t rc)
{
    switch (rc) {
        case ZMESH_ERR_TIMEOUT:
        case ZMESH_ERR_SOCKET:
        case ZMESH_ERR_UNAVAILABLE:
        case ZMESH_ERR_CIRCUIT_OPEN:
        case ZMESH_ERR_OVERLOADED:
        case ZMESH_ERR_BAD_REPLY:
            return true;
        default:
            return false;
    }
}

void
zmesh_retry_budget_init (zmesh_retry_budget_t *budget,
                         const zmesh_retry_config_t *config)
{
    assert (budget && config);
    budget->balance = (int64_t) config->budget_max * 100;
}

void
zmesh_retry_budget_earn (zmesh_retry_budget_t *budget,
                         const zmesh_retry_config_t *config)
{
    assert (budget && config);
    budget->balance += config->budget;
    if (budget->balance > (int64_t) config->budget_max * 100)
        budget->balance = (int64_t) config->budget_max * 100;
}

bool
zmesh_retry_budget_spend (zmesh_retry_budget_t *budget)
{
    assert (budget);
    if (budget->balance < 100)
        return false;
    budget->balance -= 100;
    return true;
}
