/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim frontend control protocol: messages on the machine's "socket".
 *
 * Shared by QEMU (hw/xen/sim/xen-sim-control.c) and the frontend library
 * (tests/qtest/xen/frontend/).  Documented in docs/devel/xen-sim.rst.
 *
 * Every message, both ways, is a XenSimMsgHeader followed by @len bytes of
 * payload (at most XEN_SIM_MSG_MAX), all little-endian as on the host.  Each
 * request gets exactly one reply with the same @type and @req_id whose
 * payload starts with an int32_t status: 0 or a negative errno.  File
 * descriptors travel with the reply as SCM_RIGHTS.  A malformed message
 * closes the connection; nothing else happens to QEMU.
 */

#ifndef HW_XEN_SIM_XEN_SIM_PROTOCOL_H
#define HW_XEN_SIM_XEN_SIM_PROTOCOL_H

#define XEN_SIM_PROTOCOL_VERSION 1
#define XEN_SIM_MSG_MAX 4096

typedef struct XenSimMsgHeader {
    uint32_t type;
    uint32_t req_id;
    uint32_t reserved;          /* 0 */
    uint32_t len;               /* payload bytes */
} XenSimMsgHeader;

enum {
    /*
     * -> XenSimHello; <- XenSimHelloReply, fds: [memory].  Must come first.
     * The memory fd maps the guest domain's memory: guest frame N is at
     * offset N * 4096.
     */
    XEN_SIM_MSG_HELLO = 1,
    /* -> XenSimGnttabSetup; <- status.  Place the grant table. */
    XEN_SIM_MSG_GNTTAB_SETUP = 2,
    /*
     * -> XenSimEvtchnAlloc; <- XenSimEvtchnAllocReply,
     *    fds: [to_backend eventfd, to_guest eventfd].
     * Write 1 (as uint64_t) to to_backend to notify; to_guest becomes
     * readable when the backend notifies.
     */
    XEN_SIM_MSG_EVTCHN_ALLOC_UNBOUND = 3,
    /* -> XenSimEvtchnClose; <- status */
    XEN_SIM_MSG_EVTCHN_CLOSE = 4,
};

typedef struct XenSimHello {
    uint32_t version;           /* XEN_SIM_PROTOCOL_VERSION */
} XenSimHello;

typedef struct XenSimHelloReply {
    int32_t status;
    uint32_t version;
    uint32_t domid;             /* the guest domain this connection acts as */
    uint32_t backend_domid;
    uint64_t mem_size;          /* bytes of guest memory */
} XenSimHelloReply;

typedef struct XenSimGnttabSetup {
    uint64_t gfn;               /* first frame of the table */
    uint32_t nr_frames;
    uint32_t reserved;
} XenSimGnttabSetup;

typedef struct XenSimEvtchnAlloc {
    uint32_t remote_domid;
} XenSimEvtchnAlloc;

typedef struct XenSimEvtchnAllocReply {
    int32_t status;
    uint32_t port;
} XenSimEvtchnAllocReply;

typedef struct XenSimEvtchnClose {
    uint32_t port;
} XenSimEvtchnClose;

typedef struct XenSimStatusReply {
    int32_t status;
} XenSimStatusReply;

#endif
