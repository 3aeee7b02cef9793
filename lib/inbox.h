/*  inbox.h - what a consumer of other nodes' events keeps in its own
    store: how far it has got with each publisher, which event ids it has
    processed, and the events its handlers gave up on (dead letters).

    Kept in the consumer's event store file, so that a consumer's own writes
    and its record of having processed an event commit in one transaction.
    Private: the node's consumers use it (lib/node/consume.c).

    Part of zmesh. MIT License.
*/
#ifndef ZMESH_INBOX_H_INCLUDED
#define ZMESH_INBOX_H_INCLUDED

#include "zmesh/store.h"


//  The last sequence processed from publisher: *known is false (and *seq
//  0) if the consumer has never heard of it. A consumer new to a store its
//  group shares starts where the furthest of the others is.
zmesh_err_t
    zmesh__inbox_position (zmesh_store_t *store, const char *publisher,
                          uint64_t *seq, bool *known);

//  Record that publisher's events up to seq are done. These writes (this,
//  zmesh__inbox_mark and zmesh__inbox_keep_reply), in a transaction on
//  PostgreSQL, go to the server with the next statement: a failure shows
//  there, at the latest at the commit.
zmesh_err_t
    zmesh__inbox_set_position (zmesh_store_t *store, const char *publisher,
                              uint64_t seq);

//  Whether the event with id was processed before.
zmesh_err_t
    zmesh__inbox_seen (zmesh_store_t *store, const zmesh_uuid_t *id,
                      bool *seen);

//  How many of the count ids (at most ZMESH__INBOX_BATCH), from the first
//  on, were processed before: one query for them all.
#define ZMESH__INBOX_BATCH 16      //  The statement's parameters, db.c's most
zmesh_err_t
    zmesh__inbox_seen_prefix (zmesh_store_t *store, const zmesh_uuid_t *ids,
                              size_t count, size_t *seen);

//  Record the event with id as processed, at unix_ms. Refused (at the
//  latest when the transaction commits) if it was recorded already: by
//  another member of the group, since this one looked it up.
zmesh_err_t
    zmesh__inbox_mark (zmesh_store_t *store, const zmesh_uuid_t *id,
                      uint64_t unix_ms);

//  Forget processed ids recorded before unix_ms: positions still keep a
//  publisher's repeats out; ids catch the same event arriving another way.
zmesh_err_t
    zmesh__inbox_forget (zmesh_store_t *store, uint64_t unix_ms);

typedef struct {
    zmesh_uuid_t event_id;
    const char *publisher;
    uint64_t seq;
    const void *envelope;       //  The event as it arrived, encoded
    size_t envelope_size;
    const char *error;          //  What the handler said last
    int attempts;
    uint64_t at;                //  Unix ms it was buried
} zmesh__dead_letter_t;

//  Keep an event the handlers gave up on.
zmesh_err_t
    zmesh__inbox_bury (zmesh_store_t *store, const zmesh__dead_letter_t *letter);

//  Call fn for each dead letter, oldest first (letter borrowed); fn returns
//  false to stop.
typedef bool (zmesh__dead_letter_fn) (const zmesh__dead_letter_t *letter,
                                     void *arg);
zmesh_err_t
    zmesh__inbox_dead_letters (zmesh_store_t *store, zmesh__dead_letter_fn *fn,
                              void *arg);

//  Remove the dead letter of event id (it was replayed with success).
//  ZMESH_ERR_INVALID if there is none.
zmesh_err_t
    zmesh__inbox_unbury (zmesh_store_t *store, const zmesh_uuid_t *id);


//  The reply to a request that wrote something, kept in the same
//  transaction as its writes, so that a retry of it after a crash gets the
//  same reply and the handler does not run again: keep, find (into reply,
//  a message it initializes; false if none is kept), and forget those
//  older than unix_ms.
zmesh_err_t
    zmesh__inbox_keep_reply (zmesh_store_t *store,
                             const zmesh_uuid_t *request_id,
                             const void *reply, size_t size, uint64_t at);
bool
    zmesh__inbox_reply (zmesh_store_t *store, const zmesh_uuid_t *request_id,
                        zmq_msg_t *reply);
zmesh_err_t
    zmesh__inbox_forget_replies (zmesh_store_t *store, uint64_t unix_ms);

#endif
