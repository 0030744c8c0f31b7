#!/usr/bin/env python3
"""Writes the MQTT golden vectors: one annotated hex file per packet.

This is a second, independent encoder written from the OASIS specs (MQTT 3.1.1
section 2-3, MQTT 5.0 sections 1.5, 2 and 3), field by field, so that each byte
of a vector carries a comment saying which spec field it is. The Rust test
`tests/mqtt_vectors.rs` builds the same packets with `junction::proto::mqtt` and
requires byte-for-byte equality (and that decoding gives the packet back).

Run from anywhere: python3 tests/vectors/mqtt/make.py
"""
import os

HERE = os.path.dirname(os.path.abspath(__file__))

PROP = {  # MQTT 5.0 section 2.2.2.2
    "PayloadFormatIndicator": 0x01, "MessageExpiryInterval": 0x02, "ContentType": 0x03,
    "ResponseTopic": 0x08, "CorrelationData": 0x09, "SubscriptionIdentifier": 0x0B,
    "SessionExpiryInterval": 0x11, "AssignedClientIdentifier": 0x12, "ServerKeepAlive": 0x13,
    "AuthenticationMethod": 0x15, "AuthenticationData": 0x16,
    "RequestProblemInformation": 0x17, "WillDelayInterval": 0x18,
    "RequestResponseInformation": 0x19, "ResponseInformation": 0x1A, "ServerReference": 0x1C,
    "ReasonString": 0x1F, "ReceiveMaximum": 0x21, "TopicAliasMaximum": 0x22, "TopicAlias": 0x23,
    "MaximumQoS": 0x24, "RetainAvailable": 0x25, "UserProperty": 0x26,
    "MaximumPacketSize": 0x27, "WildcardSubscriptionAvailable": 0x28,
    "SubscriptionIdentifierAvailable": 0x29, "SharedSubscriptionAvailable": 0x2A,
}
TYPES = {"CONNECT": 1, "CONNACK": 2, "PUBLISH": 3, "PUBACK": 4, "PUBREC": 5, "PUBREL": 6,
         "PUBCOMP": 7, "SUBSCRIBE": 8, "SUBACK": 9, "UNSUBSCRIBE": 10, "UNSUBACK": 11,
         "PINGREQ": 12, "PINGRESP": 13, "DISCONNECT": 14, "AUTH": 15}


def varint(n):
    out = []
    while True:
        b = n % 128
        n //= 128
        out.append(b | 0x80 if n else b)
        if not n:
            return bytes(out)


# A field is (bytes, comment); a packet body is a list of fields.
def u8(v, what):
    return [(bytes([v]), f"{what} = {v:#04x}")]


def u16(v, what):
    return [(v.to_bytes(2, "big"), f"{what} = {v}")]


def u32(v, what):
    return [(v.to_bytes(4, "big"), f"{what} = {v}")]


def string(s, what):
    b = s.encode("utf-8")
    return [(len(b).to_bytes(2, "big"), f"{what}: length {len(b)}")] + (
        [(b, f"  {s!r}")] if b else [])


def binary(b, what):
    return [(len(b).to_bytes(2, "big"), f"{what}: length {len(b)}")] + (
        [(b, f"  {b!r}")] if b else [])


def prop(name, kind, *v):
    pid = PROP[name]
    head = (bytes([pid]), f"property {name} ({pid:#04x})")
    if kind == "byte":
        return [head] + u8(v[0], "  value")
    if kind == "u16":
        return [head] + u16(v[0], "  value")
    if kind == "u32":
        return [head] + u32(v[0], "  value")
    if kind == "varint":
        return [head, (varint(v[0]), f"  value = {v[0]} (variable byte integer)")]
    if kind == "str":
        return [head] + string(v[0], "  value")
    if kind == "bin":
        return [head] + binary(v[0], "  value")
    if kind == "pair":
        return [head] + string(v[0], "  name") + string(v[1], "  value")
    raise ValueError(kind)


def props(*ps, what="properties"):
    fields = [f for p in ps for f in p]
    n = sum(len(b) for b, _ in fields)
    return [(varint(n), f"{what}: length {n}")] + fields


def packet(name, flags, body, flag_text="reserved 0000"):
    n = sum(len(b) for b, _ in body)
    return [(bytes([TYPES[name] << 4 | flags]), f"fixed header: {name}, flags {flag_text}"),
            (varint(n), f"remaining length {n}")] + body


def write(path, title, fields):
    with open(os.path.join(HERE, path), "w") as f:
        f.write(f"# {title}\n")
        for b, c in fields:
            f.write(f"{b.hex(' '):<23} # {c}\n")


MQTT = string("MQTT", "protocol name")


def vectors():
    v = {}
    # ---- MQTT 3.1.1 ----
    v["v311/connect_minimal"] = ("CONNECT, clean session, keep alive 60, client id 'abc'", packet(
        "CONNECT", 0, MQTT + u8(4, "protocol level (3.1.1)")
        + u8(0x02, "connect flags: clean session") + u16(60, "keep alive")
        + string("abc", "client identifier")))
    v["v311/connect_full"] = ("CONNECT with a QoS 1 retained will, user name and password", packet(
        "CONNECT", 0, MQTT + u8(4, "protocol level (3.1.1)")
        + u8(0xEC, "connect flags: user name, password, will retain, will QoS 1, will")
        + u16(30, "keep alive") + string("dev-1", "client identifier")
        + string("status/dev-1", "will topic") + binary(b"offline", "will message")
        + string("alice", "user name") + binary(b"s3cret", "password")))
    v["v311/connack_accepted"] = ("CONNACK, accepted, no session", packet(
        "CONNACK", 0, u8(0, "acknowledge flags") + u8(0, "return code: accepted")))
    v["v311/connack_refused"] = ("CONNACK, refused: not authorized", packet(
        "CONNACK", 0, u8(0, "acknowledge flags") + u8(5, "return code: not authorized")))
    v["v311/publish_qos0"] = ("PUBLISH QoS 0 to 'a/b', payload 'hi'", packet(
        "PUBLISH", 0, string("a/b", "topic name") + [(b"hi", "payload 'hi'")],
        "DUP 0, QoS 0, RETAIN 0"))
    v["v311/publish_qos1_dup_retain"] = ("PUBLISH QoS 1, DUP, RETAIN, packet id 10", packet(
        "PUBLISH", 0b1011, string("sensors/t", "topic name") + u16(10, "packet identifier")
        + [(b"\x00\xff", "payload (binary)")], "DUP 1, QoS 1, RETAIN 1"))
    v["v311/publish_qos2"] = ("PUBLISH QoS 2, packet id 65535, empty payload", packet(
        "PUBLISH", 0b0100, string("x", "topic name") + u16(65535, "packet identifier"),
        "DUP 0, QoS 2, RETAIN 0"))
    for name, flags in [("puback", 0), ("pubrec", 0), ("pubrel", 2), ("pubcomp", 0)]:
        v[f"v311/{name}"] = (f"{name.upper()}, packet id 10", packet(
            name.upper(), flags, u16(10, "packet identifier"),
            "0010 (required)" if flags else "reserved 0000"))
    v["v311/subscribe"] = ("SUBSCRIBE to 'a/+' at QoS 1 and 'b/#' at QoS 2", packet(
        "SUBSCRIBE", 2, u16(1, "packet identifier")
        + string("a/+", "topic filter") + u8(1, "requested QoS")
        + string("b/#", "topic filter") + u8(2, "requested QoS"), "0010 (required)"))
    v["v311/suback"] = ("SUBACK: QoS 1 granted, failure", packet(
        "SUBACK", 0, u16(1, "packet identifier") + u8(1, "return code: QoS 1")
        + u8(0x80, "return code: failure")))
    v["v311/unsubscribe"] = ("UNSUBSCRIBE from 'a/+'", packet(
        "UNSUBSCRIBE", 2, u16(2, "packet identifier") + string("a/+", "topic filter"),
        "0010 (required)"))
    v["v311/unsuback"] = ("UNSUBACK", packet("UNSUBACK", 0, u16(2, "packet identifier")))
    v["v311/pingreq"] = ("PINGREQ", packet("PINGREQ", 0, []))
    v["v311/pingresp"] = ("PINGRESP", packet("PINGRESP", 0, []))
    v["v311/disconnect"] = ("DISCONNECT", packet("DISCONNECT", 0, []))

    # ---- MQTT 5.0 ----
    v5 = u8(5, "protocol level (5.0)")
    v["v5/connect_minimal"] = ("CONNECT, clean start, keep alive 60, client id 'abc'", packet(
        "CONNECT", 0, MQTT + v5 + u8(0x02, "connect flags: clean start")
        + u16(60, "keep alive") + props() + string("abc", "client identifier")))
    v["v5/connect_full"] = ("CONNECT with properties, a will with properties, user, password",
                            packet("CONNECT", 0, MQTT + v5
        + u8(0xD6, "connect flags: user name, password, will QoS 2, will, clean start")
        + u16(0, "keep alive")
        + props(prop("SessionExpiryInterval", "u32", 3600),
                prop("RequestProblemInformation", "byte", 0),
                prop("ReceiveMaximum", "u16", 20),
                prop("TopicAliasMaximum", "u16", 10),
                prop("UserProperty", "pair", "region", "eu"),
                prop("MaximumPacketSize", "u32", 65536))
        + string("", "client identifier (empty: server assigns)")
        + props(prop("PayloadFormatIndicator", "byte", 1),
                prop("MessageExpiryInterval", "u32", 600),
                prop("ContentType", "str", "text/plain"),
                prop("WillDelayInterval", "u32", 5), what="will properties")
        + string("status/€", "will topic") + binary(b"gone", "will payload")
        + string("bob", "user name") + binary(b"\x00\x01", "password")))
    v["v5/connect_auth"] = ("CONNECT with enhanced authentication, no user name", packet(
        "CONNECT", 0, MQTT + v5 + u8(0x00, "connect flags: none")
        + u16(10, "keep alive")
        + props(prop("AuthenticationMethod", "str", "SCRAM-SHA-256"),
                prop("AuthenticationData", "bin", b"n,,n=u,r=abc"))
        + string("c1", "client identifier")))
    v["v5/connack_props"] = ("CONNACK, session present, with server capabilities", packet(
        "CONNACK", 0, u8(1, "acknowledge flags: session present") + u8(0, "reason: Success")
        + props(prop("SessionExpiryInterval", "u32", 120),
                prop("AssignedClientIdentifier", "str", "auto-7f"),
                prop("ServerKeepAlive", "u16", 30),
                prop("ReceiveMaximum", "u16", 100),
                prop("TopicAliasMaximum", "u16", 16),
                prop("MaximumQoS", "byte", 1),
                prop("RetainAvailable", "byte", 0),
                prop("MaximumPacketSize", "u32", 1048576),
                prop("WildcardSubscriptionAvailable", "byte", 1),
                prop("SubscriptionIdentifierAvailable", "byte", 1),
                prop("SharedSubscriptionAvailable", "byte", 0))))
    v["v5/connack_refused"] = ("CONNACK, refused: Not authorized, with a reason string", packet(
        "CONNACK", 0, u8(0, "acknowledge flags") + u8(0x87, "reason: Not authorized")
        + props(prop("ReasonString", "str", "no"))))
    v["v5/publish_props"] = ("PUBLISH QoS 0 with request/response properties", packet(
        "PUBLISH", 0b0001, string("req/x", "topic name")
        + props(prop("PayloadFormatIndicator", "byte", 1),
                prop("MessageExpiryInterval", "u32", 30),
                prop("ContentType", "str", "application/json"),
                prop("ResponseTopic", "str", "resp/x"),
                prop("CorrelationData", "bin", b"\x01\x02\x03"),
                prop("UserProperty", "pair", "k", "v"),
                prop("UserProperty", "pair", "k", "w"))
        + [(b"{}", "payload '{}'")], "DUP 0, QoS 0, RETAIN 1"))
    v["v5/publish_alias"] = ("PUBLISH QoS 1 with a topic alias and an empty topic name", packet(
        "PUBLISH", 0b0010, string("", "topic name (empty: the alias stands for it)")
        + u16(10, "packet identifier") + props(prop("TopicAlias", "u16", 3))
        + [(b"hi", "payload 'hi'")], "DUP 0, QoS 1, RETAIN 0"))
    v["v5/publish_subids"] = ("PUBLISH QoS 2 to a subscriber with two subscription identifiers",
                              packet("PUBLISH", 0b1100, string("a/b", "topic name")
        + u16(7, "packet identifier")
        + props(prop("SubscriptionIdentifier", "varint", 1),
                prop("SubscriptionIdentifier", "varint", 200))
        + [(b"x", "payload 'x'")], "DUP 1, QoS 2, RETAIN 0"))
    v["v5/puback_short"] = ("PUBACK, success (reason and properties left out)", packet(
        "PUBACK", 0, u16(10, "packet identifier")))
    v["v5/puback_reason"] = ("PUBACK, No matching subscribers (no property length)", packet(
        "PUBACK", 0, u16(10, "packet identifier") + u8(0x10, "reason: No matching subscribers")))
    v["v5/pubrec_props"] = ("PUBREC, Quota exceeded, with a reason string", packet(
        "PUBREC", 0, u16(11, "packet identifier") + u8(0x97, "reason: Quota exceeded")
        + props(prop("ReasonString", "str", "full"))))
    v["v5/pubrel_not_found"] = ("PUBREL, Packet Identifier not found", packet(
        "PUBREL", 2, u16(12, "packet identifier")
        + u8(0x92, "reason: Packet Identifier not found"), "0010 (required)"))
    v["v5/pubcomp"] = ("PUBCOMP, success", packet("PUBCOMP", 0, u16(12, "packet identifier")))
    v["v5/subscribe_options"] = ("SUBSCRIBE with subscription options, an identifier, a shared"
                                 " subscription", packet("SUBSCRIBE", 2, u16(3, "packet identifier")
        + props(prop("SubscriptionIdentifier", "varint", 5),
                prop("UserProperty", "pair", "a", "b"))
        + string("a/+/c", "topic filter")
        + u8(0b101101, "options: retain handling 2, retain as published, no local, QoS 1")
        + string("$share/g1/x/#", "topic filter (shared)")
        + u8(0b010000, "options: retain handling 1, QoS 0"), "0010 (required)"))
    v["v5/suback"] = ("SUBACK: QoS 1 granted, Topic Filter invalid, with a reason string", packet(
        "SUBACK", 0, u16(3, "packet identifier")
        + props(prop("ReasonString", "str", "bad filter"))
        + u8(0x01, "reason: Granted QoS 1") + u8(0x8F, "reason: Topic Filter invalid")))
    v["v5/unsubscribe"] = ("UNSUBSCRIBE with a user property", packet(
        "UNSUBSCRIBE", 2, u16(4, "packet identifier")
        + props(prop("UserProperty", "pair", "why", "done"))
        + string("a/+/c", "topic filter") + string("$share/g1/x/#", "topic filter"),
        "0010 (required)"))
    v["v5/unsuback"] = ("UNSUBACK: success, No subscription existed", packet(
        "UNSUBACK", 0, u16(4, "packet identifier") + props()
        + u8(0x00, "reason: Success") + u8(0x11, "reason: No subscription existed")))
    v["v5/pingreq"] = ("PINGREQ", packet("PINGREQ", 0, []))
    v["v5/pingresp"] = ("PINGRESP", packet("PINGRESP", 0, []))
    v["v5/disconnect_normal"] = ("DISCONNECT, normal (reason and properties left out)",
                                 packet("DISCONNECT", 0, []))
    v["v5/disconnect_will"] = ("DISCONNECT with Will Message (no property length)", packet(
        "DISCONNECT", 0, u8(0x04, "reason: Disconnect with Will Message")))
    v["v5/disconnect_server"] = ("DISCONNECT from a server: Use another server", packet(
        "DISCONNECT", 0, u8(0x9C, "reason: Use another server")
        + props(prop("ServerReference", "str", "b.example:1883"),
                prop("ReasonString", "str", "moving"))))
    v["v5/disconnect_expiry"] = ("DISCONNECT from a client with a new session expiry", packet(
        "DISCONNECT", 0, u8(0x00, "reason: Normal disconnection")
        + props(prop("SessionExpiryInterval", "u32", 0))))
    v["v5/auth_continue"] = ("AUTH, Continue authentication", packet(
        "AUTH", 0, u8(0x18, "reason: Continue authentication")
        + props(prop("AuthenticationMethod", "str", "SCRAM-SHA-256"),
                prop("AuthenticationData", "bin", b"r=abcdef,s=salt,i=4096"))))
    v["v5/auth_success"] = ("AUTH, success (reason and properties left out)",
                            packet("AUTH", 0, []))
    return v


def main():
    os.makedirs(os.path.join(HERE, "v311"), exist_ok=True)
    os.makedirs(os.path.join(HERE, "v5"), exist_ok=True)
    vs = vectors()
    for name, (title, fields) in vs.items():
        write(name + ".hex", title, fields)
    print(f"wrote {len(vs)} vectors")


if __name__ == "__main__":
    main()
