/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: blkfront (see xen-blkfront.h).
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "xen-blkfront.h"
#include "hw/xen/interface/io/xenbus.h"

#define IO_TIMEOUT_MS 30000
#define STATE_TIMEOUT_MS 10000
#define SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST
#define SEGS_PER_IND XEN_BLKFRONT_SEGS_PER_INDIRECT_PAGE

/* The layouts this file relies on. */
QEMU_BUILD_BUG_ON(sizeof(struct xen_blkfront_x86_32_request) != 108);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request, id) != 4);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request,
                           sector_number) != 12);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request, seg) != 20);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request_discard,
                           nr_sectors) != 20);
QEMU_BUILD_BUG_ON(sizeof(struct xen_blkfront_x86_32_request_indirect) != 64);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request_indirect,
                           handle) != 20);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_request_indirect,
                           indirect_grefs) != 24);
QEMU_BUILD_BUG_ON(sizeof(struct xen_blkfront_x86_32_response) != 12);
QEMU_BUILD_BUG_ON(offsetof(struct xen_blkfront_x86_32_response,
                           status) != 10);
QEMU_BUILD_BUG_ON(sizeof(union xen_blkfront_x86_32_sring_entry) != 108);
QEMU_BUILD_BUG_ON(sizeof(union blkif_sring_entry) != 112);
QEMU_BUILD_BUG_ON(offsetof(blkif_request_indirect_t, indirect_grefs) != 28);
QEMU_BUILD_BUG_ON(offsetof(blkif_response_t, status) != 10);

/*
 * Request ids: the connection's generation, the queue and the slot, so that
 * a response from an earlier connection or for another queue is recognised.
 */
#define ID_SLOT_MASK 0xffffffffULL
#define ID_QUEUE_SHIFT 32
#define ID_GEN_SHIFT 40

static uint64_t make_id(XenBlkQueue *q, unsigned int slot)
{
    return ((uint64_t)(q->bf->generation & 0xffffff) << ID_GEN_SHIFT) |
           ((uint64_t)q->index << ID_QUEUE_SHIFT) | slot;
}

XenBlkfront *xen_blkfront_new(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = g_new0(XenBlkfront, 1);

    bf->fe = fe;
    bf->devid = devid;
    bf->generation = 0xb10c01;
    for (unsigned int i = 0; i < XEN_BLKFRONT_MAX_QUEUES; i++) {
        bf->q[i].bf = bf;
        bf->q[i].index = i;
        bf->q[i].evt.to_backend = bf->q[i].evt.to_guest = -1;
    }
    if (!xen_fe_device_paths(fe, "vbd", devid, &bf->fe_path, &bf->be_path)) {
        xen_blkfront_free(bf);
        return NULL;
    }
    return bf;
}

static char *be_node(XenBlkfront *bf, const char *key)
{
    return g_strdup_printf("%s/%s", bf->be_path, key);
}

static char *fe_node(XenBlkfront *bf, const char *key)
{
    return g_strdup_printf("%s/%s", bf->fe_path, key);
}

static unsigned int be_uint(XenBlkfront *bf, const char *key,
                            unsigned int dflt)
{
    g_autofree char *node = be_node(bf, key);
    g_autofree char *val = xen_fe_xs_read(bf->fe, node);
    unsigned int v;

    return val && !qemu_strtoui(val, NULL, 10, &v) ? v : dflt;
}

static bool fe_write(XenBlkfront *bf, const char *key, const char *fmt, ...)
    G_GNUC_PRINTF(3, 4);

static bool fe_write(XenBlkfront *bf, const char *key, const char *fmt, ...)
{
    g_autofree char *node = fe_node(bf, key);
    g_autofree char *val = NULL;
    va_list ap;

    va_start(ap, fmt);
    val = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return xs_write(bf->fe->xs, XBT_NULL, node, val, strlen(val));
}

static void fe_rm(XenBlkfront *bf, const char *key)
{
    g_autofree char *node = fe_node(bf, key);

    xs_rm(bf->fe->xs, XBT_NULL, node);    /* ENOENT is fine */
}

static bool set_state(XenBlkfront *bf, int state)
{
    return xen_fe_set_state(bf->fe, bf->fe_path, state);
}

/*
 * Wait until the backend's state is @want.  Waiting for Connected gives up
 * early when the backend goes Closing or Closed: it refused the connection.
 * (Waiting for InitWait does not: a backend still Closed from the last
 * connection is normal until it sees the frontend's Initialising.)
 * Returns the last state seen.
 */
static int wait_backend_state(XenBlkfront *bf, int want)
{
    g_autofree char *node = be_node(bf, "state");
    gint64 end = g_get_monotonic_time() + STATE_TIMEOUT_MS * 1000LL;
    int st;

    for (;;) {
        st = xen_fe_xs_read_int(bf->fe, node, -1);
        if (st == want || g_get_monotonic_time() > end) {
            return st;
        }
        if (want == XenbusStateConnected &&
            (st == XenbusStateClosing || st == XenbusStateClosed)) {
            return st;
        }
        g_usleep(1000);
    }
}

static void read_features(XenBlkfront *bf)
{
    bf->feature_flush = be_uint(bf, "feature-flush-cache", 0) == 1;
    bf->feature_barrier = be_uint(bf, "feature-barrier", 0) == 1;
    bf->feature_discard = be_uint(bf, "feature-discard", 0) == 1;
    bf->discard_granularity = be_uint(bf, "discard-granularity", 0);
    bf->discard_alignment = be_uint(bf, "discard-alignment", 0);
    bf->discard_secure = be_uint(bf, "discard-secure", 0) == 1;
    bf->feature_persistent = be_uint(bf, "feature-persistent", 0) == 1;
    bf->max_indirect_segments = be_uint(bf, "feature-max-indirect-segments",
                                        0);
    bf->max_queues = be_uint(bf, "multi-queue-max-queues", 0);
    bf->max_ring_page_order = be_uint(bf, "max-ring-page-order", 0);
}

bool xen_blkfront_refresh(XenBlkfront *bf)
{
    g_autofree char *n_sectors = be_node(bf, "sectors");
    g_autofree char *n_mode = be_node(bf, "mode");
    g_autofree char *sectors = xen_fe_xs_read(bf->fe, n_sectors);

    bf->sector_size = be_uint(bf, "sector-size", 512);
    bf->physical_sector_size = be_uint(bf, "physical-sector-size",
                                       bf->sector_size);
    bf->info = be_uint(bf, "info", 0);
    g_free(bf->mode);
    bf->mode = xen_fe_xs_read(bf->fe, n_mode);
    bf->sectors = sectors ? g_ascii_strtoull(sectors, NULL, 10) : 0;
    return sectors != NULL;
}

/* ---- pages and grants ---- */

static grant_ref_t grant(XenBlkfront *bf, uint64_t gfn, bool readonly)
{
    return xen_fe_grant(bf->fe, gfn, readonly);
}

/* Make sure @slot owns @n data pages, granted if the rings are set up. */
static void slot_ensure_pages(XenBlkQueue *q, XenBlkSlot *slot,
                              unsigned int n)
{
    XenBlkfront *bf = q->bf;

    if (slot->nr_pages >= n) {
        return;
    }
    slot->gfn = g_renew(uint64_t, slot->gfn, n);
    slot->gref = g_renew(grant_ref_t, slot->gref, n);
    for (unsigned int i = slot->nr_pages; i < n; i++) {
        slot->gfn[i] = xen_fe_alloc_page(bf->fe);
        if (bf->set_up) {
            slot->gref[i] = grant(bf, slot->gfn[i], false);
        }
    }
    slot->nr_pages = n;
}

static void slot_ensure_ind(XenBlkQueue *q, XenBlkSlot *slot, unsigned int n)
{
    XenBlkfront *bf = q->bf;

    for (unsigned int i = slot->nr_ind; i < n; i++) {
        slot->ind_gfn[i] = xen_fe_alloc_page(bf->fe);
        if (bf->set_up) {
            slot->ind_gref[i] = grant(bf, slot->ind_gfn[i],
                                      !bf->indirect_grant_rw);
        }
    }
    slot->nr_ind = MAX(slot->nr_ind, n);
}

static void queue_grant_all(XenBlkQueue *q)
{
    XenBlkfront *bf = q->bf;

    for (unsigned int i = 0; i < q->ring_pages; i++) {
        q->ring_refs[i] = grant(bf, q->ring_gfn + i, false);
    }
    q->ring_ref = q->ring_refs[0];
    for (unsigned int i = 0; i < q->nr_slots; i++) {
        XenBlkSlot *slot = &q->slots[i];

        for (unsigned int j = 0; j < slot->nr_pages; j++) {
            slot->gref[j] = grant(bf, slot->gfn[j], false);
        }
        for (unsigned int j = 0; j < slot->nr_ind; j++) {
            slot->ind_gref[j] = grant(bf, slot->ind_gfn[j],
                                      !bf->indirect_grant_rw);
        }
    }
}

/* End every grant of @q; false if the backend still uses one. */
static bool queue_end_grants(XenBlkQueue *q)
{
    XenFe *fe = q->bf->fe;
    bool ok = true;

    for (unsigned int i = 0; i < q->ring_pages; i++) {
        ok &= xen_fe_end_grant(fe, q->ring_refs[i]);
    }
    for (unsigned int i = 0; i < q->nr_slots; i++) {
        XenBlkSlot *slot = &q->slots[i];

        for (unsigned int j = 0; j < slot->nr_pages; j++) {
            ok &= xen_fe_end_grant(fe, slot->gref[j]);
        }
        for (unsigned int j = 0; j < slot->nr_ind; j++) {
            ok &= xen_fe_end_grant(fe, slot->ind_gref[j]);
        }
    }
    return ok;
}

/* Give every page of @q back (nothing may be granted). */
static void queue_free_pages(XenBlkQueue *q)
{
    XenFe *fe = q->bf->fe;

    for (unsigned int i = 0; i < q->nr_slots; i++) {
        XenBlkSlot *slot = &q->slots[i];

        for (unsigned int j = 0; j < slot->nr_pages; j++) {
            xen_fe_free_page(fe, slot->gfn[j]);
        }
        for (unsigned int j = 0; j < slot->nr_ind; j++) {
            xen_fe_free_page(fe, slot->ind_gfn[j]);
        }
        g_free(slot->gfn);
        g_free(slot->gref);
    }
    g_free(q->slots);
    q->slots = NULL;
    q->nr_slots = 0;
    for (unsigned int i = 0; i < q->ring_pages; i++) {
        xen_fe_free_page(fe, q->ring_gfn + i);
    }
    q->ring_gfn = 0;
    q->ring_pages = 0;
}

/* Set up @q's ring (zeroed), its slots and its event channel. */
static bool queue_setup(XenBlkQueue *q, char **err)
{
    XenBlkfront *bf = q->bf;
    unsigned int pages = 1u << bf->ring_order;
    size_t bytes = (size_t)XEN_FE_PAGE_SIZE << bf->ring_order;
    unsigned int nr;

    if (q->ring_gfn && q->ring_pages != pages) {
        queue_free_pages(q);
    }
    if (!q->ring_gfn) {
        /* Kept across reconnects while the order stays. */
        q->ring_gfn = xen_fe_alloc_pages(bf->fe, pages);
        q->ring_pages = pages;
    }
    q->sring = xen_fe_page(bf->fe, q->ring_gfn);
    memset(q->sring, 0, bytes);
    SHARED_RING_INIT((blkif_sring_t *)q->sring);
    if (bf->abi32) {
        FRONT_RING_INIT(&q->ring.x86_32, (xen_blkfront_x86_32_sring_t *)
                        q->sring, bytes);
    } else {
        FRONT_RING_INIT(&q->ring.native, (blkif_sring_t *)q->sring, bytes);
    }
    nr = RING_SIZE(&q->ring.native);
    if (q->slots && q->nr_slots != nr) {
        queue_free_pages(q);
        return queue_setup(q, err);
    }
    if (!q->slots) {
        q->nr_slots = nr;
        q->slots = g_new0(XenBlkSlot, nr);
    }
    for (unsigned int i = 0; i < q->nr_slots; i++) {
        q->slots[i].busy = false;
        q->slots[i].done = false;
    }
    q->inflight = 0;
    queue_grant_all(q);
    if (!xen_fe_evtchn_alloc(bf->fe, &q->evt)) {
        *err = g_strdup_printf("queue %u: cannot allocate an event channel",
                               q->index);
        return false;
    }
    return true;
}

static bool write_queue_nodes(XenBlkfront *bf, XenBlkQueue *q,
                              const char *prefix)
{
    if (bf->ring_order) {
        for (unsigned int i = 0; i < q->ring_pages; i++) {
            g_autofree char *key = g_strdup_printf("%sring-ref%u", prefix, i);

            if (!fe_write(bf, key, "%u", q->ring_refs[i])) {
                return false;
            }
        }
    } else {
        g_autofree char *key = g_strdup_printf("%sring-ref", prefix);

        if (!fe_write(bf, key, "%u", q->ring_ref)) {
            return false;
        }
    }
    {
        g_autofree char *key = g_strdup_printf("%sevent-channel", prefix);

        return fe_write(bf, key, "%u", q->evt.port);
    }
}

static bool write_frontend_nodes(XenBlkfront *bf)
{
    unsigned int n = bf->nr_rings;

    if (bf->ring_order) {
        if (!fe_write(bf, "ring-page-order", "%u", bf->ring_order)) {
            return false;
        }
    } else {
        /* A stale order would make the backend look for ring-ref0... */
        fe_rm(bf, "ring-page-order");
    }
    if (n > 1) {
        if (!fe_write(bf, "multi-queue-num-queues", "%u", n)) {
            return false;
        }
        for (unsigned int i = 0; i < n; i++) {
            g_autofree char *prefix = g_strdup_printf("queue-%u/", i);

            if (!write_queue_nodes(bf, &bf->q[i], prefix)) {
                return false;
            }
        }
    } else {
        fe_rm(bf, "multi-queue-num-queues");
        if (!write_queue_nodes(bf, &bf->q[0], "")) {
            return false;
        }
    }
    return fe_write(bf, "protocol", "%s",
                    bf->abi32 ? XEN_IO_PROTO_ABI_X86_32
                              : XEN_IO_PROTO_ABI_X86_64) &&
           fe_write(bf, "feature-persistent", "%u", bf->persistent ? 1 : 0);
}

bool xen_blkfront_connect(XenBlkfront *bf, char **err)
{
    unsigned int n = MAX(bf->nr_queues, 1);
    int st;

    if (bf->set_up) {
        *err = g_strdup("already connected");
        return false;
    }
    g_assert(bf->ring_order <= XEN_BLKFRONT_MAX_RING_ORDER);
    g_assert(n <= XEN_BLKFRONT_MAX_QUEUES);
    st = wait_backend_state(bf, XenbusStateInitWait);
    if (st != XenbusStateInitWait) {
        *err = g_strdup_printf("backend never reached InitWait (state %d)",
                               st);
        return false;
    }
    read_features(bf);

    /* Queues no longer used give their pages back. */
    for (unsigned int i = n; i < XEN_BLKFRONT_MAX_QUEUES; i++) {
        queue_free_pages(&bf->q[i]);
    }
    bf->nr_rings = n;
    bf->set_up = true;
    for (unsigned int i = 0; i < n; i++) {
        if (!queue_setup(&bf->q[i], err)) {
            bf->nr_rings = i + 1;
            return false;
        }
    }
    bf->rings_order = bf->ring_order;

    if (!write_frontend_nodes(bf)) {
        *err = g_strdup("cannot write the frontend's XenStore nodes");
        return false;
    }
    if (bf->before_initialised) {
        bf->before_initialised(bf, bf->hook_opaque);
    }
    if (!set_state(bf, XenbusStateInitialised)) {
        *err = g_strdup("cannot write the frontend's state");
        return false;
    }
    st = wait_backend_state(bf, XenbusStateConnected);
    if (st != XenbusStateConnected) {
        g_autofree char *n_err = be_node(bf, "error");
        g_autofree char *why = xen_fe_xs_read(bf->fe, n_err);

        *err = g_strdup_printf("backend never reached Connected (state %d, "
                               "error \"%s\")", st, why ?: "");
        return false;
    }
    read_features(bf);
    xen_blkfront_refresh(bf);
    set_state(bf, XenbusStateConnected);
    bf->connected = true;
    return true;
}

bool xen_blkfront_teardown(XenBlkfront *bf, char **err)
{
    bool ok = true;

    if (!bf->set_up) {
        return true;
    }
    for (unsigned int i = 0; i < bf->nr_rings; i++) {
        XenBlkQueue *q = &bf->q[i];

        if (!queue_end_grants(q)) {
            ok = false;
        }
        if (q->evt.to_backend >= 0) {
            xen_fe_evtchn_close(bf->fe, &q->evt);
        }
        /* Whatever was in flight is forgotten. */
        for (unsigned int j = 0; j < q->nr_slots; j++) {
            q->slots[j].busy = false;
            q->slots[j].buf = NULL;
        }
        q->inflight = 0;
    }
    /* A response for an earlier request now has a stale id. */
    bf->generation++;
    bf->connected = false;
    if (!ok) {
        /*
         * Some grant is still in use: keep the pages (and the grants that
         * did end stay ended; the next connect grants everything again).
         */
        *err = g_strdup("a grant is still in use after Closed");
        bf->set_up = false;
        return false;
    }
    bf->set_up = false;
    return true;
}

bool xen_blkfront_disconnect(XenBlkfront *bf, char **err)
{
    if (!xen_fe_close_device(bf->fe, bf->fe_path, bf->be_path, err)) {
        return false;
    }
    /* The backend must have let go of every grant by now. */
    if (!xen_blkfront_teardown(bf, err)) {
        return false;
    }
    /* Ready for another connect. */
    set_state(bf, XenbusStateInitialising);
    return true;
}

void xen_blkfront_free(XenBlkfront *bf)
{
    for (unsigned int i = 0; i < XEN_BLKFRONT_MAX_QUEUES; i++) {
        XenBlkQueue *q = &bf->q[i];

        if (bf->set_up) {
            /* Still granted: the pages cannot be reused. */
            for (unsigned int j = 0; j < q->nr_slots; j++) {
                g_free(q->slots[j].gfn);
                g_free(q->slots[j].gref);
            }
            g_free(q->slots);
        } else {
            queue_free_pages(q);
        }
    }
    g_free(bf->fe_path);
    g_free(bf->be_path);
    g_free(bf->mode);
    g_free(bf);
}

XenBlkQueue *xen_blkfront_queue(XenBlkfront *bf, unsigned int q)
{
    g_assert(q < XEN_BLKFRONT_MAX_QUEUES);
    return &bf->q[q];
}

size_t xen_blkfront_entry_size(XenBlkfront *bf)
{
    return bf->abi32 ? sizeof(union xen_blkfront_x86_32_sring_entry)
                     : sizeof(union blkif_sring_entry);
}

size_t xen_blkfront_ring_bytes(XenBlkfront *bf)
{
    return (size_t)XEN_FE_PAGE_SIZE << bf->rings_order;
}

void xen_blkfront_resync(XenBlkfront *bf, unsigned int q)
{
    XenBlkQueue *bq = xen_blkfront_queue(bf, q);
    blkif_sring_t *s = bq->sring;

    bq->ring.native.req_prod_pvt = qatomic_read(&s->req_prod);
    bq->ring.native.rsp_cons = qatomic_read(&s->rsp_prod);
    g_assert(bq->inflight == 0);
}

/* ---- requests and responses ---- */

static void complete(XenBlkQueue *q, uint64_t id, uint8_t op, int16_t status)
{
    XenBlkfront *bf = q->bf;
    uint64_t slot_nr = id & ID_SLOT_MASK;
    XenBlkSlot *slot;

    if ((id >> ID_GEN_SHIFT) != (bf->generation & 0xffffff) ||
        ((id >> ID_QUEUE_SHIFT) & 0xff) != q->index ||
        slot_nr >= q->nr_slots || !q->slots[slot_nr].busy) {
        q->bad_responses++;
        bf->bad_responses++;
        return;
    }
    slot = &q->slots[slot_nr];
    slot->status = status;
    slot->rsp_op = op;
    if (op != slot->want_op) {
        /* Linux blkfront takes the device down on this. */
        q->bad_responses++;
        bf->bad_responses++;
    }
    if (status != BLKIF_RSP_OKAY) {
        q->errors++;
        bf->errors++;
    } else if (slot->buf) {
        for (uint32_t off = 0; off < slot->len; off += XEN_FE_PAGE_SIZE) {
            memcpy(slot->buf + off,
                   xen_fe_page(bf->fe, slot->gfn[off / XEN_FE_PAGE_SIZE]),
                   MIN(XEN_FE_PAGE_SIZE, slot->len - off));
        }
    }
    slot->busy = false;
    slot->done = true;
    slot->buf = NULL;
    q->inflight--;
}

/*
 * Are the bytes of response @idx that no field covers zero?  Byte 9 (after
 * operation) in both layouts; in the x86_64 one, bytes 12..15 as well.
 */
static bool padding_zero(XenBlkQueue *q, RING_IDX idx)
{
    const uint8_t *e;

    if (q->bf->abi32) {
        e = (const uint8_t *)RING_GET_RESPONSE(&q->ring.x86_32, idx);
        return e[9] == 0;
    }
    e = (const uint8_t *)RING_GET_RESPONSE(&q->ring.native, idx);
    return (e[9] | e[12] | e[13] | e[14] | e[15]) == 0;
}

/* Collect the responses there are; how many. */
static unsigned int reap(XenBlkQueue *q)
{
    XenBlkfront *bf = q->bf;
    unsigned int n = 0;
    bool more;

    do {
        RING_IDX rp = qatomic_read(&q->ring.native.sring->rsp_prod);
        RING_IDX cons = q->ring.native.rsp_cons;

        smp_rmb();  /* paired with the backend's write barrier */
        if (rp - cons > q->nr_slots) {
            /* More responses than requests: nothing here can be trusted. */
            q->bad_responses++;
            bf->bad_responses++;
            return n;
        }
        for (; cons != rp; cons++, n++) {
            uint64_t id;
            uint8_t op;
            int16_t status;

            if (bf->abi32) {
                struct xen_blkfront_x86_32_response r;

                memcpy(&r, RING_GET_RESPONSE(&q->ring.x86_32, cons),
                       sizeof(r));
                id = r.id;
                op = r.operation;
                status = r.status;
            } else {
                blkif_response_t r;

                memcpy(&r, RING_GET_RESPONSE(&q->ring.native, cons),
                       sizeof(r));
                id = r.id;
                op = r.operation;
                status = r.status;
            }
            if (!padding_zero(q, cons)) {
                /* Bytes no field covers must not carry stale data. */
                q->stale_padding++;
                bf->stale_padding++;
            }
            complete(q, id, op, status);
        }
        q->ring.native.rsp_cons = cons;
        RING_FINAL_CHECK_FOR_RESPONSES(&q->ring.native, more);
    } while (more);
    return n;
}

unsigned int xen_blkfront_reap(XenBlkfront *bf, unsigned int qi)
{
    return reap(xen_blkfront_queue(bf, qi));
}

bool xen_blkfront_wait(XenBlkfront *bf, unsigned int qi, int timeout_ms)
{
    XenBlkQueue *q = xen_blkfront_queue(bf, qi);
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    for (;;) {
        gint64 left;

        reap(q);
        if (!q->inflight) {
            return true;
        }
        left = (end - g_get_monotonic_time()) / 1000;
        if (left <= 0) {
            return false;
        }
        xen_fe_evtchn_wait(&q->evt, left);
    }
}

void xen_blkfront_kick(XenBlkfront *bf, unsigned int qi)
{
    XenBlkQueue *q = xen_blkfront_queue(bf, qi);
    bool notify;

    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&q->ring.native, notify);
    if (notify) {
        xen_fe_evtchn_notify(&q->evt);
    }
}

static int free_slot(XenBlkQueue *q)
{
    for (unsigned int i = 0; i < q->nr_slots; i++) {
        if (!q->slots[i].busy) {
            return i;
        }
    }
    return -1;
}

static bool op_writes_data(const XenBlkReq *r)
{
    return r->op == BLKIF_OP_WRITE || r->op == BLKIF_OP_WRITE_BARRIER ||
           r->op == BLKIF_OP_FLUSH_DISKCACHE ||
           (r->op == BLKIF_OP_INDIRECT && r->indirect_op == BLKIF_OP_WRITE);
}

static bool op_reads_data(const XenBlkReq *r)
{
    return r->op == BLKIF_OP_READ ||
           (r->op == BLKIF_OP_INDIRECT && r->indirect_op == BLKIF_OP_READ);
}

/* Put @req in the ring at req_prod_pvt, in slot @s; returns the slot. */
static int submit(XenBlkQueue *q, const XenBlkReq *r)
{
    XenBlkfront *bf = q->bf;
    struct blkif_request_segment auto_segs[XEN_BLKFRONT_MAX_INDIRECT_SEGS];
    const struct blkif_request_segment *segs = r->segs;
    unsigned int nr_segs = r->nr_segs;
    unsigned int nr_segments = r->nr_segments;
    RING_IDX idx = q->ring.native.req_prod_pvt;
    int s = free_slot(q);
    XenBlkSlot *slot;
    uint64_t id;

    g_assert(bf->set_up);
    if (s < 0) {
        return -1;
    }
    slot = &q->slots[s];
    id = make_id(q, s);

    if (!segs && r->len) {
        /* The slot's own pages, whole 4 KiB (or the tail's sectors). */
        g_assert(r->len % 512 == 0);
        nr_segs = DIV_ROUND_UP(r->len, XEN_FE_PAGE_SIZE);
        g_assert(nr_segs <= XEN_BLKFRONT_MAX_INDIRECT_SEGS);
        slot_ensure_pages(q, slot, nr_segs);
        for (unsigned int i = 0; i < nr_segs; i++) {
            size_t len = MIN(XEN_FE_PAGE_SIZE,
                             r->len - (size_t)i * XEN_FE_PAGE_SIZE);

            auto_segs[i].gref = slot->gref[i];
            auto_segs[i].first_sect = 0;
            auto_segs[i].last_sect = len / 512 - 1;
            if (op_writes_data(r) && r->buf) {
                memcpy(xen_fe_page(bf->fe, slot->gfn[i]),
                       (uint8_t *)r->buf + (size_t)i * XEN_FE_PAGE_SIZE, len);
            }
        }
        segs = auto_segs;
        nr_segments = nr_segs;
    }
    slot->buf = (op_reads_data(r) && !r->segs) ? r->buf : NULL;
    slot->len = r->segs ? 0 : r->len;
    slot->op = r->op;

    if (r->op == BLKIF_OP_DISCARD) {
        if (bf->abi32) {
            struct xen_blkfront_x86_32_request_discard d = {
                .operation = r->op, .flag = r->flag, .handle = r->handle,
                .id = id, .sector_number = r->sector,
                .nr_sectors = r->nr_sectors,
            };
            void *e = RING_GET_REQUEST(&q->ring.x86_32, idx);

            memset(e, 0, sizeof(struct xen_blkfront_x86_32_request));
            memcpy(e, &d, sizeof(d));
        } else {
            blkif_request_discard_t d = {
                .operation = r->op, .flag = r->flag, .handle = r->handle,
                .id = id, .sector_number = r->sector,
                .nr_sectors = r->nr_sectors,
            };
            void *e = RING_GET_REQUEST(&q->ring.native, idx);

            memset(e, 0, sizeof(blkif_request_t));
            memcpy(e, &d, sizeof(d));
        }
    } else if (r->op == BLKIF_OP_INDIRECT) {
        /* Pages for the segments given, or for the count claimed. */
        unsigned int nr_ind = DIV_ROUND_UP(MAX(nr_segs, nr_segments),
                                           SEGS_PER_IND);
        grant_ref_t grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST] = { 0 };

        nr_ind = MIN(nr_ind, BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST);
        slot_ensure_ind(q, slot, nr_ind);
        for (unsigned int p = 0; p < nr_ind; p++) {
            struct blkif_request_segment *page =
                xen_fe_page(bf->fe, slot->ind_gfn[p]);

            memset(page, 0, XEN_FE_PAGE_SIZE);
            for (unsigned int i = 0; i < SEGS_PER_IND; i++) {
                unsigned int k = p * SEGS_PER_IND + i;

                if (k < nr_segs) {
                    page[i] = segs[k];
                }
            }
            grefs[p] = slot->ind_gref[p];
        }
        if (bf->abi32) {
            struct xen_blkfront_x86_32_request_indirect d = {
                .operation = r->op, .indirect_op = r->indirect_op,
                .nr_segments = nr_segments, .id = id,
                .sector_number = r->sector, .handle = r->handle,
            };
            void *e = RING_GET_REQUEST(&q->ring.x86_32, idx);

            memcpy(d.indirect_grefs, grefs, sizeof(grefs));
            memset(e, 0, sizeof(struct xen_blkfront_x86_32_request));
            memcpy(e, &d, sizeof(d));
        } else {
            blkif_request_indirect_t d = {
                .operation = r->op, .indirect_op = r->indirect_op,
                .nr_segments = nr_segments, .id = id,
                .sector_number = r->sector, .handle = r->handle,
            };
            void *e = RING_GET_REQUEST(&q->ring.native, idx);

            memcpy(d.indirect_grefs, grefs, sizeof(grefs));
            memset(e, 0, sizeof(blkif_request_t));
            memcpy(e, &d, sizeof(d));
        }
    } else {
        unsigned int n = MIN(nr_segs, SEGS);

        if (bf->abi32) {
            struct xen_blkfront_x86_32_request d = {
                .operation = r->op, .nr_segments = nr_segments,
                .handle = r->handle, .id = id, .sector_number = r->sector,
            };

            if (n) {
                memcpy(d.seg, segs, n * sizeof(*segs));
            }
            memcpy(RING_GET_REQUEST(&q->ring.x86_32, idx), &d, sizeof(d));
        } else {
            blkif_request_t d = {
                .operation = r->op, .nr_segments = nr_segments,
                .handle = r->handle, .id = id, .sector_number = r->sector,
            };

            if (n) {
                memcpy(d.seg, segs, n * sizeof(*segs));
            }
            memcpy(RING_GET_REQUEST(&q->ring.native, idx), &d, sizeof(d));
        }
    }
    slot->busy = true;
    slot->done = false;
    slot->want_op = r->op == BLKIF_OP_INDIRECT ? r->indirect_op : r->op;
    q->ring.native.req_prod_pvt = idx + 1;
    q->inflight++;
    q->requests++;
    bf->requests++;
    return s;
}

bool xen_blkfront_submit(XenBlkfront *bf, unsigned int qi,
                         const XenBlkReq *req)
{
    return submit(xen_blkfront_queue(bf, qi), req) >= 0;
}

int xen_blkfront_submit_slot(XenBlkfront *bf, unsigned int qi,
                             const XenBlkReq *req)
{
    return submit(xen_blkfront_queue(bf, qi), req);
}

int xen_blkfront_op(XenBlkfront *bf, unsigned int qi, const XenBlkReq *req)
{
    XenBlkQueue *q = xen_blkfront_queue(bf, qi);
    int s;

    while ((s = submit(q, req)) < 0) {
        xen_blkfront_kick(bf, qi);
        if (!xen_blkfront_wait(bf, qi, IO_TIMEOUT_MS)) {
            return INT_MIN;
        }
    }
    xen_blkfront_kick(bf, qi);
    if (!xen_blkfront_wait(bf, qi, IO_TIMEOUT_MS) || !q->slots[s].done) {
        return INT_MIN;
    }
    return q->slots[s].status;
}

/* The most segments one read or write request carries. */
static unsigned int max_segs(XenBlkfront *bf)
{
    unsigned int n = bf->max_indirect_segments;

    if (!bf->use_indirect || n <= SEGS) {
        return SEGS;
    }
    if (bf->max_indirect) {
        n = MIN(n, bf->max_indirect);
    }
    return MIN(n, XEN_BLKFRONT_MAX_INDIRECT_SEGS);
}

bool xen_blkfront_rw_queue(XenBlkfront *bf, unsigned int qi, bool write,
                           uint64_t offset, void *buf, size_t len)
{
    const size_t max = (size_t)max_segs(bf) * XEN_FE_PAGE_SIZE;
    XenBlkQueue *q = xen_blkfront_queue(bf, qi);
    uint64_t errors = q->errors, bad = q->bad_responses;
    uint8_t *p = buf;

    g_assert(bf->connected);
    g_assert(qi < bf->nr_rings);
    g_assert(offset % 512 == 0 && len % 512 == 0);
    while (len) {
        size_t chunk = MIN(len, max);
        uint8_t op = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        XenBlkReq r = {
            .op = op, .sector = offset / 512, .buf = p, .len = chunk,
        };

        if (chunk > SEGS * XEN_FE_PAGE_SIZE) {
            r.op = BLKIF_OP_INDIRECT;
            r.indirect_op = op;
        }
        while (submit(q, &r) < 0) {
            xen_blkfront_kick(bf, qi);
            reap(q);
            if (free_slot(q) < 0 &&
                !xen_fe_evtchn_wait(&q->evt, IO_TIMEOUT_MS)) {
                return false;
            }
        }
        p += chunk;
        offset += chunk;
        len -= chunk;
    }
    xen_blkfront_kick(bf, qi);
    if (!xen_blkfront_wait(bf, qi, IO_TIMEOUT_MS)) {
        return false;
    }
    return q->errors == errors && q->bad_responses == bad;
}

bool xen_blkfront_rw(XenBlkfront *bf, bool write, uint64_t offset,
                     void *buf, size_t len)
{
    return xen_blkfront_rw_queue(bf, 0, write, offset, buf, len);
}

bool xen_blkfront_flush(XenBlkfront *bf)
{
    XenBlkReq r = { .op = BLKIF_OP_FLUSH_DISKCACHE };

    return xen_blkfront_op(bf, 0, &r) == BLKIF_RSP_OKAY;
}

int xen_blkfront_discard(XenBlkfront *bf, uint64_t offset, uint64_t len,
                         bool secure)
{
    XenBlkReq r = {
        .op = BLKIF_OP_DISCARD,
        .flag = secure ? BLKIF_DISCARD_SECURE : 0,
        .sector = offset / 512,
        .nr_sectors = len / 512,
    };

    return xen_blkfront_op(bf, 0, &r);
}

int xen_blkfront_barrier_write(XenBlkfront *bf, uint64_t offset,
                               const void *buf, size_t len)
{
    XenBlkReq r = {
        .op = BLKIF_OP_WRITE_BARRIER,
        .sector = offset / 512,
        .buf = (void *)buf,
        .len = len,
    };

    g_assert(len <= SEGS * XEN_FE_PAGE_SIZE);
    return xen_blkfront_op(bf, 0, &r);
}
