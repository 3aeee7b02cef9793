/*  access.c - who may call what, and whose events of which types are
    taken: the identity of a request's link, or the service at the other
    end of an event's, against the node's access/ settings (proto/node.md,
    "Security").

    Part of zmesh. MIT License.
*/
#include "node_private.h"

//  The built-ins that change what a node does or show what went through
//  it: only for access/admins.
static bool
s_administrative (const char *method)
{
    return streq (method, "zmesh.publish") || streq (method, "zmesh.tap")
        || streq (method, "zmesh.trace")
        || strncmp (method, "zmesh.dlq.", 10) == 0;
}

//  Whether word is in list (words separated by spaces or commas), where
//  a word ending in ".*" stands for every name it is the prefix of.
static bool
s_listed (const char *list, const char *word, bool prefixes)
{
    size_t length = strlen (word);
    for (const char *at = list; *at;) {
        at += strspn (at, " ,");
        size_t span = strcspn (at, " ,");
        if (span == length && strncmp (at, word, length) == 0)
            return true;
        if (prefixes && span >= 2 && strncmp (at + span - 2, ".*", 2) == 0
            && length > span - 1 && strncmp (at, word, span - 1) == 0)
            return true;
        at += span;
    }
    return false;
}

bool
zmesh__access_may_call (zmesh_node_t *self, const char *identity,
                        const char *method)
{
    if (!identity)
        return false;           //  Its key has been taken out
    const zmesh_node_config_t *config = &self->config;
    if (s_administrative (method))
        return s_listed (config->access_admins, "*", false)
            || (*identity && s_listed (config->access_admins, identity,
                                       false));
    if (strncmp (method, "zmesh.", 6) == 0 || config->access_count == 0)
        return true;            //  zmesh.stats, zmesh.replay; or no rules
    for (size_t index = 0; index < config->access_count; index++)
        if (streq (config->access [index].identity, identity))
            return s_listed (config->access [index].methods, method, true);
    return false;
}

bool
zmesh__access_may_publish (zmesh_node_t *self, const char *service,
                           const char *type)
{
    const zmesh_node_config_t *config = &self->config;
    if (config->publish_count == 0)
        return true;
    for (size_t index = 0; index < config->publish_count; index++)
        if (streq (config->publish [index].identity, service))
            return s_listed (config->publish [index].methods, type, true);
    return false;
}
