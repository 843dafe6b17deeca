/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the frontend library's blkfront against a model backend.
 *
 * The model is a thread of this test that plays the backend of a vbd whose
 * backend directory (type "model") no QEMU device claims: it does the XenBus
 * handshake through dom0's XenStore connection, reads the rings, grant table
 * and data pages straight from the guest memory (the frontend's own
 * mapping), serves the requests from a RAM disk, and notifies through the
 * frontend's end of the event channels.  So every feature of the library
 * (multi-queue, multi-page rings, the x86_32 layout, indirect segments,
 * persistent-grant reuse, discard, barriers) is checked on the wire,
 * whatever the QEMU backend supports.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "hw/xen/pv/xen-blkif.h"
#include "xen-sim-harness.h"

#define DEVID 51712
#define DISK_SIZE (32 * MiB)
#define MAX_INDIRECT 256
#define PAGE 4096

typedef struct ModelQueue {
    uint8_t *sring;
    unsigned int nr_ents;
    RING_IDX req_cons;
    RING_IDX rsp_pvt;
    int to_guest;
} ModelQueue;

typedef struct Model {
    XenFe *fe;
    XenBlkfront *bf;            /* only to find the guest's eventfds */
    struct xs_handle *xs;       /* dom0 */
    char *be, *fe_dir;
    uint8_t *disk;
    int stop;
    int state;                  /* the backend's */
    bool abi32;
    unsigned int nq, order;
    ModelQueue q[XEN_BLKFRONT_MAX_QUEUES];
    /* What the model saw */
    uint64_t ops[256];
    uint64_t per_queue[XEN_BLKFRONT_MAX_QUEUES];
    unsigned int max_segs;
    uint64_t indirect_pages;
    GHashTable *data_grefs;     /* every data gref used */
    uint64_t connects;
    char *errors;               /* first protocol error seen */
} Model;

static void model_error(Model *m, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

static void model_error(Model *m, const char *fmt, ...)
{
    va_list ap;

    if (!m->errors) {
        va_start(ap, fmt);
        m->errors = g_strdup_vprintf(fmt, ap);
        va_end(ap);
    }
}

static char *rd(Model *m, const char *dir, const char *key)
{
    g_autofree char *n = g_strdup_printf("%s/%s", dir, key);
    unsigned int len;
    char *v = xs_read(m->xs, XBT_NULL, n, &len);
    char *r = v ? g_strndup(v, len) : NULL;

    free(v);
    return r;
}

static long long rd_int(Model *m, const char *dir, const char *key,
                        long long dflt)
{
    g_autofree char *v = rd(m, dir, key);

    return v ? g_ascii_strtoll(v, NULL, 10) : dflt;
}

static void wr(Model *m, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static void wr(Model *m, const char *key, const char *fmt, ...)
{
    g_autofree char *n = g_strdup_printf("%s/%s", m->be, key);
    g_autofree char *v = NULL;
    va_list ap;

    va_start(ap, fmt);
    v = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_assert(xs_write(m->xs, XBT_NULL, n, v, strlen(v)));
}

static void set_state(Model *m, int state)
{
    m->state = state;
    wr(m, "state", "%d", state);
}

/* The page granted by @ref to dom0; NULL if it is not granted so. */
static uint8_t *gref_page(Model *m, grant_ref_t ref, bool write)
{
    grant_entry_v1_t *e;

    if (ref >= m->fe->nr_grefs) {
        return NULL;
    }
    e = &m->fe->gnttab[ref];
    if (!(qatomic_read(&e->flags) & GTF_permit_access) || e->domid != 0 ||
        (write && (e->flags & GTF_readonly))) {
        return NULL;
    }
    return xen_fe_page(m->fe, e->frame);
}

static bool model_connect(Model *m)
{
    g_autofree char *proto = rd(m, m->fe_dir, "protocol");
    long long nq = rd_int(m, m->fe_dir, "multi-queue-num-queues", 1);
    long long order = rd_int(m, m->fe_dir, "ring-page-order", 0);

    m->abi32 = !g_strcmp0(proto, XEN_IO_PROTO_ABI_X86_32);
    if (!m->abi32 && g_strcmp0(proto, XEN_IO_PROTO_ABI_X86_64)) {
        model_error(m, "protocol %s", proto ?: "(none)");
        return false;
    }
    if (nq < 1 || nq > 4 || order < 0 || order > 4) {
        model_error(m, "%lld queues, order %lld", nq, order);
        return false;
    }
    m->nq = nq;
    m->order = order;
    for (unsigned int i = 0; i < nq; i++) {
        g_autofree char *dir = nq > 1 ?
            g_strdup_printf("%s/queue-%u", m->fe_dir, i) : g_strdup(m->fe_dir);
        ModelQueue *q = &m->q[i];
        long long port = rd_int(m, dir, "event-channel", -1);
        size_t bytes = (size_t)PAGE << order;
        size_t esz = m->abi32 ? 108 : 112;

        q->sring = NULL;
        for (unsigned int p = 0; p < 1u << order; p++) {
            g_autofree char *key = order ? g_strdup_printf("ring-ref%u", p)
                                         : g_strdup("ring-ref");
            long long ref = rd_int(m, dir, key, -1);
            uint8_t *page = ref < 0 ? NULL : gref_page(m, ref, true);

            if (!page || (p && page != q->sring + p * PAGE)) {
                model_error(m, "queue %u: %s", i, key);
                return false;
            }
            if (!p) {
                q->sring = page;
            }
        }
        q->nr_ents = 1u << (31 - __builtin_clz((bytes - 64) / esz));
        q->req_cons = q->rsp_pvt = 0;
        q->to_guest = -1;
        for (unsigned int j = 0; j < XEN_BLKFRONT_MAX_QUEUES; j++) {
            if (m->bf->q[j].evt.port == port && m->bf->q[j].evt.to_guest >= 0) {
                q->to_guest = m->bf->q[j].evt.to_guest;
            }
        }
        if (q->to_guest < 0) {
            model_error(m, "queue %u: event-channel %lld", i, port);
            return false;
        }
    }
    m->connects++;
    return true;
}

/* Move @len bytes between the disk at @off and the segment. */
static bool do_seg(Model *m, bool write, uint64_t *off,
                   const struct blkif_request_segment *sg)
{
    uint8_t *page;
    size_t len;

    if (sg->first_sect > sg->last_sect || sg->last_sect > 7) {
        return false;
    }
    page = gref_page(m, sg->gref, !write);
    len = (sg->last_sect - sg->first_sect + 1) * 512;
    if (!page || *off + len > DISK_SIZE) {
        return false;
    }
    g_hash_table_add(m->data_grefs, GUINT_TO_POINTER(sg->gref));
    if (write) {
        memcpy(m->disk + *off, page + sg->first_sect * 512, len);
    } else {
        memcpy(page + sg->first_sect * 512, m->disk + *off, len);
    }
    *off += len;
    return true;
}

static int16_t do_rw(Model *m, uint8_t op, uint64_t sector, unsigned int n,
                     const struct blkif_request_segment *segs)
{
    uint64_t off = sector * 512;

    if (!n || sector >= DISK_SIZE / 512) {
        return BLKIF_RSP_ERROR;
    }
    m->max_segs = MAX(m->max_segs, n);
    for (unsigned int i = 0; i < n; i++) {
        if (!do_seg(m, op != BLKIF_OP_READ, &off, &segs[i])) {
            return BLKIF_RSP_ERROR;
        }
    }
    return BLKIF_RSP_OKAY;
}

static int16_t serve(Model *m, ModelQueue *q, const uint8_t *e, uint64_t *id,
                     uint8_t *op)
{
    uint8_t opc = e[0];
    struct blkif_request_segment segs[MAX_INDIRECT];
    uint64_t sector, nr_sectors;
    unsigned int n;
    XenBlkifSlot sl;

    *op = opc;
    m->ops[opc]++;
    /* The device's decoder, itself checked against Xen's structs */
    xen_blkif_decode_slot(m->abi32 ? XEN_BLKIF_ABI_X86_32 :
                          XEN_BLKIF_ABI_X86_64, e, &sl);
    *id = sl.id;
    sector = sl.sector_number;
    n = sl.nr_segments;
    nr_sectors = sl.nr_sectors;
    if (opc == BLKIF_OP_INDIRECT) {
        n = sl.indirect_nr_segments;
        opc = sl.indirect_op;
        /* Answered with the operation performed, as blkback does */
        *op = opc;
        if (n > MAX_INDIRECT) {
            return BLKIF_RSP_ERROR;
        }
        for (unsigned int p = 0; p * 512 < n; p++) {
            const uint8_t *pg = gref_page(m, sl.indirect_grefs[p], false);

            if (!pg) {
                return BLKIF_RSP_ERROR;
            }
            m->indirect_pages++;
            memcpy(segs + p * 512, pg, MIN(512, n - p * 512) * 8);
        }
    } else if (n <= 11) {
        memcpy(segs, sl.seg, n * sizeof(segs[0]));
    }
    switch (opc) {
    case BLKIF_OP_READ:
    case BLKIF_OP_WRITE:
        if (sl.operation != BLKIF_OP_INDIRECT && n > 11) {
            return BLKIF_RSP_ERROR;
        }
        return do_rw(m, opc, sector, n, segs);
    case BLKIF_OP_WRITE_BARRIER:
    case BLKIF_OP_FLUSH_DISKCACHE:
        if (n > 11) {
            return BLKIF_RSP_ERROR;
        }
        return n ? do_rw(m, BLKIF_OP_WRITE, sector, n, segs) : BLKIF_RSP_OKAY;
    case BLKIF_OP_DISCARD:
        if (sector > DISK_SIZE / 512 ||
            nr_sectors > DISK_SIZE / 512 - sector) {
            return BLKIF_RSP_ERROR;
        }
        memset(m->disk + sector * 512, 0, nr_sectors * 512);
        return BLKIF_RSP_OKAY;
    default:
        return BLKIF_RSP_EOPNOTSUPP;
    }
}

static void serve_queue(Model *m, unsigned int qi)
{
    ModelQueue *q = &m->q[qi];
    size_t esz = m->abi32 ? 108 : 112;
    RING_IDX *hdr = (RING_IDX *)q->sring;   /* req_prod, req_event, ... */
    bool more;

    do {
        RING_IDX rp = qatomic_read(&hdr[0]);
        bool any = false;

        smp_rmb();  /* the entries after req_prod: the frontend's wmb */
        if (rp - q->req_cons > q->nr_ents) {
            model_error(m, "queue %u: req_prod %u cons %u", qi, rp,
                        q->req_cons);
            return;
        }
        while (q->req_cons != rp) {
            uint8_t e[112], *slot;
            uint64_t id;
            uint8_t op;
            int16_t st;

            slot = q->sring + 64 + (q->req_cons & (q->nr_ents - 1)) * esz;
            memcpy(e, slot, esz);
            q->req_cons++;
            st = serve(m, q, e, &id, &op);
            m->per_queue[qi]++;
            slot = q->sring + 64 + (q->rsp_pvt & (q->nr_ents - 1)) * esz;
            memset(slot, 0, m->abi32 ? 12 : 16);
            memcpy(slot, &id, 8);
            slot[8] = op;
            memcpy(slot + 10, &st, 2);
            q->rsp_pvt++;
            any = true;
        }
        if (any) {
            uint64_t one = 1;

            smp_wmb();  /* responses before rsp_prod */
            qatomic_set(&hdr[2], q->rsp_pvt);
            smp_mb();   /* rsp_prod before the notification */
            g_assert(write(q->to_guest, &one, 8) == 8);
        }
        qatomic_set(&hdr[1], q->req_cons + 1);     /* req_event */
        smp_mb();   /* req_event before the last look at req_prod */
        more = qatomic_read(&hdr[0]) != q->req_cons;
    } while (more);
}

static gpointer model_thread(gpointer opaque)
{
    Model *m = opaque;

    while (!qatomic_read(&m->stop)) {
        long long fs = rd_int(m, m->fe_dir, "state", -1);

        if ((fs == XenbusStateInitialised || fs == XenbusStateConnected) &&
            m->state == XenbusStateInitWait) {
            if (model_connect(m)) {
                wr(m, "sectors", "%u", (unsigned int)(DISK_SIZE / 512));
                wr(m, "sector-size", "512");
                wr(m, "info", "0");
                wr(m, "mode", "w");
                set_state(m, XenbusStateConnected);
            } else {
                set_state(m, XenbusStateClosing);
            }
        } else if (fs == XenbusStateClosing &&
                   m->state != XenbusStateClosing) {
            set_state(m, XenbusStateClosing);
        } else if (fs == XenbusStateClosed &&
                   m->state != XenbusStateClosed) {
            set_state(m, XenbusStateClosed);
        } else if (fs == XenbusStateInitialising &&
                   m->state == XenbusStateClosed) {
            set_state(m, XenbusStateInitWait);
        }
        if (m->state == XenbusStateConnected) {
            for (unsigned int i = 0; i < m->nq; i++) {
                serve_queue(m, i);
            }
        }
        g_usleep(100);
    }
    return NULL;
}

typedef struct Rig {
    Sim *s;
    XenFe *fe;
    Model m;
    GThread *th;
} Rig;

static void xs_put(struct xs_handle *xs, const char *dir, const char *key,
                   const char *val)
{
    g_autofree char *n = g_strdup_printf("%s/%s", dir, key);

    g_assert(xs_write(xs, XBT_NULL, n, val, strlen(val)));
}

static void rig_start(Rig *r)
{
    Model *m = &r->m;
    struct xs_permissions be_perms[] = {
        { .id = 0, .perms = XS_PERM_NONE },
        { .id = XEN_SIM_GUEST_DOMID, .perms = XS_PERM_READ },
    };
    struct xs_permissions fe_perms[] = {
        { .id = XEN_SIM_GUEST_DOMID, .perms = XS_PERM_NONE },
        { .id = 0, .perms = XS_PERM_READ | XS_PERM_WRITE },
    };

    memset(r, 0, sizeof(*r));
    r->s = sim_new(0);
    sim_launch(r->s, "%s", "");
    m->xs = sim_admin_xs(r->s);
    m->be = g_strdup_printf("/local/domain/0/backend/model/%u/%u",
                            XEN_SIM_GUEST_DOMID, DEVID);
    m->fe_dir = g_strdup_printf("/local/domain/%u/device/vbd/%u",
                                XEN_SIM_GUEST_DOMID, DEVID);
    g_assert(xs_mkdir(m->xs, XBT_NULL, m->be));
    g_assert(xs_set_permissions(m->xs, XBT_NULL, m->be, be_perms, 2));
    g_assert(xs_mkdir(m->xs, XBT_NULL, m->fe_dir));
    g_assert(xs_set_permissions(m->xs, XBT_NULL, m->fe_dir, fe_perms, 2));
    xs_put(m->xs, m->fe_dir, "backend", m->be);
    xs_put(m->xs, m->fe_dir, "state", "1");
    wr(m, "feature-flush-cache", "1");
    wr(m, "feature-barrier", "1");
    wr(m, "feature-discard", "1");
    wr(m, "discard-granularity", "4096");
    wr(m, "discard-alignment", "0");
    wr(m, "discard-secure", "1");
    wr(m, "feature-persistent", "1");
    wr(m, "feature-max-indirect-segments", "%u", MAX_INDIRECT);
    wr(m, "max-ring-page-order", "4");
    wr(m, "multi-queue-max-queues", "4");
    set_state(m, XenbusStateInitWait);
    m->disk = g_malloc0(DISK_SIZE);
    m->data_grefs = g_hash_table_new(NULL, NULL);

    r->fe = sim_fe_connect(r->s);
    m->fe = r->fe;
    m->bf = xen_blkfront_new(r->fe, DEVID);
    g_assert(m->bf);
    r->th = g_thread_new("model", model_thread, m);
}

static void rig_stop(Rig *r)
{
    Model *m = &r->m;

    if (m->bf->set_up) {
        g_autofree char *err = NULL;

        g_assert(xen_blkfront_disconnect(m->bf, &err));
    }
    qatomic_set(&m->stop, 1);
    g_thread_join(r->th);
    if (m->errors) {
        sim_fail("model: %s", m->errors);
    }
    g_assert_cmpuint(m->bf->bad_responses, ==, 0);
    g_assert_cmpuint(m->bf->stale_padding, ==, 0);
    xen_blkfront_free(m->bf);
    xen_fe_close(r->fe);
    xs_close(m->xs);
    g_hash_table_destroy(m->data_grefs);
    g_free(m->disk);
    g_free(m->be);
    g_free(m->fe_dir);
    g_free(m->errors);
    sim_stop(r->s);
}

static void fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen)
{
    for (size_t i = 0; i < len; i += 8) {
        uint64_t v = ((offset + i) * 0x9E3779B97F4A7C15ULL) ^ gen;

        memcpy(buf + i, &v, 8);
    }
}

/* Write through queue @q, check the model's disk, read back through @q2. */
static void rw_check(Rig *r, unsigned int q, unsigned int q2, uint64_t off,
                     size_t len, uint32_t gen)
{
    g_autofree uint8_t *buf = g_malloc(len), *got = g_malloc0(len);
    XenBlkfront *bf = r->m.bf;

    fill(buf, len, off, gen);
    g_assert(xen_blkfront_rw_queue(bf, q, true, off, buf, len));
    g_assert(memcmp(r->m.disk + off, buf, len) == 0);
    g_assert(xen_blkfront_rw_queue(bf, q2, false, off, got, len));
    g_assert(memcmp(got, buf, len) == 0);
}

static void rig_connect(Rig *r)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_connect(r->m.bf, &err)) {
        sim_fail("connect: %s (model: %s)", err, r->m.errors ?: "-");
    }
}

static void rig_disconnect(Rig *r)
{
    g_autofree char *err = NULL;

    if (!xen_blkfront_disconnect(r->m.bf, &err)) {
        sim_fail("disconnect: %s", err);
    }
}

static void test_basic(bool abi32, unsigned int order)
{
    Rig r;
    XenBlkfront *bf;
    uint8_t page[PAGE];

    rig_start(&r);
    bf = r.m.bf;
    bf->abi32 = abi32;
    bf->ring_order = order;
    rig_connect(&r);
    g_assert(r.m.abi32 == abi32);
    g_assert_cmpuint(r.m.order, ==, order);
    g_assert_cmpuint(r.m.nq, ==, 1);
    g_assert(bf->feature_flush && bf->feature_barrier && bf->feature_discard);
    g_assert(bf->discard_secure && bf->feature_persistent);
    g_assert_cmpuint(bf->max_indirect_segments, ==, MAX_INDIRECT);
    g_assert_cmpuint(bf->max_queues, ==, 4);
    g_assert_cmpuint(bf->sectors, ==, DISK_SIZE / 512);
    rw_check(&r, 0, 0, 0, 2 * MiB, 1);
    rw_check(&r, 0, 0, 3 * MiB + 512, 7 * 512, 2);
    g_assert_cmpuint(r.m.max_segs, ==, 11);
    g_assert(xen_blkfront_flush(bf));
    g_assert_cmpuint(r.m.ops[BLKIF_OP_FLUSH_DISKCACHE], ==, 1);
    g_assert_cmpint(xen_blkfront_discard(bf, 64 * KiB, 64 * KiB, true), ==,
                    BLKIF_RSP_OKAY);
    g_assert(buffer_is_zero(r.m.disk + 64 * KiB, 64 * KiB));
    g_assert_cmpuint(r.m.ops[BLKIF_OP_DISCARD], ==, 1);
    fill(page, PAGE, 5 * MiB, 3);
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 5 * MiB, page, PAGE), ==,
                    BLKIF_RSP_OKAY);
    g_assert(memcmp(r.m.disk + 5 * MiB, page, PAGE) == 0);
    g_assert_cmpint(xen_blkfront_barrier_write(bf, 0, NULL, 0), ==,
                    BLKIF_RSP_OKAY);
    g_assert_cmpuint(r.m.ops[BLKIF_OP_WRITE_BARRIER], ==, 2);
    {
        XenBlkReq u = { .op = 0xee };

        g_assert_cmpint(xen_blkfront_op(bf, 0, &u), ==, BLKIF_RSP_EOPNOTSUPP);
    }
    /* Reconnect a few times, the other layout in between. */
    for (int i = 0; i < 5; i++) {
        rig_disconnect(&r);
        bf->abi32 = (i % 2) ? abi32 : !abi32;
        rig_connect(&r);
        g_assert(r.m.abi32 == bf->abi32);
        rw_check(&r, 0, 0, i * MiB, 256 * KiB, 10 + i);
    }
    g_assert_cmpuint(r.m.connects, ==, 6);
    rig_stop(&r);
}

static void test_basic64(void)
{
    test_basic(false, 0);
}

static void test_basic32(void)
{
    test_basic(true, 0);
}

static void test_order2_64(void)
{
    test_basic(false, 2);
}

static void test_order4_32(void)
{
    test_basic(true, 4);
}

static void test_multi_queue(bool abi32, unsigned int order)
{
    Rig r;
    XenBlkfront *bf;
    g_autofree char *n = NULL;

    rig_start(&r);
    bf = r.m.bf;
    bf->abi32 = abi32;
    bf->ring_order = order;
    bf->nr_queues = 4;
    rig_connect(&r);
    g_assert_cmpuint(r.m.nq, ==, 4);
    n = g_strdup_printf("%s/ring-ref", bf->fe_path);
    g_assert_null(xen_fe_xs_read(r.fe, n));
    for (unsigned int q = 0; q < 4; q++) {
        rw_check(&r, q, (q + 1) % 4, q * MiB, 512 * KiB, 20 + q);
    }
    for (unsigned int q = 0; q < 4; q++) {
        g_assert_cmpuint(r.m.per_queue[q], ==, bf->q[q].requests);
    }
    /* Back to one queue: top-level keys again. */
    rig_disconnect(&r);
    bf->nr_queues = 1;
    rig_connect(&r);
    g_assert_cmpuint(r.m.nq, ==, 1);
    rw_check(&r, 0, 0, 5 * MiB, 64 * KiB, 30);
    rig_stop(&r);
}

static void test_mq64(void)
{
    test_multi_queue(false, 0);
}

static void test_mq32_order1(void)
{
    test_multi_queue(true, 1);
}

static void test_indirect(bool abi32)
{
    Rig r;
    XenBlkfront *bf;
    uint64_t reqs;

    rig_start(&r);
    bf = r.m.bf;
    bf->abi32 = abi32;
    bf->use_indirect = true;
    rig_connect(&r);
    reqs = bf->requests;
    rw_check(&r, 0, 0, MiB, MiB, 40);
    g_assert_cmpuint(bf->requests - reqs, ==, 2);
    g_assert_cmpuint(r.m.ops[BLKIF_OP_INDIRECT], ==, 2);
    g_assert_cmpuint(r.m.max_segs, ==, 256);
    g_assert_cmpuint(r.m.indirect_pages, ==, 2);
    /* 4 MiB + a tail: 5 requests, the last one direct. */
    reqs = bf->requests;
    rw_check(&r, 0, 0, 8 * MiB, 4 * MiB + 8 * KiB, 41);
    g_assert_cmpuint(bf->requests - reqs, ==, 10);
    g_assert_cmpuint(r.m.ops[BLKIF_OP_INDIRECT], ==, 10);
    /* A cap below the backend's maximum. */
    bf->max_indirect = 100;
    reqs = bf->requests;
    rw_check(&r, 0, 0, 16 * MiB, 400 * KiB, 42);
    g_assert_cmpuint(bf->requests - reqs, ==, 2);
    /* The indirect pages are granted read-only by default. */
    g_assert(bf->q[0].slots[0].nr_ind == 1);
    g_assert(xen_fe_gnt_entry(r.fe, bf->q[0].slots[0].ind_gref[0])->flags &
             GTF_readonly);
    rig_stop(&r);
}

static void test_indirect64(void)
{
    test_indirect(false);
}

static void test_indirect32(void)
{
    test_indirect(true);
}

/* Persistent: the same grefs over and over. */
static void test_grant_reuse(void)
{
    Rig r;
    XenBlkfront *bf;
    g_autofree char *n = NULL;
    unsigned int used;

    rig_start(&r);
    bf = r.m.bf;
    bf->persistent = true;
    rig_connect(&r);
    n = g_strdup_printf("%s/feature-persistent", bf->fe_path);
    g_assert_cmpint(xen_fe_xs_read_int(r.fe, n, -1), ==, 1);
    rw_check(&r, 0, 0, 0, 32 * 11 * PAGE, 50);
    used = g_hash_table_size(r.m.data_grefs);
    g_assert_cmpuint(used, ==, 32 * 11);
    for (int i = 0; i < 100; i++) {
        rw_check(&r, 0, 0, (i % 50) * 44 * KiB, 44 * KiB, 51 + i);
    }
    g_assert_cmpuint(g_hash_table_size(r.m.data_grefs), ==, used);
    rig_disconnect(&r);
    bf->persistent = false;
    rig_connect(&r);
    g_assert_cmpint(xen_fe_xs_read_int(r.fe, n, -1), ==, 0);
    rig_stop(&r);
}

/* Requests left in flight across a disconnect are forgotten. */
static void test_inflight_disconnect(void)
{
    Rig r;
    XenBlkfront *bf;
    uint8_t buf[PAGE];

    rig_start(&r);
    bf = r.m.bf;
    rig_connect(&r);
    for (int c = 0; c < 20; c++) {
        for (int i = 0; i < 32; i++) {
            XenBlkReq q = {
                .op = BLKIF_OP_READ, .sector = i * 8, .buf = buf,
                .len = PAGE,
            };

            g_assert(xen_blkfront_submit(bf, 0, &q));
        }
        g_assert(!xen_blkfront_submit(bf, 0, &(XenBlkReq) {
            .op = BLKIF_OP_READ, .buf = buf, .len = PAGE }));
        xen_blkfront_kick(bf, 0);
        rig_disconnect(&r);
        rig_connect(&r);
        g_assert_cmpuint(bf->q[0].inflight, ==, 0);
        rw_check(&r, 0, 0, c * 64 * KiB, 64 * KiB, 60 + c);
    }
    rig_stop(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-blkfront/basic/x86_64", test_basic64);
    qtest_add_func("xen-blkfront/basic/x86_32", test_basic32);
    qtest_add_func("xen-blkfront/basic/order2", test_order2_64);
    qtest_add_func("xen-blkfront/basic/order4-x86_32", test_order4_32);
    qtest_add_func("xen-blkfront/multi-queue/x86_64", test_mq64);
    qtest_add_func("xen-blkfront/multi-queue/x86_32-order1",
                   test_mq32_order1);
    qtest_add_func("xen-blkfront/indirect/x86_64", test_indirect64);
    qtest_add_func("xen-blkfront/indirect/x86_32", test_indirect32);
    qtest_add_func("xen-blkfront/grant-reuse", test_grant_reuse);
    qtest_add_func("xen-blkfront/inflight-disconnect",
                   test_inflight_disconnect);
    return g_test_run();
}
