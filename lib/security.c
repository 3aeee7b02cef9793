/*  security.c - CURVE on every link of a node.

    Part of zmesh. MIT License.
*/
#include <pthread.h>
#include <sys/stat.h>
#include "zmesh_classes.h"
#include "security.h"

#include <dirent.h>

#define ZAP_DOMAIN "zmesh"
#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93       //  Draft in libzmq 4.3
#endif

struct _zmesh_security_t {
    zcert_t *cert;              //  Our key pair, or NULL: security off
    zhashx_t *keys;             //  Certificate name -> public key (Z85)
    char dir [ZMESH_ENDPOINT_MAX + 1];  //  security/keys
    bool has_zap;               //  We hold a reference on the ZAP handler
};

//  One ZAP handler per process (it binds the context's ZAP endpoint),
//  shared by the process's secure nodes, which must agree on the keys:
//  s_allowed maps each allowed public key (Z85) to its certificate's name,
//  which ZAP gives the connection as its User-Id. Under s_lock.
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_zap;
static size_t s_zap_users;
static char s_zap_keys [ZMESH_ENDPOINT_MAX + 1];
static zhashx_t *s_allowed;

static zhashx_t *
s_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (table) {
        zhashx_set_duplicator (table, (zhashx_duplicator_fn *) strdup);
        zhashx_set_destructor (table, (zhashx_destructor_fn *) zstr_free);
    }
    return table;
}

//  The ZAP reply to the request in msg (taken): 200 with the key's name as
//  User-Id for an allowed CURVE key in our domain, 400 for anything else.
static void
s_zap_answer (zsock_t *handler, zmsg_t **msg_p)
{
    zmsg_t *msg = *msg_p;
    char *version = zmsg_popstr (msg), *request_id = zmsg_popstr (msg);
    char *domain = zmsg_popstr (msg), *address = zmsg_popstr (msg);
    char *routing = zmsg_popstr (msg), *mechanism = zmsg_popstr (msg);
    zframe_t *key = zmsg_pop (msg);
    char *name = NULL;
    if (version && streq (version, "1.0") && domain && streq (domain, ZAP_DOMAIN)
        && mechanism && streq (mechanism, "CURVE") && key
        && zframe_size (key) == 32) {
        char text [41];
        zmq_z85_encode (text, zframe_data (key), 32);
        pthread_mutex_lock (&s_lock);
        const char *known = s_allowed ? zhashx_lookup (s_allowed, text) : NULL;
        name = known ? strdup (known) : NULL;
        pthread_mutex_unlock (&s_lock);
    }
    zsock_send (handler, "ssssss", "1.0", request_id ? request_id : "",
                name ? "200" : "400", name ? "OK" : "key not allowed",
                name ? name : "", "");
    zstr_free (&version);
    zstr_free (&request_id);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&routing);
    zstr_free (&mechanism);
    zframe_destroy (&key);
    zstr_free (&name);
    zmsg_destroy (msg_p);
}

//  The ZAP handler's thread: it binds before the first secure node does.
static void
s_zap_actor (zsock_t *pipe, void *arg)
{
    (void) arg;
    zsock_t *handler = zsock_new_rep (ZAP_ENDPOINT);
    zsock_signal (pipe, handler ? 0 : 1);
    if (!handler)
        return;
    zpoller_t *poller = zpoller_new (pipe, handler, NULL);
    while (poller) {
        zsock_t *ready = zpoller_wait (poller, -1);
        if (ready == handler) {
            zmsg_t *msg = zmsg_recv (handler);
            if (msg)
                s_zap_answer (handler, &msg);
        }
        else
            break;              //  $TERM, or interrupted
    }
    zpoller_destroy (&poller);
    zsock_destroy (&handler);
}

//  Allow exactly the keys of names (name -> key), replacing what was.
static zmesh_err_t
s_allow (zhashx_t *names)
{
    zhashx_t *allowed = s_table_new ();
    if (!allowed)
        return ZMESH_ERR_NOMEM;
    for (const char *key = zhashx_first (names); key;
         key = zhashx_next (names))
        zhashx_insert (allowed, key, (void *) zhashx_cursor (names));
    zhashx_destroy (&s_allowed);
    s_allowed = allowed;
    return ZMESH_OK;
}

static zmesh_err_t
s_zap_take (const char *dir, zhashx_t *names, zmesh_detail_t *detail)
{
    zmesh_err_t rc = ZMESH_OK;
    pthread_mutex_lock (&s_lock);
    if (s_zap && !streq (s_zap_keys, dir)) {
        zmesh__detail (detail, "security/keys: %s, but another node of this "
                       "process allows %s", dir, s_zap_keys);
        rc = ZMESH_ERR_CONFIG;
    }
    else if (!s_zap) {
        rc = s_allow (names);
        if (rc == ZMESH_OK && !(s_zap = zactor_new (s_zap_actor, NULL))) {
            zmesh__detail (detail, "cannot start the ZAP handler");
            rc = ZMESH_ERR_SOCKET;
        }
        if (rc == ZMESH_OK)
            snprintf (s_zap_keys, sizeof s_zap_keys, "%s", dir);
    }
    if (rc == ZMESH_OK)
        s_zap_users++;
    pthread_mutex_unlock (&s_lock);
    return rc;
}

static void
s_zap_release (void)
{
    pthread_mutex_lock (&s_lock);
    if (s_zap_users && --s_zap_users == 0) {
        zactor_destroy (&s_zap);
        zhashx_destroy (&s_allowed);
    }
    pthread_mutex_unlock (&s_lock);
}

//  Every certificate in dir, by its "name", into keys: the one loader of
//  the keys both ZAP and pinning use. Secret certificates are passed
//  over; anything else that is not a named certificate, a subdirectory,
//  two certificates of one name and one key under two names are errors,
//  for what an operator put there must mean one thing.
static zmesh_err_t
s_load_keys (zhashx_t *keys, const char *dir, zmesh_detail_t *detail)
{
    DIR *listing = opendir (dir);
    if (!listing) {
        zmesh__detail (detail, "security/keys: cannot read %s: %s", dir,
                       strerror (errno));
        return ZMESH_ERR_CONFIG;
    }
    zhashx_t *seen = s_table_new ();          //  Key -> name
    zmesh_err_t rc = seen ? ZMESH_OK : ZMESH_ERR_NOMEM;
    struct dirent *entry;
    while (rc == ZMESH_OK && (entry = readdir (listing))) {
        const char *file = entry->d_name;
        size_t length = strlen (file);
        if (streq (file, ".") || streq (file, "..")
            || (length >= 7 && streq (file + length - 7, "_secret")))
            continue;
        char path [ZMESH_ENDPOINT_MAX + 300];
        snprintf (path, sizeof path, "%s/%s", dir, file);
        struct stat info;
        if (lstat (path, &info) != 0 || !S_ISREG (info.st_mode)) {
            zmesh__detail (detail, "security/keys: %s is not a file (keys "
                           "are read from %s alone: move revoked keys out "
                           "of it)", path, dir);
            rc = ZMESH_ERR_CONFIG;
            break;
        }
        zcert_t *cert = zcert_load (path);
        const char *name = cert ? zcert_meta (cert, "name") : NULL;
        const char *key = cert ? zcert_public_txt (cert) : NULL;
        const char *other = key ? zhashx_lookup (seen, key) : NULL;
        if (!name) {
            zmesh__detail (detail, "security/keys: %s is not a certificate "
                           "with a name (zmesh keygen makes them)", path);
            rc = ZMESH_ERR_CONFIG;
        }
        else if (zhashx_lookup (keys, name)) {
            zmesh__detail (detail, "security/keys: %s is a second "
                           "certificate named %s", path, name);
            rc = ZMESH_ERR_CONFIG;
        }
        else if (other) {
            zmesh__detail (detail, "security/keys: %s has the key of %s "
                           "again", path, other);
            rc = ZMESH_ERR_CONFIG;
        }
        else if (zhashx_insert (keys, name, (void *) key) != 0
                 || zhashx_insert (seen, key, (void *) name) != 0)
            rc = ZMESH_ERR_NOMEM;
        zcert_destroy (&cert);
    }
    closedir (listing);
    zhashx_destroy (&seen);
    return rc;
}

//  The key pair and the allowed keys of config, without the ZAP handler:
//  all a client needs. Security off: an object without a certificate.
static zmesh_security_t *
s_load (const zmesh_node_config_t *config, zmesh_detail_t *detail)
{
    zmesh_security_t *self = zmesh__calloc (1, sizeof *self);
    if (!self) {
        zmesh__detail (detail, "out of memory");
        return NULL;
    }
    if (!*config->security_cert)
        return self;
    zmesh_err_t rc = ZMESH_OK;
    if (!*config->security_keys) {
        zmesh__detail (detail, "security/cert wants security/keys: the "
                       "directory of the public keys that may connect");
        rc = ZMESH_ERR_CONFIG;
    }
    char secret [ZMESH_ENDPOINT_MAX + 16];
    snprintf (secret, sizeof secret, "%s_secret", config->security_cert);
    if (rc == ZMESH_OK && !(self->cert = zcert_load (secret))) {
        zmesh__detail (detail, "security/cert: cannot read %s (zmesh keygen "
                       "writes it)", secret);
        rc = ZMESH_ERR_CONFIG;
    }
    if (rc == ZMESH_OK) {
        snprintf (self->dir, sizeof self->dir, "%s", config->security_keys);
        self->keys = s_table_new ();
        rc = self->keys ? s_load_keys (self->keys, self->dir, detail)
                        : ZMESH_ERR_NOMEM;
    }
    if (rc != ZMESH_OK)
        zmesh__security_destroy (&self);
    return self;
}

zmesh_security_t *
zmesh__security_new (const zmesh_node_config_t *config,
                     zmesh_detail_t *detail)
{
    assert (config);
    if (*config->security_cert
        && (*config->gossip_bind || config->seed_count)) {
        zmesh__detail (detail, "security/cert: gossip is not secured yet; "
                       "with security on, name the peers in the config");
        return NULL;
    }
    zmesh_security_t *self = s_load (config, detail);
    if (self && self->cert) {
        //  The ZAP handler, before the node binds anything
        self->has_zap = s_zap_take (self->dir, self->keys, detail)
                        == ZMESH_OK;
        if (!self->has_zap)
            zmesh__security_destroy (&self);
    }
    return self;
}

void
zmesh__security_destroy (zmesh_security_t **self_p)
{
    assert (self_p);
    zmesh_security_t *self = *self_p;
    if (!self)
        return;
    if (self->has_zap)
        s_zap_release ();
    zcert_destroy (&self->cert);
    zhashx_destroy (&self->keys);
    zmesh__free (self);
    *self_p = NULL;
}

bool
zmesh__security_on (zmesh_security_t *self)
{
    assert (self);
    return self->cert != NULL;
}

zmesh_err_t
zmesh__security_reload (zmesh_security_t *self, bool *removed,
                        zmesh_detail_t *detail)
{
    assert (self && removed);
    *removed = false;
    if (!self->cert)
        return ZMESH_OK;
    zhashx_t *keys = s_table_new ();
    zmesh_err_t rc = keys ? s_load_keys (keys, self->dir, detail)
                          : ZMESH_ERR_NOMEM;
    if (rc == ZMESH_OK) {
        pthread_mutex_lock (&s_lock);
        rc = s_allow (keys);
        pthread_mutex_unlock (&s_lock);
    }
    if (rc == ZMESH_OK) {
        //  Taken out: a name gone, or its key changed
        for (const char *key = zhashx_first (self->keys); key && !*removed;
             key = zhashx_next (self->keys)) {
            const char *now = zhashx_lookup (keys, zhashx_cursor (self->keys));
            *removed = !now || !streq (now, key);
        }
        zhashx_destroy (&self->keys);
        self->keys = keys;
    }
    else
        zhashx_destroy (&keys);
    return rc;
}

const char *
zmesh__security_identity (zmesh_security_t *self, zmq_msg_t *msg)
{
    assert (self && msg);
    if (!self->cert)
        return "";
    const char *name = zmq_msg_gets (msg, "User-Id");
    //  A key taken out since its link was made speaks for nobody now
    return name && *name && zhashx_lookup (self->keys, name) ? name : NULL;
}

zmesh_err_t
zmesh__security_server (zmesh_security_t *self, zsock_t *socket,
                        zmesh_detail_t *detail)
{
    assert (self && socket);
    if (!self->cert)
        return ZMESH_OK;
    zsock_set_zap_domain (socket, ZAP_DOMAIN);
    //  Where the option exists, no connection skips the ZAP handler
    int enforce = 1;
    zmq_setsockopt (zsock_resolve (socket), ZMQ_ZAP_ENFORCE_DOMAIN, &enforce,
                    sizeof enforce);
    zcert_apply (self->cert, socket);
    zsock_set_curve_server (socket, 1);
    (void) detail;
    return ZMESH_OK;
}

zmesh_err_t
zmesh__security_client (zmesh_security_t *self, zsock_t *socket,
                        const char *name, const char *service,
                        zmesh_detail_t *detail)
{
    assert (self && socket && name);
    if (!self->cert)
        return ZMESH_OK;
    const char *key = zhashx_lookup (self->keys, name);
    if (!key && service)
        key = zhashx_lookup (self->keys, service);
    if (!key) {
        zmesh__detail (detail, "security/keys has no key for %s", name);
        return ZMESH_ERR_CONFIG;
    }
    zcert_apply (self->cert, socket);
    zsock_set_curve_serverkey (socket, key);
    return ZMESH_OK;
}

//  ---------------------------------------------------------------------
//  For tools: zmesh/security.h

zmesh_err_t
zmesh_security_keygen (const char *dir, const char *name,
                       zmesh_detail_t *detail)
{
    assert (dir && name);
    if (!zmesh_envelope_name_valid (name, ZMESH_ENVELOPE_SOURCE_MAX)) {
        zmesh__detail (detail, "'%s' is not a node name", name);
        return ZMESH_ERR_INVALID;
    }
    char path [ZMESH_ENDPOINT_MAX + 80], secret [ZMESH_ENDPOINT_MAX + 96];
    snprintf (path, sizeof path, "%.200s/%s.cert", dir, name);
    snprintf (secret, sizeof secret, "%s_secret", path);
    if (zsys_file_exists (path) || zsys_file_exists (secret)) {
        zmesh__detail (detail, "%s exists: not overwriting a key", path);
        return ZMESH_ERR_INVALID;
    }
    zcert_t *cert = zcert_new ();
    if (!cert) {
        zmesh__detail (detail, "cannot make a key pair");
        return ZMESH_ERR_NOMEM;
    }
    zcert_set_meta (cert, "name", "%s", name);
    zcert_set_meta (cert, "made-by", "zmesh keygen");
    //  The secret file is the node's alone (CZMQ writes it 0600 itself
    //  where umask allows; make sure)
    mode_t was = umask (077);
    int rc = zsys_dir_create ("%s", dir) == 0 ? zcert_save (cert, path) : -1;
    umask (was);
    zcert_destroy (&cert);
    if (rc != 0) {
        zmesh__detail (detail, "cannot write %s", path);
        return ZMESH_ERR_INVALID;
    }
    chmod (path, 0644);         //  The public part is for others to read
    return ZMESH_OK;
}

zmesh_err_t
zmesh_security_client (const zmesh_node_config_t *config, zsock_t *socket,
                       const char *name, zmesh_detail_t *detail)
{
    assert (config && socket && name);
    zmesh_security_t *self = s_load (config, detail);
    if (!self)
        return ZMESH_ERR_CONFIG;
    zmesh_err_t rc = zmesh__security_client (self, socket, name, NULL, detail);
    zmesh__security_destroy (&self);
    return rc;
}
