#!/usr/bin/env python3
"""A minimal Mumble client for ccci's mumble tests (standard library only).

It speaks the Mumble control protocol over TLS: it sends Version and
Authenticate, reads what the server sends until ServerSync (Version,
ChannelState, UserState, ..., ServerSync with the welcome text), and can then
create or remove a channel (as SuperUser, with the password from the server's
secret).

The host cannot reach a swarm task's address (it sits on the app's overlay
network), so the TCP connection is made by `nc` inside ccci's probe service,
which sits on that network, and carried over `docker exec -i` (stdin and
stdout of the docker CLI are one end of a socket pair); TLS runs here, end to
end with the server.

  _mumble.py info                 what the server says to a new guest user (JSON)
  _mumble.py has NAME             exit 0 when a channel NAME exists, 1 when not
  _mumble.py create NAME          create channel NAME under Root as SuperUser (kept if it exists)
  _mumble.py remove NAME          remove channel NAME as SuperUser (nothing if absent)

Environment: CCCI_STACK (the app's stack); MUMBLE_SERVICE (default app),
MUMBLE_PORT (64738). Exit 0 yes/done, 1 no or refused, 99 could not ask.
"""

import json
import os
import secrets
import socket
import ssl
import struct
import subprocess
import sys
import time

# Message types (Mumble.proto, in the order of the protocol's table).
VERSION, UDPTUNNEL, AUTHENTICATE, PING, REJECT, SERVERSYNC = 0, 1, 2, 3, 4, 5
CHANNELREMOVE, CHANNELSTATE, USERREMOVE, USERSTATE = 6, 7, 8, 9
PERMISSIONDENIED = 12
NAMES = {0: "Version", 3: "Ping", 4: "Reject", 5: "ServerSync", 6: "ChannelRemove",
         7: "ChannelState", 8: "UserRemove", 9: "UserState", 12: "PermissionDenied",
         15: "CryptSetup", 20: "PermissionQuery", 21: "CodecVersion", 24: "ServerConfig",
         25: "SuppressedUserState"}
REJECT_TYPES = {0: "None", 1: "WrongVersion", 2: "InvalidUsername", 3: "WrongUserPW",
                4: "WrongServerPW", 5: "UsernameInUse", 6: "ServerFull", 7: "NoCertificate",
                8: "AuthenticatorFail"}
TIMEOUT = 15.0


class Trouble(Exception):
    """The client could not ask the server (exit 99)."""


# --- protobuf, by hand: varints and length-delimited fields are all we need ---

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, n):
    return varint(num << 3 | 0) + varint(n)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def parse(payload):
    """Fields of a message: {number: [values]} (ints, or bytes)."""
    fields, i = {}, 0
    while i < len(payload):
        key, i = read_varint(payload, i)
        num, wire = key >> 3, key & 7
        if wire == 0:
            val, i = read_varint(payload, i)
        elif wire == 1:
            val, i = struct.unpack_from("<Q", payload, i)[0], i + 8
        elif wire == 2:
            n, i = read_varint(payload, i)
            val, i = payload[i:i + n], i + n
        elif wire == 5:
            val, i = struct.unpack_from("<I", payload, i)[0], i + 4
        else:
            raise Trouble("cannot parse a message: wire type %d" % wire)
        fields.setdefault(num, []).append(val)
    return fields


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def first(fields, num, default=None):
    return fields.get(num, [default])[0]


def text(fields, num, default=""):
    v = first(fields, num)
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else default


# --- the connection ---

def docker(*args):
    out = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise Trouble("docker %s: %s" % (" ".join(args[:2]), out.stderr.strip()))
    return out.stdout


def container(stack, service):
    ids = docker("ps", "-q", "--filter", "label=com.docker.swarm.service.name=%s_%s" % (stack, service)).split()
    if not ids:
        raise Trouble("service %s has no running container" % service)
    return ids[0]


class Client:
    def __init__(self, stack, service, port):
        probe = container(stack, "ccci-probe")
        ours, theirs = socket.socketpair()
        # The probe's nc makes the TCP connection on the app's network; its
        # timeout bounds a session this client would fail to close.
        self.proc = subprocess.Popen(
            ["docker", "exec", "-i", probe, "timeout", "60", "nc", "tasks.%s" % service, str(port)],
            stdin=theirs, stdout=theirs, stderr=subprocess.PIPE)
        theirs.close()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # the server's certificate is self-signed
        ours.settimeout(TIMEOUT)
        try:
            self.tls = ctx.wrap_socket(ours)
        except (OSError, ssl.SSLError) as e:
            self.proc.kill()
            err = self.proc.communicate()[1].decode(errors="replace").strip()
            raise Trouble("no TLS session with tasks.%s:%d: %s%s" % (service, port, e, "; " + err if err else ""))
        self.buf = b""
        self.deadline = time.monotonic() + TIMEOUT

    def send(self, kind, payload):
        self.tls.sendall(struct.pack(">HI", kind, len(payload)) + payload)

    def recv(self):
        while len(self.buf) < 6 or len(self.buf) < 6 + struct.unpack(">I", self.buf[2:6])[0]:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise Trouble("the server said nothing more for %.0f s" % TIMEOUT)
            self.tls.settimeout(left)
            try:
                chunk = self.tls.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                raise Trouble("the server closed the connection")
            self.buf += chunk
        kind, n = struct.unpack(">HI", self.buf[:6])
        payload, self.buf = self.buf[6:6 + n], self.buf[6 + n:]
        return kind, payload

    def close(self):
        try:
            self.tls.unwrap()
        except (OSError, ssl.SSLError, ValueError):
            pass
        self.tls.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def connect(stack, service, port, user, password=None):
    """Log in; returns (client, what the server said up to ServerSync)."""
    c = Client(stack, service, port)
    # Version: 1.3.4 as major<<16 | minor<<8 | patch.
    c.send(VERSION, field_varint(1, 1 << 16 | 3 << 8 | 4) + field_bytes(2, "ccci") +
           field_bytes(3, "Linux") + field_bytes(4, "ccci-test"))
    auth = field_bytes(1, user)
    if password is not None:
        auth += field_bytes(2, password)
    c.send(AUTHENTICATE, auth + field_varint(5, 1))  # opus: true
    said = {"version": None, "channels": {}, "users": {}, "session": None, "welcome_text": None, "messages": []}
    while True:
        kind, payload = c.recv()
        f = parse(payload)
        said["messages"].append(NAMES.get(kind, str(kind)))
        if kind == VERSION:
            v = first(f, 1, 0)
            said["version"] = {"version": "%d.%d.%d" % (v >> 16, v >> 8 & 0xFF, v & 0xFF),
                               "release": text(f, 2), "os": text(f, 3)}
        elif kind == REJECT:
            c.close()
            raise Refused("the server rejected %s: %s %s" % (user, REJECT_TYPES.get(first(f, 1, 0)), text(f, 2)))
        elif kind == CHANNELSTATE:
            track_channel(said, f)
        elif kind == USERSTATE:
            s = first(f, 1)
            said["users"].setdefault(s, {}).update(
                {k: v for k, v in (("name", text(f, 3, None)), ("channel", first(f, 5))) if v is not None})
        elif kind == SERVERSYNC:
            said["session"] = first(f, 1)
            said["welcome_text"] = text(f, 3)
            return c, said


def track_channel(said, f):
    cid = first(f, 1)
    ch = said["channels"].setdefault(cid, {"id": cid})
    if 2 in f:
        ch["parent"] = first(f, 2)
    if 3 in f:
        ch["name"] = text(f, 3)


class Refused(Exception):
    """The server said no (exit 1)."""


def admin_password(stack, service):
    pw = docker("exec", container(stack, service), "cat", "/run/secrets/admin_password").strip()
    if not pw:
        raise Trouble("the admin_password secret is empty")
    return pw


def channel_id(said, name):
    return next((c["id"] for c in said["channels"].values() if c.get("name") == name), None)


def await_reply(c, said, done):
    """Read until done(kind, fields) is true; PermissionDenied is a refusal."""
    while True:
        kind, payload = c.recv()
        f = parse(payload)
        if kind == PERMISSIONDENIED:
            raise Refused("permission denied: %s" % (text(f, 4) or "type %s" % first(f, 5)))
        if kind == CHANNELSTATE:
            track_channel(said, f)
        if done(kind, f):
            return


def main(argv):
    stack = os.environ.get("CCCI_STACK") or sys.exit("_mumble.py: CCCI_STACK is not set")
    service = os.environ.get("MUMBLE_SERVICE", "app")
    port = int(os.environ.get("MUMBLE_PORT", "64738"))
    if len(argv) < 1 or argv[0] not in ("info", "has", "create", "remove") or (argv[0] != "info") != (len(argv) == 2):
        print(__doc__.split("\n\n")[3], file=sys.stderr)
        return 2
    cmd, name = argv[0], (argv[1] if len(argv) == 2 else None)
    guest = "ccci-%s" % secrets.token_hex(4)
    try:
        if cmd in ("info", "has"):
            c, said = connect(stack, service, port, guest)
            c.close()
            if cmd == "info":
                said["user"] = guest
                said["channels"] = sorted(said["channels"].values(), key=lambda c: c["id"])
                said["users"] = [dict(u, session=s) for s, u in sorted(said["users"].items())]
                print(json.dumps(said))
                return 0
            cid = channel_id(said, name)
            print("channel %s %s" % (name, "exists (id %d)" % cid if cid is not None else "is missing"))
            return 0 if cid is not None else 1
        c, said = connect(stack, service, port, "SuperUser", admin_password(stack, service))
        try:
            cid = channel_id(said, name)
            if cmd == "create":
                if cid is None:
                    c.send(CHANNELSTATE, field_varint(2, 0) + field_bytes(3, name) + field_varint(8, 0))
                    await_reply(c, said, lambda k, f: k == CHANNELSTATE and text(f, 3) == name)
                    cid = channel_id(said, name)
                print("channel %s exists (id %d)" % (name, cid))
            else:
                if cid is not None:
                    c.send(CHANNELREMOVE, field_varint(1, cid))
                    await_reply(c, said, lambda k, f: k == CHANNELREMOVE and first(f, 1) == cid)
                print("channel %s is gone" % name)
        finally:
            c.close()
        return 0
    except Refused as e:
        print("_mumble.py: %s" % e, file=sys.stderr)
        return 1
    except (Trouble, OSError, ssl.SSLError, subprocess.TimeoutExpired) as e:
        print("_mumble.py: %s" % e, file=sys.stderr)
        return 99


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
