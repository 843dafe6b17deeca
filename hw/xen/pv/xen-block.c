/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: the Xen PV block backend, device and XenStore negotiation.
 *
 * QOM types xen-disk and xen-cdrom on QEMU's XenBus (backend "qdisk",
 * frontend "vbd").  This file owns the device: properties, the features
 * published to XenStore, the frontend state machine, connecting and
 * disconnecting rings, resize and media change.  The data path of each ring
 * is in xen-block-ring.c; request checks are pure functions in xen-blkif.c.
 *
 * Thread context: BQL, except xen_block_ring_broken() (any thread).
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/main-loop.h"
#include "qemu/timer.h"
#include "qemu/error-report.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qapi/qapi-visit-virtio.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "hw/xen/xen-backend.h"
#include "hw/xen/pv/xen-block.h"
#include "hw/xen/pv/xen-pv-keys.h"
#include "hw/xen/interface/io/xs_wire.h"
#include "block/aio-wait.h"
#include "system/block-backend.h"
#include "system/blockdev.h"
#include "system/runstate.h"
#include "xen-block-ring.h"
#include "xen-block-xs.h"
#include "trace.h"

static const char *xen_block_name(XenBlockDevice *blockdev)
{
    return XEN_DEVICE(blockdev)->name ?: "?";
}

/* ---- vdev property ---- */

static void xen_block_get_vdev(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    const Property *prop = opaque;
    XenBlockVdev *vdev = object_field_prop_ptr(obj, prop);
    g_autofree char *str = xen_block_vdev_format(vdev);

    if (!str) {
        str = g_strdup("");     /* not chosen yet */
    }
    visit_type_str(v, name, &str, errp);
}

static void xen_block_set_vdev(Object *obj, Visitor *v, const char *name,
                               void *opaque, Error **errp)
{
    const Property *prop = opaque;
    XenBlockVdev *vdev = object_field_prop_ptr(obj, prop);
    g_autofree char *str = NULL;

    if (!visit_type_str(v, name, &str, errp)) {
        return;
    }
    if (!xen_block_vdev_parse(str, vdev)) {
        error_setg(errp, "invalid virtual disk specifier '%s' (expected "
                   "xvd<letters>[<part>], hd<a-d>[<part>], sd<a-p>[<part>], "
                   "d<disk>[p<part>] or a device number)", str);
    }
}

static const PropertyInfo xen_block_prop_vdev = {
    .type = "str",
    .description = "Virtual disk specifier (xvd*, hd*, sd*, d*p*, number)",
    .get = xen_block_get_vdev,
    .set = xen_block_set_vdev,
};

/*
 * Name a disk the frontend has no disk of yet: the first disk index not
 * used by any vbd of the domain, whatever its naming scheme.
 */
static bool xen_block_find_free_vdev(XenBlockDevice *blockdev, Error **errp)
{
    XenDevice *xendev = XEN_DEVICE(blockdev);
    XenBus *xenbus = XEN_BUS(qdev_get_parent_bus(DEVICE(blockdev)));
    g_autofree char *fe_path =
        g_strdup_printf("/local/domain/%u/device/vbd", xendev->frontend_id);
    g_autoptr(GHashTable) used = g_hash_table_new(NULL, NULL);
    char **names;
    unsigned int n = 0, i;
    unsigned long disk, number;

    names = qemu_xen_xs_directory(xenbus->xsh, XBT_NULL, fe_path, &n);
    if (!names && errno != ENOENT) {
        error_setg_errno(errp, errno, "cannot read %s", fe_path);
        return false;
    }
    for (i = 0; i < n; i++) {
        long index;

        if (!qemu_strtoul(names[i], NULL, 10, &number)) {
            index = xen_block_vdev_disk_index(number);
            if (index >= 0) {
                g_hash_table_add(used, GSIZE_TO_POINTER(index + 1));
            }
        }
    }
    /* One allocation, as libxenstore's xs_directory() returns it. */
    free(names);

    for (disk = 0; disk < XEN_BLOCK_VDEV_MAX_DISKS; disk++) {
        if (!g_hash_table_contains(used, GSIZE_TO_POINTER(disk + 1))) {
            xen_block_vdev_for_disk(disk, &blockdev->props.vdev);
            return true;
        }
    }
    error_setg(errp, "no free virtual disk name");
    return false;
}

static char *xen_block_get_name(XenDevice *xendev, Error **errp)
{
    XenBlockDevice *blockdev = XEN_BLOCK_DEVICE(xendev);
    XenBlockVdev *vdev = &blockdev->props.vdev;

    if (vdev->type == XEN_BLOCK_VDEV_TYPE_INVALID &&
        !xen_block_find_free_vdev(blockdev, errp)) {
        return NULL;
    }
    return g_strdup_printf("%lu", vdev->number);
}

/* ---- reporting frontend errors ---- */

/*
 * The frontend gave us something we cannot use: say so in XenStore and
 * close, as Linux's xenbus_dev_fatal() does.  Traced, never logged: the
 * guest chooses how often this happens.
 */
static void xen_block_fatal(XenBlockDevice *blockdev, const char *msg)
{
    trace_xen_pv_block_fatal(xen_block_name(blockdev), msg);
    xen_pv_backend_fatal(XEN_DEVICE(blockdev), msg);
}

static void xen_block_ring_error_bh(void *opaque)
{
    XenBlockDevice *blockdev = opaque;
    int index = qatomic_xchg(&blockdev->broken_ring, 0);
    g_autofree char *msg = NULL;

    if (!index || !blockdev->rings) {
        return;
    }
    msg = g_strdup_printf("queue %d: ring overflow: frontend broke the "
                          "ring protocol", index - 1);
    xen_block_fatal(blockdev, msg);
}

void xen_block_ring_broken(XenBlockDevice *blockdev, unsigned int index)
{
    qatomic_set(&blockdev->broken_ring, index + 1);
    qemu_bh_schedule(blockdev->ring_error_bh);
}

/* ---- connect / disconnect ---- */

static const XenPvFrontendOps xen_block_frontend_ops;

static bool xen_block_rings_busy(XenBlockRing **rings, unsigned int nr)
{
    unsigned int i;

    for (i = 0; i < nr; i++) {
        if (xen_block_ring_busy(rings[i])) {
            return true;
        }
    }
    return false;
}

/*
 * @nr stopped rings have no request in flight any more: unmap and free them
 * and the array.  The caller has taken them from the device first:
 * whatever ran while they were waited for (a XenStore watch, a bottom half)
 * found the device disconnected and could not free them again.
 */
static void xen_block_release_rings(XenBlockDevice *blockdev,
                                    XenBlockRing **rings, unsigned int nr)
{
    BlockBackend *blk = blockdev->props.conf.blk;
    unsigned int i;

    /* A ring that broke reported on this connection, not the next one */
    qemu_bh_cancel(blockdev->ring_error_bh);
    qatomic_set(&blockdev->broken_ring, 0);

    /* Nothing uses the rings or the grants now */
    for (i = 0; i < nr; i++) {
        xen_block_ring_free(rings[i]);
    }
    g_free(rings);

    if (!blockdev->rings &&
        blk_get_aio_context(blk) != qemu_get_aio_context()) {
        blk_set_aio_context(blk, qemu_get_aio_context(), &error_abort);
    }
}

static void xen_block_stop_rings(XenBlockRing **rings, unsigned int nr)
{
    unsigned int i;

    for (i = 0; i < nr; i++) {
        xen_block_ring_stop(rings[i]);
    }
}

/* Stop @nr rings, wait for every request they submitted, free them. */
static void xen_block_free_rings(XenBlockDevice *blockdev,
                                 XenBlockRing **rings, unsigned int nr)
{
    xen_block_stop_rings(rings, nr);
    AIO_WAIT_WHILE_UNLOCKED(NULL, xen_block_rings_busy(rings, nr));
    xen_block_release_rings(blockdev, rings, nr);
}

/*
 * A disconnect waits for the requests of the stopped rings without holding
 * up the main loop: a remote store (NBD, RBD, iSCSI) that stopped answering
 * would otherwise freeze QEMU, QMP included, until it came back.  Their
 * grants stay mapped until then.  A poll, not a notification from the
 * completion: a ring can be freed the moment its last request is done, so
 * that request's callback cannot touch it afterwards.  The poll starts at
 * a millisecond (a disconnect with fast I/O in flight is not delayed) and
 * backs off to a tenth of a second (a store that is down for minutes does
 * not wake the main loop a thousand times a second).
 */
#define XEN_BLOCK_CLOSING_POLL_MIN_MS 1
#define XEN_BLOCK_CLOSING_POLL_MAX_MS 100

static void xen_block_closing_poll(void *opaque)
{
    XenBlockDevice *blockdev = opaque;
    XenBlockRing **rings = blockdev->closing;
    unsigned int nr = blockdev->nr_closing;
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    if (xen_block_rings_busy(rings, nr)) {
        blockdev->closing_poll_ms = MIN(blockdev->closing_poll_ms * 2,
                                        XEN_BLOCK_CLOSING_POLL_MAX_MS);
        timer_mod(blockdev->closing_timer, now + blockdev->closing_poll_ms);
        return;
    }
    trace_xen_pv_block_disconnect_done(xen_block_name(blockdev),
                                       now - blockdev->closing_since);
    blockdev->closing = NULL;
    blockdev->nr_closing = 0;
    xen_block_release_rings(blockdev, rings, nr);
    xen_pv_frontend_disconnected(XEN_DEVICE(blockdev), &blockdev->fe_state,
                                 &xen_block_frontend_ops);
}

/* Unrealize: what a disconnect left waiting has to finish now. */
static void xen_block_finish_closing(XenBlockDevice *blockdev)
{
    XenBlockRing **rings = blockdev->closing;
    unsigned int nr = blockdev->nr_closing;

    timer_del(blockdev->closing_timer);
    if (!rings) {
        return;
    }
    blockdev->closing = NULL;
    blockdev->nr_closing = 0;
    AIO_WAIT_WHILE_UNLOCKED(NULL, xen_block_rings_busy(rings, nr));
    xen_block_release_rings(blockdev, rings, nr);
}

/* Returns false if requests are still in flight (xen-pv-frontend.h). */
static bool xen_block_disconnect(XenBlockDevice *blockdev)
{
    XenBlockRing **rings = blockdev->rings;
    unsigned int nr = blockdev->nr_rings;

    if (!rings) {
        return true;
    }
    trace_xen_pv_block_disconnect(xen_block_name(blockdev), nr);
    blockdev->rings = NULL;
    blockdev->nr_rings = 0;
    xen_block_stop_rings(rings, nr);
    if (!xen_block_rings_busy(rings, nr)) {
        xen_block_release_rings(blockdev, rings, nr);
        return true;
    }
    trace_xen_pv_block_disconnect_wait(xen_block_name(blockdev), nr);
    assert(!blockdev->closing);
    blockdev->closing = rings;
    blockdev->nr_closing = nr;
    blockdev->closing_since = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    blockdev->closing_poll_ms = XEN_BLOCK_CLOSING_POLL_MIN_MS;
    timer_mod(blockdev->closing_timer,
              blockdev->closing_since + blockdev->closing_poll_ms);
    return false;
}

static XenBlockGrantMode xen_block_grant_mode(XenBlockDevice *blockdev,
                                              const XenBlkifFrontend *fe)
{
    if (blockdev->props.persistent && fe->persistent) {
        return XEN_BLOCK_GRANT_PERSISTENT;
    }
    switch (blockdev->props.grant_copy) {
    case ON_OFF_AUTO_OFF:
        /* One batched map per request needs multi-ref maps */
        if (qemu_xen_gnttab_can_map_multi()) {
            return XEN_BLOCK_GRANT_MAP;
        }
        return XEN_BLOCK_GRANT_COPY;
    default:
        /*
         * Copy by default: one batched operation per request and no unmap
         * (no TLB flush) on real Xen; what upstream QEMU does.
         */
        return XEN_BLOCK_GRANT_COPY;
    }
}

/*
 * A ring's share of the device's io-budget: a quarter at most for
 * persistent grants (in persistent mode), an eighth at most (8 MiB) for
 * bounce buffers kept for reuse, the rest for the requests in flight.
 */
static void xen_block_ring_budget(XenBlockDevice *blockdev,
                                  unsigned int nr_queues,
                                  XenBlockRingConfig *cfg)
{
    uint64_t share = blockdev->props.io_budget / nr_queues;

    cfg->max_persistent = 0;
    if (cfg->grant_mode == XEN_BLOCK_GRANT_PERSISTENT) {
        cfg->max_persistent = MIN(blockdev->props.max_persistent,
                                  share / 4 / XEN_BLKIF_PAGE_SIZE);
    }
    cfg->bounce_cache = MIN(XEN_BLOCK_BOUNCE_CACHE, share / 8);
    cfg->max_inflight_bytes = share - cfg->bounce_cache -
        (uint64_t)cfg->max_persistent * XEN_BLKIF_PAGE_SIZE;
}

QEMU_BUILD_BUG_ON(XEN_BLOCK_MAX_QUEUES > XEN_PV_KEYS_MAX_QUEUES);
QEMU_BUILD_BUG_ON(XEN_BLOCK_MAX_RING_PAGES != XEN_PV_KEYS_MAX_RING_PAGES);

static bool xen_block_connect(XenBlockDevice *blockdev, Error **errp)
{
    XenDevice *xendev = XEN_DEVICE(blockdev);
    BlockBackend *blk = blockdev->props.conf.blk;
    const XenPvKeys keys = { xen_pv_frontend_key, xendev };
    const XenBlkifFeLimits lim = {
        .max_queues = blockdev->max_queues,
        .max_ring_page_order = blockdev->props.max_ring_page_order,
        .multi_page = qemu_xen_gnttab_can_map_multi(),
    };
    g_autofree XenBlkifFrontend *fe = g_new(XenBlkifFrontend, 1);
    g_autofree char *err = NULL;
    XenBlockRingConfig cfg = { 0 };
    XenBlockRing **rings;
    unsigned int i;

    if (!xen_blkif_parse_frontend(&keys, &lim, fe, &err)) {
        error_setg(errp, "%s", err);
        return false;
    }
    cfg.abi = fe->abi;
    cfg.grant_mode = xen_block_grant_mode(blockdev, fe);
    cfg.map_overflow = blockdev->props.map_overflow;
    cfg.nr_ring_refs = fe->nr_ring_refs;
    xen_block_ring_budget(blockdev, fe->nr_queues, &cfg);

    /*
     * Enough handles for the rings, the persistent grants and a full
     * ring of indirect requests mapped at once.
     */
    xen_device_set_max_grant_refs(xendev, fe->nr_queues *
        (fe->nr_ring_refs + blockdev->props.max_persistent +
         xen_blkif_ring_entries(cfg.abi, fe->nr_ring_refs) *
         MAX(blockdev->props.max_indirect_segs,
             BLKIF_MAX_SEGMENTS_PER_REQUEST)), NULL);

    /* The BlockBackend's home is the first ring's context, as virtio-blk */
    if (blk_set_aio_context(blk, blockdev->queue_ctx[0], errp) < 0) {
        return false;
    }

    rings = g_new0(XenBlockRing *, fe->nr_queues);
    for (i = 0; i < fe->nr_queues; i++) {
        cfg.index = i;
        cfg.ctx = blockdev->queue_ctx[i];
        memcpy(cfg.ring_refs, fe->queue[i].ring_refs, sizeof(cfg.ring_refs));
        cfg.event_channel = fe->queue[i].event_channel;
        rings[i] = xen_block_ring_start(blockdev, &cfg, errp);
        if (!rings[i]) {
            break;
        }
    }
    if (i < fe->nr_queues) {
        xen_block_free_rings(blockdev, rings, i);
        return false;
    }
    blockdev->rings = rings;
    blockdev->nr_rings = fe->nr_queues;
    xen_pv_backend_clear_error(xendev);
    trace_xen_pv_block_connect(xen_block_name(blockdev), fe->nr_queues,
                               fe->ring_page_order, cfg.abi, cfg.grant_mode);
    return true;
}

static bool xen_block_is_connected(XenDevice *xendev)
{
    return XEN_BLOCK_DEVICE(xendev)->rings;
}

static bool xen_block_connect_cb(XenDevice *xendev, Error **errp)
{
    return xen_block_connect(XEN_BLOCK_DEVICE(xendev), errp);
}

static bool xen_block_disconnect_cb(XenDevice *xendev)
{
    return xen_block_disconnect(XEN_BLOCK_DEVICE(xendev));
}

static const XenPvFrontendOps xen_block_frontend_ops = {
    .is_connected = xen_block_is_connected,
    .connect = xen_block_connect_cb,
    .disconnect = xen_block_disconnect_cb,
};

static void xen_block_frontend_changed(XenDevice *xendev,
                                       enum xenbus_state frontend_state,
                                       Error **errp)
{
    XenBlockDevice *blockdev = XEN_BLOCK_DEVICE(xendev);

    xen_pv_frontend_changed(xendev, &blockdev->fe_state,
                            &xen_block_frontend_ops, frontend_state);
}

/* ---- block layer callbacks ---- */

/* Publish the size; rewrite the state so the frontend's watch fires. */
static void xen_block_update_size(XenBlockDevice *blockdev, bool announce)
{
    XenDevice *xendev = XEN_DEVICE(blockdev);
    BlockBackend *blk = blockdev->props.conf.blk;
    int64_t bytes = blk_is_inserted(blk) ? blk_getlength(blk) : 0;
    uint64_t sectors = bytes > 0 ? bytes >> XEN_BLKIF_SECTOR_SHIFT : 0;

    qatomic_set(&blockdev->limits.nb_sectors, sectors);
    trace_xen_pv_block_size(xen_block_name(blockdev), sectors);
    xen_device_backend_printf(xendev, "sectors", "%" PRIu64, sectors);
    /*
     * Not while closing: XenBus answers a rewritten Closing whose frontend
     * is gone with Closed, before the requests in flight have finished.
     */
    if (announce &&
        xen_device_backend_get_state(xendev) == XenbusStateConnected) {
        /* Like Linux blkback: the frontend re-reads on a state write */
        xen_device_backend_printf(xendev, "state", "%u",
                                  xen_device_backend_get_state(xendev));
    }
}

static void xen_block_resize_cb(void *opaque)
{
    xen_block_update_size(opaque, true);
}

static void xen_block_change_media_cb(void *opaque, bool load, Error **errp)
{
    XenBlockDevice *blockdev = opaque;

    trace_xen_pv_block_media_change(xen_block_name(blockdev), load);
    xen_block_update_size(blockdev, true);
}

static void xen_block_drained_begin(void *opaque)
{
    XenBlockDevice *blockdev = opaque;
    unsigned int i;

    for (i = 0; i < blockdev->nr_rings; i++) {
        xen_block_ring_detach(blockdev->rings[i]);
    }
}

static void xen_block_drained_end(void *opaque)
{
    XenBlockDevice *blockdev = opaque;
    unsigned int i;

    for (i = 0; i < blockdev->nr_rings; i++) {
        xen_block_ring_attach(blockdev->rings[i]);
    }
}

static const BlockDevOps xen_disk_dev_ops = {
    .resize_cb = xen_block_resize_cb,
    .drained_begin = xen_block_drained_begin,
    .drained_end = xen_block_drained_end,
};

/* A CD-ROM without a tray: media can be changed and ejected at any time */
static const BlockDevOps xen_cdrom_dev_ops = {
    .change_media_cb = xen_block_change_media_cb,
    .resize_cb = xen_block_resize_cb,
    .drained_begin = xen_block_drained_begin,
    .drained_end = xen_block_drained_end,
};

static void xen_block_vm_state_change(void *opaque, bool running,
                                      RunState state)
{
    XenBlockDevice *blockdev = opaque;
    unsigned int i;

    if (!running) {
        return;
    }
    for (i = 0; i < blockdev->nr_rings; i++) {
        xen_block_ring_retry(blockdev->rings[i]);
    }
}

/* ---- queues and their AioContexts ---- */

static bool xen_block_setup_queues(XenBlockDevice *blockdev, Error **errp)
{
    XenBlockProperties *props = &blockdev->props;

    blockdev->max_queues = props->max_queues ?:
        MIN(g_get_num_processors(), XEN_BLOCK_MAX_QUEUES);
    if (blockdev->max_queues > XEN_BLOCK_MAX_QUEUES) {
        error_setg(errp, "max-queues %u above %u", props->max_queues,
                   XEN_BLOCK_MAX_QUEUES);
        return false;
    }
    if (!xen_pv_queue_contexts_init(&blockdev->qctx, blockdev->max_queues,
                                    props->iothread,
                                    props->iothread_queue_mapping, errp)) {
        return false;
    }
    blockdev->queue_ctx = blockdev->qctx.ctx;
    return true;
}

static void xen_block_release_queues(XenBlockDevice *blockdev)
{
    xen_pv_queue_contexts_cleanup(&blockdev->qctx);
    blockdev->queue_ctx = NULL;
}

/* ---- realize ---- */

static void xen_block_publish(XenBlockDevice *blockdev)
{
    XenDevice *xendev = XEN_DEVICE(blockdev);
    XenBlockProperties *props = &blockdev->props;
    BlockConf *conf = &props->conf;
    XenBlockLimits *lim = &blockdev->limits;

    xen_device_backend_printf(xendev, "feature-flush-cache", "%u", 1);
    if (lim->barrier) {
        xen_device_backend_printf(xendev, "feature-barrier", "%u", 1);
    }
    if (lim->discard) {
        xen_device_backend_printf(xendev, "feature-discard", "%u", 1);
        xen_device_backend_printf(xendev, "discard-granularity", "%u",
                                  conf->discard_granularity);
        xen_device_backend_printf(xendev, "discard-alignment", "%u", 0);
        if (lim->discard_secure) {
            xen_device_backend_printf(xendev, "discard-secure", "%u", 1);
        }
    }
    if (props->persistent) {
        xen_device_backend_printf(xendev, "feature-persistent", "%u", 1);
    }
    if (lim->max_indirect_segs) {
        xen_device_backend_printf(xendev, "feature-max-indirect-segments",
                                  "%u", lim->max_indirect_segs);
    }
    if (qemu_xen_gnttab_can_map_multi()) {
        xen_device_backend_printf(xendev, "max-ring-page-order", "%u",
                                  props->max_ring_page_order);
    }
    xen_device_backend_printf(xendev, "multi-queue-max-queues", "%u",
                              blockdev->max_queues);
    xen_device_backend_printf(xendev, "info", "%u", blockdev->info);
    xen_device_backend_printf(xendev, "mode", "%s",
                              (blockdev->info & VDISK_READONLY) ? "r" : "w");
    xen_device_backend_printf(xendev, "sector-size", "%u",
                              conf->logical_block_size);
    xen_device_backend_printf(xendev, "physical-sector-size", "%u",
                              conf->physical_block_size);
    xen_device_frontend_printf(xendev, "virtual-device", "%lu",
                               props->vdev.number);
    xen_device_frontend_printf(xendev, "device-type", "%s",
                               blockdev->device_type);
    xen_block_update_size(blockdev, false);
    /*
     * XenBus wrote InitWait before calling us: write it again, now that the
     * features are there, so a frontend that looked early looks again.
     */
    xen_device_backend_printf(xendev, "state", "%u",
                              xen_device_backend_get_state(xendev));
}

static void xen_block_realize(XenDevice *xendev, Error **errp)
{
    ERRP_GUARD();
    XenBlockDevice *blockdev = XEN_BLOCK_DEVICE(xendev);
    XenBlockDeviceClass *klass = XEN_BLOCK_DEVICE_GET_CLASS(xendev);
    XenBlockProperties *props = &blockdev->props;
    BlockConf *conf = &props->conf;
    XenBlockLimits *lim = &blockdev->limits;
    bool read_only;

    if (props->vdev.type == XEN_BLOCK_VDEV_TYPE_INVALID) {
        error_setg(errp, "vdev property not set");
        return;
    }
    if (props->max_ring_page_order > XEN_BLOCK_MAX_RING_PAGE_ORDER) {
        error_setg(errp, "max-ring-page-order %u above %u",
                   props->max_ring_page_order, XEN_BLOCK_MAX_RING_PAGE_ORDER);
        return;
    }
    /* Each segment can be one I/O vector entry: stay within IOV_MAX */
    if (props->max_indirect_segs > XEN_BLOCK_MAX_INDIRECT_SEGS) {
        error_setg(errp, "max-indirect-segments %u above %u",
                   props->max_indirect_segs, XEN_BLOCK_MAX_INDIRECT_SEGS);
        return;
    }
    if (props->io_budget < XEN_BLOCK_MIN_IO_BUDGET) {
        error_setg(errp, "io-budget %" PRIu64 " below %u bytes",
                   props->io_budget, (unsigned int)XEN_BLOCK_MIN_IO_BUDGET);
        return;
    }
    if (props->persistent && !props->max_persistent) {
        error_setg(errp, "max-persistent-grants must be at least 1");
        return;
    }
    trace_xen_pv_block_realize(object_get_typename(OBJECT(blockdev)),
                            props->vdev.number);

    klass->realize(blockdev, errp);
    if (*errp) {
        return;
    }
    read_only = blockdev->info & VDISK_READONLY;
    if (!blkconf_apply_backend_options(conf, read_only, true, errp)) {
        return;
    }
    if (!(blockdev->info & VDISK_CDROM) &&
        !blkconf_geometry(conf, NULL, 65535, 255, 255, errp)) {
        return;
    }
    if (!blkconf_blocksizes(conf, errp)) {
        return;
    }
    if (conf->logical_block_size % 512) {
        error_setg(errp, "logical_block_size must be a multiple of 512");
        return;
    }
    if (conf->discard_granularity == -1) {
        conf->discard_granularity = conf->physical_block_size;
    }
    if (!xen_block_setup_queues(blockdev, errp)) {
        xen_block_release_queues(blockdev);
        return;
    }

    *lim = (XenBlockLimits) {
        .sector_size = conf->logical_block_size,
        .max_indirect_segs = props->max_indirect_segs,
        .read_only = read_only,
        .barrier = !read_only,
        .discard = !read_only && (blk_get_flags(conf->blk) & BDRV_O_UNMAP),
    };
    lim->discard_secure = lim->discard && props->discard_secure;

    /* Resize, media change and drained sections reach us through these */
    blk_set_dev_ops(conf->blk, blockdev->info & VDISK_CDROM ?
                    &xen_cdrom_dev_ops : &xen_disk_dev_ops, blockdev);
    blk_iostatus_enable(conf->blk);
    blockdev->ring_error_bh = qemu_bh_new_guarded(
        xen_block_ring_error_bh, blockdev,
        &DEVICE(blockdev)->mem_reentrancy_guard);
    blockdev->vmstate = qemu_add_vm_change_state_handler(
        xen_block_vm_state_change, blockdev);
    blockdev->closing_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                           xen_block_closing_poll, blockdev);
    xen_block_publish(blockdev);
}

static void xen_block_unrealize(XenDevice *xendev)
{
    XenBlockDevice *blockdev = XEN_BLOCK_DEVICE(xendev);

    if (!blockdev->queue_ctx) {
        return;                 /* realize failed before anything was set */
    }
    trace_xen_pv_block_unrealize(xen_block_name(blockdev));
    xen_pv_frontend_teardown(xendev, &blockdev->fe_state,
                             &xen_block_frontend_ops);
    /* Requests in flight use the grants and the BlockBackend: wait */
    xen_block_finish_closing(blockdev);
    if (blockdev->closing_timer) {
        timer_free(blockdev->closing_timer);
        blockdev->closing_timer = NULL;
    }
    if (blockdev->vmstate) {
        qemu_del_vm_change_state_handler(blockdev->vmstate);
        blockdev->vmstate = NULL;
    }
    if (blockdev->ring_error_bh) {
        qemu_bh_delete(blockdev->ring_error_bh);
        blockdev->ring_error_bh = NULL;
    }
    blk_set_dev_ops(blockdev->props.conf.blk, NULL, NULL);
    xen_block_release_queues(blockdev);
}

static const Property xen_block_props[] = {
    DEFINE_PROP("vdev", XenBlockDevice, props.vdev,
                xen_block_prop_vdev, XenBlockVdev),
    DEFINE_BLOCK_PROPERTIES(XenBlockDevice, props.conf),
    DEFINE_BLOCK_ERROR_PROPERTIES(XenBlockDevice, props.conf),
    DEFINE_PROP_UINT32("max-ring-page-order", XenBlockDevice,
                       props.max_ring_page_order,
                       XEN_BLOCK_MAX_RING_PAGE_ORDER),
    DEFINE_PROP_UINT32("max-queues", XenBlockDevice, props.max_queues, 0),
    DEFINE_PROP_UINT32("max-indirect-segments", XenBlockDevice,
                       props.max_indirect_segs, 256),
    DEFINE_PROP_BOOL("persistent-grants", XenBlockDevice, props.persistent,
                     true),
    DEFINE_PROP_UINT32("max-persistent-grants", XenBlockDevice,
                       props.max_persistent, 1056),
    DEFINE_PROP_BOOL("discard-secure", XenBlockDevice, props.discard_secure,
                     false),
    DEFINE_PROP_BOOL("map-overflow", XenBlockDevice, props.map_overflow,
                     false),
    DEFINE_PROP_ON_OFF_AUTO("grant-copy", XenBlockDevice, props.grant_copy,
                            ON_OFF_AUTO_AUTO),
    DEFINE_PROP_SIZE("io-budget", XenBlockDevice, props.io_budget,
                     XEN_BLOCK_DEFAULT_IO_BUDGET),
    DEFINE_PROP_LINK("iothread", XenBlockDevice, props.iothread,
                     TYPE_IOTHREAD, IOThread *),
    DEFINE_PROP_IOTHREAD_VQ_MAPPING_LIST(XEN_PV_QUEUE_MAPPING_PROP,
                                         XenBlockDevice,
                                         props.iothread_queue_mapping),
};

static void xen_block_instance_init(Object *obj)
{
    xen_pv_queue_mapping_add_alias(obj);
}

static void xen_block_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenDeviceClass *xendev_class = XEN_DEVICE_CLASS(class);

    xendev_class->backend = "qdisk";
    xendev_class->device = "vbd";
    xendev_class->get_name = xen_block_get_name;
    xendev_class->realize = xen_block_realize;
    xendev_class->frontend_changed = xen_block_frontend_changed;
    xendev_class->unrealize = xen_block_unrealize;
    device_class_set_props(dev_class, xen_block_props);
    set_bit(DEVICE_CATEGORY_STORAGE, dev_class->categories);
}

static void xen_disk_realize(XenBlockDevice *blockdev, Error **errp)
{
    BlockConf *conf = &blockdev->props.conf;

    blockdev->device_type = "disk";
    if (!conf->blk) {
        error_setg(errp, "drive property not set");
        return;
    }
    if (!blk_is_inserted(conf->blk)) {
        error_setg(errp, "device needs media, but drive is empty");
        return;
    }
    blockdev->info = blk_supports_write_perm(conf->blk) ? 0 : VDISK_READONLY;
}

static void xen_disk_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenBlockDeviceClass *blockdev_class = XEN_BLOCK_DEVICE_CLASS(class);

    blockdev_class->realize = xen_disk_realize;
    dev_class->desc = "Xen Disk Device";
}

static void xen_cdrom_realize(XenBlockDevice *blockdev, Error **errp)
{
    BlockConf *conf = &blockdev->props.conf;

    blockdev->device_type = "cdrom";
    if (!conf->blk) {
        int ret;

        /* An empty drive, for media to be inserted later */
        conf->blk = blk_new(qemu_get_aio_context(), 0, BLK_PERM_ALL);
        ret = blk_attach_dev(conf->blk, DEVICE(blockdev));
        if (ret < 0) {
            error_setg_errno(errp, -ret, "failed to create drive");
            return;
        }
    }
    blockdev->info = VDISK_CDROM | VDISK_REMOVABLE | VDISK_READONLY;
}

static void xen_cdrom_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenBlockDeviceClass *blockdev_class = XEN_BLOCK_DEVICE_CLASS(class);

    blockdev_class->realize = xen_cdrom_realize;
    dev_class->desc = "Xen CD-ROM Device";
}

static const TypeInfo xen_block_types[] = {
    {
        .name = TYPE_XEN_BLOCK_DEVICE,
        .parent = TYPE_XEN_DEVICE,
        .instance_size = sizeof(XenBlockDevice),
        .instance_init = xen_block_instance_init,
        .abstract = true,
        .class_size = sizeof(XenBlockDeviceClass),
        .class_init = xen_block_class_init,
    }, {
        .name = TYPE_XEN_DISK_DEVICE,
        .parent = TYPE_XEN_BLOCK_DEVICE,
        .instance_size = sizeof(XenBlockDevice),
        .class_init = xen_disk_class_init,
    }, {
        .name = TYPE_XEN_CDROM_DEVICE,
        .parent = TYPE_XEN_BLOCK_DEVICE,
        .instance_size = sizeof(XenBlockDevice),
        .class_init = xen_cdrom_class_init,
    },
};

DEFINE_TYPES(xen_block_types)
