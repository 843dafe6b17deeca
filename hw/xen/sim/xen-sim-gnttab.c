/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * xen-sim grant tables (v1): the model of Xen's checks.
 *
 * Pure over a memory window: no machine, no mapping; unit-tested by
 * tests/qtest/xen/xen-sim-gnttab-test.c.  The backend ops built on it are in
 * xen-sim-gnttab-ops.c.
 *
 * Thread context: any (backends call from iothreads); gt->lock serialises.
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/sim/xen-sim-gnttab.h"
#include "trace.h"

const char *xen_sim_gntst_str(int status)
{
    static const char *const names[] = GNTTABOP_error_msgs;

    if (status > 0 || -status >= (int)ARRAY_SIZE(names)) {
        return "unknown grant status";
    }
    return names[-status];
}

void xen_sim_gnttab_init(XenSimGnttab *gt, uint8_t *mem, uint64_t mem_size,
                         int mem_fd, uint16_t granter, uint16_t grantee,
                         XenSimCounters *counters)
{
    memset(gt, 0, sizeof(*gt));
    gt->mem = mem;
    gt->mem_size = mem_size;
    gt->mem_fd = mem_fd;
    gt->granter = granter;
    gt->grantee = grantee;
    gt->counters = counters;
    qemu_mutex_init(&gt->lock);
    gt->mappings = g_hash_table_new_full(g_direct_hash, g_direct_equal,
                                         NULL, g_free);
}

void xen_sim_gnttab_destroy(XenSimGnttab *gt)
{
    g_hash_table_destroy(gt->mappings);
    g_free(gt->pin_read);
    g_free(gt->pin_write);
    g_free(gt->pin_frame);
    qemu_mutex_destroy(&gt->lock);
}

int xen_sim_gnttab_setup(XenSimGnttab *gt, uint64_t gfn, uint32_t nr_frames)
{
    uint64_t pages = gt->mem_size / XEN_PAGE_SIZE;
    int ret = GNTST_okay;

    qemu_mutex_lock(&gt->lock);
    if (nr_frames == 0 || nr_frames > XEN_SIM_GNTTAB_MAX_FRAMES ||
        gfn > pages || nr_frames > pages - gfn) {
        ret = GNTST_general_error;
    } else if (gt->pins) {
        ret = GNTST_general_error;
    } else {
        gt->table_gfn = gfn;
        gt->nr_frames = nr_frames;
        gt->nr_entries = nr_frames * (XEN_PAGE_SIZE / sizeof(grant_entry_v1_t));
        g_free(gt->pin_read);
        g_free(gt->pin_write);
        g_free(gt->pin_frame);
        gt->pin_read = g_new0(uint32_t, gt->nr_entries);
        gt->pin_write = g_new0(uint32_t, gt->nr_entries);
        gt->pin_frame = g_new0(uint64_t, gt->nr_entries);
    }
    qemu_mutex_unlock(&gt->lock);
    trace_xen_sim_gnttab_setup(gfn, nr_frames, ret);
    return ret;
}

static grant_entry_v1_t *entry(XenSimGnttab *gt, grant_ref_t ref)
{
    return (grant_entry_v1_t *)(gt->mem + gt->table_gfn * XEN_PAGE_SIZE) + ref;
}

/*
 * The (flags, domid) pair of a v1 entry as one 32-bit word, so that the
 * guest cannot change the domain between our check and our update.
 */
static inline uint32_t *entry_combo(grant_entry_v1_t *e)
{
    QEMU_BUILD_BUG_ON(offsetof(grant_entry_v1_t, flags) != 0 ||
                      offsetof(grant_entry_v1_t, domid) != 2);
    return (uint32_t *)e;
}

#define COMBO_FLAGS(c)  ((uint16_t)((c) & 0xffff))
#define COMBO_DOMID(c)  ((uint16_t)((c) >> 16))

int xen_sim_gnttab_pin_locked(XenSimGnttab *gt, uint16_t domid,
                              grant_ref_t ref, bool readonly, uint64_t *gfn)
{
    grant_entry_v1_t *e;
    uint32_t *combo, old, new, seen;
    uint16_t flags, set;
    uint64_t frame;

    if (ref >= gt->nr_entries) {
        return GNTST_bad_gntref;
    }
    e = entry(gt, ref);
    combo = entry_combo(e);
    set = readonly ? GTF_reading : (GTF_reading | GTF_writing);

    /*
     * Already in use in a compatible way: Xen keeps the status flags set and
     * only counts the pin; the entry was validated when the first use began.
     */
    if (gt->pin_read[ref] + gt->pin_write[ref] &&
        (readonly || gt->pin_write[ref])) {
        frame = gt->pin_frame[ref];
        goto pinned;
    }

    old = qatomic_read(combo);
    for (;;) {
        flags = COMBO_FLAGS(old);
        if ((flags & GTF_type_mask) != GTF_permit_access ||
            COMBO_DOMID(old) != domid) {
            return GNTST_general_error;
        }
        if (!readonly && (flags & GTF_readonly)) {
            return GNTST_general_error;
        }
        new = old | set;
        if (new == old) {
            break;
        }
        /* Paired with the guest's cmpxchg in its end_foreign_access. */
        seen = qatomic_cmpxchg(combo, old, new);
        if (seen == old) {
            break;
        }
        old = seen;
    }
    if (gt->pin_read[ref]) {
        /* A write use joining read uses: the frame stays what it was. */
        frame = gt->pin_frame[ref];
    } else {
        /* Read the frame only after the entry is marked in use, as Xen. */
        smp_mb();
        frame = qatomic_read(&e->frame);
    }

pinned:
    if (frame >= gt->mem_size / XEN_PAGE_SIZE) {
        uint16_t clear = 0;

        if (!gt->pin_write[ref]) {
            clear |= GTF_writing;
        }
        if (!gt->pin_write[ref] && !gt->pin_read[ref]) {
            clear |= GTF_reading;
        }
        qatomic_and((uint16_t *)&e->flags, (uint16_t)~clear);
        return GNTST_bad_page;
    }
    if (readonly) {
        gt->pin_read[ref]++;
    } else {
        gt->pin_write[ref]++;
    }
    gt->pin_frame[ref] = frame;
    gt->pins++;
    *gfn = frame;
    return GNTST_okay;
}

void xen_sim_gnttab_unpin_locked(XenSimGnttab *gt, grant_ref_t ref,
                                 bool readonly)
{
    grant_entry_v1_t *e = entry(gt, ref);
    uint16_t clear = 0;

    assert(ref < gt->nr_entries);
    if (readonly) {
        assert(gt->pin_read[ref]);
        gt->pin_read[ref]--;
    } else {
        assert(gt->pin_write[ref]);
        gt->pin_write[ref]--;
    }
    gt->pins--;
    if (!gt->pin_write[ref]) {
        clear |= GTF_writing;
    }
    if (!gt->pin_write[ref] && !gt->pin_read[ref]) {
        clear |= GTF_reading;
    }
    if (clear) {
        /* Our accesses to the page visible before the guest sees it free */
        smp_mb();
        qatomic_and((uint16_t *)&e->flags, (uint16_t)~clear);
    }
}

int xen_sim_gnttab_copy(XenSimGnttab *gt, uint16_t domid, grant_ref_t ref,
                        uint32_t offset, void *local, size_t len,
                        bool to_guest)
{
    uint64_t gfn;
    uint8_t *page;
    int ret;

    if (offset > XEN_PAGE_SIZE || len > XEN_PAGE_SIZE - offset) {
        return GNTST_bad_copy_arg;
    }
    qemu_mutex_lock(&gt->lock);
    ret = xen_sim_gnttab_pin_locked(gt, domid, ref, !to_guest, &gfn);
    if (ret == GNTST_okay) {
        page = gt->mem + gfn * XEN_PAGE_SIZE;
        if (to_guest) {
            memcpy(page + offset, local, len);
        } else {
            memcpy(local, page + offset, len);
        }
        xen_sim_gnttab_unpin_locked(gt, ref, !to_guest);
        if (gt->counters) {
            qatomic_inc(&gt->counters->grant_copy_segs);
            qatomic_add(&gt->counters->grant_copy_bytes, len);
        }
    }
    qemu_mutex_unlock(&gt->lock);
    if (ret != GNTST_okay) {
        trace_xen_sim_gnttab_error("copy", ref, ret, xen_sim_gntst_str(ret));
    }
    return ret;
}
