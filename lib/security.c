/*  security.c - CURVE on every link of a node.

    Part of zmesh. MIT License.
*/
#include <pthread.h>
#include <sys/stat.h>
#include "zmesh_classes.h"
#include "security.h"

#define ZAP_DOMAIN "zmesh"
#ifndef ZMQ_ZAP_ENFORCE_DOMAIN
#define ZMQ_ZAP_ENFORCE_DOMAIN 93       //  Draft in libzmq 4.3
#endif

struct _zmesh_security_t {
    zcert_t *cert;              //  Our key pair, or NULL: security off
    zhashx_t *keys;             //  Certificate name -> public key (Z85)
    bool has_zauth;             //  We hold a reference on the ZAP handler
};

//  One ZAP handler per process (it binds the context's ZAP endpoint),
//  shared by the process's secure nodes, which must agree on the keys.
static pthread_mutex_t s_lock = PTHREAD_MUTEX_INITIALIZER;
static zactor_t *s_zauth;
static size_t s_zauth_users;
static char s_zauth_keys [ZMESH_ENDPOINT_MAX + 1];

static zmesh_err_t
s_zauth_take (const char *keys, zmesh_detail_t *detail)
{
    zmesh_err_t rc = ZMESH_OK;
    pthread_mutex_lock (&s_lock);
    if (s_zauth && !streq (s_zauth_keys, keys)) {
        zmesh__detail (detail, "security/keys: %s, but another node of this "
                       "process allows %s", keys, s_zauth_keys);
        rc = ZMESH_ERR_CONFIG;
    }
    else if (!s_zauth) {
        s_zauth = zactor_new (zauth, NULL);
        if (s_zauth) {
            zstr_sendx (s_zauth, "CURVE", keys, NULL);
            zsock_wait (s_zauth);
            snprintf (s_zauth_keys, sizeof s_zauth_keys, "%s", keys);
        }
        else {
            zmesh__detail (detail, "cannot start the ZAP handler");
            rc = ZMESH_ERR_SOCKET;
        }
    }
    if (rc == ZMESH_OK)
        s_zauth_users++;
    pthread_mutex_unlock (&s_lock);
    return rc;
}

static void
s_zauth_release (void)
{
    pthread_mutex_lock (&s_lock);
    if (s_zauth_users && --s_zauth_users == 0)
        zactor_destroy (&s_zauth);
    pthread_mutex_unlock (&s_lock);
}

//  Every certificate in dir, by its "name", into keys.
static zmesh_err_t
s_load_keys (zhashx_t *keys, const char *dir, zmesh_detail_t *detail)
{
    zdir_t *listing = zdir_new (dir, "-");
    if (!listing) {
        zmesh__detail (detail, "security/keys: cannot read %s", dir);
        return ZMESH_ERR_CONFIG;
    }
    zfile_t **files = zdir_flatten (listing);
    zmesh_err_t rc = ZMESH_OK;
    for (size_t index = 0; files [index] && rc == ZMESH_OK; index++) {
        const char *path = zfile_filename (files [index], NULL);
        size_t length = strlen (path);
        //  Public certificates only: never a secret one
        if (length >= 7 && streq (path + length - 7, "_secret"))
            continue;
        zcert_t *cert = zcert_load (path);
        const char *name = cert ? zcert_meta (cert, "name") : NULL;
        if (!name) {
            zmesh__detail (detail, "security/keys: %s is not a certificate "
                           "with a name (zmesh keygen makes them)", path);
            rc = ZMESH_ERR_CONFIG;
        }
        else
            zhashx_update (keys, name, (void *) zcert_public_txt (cert));
        zcert_destroy (&cert);
    }
    zdir_flatten_free (&files);
    zdir_destroy (&listing);
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
        self->keys = zhashx_new ();
        if (self->keys) {
            zhashx_set_duplicator (self->keys, (zhashx_duplicator_fn *) strdup);
            zhashx_set_destructor (self->keys, (zhashx_destructor_fn *) zstr_free);
        }
        rc = self->keys ? s_load_keys (self->keys, config->security_keys,
                                       detail)
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
        self->has_zauth = s_zauth_take (config->security_keys, detail)
                          == ZMESH_OK;
        if (!self->has_zauth)
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
    if (self->has_zauth)
        s_zauth_release ();
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
