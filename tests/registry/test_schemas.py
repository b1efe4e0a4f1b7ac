#!/usr/bin/env python3
"""Schemas through a real registry (Apicurio, tests/registry/registry.sh) and
a real broker, checked both ways against an independent client: the
serializers of confluent-kafka (Python, from PyPI, in the test virtualenv
that tests/registry/venv.sh makes).

- Avro written by confluent's AvroSerializer (records, nested records,
  unions, arrays, maps, enums, bytes, fixed, decimal, timestamp-millis)
  comes out of kconsume as kpipe's JSON mapping; kproduce --value-format
  avro writes what AvroDeserializer reads back as the same values; keys too.
- JSON Schema both ways; a line that does not fit is bad input (65) naming
  the path.
- Evolution under BACKWARD: an optional field passes, a required one is
  refused (exit 1, with --check-only too) before anything is written, and
  records of both versions decode; under FORWARD, removing a field old
  readers need is refused.
- An envelope carries value_schema_id: kconsume --envelope | kproduce
  --envelope copies Avro to another topic, re-encoded by the same id.
- A 3-partition Avro topic produced unevenly, one partition after the
  other and a little out of order: kconsume --envelope | kwindow, and
  kwindow on the kafka: input, give the windows of an independent count and
  no record late.
- kagg and kwindow (its event time a timestamp-millis) read an Avro kafka:
  input; kagg writes its rows and keys to a
  kafka: output in Avro (--value-format, --key-format) that confluent reads;
  a row that does not fit the output's schema stops it (1).
- An unknown schema id and a truncated payload: 65; a registry that is
  down: 1; credentials in the registry's URL never printed.
- Basic auth, through a proxy that wants it: --registry-auth, or
  basic.auth.user.info in a configuration file (-F); never printed by -v.
  The same over https with a throwaway CA (schema.registry.ssl.ca.location);
  without the CA, status 1 naming the certificate.
"""
import datetime
import json
import os
import sys
from decimal import Decimal

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka"))
from kafkatest import BROKERS, RUN_ID, check, create_topic, finish, make_tmp, need, sh  # noqa: E402

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.schema_registry.json_schema import JSONDeserializer, JSONSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402

REGISTRY = os.environ.get("KPIPE_REGISTRY", "http://127.0.0.1:24081/apis/ccompat/v7")
sr = SchemaRegistryClient({"url": REGISTRY})
TMP = make_tmp("schemas")
R = f"--registry {REGISTRY}"
UTC = datetime.timezone.utc


def write_file(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def produce(topic, values, ser, keys=None, key_ser=None):
    p = Producer({"bootstrap.servers": BROKERS})
    for i, v in enumerate(values):
        k = None
        if keys is not None:
            k = key_ser(keys[i], SerializationContext(topic, MessageField.KEY)) if key_ser else keys[i]
        p.produce(topic, key=k, value=ser(v, SerializationContext(topic, MessageField.VALUE)))
    need(p.flush(20) == 0, f"confluent producer flushed {topic}")


def consume(topic, n, de, key_de=None):
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"sr-{RUN_ID}-{topic}",
                  "auto.offset.reset": "earliest", "isolation.level": "read_committed"})
    c.subscribe([topic])
    out = []
    deadline = datetime.datetime.now() + datetime.timedelta(seconds=30)
    while len(out) < n and datetime.datetime.now() < deadline:
        m = c.poll(1)
        if m is None or m.error():
            continue
        v = de(m.value(), SerializationContext(topic, MessageField.VALUE))
        k = key_de(m.key(), SerializationContext(topic, MessageField.KEY)) if key_de else m.key()
        out.append((k, v))
    c.close()
    return out


def lines(out):
    return [json.loads(line) for line in out.decode().splitlines() if not line.startswith('{"@kpipe"')]


# ---- Avro: confluent writes, kconsume reads ----
EVENT = {
    "type": "record", "name": "Event", "namespace": "demo",
    "fields": [
        {"name": "user", "type": "string"},
        {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "props", "type": {"type": "map", "values": "long"}},
        {"name": "maybe", "type": ["null", "string"], "default": None},
        {"name": "choice", "type": ["null", "long", "string", {"type": "record", "name": "Point", "fields": [
            {"name": "x", "type": "double"}, {"name": "y", "type": "float"}]}]},
        {"name": "kind", "type": {"type": "enum", "name": "Kind", "symbols": ["CLICK", "VIEW"]}},
        {"name": "raw", "type": "bytes"},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 4}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "ok", "type": "boolean"},
        {"name": "where", "type": "Point"},
    ],
}
event_file = write_file("event.avsc", json.dumps(EVENT))
ann = {"user": "ann", "amount": Decimal("12.34"), "tags": ["a", "b"], "props": {"n": 1, "m": -2},
       "maybe": None, "choice": 7, "kind": "CLICK", "raw": b"\x00\xff\x10", "hash": b"abcd",
       "at": datetime.datetime(2024, 11, 24, 9, 40, tzinfo=UTC), "ok": True,
       "where": {"x": 1.5, "y": -0.25}}
bob = {"user": "bøb \"q\"\n", "amount": Decimal("-0.05"), "tags": [], "props": {}, "maybe": "yes",
       "choice": {"x": 2.0, "y": 3.5}, "kind": "VIEW", "raw": b"", "hash": b"\x00\x01\x02\x03",
       "at": datetime.datetime(2024, 11, 24, 9, 41, 0, 5000, tzinfo=UTC), "ok": False,
       "where": {"x": -1e300, "y": 0.0}}
cy = dict(ann, user="cy", choice="s", amount=Decimal("-1234567.89"))
want_ann = {"user": "ann", "amount": 12.34, "tags": ["a", "b"], "props": {"n": 1, "m": -2}, "maybe": None,
            "choice": 7, "kind": "CLICK", "raw": "\u0000\u00ff\u0010", "hash": "abcd", "at": 1732441200000,
            "ok": True, "where": {"x": 1.5, "y": -0.25}}
want_bob = {"user": "bøb \"q\"\n", "amount": -0.05, "tags": [], "props": {}, "maybe": "yes",
            "choice": {"x": 2, "y": 3.5}, "kind": "VIEW", "raw": "", "hash": "\u0000\u0001\u0002\u0003",
            "at": 1732441260005, "ok": False, "where": {"x": -1e300, "y": 0}}
want_cy = dict(want_ann, user="cy", choice="s", amount=-1234567.89)

T1 = f"sr-avro-in-{RUN_ID}"
create_topic(T1, 1)
produce(T1, [ann, bob, cy], AvroSerializer(sr, json.dumps(EVENT)), keys=["k1", "k2", "k3"],
        key_ser=AvroSerializer(sr, '"string"'))
out, _ = sh(f"kconsume -e {R} {T1}")
check(lines(out) == [want_ann, want_bob, want_cy], f"kconsume decodes confluent's Avro: {out.decode()}")
# The decimal comes out with its exact digits, not a binary float's.
check(b'"amount":-1234567.89,' in out and b'"amount":12.34,' in out, "decimals exact")
out, _ = sh(f"kconsume -e --envelope {R} {T1}")
env = lines(out)
ids = {e["value_schema_id"] for e in env}
check(len(ids) == 1 and env[0]["key"] == "k1" and isinstance(env[0]["key_schema_id"], int)
      and env[0]["value"] == want_ann, f"envelope with schema ids: {env[:1]}")
check(list(ids)[0] == sr.get_latest_version(f"{T1}-value").schema_id, "value_schema_id is the registry's id")

# ---- Avro: kproduce writes, confluent reads ----
T2 = f"sr-avro-out-{RUN_ID}"
create_topic(T2, 1)
rows = [dict(want_ann, amount="12.34"), want_bob, dict(want_cy, amount="-1234567.89")]
key_file = write_file("key.avsc", '"string"')
sh(f"kproduce -q -t {T2} {R} --value-format avro --schema {event_file} -k user --key-format avro "
   f"--key-schema {key_file}", stdin="".join(json.dumps(r) + "\n" for r in rows).encode())
got = consume(T2, 3, AvroDeserializer(sr), key_de=AvroDeserializer(sr))
check([k for k, _ in got] == ["ann", "bøb \"q\"\n", "cy"], f"keys read by confluent: {[k for k, _ in got]}")
check([v for _, v in got] == [ann, bob, cy], f"values read by confluent: {got}")
# Without --schema: the subject's latest version; a line that does not fit is bad input.
out, err = sh(f"kproduce -t {T2} {R} --value-format avro", want=65,
              stdin=b'{"user":"x","amount":1.234}\n')
check("stdin:1: schema " + T2 + "-value: .amount: 1.234 has more than 2 digits after the point" in err, err)
out, err = sh(f"kproduce -t {T2} {R} --value-format avro --dead-letter {TMP}/dead.jsonl", want=0,
              stdin=(json.dumps(dict(want_ann, kind="GOLD")) + "\n" + json.dumps(rows[0]) + "\n").encode())
dead = [json.loads(line) for line in open(f"{TMP}/dead.jsonl")]
check(len(dead) == 1 and ".kind: \"GOLD\" is not a symbol of enum demo.Kind" in dead[0]["error"], f"dead letter: {dead}")

# ---- JSON Schema both ways ----
JS = {"$schema": "http://json-schema.org/draft-07/schema#", "title": "Click", "type": "object",
      "properties": {"user": {"type": "string"}, "n": {"type": "integer", "minimum": 0}},
      "required": ["user", "n"], "additionalProperties": False}
js_file = write_file("click.json", json.dumps(JS))
T3 = f"sr-json-{RUN_ID}"
create_topic(T3, 1)
produce(T3, [{"user": "ann", "n": 1}, {"user": "bob", "n": 2}], JSONSerializer(json.dumps(JS), sr))
out, _ = sh(f"kconsume -e {R} {T3}")
check(lines(out) == [{"user": "ann", "n": 1}, {"user": "bob", "n": 2}], f"kconsume decodes JSON Schema: {out}")
sh(f"kproduce -q -t {T3} {R} --value-format json --schema {js_file}", stdin=b'{"user":"cy","n":3}\n')
got = consume(T3, 3, JSONDeserializer(json.dumps(JS)))
check([v for _, v in got][2:] == [{"user": "cy", "n": 3}], f"confluent reads kproduce's JSON Schema: {got}")
_, err = sh(f"kproduce -t {T3} {R} --value-format json", want=65, stdin=b'{"user":"d","n":-1}\n')
check("stdin:1: schema " + T3 + "-value: /n: minimum" in err, f"JSON Schema refusal names the path: {err}")
# A number read as the nearest double is not encoded as if it were the one written.
_, err = sh(f"kproduce -t {T3} {R} --value-format json", want=65, stdin=b'{"user":"e","n":123456789012345678901}\n')
check("stdin:1: a number beyond 64 bits" in err, f"a number beyond 64 bits is refused by an encoder: {err}")
# A JSON Schema payload is the value's text, minified: numbers keep their
# digits, which a double does not hold.
jsn_file = write_file("num.json", json.dumps({"type": "object", "properties": {"x": {"type": "number"}}}))
create_topic(f"{T3}-num", 1)
sh(f"kproduce -q -t {T3}-num {R} --value-format json --schema {jsn_file}", stdin=b'{"x": 12345678901234567.5}\n')
out, _ = sh(f"kconsume -q -e {R} {T3}-num")
check(out == b'{"x":12345678901234567.5}\n', f"a JSON Schema payload keeps its digits: {out!r}")

# ---- evolution under BACKWARD ----
sh(f"curl -sf -XPUT -H 'Content-Type: application/json' {REGISTRY}/config/{T2}-value "
   "-d '{\"compatibility\":\"BACKWARD\"}'")
v2 = json.loads(json.dumps(EVENT))
v2["fields"].append({"name": "country", "type": ["null", "string"], "default": None})
v3 = json.loads(json.dumps(EVENT))
v3["fields"].append({"name": "country", "type": "string"})
v2_file, v3_file = write_file("v2.avsc", json.dumps(v2)), write_file("v3.avsc", json.dumps(v3))
_, err = sh(f"kproduce -t {T2} {R} --value-format avro --schema {v3_file} --check-only", want=1)
check("not compatible with the latest version of subject " + T2 + "-value (BACKWARD)" in err, err)
sh(f"kproduce -t {T2} {R} --value-format avro --schema {v2_file} --check-only")
_, err = sh(f"kproduce -t {T2} {R} --value-format avro --schema {v3_file}", want=1,
            stdin=(json.dumps(dict(rows[0], country="NL")) + "\n").encode())
check("not compatible" in err, f"a refused schema stops kproduce before it writes: {err}")
sh(f"kproduce -q -t {T2} {R} --value-format avro --schema {v2_file}",
   stdin=(json.dumps(dict(rows[0], country="NL")) + "\n").encode())
out, _ = sh(f"kconsume -e {R} {T2}")
got = lines(out)
check(len(got) == 5 and "country" not in got[0] and got[4]["country"] == "NL" and got[4]["user"] == "ann",
      f"records of both versions decode: {got}")

# ---- envelope: a copy re-encoded by the same ids; kagg over Avro ----
T4 = f"sr-copy-{RUN_ID}"
create_topic(T4, 1)
sh(f"kconsume -e --envelope {R} {T1} | kproduce -q --envelope -t {T4} {R}")
got = consume(T4, 3, AvroDeserializer(sr), key_de=AvroDeserializer(sr))
check(got == [("k1", ann), ("k2", bob), ("k3", cy)], f"envelope copy keeps Avro: {got}")
_, err = sh(f"kconsume -e --envelope {R} {T1} | KPIPE_REGISTRY= kproduce --envelope -t {T4}", want=65)
check("schema id" in err and "encoding by it needs a schema registry" in err, f"ids without a registry: {err}")
out, _ = sh(f"kagg --by kind -a count --until end {R} --no-control kafka:{T1}")
check(sorted(out.decode().splitlines()) == ['{"kind":"CLICK","count":2}', '{"kind":"VIEW","count":1}'],
      f"kagg over an Avro kafka: input: {out}")
# kwindow too, its event time a timestamp-millis field of the Avro records.
out, _ = sh(f"kwindow --tumble 1h --time at --by kind -a count --until end {R} --no-control kafka:{T1}")
check(sorted(out.decode().splitlines()) ==
      ['{"window_start":1732438800000,"window_end":1732442400000,"kind":"CLICK","count":2}',
       '{"window_start":1732438800000,"window_end":1732442400000,"kind":"VIEW","count":1}'],
      f"kwindow over an Avro kafka: input: {out}")

# ---- composed as users compose: a 3-partition Avro topic produced
# unevenly (60, 20 and 5 records), one partition after the other, each a
# little out of order; through kconsume | kwindow and as a kafka: input,
# the same windows and no record late ----
import random  # noqa: E402

T10 = f"sr-parts-{RUN_ID}"
create_topic(T10, 3)
rnd = random.Random(11)
base = 1732441200000
want_counts = {}
sent = []
for part, n in ((0, 60), (1, 20), (2, 5)):
    for j in range(n):
        at = base + j * 3000 + rnd.randrange(-1500, 1500)
        kind = rnd.choice(["CLICK", "VIEW"])
        sent.append((part, dict(ann, kind=kind, at=datetime.datetime.fromtimestamp(at / 1000, UTC))))
        w = at - at % 60000
        want_counts[(w, kind)] = want_counts.get((w, kind), 0) + 1
pser = AvroSerializer(sr, json.dumps(EVENT))
pp = Producer({"bootstrap.servers": BROKERS})
for part, rec in sent:
    pp.produce(T10, partition=part, value=pser(rec, SerializationContext(T10, MessageField.VALUE)))
need(pp.flush(20) == 0, "produced the 3-partition topic")
kw = "kwindow --tumble 1m --time at --max-delay 5s --by kind -a count --no-control"


def window_counts(out):
    return {(r["window_start"], r["kind"]): r["count"] for r in lines(out)}


out, err = sh(f"kconsume -e --envelope {R} {T10} | {kw}")
check(window_counts(out) == want_counts and "85 records in" in err and ", 0 late," in err,
      f"kconsume --envelope | kwindow over 3 uneven Avro partitions: {err} {out[:300]}")
out, err = sh(f"{kw} --until end {R} kafka:{T10}")
check(window_counts(out) == want_counts and "85 records in" in err and ", 0 late," in err,
      f"kwindow over a 3-partition Avro kafka: input: {err} {out[:300]}")

# ---- rows to kafka: in the wire format ----
T7 = f"sr-agg-out-{RUN_ID}"
create_topic(T7, 1)
AGG = {"type": "record", "name": "KindCount", "fields": [{"name": "kind", "type": "string"},
                                                         {"name": "count", "type": "long"}]}
AGGKEY = {"type": "record", "name": "KindKey", "fields": [{"name": "kind", "type": "string"}]}
agg_file, aggkey_file = write_file("agg.avsc", json.dumps(AGG)), write_file("aggkey.avsc", json.dumps(AGGKEY))
sh(f"kagg -q --by kind -a count --until end {R} --output kafka:{T7} --value-format avro --schema {agg_file} "
   f"--key-format avro --key-schema {aggkey_file} kafka:{T1}")
got = consume(T7, 2, AvroDeserializer(sr), key_de=AvroDeserializer(sr))
check(sorted(got, key=lambda kv: kv[0]["kind"]) == [({"kind": "CLICK"}, {"kind": "CLICK", "count": 2}),
                                                     ({"kind": "VIEW"}, {"kind": "VIEW", "count": 1})],
      f"kagg's rows and keys in Avro, read by confluent: {got}")
_, err = sh(f"kagg --by kind -a count --value-format avro {R}", want=2, stdin=b"")
check("--value-format and --key-format need --output kafka:TOPIC" in err, err)
BAD = {"type": "record", "name": "KindTotal", "fields": [{"name": "kind", "type": "string"},
                                                         {"name": "total", "type": "long"}]}
_, err = sh(f"kagg --by kind -a count --until end {R} --output kafka:{T7} --value-format avro "
            f"--subject {T7}-other --schema {write_file('bad.avsc', json.dumps(BAD))} kafka:{T1}", want=1)
check("a row does not fit the value schema of the output: schema " + T7 + "-other: .count: not a field of record KindTotal"
      in err, f"a row that does not fit: {err}")
check(" 0 rows out" in err, f"a row its schema refused is not counted out: {err}")

# ---- basic auth: a proxy in front of the registry that wants kp:s3cret ----
import base64  # noqa: E402
import http.server  # noqa: E402
import threading  # noqa: E402
import urllib.request  # noqa: E402

WANT = "Basic " + base64.b64encode(b"kp:s3cret").decode()
SEEN = []


class Proxy(http.server.BaseHTTPRequestHandler):
    def forward(self):
        SEEN.append(self.headers.get("Authorization"))
        if self.headers.get("Authorization") != WANT:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="registry"')
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)) or None
        base = REGISTRY.split("/apis/")[0]
        req = urllib.request.Request(base + self.path, data=body, method=self.command,
                                     headers={"Content-Type": self.headers.get("Content-Type", "application/json")})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                code, data = r.status, r.read()
        except urllib.error.HTTPError as e:
            code, data = e.code, e.read()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = forward

    def log_message(self, *args):
        pass


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
threading.Thread(target=server.serve_forever, daemon=True).start()
AUTHED = f"http://127.0.0.1:{server.server_address[1]}/apis/ccompat/v7"
out, _ = sh(f"kconsume -e --registry {AUTHED} --registry-auth kp:s3cret {T1}")
check(lines(out) == [want_ann, want_bob, want_cy], f"through basic auth: {out[:200]}")
check(SEEN and all(a == WANT for a in SEEN), f"credentials sent: {SEEN}")
_, err = sh(f"kconsume -e --registry {AUTHED} {T1}", want=1)
check("not authorized (HTTP 401)" in err and "s3cret" not in err, f"no credentials: {err}")
props = write_file("client.properties", f"schema.registry.url={AUTHED}\nbasic.auth.credentials.source=USER_INFO\n"
                   "basic.auth.user.info=kp:s3cret\n")
out, err = sh(f"KPIPE_REGISTRY= kconsume -e -v -F {props} {T1}")
check(lines(out) == [want_ann, want_bob, want_cy], "registry and credentials from a configuration file")
check("s3cret" not in err and "basic.auth.user.info=[redacted]" in err, f"-v hides the credentials: {err[:300]}")

# The same over https, with a throwaway CA given by schema.registry.ssl.ca.location.
import ssl  # noqa: E402
import subprocess  # noqa: E402

ca_key, ca, key, csr, crt = (os.path.join(TMP, n) for n in ("ca.key", "ca.pem", "srv.key", "srv.csr", "srv.pem"))
san = write_file("san.ext", "subjectAltName=IP:127.0.0.1\n")
for cmd in (["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=kpipe test CA",
             "-keyout", ca_key, "-out", ca],
            ["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", csr],
            ["openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial", "-days", "2",
             "-extfile", san, "-out", crt]):
    need(subprocess.run(cmd, capture_output=True).returncode == 0, f"openssl: {cmd}")
tls = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(crt, key)
tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
threading.Thread(target=tls.serve_forever, daemon=True).start()
HTTPS = f"https://127.0.0.1:{tls.server_address[1]}/apis/ccompat/v7"
props = write_file("tls.properties", f"schema.registry.url={HTTPS}\nschema.registry.ssl.ca.location={ca}\n"
                   "basic.auth.user.info=kp:s3cret\n")
out, _ = sh(f"KPIPE_REGISTRY= kconsume -e -F {props} {T1}")
check(lines(out) == [want_ann, want_bob, want_cy], "https with the registry's CA and basic auth")
_, err = sh(f"kconsume -e --registry {HTTPS} --registry-auth kp:s3cret {T1}", want=1)
check("schema registry " + HTTPS in err and "certificate" in err.lower(), f"https without the CA: {err}")
tls.shutdown()
server.shutdown()

# ---- FORWARD: removing a field that old readers need is refused ----
T8 = f"sr-fwd-{RUN_ID}"
sh(f"curl -sf -XPUT -H 'Content-Type: application/json' {REGISTRY}/config/{T8}-value "
   "-d '{\"compatibility\":\"FORWARD\"}'")
sh(f"kproduce -q -t {T8} {R} --value-format avro --schema {event_file}", stdin=(json.dumps(rows[0]) + "\n").encode())
fewer = json.loads(json.dumps(EVENT))
fewer["fields"] = [f for f in fewer["fields"] if f["name"] != "user"]
_, err = sh(f"kproduce -t {T8} {R} --value-format avro --schema {write_file('fewer.avsc', json.dumps(fewer))} "
            "--check-only", want=1)
check(f"subject {T8}-value (FORWARD)" in err, f"removing a required field under FORWARD: {err}")

# ---- errors ----
T5 = f"sr-bad-{RUN_ID}"
create_topic(T5, 1)
p = Producer({"bootstrap.servers": BROKERS})
p.produce(T5, value=b"\x00\x00\x0f\x42\x3fxyz")  # schema id 999999
p.flush(10)
_, err = sh(f"kconsume -e {R} {T5}", want=65)
check(f"kafka:{T5}/0:0: value: schema id 999999 is not in the registry" in err, err)
# A kafka: input judges such a message bad input: named, or a dead letter
# whose raw envelope holds the message's bytes; the next message still counts.
p.produce(T5, value=b'{"n":1}')
p.flush(10)
_, err = sh(f"kagg -a count --until end {R} kafka:{T5}", want=65)
check(f"kafka:{T5}/0:0: schema id 999999 is not in the registry" in err, err)
dead = write_file("dead-registry.jsonl", "")
out, _ = sh(f"kagg -q -a count --until end {R} --dead-letter {dead} kafka:{T5}")
check(lines(out) == [{"count": 1}], f"the message after the bad one: {out}")
rows = [json.loads(l) for l in open(dead)]
check(len(rows) == 1 and rows[0]["source"] == f"kafka:{T5}/0:0" and
      json.loads(rows[0]["raw"])["value"] == "AAAPQj94eXo=", f"the dead letter: {rows}")
T6 = f"sr-trunc-{RUN_ID}"
create_topic(T6, 1)
eid = sr.get_latest_version(f"{T1}-value").schema_id
p.produce(T6, value=b"\x00" + eid.to_bytes(4, "big") + b"\x06an")
p.flush(10)
_, err = sh(f"kconsume -e {R} {T6}", want=65)
check(f"kafka:{T6}/0:0: value: schema id {eid} (Avro): .user: the datum is truncated" in err, err)
_, err = sh(f"kconsume -e --registry http://someone:s3cret@127.0.0.1:1/x {T6}", want=1)
check("schema registry http://127.0.0.1:1/x:" in err and "s3cret" not in err, f"registry down: {err}")
# -X schema.registry.url with credentials: -v does not print them either.
_, err = sh(f"KPIPE_REGISTRY= kconsume -e -v -X schema.registry.url=http://kp:s3cret@127.0.0.1:1/x {T6}", want=1)
check("s3cret" not in err and "schema.registry.url=http://[redacted]@127.0.0.1:1/x" in err, f"-v: {err[:400]}")
# A key of another serializer that starts with a zero byte (a big-endian
# long) stays as it is beside an Avro value.
T9 = f"sr-longkey-{RUN_ID}"
create_topic(T9, 1)
ser = AvroSerializer(sr, json.dumps(EVENT))
p.produce(T9, key=(7).to_bytes(8, "big"), value=ser(ann, SerializationContext(T9, MessageField.VALUE)))
p.flush(10)
out, _ = sh(f"kconsume -e --envelope {R} {T9}")
env = lines(out)
check(len(env) == 1 and env[0]["key"] == "\x00" * 7 + "\x07" and env[0]["key_encoding"] == "string"
      and env[0]["value"] == want_ann and "key_schema_id" not in env[0], f"a long key beside Avro: {env}")
# A plain JSON topic reads as before, registry or not.
sh(f"kproduce -q -t {T5}-plain", stdin=b'{"a":1}\n')
out, _ = sh(f"kconsume -e {R} {T5}-plain")
check(out == b'{"a":1}\n', f"plain JSON passes: {out}")
_, err = sh(f"KPIPE_REGISTRY= kproduce -t {T2} --value-format avro", want=2, stdin=b"{}\n")
check("--value-format and --key-format need a schema registry: --registry URL" in err, err)

finish()
