/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Unit tests of xen-sim's grant-table model (hw/xen/sim/xen-sim-gnttab.c),
 * without a machine: every GNTST error case, the GTF_reading / GTF_writing
 * flags during and after each kind of use, revocation and grant copy.
 */

#include "qemu/osdep.h"
#include "hw/xen/xen_backend_ops.h"
#include "hw/xen/sim/xen-sim-gnttab.h"

#define MEM_PAGES 64
#define GUEST 5
#define BACKEND 0
#define TABLE_GFN 1
#define DATA_GFN 10

typedef struct Fixture {
    uint8_t *mem;
    XenSimGnttab gt;
    XenSimCounters counters;
} Fixture;

static grant_entry_v1_t *gent(Fixture *f, grant_ref_t ref)
{
    return (grant_entry_v1_t *)(f->mem + TABLE_GFN * XEN_PAGE_SIZE) + ref;
}

static void grant(Fixture *f, grant_ref_t ref, uint16_t domid, uint32_t frame,
                  bool readonly)
{
    grant_entry_v1_t *e = gent(f, ref);

    e->domid = domid;
    e->frame = frame;
    e->flags = GTF_permit_access | (readonly ? GTF_readonly : 0);
}

static void fixture_setup(Fixture *f, gconstpointer data)
{
    f->mem = g_malloc0(MEM_PAGES * XEN_PAGE_SIZE);
    memset(&f->counters, 0, sizeof(f->counters));
    xen_sim_gnttab_init(&f->gt, f->mem, MEM_PAGES * XEN_PAGE_SIZE, -1, GUEST,
                        BACKEND, &f->counters);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, TABLE_GFN, 1), ==,
                    GNTST_okay);
}

static void fixture_teardown(Fixture *f, gconstpointer data)
{
    xen_sim_gnttab_destroy(&f->gt);
    g_free(f->mem);
}

static int pin(Fixture *f, uint16_t domid, grant_ref_t ref, bool ro,
               uint64_t *gfn)
{
    int st;

    qemu_mutex_lock(&f->gt.lock);
    st = xen_sim_gnttab_pin_locked(&f->gt, domid, ref, ro, gfn);
    qemu_mutex_unlock(&f->gt.lock);
    return st;
}

static void unpin(Fixture *f, grant_ref_t ref, bool ro)
{
    qemu_mutex_lock(&f->gt.lock);
    xen_sim_gnttab_unpin_locked(&f->gt, ref, ro);
    qemu_mutex_unlock(&f->gt.lock);
}

static void test_setup_limits(Fixture *f, gconstpointer data)
{
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, 0, 0), ==,
                    GNTST_general_error);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, 0,
                                         XEN_SIM_GNTTAB_MAX_FRAMES + 1), ==,
                    GNTST_general_error);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, MEM_PAGES - 1, 2), ==,
                    GNTST_general_error);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, UINT64_MAX, 1), ==,
                    GNTST_general_error);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, MEM_PAGES - 2, 2), ==,
                    GNTST_okay);
    g_assert_cmpuint(f->gt.nr_entries, ==, 2 * XEN_PAGE_SIZE / 8);
}

static void test_setup_refused_while_in_use(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    grant(f, 3, BACKEND, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 3, true, &gfn), ==, GNTST_okay);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, 20, 1), ==,
                    GNTST_general_error);
    unpin(f, 3, true);
    g_assert_cmpint(xen_sim_gnttab_setup(&f->gt, 20, 1), ==, GNTST_okay);
}

static void test_bad_gntref(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    g_assert_cmpint(pin(f, BACKEND, XEN_PAGE_SIZE / 8, true, &gfn), ==,
                    GNTST_bad_gntref);
    g_assert_cmpint(pin(f, BACKEND, UINT32_MAX, true, &gfn), ==,
                    GNTST_bad_gntref);
}

static void test_not_granted(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    /* An all-zero entry grants nothing. */
    g_assert_cmpint(pin(f, BACKEND, 7, true, &gfn), ==, GNTST_general_error);
    /* Not a permit-access entry. */
    grant(f, 7, BACKEND, DATA_GFN, false);
    gent(f, 7)->flags = GTF_accept_transfer;
    g_assert_cmpint(pin(f, BACKEND, 7, true, &gfn), ==, GNTST_general_error);
    g_assert_cmpint(gent(f, 7)->flags, ==, GTF_accept_transfer);
}

static void test_wrong_domain(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    grant(f, 8, 9, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 8, true, &gfn), ==, GNTST_general_error);
    g_assert_cmpint(gent(f, 8)->flags & (GTF_reading | GTF_writing), ==, 0);
}

static void test_readonly_violation(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    grant(f, 9, BACKEND, DATA_GFN, true);
    g_assert_cmpint(pin(f, BACKEND, 9, false, &gfn), ==, GNTST_general_error);
    g_assert_cmpint(gent(f, 9)->flags & (GTF_reading | GTF_writing), ==, 0);
    g_assert_cmpint(pin(f, BACKEND, 9, true, &gfn), ==, GNTST_okay);
    g_assert_cmpuint(gfn, ==, DATA_GFN);
    /* A write use is refused even while a read use is active. */
    g_assert_cmpint(pin(f, BACKEND, 9, false, &gfn), ==, GNTST_general_error);
    unpin(f, 9, true);
}

static void test_frame_outside_memory(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    grant(f, 4, BACKEND, MEM_PAGES, false);
    g_assert_cmpint(pin(f, BACKEND, 4, false, &gfn), ==, GNTST_bad_page);
    g_assert_cmpint(gent(f, 4)->flags, ==, GTF_permit_access);
    g_assert_cmpuint(f->gt.pins, ==, 0);
}

static void test_in_use_flags(Fixture *f, gconstpointer data)
{
    grant_entry_v1_t *e = gent(f, 5);
    uint64_t gfn;

    grant(f, 5, BACKEND, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 5, false, &gfn), ==, GNTST_okay);
    g_assert_cmpint(e->flags, ==,
                    GTF_permit_access | GTF_reading | GTF_writing);
    g_assert_cmpint(pin(f, BACKEND, 5, true, &gfn), ==, GNTST_okay);
    unpin(f, 5, false);
    /* The read use remains: still reading, no longer writing. */
    g_assert_cmpint(e->flags, ==, GTF_permit_access | GTF_reading);
    unpin(f, 5, true);
    g_assert_cmpint(e->flags, ==, GTF_permit_access);

    /* Two write uses: flags stay until the last one ends. */
    g_assert_cmpint(pin(f, BACKEND, 5, false, &gfn), ==, GNTST_okay);
    g_assert_cmpint(pin(f, BACKEND, 5, false, &gfn), ==, GNTST_okay);
    unpin(f, 5, false);
    g_assert_cmpint(e->flags, ==,
                    GTF_permit_access | GTF_reading | GTF_writing);
    unpin(f, 5, false);
    g_assert_cmpint(e->flags, ==, GTF_permit_access);
    g_assert_cmpuint(f->gt.pins, ==, 0);
}

static void test_upgrade_keeps_frame(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    grant(f, 13, BACKEND, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 13, true, &gfn), ==, GNTST_okay);
    /*
     * The guest repoints the entry while it is read: a write use joining
     * must see the frame of the first use, as in Xen.
     */
    gent(f, 13)->frame = DATA_GFN + 5;
    g_assert_cmpint(pin(f, BACKEND, 13, false, &gfn), ==, GNTST_okay);
    g_assert_cmpuint(gfn, ==, DATA_GFN);
    unpin(f, 13, false);
    unpin(f, 13, true);
    g_assert_cmpint(gent(f, 13)->flags, ==, GTF_permit_access);
}

static void test_failed_upgrade_flags(Fixture *f, gconstpointer data)
{
    uint64_t gfn;

    /* A read use of a bad frame fails and leaves no flag behind ... */
    grant(f, 14, BACKEND, MEM_PAGES + 3, false);
    g_assert_cmpint(pin(f, BACKEND, 14, true, &gfn), ==, GNTST_bad_page);
    g_assert_cmpint(gent(f, 14)->flags, ==, GTF_permit_access);
    /* ... and a failed write use joining a read use leaves GTF_reading only. */
    grant(f, 15, BACKEND, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 15, true, &gfn), ==, GNTST_okay);
    f->gt.pin_frame[15] = MEM_PAGES + 1;    /* as if the frame were bad */
    g_assert_cmpint(pin(f, BACKEND, 15, false, &gfn), ==, GNTST_bad_page);
    g_assert_cmpint(gent(f, 15)->flags, ==, GTF_permit_access | GTF_reading);
    f->gt.pin_frame[15] = DATA_GFN;
    unpin(f, 15, true);
    g_assert_cmpint(gent(f, 15)->flags, ==, GTF_permit_access);
}

static void test_revoked(Fixture *f, gconstpointer data)
{
    grant_entry_v1_t *e = gent(f, 6);
    uint64_t gfn;

    grant(f, 6, BACKEND, DATA_GFN, false);
    g_assert_cmpint(pin(f, BACKEND, 6, true, &gfn), ==, GNTST_okay);
    /*
     * The guest revokes while in use and points the entry elsewhere: the
     * active use keeps the frame it was granted, as in Xen.
     */
    qatomic_and(&e->flags, (uint16_t)~GTF_permit_access);
    e->frame = DATA_GFN + 1;
    g_assert_cmpint(pin(f, BACKEND, 6, true, &gfn), ==, GNTST_okay);
    g_assert_cmpuint(gfn, ==, DATA_GFN);
    unpin(f, 6, true);
    unpin(f, 6, true);
    /* Once idle, the revocation holds. */
    g_assert_cmpint(pin(f, BACKEND, 6, true, &gfn), ==, GNTST_general_error);
    g_assert_cmpint(e->flags & (GTF_reading | GTF_writing), ==, 0);
}

static void test_copy(Fixture *f, gconstpointer data)
{
    uint8_t *page = f->mem + DATA_GFN * XEN_PAGE_SIZE;
    uint8_t buf[XEN_PAGE_SIZE];

    grant(f, 11, BACKEND, DATA_GFN, false);
    memset(buf, 0xa5, sizeof(buf));
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 11, 100, buf, 200,
                                        true), ==, GNTST_okay);
    g_assert_cmpint(page[99], ==, 0);
    g_assert_cmpint(page[100], ==, 0xa5);
    g_assert_cmpint(page[299], ==, 0xa5);
    g_assert_cmpint(page[300], ==, 0);
    page[4095] = 0x5a;
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 11, 4095, buf, 1,
                                        false), ==, GNTST_okay);
    g_assert_cmpint(buf[0], ==, 0x5a);
    g_assert_cmpint(gent(f, 11)->flags, ==, GTF_permit_access);
    g_assert_cmpuint(f->counters.grant_copy_segs, ==, 2);
    g_assert_cmpuint(f->counters.grant_copy_bytes, ==, 201);
}

static void test_copy_errors(Fixture *f, gconstpointer data)
{
    uint8_t buf[XEN_PAGE_SIZE + 1];

    grant(f, 12, BACKEND, DATA_GFN, true);
    /* Crossing the page end. */
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 12, 4000, buf, 97,
                                        false), ==, GNTST_bad_copy_arg);
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 12, 0, buf,
                                        XEN_PAGE_SIZE + 1, false), ==,
                    GNTST_bad_copy_arg);
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 12, UINT32_MAX, buf,
                                        1, false), ==, GNTST_bad_copy_arg);
    /* Writing into a read-only grant. */
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 12, 0, buf, 8, true),
                    ==, GNTST_general_error);
    g_assert_cmpint(xen_sim_gnttab_copy(&f->gt, BACKEND, 4096, 0, buf, 8,
                                        false), ==, GNTST_bad_gntref);
    g_assert_cmpuint(f->counters.grant_copy_segs, ==, 0);
    g_assert_cmpint(gent(f, 12)->flags, ==, GTF_permit_access | GTF_readonly);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/xen-sim/gnttab/" name, Fixture, NULL, fixture_setup, fn, \
               fixture_teardown)
    ADD("setup-limits", test_setup_limits);
    ADD("setup-refused-while-in-use", test_setup_refused_while_in_use);
    ADD("bad-gntref", test_bad_gntref);
    ADD("not-granted", test_not_granted);
    ADD("wrong-domain", test_wrong_domain);
    ADD("readonly-violation", test_readonly_violation);
    ADD("frame-outside-memory", test_frame_outside_memory);
    ADD("in-use-flags", test_in_use_flags);
    ADD("revoked-while-in-use", test_revoked);
    ADD("upgrade-keeps-frame", test_upgrade_keeps_frame);
    ADD("failed-upgrade-flags", test_failed_upgrade_flags);
    ADD("copy", test_copy);
    ADD("copy-errors", test_copy_errors);
    return g_test_run();
}
