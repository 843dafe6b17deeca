/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Xen PV backends: frontend state changes (see xen-pv-frontend.h).
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/interface/io/xenbus.h"
#include "hw/xen/pv/xen-pv-frontend.h"
#include "trace.h"

void xen_pv_backend_fatal(XenDevice *xendev, const char *msg)
{
    trace_xen_pv_backend_fatal(xendev->backend_path, msg);
    xen_device_backend_printf(xendev, "error", "%s", msg);
    xen_device_backend_set_state(xendev, XenbusStateClosing);
}

char *xen_pv_frontend_key(void *opaque, const char *key)
{
    return xen_device_frontend_read(opaque, key);
}

void xen_pv_backend_clear_error(XenDevice *xendev)
{
    g_autofree char *path = g_strdup_printf("%s/error",
                                            xendev->backend_path);

    qemu_xen_xs_destroy(xendev->xsh, XBT_NULL, path);
}

static void handle_state(XenDevice *xendev, const XenPvFrontendOps *ops,
                         enum xenbus_state state)
{
    enum xenbus_state backend_state = xen_device_backend_get_state(xendev);
    Error *local_err = NULL;

    trace_xen_pv_frontend_changed(xendev->backend_path, state, backend_state);
    switch (state) {
    case XenbusStateInitialised:
    case XenbusStateConnected:
        /* Watches fire spuriously: connecting twice is a no-op */
        if (backend_state == XenbusStateConnected ||
            backend_state == XenbusStateClosing || ops->is_connected(xendev)) {
            break;
        }
        if (!ops->connect(xendev, &local_err)) {
            xen_pv_backend_fatal(xendev, error_get_pretty(local_err));
            error_free(local_err);
            break;
        }
        xen_device_backend_set_state(xendev, XenbusStateConnected);
        if (ops->connected) {
            ops->connected(xendev);
        }
        break;

    case XenbusStateInitialising:
        /*
         * XenBus answers a re-initialising frontend itself, unless the
         * change came while we were still closing (handled late, here).
         */
        if (backend_state == XenbusStateClosed && xendev->backend_online) {
            xen_device_backend_set_state(xendev, XenbusStateInitWait);
        }
        break;

    case XenbusStateClosing:
        xen_device_backend_set_state(xendev, XenbusStateClosing);
        break;

    case XenbusStateClosed:
    case XenbusStateUnknown:
        ops->disconnect(xendev);
        xen_device_backend_set_state(xendev, XenbusStateClosed);
        break;

    default:
        break;
    }
}

void xen_pv_frontend_changed(XenDevice *xendev, XenPvFrontendState *st,
                             const XenPvFrontendOps *ops,
                             enum xenbus_state state)
{
    if (st->in_transition) {
        /* Nested in a wait of ours: handled when it is over */
        st->change_pending = true;
        return;
    }
    st->in_transition = true;
    for (;;) {
        st->change_pending = false;
        handle_state(xendev, ops, state);
        if (!st->change_pending) {
            break;
        }
        if (xen_device_frontend_scanf(xendev, "state", "%u", &state) != 1) {
            state = XenbusStateUnknown;
        }
    }
    st->in_transition = false;
}

void xen_pv_frontend_teardown(XenDevice *xendev, XenPvFrontendState *st,
                              const XenPvFrontendOps *ops)
{
    /* Left set: the device is going away, later changes are ignored */
    st->in_transition = true;
    ops->disconnect(xendev);
}
