#!/usr/bin/env python3
"""Protobuf through a real registry (Apicurio) and a real broker, checked
both ways against confluent-kafka's ProtobufSerializer and
ProtobufDeserializer (PyPI, tests/registry/venv.sh):

- what confluent writes (its schema registered as a base64
  FileDescriptorProto, the well-known Timestamp imported, not referred to)
  kconsume reads as Protobuf's canonical JSON: nested messages, repeated
  fields, a oneof, an enum, bytes, int64 as strings, a Timestamp in RFC 3339;
  a nested message type is found through the message indexes; a schema
  that imports another file of the project's, registered by confluent as a
  reference, is resolved;
- kproduce --value-format protobuf --schema order.proto (.proto text)
  writes what ProtobufDeserializer reads back as the same messages, and
  kconsume reads it too; a line with an unknown field is bad input (65).
"""
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kafka"))
from kafkatest import BROKERS, RUN_ID, check, create_topic, finish, make_tmp, need, sh  # noqa: E402

from confluent_kafka import Consumer, Producer  # noqa: E402
from confluent_kafka.schema_registry import SchemaRegistryClient  # noqa: E402
from confluent_kafka.schema_registry.protobuf import ProtobufDeserializer, ProtobufSerializer  # noqa: E402
from confluent_kafka.serialization import MessageField, SerializationContext  # noqa: E402
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2  # noqa: E402

REGISTRY = os.environ.get("KPIPE_REGISTRY", "http://127.0.0.1:24081/apis/ccompat/v7")
R = f"--registry {REGISTRY}"
sr = SchemaRegistryClient({"url": REGISTRY})
TMP = make_tmp("protobuf")
PKG = f"demo{os.getpid()}"  # one package per run: the default pool keeps what it saw

PROTO = f"""syntax = "proto3";
package {PKG};
import "google/protobuf/timestamp.proto";

message Order {{
  message Customer {{
    string name = 1;
    int32 tier = 2;
  }}
  enum Status {{
    NEW = 0;
    PAID = 1;
  }}
  string id = 1;
  int64 cents = 2;
  repeated string tags = 3;
  Customer customer = 4;
  oneof payment {{
    string card = 5;
    string iban = 6;
  }}
  Status status = 7;
  google.protobuf.Timestamp at = 8;
  bytes blob = 9;
  double ratio = 10;
}}
"""

# The same file as a descriptor, built by hand (no protoc needed).
F = descriptor_pb2.FieldDescriptorProto
fdp = descriptor_pb2.FileDescriptorProto(name=f"{PKG}/order.proto", package=PKG, syntax="proto3",
                                         dependency=["google/protobuf/timestamp.proto"])
order = fdp.message_type.add(name="Order")
cust = order.nested_type.add(name="Customer")
cust.field.add(name="name", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
cust.field.add(name="tier", number=2, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL)
status = order.enum_type.add(name="Status")
status.value.add(name="NEW", number=0)
status.value.add(name="PAID", number=1)
order.oneof_decl.add(name="payment")
for name, num, typ, extra in [("id", 1, F.TYPE_STRING, {}), ("cents", 2, F.TYPE_INT64, {}),
                              ("tags", 3, F.TYPE_STRING, {"label": F.LABEL_REPEATED}),
                              ("customer", 4, F.TYPE_MESSAGE, {"type_name": f".{PKG}.Order.Customer"}),
                              ("card", 5, F.TYPE_STRING, {"oneof_index": 0}),
                              ("iban", 6, F.TYPE_STRING, {"oneof_index": 0}),
                              ("status", 7, F.TYPE_ENUM, {"type_name": f".{PKG}.Order.Status"}),
                              ("at", 8, F.TYPE_MESSAGE, {"type_name": ".google.protobuf.Timestamp"}),
                              ("blob", 9, F.TYPE_BYTES, {}), ("ratio", 10, F.TYPE_DOUBLE, {})]:
    order.field.add(name=name, number=num, type=typ, label=extra.pop("label", F.LABEL_OPTIONAL), **extra)
pool = descriptor_pool.Default()
pool.Add(fdp)
Order = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.Order"))
Customer = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.Order.Customer"))


def msg(**kw):
    m = Order()
    at = kw.pop("at", None)
    cust = kw.pop("customer", None)
    for k, v in kw.items():
        if isinstance(v, list):
            getattr(m, k).extend(v)
        else:
            setattr(m, k, v)
    if at is not None:
        m.at.FromJsonString(at)
    if cust is not None:
        m.customer.CopyFrom(Customer(**cust))
    return m


ann = msg(id="o1", cents=9007199254740993, tags=["a", "b"], customer={"name": "ann", "tier": 2}, card="4111",
          status=1, at="2024-11-24T09:40:00Z", blob=b"\x00\xff", ratio=0.5)
bob = msg(id="o2", cents=-5, iban="NL00", at="2024-11-24T09:40:01.500Z")
want_ann = {"id": "o1", "cents": "9007199254740993", "tags": ["a", "b"], "customer": {"name": "ann", "tier": 2},
            "card": "4111", "status": "PAID", "at": "2024-11-24T09:40:00Z", "blob": "AP8=", "ratio": 0.5}
want_bob = {"id": "o2", "cents": "-5", "tags": [], "iban": "NL00", "status": "NEW",
            "at": "2024-11-24T09:40:01.500Z", "blob": "", "ratio": 0}


def lines(out):
    return [json.loads(line) for line in out.decode().splitlines() if not line.startswith('{"@kpipe"')]


def consume(topic, n):
    de = ProtobufDeserializer(Order, {"use.deprecated.format": False})
    c = Consumer({"bootstrap.servers": BROKERS, "group.id": f"pb-{RUN_ID}-{topic}", "auto.offset.reset": "earliest"})
    c.subscribe([topic])
    out = []
    for _ in range(60):
        if len(out) >= n:
            break
        m = c.poll(1)
        if m is None or m.error():
            continue
        out.append(de(m.value(), SerializationContext(topic, MessageField.VALUE)))
    c.close()
    return out


# ---- confluent writes, kconsume reads ----
T1 = f"pb-in-{RUN_ID}"
create_topic(T1, 1)
ser = ProtobufSerializer(Order, sr, {"use.deprecated.format": False})
p = Producer({"bootstrap.servers": BROKERS})
for m in (ann, bob):
    p.produce(T1, value=ser(m, SerializationContext(T1, MessageField.VALUE)))
need(p.flush(20) == 0, "confluent producer flushed")
out, err = sh(f"kconsume -e {R} {T1}")
got = lines(out)
check(got == [want_ann, want_bob], f"kconsume decodes confluent's Protobuf:\n{got}\n{[want_ann, want_bob]}")

# A nested message type, named by the message indexes [0, 0].
T2 = f"pb-nested-{RUN_ID}"
create_topic(T2, 1)
cser = ProtobufSerializer(Customer, sr, {"use.deprecated.format": False})
p.produce(T2, value=cser(Customer(name="cy", tier=3), SerializationContext(T2, MessageField.VALUE)))
p.flush(20)
out, _ = sh(f"kconsume -e {R} {T2}")
check(lines(out) == [{"name": "cy", "tier": 3}], f"a nested message by its indexes: {out}")

# A schema that imports another file of the project's: confluent registers
# the imported file under a subject of its own and refers to it.
money = descriptor_pb2.FileDescriptorProto(name=f"{PKG}/money.proto", package=PKG, syntax="proto3")
mm = money.message_type.add(name="Money")
mm.field.add(name="cents", number=1, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
mm.field.add(name="currency", number=2, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
pay = descriptor_pb2.FileDescriptorProto(name=f"{PKG}/pay.proto", package=PKG, syntax="proto3",
                                         dependency=[f"{PKG}/money.proto"])
pm = pay.message_type.add(name="Payment")
pm.field.add(name="id", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
pm.field.add(name="amount", number=2, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL, type_name=f".{PKG}.Money")
pool.Add(money)
pool.Add(pay)
Payment = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.Payment"))
Money = message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PKG}.Money"))
T4 = f"pb-ref-{RUN_ID}"
create_topic(T4, 1)
pser = ProtobufSerializer(Payment, sr, {"use.deprecated.format": False})
p.produce(T4, value=pser(Payment(id="p1", amount=Money(cents=250, currency="EUR")),
                         SerializationContext(T4, MessageField.VALUE)))
p.flush(20)
check(any(r.name == f"{PKG}/money.proto" for r in sr.get_latest_version(f"{T4}-value").schema.references),
      "confluent registered the import as a reference")
out, _ = sh(f"kconsume -e {R} {T4}")
check(lines(out) == [{"id": "p1", "amount": {"cents": "250", "currency": "EUR"}}], f"a reference resolved: {out}")

# ---- kproduce writes (.proto text), confluent and kconsume read ----
proto_file = os.path.join(TMP, "order.proto")
with open(proto_file, "w") as f:
    f.write(PROTO)
T3 = f"pb-out-{RUN_ID}"
create_topic(T3, 1)
rows = [dict(want_ann, cents=9007199254740993), want_bob]
sh(f"kproduce -q -t {T3} {R} --value-format protobuf --schema {proto_file}",
   stdin="".join(json.dumps(r) + "\n" for r in rows).encode())
back = consume(T3, 2)
check(back == [ann, bob], f"confluent reads kproduce's Protobuf: {back}")
out, _ = sh(f"kconsume -e {R} {T3}")
check(lines(out) == [want_ann, want_bob], f"kconsume reads kproduce's Protobuf: {out}")
_, err = sh(f"kproduce -t {T3} {R} --value-format protobuf", want=65, stdin=b'{"id":"x","colour":"red"}\n')
check("stdin:1: schema " + T3 + "-value:" in err and "colour" in err, f"an unknown field is bad input: {err}")
# A null element of a repeated field is bad input, as Protobuf's JSON
# mapping says (libprotobuf's C++ parser dropped it); a null field is its
# default.
_, err = sh(f"kproduce -t {T3} {R} --value-format protobuf", want=65, stdin=b'{"id":"x","tags":["a",null]}\n')
check(".tags[1]: null is not allowed here" in err, f"a null in a repeated field: {err}")
sh(f"kproduce -q -t {T3} {R} --value-format protobuf", stdin=b'{"id":"y","customer":null,"tags":null}\n')
bad_proto = os.path.join(TMP, "bad.proto")
with open(bad_proto, "w") as f:
    f.write('syntax = "proto3";\nmessage X {\n  string id = ;\n}\n')
_, err = sh(f"kproduce -t {T3}-bad {R} --value-format protobuf --schema {bad_proto}", want=2, stdin=b"{}\n")
check("bad.proto: Protobuf schema" in err and "line 3" in err, f"a .proto that does not parse: {err}")

finish()
