/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-9pfs: shares the toolstack creates through XenStore (backend type
 * "9pfs", libxl's p9 = [...]): the backend directory holds `path` and
 * `security_model`, the frontend directory the `tag`.  We make an -fsdev
 * of the local driver from them, then a xen-9pfs device that serves it.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qobject/qdict.h"
#include "qemu/config-file.h"
#include "qemu/cutils.h"
#include "qemu/option.h"
#include "fsdev/qemu-fsdev.h"
#include "hw/qdev-properties.h"
#include "hw/xen/xen.h"
#include "hw/xen/xen-backend.h"
#include "hw/xen/xen-bus-helper.h"
#include "hw/xen/pv/xen-9pfs.h"
#include "trace.h"

/* The -fsdevs one device number may have: see xen_9pfs_xs_fsdev() */
#define XEN_9PFS_XS_MAX_FSDEVS 64

/*
 * The -fsdev (local driver) that serves share @number at @path: QEMU cannot
 * remove an fsdev, so a device the toolstack creates again reuses the one
 * made for that number before if its path and security model are the
 * same, and gets a new one if they are not.
 */
static char *xen_9pfs_xs_fsdev(unsigned long number, const char *path,
                               const char *model, Error **errp)
{
    QemuOptsList *list = qemu_find_opts("fsdev");
    unsigned int gen;

    for (gen = 0; gen < XEN_9PFS_XS_MAX_FSDEVS; gen++) {
        g_autofree char *id = gen ?
            g_strdup_printf("xen9pfs-%u-%lu-%u", xen_domid, number, gen) :
            g_strdup_printf("xen9pfs-%u-%lu", xen_domid, number);
        QemuOpts *fsdev = qemu_opts_find(list, id);

        if (fsdev || get_fsdev_fsentry(id)) {
            if (fsdev && get_fsdev_fsentry(id) &&
                !g_strcmp0(qemu_opt_get(fsdev, "path"), path) &&
                !g_strcmp0(qemu_opt_get(fsdev, "security_model"), model)) {
                return g_steal_pointer(&id);
            }
            continue;
        }
        fsdev = qemu_opts_create(list, id, 1, errp);
        if (!fsdev) {
            return NULL;
        }
        qemu_opt_set(fsdev, "fsdriver", "local", &error_abort);
        qemu_opt_set(fsdev, "path", path, &error_abort);
        qemu_opt_set(fsdev, "security_model", model, &error_abort);
        if (qemu_fsdev_add(fsdev, errp)) {
            qemu_opts_del(fsdev);
            return NULL;
        }
        return g_steal_pointer(&id);
    }
    error_setg(errp, "9pfs %lu: %u other directories were shared under "
               "this number: restart the device model to share another",
               number, XEN_9PFS_XS_MAX_FSDEVS);
    return NULL;
}

static void xen_9pfs_xs_create(XenBackendInstance *backend, QDict *opts,
                               Error **errp)
{
    ERRP_GUARD();
    XenBus *xenbus = xen_backend_get_bus(backend);
    const char *name = xen_backend_get_name(backend);
    const char *path = qdict_get_try_str(opts, "path");
    const char *model = qdict_get_try_str(opts, "security_model");
    g_autofree char *fsdev_id = NULL, *tag = NULL;
    XenDevice *xendev;
    unsigned long number;

    if (qemu_strtoul(name, NULL, 10, &number) || number >= INT_MAX) {
        error_setg(errp, "failed to parse 9pfs device number '%s'", name);
        return;
    }
    if (!path) {
        error_setg(errp, "9pfs %lu: no `path`", number);
        return;
    }
    tag = xs_node_read(xenbus->xsh, XBT_NULL, NULL, NULL,
                       "/local/domain/%u/device/9pfs/%s/tag", xen_domid,
                       name);
    if (!tag) {
        error_setg(errp, "9pfs %lu: no frontend `tag`", number);
        return;
    }
    fsdev_id = xen_9pfs_xs_fsdev(number, path, model ?: "none", errp);
    if (!fsdev_id) {
        return;
    }
    trace_xen_pv_9pfs_xs_create(number, path, tag);

    xendev = XEN_DEVICE(qdev_new(TYPE_XEN_9PFS_DEVICE));
    qdev_prop_set_int32(DEVICE(xendev), "idx", number);
    qdev_prop_set_string(DEVICE(xendev), "fsdev", fsdev_id);
    qdev_prop_set_string(DEVICE(xendev), "mount_tag", tag);
    if (!qdev_realize_and_unref(DEVICE(xendev), BUS(xenbus), errp)) {
        error_prepend(errp, "realization of 9pfs %lu failed: ", number);
        object_unparent(OBJECT(xendev));
        return;
    }
    xen_backend_set_device(backend, xendev);
}

static void xen_9pfs_xs_destroy(XenBackendInstance *backend, Error **errp)
{
    XenDevice *xendev = xen_backend_get_device(backend);

    trace_xen_pv_9pfs_xs_destroy(xendev->name);
    object_unparent(OBJECT(xendev));
}

static const XenBackendInfo xen_9pfs_backend_info = {
    .type = "9pfs",
    .create = xen_9pfs_xs_create,
    .destroy = xen_9pfs_xs_destroy,
};

static void xen_9pfs_xs_register(void)
{
    xen_backend_register(&xen_9pfs_backend_info);
}

xen_backend_init(xen_9pfs_xs_register);
