/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen 9pfs backend on XenBus: QOM type xen-9pfs, backend type "9pfs",
 * frontend type "9pfs".  This file is the negotiation (realize, frontend
 * state, connect, disconnect); the data path is xen-9pfs-ring.c.  Design:
 * docs/devel/xen-9pfs.rst.
 *
 * Thread context: BQL, main loop (the 9P server has no other).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "block/aio-wait.h"
#include "hw/qdev-properties.h"
#include "hw/xen/xen.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/interface/io/xenbus.h"
#include "hw/xen/pv/xen-9pfs.h"
#include "trace.h"

static const char *xen_9pfs_name(Xen9pfsDevice *dev)
{
    return dev->xendev.name ?: "?";
}

/* ---- connection ---- */

/*
 * No request is in flight any more: the 9P server forgets the connection's
 * fids (v9fs_reset() waits only for their clunks), and the rings go.
 */
static void xen_9pfs_release(Xen9pfsDevice *dev)
{
    unsigned int i;

    assert(!dev->in_flight);
    /* Scheduled by the last request even if we got here first */
    qemu_bh_cancel(dev->closing_bh);
    v9fs_reset(&dev->state);
    assert(!dev->in_flight && !dev->inflight_bytes);
    for (i = 0; i < dev->nr_rings; i++) {
        xen_9pfs_ring_release(&dev->rings[i]);
    }
    g_free(dev->rings);
    dev->rings = NULL;
    dev->nr_rings = 0;
    dev->starved = false;
    xen_9pfs_reply_bufs_free(dev);
    /* Only now: an error reported meanwhile must not close us again */
    dev->closing = false;
}

/*
 * Stop taking requests; returns false if some are still in flight (a
 * request may wait for as long as the file system makes it: a hung network
 * file system, a throttled fsdev): the main loop goes on, and
 * xen_9pfs_closing_bh() finishes once the last one completes
 * (xen-pv-frontend.h).
 */
static bool xen_9pfs_disconnect(Xen9pfsDevice *dev)
{
    unsigned int i;

    if (!dev->rings) {
        return true;
    }
    if (!dev->closing) {
        trace_xen_pv_9pfs_disconnect(xen_9pfs_name(dev));
        dev->closing = true;
        for (i = 0; i < dev->nr_rings; i++) {
            xen_9pfs_ring_stop(&dev->rings[i]);
        }
    }
    if (dev->in_flight) {
        trace_xen_pv_9pfs_disconnect_wait(xen_9pfs_name(dev), dev->in_flight);
        return false;
    }
    xen_9pfs_release(dev);
    return true;
}

static bool xen_9pfs_connect(Xen9pfsDevice *dev, Error **errp)
{
    ERRP_GUARD();
    XenDevice *xendev = XEN_DEVICE(dev);
    const XenPvKeys keys = { xen_pv_frontend_key, xendev };
    const Xen9pfsFeLimits lim = { .max_rings = dev->max_rings };
    g_autofree char *err = NULL;
    g_autofree char *tag = NULL;
    Xen9pfsFrontend fe;
    unsigned int i;

    if (!xen_9pfs_parse_frontend(&keys, &lim, &fe, &err)) {
        trace_xen_pv_9pfs_bad_frontend(xen_9pfs_name(dev), err);
        error_setg(errp, "%s", err);
        return false;
    }
    /* libxl writes the tag in the frontend area; we wrote ours there */
    tag = xen_device_frontend_read(xendev, "tag");
    if (tag && strcmp(tag, dev->state.fsconf.tag)) {
        trace_xen_pv_9pfs_tag_mismatch(xen_9pfs_name(dev), tag,
                                       dev->state.fsconf.tag);
    }
    xen_device_set_max_grant_refs(xendev, fe.nr_rings *
                                  (1 + (1u << dev->max_ring_order)), errp);
    if (*errp) {
        return false;
    }
    dev->rings = g_new0(Xen9pfsRing, fe.nr_rings);
    dev->nr_rings = fe.nr_rings;
    for (i = 0; i < fe.nr_rings; i++) {
        dev->rings[i].index = i;
        dev->rings[i].dev = dev;
    }
    for (i = 0; i < fe.nr_rings; i++) {
        if (!xen_9pfs_ring_connect(dev, &dev->rings[i], fe.ring[i].ring_ref,
                                   fe.ring[i].event_channel, errp)) {
            trace_xen_pv_9pfs_bad_frontend(xen_9pfs_name(dev),
                                           error_get_pretty(*errp));
            xen_9pfs_disconnect(dev);
            return false;
        }
    }
    trace_xen_pv_9pfs_connect(xen_9pfs_name(dev), dev->nr_rings,
                              dev->rings[0].order);
    return true;
}

static bool xen_9pfs_is_connected(XenDevice *xendev)
{
    return XEN_9PFS_DEVICE(xendev)->rings;
}

static bool xen_9pfs_connect_cb(XenDevice *xendev, Error **errp)
{
    return xen_9pfs_connect(XEN_9PFS_DEVICE(xendev), errp);
}

static bool xen_9pfs_disconnect_cb(XenDevice *xendev)
{
    return xen_9pfs_disconnect(XEN_9PFS_DEVICE(xendev));
}

/* Requests the frontend queued before we were Connected */
static void xen_9pfs_connected_cb(XenDevice *xendev)
{
    Xen9pfsDevice *dev = XEN_9PFS_DEVICE(xendev);

    g_free(dev->error);
    dev->error = NULL;
    xen_pv_backend_clear_error(xendev);
    qemu_bh_schedule(dev->kick_bh);
}

static const XenPvFrontendOps xen_9pfs_frontend_ops = {
    .is_connected = xen_9pfs_is_connected,
    .connect = xen_9pfs_connect_cb,
    .disconnect = xen_9pfs_disconnect_cb,
    .connected = xen_9pfs_connected_cb,
};

/* Main loop: the last request of a closing connection has completed. */
static void xen_9pfs_closing_bh(void *opaque)
{
    Xen9pfsDevice *dev = opaque;

    if (!dev->closing || dev->in_flight || dev->fe_state.torn_down) {
        return;                 /* unrealize finishes a torn-down device */
    }
    trace_xen_pv_9pfs_disconnect_done(xen_9pfs_name(dev));
    xen_9pfs_release(dev);
    xen_pv_frontend_disconnected(XEN_DEVICE(dev), &dev->fe_state,
                                 &xen_9pfs_frontend_ops);
}

static void xen_9pfs_frontend_changed(XenDevice *xendev,
                                      enum xenbus_state frontend_state,
                                      Error **errp)
{
    Xen9pfsDevice *dev = XEN_9PFS_DEVICE(xendev);

    xen_pv_frontend_changed(xendev, &dev->fe_state, &xen_9pfs_frontend_ops,
                            frontend_state);
}

/*
 * Main loop: look at every ring (connected, or a request completed while
 * some waited for a PDU or the budget), starting after the ring that was
 * served first last time, so that no ring is always last.
 */
static void xen_9pfs_kick_bh(void *opaque)
{
    Xen9pfsDevice *dev = opaque;
    unsigned int i;

    if (!dev->nr_rings) {
        return;
    }
    dev->next_kick = (dev->next_kick + 1) % dev->nr_rings;
    for (i = 0; i < dev->nr_rings && !dev->starved; i++) {
        xen_9pfs_ring_kick(&dev->rings[(dev->next_kick + i) %
                                       dev->nr_rings]);
    }
}

/* Main loop: a ring broke (reported once per connection) */
static void xen_9pfs_error_bh(void *opaque)
{
    Xen9pfsDevice *dev = opaque;

    if (dev->error && dev->rings && !dev->closing) {
        xen_pv_backend_fatal(XEN_DEVICE(dev), dev->error);
    }
}

/* ---- realize ---- */

static char *xen_9pfs_get_name(XenDevice *xendev, Error **errp)
{
    Xen9pfsDevice *dev = XEN_9PFS_DEVICE(xendev);
    XenBus *xenbus = XEN_BUS(qdev_get_parent_bus(DEVICE(xendev)));
    unsigned int idx;

    if (dev->idx >= 0) {
        return g_strdup_printf("%d", dev->idx);
    }
    /* The first number without a frontend node */
    for (idx = 0; idx < 1000; idx++) {
        g_autofree char *path = g_strdup_printf("/local/domain/%u/device/"
                                                "9pfs/%u",
                                                xendev->frontend_id, idx);
        g_autofree char *val = qemu_xen_xs_read(xenbus->xsh, XBT_NULL, path,
                                                NULL);

        if (!val) {
            dev->idx = idx;
            return g_strdup_printf("%u", idx);
        }
    }
    error_setg(errp, "cannot find a free 9pfs device number");
    return NULL;
}

static void xen_9pfs_realize(XenDevice *xendev, Error **errp)
{
    Xen9pfsDevice *dev = XEN_9PFS_DEVICE(xendev);
    V9fsState *s = &dev->state;

    if (dev->max_rings < XEN_9PFS_MIN_RINGS ||
        dev->max_rings > XEN_PV_KEYS_MAX_9PFS_RINGS) {
        error_setg(errp, "max-rings %u not in %u..%u", dev->max_rings,
                   XEN_9PFS_MIN_RINGS, XEN_PV_KEYS_MAX_9PFS_RINGS);
        return;
    }
    if (dev->max_ring_order < 1 ||
        dev->max_ring_order > XEN_9PFS_MAX_RING_ORDER) {
        error_setg(errp, "max-ring-page-order %u not in 1..%u",
                   dev->max_ring_order, XEN_9PFS_MAX_RING_ORDER);
        return;
    }
    if (!s->fsconf.fsdev_id) {
        error_setg(errp, "fsdev is required");
        return;
    }
    if (v9fs_device_realize_common(s, &xen_9pfs_transport, errp)) {
        return;
    }
    dev->kick_bh = qemu_bh_new_guarded(xen_9pfs_kick_bh, dev,
                                       &DEVICE(dev)->mem_reentrancy_guard);
    dev->error_bh = qemu_bh_new_guarded(xen_9pfs_error_bh, dev,
                                        &DEVICE(dev)->mem_reentrancy_guard);
    dev->closing_bh = qemu_bh_new_guarded(xen_9pfs_closing_bh, dev,
                                          &DEVICE(dev)->mem_reentrancy_guard);

    trace_xen_pv_9pfs_realize(xen_9pfs_name(dev), s->fsconf.tag,
                              s->fsconf.fsdev_id);
    /* What libxl writes for a toolstack-created device */
    xen_device_frontend_printf(xendev, "tag", "%s", s->fsconf.tag);
    xen_device_backend_printf(xendev, "versions", "%s", XEN_9PFS_VERSIONS);
    xen_device_backend_printf(xendev, "max-rings", "%u", dev->max_rings);
    xen_device_backend_printf(xendev, "max-ring-page-order", "%u",
                              dev->max_ring_order);
    /*
     * XenBus wrote InitWait before calling us: write it again, now that the
     * keys are there, so a frontend that looked early looks again.
     */
    xen_device_backend_printf(xendev, "state", "%u",
                              xen_device_backend_get_state(xendev));
}

static void xen_9pfs_unrealize(XenDevice *xendev)
{
    Xen9pfsDevice *dev = XEN_9PFS_DEVICE(xendev);

    if (!dev->kick_bh) {
        return;                 /* realize failed before anything was set */
    }
    trace_xen_pv_9pfs_unrealize(xen_9pfs_name(dev));
    xen_pv_frontend_teardown(xendev, &dev->fe_state, &xen_9pfs_frontend_ops);
    if (dev->closing) {
        /*
         * Unplug or exit: the device cannot go while a request uses it, so
         * this waits for the requests in flight (as virtio-9p's reset).
         */
        trace_xen_pv_9pfs_disconnect_wait(xen_9pfs_name(dev), dev->in_flight);
        AIO_WAIT_WHILE_UNLOCKED(NULL, dev->in_flight);
        xen_9pfs_release(dev);
    }
    qemu_bh_delete(dev->closing_bh);
    dev->closing_bh = NULL;
    qemu_bh_delete(dev->kick_bh);
    dev->kick_bh = NULL;
    qemu_bh_delete(dev->error_bh);
    dev->error_bh = NULL;
    g_free(dev->error);
    dev->error = NULL;
    v9fs_device_unrealize_common(&dev->state);
}

static const Property xen_9pfs_props[] = {
    DEFINE_PROP_STRING("mount_tag", Xen9pfsDevice, state.fsconf.tag),
    DEFINE_PROP_STRING("fsdev", Xen9pfsDevice, state.fsconf.fsdev_id),
    DEFINE_PROP_INT32("idx", Xen9pfsDevice, idx, -1),
    DEFINE_PROP_UINT32("max-rings", Xen9pfsDevice, max_rings,
                       XEN_9PFS_DEFAULT_MAX_RINGS),
    DEFINE_PROP_UINT32("max-ring-page-order", Xen9pfsDevice, max_ring_order,
                       XEN_9PFS_MAX_RING_ORDER),
    DEFINE_PROP_SIZE("max-inflight-bytes", Xen9pfsDevice, max_inflight_bytes,
                     XEN_9PFS_DEFAULT_INFLIGHT_BYTES),
};

static void xen_9pfs_class_init(ObjectClass *class, void *data)
{
    DeviceClass *dev_class = DEVICE_CLASS(class);
    XenDeviceClass *xendev_class = XEN_DEVICE_CLASS(class);

    xendev_class->backend = "9pfs";
    xendev_class->device = "9pfs";
    xendev_class->get_name = xen_9pfs_get_name;
    xendev_class->realize = xen_9pfs_realize;
    xendev_class->frontend_changed = xen_9pfs_frontend_changed;
    xendev_class->unrealize = xen_9pfs_unrealize;
    set_bit(DEVICE_CATEGORY_STORAGE, dev_class->categories);
    dev_class->user_creatable = true;
    dev_class->desc = "Xen 9pfs backend (9pfs)";
    device_class_set_props(dev_class, xen_9pfs_props);
}

static const TypeInfo xen_9pfs_type_info = {
    .name = TYPE_XEN_9PFS_DEVICE,
    .parent = TYPE_XEN_DEVICE,
    .instance_size = sizeof(Xen9pfsDevice),
    .class_init = xen_9pfs_class_init,
};

static void xen_9pfs_register_types(void)
{
    type_register_static(&xen_9pfs_type_info);
}

type_init(xen_9pfs_register_types)
