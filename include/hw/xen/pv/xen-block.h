/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: the Xen PV block backend (QOM types xen-disk and xen-cdrom,
 * XenStore backend type "qdisk", frontend type "vbd").
 *
 * xen-block.c negotiates through XenStore and owns the device; each ring
 * (one per queue the frontend asked for) is served by xen-block-ring.c in
 * its own AioContext.
 */

#ifndef HW_XEN_PV_XEN_BLOCK_H
#define HW_XEN_PV_XEN_BLOCK_H

#include "qemu/units.h"
#include "hw/xen/xen-bus.h"
#include "hw/block/block.h"
#include "hw/xen/pv/xen-blkif.h"
#include "hw/xen/pv/xen-block-vdev.h"
#include "qapi/qapi-types-virtio.h"
#include "qapi/qapi-types-common.h"
#include "system/iothread.h"
#include "hw/xen/pv/xen-pv-queues.h"
#include "hw/xen/pv/xen-pv-frontend.h"
#include "qom/object.h"

#define XEN_BLOCK_MAX_RING_PAGE_ORDER   4
#define XEN_BLOCK_MAX_RING_PAGES        (1u << XEN_BLOCK_MAX_RING_PAGE_ORDER)
#define XEN_BLOCK_MAX_QUEUES            64
/* Segments of one indirect request: one I/O vector entry each at most */
#define XEN_BLOCK_MAX_INDIRECT_SEGS     1024
/*
 * Host memory a device holds for guest I/O at most (io-budget): persistent
 * grants, cached bounce buffers and the pages of requests in flight, split
 * evenly between the rings.  Each ring may exceed its share by one request
 * (4 MiB at most), which it always serves when nothing else is in flight.
 */
#define XEN_BLOCK_DEFAULT_IO_BUDGET     (64 * MiB)
#define XEN_BLOCK_MIN_IO_BUDGET         MiB

typedef struct XenBlockRing XenBlockRing;
typedef struct XenBlockXsDrive XenBlockXsDrive;

typedef struct XenBlockProperties {
    XenBlockVdev vdev;
    BlockConf conf;
    uint32_t max_ring_page_order;
    uint32_t max_queues;                /* 0: one per host CPU */
    uint32_t max_indirect_segs;
    bool persistent;
    uint32_t max_persistent;            /* per ring */
    bool discard_secure;
    bool map_overflow;                  /* map what the cache cannot hold */
    OnOffAuto grant_copy;
    uint64_t io_budget;                 /* bytes, split between the rings */
    IOThread *iothread;
    IOThreadVirtQueueMappingList *iothread_queue_mapping;
} XenBlockProperties;

struct XenBlockDevice {
    XenDevice xendev;
    XenBlockProperties props;
    const char *device_type;            /* "disk" or "cdrom" */
    unsigned int info;                  /* VDISK_* */

    /*
     * What the rings check requests against.  nb_sectors changes on
     * resize and media change (BQL) and is read with qatomic_read() by
     * the rings; the rest is fixed at realize.
     */
    XenBlockLimits limits;
    unsigned int max_queues;            /* resolved props.max_queues */
    XenPvQueueContexts qctx;            /* the queues' AioContexts */
    AioContext **queue_ctx;             /* qctx.ctx once set up, or NULL */

    /* While connected (BQL) */
    XenBlockRing **rings;
    unsigned int nr_rings;
    /* Stopped by a disconnect, waiting for their requests (BQL) */
    XenBlockRing **closing;
    unsigned int nr_closing;
    int64_t closing_since;              /* QEMU_CLOCK_REALTIME, ms */
    int64_t closing_poll_ms;            /* the poll's interval now */
    QEMUTimer *closing_timer;
    /* Frontend changes nested in our waits (xen-pv-frontend.h) */
    XenPvFrontendState fe_state;

    /* A ring found the frontend broken: reported from the main loop */
    QEMUBH *ring_error_bh;
    int broken_ring;                    /* queue index + 1, 0: none */
    VMChangeStateEntry *vmstate;

    /* Created from XenStore (libxl): what to remove with the device */
    XenBlockXsDrive *xs_drive;
};
typedef struct XenBlockDevice XenBlockDevice;

typedef void (*XenBlockDeviceRealize)(XenBlockDevice *blockdev, Error **errp);

struct XenBlockDeviceClass {
    /*< private >*/
    XenDeviceClass parent_class;
    /*< public >*/
    XenBlockDeviceRealize realize;
};

#define TYPE_XEN_BLOCK_DEVICE  "xen-block"
OBJECT_DECLARE_TYPE(XenBlockDevice, XenBlockDeviceClass, XEN_BLOCK_DEVICE)

#define TYPE_XEN_DISK_DEVICE  "xen-disk"
#define TYPE_XEN_CDROM_DEVICE "xen-cdrom"

/* The limits a ring checks against now (any thread). */
static inline void xen_block_get_limits(XenBlockDevice *blockdev,
                                        XenBlockLimits *lim)
{
    *lim = blockdev->limits;
    lim->nb_sectors = qatomic_read(&blockdev->limits.nb_sectors);
}

/*
 * Called by a ring (its AioContext) that halted because the frontend broke
 * the protocol: the device reports it from the main loop.
 */
void xen_block_ring_broken(XenBlockDevice *blockdev, unsigned int index);

#endif /* HW_XEN_PV_XEN_BLOCK_H */
