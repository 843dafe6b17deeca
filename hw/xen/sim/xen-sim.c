/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim machine: a software Xen platform for QEMU's Xen backends.
 *
 *   qemu-system-x86_64 -M xen-sim,socket=ctl.sock,xs-socket=xs.sock \
 *       -accel qtest -m 256M -device xen-disk,vdev=xvda,drive=d0 ...
 *
 * No guest CPU runs.  The machine's RAM (a memfd, shared) is the guest
 * domain's memory; an external frontend process gets it over "socket" and
 * drives the devices like a Xen guest would.  See docs/devel/xen-sim.rst.
 *
 * Thread context: machine init and properties under the BQL.
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "qemu/atomic.h"
#include "qom/object_interfaces.h"
#include "system/hostmem.h"
#include "exec/address-spaces.h"
#include "exec/ramblock.h"
#include "qemu/memfd.h"
#include "exec/memory.h"
#include "hw/xen/xen.h"
#include "hw/xen/xen-bus.h"
#include "hw/xen/sim/xen-sim.h"
#include "trace.h"

XenSimState *xen_sim;

/* The default RAM is a shared memfd, so that the frontend can map it. */
static bool xen_sim_create_default_memdev(MachineState *ms, const char *path,
                                          Error **errp)
{
    MachineClass *mc = MACHINE_GET_CLASS(ms);
    Object *obj = object_new(TYPE_MEMORY_BACKEND_MEMFD);
    bool ok = false;

    if (path) {
        error_setg(errp, "xen-sim: -mem-path is not supported; the guest "
                   "memory is a memfd");
        goto out;
    }
    if (!object_property_set_int(obj, "size", ms->ram_size, errp) ||
        !object_property_set_bool(obj, "share", true, errp)) {
        goto out;
    }
    object_property_add_child(object_get_objects_root(), mc->default_ram_id,
                              obj);
    if (!object_property_set_bool(obj, "x-use-canonical-path-for-ramblock-id",
                                  false, errp) ||
        !user_creatable_complete(USER_CREATABLE(obj), errp)) {
        goto out;
    }
    ok = object_property_set_link(OBJECT(ms), "memory-backend", obj, errp);
out:
    object_unref(obj);
    return ok;
}

static void xen_sim_machine_init(MachineState *ms)
{
    XenSimState *s = XEN_SIM_MACHINE(ms);
    Error *err = NULL;
    int seals;

    if (xen_sim) {
        error_report("xen-sim: only one xen-sim platform per process");
        exit(1);
    }
    if (xen_evtchn_ops || xen_gnttab_ops || xen_xenstore_ops) {
        error_report("xen-sim: another Xen platform (real Xen or KVM Xen "
                     "emulation) is already in use");
        exit(1);
    }
    if (s->domid == 0 || s->domid >= 0x7ff0) {
        error_report("xen-sim: domid must be 1..32751, not %u", s->domid);
        exit(1);
    }
    /*
     * The frontend gets the fd: it must not be able to shrink it under us
     * (SIGBUS), and QEMU must see the same pages it does.
     */
    s->mem_fd = memory_region_get_fd(ms->ram);
    seals = s->mem_fd < 0 ? -1 : fcntl(s->mem_fd, F_GET_SEALS);
    if (seals < 0 || !(seals & F_SEAL_SHRINK) ||
        !qemu_ram_is_shared(ms->ram->ram_block) ||
        ms->ram->ram_block->fd_offset != 0) {
        error_report("xen-sim: the guest memory must be a sealed, shared "
                     "memfd (memory-backend-memfd,share=on,seal=on, the "
                     "default)");
        exit(1);
    }
    memory_region_add_subregion(get_system_memory(), 0, ms->ram);
    s->mem = memory_region_get_ram_ptr(ms->ram);
    s->mem_size = memory_region_size(ms->ram);

    xen_sim = s;
    xen_domid = s->domid;
    xen_sim_gnttab_init(&s->gnttab, s->mem, s->mem_size, s->mem_fd, s->domid,
                        XEN_SIM_BACKEND_DOMID, &s->counters);
    s->evtchn = xen_sim_evtchn_new(&s->counters);
    xen_sim_xenstore_init(s);
    /* Before XenBus's scan, as libxl writes them before QEMU starts */
    if (s->xs_preload_path &&
        !xen_sim_xenstore_preload(s, s->xs_preload_path, &err)) {
        error_report_err(err);
        exit(1);
    }

    xen_evtchn_ops = &xen_sim_evtchn_ops;
    xen_gnttab_ops = &xen_sim_gnttab_ops;
    xen_xenstore_ops = &xen_sim_xenstore_ops;

    if (s->socket_path) {
        s->control_server = xen_sim_control_server_new(s, s->socket_path,
                                                       &err);
    }
    if (!err && s->xs_socket_path) {
        s->xs_server = xen_sim_xs_server_new(s, s->xs_socket_path, s->domid,
                                             &err);
    }
    if (!err && s->xs_admin_socket_path) {
        s->xs_admin_server = xen_sim_xs_server_new(s, s->xs_admin_socket_path,
                                                   XEN_SIM_BACKEND_DOMID,
                                                   &err);
    }
    if (err) {
        error_report_err(err);
        exit(1);
    }

    xen_bus_init();
    trace_xen_sim_init(s->domid, s->mem_size);
}

/* ---- properties ---- */

#define XEN_SIM_STR_PROP(fn, field)                                        \
static char *xen_sim_get_##fn(Object *obj, Error **errp)                  \
{                                                                          \
    return g_strdup(XEN_SIM_MACHINE(obj)->field);                          \
}                                                                          \
static void xen_sim_set_##fn(Object *obj, const char *val, Error **errp)  \
{                                                                          \
    XenSimState *s = XEN_SIM_MACHINE(obj);                                 \
    g_free(s->field);                                                      \
    s->field = g_strdup(val);                                              \
}

XEN_SIM_STR_PROP(socket, socket_path)
XEN_SIM_STR_PROP(xs_socket, xs_socket_path)
XEN_SIM_STR_PROP(xs_admin_socket, xs_admin_socket_path)
XEN_SIM_STR_PROP(xs_preload, xs_preload_path)

static void xen_sim_get_domid(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    visit_type_uint32(v, name, &XEN_SIM_MACHINE(obj)->domid, errp);
}

static void xen_sim_set_domid(Object *obj, Visitor *v, const char *name,
                              void *opaque, Error **errp)
{
    uint32_t val;

    if (visit_type_uint32(v, name, &val, errp)) {
        XEN_SIM_MACHINE(obj)->domid = val;
    }
}

static void xen_sim_get_counter(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    XenSimState *s = XEN_SIM_MACHINE(obj);
    uint64_t val = qatomic_read((uint64_t *)((uint8_t *)&s->counters +
                                             (uintptr_t)opaque));

    visit_type_uint64(v, name, &val, errp);
}

static const struct {
    const char *name;
    size_t offset;
    const char *desc;
} xen_sim_counters[] = {
    { "grant-maps", offsetof(XenSimCounters, grant_maps),
      "grant references mapped by backends" },
    { "grant-unmaps", offsetof(XenSimCounters, grant_unmaps),
      "grant references unmapped by backends" },
    { "grant-copy-segs", offsetof(XenSimCounters, grant_copy_segs),
      "grant copy segments" },
    { "grant-copy-bytes", offsetof(XenSimCounters, grant_copy_bytes),
      "bytes moved by grant copy" },
    { "notify-to-guest", offsetof(XenSimCounters, notify_to_guest),
      "event channel notifications from backends to the guest" },
    { "notify-to-backend", offsetof(XenSimCounters, notify_to_backend),
      "event channel notifications from the guest to backends" },
    { "xs-directories", offsetof(XenSimCounters, xs_directories),
      "XenStore directory listings by backends (XenBus enumerates with them)" },
};

static void xen_sim_instance_init(Object *obj)
{
    XenSimState *s = XEN_SIM_MACHINE(obj);

    s->domid = 1;
    s->mem_fd = -1;
}

static void xen_sim_instance_finalize(Object *obj)
{
    XenSimState *s = XEN_SIM_MACHINE(obj);

    xen_sim_server_free(s->control_server);
    xen_sim_server_free(s->xs_server);
    xen_sim_server_free(s->xs_admin_server);
    g_free(s->socket_path);
    g_free(s->xs_socket_path);
    g_free(s->xs_admin_socket_path);
    g_free(s->xs_preload_path);
}

static void xen_sim_class_init(ObjectClass *oc, void *data)
{
    MachineClass *mc = MACHINE_CLASS(oc);

    mc->desc = "Software Xen platform for Xen PV backends (no guest CPU)";
    mc->init = xen_sim_machine_init;
    mc->max_cpus = 1;
    mc->default_ram_size = 128 * MiB;
    mc->default_ram_id = "xen-sim.ram";
    mc->create_default_memdev = xen_sim_create_default_memdev;
    mc->no_parallel = 1;
    mc->no_floppy = 1;
    mc->no_cdrom = 1;
    mc->default_display = "none";
    mc->block_default_type = IF_XEN;

    object_class_property_add(oc, "domid", "uint32", xen_sim_get_domid,
                              xen_sim_set_domid, NULL, NULL);
    object_class_property_set_description(oc, "domid",
        "Domain ID of the guest (frontend) domain, default 1");
    object_class_property_add_str(oc, "socket", xen_sim_get_socket,
                                  xen_sim_set_socket);
    object_class_property_set_description(oc, "socket",
        "Unix socket for the frontend: memory, grant table, event channels");
    object_class_property_add_str(oc, "xs-socket", xen_sim_get_xs_socket,
                                  xen_sim_set_xs_socket);
    object_class_property_set_description(oc, "xs-socket",
        "Unix socket serving XenStore (wire format) with the guest's rights");
    object_class_property_add_str(oc, "xs-admin-socket",
                                  xen_sim_get_xs_admin_socket,
                                  xen_sim_set_xs_admin_socket);
    object_class_property_set_description(oc, "xs-admin-socket",
        "Unix socket serving XenStore (wire format) with dom0's rights");
    object_class_property_add_str(oc, "xs-preload", xen_sim_get_xs_preload,
                                  xen_sim_set_xs_preload);
    object_class_property_set_description(oc, "xs-preload",
        "File of XenStore entries (PATH = \"VALUE\" [(PERMS)] lines) written "
        "before the backends scan the store, as a toolstack does");
    for (size_t i = 0; i < ARRAY_SIZE(xen_sim_counters); i++) {
        void *offset = (void *)(uintptr_t)xen_sim_counters[i].offset;

        object_class_property_add(oc, xen_sim_counters[i].name, "uint64",
                                  xen_sim_get_counter, NULL, NULL, offset);
        object_class_property_set_description(oc, xen_sim_counters[i].name,
                                              xen_sim_counters[i].desc);
    }
}

static const TypeInfo xen_sim_machine_info = {
    .name = TYPE_XEN_SIM_MACHINE,
    .parent = TYPE_MACHINE,
    .instance_size = sizeof(XenSimState),
    .instance_init = xen_sim_instance_init,
    .instance_finalize = xen_sim_instance_finalize,
    .class_init = xen_sim_class_init,
};

static void xen_sim_register_types(void)
{
    type_register_static(&xen_sim_machine_info);
}

type_init(xen_sim_register_types)
