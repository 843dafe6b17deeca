/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: blkfront (see xen-blkfront.h).
 */

#include "qemu/osdep.h"
#include "xen-blkfront.h"
#include "hw/xen/interface/io/xenbus.h"

#define IO_TIMEOUT_MS 30000
#define SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST

XenBlkfront *xen_blkfront_new(XenFe *fe, unsigned int devid)
{
    XenBlkfront *bf = g_new0(XenBlkfront, 1);

    bf->fe = fe;
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

static bool wait_backend_state(XenBlkfront *bf, int state)
{
    return xen_fe_wait_backend_state(bf->fe, bf->be_path, state);
}

static bool set_state(XenBlkfront *bf, int state)
{
    return xen_fe_set_state(bf->fe, bf->fe_path, state);
}

bool xen_blkfront_connect(XenBlkfront *bf, char **err)
{
    XenFe *fe = bf->fe;
    g_autofree char *n_sectors = be_node(bf, "sectors");
    g_autofree char *n_ssize = be_node(bf, "sector-size");
    g_autofree char *n_flush = be_node(bf, "feature-flush-cache");
    g_autofree char *n_mode = be_node(bf, "mode");
    g_autofree char *n_ring = fe_node(bf, "ring-ref");
    g_autofree char *n_evt = fe_node(bf, "event-channel");
    g_autofree char *n_proto = fe_node(bf, "protocol");
    blkif_sring_t *sring;

    if (!wait_backend_state(bf, XenbusStateInitWait)) {
        *err = g_strdup("backend never reached InitWait");
        return false;
    }
    bf->sector_size = xen_fe_xs_read_int(fe, n_ssize, 512);
    bf->feature_flush = xen_fe_xs_read_int(fe, n_flush, 0) == 1;
    g_free(bf->mode);
    bf->mode = xen_fe_xs_read(fe, n_mode);

    g_assert(bf->ring_order <= 4);
    if (!bf->ring_gfn) {
        /* Kept across reconnects: contiguous pages are not recycled. */
        bf->ring_gfn = xen_fe_alloc_pages(fe, 1u << bf->ring_order);
    }
    sring = xen_fe_page(fe, bf->ring_gfn);
    memset(sring, 0, XEN_FE_PAGE_SIZE << bf->ring_order);
    SHARED_RING_INIT(sring);
    FRONT_RING_INIT(&bf->ring, sring, XEN_FE_PAGE_SIZE << bf->ring_order);
    for (unsigned int i = 0; i < 1u << bf->ring_order; i++) {
        bf->ring_refs[i] = xen_fe_grant(fe, bf->ring_gfn + i, false);
    }
    bf->ring_ref = bf->ring_refs[0];
    if (!xen_fe_evtchn_alloc(fe, &bf->evt)) {
        *err = g_strdup("cannot allocate an event channel");
        return false;
    }
    if (bf->slots && bf->nr_slots != RING_SIZE(&bf->ring)) {
        *err = g_strdup("ring-page-order changed across reconnects");
        return false;
    }
    if (!bf->slots) {
        bf->nr_slots = RING_SIZE(&bf->ring);
        bf->slots = g_new0(XenBlkSlot, bf->nr_slots);
        for (unsigned int i = 0; i < bf->nr_slots; i++) {
            for (unsigned int j = 0; j < SEGS; j++) {
                bf->slots[i].gfn[j] = xen_fe_alloc_page(fe);
            }
        }
    }
    for (unsigned int i = 0; i < bf->nr_slots; i++) {
        for (unsigned int j = 0; j < SEGS; j++) {
            bf->slots[i].gref[j] = xen_fe_grant(fe, bf->slots[i].gfn[j],
                                                false);
        }
        bf->slots[i].busy = false;
    }

    if (bf->ring_order) {
        g_autofree char *n_order = fe_node(bf, "ring-page-order");

        if (!xen_fe_xs_printf(fe, n_order, "%u", bf->ring_order)) {
            *err = g_strdup("cannot write ring-page-order");
            return false;
        }
        for (unsigned int i = 0; i < 1u << bf->ring_order; i++) {
            g_autofree char *key = g_strdup_printf("ring-ref%u", i);
            g_autofree char *n_ref = fe_node(bf, key);

            if (!xen_fe_xs_printf(fe, n_ref, "%u", bf->ring_refs[i])) {
                *err = g_strdup("cannot write ring-ref");
                return false;
            }
        }
    } else if (!xen_fe_xs_printf(fe, n_ring, "%u", bf->ring_ref)) {
        *err = g_strdup("cannot write ring-ref");
        return false;
    }
    if (!xen_fe_xs_printf(fe, n_evt, "%u", bf->evt.port) ||
        !xen_fe_xs_printf(fe, n_proto, "%s", XEN_IO_PROTO_ABI_X86_64) ||
        !set_state(bf, XenbusStateInitialised)) {
        *err = g_strdup("cannot write the frontend's XenStore nodes");
        return false;
    }
    if (!wait_backend_state(bf, XenbusStateConnected)) {
        *err = g_strdup("backend never reached Connected");
        return false;
    }
    bf->sectors = xen_fe_xs_read_int(fe, n_sectors, 0);
    set_state(bf, XenbusStateConnected);
    bf->connected = true;
    return true;
}

bool xen_blkfront_disconnect(XenBlkfront *bf, char **err)
{
    XenFe *fe = bf->fe;

    if (!xen_fe_close_device(fe, bf->fe_path, bf->be_path, err)) {
        return false;
    }
    /* The backend must have let go of every grant by now. */
    for (unsigned int i = 0; i < 1u << bf->ring_order; i++) {
        if (!xen_fe_end_grant(fe, bf->ring_refs[i])) {
            *err = g_strdup("ring grant still in use after Closed");
            return false;
        }
    }
    for (unsigned int i = 0; i < bf->nr_slots; i++) {
        for (unsigned int j = 0; j < SEGS; j++) {
            if (!xen_fe_end_grant(fe, bf->slots[i].gref[j])) {
                *err = g_strdup("data grant still in use after Closed");
                return false;
            }
        }
    }
    xen_fe_evtchn_close(fe, &bf->evt);
    bf->connected = false;
    /* Ready for another connect. */
    set_state(bf, XenbusStateInitialising);
    return true;
}

void xen_blkfront_free(XenBlkfront *bf)
{
    g_free(bf->slots);
    g_free(bf->fe_path);
    g_free(bf->be_path);
    g_free(bf->mode);
    g_free(bf);
}

/* Collect responses; returns false on timeout. */
static bool reap(XenBlkfront *bf, unsigned int *inflight, bool wait)
{
    for (;;) {
        RING_IDX rp, cons;
        bool more;

        rp = bf->ring.sring->rsp_prod;
        smp_rmb();  /* paired with the backend's write barrier */
        for (cons = bf->ring.rsp_cons; cons != rp; cons++) {
            blkif_response_t *rsp = RING_GET_RESPONSE(&bf->ring, cons);
            XenBlkSlot *slot;

            g_assert(rsp->id < bf->nr_slots);
            slot = &bf->slots[rsp->id];
            g_assert(slot->busy);
            if (rsp->status != BLKIF_RSP_OKAY) {
                bf->errors++;
            } else if (slot->buf) {
                for (uint32_t off = 0; off < slot->len;
                     off += XEN_FE_PAGE_SIZE) {
                    memcpy(slot->buf + off,
                           xen_fe_page(bf->fe, slot->gfn[off / 4096]),
                           MIN(XEN_FE_PAGE_SIZE, slot->len - off));
                }
            }
            slot->busy = false;
            (*inflight)--;
        }
        bf->ring.rsp_cons = cons;
        RING_FINAL_CHECK_FOR_RESPONSES(&bf->ring, more);
        if (more) {
            continue;
        }
        if (!wait || !*inflight) {
            return true;
        }
        if (!xen_fe_evtchn_wait(&bf->evt, IO_TIMEOUT_MS)) {
            return false;
        }
    }
}

static XenBlkSlot *free_slot(XenBlkfront *bf, unsigned int *id)
{
    for (unsigned int i = 0; i < bf->nr_slots; i++) {
        if (!bf->slots[i].busy) {
            *id = i;
            return &bf->slots[i];
        }
    }
    return NULL;
}

static void push(XenBlkfront *bf)
{
    bool notify;

    RING_PUSH_REQUESTS_AND_CHECK_NOTIFY(&bf->ring, notify);
    if (notify) {
        xen_fe_evtchn_notify(&bf->evt);
    }
}

bool xen_blkfront_rw(XenBlkfront *bf, bool write, uint64_t offset,
                     void *buf, size_t len)
{
    const size_t max = SEGS * XEN_FE_PAGE_SIZE;
    uint8_t *p = buf;
    unsigned int inflight = 0;
    uint64_t errors = bf->errors;

    g_assert(bf->connected);
    g_assert(offset % 512 == 0 && len % 512 == 0);
    while (len) {
        size_t chunk = MIN(len, max);
        unsigned int id;
        XenBlkSlot *slot;
        blkif_request_t *req;

        while (!(slot = free_slot(bf, &id))) {
            push(bf);
            if (!reap(bf, &inflight, true)) {
                return false;
            }
        }
        req = RING_GET_REQUEST(&bf->ring, bf->ring.req_prod_pvt);
        memset(req, 0, sizeof(*req));
        req->operation = write ? BLKIF_OP_WRITE : BLKIF_OP_READ;
        req->id = id;
        req->sector_number = offset / 512;
        req->nr_segments = DIV_ROUND_UP(chunk, XEN_FE_PAGE_SIZE);
        for (unsigned int i = 0; i < req->nr_segments; i++) {
            size_t seg = MIN(XEN_FE_PAGE_SIZE, chunk - i * XEN_FE_PAGE_SIZE);

            req->seg[i].gref = slot->gref[i];
            req->seg[i].first_sect = 0;
            req->seg[i].last_sect = seg / 512 - 1;
            if (write) {
                memcpy(xen_fe_page(bf->fe, slot->gfn[i]),
                       p + i * XEN_FE_PAGE_SIZE, seg);
            }
        }
        slot->busy = true;
        slot->buf = write ? NULL : p;
        slot->len = chunk;
        bf->ring.req_prod_pvt++;
        bf->requests++;
        inflight++;
        p += chunk;
        offset += chunk;
        len -= chunk;
    }
    push(bf);
    if (!reap(bf, &inflight, true)) {
        return false;
    }
    return bf->errors == errors;
}

bool xen_blkfront_flush(XenBlkfront *bf)
{
    unsigned int inflight = 1, id;
    uint64_t errors = bf->errors;
    XenBlkSlot *slot = free_slot(bf, &id);
    blkif_request_t *req;

    g_assert(slot);
    req = RING_GET_REQUEST(&bf->ring, bf->ring.req_prod_pvt);
    memset(req, 0, sizeof(*req));
    req->operation = BLKIF_OP_FLUSH_DISKCACHE;
    req->id = id;
    slot->busy = true;
    slot->buf = NULL;
    bf->ring.req_prod_pvt++;
    bf->requests++;
    push(bf);
    return reap(bf, &inflight, true) && bf->errors == errors;
}
