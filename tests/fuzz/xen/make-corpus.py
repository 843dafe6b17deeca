#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Write the seed corpora of the xen-pv fuzz targets.

    tests/fuzz/xen/make-corpus.py [OUTDIR]   (default: tests/fuzz/xen/corpus)
    tests/fuzz/xen/make-corpus.py --regressions [OUTDIR]
                                  (default: tests/fuzz/xen/regressions)

Each seed is a small binary file in the input format its target documents
(tests/fuzz/xen/fuzz-*.c): valid requests of every kind, on both block
ABIs, plus the edge cases the checks are about.  The files are committed;
re-run this after changing an input format and commit the result.
"""

import os
import struct
import sys

# ---- xen-block (fuzz-blkif-request.c) ----

OP_READ, OP_WRITE, OP_BARRIER, OP_FLUSH, OP_DISCARD, OP_INDIRECT = \
    0, 1, 2, 3, 5, 6
X86_64 = {"entry": 112, "id": 8, "sector": 16, "seg": 24, "nr_sectors": 24,
          "indirect_grefs": 28}
X86_32 = {"entry": 108, "id": 4, "sector": 12, "seg": 20, "nr_sectors": 20,
          "indirect_grefs": 24}


def blk_limits(abi32=False, ro=False, barrier=True, discard=True,
               secure=True, ss_shift=0, nb_sectors=2048, max_indirect=256):
    flags = (abi32 << 0) | (ro << 1) | (barrier << 2) | (discard << 3) | \
        (secure << 4) | (ss_shift << 5)
    return struct.pack("<BQH", flags, nb_sectors, max_indirect)


def blk_slot(abi, op, sector=0, segs=(), rid=0x1234, nr_segments=None,
             discard_flags=0, nr_sectors=0, indirect_op=0, indirect_nr=0,
             indirect_grefs=()):
    b = bytearray(abi["entry"])
    b[0] = op
    struct.pack_into("<Q", b, abi["id"], rid)
    struct.pack_into("<Q", b, abi["sector"], sector)
    if op == OP_DISCARD:
        b[1] = discard_flags
        struct.pack_into("<Q", b, abi["nr_sectors"], nr_sectors)
    elif op == OP_INDIRECT:
        b[1] = indirect_op
        struct.pack_into("<H", b, 2, indirect_nr)
        for i, g in enumerate(indirect_grefs):
            struct.pack_into("<I", b, abi["indirect_grefs"] + 4 * i, g)
    else:
        b[1] = len(segs) if nr_segments is None else nr_segments
        for i, (gref, first, last) in enumerate(segs):
            struct.pack_into("<IBB", b, abi["seg"] + 8 * i, gref, first, last)
    return bytes(b)


def wire_segs(segs):
    return b"".join(struct.pack("<IBBH", g, f, l, 0) for g, f, l in segs)


def full_segs(n, base=100):
    return [(base + i, 0, 7) for i in range(n)]


def blkif_seeds():
    out = {}
    for tag, abi, a32 in (("64", X86_64, False), ("32", X86_32, True)):
        lim = blk_limits(abi32=a32)
        out["read-1seg-" + tag] = lim + blk_slot(abi, OP_READ, 8,
                                                 [(100, 0, 7)])
        out["write-11seg-" + tag] = lim + blk_slot(abi, OP_WRITE, 16,
                                                   full_segs(11))
        out["write-partial-" + tag] = lim + blk_slot(abi, OP_WRITE, 3,
                                                     [(7, 2, 5), (8, 0, 0)])
        out["flush-" + tag] = lim + blk_slot(abi, OP_FLUSH)
        out["barrier-1seg-" + tag] = lim + blk_slot(abi, OP_BARRIER, 0,
                                                    [(9, 0, 7)])
        out["discard-" + tag] = lim + blk_slot(abi, OP_DISCARD, 64,
                                               nr_sectors=128)
        out["discard-secure-" + tag] = lim + blk_slot(
            abi, OP_DISCARD, 0, discard_flags=1, nr_sectors=2048)
        out["indirect-read-" + tag] = lim + blk_slot(
            abi, OP_INDIRECT, 32, indirect_op=OP_READ, indirect_nr=20,
            indirect_grefs=[500]) + wire_segs(full_segs(20))
        out["indirect-write-2pages-" + tag] = \
            blk_limits(abi32=a32, nb_sectors=1 << 20, max_indirect=1024) + \
            blk_slot(abi, OP_INDIRECT, 0, indirect_op=OP_WRITE,
                     indirect_nr=600, indirect_grefs=[500, 501]) + \
            wire_segs(full_segs(600))
    x = X86_64
    lim = blk_limits()
    # Edge cases: each is one check of xen_block_check_request()
    out["edge-last-sector"] = lim + blk_slot(x, OP_READ, 2040, full_segs(1))
    out["edge-past-end"] = lim + blk_slot(x, OP_READ, 2041, full_segs(1))
    out["edge-sector-wrap"] = lim + blk_slot(x, OP_READ, 2 ** 64 - 1,
                                             full_segs(1))
    out["edge-12-segments"] = lim + blk_slot(x, OP_READ, 0, full_segs(11),
                                             nr_segments=12)
    out["edge-no-segments"] = lim + blk_slot(x, OP_WRITE, 0, [])
    out["edge-first-after-last"] = lim + blk_slot(x, OP_READ, 0, [(1, 5, 2)])
    out["edge-last-past-page"] = lim + blk_slot(x, OP_READ, 0, [(1, 0, 8)])
    out["edge-dup-gref"] = lim + blk_slot(x, OP_WRITE, 0, [(5, 0, 7),
                                                          (5, 0, 7)])
    out["edge-read-only-write"] = blk_limits(ro=True) + \
        blk_slot(x, OP_WRITE, 0, full_segs(1))
    out["edge-read-only-flush"] = blk_limits(ro=True) + blk_slot(x, OP_FLUSH)
    out["edge-4k-sectors"] = blk_limits(ss_shift=3) + \
        blk_slot(x, OP_READ, 8, full_segs(2))
    out["edge-4k-misaligned"] = blk_limits(ss_shift=3) + \
        blk_slot(x, OP_READ, 1, [(1, 1, 7)])
    out["edge-no-barrier"] = blk_limits(barrier=False) + \
        blk_slot(x, OP_BARRIER)
    out["edge-no-discard"] = blk_limits(discard=False) + \
        blk_slot(x, OP_DISCARD, 0, nr_sectors=8)
    out["edge-discard-wrap"] = lim + blk_slot(x, OP_DISCARD, 8,
                                              nr_sectors=2 ** 64 - 4)
    out["edge-unknown-op"] = lim + blk_slot(x, 200)
    out["edge-indirect-off"] = blk_limits(max_indirect=0) + blk_slot(
        x, OP_INDIRECT, 0, indirect_op=OP_READ, indirect_nr=1,
        indirect_grefs=[1]) + wire_segs(full_segs(1))
    out["edge-indirect-too-many"] = lim + blk_slot(
        x, OP_INDIRECT, 0, indirect_op=OP_READ, indirect_nr=257,
        indirect_grefs=[1]) + wire_segs(full_segs(257))
    out["edge-indirect-bad-op"] = lim + blk_slot(
        x, OP_INDIRECT, 0, indirect_op=OP_FLUSH, indirect_nr=1,
        indirect_grefs=[1])
    out["edge-indirect-max"] = \
        blk_limits(nb_sectors=1 << 30, max_indirect=4096) + \
        blk_slot(x, OP_INDIRECT, 0, indirect_op=OP_READ, indirect_nr=4096,
                 indirect_grefs=range(1000, 1008)) + \
        wire_segs(full_segs(4096, base=5000))
    return out


# ---- xen-net TX (fuzz-netif-tx.c) ----

MORE_DATA, EXTRA_INFO = 0x4, 0x8
EXTRA_GSO, EXTRA_MCAST_ADD = 1, 2
EXTRA_FLAG_MORE = 1


def tx_header(ring_log2, cons, avail, fatal=20):
    return struct.pack("<BIHB", ring_log2, cons, avail, fatal)


def tx_req(gref, offset, flags, rid, size):
    return struct.pack("<IHHHH", gref, offset, flags, rid, size)


def tx_extra(etype, flags, payload=b""):
    return (struct.pack("<BB", etype, flags) + payload).ljust(12, b"\0")


def gso(size, gtype=1):
    return tx_extra(EXTRA_GSO, 0, struct.pack("<HBBH", size, gtype, 0, 0))


def tx_ring(ring_log2, entries, cons=0):
    n = 1 << ring_log2
    ring = [b"\0" * 12] * n
    for i, e in enumerate(entries):
        ring[(cons + i) % n] = e
    return b"".join(ring)


def tx_seeds():
    out = {}
    one = [tx_req(1, 0, 0, 1, 60)]
    out["single"] = tx_header(4, 0, 1) + tx_ring(4, one)
    chain = [tx_req(1, 100, MORE_DATA, 1, 3000), tx_req(2, 0, MORE_DATA, 2,
                                                         1000),
             tx_req(3, 0, 0, 3, 500)]
    out["chain-3"] = tx_header(4, 0, 3) + tx_ring(4, chain)
    g = [tx_req(1, 0, EXTRA_INFO | MORE_DATA, 1, 5000), gso(1448),
         tx_req(2, 0, 0, 2, 1000)]
    out["gso"] = tx_header(4, 0, 3) + tx_ring(4, g)
    mc = [tx_req(1, 0, EXTRA_INFO, 1, 0),
          tx_extra(EXTRA_MCAST_ADD, 0, bytes([1, 0, 0x5e, 0, 0, 1]))]
    out["mcast-add"] = tx_header(4, 0, 2) + tx_ring(4, mc)
    two = [tx_req(1, 0, EXTRA_INFO, 1, 200),
           tx_extra(EXTRA_GSO, EXTRA_FLAG_MORE,
                    struct.pack("<HBBH", 1448, 2, 0, 0)),
           tx_extra(4, 0)]
    out["two-extras"] = tx_header(4, 0, 3) + tx_ring(4, two)
    # The ring wraps under the packet
    out["wrap"] = tx_header(2, 0xfffffffe, 3) + tx_ring(2, chain,
                                                        cons=0xfffffffe)
    out["full-ring-256"] = tx_header(8, 5, 256) + tx_ring(8, one * 256, 5)
    # Edge cases: each is one of netback's verdicts
    out["edge-avail-0"] = tx_header(4, 0, 0) + tx_ring(4, one)
    out["edge-short"] = tx_header(4, 0, 1) + tx_ring(4, [tx_req(1, 0, 0, 1,
                                                                 10)])
    out["edge-chain-unproduced"] = tx_header(4, 0, 2) + tx_ring(4, chain)
    out["edge-crosses-page"] = tx_header(4, 0, 1) + \
        tx_ring(4, [tx_req(1, 4000, 0, 1, 200)])
    out["edge-frags-exceed"] = tx_header(4, 0, 2) + tx_ring(
        4, [tx_req(1, 0, MORE_DATA, 1, 100), tx_req(2, 0, 0, 2, 200)])
    many = [tx_req(i, 0, MORE_DATA, i, 1000 if i == 0 else 10)
            for i in range(21)] + [tx_req(21, 0, 0, 21, 10)]
    out["edge-20-slots"] = tx_header(5, 0, 20, fatal=64) + tx_ring(5,
                                                                    many[:20])
    out["edge-too-many-slots"] = tx_header(5, 0, 22) + tx_ring(5, many)
    out["edge-bad-extra"] = tx_header(4, 0, 2) + tx_ring(
        4, [tx_req(1, 0, EXTRA_INFO, 1, 100), tx_extra(0, 0)])
    out["edge-gso-0"] = tx_header(4, 0, 2) + tx_ring(
        4, [tx_req(1, 0, EXTRA_INFO, 1, 100), gso(0)])
    out["edge-gso-type"] = tx_header(4, 0, 2) + tx_ring(
        4, [tx_req(1, 0, EXTRA_INFO, 1, 100), gso(1000, 9)])
    out["edge-extras-fill-ring"] = tx_header(2, 0, 4) + tx_ring(
        2, [tx_req(1, 0, EXTRA_INFO, 1, 100)] +
        [tx_extra(EXTRA_GSO, EXTRA_FLAG_MORE)] * 3)
    return out


# ---- xen-net control ring (fuzz-netif-ctrl.c) ----

(C_GET_FLAGS, C_SET_FLAGS, C_SET_KEY, C_GET_MAP_SIZE, C_SET_MAP_SIZE,
 C_SET_MAP, C_SET_ALG, C_GET_GREF_SIZE, C_ADD_GREF, C_DEL_GREF) = range(1, 11)


def ctrl(queues, reqs, page=b""):
    b = struct.pack("<BB", queues - 1, len(reqs))
    for i, (t, d0, d1, d2) in enumerate(reqs):
        b += struct.pack("<HHIII", i, t, d0, d1, d2)
    return b + page


def ctrl_seeds():
    key = bytes(range(40))
    table = struct.pack("<8I", *[i % 4 for i in range(8)])
    setup = [(C_SET_ALG, 1, 0, 0), (C_GET_FLAGS, 0, 0, 0),
             (C_SET_FLAGS, 0xf, 0, 0), (C_SET_KEY, 7, 40, 0),
             (C_GET_MAP_SIZE, 0, 0, 0), (C_SET_MAP_SIZE, 8, 0, 0),
             (C_SET_MAP, 7, 8, 0)]
    return {
        "toeplitz-setup": ctrl(4, setup, key + table[len(key):]),
        "key": ctrl(1, [(C_SET_ALG, 1, 0, 0), (C_SET_KEY, 3, 40, 0)], key),
        "mapping": ctrl(4, [(C_SET_MAP_SIZE, 8, 0, 0), (C_SET_MAP, 3, 8, 0)],
                        table),
        "mapping-part": ctrl(4, [(C_SET_MAP_SIZE, 128, 0, 0),
                                 (C_SET_MAP, 3, 8, 120)], table),
        "alg-none-clears": ctrl(2, [(C_SET_ALG, 1, 0, 0),
                                    (C_SET_FLAGS, 1, 0, 0),
                                    (C_SET_ALG, 0, 0, 0)]),
        "edge-key-41": ctrl(1, [(C_SET_KEY, 3, 41, 0)], key),
        "edge-key-bad-gref": ctrl(1, [(C_SET_KEY, 0xffffffff, 40, 0)]),
        "edge-flags-no-alg": ctrl(1, [(C_SET_FLAGS, 1, 0, 0)]),
        "edge-flags-unknown": ctrl(1, [(C_SET_ALG, 1, 0, 0),
                                       (C_SET_FLAGS, 0x100, 0, 0)]),
        "edge-map-size-129": ctrl(1, [(C_SET_MAP_SIZE, 129, 0, 0)]),
        "edge-map-past-size": ctrl(4, [(C_SET_MAP_SIZE, 8, 0, 0),
                                       (C_SET_MAP, 3, 8, 1)], table),
        "edge-map-offset-wrap": ctrl(4, [(C_SET_MAP_SIZE, 8, 0, 0),
                                         (C_SET_MAP, 3, 2, 0xffffffff)],
                                     table),
        "edge-map-bad-queue": ctrl(2, [(C_SET_MAP_SIZE, 8, 0, 0),
                                       (C_SET_MAP, 3, 8, 0)], table),
        "edge-map-page": ctrl(4, [(C_SET_MAP_SIZE, 128, 0, 0),
                                  (C_SET_MAP, 3, 1025, 0)]),
        "edge-grefs-unsupported": ctrl(1, [(C_GET_GREF_SIZE, 0, 0, 0),
                                           (C_ADD_GREF, 1, 0, 0),
                                           (C_DEL_GREF, 1, 0, 0),
                                           (0xffff, 0, 0, 0)]),
    }


# ---- frontend XenStore keys (fuzz-xs-keys.c) ----

def keys(mode, max_queues, max_order, pairs):
    text = "".join("%s=%s\n" % kv for kv in pairs)
    return struct.pack("<BBB", mode, max_queues - 1, max_order) + \
        text.encode()


def vbd_queue(prefix, nrefs, order_keys, base, evt):
    out = []
    for i in range(nrefs):
        name = "ring-ref%d" % i if order_keys else "ring-ref"
        out.append((prefix + name, str(base + i)))
    out.append((prefix + "event-channel", str(evt)))
    return out


def vif_queue(prefix, base, split):
    out = [(prefix + "tx-ring-ref", str(base)),
           (prefix + "rx-ring-ref", str(base + 1))]
    if split:
        out += [(prefix + "event-channel-tx", str(base + 2)),
                (prefix + "event-channel-rx", str(base + 3))]
    else:
        out.append((prefix + "event-channel", str(base + 2)))
    return out


VIF_FEATURES = [("request-rx-copy", "1"), ("feature-rx-notify", "1"),
                ("feature-sg", "1"), ("feature-gso-tcpv4", "1"),
                ("feature-gso-tcpv6", "1"),
                ("feature-ipv6-csum-offload", "1")]
MULTI = 2   # mode bit: the platform maps several pages


def xs_seeds():
    out = {}
    out["vbd-classic"] = keys(0, 4, 4, [("protocol", "x86_64-abi")] +
                              vbd_queue("", 1, False, 8, 5))
    out["vbd-no-protocol"] = keys(0, 1, 0, vbd_queue("", 1, False, 8, 5))
    out["vbd-x86_32"] = keys(0, 1, 0, [("protocol", "x86_32-abi"),
                                       ("feature-persistent", "1")] +
                             vbd_queue("", 1, False, 8, 5))
    out["vbd-order-2"] = keys(MULTI, 4, 4, [("protocol", "x86_64-abi"),
                                            ("ring-page-order", "2")] +
                              vbd_queue("", 4, True, 8, 5))
    mq = [("protocol", "arm-abi"), ("multi-queue-num-queues", "3"),
          ("ring-page-order", "1")]
    for q in range(3):
        mq += vbd_queue("queue-%d/" % q, 2, True, 100 * q, 10 + q)
    out["vbd-3-queues"] = keys(MULTI, 4, 4, mq)
    out["vbd-4k-sectors"] = keys(3 << 2, 1, 0,
                                 [("feature-large-sector-size", "1")] +
                                 vbd_queue("", 1, False, 8, 5))
    out["edge-vbd-order-too-big"] = keys(MULTI, 1, 2, [
        ("ring-page-order", "3")] + vbd_queue("", 8, True, 8, 5))
    out["edge-vbd-order-single-page"] = keys(0, 1, 4, [
        ("ring-page-order", "1")] + vbd_queue("", 2, True, 8, 5))
    out["edge-vbd-queues-0"] = keys(0, 4, 0, [
        ("multi-queue-num-queues", "0")] + vbd_queue("", 1, False, 8, 5))
    out["edge-vbd-bad-protocol"] = keys(0, 1, 0, [("protocol", "x86_65")] +
                                        vbd_queue("", 1, False, 8, 5))
    out["edge-vbd-ref-garbage"] = keys(0, 1, 0, [("ring-ref", "12abc"),
                                                 ("event-channel", "5")])
    out["edge-vbd-ref-negative"] = keys(0, 1, 0, [("ring-ref", "-1"),
                                                  ("event-channel", "5")])
    out["edge-vbd-ref-33bit"] = keys(0, 1, 0, [("ring-ref", "4294967296"),
                                               ("event-channel", "5")])
    out["edge-vbd-no-evtchn"] = keys(0, 1, 0, [("ring-ref", "8")])
    out["vif-classic"] = keys(1, 1, 0, VIF_FEATURES +
                              vif_queue("", 10, False) +
                              [("rate", "1000000,20000")])
    out["vif-split"] = keys(1, 1, 0, VIF_FEATURES + vif_queue("", 10, True))
    mq = VIF_FEATURES + [("multi-queue-num-queues", "4"),
                         ("ctrl-ring-ref", "99"),
                         ("event-channel-ctrl", "98"),
                         ("request-multicast-control", "1")]
    for q in range(4):
        mq += vif_queue("queue-%d/" % q, 10 * q, q % 2 == 1)
    out["vif-4-queues-ctrl"] = keys(1, 8, 0, mq)
    out["edge-vif-no-rx-copy"] = keys(1, 1, 0, VIF_FEATURES[1:] +
                                      vif_queue("", 10, False))
    out["edge-vif-same-ports"] = keys(1, 1, 0, VIF_FEATURES + [
        ("tx-ring-ref", "1"), ("rx-ring-ref", "2"),
        ("event-channel-tx", "3"), ("event-channel-rx", "3")])
    out["edge-vif-ctrl-no-evtchn"] = keys(1, 1, 0, VIF_FEATURES +
                                          vif_queue("", 10, False) +
                                          [("ctrl-ring-ref", "5")])
    out["edge-vif-queues-too-many"] = keys(1, 2, 0, VIF_FEATURES + [
        ("multi-queue-num-queues", "3")])
    out["edge-vif-rate-bad"] = keys(1, 1, 0, VIF_FEATURES +
                                    vif_queue("", 10, False) +
                                    [("rate", "100,99999999")])
    return out


# ---- xen-9pfs (fuzz-9pfs-framing.c) ----

NO_WRITES = struct.pack("<HB", 0, 0) * 8


def p9_msg(mtype, tag, body=b"", size=None):
    """A 9P message: size[4] type[1] tag[2] body; @size overrides."""
    n = 7 + len(body) if size is None else size
    return struct.pack("<IBH", n, mtype, tag) + body


def p9_input(log2_half, cons, produced, ring, writes=NO_WRITES):
    """The fuzz input: the half is 2^log2_half bytes; @ring is laid out
    from cons (wrapping), the rest zero."""
    half = 1 << log2_half
    buf = bytearray(half)
    for i, b in enumerate(ring):
        buf[(cons + i) % half] = b
    return struct.pack("<BII", log2_half - 7, cons & 0xffffffff,
                       produced & 0xffffffff) + writes + bytes(buf)


def p9_seeds():
    out = {}
    tversion = p9_msg(100, 0xffff, struct.pack("<IH", 8192, 8) + b"9P2000.L")
    twalk = p9_msg(110, 1, struct.pack("<IIH", 1, 2, 1) +
                   struct.pack("<H", 5) + b"a.txt")
    tread = p9_msg(116, 2, struct.pack("<IQI", 2, 0, 4096))
    twrite = p9_msg(118, 3, struct.pack("<IQI", 2, 0, 100) + bytes(100))
    two = tversion + twalk
    out["one-message"] = p9_input(12, 0, len(tversion), tversion)
    out["several"] = p9_input(12, 0, len(two + tread + twrite),
                              two + tread + twrite)
    out["wrap-header"] = p9_input(8, 254, len(tread), tread)
    out["wrap-body"] = p9_input(8, 200, len(twrite), twrite)
    out["index-wrap"] = p9_input(12, 0xfffffff0, len(two), two)
    out["header-only"] = p9_input(12, 0, 7, twrite)
    out["body-partial"] = p9_input(12, 0, len(twrite) - 1, twrite)
    out["whole-half"] = p9_input(7, 0, 128, p9_msg(118, 4, bytes(121)))
    # The frontend rewrites the size field between the check and the copy
    racing = struct.pack("<HB", 0, 0xff) + NO_WRITES[3:]
    out["racing-size"] = p9_input(12, 0, len(tread), tread, racing)
    out["edge-size-0"] = p9_input(12, 0, 16, p9_msg(100, 0, size=0))
    out["edge-size-6"] = p9_input(12, 0, 16, p9_msg(100, 0, size=6))
    out["edge-size-above-half"] = p9_input(8, 0, 256,
                                           p9_msg(118, 0, size=257))
    out["edge-size-4g"] = p9_input(12, 0, 64,
                                   p9_msg(118, 0, size=0xffffffff))
    out["edge-prod-beyond"] = p9_input(12, 0, 4097, tversion)
    out["edge-prod-behind"] = p9_input(12, 100, 0xffffff00, tversion)
    return out


# ---- regressions (tests/fuzz/xen/regressions) ----

# The inputs that once broke a target, as committed under regressions/: a
# tree without them (the patch series of `make patches`, which carries text
# only) gets them from here (`make-corpus.py --regressions OUTDIR`).  Add an
# input to both; tests/patches checks they agree.
REGRESSIONS = {
    "blkif-request/indirect-ok-leaves-why": bytes.fromhex(
        "1c00080000000000000001060014000000000034120000000000002000000000"
        "00000000000000f4010000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000000000000000"
        "0000000000000000000000000000000000000000000000000000006400000000"
        "0700006500000000070000660000000007000067000000000700006800000000"
        "07000069000000000700006a000000000700006b000000000700006c00000000"
        "0700006d000000000700006e000000000700006f000000000700007000000000"
        "0700007100000000070000720000000007000073000000000700007400000000"
        "070000750000000007000076000000000700007700000000070000"),
    "xs-keys/leading-zeros": bytes.fromhex(
        "02780438365f6472bd330a72696e672d726566303d3030303030303030303030"
        "3030303030303030303030303030303030303030303030303030303030303030"
        "3030303030303030303030303030303030303030303030303030303030303030"
        "303030303030303030303030303030303030380a72696e672d726566313d390a"
        "0a72696e672d706167652d6f726465723d310a710a6576656e742d6368616e6e"
        "656c3d32350a"),
}


def write_regressions(top):
    for rel, data in sorted(REGRESSIONS.items()):
        path = os.path.join(top, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    print("%s: %d regressions" % (top, len(REGRESSIONS)))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    if sys.argv[1:2] == ["--regressions"]:
        write_regressions(sys.argv[2] if len(sys.argv) > 2 else
                          os.path.join(here, "regressions"))
        return
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    for target, seeds in (("blkif-request", blkif_seeds()),
                          ("netif-tx", tx_seeds()),
                          ("netif-ctrl", ctrl_seeds()),
                          ("xs-keys", xs_seeds()),
                          ("9pfs-framing", p9_seeds())):
        d = os.path.join(top, target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            os.unlink(os.path.join(d, old))
        for name, data in sorted(seeds.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    main()
