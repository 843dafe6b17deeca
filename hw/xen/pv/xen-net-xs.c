/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-net: NICs the toolstack creates through XenStore (backend type
 * "qnic"): the backend directory names the vif number and holds `mac`
 * and, optionally, `mtu`.
 * Such a NIC has no netdev: QEMU's net layer drops what it sends, as with
 * upstream's backend.  Operators who want traffic use -device / -nic.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qemu/cutils.h"
#include "net/net.h"
#include "net/util.h"
#include "hw/xen/xen-backend.h"
#include "hw/xen/pv/xen-net.h"
#include "trace.h"

static void xen_net_xs_create(XenBackendInstance *backend, QDict *opts,
                              Error **errp)
{
    ERRP_GUARD();
    XenBus *xenbus = xen_backend_get_bus(backend);
    const char *name = xen_backend_get_name(backend);
    const char *macstr = qdict_get_try_str(opts, "mac");
    const char *mtustr = qdict_get_try_str(opts, "mtu");
    XenDevice *xendev;
    unsigned long number, mtu = 1500;
    MACAddr mac;

    if (qemu_strtoul(name, NULL, 10, &number) || number >= INT_MAX) {
        error_setg(errp, "failed to parse vif number '%s'", name);
        return;
    }
    if (!macstr) {
        error_setg(errp, "vif %lu: no MAC address (`mac`)", number);
        return;
    }
    if (net_parse_macaddr(mac.a, macstr) < 0) {
        error_setg(errp, "vif %lu: bad MAC address '%s'", number, macstr);
        return;
    }
    if (mtustr && qemu_strtoul(mtustr, NULL, 10, &mtu)) {
        error_setg(errp, "vif %lu: bad mtu '%s'", number, mtustr);
        return;
    }
    trace_xen_pv_net_xs_create(number, macstr);

    xendev = XEN_DEVICE(qdev_new(TYPE_XEN_NET_DEVICE));
    qdev_prop_set_int32(DEVICE(xendev), "idx", number);
    qdev_prop_set_macaddr(DEVICE(xendev), "mac", mac.a);
    /* Out of range: realize says so */
    qdev_prop_set_uint32(DEVICE(xendev), "mtu", MIN(mtu, UINT32_MAX));
    if (!qdev_realize_and_unref(DEVICE(xendev), BUS(xenbus), errp)) {
        error_prepend(errp, "realization of vif %lu failed: ", number);
        object_unparent(OBJECT(xendev));
        return;
    }
    xen_backend_set_device(backend, xendev);
}

static void xen_net_xs_destroy(XenBackendInstance *backend, Error **errp)
{
    XenDevice *xendev = xen_backend_get_device(backend);

    trace_xen_pv_net_xs_destroy(xendev->name);
    object_unparent(OBJECT(xendev));
}

static const XenBackendInfo xen_net_backend_info = {
    .type = "qnic",
    .create = xen_net_xs_create,
    .destroy = xen_net_xs_destroy,
};

static void xen_net_xs_register(void)
{
    xen_backend_register(&xen_net_backend_info);
}

xen_backend_init(xen_net_xs_register);
