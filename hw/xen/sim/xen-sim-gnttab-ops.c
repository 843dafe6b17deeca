/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim grant tables: the backend ops (xen_backend_ops.h) on the core model
 * of xen-sim-gnttab.c.
 *
 * Mappings are real: each granted frame is mmap()ed from the guest memory fd
 * at its place in a reserved address range, read-only when the grant is used
 * read-only, so the backend sees the guest's pages with no copy and cannot
 * write a page it was granted read-only.
 *
 * Thread context: any (backends call from iothreads); gt->lock serialises.
 */

#include "qemu/osdep.h"
#include <sys/mman.h>
#include "qapi/error.h"
#include "qemu/atomic.h"
#include "hw/xen/sim/xen-sim.h"
#include "trace.h"

typedef struct XenSimGntMapping {
    xengnttab_handle *owner;
    uint32_t count;
    bool readonly;
    grant_ref_t refs[];
} XenSimGntMapping;

/* ---- backend ops (include/hw/xen/xen_backend_ops.h) ---- */

struct xengntdev_handle {
    uint32_t max_grants;        /* 0: no limit */
    uint32_t mapped;            /* refs mapped through this handle */
};

static xengnttab_handle *sim_gnttab_open(void)
{
    if (!xen_sim) {
        errno = ENOSYS;
        return NULL;
    }
    return g_new0(xengnttab_handle, 1);
}

/* Undo mapping @m at @area; caller holds gt->lock. */
static void unmap_locked(XenSimGnttab *gt, void *area, XenSimGntMapping *m)
{
    munmap(area, (size_t)m->count * XEN_PAGE_SIZE);
    for (uint32_t i = 0; i < m->count; i++) {
        xen_sim_gnttab_unpin_locked(gt, m->refs[i], m->readonly);
    }
    m->owner->mapped -= m->count;
    if (gt->counters) {
        qatomic_add(&gt->counters->grant_unmaps, m->count);
    }
}

static gboolean unmap_if_owned(gpointer key, gpointer value, gpointer opaque)
{
    XenSimGntMapping *m = value;

    if (m->owner != opaque) {
        return FALSE;
    }
    unmap_locked(&xen_sim->gnttab, key, m);
    return TRUE;
}

/* As closing a gntdev fd does: whatever is still mapped is unmapped. */
static int sim_gnttab_close(xengnttab_handle *xgt)
{
    XenSimGnttab *gt = &xen_sim->gnttab;

    qemu_mutex_lock(&gt->lock);
    g_hash_table_foreach_remove(gt->mappings, unmap_if_owned, xgt);
    qemu_mutex_unlock(&gt->lock);
    g_free(xgt);
    return 0;
}

static int sim_gnttab_set_max_grants(xengnttab_handle *xgt, uint32_t nr)
{
    xgt->max_grants = nr;
    return 0;
}

static int sim_gnttab_grant_copy(xengnttab_handle *xgt, bool to_domain,
                                 uint32_t domid, XenGrantCopySegment *segs,
                                 uint32_t nr_segs, Error **errp)
{
    XenSimGnttab *gt = &xen_sim->gnttab;
    int ret = 0;

    if (domid != gt->granter) {
        error_setg(errp, "xen-sim: grant copy from unknown domain %u", domid);
        return -EINVAL;
    }
    for (uint32_t i = 0; i < nr_segs; i++) {
        XenGrantCopySegment *seg = &segs[i];
        off_t off = to_domain ? seg->dest.foreign.offset
                              : seg->source.foreign.offset;
        int st;

        if (off < 0 || off > XEN_PAGE_SIZE) {
            st = GNTST_bad_copy_arg;
        } else if (to_domain) {
            st = xen_sim_gnttab_copy(gt, gt->grantee, seg->dest.foreign.ref,
                                     seg->dest.foreign.offset,
                                     seg->source.virt, seg->len, true);
        } else {
            st = xen_sim_gnttab_copy(gt, gt->grantee, seg->source.foreign.ref,
                                     seg->source.foreign.offset,
                                     seg->dest.virt, seg->len, false);
        }
        if (st != GNTST_okay && !ret) {
            error_setg(errp, "xen-sim: grant copy segment %u failed: %s (%d)",
                       i, xen_sim_gntst_str(st), st);
            ret = -EIO;
        }
    }
    return ret;
}

static void *sim_gnttab_map_refs(xengnttab_handle *xgt, uint32_t count,
                                 uint32_t domid, uint32_t *refs, int prot)
{
    XenSimGnttab *gt = &xen_sim->gnttab;
    bool readonly = !(prot & PROT_WRITE);
    XenSimGntMapping *m;
    uint64_t *gfns;
    uint8_t *area;
    uint32_t i = 0;
    int st = GNTST_okay;

    if (!count || domid != gt->granter || gt->mem_fd < 0 ||
        (xgt->max_grants && count > xgt->max_grants - MIN(xgt->mapped,
                                                          xgt->max_grants))) {
        errno = EINVAL;
        return NULL;
    }
    gfns = g_new(uint64_t, count);
    qemu_mutex_lock(&gt->lock);
    for (i = 0; i < count; i++) {
        st = xen_sim_gnttab_pin_locked(gt, gt->grantee, refs[i], readonly,
                                       &gfns[i]);
        if (st != GNTST_okay) {
            trace_xen_sim_gnttab_error("map", refs[i], st,
                                       xen_sim_gntst_str(st));
            break;
        }
    }
    if (st != GNTST_okay) {
        goto undo;
    }
    area = mmap(NULL, (size_t)count * XEN_PAGE_SIZE, PROT_NONE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (area == MAP_FAILED) {
        goto undo;
    }
    for (uint32_t j = 0; j < count; j++) {
        void *p = mmap(area + (size_t)j * XEN_PAGE_SIZE, XEN_PAGE_SIZE,
                       readonly ? PROT_READ : PROT_READ | PROT_WRITE,
                       MAP_SHARED | MAP_FIXED, gt->mem_fd,
                       gfns[j] * XEN_PAGE_SIZE);
        if (p == MAP_FAILED) {
            munmap(area, (size_t)count * XEN_PAGE_SIZE);
            goto undo;
        }
    }
    m = g_malloc(sizeof(*m) + count * sizeof(grant_ref_t));
    m->owner = xgt;
    xgt->mapped += count;
    m->count = count;
    m->readonly = readonly;
    memcpy(m->refs, refs, count * sizeof(grant_ref_t));
    g_hash_table_insert(gt->mappings, area, m);
    qemu_mutex_unlock(&gt->lock);
    g_free(gfns);
    if (gt->counters) {
        qatomic_add(&gt->counters->grant_maps, count);
    }
    return area;

undo:
    while (i-- > 0) {
        xen_sim_gnttab_unpin_locked(gt, refs[i], readonly);
    }
    qemu_mutex_unlock(&gt->lock);
    g_free(gfns);
    errno = EINVAL;
    return NULL;
}

static int sim_gnttab_unmap(xengnttab_handle *xgt, void *start,
                            uint32_t *refs, uint32_t count)
{
    XenSimGnttab *gt = &xen_sim->gnttab;
    XenSimGntMapping *m;

    qemu_mutex_lock(&gt->lock);
    m = g_hash_table_lookup(gt->mappings, start);
    if (!m || m->count != count || m->owner != xgt) {
        qemu_mutex_unlock(&gt->lock);
        return -EINVAL;
    }
    unmap_locked(gt, start, m);
    g_hash_table_remove(gt->mappings, start);
    qemu_mutex_unlock(&gt->lock);
    return 0;
}

struct gnttab_backend_ops xen_sim_gnttab_ops = {
    .features = XEN_GNTTAB_OP_FEATURE_MAP_MULTIPLE,
    .open = sim_gnttab_open,
    .close = sim_gnttab_close,
    .grant_copy = sim_gnttab_grant_copy,
    .set_max_grants = sim_gnttab_set_max_grants,
    .map_refs = sim_gnttab_map_refs,
    .unmap = sim_gnttab_unmap,
};
