/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen 9pfs transport: the ring layout (Xen's io/9pfs.h) and the pure checks
 * of xen-9pfs's data path (hw/xen/pv/xen-9pfs-wire.c): no device state, no
 * guest memory, so the unit tests and fuzzers drive them directly.
 */

#ifndef HW_XEN_PV_XEN_9PFS_WIRE_H
#define HW_XEN_PV_XEN_9PFS_WIRE_H

#include "hw/xen/xen.h"          /* the Xen interface version, first */
#include "hw/xen/interface/grant_table.h"
#include "hw/xen/interface/io/ring.h"

/* size[4] id[1] tag[2] */
#define XEN_9PFS_HDR_SIZE 7

/* The layout of the intf page (struct xen_9pfs_data_intf) */
DEFINE_XEN_FLEX_RING_AND_INTF(xen_9pfs);

/*
 * Pure checks of the data path (no device state, no guest memory): what the
 * ring code and the unit tests call.
 */

/**
 * xen_9pfs_ring_queued: bytes the frontend has produced on a ring half
 * @prod: the frontend's producer index (one read of the shared page)
 * @cons: the backend's private consumer index
 * @half: bytes of the ring half (XEN_FLEX_RING_SIZE(order))
 * @queued: set to prod - cons
 *
 * Returns false if @prod is more than a ring half ahead of @cons: a broken
 * frontend.
 */
bool xen_9pfs_ring_queued(RING_IDX prod, RING_IDX cons, uint32_t half,
                          uint32_t *queued);

/**
 * xen_9pfs_check_msg_size: the size field of a 9P message header
 * @size: its value (the whole message, header included)
 * @half: bytes of the ring half the message is on
 *
 * Returns NULL if a message of @size bytes can be on the ring, else why not.
 */
const char *xen_9pfs_check_msg_size(uint32_t size, uint32_t half);

/* What xen_9pfs_next_msg() found at the backend's consumer index */
typedef enum Xen9pfsNextMsg {
    XEN_9PFS_MSG_WAIT,          /* the next message is not all there yet */
    XEN_9PFS_MSG_READY,         /* a whole message of *size bytes */
    XEN_9PFS_MSG_BAD_PROD,      /* out_prod beyond the ring: *why */
    XEN_9PFS_MSG_BAD_SIZE,      /* a size field out of range: *size, *why */
} Xen9pfsNextMsg;

/**
 * xen_9pfs_next_msg: the framing of requests on a ring's out half
 * @ring: the out half (@half bytes, guest memory)
 * @half: bytes of the half, a power of two
 * @prod: the frontend's producer index (one read of the shared page)
 * @cons: the backend's private consumer index
 * @size: set to the message's size, header included (READY, BAD_SIZE)
 * @why: set to what the frontend did wrong (BAD_PROD, BAD_SIZE)
 *
 * One read of the header's size field, checked against the ring: a message
 * is READY when its header and all its @size bytes are between @cons and
 * @prod.  The caller copies it with xen_9pfs_msg_copy(), never reading the
 * size field again.
 */
Xen9pfsNextMsg xen_9pfs_next_msg(const uint8_t *ring, uint32_t half,
                                 RING_IDX prod, RING_IDX cons,
                                 uint32_t *size, const char **why);

/**
 * xen_9pfs_msg_copy: copy a READY message of @size bytes at @cons out of
 * the out half @ring into @dst, with @size (the checked value) in its size
 * field whatever the frontend has written there since.
 */
void xen_9pfs_msg_copy(uint8_t *dst, const uint8_t *ring, uint32_t half,
                       RING_IDX cons, uint32_t size);

/*
 * xen_9pfs_reply_max: the most bytes a reply to a request taken now may
 * take, and what the request reserves of the device's budget: the
 * negotiated @msize (whatever the client sent, even a refused one), held
 * to at least the 9P server's minimum and at most the ring's @half.
 */
uint32_t xen_9pfs_reply_max(int64_t msize, uint32_t half);

/**
 * xen_9pfs_ring_read: copy @len bytes at index @idx out of a ring half
 * @dst: private memory
 * @ring: the ring half (@half bytes)
 *
 * A message may straddle the end of the half: it continues at its start.
 * @len is at most @half.
 */
void xen_9pfs_ring_read(void *dst, const uint8_t *ring, uint32_t half,
                        RING_IDX idx, uint32_t len);

/** xen_9pfs_ring_write: the converse of xen_9pfs_ring_read(). */
void xen_9pfs_ring_write(uint8_t *ring, uint32_t half, RING_IDX idx,
                         const void *src, uint32_t len);

#endif /* HW_XEN_PV_XEN_9PFS_WIRE_H */
