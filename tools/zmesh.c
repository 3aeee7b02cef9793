/*  zmesh.c - the zmesh command line: call, publish, status, dead letters,
    trace, the tap, and up/down for the nodes of a mesh file.

    Part of zmesh. MIT License.
*/
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "zmesh.h"

static int
s_misuse (const char *message)
{
    fprintf (stderr, "zmesh: %s\ntry 'zmesh --help'\n", message);
    return 2;
}

static void
s_usage (void)
{
    printf (
        "usage: zmesh [OPTION]... COMMAND [ARGUMENT]...\n"
        "\n"
        "Commands:\n"
        "  call TARGET METHOD [JSON]  call METHOD on TARGET with a JSON body;\n"
        "                             prints the reply's body as JSON\n"
        "  publish TARGET TYPE [JSON] have TARGET publish an event of TYPE\n"
        "                             (stored in its log when it keeps one)\n"
        "  status                     every peer of --config: its endpoint,\n"
        "                             whether it answers, its next sequence,\n"
        "                             peers it hears, breakers it has open,\n"
        "                             its event counters, how many events\n"
        "                             its consumers are behind (LAG) and\n"
        "                             behind how many publishers they are\n"
        "                             stalled (STALL)\n"
        "  dlq list TARGET            TARGET's dead letters, as JSON\n"
        "  dlq show TARGET ID         one of them, with the whole event\n"
        "  dlq replay TARGET          run TARGET's consumers on them again\n"
        "  trace CID                  what every peer of --config remembers\n"
        "                             of the flow CID (trace/keep records\n"
        "                             each): its events and calls as a tree,\n"
        "                             in causal order, with nodes and times\n"
        "  tap on|off TARGET          switch TARGET's call tap on or off;\n"
        "                             prints the tap's endpoint, for\n"
        "                             zsniff --calls\n"
        "  up MESH                    start the nodes the mesh file MESH\n"
        "                             gives this host (proto/mesh.md), each\n"
        "                             detached, with its pid file and log in\n"
        "                             the run directory; waits until each\n"
        "                             is up\n"
        "  down [MESH]                stop every node that up started\n"
        "  keygen NAME [DIR]          write a key pair for the node NAME:\n"
        "                             DIR/NAME.cert (public, for the others'\n"
        "                             security/keys) and NAME.cert_secret\n"
        "                             (its security/cert names NAME.cert)\n"
        "\n"
        "TARGET is a service named in --config or with --set peers/..., or\n"
        "a calls endpoint (tcp://host:port, ipc://path).\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE       a node's settings (ZPL), for its peers\n"
        "  -s, --set PATH=VALUE    one setting; repeatable\n"
        "  -t, --timeout MS        how long a call may take (default 5000)\n"
        "  -k, --key KEY           call: to the instance of TARGET that owns\n"
        "                          KEY (an aggregate's id, say), by\n"
        "                          rendezvous hashing; without it, to the\n"
        "                          live instance with the fewest calls\n"
        "                          in flight\n"
        "  -j, --json              trace: one JSON array of the records, in\n"
        "                          tree order, each with its depth\n"
        "  -H, --host NAME         up: start the nodes of host NAME (default:\n"
        "                          the hosts whose address or name is this\n"
        "                          machine's)\n"
        "  -R, --run DIR           up, down: pid files and logs, in a\n"
        "                          directory of this user's alone (default:\n"
        "                          mesh/run, else $XDG_RUNTIME_DIR/zmesh,\n"
        "                          else /tmp/zmesh-UID)\n"
        "  -h, --help              this text\n"
        "  -V, --version           the zmesh version\n"
        "\n"
        "Options come before the command; their long forms may also follow\n"
        "it (zmesh up MESH --run DIR), up to an argument \"--\". Short ones\n"
        "may not: an argument such as -1 stays an argument.\n"
        "\n"
        "Calls go through the breaker and retry policy of the settings.\n"
        "Exit status: 0 when the command succeeded, 1 when it failed (the\n"
        "reason on stderr), 2 on a usage error.\n");
}

//  The service to call for target: target itself, or "target" for an
//  endpoint, made a peer of config.
static const char *
s_service (zmesh_node_config_t *config, const char *target)
{
    if (!strstr (target, "://"))
        return target;
    char setting [ZMESH_ENDPOINT_MAX + 32];
    snprintf (setting, sizeof setting, "peers/target/calls=%s", target);
    zmesh_node_config_set (config, setting, NULL);
    return "target";
}

//  Call and print; returns the exit code.
static int
s_call (zmesh_node_t *node, const char *service, const char *method,
        json_t *body, const zmesh_call_options_t *options, bool quiet)
{
    void *data = NULL;
    size_t size = 0;
    if (body && zmesh_json_to_msgpack (body, &data, &size, NULL) != ZMESH_OK)
        return s_misuse ("the JSON nests too deep");
    zmesh_envelope_t *reply = NULL;
    zmesh_detail_t detail = {""};
    zmesh_err_t rc = zmesh_node_call_with (node, service, method, data, size,
                                           options, &reply, &detail);
    free (data);
    if (reply && zmesh_envelope_body_size (reply) && !quiet) {
        json_t *answer = NULL;
        zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                 zmesh_envelope_body_size (reply), &answer,
                                 NULL);
        char *text = json_dumps (answer, JSON_COMPACT | JSON_ENCODE_ANY);
        printf ("%s\n", text ? text : "null");
        free (text);
        json_decref (answer);
    }
    if (rc == ZMESH_ERR_APP_ERROR)
        fprintf (stderr, "zmesh: %s: error %" PRId64 ": %s\n", method,
                 zmesh_envelope_error_code (reply), detail.text);
    else if (rc != ZMESH_OK)
        fprintf (stderr, "zmesh: %s: %s%s%s\n", method, zmesh_strerror (rc),
                 *detail.text ? ": " : "", detail.text);
    zmesh_envelope_destroy (&reply);
    return rc == ZMESH_OK ? 0 : 1;
}

//  A counter of a zmesh.stats reply, or "-" where the peer has none (one
//  written elsewhere may keep other counters).
static const char *
s_counter (const zmesh_envelope_t *reply, const char *name)
{
    const char *value = zmesh_envelope_header (reply, name);
    return value ? value : "-";
}

//  One line per peer: where it is, and what its zmesh.stats says.
static int
s_status (zmesh_node_t *node, const zmesh_node_config_t *config,
          uint32_t timeout_ms)
{
    int failed = 0;
    printf ("%-12s %-32s %-6s %8s %5s %5s %9s %9s %7s %5s %9s %6s %6s\n",
            "SERVICE", "CALLS", "STATE", "SEQ", "PEERS", "OPEN", "PUBLISHED",
            "CONSUMED", "LAG", "STALL", "REPLAYED", "DEAD", "BAD");
    for (size_t index = 0; index < config->peer_count; index++) {
        const zmesh_peer_config_t *peer = &config->peers [index];
        if (!*peer->calls)
            continue;
        zmesh_envelope_t *reply = NULL;
        zmesh_call_options_t options = {.timeout_ms = timeout_ms};
        zmesh_err_t rc = zmesh_node_call_with (node, peer->service,
                                               "zmesh.stats", NULL, 0,
                                               &options, &reply, NULL);
        if (rc != ZMESH_OK) {
            printf ("%-12s %-32s %-6s %s\n", peer->service, peer->calls,
                    "DOWN", zmesh_strerror (rc));
            failed = 1;
        }
        else
            printf ("%-12s %-32s %-6s %8s %5s %5s %9s %9s %7s %5s %9s %6s "
                    "%6s\n", peer->service, peer->calls, "up",
                    s_counter (reply, "seq"), s_counter (reply, "peers_alive"),
                    s_counter (reply, "breakers_open"),
                    s_counter (reply, "events_published"),
                    s_counter (reply, "events_consumed"),
                    s_counter (reply, "lag"), s_counter (reply, "stalled"),
                    s_counter (reply, "events_replayed"),
                    s_counter (reply, "dead_letters"),
                    s_counter (reply, "bad_frames"));
        zmesh_envelope_destroy (&reply);
    }
    return failed;
}

//  ---------------------------------------------------------------------
//  trace: every node's records of one flow, as a tree

//  The record that r hangs under, or NULL for a root: a served call under
//  its made call and a received event under its publishing (same id);
//  what a handler did under the served call or received event that ran
//  it (id = r's cause), preferring the one on r's own node.
static json_t *
s_parent (json_t *records, json_t *r)
{
    const char *what = zmesh_json_text (r, "what", "");
    const char *id = zmesh_json_text (r, "id", "");
    const char *cause = zmesh_json_text (r, "cause", "");
    const char *node = zmesh_json_text (r, "node", "");
    bool answer = streq (what, "served") || streq (what, "received");
    json_t *best = NULL;
    int best_rank = 0;
    size_t index;
    json_t *other;
    json_array_foreach (records, index, other) {
        if (other == r)
            continue;
        const char *o_what = zmesh_json_text (other, "what", "");
        const char *o_id = zmesh_json_text (other, "id", "");
        bool o_answer = streq (o_what, "served") || streq (o_what, "received");
        int rank = 0;
        if (answer && !o_answer && streq (o_id, id))
            rank = 4;
        else if (cause && streq (o_id, cause) && o_answer)
            rank = streq (zmesh_json_text (other, "node", ""),
                          node) ? 3 : 2;
        else if (cause && streq (o_id, cause))
            rank = 1;
        if (rank > best_rank) {
            best = other;
            best_rank = rank;
        }
    }
    return best;
}

static int
s_by_time (const void *a, const void *b)
{
    json_int_t x = json_integer_value (json_object_get (*(json_t **) a, "at_us"));
    json_int_t y = json_integer_value (json_object_get (*(json_t **) b, "at_us"));
    return (x > y) - (x < y);
}

//  Print record [at] and what hangs under it (parents [i] == at), depth
//  levels in, times from start; or, with out, append them to it.
static void
s_print_tree (json_t **records, const size_t *parents, bool *printed,
              size_t count, size_t at, int depth, json_int_t start,
              json_t *out)
{
    json_t *r = records [at];
    printed [at] = true;
    if (out) {
        json_object_set_new (r, "depth", json_integer (depth));
        json_array_append (out, r);
    }
    else {
        const char *what = zmesh_json_text (r, "what", "");
        const char *peer = zmesh_json_text (r, "peer", "");
        char detail [160] = "";
        if (streq (what, "made"))
            snprintf (detail, sizeof detail, "-> %s", peer);
        else if (streq (what, "served") || streq (what, "received"))
            snprintf (detail, sizeof detail, "<- %s", peer);
        json_t *seq = json_object_get (r, "seq");
        if (seq)
            snprintf (detail + strlen (detail), sizeof detail - strlen (detail),
                      "%s#%" JSON_INTEGER_FORMAT, *detail ? " " : "",
                      json_integer_value (seq));
        printf ("%10.3f ms  %*s%-10s %-9s %-24s %-20s %s",
                (double) (json_integer_value (json_object_get (r, "at_us"))
                          - start) / 1000, depth * 2, "",
                zmesh_json_text (r, "node", ""), what,
                zmesh_json_text (r, "name", ""), detail,
                zmesh_json_text (r, "status", ""));
        json_t *latency = json_object_get (r, "latency_us");
        if (latency)
            printf (" in %.3f ms", (double) json_integer_value (latency) / 1000);
        //  Its span (a node of an older release gives none), and for a
        //  root, the span outside the mesh it goes on from
        const char *traceparent = zmesh_json_text (r, "traceparent", "");
        if (strlen (traceparent) == ZMESH_TRACEPARENT_LEN)
            printf (" span %.16s", traceparent + 36);
        const char *parent = zmesh_json_text (r, "parent_span", "");
        if (depth == 0 && *parent)
            printf (" parent %s", parent);
        printf ("\n");
    }
    for (size_t index = 0; index < count; index++)
        if (parents [index] == at)
            s_print_tree (records, parents, printed, count, index, depth + 1,
                          start, out);
}

//  Ask every peer for its records of cid and print the tree (or, with
//  json, one array of records in tree order, each with its depth).
static int
s_trace (zmesh_node_t *node, const char *cid, uint32_t timeout_ms, bool json)
{
    zmesh_uuid_t uuid;
    if (zmesh_uuid_parse (cid, &uuid) != ZMESH_OK)
        return s_misuse ("trace wants a correlation id (a UUID)");
    //  Peers that gossip brings need a moment to arrive
    for (int round = 0; round < 10 && zmesh_node_peer_count (node) == 0; round++)
        zmesh_node_poll (node, 100);
    json_t *request = json_pack ("{s:s}", "cid", cid);
    void *body = NULL;
    size_t size = 0;
    zmesh_json_to_msgpack (request, &body, &size, NULL);
    json_decref (request);
    json_t *records = json_array ();
    size_t asked = 0, answered = 0;
    for (size_t index = 0; index < zmesh_node_peer_count (node); index++) {
        zmesh_peer_info_t peer;
        zmesh_node_peer (node, index, &peer);
        if (!*peer.calls)
            continue;
        asked++;
        zmesh_envelope_t *reply = NULL;
        zmesh_call_options_t options = {.timeout_ms = timeout_ms};
        zmesh_err_t rc = zmesh_node_call_with (node, peer.service,
                                               "zmesh.trace", body, size,
                                               &options, &reply, NULL);
        json_t *found = NULL;
        if (rc == ZMESH_OK)
            zmesh_json_from_msgpack (zmesh_envelope_body (reply),
                                     zmesh_envelope_body_size (reply), &found,
                                     NULL);
        if (json_is_array (found)) {
            answered++;
            json_array_extend (records, found);
        }
        else
            fprintf (stderr, "zmesh: trace: %s at %s: %s\n", peer.service,
                     peer.calls, rc ? zmesh_strerror (rc) : "a bad answer");
        json_decref (found);
        zmesh_envelope_destroy (&reply);
    }
    free (body);
    //  In time order, each linked to its parent (SIZE_MAX: a root)
    size_t count = json_array_size (records);
    json_t **sorted = calloc (count + 1, sizeof (json_t *));
    size_t *parents = calloc (count + 1, sizeof (size_t));
    for (size_t index = 0; index < count; index++)
        sorted [index] = json_array_get (records, index);
    qsort (sorted, count, sizeof (json_t *), s_by_time);
    json_t *ordered = json_array ();
    for (size_t index = 0; index < count; index++)
        json_array_append (ordered, sorted [index]);
    for (size_t index = 0; index < count; index++) {
        json_t *parent = s_parent (ordered, sorted [index]);
        parents [index] = SIZE_MAX;
        for (size_t other = 0; parent && other < count; other++)
            if (sorted [other] == parent)
                parents [index] = other;
    }
    json_int_t start = count ? json_integer_value (json_object_get (
                                   sorted [0], "at_us")) : 0;
    json_t *out = json ? json_array () : NULL;
    if (!json) {
        //  The flow is a W3C trace, whose id is the correlation's bytes
        printf ("flow %s (trace ", cid);
        for (size_t index = 0; index < ZMESH_UUID_SIZE; index++)
            printf ("%02x", uuid.bytes [index]);
        printf ("): %zu records from %zu of %zu nodes\n", count, answered,
                asked);
    }
    bool *printed = calloc (count + 1, sizeof (bool));
    for (size_t index = 0; index < count; index++)
        if (parents [index] == SIZE_MAX)
            s_print_tree (sorted, parents, printed, count, index, 0, start,
                          out);
    //  Records in a loop of causes (id trouble) hang under no root: each
    //  is shown on its own
    for (size_t index = 0; index < count; index++)
        if (!printed [index]) {
            parents [index] = SIZE_MAX;
            s_print_tree (sorted, parents, printed, count, index, 0, start,
                          out);
        }
    free (printed);
    if (out) {
        char *text = json_dumps (out, JSON_COMPACT);
        printf ("%s\n", text ? text : "[]");
        free (text);
        json_decref (out);
    }
    free (sorted);
    free (parents);
    json_decref (ordered);
    json_decref (records);
    return answered > 0 ? 0 : 1;
}

//  ---------------------------------------------------------------------
//  up and down: the nodes a mesh file gives this host, as processes

//  True if address is one of this machine's (or host is its name).
static bool
s_host_is_here (const char *name, const char *address)
{
    char hostname [256] = "";
    gethostname (hostname, sizeof hostname - 1);
    if (streq (name, hostname) || streq (address, hostname))
        return true;
    struct ifaddrs *list = NULL, *each;
    bool here = false;
    if (getifaddrs (&list) != 0)
        return false;
    for (each = list; each && !here; each = each->ifa_next) {
        if (!each->ifa_addr || (each->ifa_addr->sa_family != AF_INET
                                && each->ifa_addr->sa_family != AF_INET6))
            continue;
        char text [NI_MAXHOST];
        socklen_t size = each->ifa_addr->sa_family == AF_INET
                       ? sizeof (struct sockaddr_in)
                       : sizeof (struct sockaddr_in6);
        if (getnameinfo (each->ifa_addr, size, text, sizeof text, NULL, 0,
                         NI_NUMERICHOST) == 0)
            here = streq (text, address);
    }
    freeifaddrs (list);
    return here;
}

//  The directory of pid files and logs: --run, mesh/run,
//  $XDG_RUNTIME_DIR/zmesh, or /tmp/zmesh-<uid>.
static void
s_run_dir (zconfig_t *mesh, const char *run, char *dir, size_t size)
{
    const char *runtime = getenv ("XDG_RUNTIME_DIR");
    if (run)
        snprintf (dir, size, "%s", run);
    else if (mesh && zconfig_get (mesh, "mesh/run", NULL))
        snprintf (dir, size, "%s", zconfig_get (mesh, "mesh/run", NULL));
    else if (runtime && *runtime == '/')
        snprintf (dir, size, "%s/zmesh", runtime);
    else
        snprintf (dir, size, "/tmp/zmesh-%u", (unsigned) getuid ());
}

//  Make dir (0700) if it is not there and create says so, and check that
//  it is a directory,
//  not a link, owned by this user and writable by nobody else: its pid
//  files say which processes zmesh down signals, and its logs are written
//  as this user. False, having said why, if not.
static bool
s_run_dir_safe (const char *dir, bool create)
{
    if (create && mkdir (dir, 0700) != 0 && errno != EEXIST) {
        fprintf (stderr, "zmesh: cannot create %s: %s\n", dir,
                 strerror (errno));
        return false;
    }
    struct stat info;
    if (lstat (dir, &info) != 0 || !S_ISDIR (info.st_mode)) {
        fprintf (stderr, "zmesh: %s is not a directory (a link is not "
                 "followed)\n", dir);
        return false;
    }
    if (info.st_uid != getuid () || (info.st_mode & 022)) {
        fprintf (stderr, "zmesh: %s must be yours alone (owner %u, mode "
                 "%03o): another user could make zmesh overwrite files or "
                 "signal processes; say --run DIR\n", dir,
                 (unsigned) info.st_uid, (unsigned) (info.st_mode & 0777));
        return false;
    }
    return true;
}

//  Write pid into pidfile: whole or not at all, through a new file of our
//  own (O_EXCL, no link followed) renamed into place.
static bool
s_write_pid (const char *pidfile, pid_t pid)
{
    char temporary [PATH_MAX];
    snprintf (temporary, sizeof temporary, "%.4000s.new", pidfile);
    unlink (temporary);
    int fd = open (temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW
                              | O_CLOEXEC, 0600);
    if (fd < 0)
        return false;
    char text [32];
    int length = snprintf (text, sizeof text, "%ld\n", (long) pid);
    bool written = write (fd, text, (size_t) length) == length;
    close (fd);
    if (!written || rename (temporary, pidfile) != 0) {
        unlink (temporary);
        return false;
    }
    return true;
}

//  The pid in dir/name.pid if that process is alive and is a zmesh node
//  program (its command line names zmesh-), else 0.
static pid_t
s_running (const char *dir, const char *name)
{
    char path [PATH_MAX];
    snprintf (path, sizeof path, "%.3800s/%.200s.pid", dir, name);
    int fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    FILE *file = fd >= 0 ? fdopen (fd, "r") : NULL;
    long pid = 0;
    if (!file) {
        if (fd >= 0)
            close (fd);
        return 0;
    }
    if (fscanf (file, "%ld", &pid) != 1)
        pid = 0;
    fclose (file);
    char command [512] = "";
    snprintf (path, sizeof path, "/proc/%ld/cmdline", pid);
    file = pid > 0 ? fopen (path, "r") : NULL;
    size_t got = file ? fread (command, 1, sizeof command - 1, file) : 0;
    if (file)
        fclose (file);
    command [got] = 0;
    return got && strstr (command, "zmesh-") ? (pid_t) pid : 0;
}

//  Start one node of the mesh detached, its output in dir/name.log, and
//  wait (at most 10 s) for it to say it is up. Returns its pid, or 0.
static pid_t
s_start_node (zconfig_t *mesh, zconfig_t *node, const char *programs,
              const char *dir)
{
    const char *name = zconfig_name (node);
    const char *service = zconfig_get (node, "service", name);
    char program [PATH_MAX];
    snprintf (program, sizeof program, "%.3800s/zmesh-%.200s", programs, service);
    if (access (program, X_OK) != 0) {
        fprintf (stderr, "zmesh: up: %s: no program %s\n", name, program);
        return 0;
    }
    //  Its settings, as --set arguments
    char *argv [256] = {program};
    char *owned [256];
    int argc = 1, used = 0;
#define SET(...) do { if (argc < 250) { \
        owned [used] = zsys_sprintf (__VA_ARGS__); \
        argv [argc++] = "--set"; argv [argc++] = owned [used++]; } } while (0)
    SET ("node/name=%s", name);
    const char *keys [] = {"events", "calls", "data", "advertise"};
    for (size_t key = 0; key < 4; key++)
        if (zconfig_get (node, keys [key], NULL))
            SET ("node/%s=%s", keys [key], zconfig_get (node, keys [key], ""));
    char peers [512];
    snprintf (peers, sizeof peers, "%s", zconfig_get (node, "peers", ""));
    for (char *peer = strtok (peers, " ,"); peer; peer = strtok (NULL, " ,")) {
        zconfig_t *other = zconfig_locate (mesh, "node");
        other = other ? zconfig_locate (other, peer) : NULL;
        if (!other) {
            fprintf (stderr, "zmesh: up: %s: no node %s in the mesh\n", name,
                     peer);
            continue;
        }
        SET ("peers/%s/service=%s", peer, zconfig_get (other, "service", peer));
        if (zconfig_get (other, "events", NULL))
            SET ("peers/%s/events=%s", peer, zconfig_get (other, "events", ""));
        if (zconfig_get (other, "calls", NULL))
            SET ("peers/%s/calls=%s", peer, zconfig_get (other, "calls", ""));
    }
    zconfig_t *sets = zconfig_locate (node, "set");
    for (zconfig_t *set = sets ? zconfig_child (sets) : NULL; set;
         set = zconfig_next (set))
        SET ("%s=%s", zconfig_name (set), zconfig_value (set));
#undef SET
    argv [argc] = NULL;
    char log [PATH_MAX], pidfile [PATH_MAX];
    snprintf (log, sizeof log, "%.3800s/%.200s.log", dir, name);
    snprintf (pidfile, sizeof pidfile, "%.3800s/%.200s.pid", dir, name);
    pid_t pid = fork ();
    if (pid == 0) {
        setsid ();
        int out = open (log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW,
                        0600);
        int none = open ("/dev/null", O_RDONLY);
        if (out < 0 || none < 0)
            _exit (127);
        dup2 (none, STDIN_FILENO);
        dup2 (out, STDOUT_FILENO);
        dup2 (out, STDERR_FILENO);
        //  Nothing else of ours: a pipe we inherited would stay open in a
        //  node that outlives us
        close_range (3, ~0U, 0);
        execv (program, argv);
        _exit (127);
    }
    for (int index = 0; index < used; index++)
        zstr_free (&owned [index]);
    if (pid < 0)
        return 0;
    if (!s_write_pid (pidfile, pid))
        fprintf (stderr, "zmesh: up: %s: cannot write %s: %s\n", name,
                 pidfile, strerror (errno));
    FILE *file;
    //  Up once it prints its endpoints ("events=..." or "http=...")
    for (int tick = 0; tick < 100; tick++) {
        if (waitpid (pid, NULL, WNOHANG) == pid)
            break;
        char line [512] = "";
        file = fopen (log, "r");
        bool up = false;
        while (file && fgets (line, sizeof line, file))
            up |= strncmp (line, "events=", 7) == 0
               || strncmp (line, "http=", 5) == 0;
        if (file)
            fclose (file);
        if (up) {
            printf ("zmesh: up: %s (pid %ld): %s", name, (long) pid, line);
            return pid;
        }
        usleep (100000);
    }
    fprintf (stderr, "zmesh: up: %s did not start; see %s\n", name, log);
    kill (pid, SIGKILL);
    unlink (pidfile);
    return 0;
}

//  True while pid runs: not gone, and not a zombie that nobody reaps yet
//  (a node outlives the zmesh up that started it; its new parent reaps).
static bool
s_alive (pid_t pid)
{
    char path [64], stat [256] = "";
    snprintf (path, sizeof path, "/proc/%ld/stat", (long) pid);
    FILE *file = fopen (path, "r");
    size_t got = file ? fread (stat, 1, sizeof stat - 1, file) : 0;
    if (file)
        fclose (file);
    stat [got] = 0;
    const char *state = strrchr (stat, ')');
    return got && state && state [1] == ' ' && state [2] != 'Z'
        && state [2] != 'X';
}

//  Stop the node whose pid file is dir/name.pid: SIGTERM, and SIGKILL
//  after 10 s. Returns true if it was running.
static bool
s_stop_node (const char *dir, const char *name)
{
    pid_t pid = s_running (dir, name);
    char pidfile [PATH_MAX];
    snprintf (pidfile, sizeof pidfile, "%.3800s/%.200s.pid", dir, name);
    unlink (pidfile);
    if (!pid)
        return false;
    kill (pid, SIGTERM);
    for (int tick = 0; tick < 100 && s_alive (pid); tick++) {
        waitpid (pid, NULL, WNOHANG);     //  Our own child, if up just ran
        usleep (100000);
    }
    if (s_alive (pid)) {
        fprintf (stderr, "zmesh: down: %s did not stop; killed\n", name);
        kill (pid, SIGKILL);
    }
    printf ("zmesh: down: %s (pid %ld)\n", name, (long) pid);
    return true;
}

//  zmesh up FILE: start the nodes FILE assigns to this host (or --host).
static int
s_up (const char *path, const char *host, const char *run)
{
    zconfig_t *mesh = zconfig_load (path);
    if (!mesh || !zconfig_locate (mesh, "node")) {
        fprintf (stderr, "zmesh: up: %s is not a mesh file (ZPL with a node "
                 "section; see proto/mesh.md)\n", path);
        zconfig_destroy (&mesh);
        return 1;
    }
    char dir [PATH_MAX], programs [PATH_MAX];
    s_run_dir (mesh, run, dir, sizeof dir);
    if (!s_run_dir_safe (dir, true)) {
        zconfig_destroy (&mesh);
        return 1;
    }
    //  Node programs: mesh/programs, else ../nodes beside this program (a
    //  build tree), else beside it (installed)
    const char *given = zconfig_get (mesh, "mesh/programs", NULL);
    if (given)
        snprintf (programs, sizeof programs, "%s", given);
    else {
        char self [PATH_MAX] = "";
        ssize_t length = readlink ("/proc/self/exe", self, sizeof self - 1);
        self [length > 0 ? length : 0] = 0;
        char *slash = strrchr (self, '/');
        if (slash)
            *slash = 0;
        snprintf (programs, sizeof programs, "%.4000s/../nodes", self);
        if (access (programs, X_OK) != 0)
            snprintf (programs, sizeof programs, "%s", self);
    }
    int started = 0, failed = 0, assigned = 0;
    for (zconfig_t *node = zconfig_child (zconfig_locate (mesh, "node")); node;
         node = zconfig_next (node)) {
        const char *name = zconfig_name (node);
        const char *on = zconfig_get (node, "host", "");
        zconfig_t *hosts = zconfig_locate (mesh, "host");
        const char *address = hosts ? zconfig_get (hosts, on, on) : on;
        //  A node without a host runs wherever the file is brought up
        if (*on && (host ? !streq (host, on) : !s_host_is_here (on, address)))
            continue;
        assigned++;
        if (s_running (dir, name)) {
            printf ("zmesh: up: %s is running already\n", name);
            continue;
        }
        if (s_start_node (mesh, node, programs, dir))
            started++;
        else
            failed++;
    }
    if (!assigned)
        fprintf (stderr, "zmesh: up: %s gives this host no node (say "
                 "--host NAME?)\n", path);
    zconfig_destroy (&mesh);
    return failed || !assigned ? 1 : 0;
}

//  zmesh down [FILE]: stop every node up started (in the run directory).
static int
s_down (const char *path, const char *run)
{
    zconfig_t *mesh = path ? zconfig_load (path) : NULL;
    if (path && !mesh) {
        fprintf (stderr, "zmesh: down: cannot read %s\n", path);
        return 1;
    }
    char dir [PATH_MAX];
    s_run_dir (mesh, run, dir, sizeof dir);
    zconfig_destroy (&mesh);
    struct stat info;
    if (lstat (dir, &info) == 0 && !s_run_dir_safe (dir, false))
        return 1;
    zdir_t *listing = zdir_new (dir, NULL);
    zfile_t **files = listing ? zdir_flatten (listing) : NULL;
    int stopped = 0;
    for (size_t index = 0; files && files [index]; index++) {
        const char *file = zfile_filename (files [index], dir);
        size_t length = strlen (file);
        if (length > 4 && streq (file + length - 4, ".pid")
            && !strchr (file, '/')) {
            char name [256];
            snprintf (name, sizeof name, "%.*s", (int) (length - 4), file);
            stopped += s_stop_node (dir, name);
        }
    }
    zdir_flatten_free (&files);
    zdir_destroy (&listing);
    if (!stopped)
        printf ("zmesh: down: nothing was running (%s)\n", dir);
    return 0;
}

static json_t *
s_json_argument (int argc, char *argv [], int index, int *rc)
{
    if (index >= argc)
        return NULL;
    json_t *value = NULL;
    zmesh_detail_t detail = {""};
    if (zmesh_json_parse (argv [index], strlen (argv [index]), &value, &detail)
        != ZMESH_OK) {
        fprintf (stderr, "zmesh: %s\ntry 'zmesh --help'\n", detail.text);
        *rc = 2;
    }
    return value;
}

//  Move the long options (and their values) that follow the command to
//  before it, so that getopt, which stops at the command, reads them
//  too. An argument "--" ends this, and is taken out: what follows it is
//  the command's. Returns the new argc.
static int
s_hoist_options (int argc, char *argv [], const struct option *longs)
{
    int command = 1;            //  The first argument not an option
    while (command < argc && argv [command][0] == '-'
           && !streq (argv [command], "--")) {
        //  An option that takes a value, given apart, takes it along
        const char *name = argv [command];
        bool apart = strlen (name) == 2 ? strchr ("cstHR", name [1]) != NULL
                                         : false;
        for (const struct option *option = longs;
             !apart && option->name && name [1] == '-'; option++)
            apart = option->has_arg == required_argument
                 && streq (name + 2, option->name);
        command += apart ? 2 : 1;
    }
    for (int index = command + 1; index < argc; index++) {
        const char *arg = argv [index];
        if (streq (arg, "--")) {
            memmove (argv + index, argv + index + 1,
                     (size_t) (argc - index) * sizeof (char *));
            return argc - 1;    //  argv [argc] (NULL) moved down too
        }
        if (strncmp (arg, "--", 2) != 0)
            continue;
        const struct option *found = NULL;
        for (const struct option *option = longs; option->name; option++) {
            size_t length = strlen (option->name);
            if (strncmp (arg + 2, option->name, length) == 0
                && (arg [2 + length] == 0
                    || (arg [2 + length] == '='
                        && option->has_arg == required_argument)))
                found = option;
        }
        if (!found)
            continue;
        bool apart = found->has_arg == required_argument && !strchr (arg, '=');
        if (apart && index + 1 == argc)
            continue;           //  Its value is missing: getopt would say
        int taken = apart ? 2 : 1;
        //  Rotate argv [command .. index + taken - 1] right by taken
        char *moved [2] = {argv [index], taken == 2 ? argv [index + 1] : NULL};
        memmove (argv + command + taken, argv + command,
                 (size_t) (index - command) * sizeof (char *));
        for (int at = 0; at < taken; at++)
            argv [command + at] = moved [at];
        command += taken;
        index += taken - 1;
    }
    return argc;
}

int
main (int argc, char *argv [])
{
    static const struct option longs [] = {
        {"config", required_argument, NULL, 'c'},
        {"set", required_argument, NULL, 's'},
        {"timeout", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},
        {"json", no_argument, NULL, 'j'},
        {"host", required_argument, NULL, 'H'},
        {"run", required_argument, NULL, 'R'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    zmesh_node_config_t config;
    zmesh_node_config_defaults (&config, "zmesh-cli");
    zmesh_detail_t detail = {""};
    uint32_t timeout_ms = 5000;
    bool json = false;
    const char *host = NULL, *run = NULL, *key = NULL;
    int option;
    char *end;
    argc = s_hoist_options (argc, argv, longs);
    //  "+": options end at the command, whose arguments may start with '-'.
    while ((option = getopt_long (argc, argv, "+c:s:t:k:jH:R:hV", longs, NULL)) != -1) {
        switch (option) {
            case 'c':
                if (zmesh_node_config_load (&config, optarg, &detail)) {
                    fprintf (stderr, "zmesh: %s\n", detail.text);
                    return 2;
                }
                break;
            case 's':
                if (zmesh_node_config_set (&config, optarg, &detail))
                    return s_misuse (detail.text);
                break;
            case 't':
                timeout_ms = (uint32_t) strtoul (optarg, &end, 10);
                if (*end || timeout_ms < 1 || timeout_ms > 3600000)
                    return s_misuse ("--timeout wants 1 to 3600000 ms");
                break;
            case 'k': key = optarg; break;
            case 'j': json = true; break;
            case 'H': host = optarg; break;
            case 'R': run = optarg; break;
            case 'h': s_usage (); return 0;
            case 'V':
                printf ("zmesh %d.%d.%d\n", ZMESH_VERSION_MAJOR,
                        ZMESH_VERSION_MINOR, ZMESH_VERSION_PATCH);
                return 0;
            default: return s_misuse ("unknown option");
        }
    }
    if (optind >= argc)
        return s_misuse ("say what to do: call, publish, status, dlq, trace, "
                         "tap, up, down or keygen");
    const char *command = argv [optind];
    int rest = argc - optind - 1;
    char **args = argv + optind + 1;
    if (streq (command, "keygen") && (rest == 1 || rest == 2)) {
        zmesh_detail_t keyed = {""};
        const char *where = rest == 2 ? args [1] : ".";
        if (zmesh_security_keygen (where, args [0], &keyed) != ZMESH_OK) {
            fprintf (stderr, "zmesh: keygen: %s\n", keyed.text);
            return 1;
        }
        printf ("%s/%s.cert: the public key; copy it into the security/keys "
                "of every node that %s talks to\n%s/%s.cert_secret: the "
                "secret key; it stays with %s\n", where, args [0], args [0],
                where, args [0], args [0]);
        return 0;
    }
    if (streq (command, "up") && rest == 1)
        return s_up (args [0], host, run);
    if (streq (command, "down") && rest <= 1)
        return s_down (rest ? args [0] : NULL, run);
    const char *service = NULL, *method = NULL;
    json_t *body = NULL;
    int rc = 0;
    if (streq (command, "call") && (rest == 2 || rest == 3)) {
        service = s_service (&config, args [0]);
        method = args [1];
        body = s_json_argument (rest, args, 2, &rc);
    }
    else if (streq (command, "publish") && (rest == 2 || rest == 3)) {
        service = s_service (&config, args [0]);
        method = "zmesh.publish";
        json_t *payload = s_json_argument (rest, args, 2, &rc);
        body = json_pack ("{s:s, s:o}", "type", args [1],
                          "body", payload ? payload : json_null ());
    }
    else if (streq (command, "dlq") && rest == 2
             && (streq (args [0], "list") || streq (args [0], "replay"))) {
        service = s_service (&config, args [1]);
        method = streq (args [0], "list") ? "zmesh.dlq.list"
                                          : "zmesh.dlq.replay";
    }
    else if (streq (command, "dlq") && rest == 3
             && streq (args [0], "show")) {
        service = s_service (&config, args [1]);
        method = "zmesh.dlq.show";
        body = json_pack ("{s:s}", "id", args [2]);
    }
    else if (streq (command, "tap") && rest == 2
             && (streq (args [0], "on") || streq (args [0], "off"))) {
        service = s_service (&config, args [1]);
        method = "zmesh.tap";
        body = json_pack ("{s:b}", "on", streq (args [0], "on"));
    }
    else if (streq (command, "trace") && rest == 1) {
        zmesh_uuid_t cid;
        if (zmesh_uuid_parse (args [0], &cid) != ZMESH_OK)
            return s_misuse ("trace wants a correlation id (a UUID)");
    }
    else if (!streq (command, "status") || rest != 0)
        return s_misuse ("unknown command or wrong arguments");
    if (rc) {
        json_decref (body);
        return rc;
    }
    //  Diagnostics to stderr: stdout is for the answers. The node's start-up
    //  lines (where it binds, whether security is on) are for nodes that
    //  stay up; this one lives for one command, and says why if it fails.
    zsys_set_logstream (NULL);
    zmesh_node_t *node = zmesh_node_new (&config, NULL, NULL, &detail);
    zsys_set_logstream (stderr);
    if (!node) {
        fprintf (stderr, "zmesh: %s\n", detail.text);
        json_decref (body);
        return 1;
    }
    zmesh_call_options_t options = {.timeout_ms = timeout_ms, .key = key};
    rc = service ? s_call (node, service, method, body, &options, false)
         : streq (command, "trace") ? s_trace (node, args [0], timeout_ms, json)
                                    : s_status (node, &config, timeout_ms);
    json_decref (body);
    zmesh_node_destroy (&node);
    return rc;
}
