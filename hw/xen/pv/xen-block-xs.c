/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-block: disks created by the toolstack through XenStore.
 *
 * XenBus calls create() when it finds backend/qdisk/<domid>/<devid> with
 * online = 1 and state = 1, passing the keys libxl wrote: `params`
 * ("<format>:<path>", the path a file, a block device or a network store's
 * URL; "aio:" alone is an empty CD-ROM), `mode` ("r"/"w"),
 * `device-type` ("disk"/"cdrom"), `dev` (the vdev name), `discard-enable`
 * and `direct-io-safe`.  Each device gets a block node and an iothread of
 * its own, removed again by destroy().
 *
 * Thread context: BQL.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-block-core.h"
#include "qapi/qapi-commands-qom.h"
#include "qapi/qapi-visit-block-core.h"
#include "qapi/qobject-input-visitor.h"
#include "block/block-global-state.h"
#include "block/block_int-global-state.h"
#include "qobject/qdict.h"
#include "qom/object_interfaces.h"
#include "hw/qdev-core.h"
#include "hw/xen/xen-backend.h"
#include "hw/xen/pv/xen-block.h"
#include "system/iothread.h"
#include "system/runstate.h"
#include "xen-block-xs.h"
#include "trace.h"

bool xen_block_xs_parse_params(const char *params, char **driver,
                               char **filename)
{
    static const struct {
        const char *libxl, *qemu;
    } formats[] = {
        { "aio", "raw" },       /* libxl's name for a raw image */
        { "raw", "raw" },
        { "vhd", "vpc" },
        { "qcow", "qcow" },
        { "qcow2", "qcow2" },
        { "qed", "qed" },
        { "vmdk", "vmdk" },
    };
    const char *colon = strchr(params, ':');
    g_autofree char *fmt = NULL;
    size_t i;

    if (!colon) {
        *driver = g_strdup("raw");
        *filename = g_strdup(params);
        return true;
    }
    fmt = g_strndup(params, colon - params);
    for (i = 0; i < ARRAY_SIZE(formats); i++) {
        if (!strcmp(fmt, formats[i].libxl)) {
            *driver = g_strdup(formats[i].qemu);
            *filename = g_strdup(colon + 1);
            return true;
        }
    }
    return false;
}

static bool opt_true(QDict *opts, const char *key)
{
    const char *v = qdict_get_try_str(opts, key);
    unsigned long n;

    return v && !qemu_strtoul(v, NULL, 10, &n) && n;
}

/*
 * A network store named the way libxl passes it for backendtype=qdisk, the
 * protocol in the target: "rbd:pool/image:id=...:conf=...", "nbd://host:port/
 * export", "nbd:host:port", "iscsi://host/iqn/lun".  No QAPI type takes
 * such a filename: it is opened as -drive opens one, the protocol's driver
 * parsing it, with blockdev-add's defaults (bds_tree_init()), and the node
 * is then monitor-owned as blockdev-add's are, so blockdev-del removes it.
 */
static bool xen_block_xs_add_remote_node(const char *node_name,
                                         const char *driver,
                                         const char *filename,
                                         bool read_only, QDict *opts,
                                         Error **errp)
{
    QDict *top;
    BlockDriverState *bs;
    int flags = 0;

    if (!bdrv_find_protocol(filename, true, errp)) {
        return false;
    }
    top = qdict_new();
    qdict_put_str(top, "driver", driver);
    qdict_put_str(top, "node-name", node_name);
    qdict_put_str(top, BDRV_OPT_READ_ONLY, read_only ? "on" : "off");
    qdict_put_str(top, BDRV_OPT_CACHE_NO_FLUSH, "off");
    qdict_put_str(top, BDRV_OPT_CACHE_DIRECT,
                  opt_true(opts, "direct-io-safe") ? "on" : "off");
    if (opt_true(opts, "discard-enable")) {
        qdict_put_str(top, BDRV_OPT_DISCARD, "unmap");
        qdict_put_str(top, "file." BDRV_OPT_DISCARD, "unmap");
    }
    if (runstate_check(RUN_STATE_INMIGRATE)) {
        flags |= BDRV_O_INACTIVE;
    }
    /* Takes @top */
    bs = bdrv_open(filename, NULL, top, flags, errp);
    if (!bs) {
        return false;
    }
    bdrv_set_monitor_owned(bs);
    return true;
}

/* blockdev-add of @filename as node @node_name. */
static bool xen_block_xs_add_node(const char *node_name, const char *driver,
                                  const char *filename, QDict *opts,
                                  Error **errp)
{
    const char *mode = qdict_get_try_str(opts, "mode");
    bool read_only = mode && mode[0] != 'w';
    QDict *file, *top;
    BlockdevOptions *options = NULL;
    struct stat st;
    Visitor *v;
    bool ok;

    if (path_has_protocol(filename)) {
        return xen_block_xs_add_remote_node(node_name, driver, filename,
                                            read_only, opts, errp);
    }
    file = qdict_new();
    top = qdict_new();
    if (stat(filename, &st)) {
        error_setg_errno(errp, errno, "cannot open '%s'", filename);
        qobject_unref(file);
        qobject_unref(top);
        return false;
    }
    qdict_put_str(file, "driver", S_ISBLK(st.st_mode) ? "host_device" :
                  "file");
    qdict_put_str(file, "filename", filename);
    /* An emulated device of the same domain may have the image open too */
    qdict_put_str(file, "locking", "off");
    if (opt_true(opts, "direct-io-safe")) {
        QDict *cache = qdict_new();

        qdict_put_bool(cache, "direct", true);
        qdict_put(file, "cache", cache);
        qdict_put_str(file, "aio", "native");
    }
    if (opt_true(opts, "discard-enable")) {
        qdict_put_str(file, "discard", "unmap");
        qdict_put_str(top, "discard", "unmap");
    }
    qdict_put_str(top, "driver", driver);
    qdict_put_str(top, "node-name", node_name);
    qdict_put_bool(top, "read-only", read_only);
    qdict_put(top, "file", file);

    v = qobject_input_visitor_new(QOBJECT(top));
    ok = visit_type_BlockdevOptions(v, NULL, &options, errp);
    visit_free(v);
    qobject_unref(top);
    if (ok) {
        qmp_blockdev_add(options, errp);
        ok = !*errp;
    }
    qapi_free_BlockdevOptions(options);
    return ok;
}

static bool xen_block_xs_add_iothread(const char *id, Error **errp)
{
    ObjectOptions opts = {
        .qom_type = OBJECT_TYPE_IOTHREAD,
        .id = (char *)id,
    };

    qmp_object_add(&opts, errp);
    return !*errp;
}

static void xen_block_xs_drive_free(XenBlockXsDrive *drive)
{
    if (drive->iothread_id) {
        qmp_object_del(drive->iothread_id, NULL);
    }
    if (drive->node_name) {
        qmp_blockdev_del(drive->node_name, NULL);
    }
    g_free(drive->iothread_id);
    g_free(drive->node_name);
    g_free(drive);
}

static void xen_block_xs_create(XenBackendInstance *backend, QDict *opts,
                                Error **errp)
{
    ERRP_GUARD();
    XenBus *xenbus = xen_backend_get_bus(backend);
    const char *name = xen_backend_get_name(backend);
    const char *vdev = qdict_get_try_str(opts, "dev");
    const char *device_type = qdict_get_try_str(opts, "device-type");
    const char *params = qdict_get_try_str(opts, "params");
    g_autofree char *driver = NULL, *filename = NULL;
    XenBlockXsDrive *drive = g_new0(XenBlockXsDrive, 1);
    XenDevice *xendev = NULL;
    const char *type;
    unsigned long number;

    trace_xen_pv_block_xs_create(name, params ?: "");
    if (qemu_strtoul(name, NULL, 10, &number)) {
        error_setg(errp, "bad device name '%s'", name);
        goto fail;
    }
    if (!vdev) {
        error_setg(errp, "no dev key");
        goto fail;
    }
    if (!device_type || !strcmp(device_type, "disk")) {
        type = TYPE_XEN_DISK_DEVICE;
    } else if (!strcmp(device_type, "cdrom")) {
        type = TYPE_XEN_CDROM_DEVICE;
    } else {
        error_setg(errp, "bad device-type '%s'", device_type);
        goto fail;
    }
    if (!params) {
        error_setg(errp, "no params key");
        goto fail;
    }
    if (!xen_block_xs_parse_params(params, &driver, &filename)) {
        error_setg(errp, "unknown image format in params '%s'", params);
        goto fail;
    }
    if (*filename) {
        drive->node_name = g_strdup_printf("xen-qdisk-%u-%s", xen_domid,
                                           name);
        if (!xen_block_xs_add_node(drive->node_name, driver, filename, opts,
                                   errp)) {
            g_clear_pointer(&drive->node_name, g_free);
            goto fail;
        }
    } else if (strcmp(type, TYPE_XEN_CDROM_DEVICE)) {
        error_setg(errp, "a disk needs an image in params");
        goto fail;
    }
    drive->iothread_id = g_strdup_printf("xen-qdisk-%u-%s", xen_domid, name);
    if (!xen_block_xs_add_iothread(drive->iothread_id, errp)) {
        g_clear_pointer(&drive->iothread_id, g_free);
        goto fail;
    }

    xendev = XEN_DEVICE(qdev_new(type));
    if (!object_property_set_str(OBJECT(xendev), "vdev", vdev, errp) ||
        (drive->node_name &&
         !object_property_set_str(OBJECT(xendev), "drive", drive->node_name,
                                  errp)) ||
        !object_property_set_str(OBJECT(xendev), "iothread",
                                 drive->iothread_id, errp)) {
        goto fail;
    }
    XEN_BLOCK_DEVICE(xendev)->xs_drive = drive;
    if (!qdev_realize_and_unref(DEVICE(xendev), BUS(xenbus), errp)) {
        XEN_BLOCK_DEVICE(xendev)->xs_drive = NULL;
        object_unparent(OBJECT(xendev));
        /* Let go of the node before it is deleted */
        drain_call_rcu();
        xendev = NULL;
        goto fail;
    }
    xen_backend_set_device(backend, xendev);
    return;

fail:
    error_prepend(errp, "qdisk %s: ", name);
    if (xendev) {
        object_unref(OBJECT(xendev));
    }
    xen_block_xs_drive_free(drive);
}

static void xen_block_xs_destroy(XenBackendInstance *backend, Error **errp)
{
    XenDevice *xendev = xen_backend_get_device(backend);
    XenBlockXsDrive *drive = XEN_BLOCK_DEVICE(xendev)->xs_drive;

    trace_xen_pv_block_xs_destroy(xen_backend_get_name(backend));
    object_unparent(OBJECT(xendev));
    /* The device (and its hold on the node) goes in an RCU callback */
    drain_call_rcu();
    if (drive) {
        xen_block_xs_drive_free(drive);
    }
}

static const XenBackendInfo xen_block_xs_backend = {
    .type = "qdisk",
    .create = xen_block_xs_create,
    .destroy = xen_block_xs_destroy,
};

static void xen_block_xs_register(void)
{
    xen_backend_register(&xen_block_xs_backend);
}

xen_backend_init(xen_block_xs_register);
