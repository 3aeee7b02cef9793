#!/usr/bin/python3
"""test_interop.py - the Python peer (peer.py) against the C nodes.

    test_interop.py --nodes DIR --testnode PATH --zsniff PATH

In each role a peer in another language takes: it calls a C node, serves
the calls a C node makes, publishes reliable events that a C node
consumes (answering its replays of what it lost), and is read by zsniff.
Everything goes over ipc:// in a directory of its own. Exits 0 when every
check passed, 1 otherwise, saying which failed.

Part of zmesh. MIT License.
"""
import argparse
import json
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid

import zmq

import peer

FAILED = []


def check(what, ok, detail=""):
    print(f"{'ok  ' if ok else 'FAIL'} {what}{': ' + str(detail) if detail and not ok else ''}")
    if not ok:
        FAILED.append(what)
    return ok


def start(argv, log):
    """A C node, waited for until it says it is up (its first line)."""
    child = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=log,
                             text=True)
    line = child.stdout.readline()
    if not line:
        child.kill()
        raise RuntimeError(f"{argv[0]} did not start")
    return child


def stop(child):
    child.terminate()
    try:
        return child.wait(10)
    except subprocess.TimeoutExpired:
        child.kill()
        return child.wait()


def calls_and_served(context, args, work, log):
    """A Python caller places an order on the C order node, which checks
    the user with the Python user service: the flow goes across both."""
    user = peer.Node(context, "user", "user", f"ipc://{work}/user-events",
                     f"ipc://{work}/user-calls")
    users = {"u-1": {"id": "u-1", "name": "Ada", "email": "ada@example.org"}}

    def user_get(asked):
        found = users.get((peer.body_of(asked) or {}).get("id"))
        if not found:
            return peer.reply_to("user", asked, status=peer.APPLICATION_ERROR,
                                 code=404, error="no such user")
        return peer.reply_to("user", asked, found)
    user.methods["user.get"] = user_get
    order = start([f"{args.nodes}/zmesh-order",
                   "--set", f"node/data={work}/order",
                   "--set", f"node/events=ipc://{work}/order-events",
                   "--set", f"node/calls=ipc://{work}/order-calls",
                   "--set", f"peers/user/calls=ipc://{work}/user-calls",
                   "--set", f"peers/user/events=ipc://{work}/user-events",
                   #   zmesh.trace is an administrative built-in
                   "--set", "access/admins=*"],
                  log)
    try:
        user.control("zmesh.heartbeat")
        asked, stats = peer.call(context, f"ipc://{work}/order-calls", "py",
                                 "zmesh.stats", None)
        check("zmesh.stats answers", stats is not None)
        if stats:
            check("the reply's causation is the request's id",
                  stats.get(peer.CAUSATION) == asked[peer.ID])
            check("the reply keeps the correlation",
                  stats[peer.CORRELATION] == asked[peer.CORRELATION])
            headers = stats.get(peer.HEADERS, {})
            missing = [name for name in (
                "events_published", "events_received", "bad_frames",
                "calls_served", "calls_made", "heartbeats_received",
                "events_consumed", "batch_commits", "seq", "peers_alive")
                if name not in headers]
            check("zmesh.stats has the counters node.md lists", not missing,
                  missing)
        #   order.create, answered once the order node has called user.get,
        #   which this peer serves meanwhile
        placed, answer = place(context, f"ipc://{work}/order-calls", user,
                               "u-1")
        check("order.create answers", answer is not None)
        if answer:
            body = peer.body_of(answer) or {}
            check("order.create is ok", answer[peer.STATUS] == peer.OK,
                  answer.get(peer.ERROR_TEXT))
            check("the order has an id", isinstance(body.get("id"), str),
                  body)
        gets = [asked for asked in user.served
                if asked[peer.TYPE] == "user.get"]
        check("the order node called user.get", len(gets) == 1, len(gets))
        if gets:
            get = gets[0]
            check("user.get is in the caller's flow",
                  get[peer.CORRELATION] == placed[peer.CORRELATION])
            check("user.get was caused by order.create",
                  get.get(peer.CAUSATION) == placed[peer.ID])
            check("user.get carries a budget within the caller's",
                  0 < get[peer.BUDGET] <= placed[peer.BUDGET],
                  get[peer.BUDGET])
        #   Trace context, derived as envelope.md section 3 says: a flow
        #   whose first message goes on from a span outside the mesh
        parent = "00f067aa0ba902b7"
        correlation = uuid.uuid4().bytes
        traced, answer = place(context, f"ipc://{work}/order-calls", user,
                               "u-1", {"traceparent": f"00-{correlation.hex()}"
                                                      f"-{parent}-01"},
                               correlation)
        check("a traced order.create answers", answer is not None)
        asked, found = peer.call(context, f"ipc://{work}/order-calls", "py",
                                 "zmesh.trace", {"cid": str(uuid.UUID(
                                     bytes=traced[peer.CORRELATION]))})
        records = (peer.body_of(found) or []) if found else []
        served = [r for r in records if r.get("what") == "served"
                  and r.get("name") == "order.create"]
        made = [r for r in records if r.get("what") == "made"
                and r.get("name") == "user.get"]
        check("zmesh.trace has the served call and the call it made",
              len(served) == 1 and len(made) == 1, records)
        if served and made:
            check("the served call is the request's span",
                  served[0].get("traceparent") == peer.traceparent(traced),
                  (served[0].get("traceparent"), peer.traceparent(traced)))
            check("its parent is the header's span",
                  served[0].get("parent_span") == parent, served[0])
            check("the call it made is a child of the request's span",
                  made[0].get("parent_span") == traced[peer.ID][8:].hex(),
                  made[0])
            gets = [asked for asked in user.served
                    if asked[peer.TYPE] == "user.get"
                    and asked[peer.CORRELATION] == traced[peer.CORRELATION]]
            check("user.get's span is the one the order node traced",
                  len(gets) == 1
                  and made[0].get("traceparent") == peer.traceparent(gets[0]),
                  made[0])
        #   This peer's 404 is the order node's answer to its caller
        _, refused = place(context, f"ipc://{work}/order-calls", user,
                           "u-404")
        check("an order for an unknown user is refused with an application "
              "error", refused is not None
              and refused[peer.STATUS] == peer.APPLICATION_ERROR,
              refused and (refused[peer.STATUS], refused.get(peer.ERROR_TEXT)))
    finally:
        check("the order node stops cleanly", stop(order) == 0)
        user.close()


def place(context, endpoint, user, user_id, headers=None, correlation=None):
    """order.create for user_id at endpoint, serving the user node's calls
    while the reply is awaited: the request's fields and the reply's (None
    if none came within 10 s)."""
    caller = context.socket(zmq.REQ)
    caller.setsockopt(zmq.LINGER, 0)
    caller.connect(endpoint)
    placed = peer.request("py", "order.create", {
        "userId": user_id, "items": [
            {"productId": "p-1", "quantity": 2, "price": 150}]},
        headers=headers, correlation=correlation)
    caller.send(peer.encode(placed))
    answer = None
    until = time.monotonic() + 10
    while answer is None and time.monotonic() < until:
        user.serve(50)
        if caller.poll(0):
            answer = peer.decode(caller.recv())
    caller.close()
    return placed, answer


def reliable_events(context, args, work, log):
    """The C consumer takes every event of this peer's log, the ones it
    never got live by replaying them from this peer."""
    events, lost = 300, range(101, 151)
    source = peer.Node(context, "py", "py", f"ipc://{work}/py-events",
                       f"ipc://{work}/py-calls")
    consumer = start([args.testnode, "--role", "consumer", "--name", "c",
                      "--set", f"node/data={work}/c",
                      "--set", "peers/py/service=py",
                      "--set", f"peers/py/events=ipc://{work}/py-events",
                      "--set", f"peers/py/calls=ipc://{work}/py-calls",
                      "--set", "timing/heartbeat=200"], log)
    sniff = subprocess.Popen([args.zsniff, "--json", "--count", "20",
                              "--duration", "20", "--type", "tick.*",
                              "--connect", f"ipc://{work}/py-events"],
                             stdout=subprocess.PIPE, stderr=log, text=True)
    try:
        #   Heard first: a consumer takes a publisher's events once it
        #   knows, from a heartbeat, that it keeps a log
        for _ in range(10):
            source.control("zmesh.heartbeat")
            source.serve(100)
        for number in range(1, events + 1):
            source.publish("tick.happened", {"n": number},
                           send=number not in lost)
            if number % 20 == 0:
                source.control("zmesh.heartbeat")
                source.serve(5)
        seen = []
        until = time.monotonic() + 30
        while len(seen) < events and time.monotonic() < until:
            source.control("zmesh.heartbeat")
            source.serve(200)
            seen = seen_by(f"{work}/c/c.db")
        check(f"the consumer handled all {events} events, once each",
              sorted(seen) == list(range(1, events + 1)),
              f"{len(seen)} records, {len(set(seen))} sequences")
        replays = [asked for asked in source.served
                   if asked[peer.TYPE] == "zmesh.replay"]
        check("the lost range was replayed from this peer", len(replays) > 0)
        asked_for = set()
        for asked in replays:
            body = peer.body_of(asked)
            asked_for.update(range(body["from"], body["to"] + 1))
        check("the replays asked for the events it lost",
              set(lost) <= asked_for, sorted(set(lost) - asked_for)[:5])
        output, _ = sniff.communicate(timeout=30)
        lines = [json.loads(line) for line in output.splitlines() if line]
        check("zsniff shows this peer's events", len(lines) == 20,
              len(lines))
        check("zsniff decodes them", all(
            line.get("source") == "py" and line.get("type") == "tick.happened"
            for line in lines), lines[:1])
        check("zsniff shows their sequence numbers in order",
              [line.get("seq") for line in lines]
              == sorted(line.get("seq") for line in lines))
    finally:
        if sniff.poll() is None:
            sniff.kill()
        sniff.wait()
        source.control("zmesh.bye")
        check("the consumer stops cleanly", stop(consumer) == 0)
        source.close()


def seen_by(path):
    """The sequences the testnode consumer recorded (stream "seen", one
    event each, its body the sequence as a MessagePack uint 64)."""
    try:
        database = sqlite3.connect(f"file:{path}?mode=ro", uri=True,
                                   timeout=1)
        rows = database.execute(
            "SELECT body FROM events WHERE stream = 'seen'").fetchall()
        database.close()
    except sqlite3.Error:
        return []
    return [int.from_bytes(body[1:9], "big") for (body,) in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", required=True)
    parser.add_argument("--testnode", required=True)
    parser.add_argument("--zsniff", required=True)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="zmesh-interop-")
    context = zmq.Context()
    try:
        with open(f"{work}/nodes.log", "w") as log:
            calls_and_served(context, args, work, log)
            reliable_events(context, args, work, log)
        if FAILED:
            with open(f"{work}/nodes.log") as log:
                sys.stderr.write(log.read()[-4000:])
    finally:
        context.destroy(linger=0)
        shutil.rmtree(work, ignore_errors=True)
    print(f"{len(FAILED)} checks failed" if FAILED else "every check passed")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())
