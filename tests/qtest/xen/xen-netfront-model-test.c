/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: the frontend library's netfront against a model backend.
 *
 * The model is a thread of this test that plays a netback for a vif whose
 * backend directory (type "model") no QEMU device claims: it does the
 * XenBus handshake through dom0's XenStore connection, reads the rings,
 * grant table and pages straight from the guest memory (the frontend's own
 * mapping), records every packet the frontend transmits (slots, extras,
 * flags), writes the packets the test injects into posted RX buffers (in
 * several slots, with GSO and HASH extras, or broken on purpose), serves
 * the control ring, and notifies through the frontend's end of the event
 * channels when the ring's event index asks for it.  So the library's wire
 * format and its checks are tested whatever the QEMU backend supports.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "libqtest.h"
#include "hw/xen/interface/io/xenbus.h"
#include "frontend/xen-fe.h"
#include "frontend/xen-netfront.h"
#include "xen-sim-harness.h"

#define DEVID 0
#define PAGE 4096
#define MAXQ 8
#define MAX_MCAST 64

typedef enum Corrupt {
    GOOD,
    BAD_ID,             /* the response's id is not the request's */
    BAD_OFFSET,         /* offset + size beyond the page */
    BAD_EXTRA,          /* an extra of an unknown type */
    ERROR_STATUS,       /* NETIF_RSP_ERROR */
    FORCE_SLOTS,        /* several slots even without feature-sg */
} Corrupt;

/* A packet the frontend sent, as the model saw it. */
typedef struct MPkt {
    unsigned int queue;
    size_t len;
    uint8_t *data;
    unsigned int slots, extras;
    uint16_t flags;
    netif_extra_info_t gso, hash;
    bool has_gso, has_hash;
} MPkt;

/* A packet for the model to deliver. */
typedef struct MRx {
    size_t len;
    uint8_t *data;
    uint16_t flags;
    uint16_t gso_type, gso_size;
    bool hash;
    uint32_t hash_value;
    Corrupt corrupt;
} MRx;

typedef struct MQueue {
    netif_tx_back_ring_t tx;
    netif_rx_back_ring_t rx;
    int tx_fd, rx_fd;           /* the guest's ends: write to notify */
    GQueue inject;              /* MRx, under the model's lock */
    uint64_t rx_delivered;
} MQueue;

typedef struct Model {
    XenFe *fe;
    XenNetfront *nf;            /* only to find the guest's eventfds */
    struct xs_handle *xs;       /* dom0 */
    char *be, *fe_dir;
    int stop;
    int state;                  /* the backend's */
    unsigned int nq;
    bool split, sg, rx_notify;
    MQueue q[MAXQ];
    xen_netif_ctrl_back_ring_t ctrl;
    int ctrl_fd;
    bool has_ctrl;
    GMutex lock;
    GPtrArray *sent;            /* MPkt */
    uint8_t mcast[MAX_MCAST][6];
    unsigned int nr_mcast;
    /* The control ring's state */
    uint32_t hash_alg, hash_flags, mapping_size;
    uint8_t key[40];
    uint32_t keylen;
    uint32_t mapping[128];
    uint64_t ctrl_requests;
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

/* The guest's end of the channel with @port, or -1. */
static int guest_fd(Model *m, long long port)
{
    XenNetfront *nf = m->nf;

    for (unsigned int j = 0; j < XEN_NETFRONT_MAX_QUEUES; j++) {
        for (unsigned int k = 0; k < 2; k++) {
            if (nf->q[j].evt[k].to_guest >= 0 &&
                nf->q[j].evt[k].port == port) {
                return nf->q[j].evt[k].to_guest;
            }
        }
    }
    if (nf->ctrl_evt.to_guest >= 0 && nf->ctrl_evt.port == port) {
        return nf->ctrl_evt.to_guest;
    }
    return -1;
}

static void refuse(Model *m, const char *why)
{
    wr(m, "error", "%s", why);
    set_state(m, XenbusStateClosing);
}

static bool model_connect(Model *m)
{
    long long nq = rd_int(m, m->fe_dir, "multi-queue-num-queues", 1);

    if (rd_int(m, m->fe_dir, "request-rx-copy", 0) != 1) {
        refuse(m, "model: request-rx-copy is required");
        return false;
    }
    m->rx_notify = rd_int(m, m->fe_dir, "feature-rx-notify", 0) == 1;
    if (!m->rx_notify) {
        refuse(m, "model: feature-rx-notify is required");
        return false;
    }
    if (nq < 1 || nq > MAXQ) {
        refuse(m, "model: bad multi-queue-num-queues");
        return false;
    }
    m->nq = nq;
    m->sg = rd_int(m, m->fe_dir, "feature-sg", 0) == 1;
    for (unsigned int i = 0; i < nq; i++) {
        g_autofree char *dir = nq > 1 ?
            g_strdup_printf("%s/queue-%u", m->fe_dir, i) : g_strdup(m->fe_dir);
        MQueue *q = &m->q[i];
        uint8_t *tx = gref_page(m, rd_int(m, dir, "tx-ring-ref", -1), true);
        uint8_t *rx = gref_page(m, rd_int(m, dir, "rx-ring-ref", -1), true);
        long long etx = rd_int(m, dir, "event-channel-tx", -1);
        long long erx = rd_int(m, dir, "event-channel-rx", -1);

        if (!tx || !rx) {
            model_error(m, "queue %u: ring refs", i);
            return false;
        }
        m->split = etx >= 0;
        if (!m->split) {
            etx = erx = rd_int(m, dir, "event-channel", -1);
        }
        q->tx_fd = guest_fd(m, etx);
        q->rx_fd = guest_fd(m, erx);
        if (q->tx_fd < 0 || q->rx_fd < 0) {
            model_error(m, "queue %u: event channels %lld %lld", i, etx, erx);
            return false;
        }
        BACK_RING_INIT(&q->tx, (netif_tx_sring_t *)tx, PAGE);
        BACK_RING_INIT(&q->rx, (netif_rx_sring_t *)rx, PAGE);
    }
    m->has_ctrl = false;
    if (rd_int(m, m->fe_dir, "ctrl-ring-ref", -1) >= 0) {
        uint8_t *c = gref_page(m, rd_int(m, m->fe_dir, "ctrl-ring-ref", -1),
                               true);

        m->ctrl_fd = guest_fd(m, rd_int(m, m->fe_dir, "event-channel-ctrl",
                                        -1));
        if (!c || m->ctrl_fd < 0) {
            model_error(m, "control ring");
            return false;
        }
        BACK_RING_INIT(&m->ctrl, (xen_netif_ctrl_sring_t *)c, PAGE);
        m->has_ctrl = true;
    }
    m->nr_mcast = 0;
    m->connects++;
    return true;
}

static void notify(int fd)
{
    uint64_t one = 1;

    g_assert(write(fd, &one, 8) == 8);
}

/* ---- TX ---- */

static void mcast_op(Model *m, const netif_extra_info_t *ex, int16_t *st)
{
    if (ex->type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD) {
        if (m->nr_mcast == MAX_MCAST) {
            *st = NETIF_RSP_ERROR;
            return;
        }
        memcpy(m->mcast[m->nr_mcast++], ex->u.mcast.addr, 6);
    } else {
        for (unsigned int i = 0; i < m->nr_mcast; i++) {
            if (!memcmp(m->mcast[i], ex->u.mcast.addr, 6)) {
                memmove(m->mcast[i], m->mcast[i + 1],
                        (m->nr_mcast - i - 1) * 6);
                m->nr_mcast--;
                break;
            }
        }
    }
}

static void tx_respond(MQueue *q, uint16_t id, int16_t status)
{
    netif_tx_response_t *rsp = RING_GET_RESPONSE(&q->tx, q->tx.rsp_prod_pvt);

    memset(rsp, 0, 12);
    rsp->id = id;
    rsp->status = status;
    q->tx.rsp_prod_pvt++;
}

/* Serve the next whole packet on @q; false if none is there yet. */
static bool tx_one(Model *m, unsigned int qi)
{
    MQueue *q = &m->q[qi];
    RING_IDX rp = q->tx.sring->req_prod, c = q->tx.req_cons;
    netif_tx_request_t first, reqs[64];
    netif_extra_info_t ex;
    MPkt *p;
    unsigned int k = 1, nfrag = 0;
    size_t rest = 0, off;
    int16_t st = NETIF_RSP_OKAY;
    bool mcast = false;

    smp_rmb();   /* the requests up to the producer index read */
    if (c == rp) {
        return false;
    }
    memcpy(&first, RING_GET_REQUEST(&q->tx, c), sizeof(first));
    p = g_new0(MPkt, 1);
    p->queue = qi;
    p->flags = first.flags;
    if (first.flags & NETTXF_extra_info) {
        do {
            if (c + k == rp) {
                g_free(p);
                return false;
            }
            memcpy(&ex, RING_GET_REQUEST(&q->tx, c + k), sizeof(ex));
            k++;
            p->extras++;
            if (ex.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                p->gso = ex;
                p->has_gso = true;
            } else if (ex.type == XEN_NETIF_EXTRA_TYPE_HASH) {
                p->hash = ex;
                p->has_hash = true;
            } else if (ex.type == XEN_NETIF_EXTRA_TYPE_MCAST_ADD ||
                       ex.type == XEN_NETIF_EXTRA_TYPE_MCAST_DEL) {
                mcast_op(m, &ex, &st);
                mcast = true;
            } else {
                model_error(m, "tx extra type %u", ex.type);
            }
        } while (ex.flags & XEN_NETIF_EXTRA_FLAG_MORE);
    }
    if (first.flags & NETTXF_more_data) {
        bool more = true;

        while (more) {
            if (c + k == rp) {
                g_free(p);
                return false;
            }
            if (nfrag == G_N_ELEMENTS(reqs)) {
                model_error(m, "tx chain too long");
                break;
            }
            memcpy(&reqs[nfrag], RING_GET_REQUEST(&q->tx, c + k),
                   sizeof(reqs[0]));
            more = reqs[nfrag].flags & NETTXF_more_data;
            if (reqs[nfrag].flags & ~NETTXF_more_data) {
                model_error(m, "tx fragment flags 0x%x", reqs[nfrag].flags);
            }
            rest += reqs[nfrag].size;
            nfrag++;
            k++;
        }
    }
    q->tx.req_cons = c + k;
    p->slots = 1 + nfrag;
    p->len = first.size;
    if (rest > first.size) {
        model_error(m, "fragments (%zu) beyond the packet (%u)", rest,
                    first.size);
        rest = first.size;
    }
    p->data = g_malloc0(MAX(p->len, 1));
    {
        const uint8_t *pg = gref_page(m, first.gref, false);
        size_t n = first.size - rest;

        if (!mcast && (!pg || first.offset + n > PAGE)) {
            model_error(m, "tx first slot gref %u offset %u size %zu",
                        first.gref, first.offset, n);
        } else if (pg) {
            memcpy(p->data, pg + first.offset, n);
        }
        off = n;
    }
    for (unsigned int i = 0; i < nfrag; i++) {
        const uint8_t *pg = gref_page(m, reqs[i].gref, false);

        if (!pg || reqs[i].offset + reqs[i].size > PAGE) {
            model_error(m, "tx fragment %u gref %u", i, reqs[i].gref);
        } else {
            memcpy(p->data + off, pg + reqs[i].offset, reqs[i].size);
        }
        off += reqs[i].size;
    }
    /* One response per slot: the extras get NULL. */
    tx_respond(q, first.id, st);
    for (unsigned int i = 0; i < p->extras; i++) {
        tx_respond(q, 0xdead, NETIF_RSP_NULL);
    }
    for (unsigned int i = 0; i < nfrag; i++) {
        tx_respond(q, reqs[i].id, NETIF_RSP_OKAY);
    }
    g_mutex_lock(&m->lock);
    if (mcast) {
        g_free(p->data);
        g_free(p);
    } else {
        g_ptr_array_add(m->sent, p);
    }
    g_mutex_unlock(&m->lock);
    return true;
}

static void serve_tx(Model *m, unsigned int qi)
{
    MQueue *q = &m->q[qi];
    bool more, notify_needed;

    do {
        while (tx_one(m, qi)) {
            /* next */
        }
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->tx, notify_needed);
        if (notify_needed) {
            notify(q->tx_fd);
        }
        RING_FINAL_CHECK_FOR_REQUESTS(&q->tx, more);
    } while (more && q->tx.req_cons != q->tx.sring->req_prod);
}

/* ---- RX ---- */

static netif_rx_response_t *rx_slot(MQueue *q, netif_rx_request_t *req)
{
    netif_rx_request_t *r = RING_GET_REQUEST(&q->rx, q->rx.req_cons);

    *req = *r;
    q->rx.req_cons++;
    return RING_GET_RESPONSE(&q->rx, q->rx.rsp_prod_pvt++);
}

/* Deliver @p into the posted buffers of @q; false if too few are posted. */
static bool rx_one(Model *m, MQueue *q, MRx *p)
{
    bool multi = m->sg || p->corrupt == FORCE_SLOTS;
    unsigned int chunk = p->corrupt == FORCE_SLOTS ? 100 : PAGE;
    unsigned int nd = p->len ? DIV_ROUND_UP(p->len, chunk) : 1;
    unsigned int nx = (p->gso_type != 0) + p->hash + (p->corrupt == BAD_EXTRA);
    RING_IDX avail = q->rx.sring->req_prod - q->rx.req_cons;
    size_t done = 0;

    smp_rmb();   /* the requests up to the producer index read */
    if (!multi && nd > 1) {
        return true;    /* dropped, as a backend must without SG */
    }
    if (avail < nd + nx) {
        return false;
    }
    for (unsigned int i = 0; i < nd; i++) {
        netif_rx_request_t req;
        netif_rx_response_t *rsp = rx_slot(q, &req);
        size_t n = MIN(chunk, p->len - done);
        uint8_t *pg = gref_page(m, req.gref, true);

        if (!pg) {
            model_error(m, "rx request gref %u", req.gref);
            return true;
        }
        memcpy(pg, p->data + done, n);
        done += n;
        rsp->id = p->corrupt == BAD_ID ? req.id + 1 : req.id;
        rsp->offset = p->corrupt == BAD_OFFSET ? PAGE - 10 : 0;
        rsp->status = p->corrupt == ERROR_STATUS ? NETIF_RSP_ERROR : n;
        rsp->flags = i + 1 < nd ? NETRXF_more_data : 0;
        if (i == 0) {
            rsp->flags |= p->flags | (nx ? NETRXF_extra_info : 0);
            for (unsigned int x = 0; x < nx; x++) {
                netif_extra_info_t *ex =
                    (netif_extra_info_t *)rx_slot(q, &req);

                memset(ex, 0, sizeof(*ex));
                ex->flags = x + 1 < nx ? XEN_NETIF_EXTRA_FLAG_MORE : 0;
                if (p->gso_type && x == 0) {
                    ex->type = XEN_NETIF_EXTRA_TYPE_GSO;
                    ex->u.gso.type = p->gso_type;
                    ex->u.gso.size = p->gso_size;
                } else if (p->hash && x == (p->gso_type != 0)) {
                    ex->type = XEN_NETIF_EXTRA_TYPE_HASH;
                    ex->u.hash.type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP;
                    ex->u.hash.algorithm =
                        XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ;
                    memcpy(ex->u.hash.value, &p->hash_value, 4);
                } else {
                    ex->type = 9;
                }
            }
        }
    }
    q->rx_delivered++;
    return true;
}

static void serve_rx(Model *m, unsigned int qi)
{
    MQueue *q = &m->q[qi];
    bool notify_needed;

    for (;;) {
        MRx *p;

        g_mutex_lock(&m->lock);
        p = g_queue_peek_head(&q->inject);
        g_mutex_unlock(&m->lock);
        if (!p || !rx_one(m, q, p)) {
            break;
        }
        g_mutex_lock(&m->lock);
        g_queue_pop_head(&q->inject);
        g_mutex_unlock(&m->lock);
        g_free(p->data);
        g_free(p);
    }
    RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&q->rx, notify_needed);
    if (notify_needed) {
        notify(q->rx_fd);
    }
}

/* ---- the control ring ---- */

static uint32_t ctrl_serve(Model *m, const struct xen_netif_ctrl_request *r,
                           uint32_t *data)
{
    const uint8_t *pg;

    *data = 0;
    switch (r->type) {
    case XEN_NETIF_CTRL_TYPE_SET_HASH_ALGORITHM:
        if (r->data[0] > XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        m->hash_alg = r->data[0];
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    case XEN_NETIF_CTRL_TYPE_SET_HASH_FLAGS:
        if (!m->hash_alg) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        m->hash_flags = r->data[0];
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    case XEN_NETIF_CTRL_TYPE_SET_HASH_KEY:
        if (r->data[1] > sizeof(m->key)) {
            return XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW;
        }
        pg = gref_page(m, r->data[0], false);
        if (!pg) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        memcpy(m->key, pg, r->data[1]);
        m->keylen = r->data[1];
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    case XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE:
        *data = G_N_ELEMENTS(m->mapping);
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING_SIZE:
        if (r->data[0] > G_N_ELEMENTS(m->mapping)) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        m->mapping_size = r->data[0];
        memset(m->mapping, 0, sizeof(m->mapping));
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    case XEN_NETIF_CTRL_TYPE_SET_HASH_MAPPING:
        if (r->data[2] > m->mapping_size ||
            r->data[1] > m->mapping_size - r->data[2]) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        pg = gref_page(m, r->data[0], false);
        if (!pg) {
            return XEN_NETIF_CTRL_STATUS_INVALID_PARAMETER;
        }
        memcpy(m->mapping + r->data[2], pg, r->data[1] * 4);
        return XEN_NETIF_CTRL_STATUS_SUCCESS;
    default:
        return XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED;
    }
}

static void serve_ctrl(Model *m)
{
    bool notify_needed, any = false;
    RING_IDX rp = m->ctrl.sring->req_prod;

    smp_rmb();   /* the requests up to the producer index read */
    while (m->ctrl.req_cons != rp) {
        struct xen_netif_ctrl_request r;
        struct xen_netif_ctrl_response *rsp;
        uint32_t data;
        uint32_t st;

        memcpy(&r, RING_GET_REQUEST(&m->ctrl, m->ctrl.req_cons), sizeof(r));
        m->ctrl.req_cons++;
        st = ctrl_serve(m, &r, &data);
        rsp = RING_GET_RESPONSE(&m->ctrl, m->ctrl.rsp_prod_pvt++);
        rsp->id = r.id;
        rsp->type = r.type;
        rsp->status = st;
        rsp->data = data;
        m->ctrl_requests++;
        any = true;
    }
    if (any) {
        RING_PUSH_RESPONSES_AND_CHECK_NOTIFY(&m->ctrl, notify_needed);
        if (notify_needed) {
            notify(m->ctrl_fd);
        }
    }
}

static gpointer model_thread(gpointer opaque)
{
    Model *m = opaque;

    while (!qatomic_read(&m->stop)) {
        long long fs = rd_int(m, m->fe_dir, "state", -1);

        if ((fs == XenbusStateInitialised || fs == XenbusStateConnected) &&
            m->state == XenbusStateInitWait) {
            if (model_connect(m)) {
                set_state(m, XenbusStateConnected);
            } else if (m->state != XenbusStateClosing) {
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
                serve_tx(m, i);
                serve_rx(m, i);
            }
            if (m->has_ctrl) {
                serve_ctrl(m);
            }
        }
        g_usleep(100);
    }
    return NULL;
}

/* ---- the rig ---- */

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

static void rig_start(Rig *r, const XenNetfrontConfig *cfg)
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
    m->fe_dir = g_strdup_printf("/local/domain/%u/device/vif/%u",
                                XEN_SIM_GUEST_DOMID, DEVID);
    g_assert(xs_mkdir(m->xs, XBT_NULL, m->be));
    g_assert(xs_set_permissions(m->xs, XBT_NULL, m->be, be_perms, 2));
    g_assert(xs_mkdir(m->xs, XBT_NULL, m->fe_dir));
    g_assert(xs_set_permissions(m->xs, XBT_NULL, m->fe_dir, fe_perms, 2));
    xs_put(m->xs, m->fe_dir, "backend", m->be);
    xs_put(m->xs, m->fe_dir, "state", "1");
    xs_put(m->xs, m->fe_dir, "mac", "00:16:3e:01:02:03");
    wr(m, "feature-sg", "1");
    wr(m, "feature-gso-tcpv4", "1");
    wr(m, "feature-gso-tcpv6", "1");
    wr(m, "feature-rx-copy", "1");
    wr(m, "feature-rx-flip", "0");
    wr(m, "feature-split-event-channels", "1");
    wr(m, "multi-queue-max-queues", "%u", MAXQ);
    wr(m, "feature-multicast-control", "1");
    wr(m, "feature-dynamic-multicast-control", "1");
    wr(m, "feature-ctrl-ring", "1");
    set_state(m, XenbusStateInitWait);
    g_mutex_init(&m->lock);
    m->sent = g_ptr_array_new();
    for (unsigned int i = 0; i < MAXQ; i++) {
        g_queue_init(&m->q[i].inject);
    }

    r->fe = sim_fe_connect(r->s);
    m->fe = r->fe;
    m->nf = xen_netfront_new_cfg(r->fe, DEVID, cfg);
    g_assert(m->nf);
    r->th = g_thread_new("model", model_thread, m);
}

static void free_pkt(gpointer p)
{
    g_free(((MPkt *)p)->data);
    g_free(p);
}

static void rig_stop(Rig *r)
{
    Model *m = &r->m;

    if (m->nf->set_up) {
        g_autofree char *err = NULL;

        g_assert(xen_netfront_disconnect(m->nf, &err));
    }
    qatomic_set(&m->stop, 1);
    g_thread_join(r->th);
    if (m->errors) {
        sim_fail("model: %s", m->errors);
    }
    xen_netfront_free(m->nf);
    xen_fe_close(r->fe);
    xs_close(m->xs);
    g_ptr_array_set_free_func(m->sent, free_pkt);
    g_ptr_array_free(m->sent, true);
    for (unsigned int i = 0; i < MAXQ; i++) {
        MRx *p;

        while ((p = g_queue_pop_head(&m->q[i].inject))) {
            g_free(p->data);
            g_free(p);
        }
    }
    g_mutex_clear(&m->lock);
    g_free(m->be);
    g_free(m->fe_dir);
    g_free(m->errors);
    sim_stop(r->s);
}

static void rig_connect(Rig *r)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_connect(r->m.nf, &err)) {
        sim_fail("connect: %s (model: %s)", err, r->m.errors ?: "-");
    }
}

static void rig_disconnect(Rig *r)
{
    g_autofree char *err = NULL;

    if (!xen_netfront_disconnect(r->m.nf, &err)) {
        sim_fail("disconnect: %s", err);
    }
}

static void fill(uint8_t *buf, size_t len, uint32_t gen)
{
    for (size_t i = 0; i < len; i++) {
        buf[i] = (uint8_t)(i * 7 + gen * 13 + (i >> 8));
    }
}

/* The @n-th packet the model recorded, waiting for it. */
static MPkt *sent_pkt(Rig *r, unsigned int n)
{
    gint64 end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    MPkt *p = NULL;

    while (!p && g_get_monotonic_time() < end) {
        g_mutex_lock(&r->m.lock);
        if (r->m.sent->len > n) {
            p = g_ptr_array_index(r->m.sent, n);
        }
        g_mutex_unlock(&r->m.lock);
        if (!p) {
            g_usleep(1000);
        }
    }
    if (!p) {
        sim_fail("the model never saw packet %u (model: %s)", n,
                 r->m.errors ?: "-");
    }
    return p;
}

static void inject(Rig *r, unsigned int qi, const MRx *tmpl, uint32_t gen)
{
    MRx *p = g_new(MRx, 1);

    *p = *tmpl;
    p->data = g_malloc(MAX(p->len, 1));
    fill(p->data, p->len, gen);
    g_mutex_lock(&r->m.lock);
    g_queue_push_tail(&r->m.q[qi].inject, p);
    g_mutex_unlock(&r->m.lock);
}

static void expect_rx(Rig *r, int qi, size_t len, uint32_t gen,
                      XenNetPktInfo *info, unsigned int *got_q)
{
    g_autofree uint8_t *want = g_malloc(MAX(len, 1));
    g_autofree uint8_t *got = g_malloc(70000);
    ssize_t n = xen_netfront_recv_pkt(r->m.nf, qi, got, 70000, info, got_q,
                                      10000);

    fill(want, len, gen);
    if (n != (ssize_t)len) {
        sim_fail("received %zd bytes, expected %zu (last error: %s)", n,
                 len, r->m.nf->last_error);
    }
    g_assert(memcmp(got, want, len) == 0);
}

static char *fe_read(Rig *r, const char *key)
{
    return rd(&r->m, r->m.fe_dir, key);
}

/* ---- cases ---- */

/* All-zero configuration: the keys Linux netfront writes. */
static void test_defaults(void)
{
    Rig r;
    XenNetfront *nf;
    uint8_t pkt[1500];
    MPkt *p;
    XenNetPktInfo info;
    static const char *const want[][2] = {
        { "request-rx-copy", "1" }, { "feature-rx-notify", "1" },
        { "feature-sg", "0" }, { "feature-gso-tcpv4", "0" },
        { "feature-gso-tcpv6", "0" }, { "feature-ipv6-csum-offload", "0" },
        { "request-multicast-control", "0" },
        { "multi-queue-num-queues", NULL }, { "event-channel-tx", NULL },
        { "ctrl-ring-ref", NULL }, { "feature-no-csum-offload", NULL },
    };

    rig_start(&r, NULL);
    nf = r.m.nf;
    rig_connect(&r);
    g_assert_cmpstr(nf->mac, ==, "00:16:3e:01:02:03");
    g_assert_cmpuint(nf->mac_addr[5], ==, 3);
    g_assert(nf->be.sg && nf->be.split_evtchn && nf->be.ctrl_ring);
    g_assert_cmpuint(nf->be.max_queues, ==, MAXQ);
    for (size_t i = 0; i < G_N_ELEMENTS(want); i++) {
        g_autofree char *v = fe_read(&r, want[i][0]);

        g_assert_cmpstr(v, ==, want[i][1]);
    }
    g_assert_cmpuint(r.m.nq, ==, 1);
    g_assert(!r.m.split);
    /* The whole RX ring is posted. */
    g_assert_cmpuint(nf->q[0].rx_posted, ==, XEN_NETFRONT_RX_RING_SIZE);

    /* The single-queue API. */
    for (uint32_t i = 0; i < 300; i++) {
        size_t len = 60 + (i * 97) % 1441;

        fill(pkt, len, i);
        g_assert(xen_netfront_send(nf, pkt, len));
        p = sent_pkt(&r, i);
        g_assert_cmpuint(p->len, ==, len);
        g_assert_cmpuint(p->slots, ==, 1);
        g_assert_cmpuint(p->flags, ==, 0);
        g_assert(memcmp(p->data, pkt, len) == 0);
    }
    for (uint32_t i = 0; i < 300; i++) {
        inject(&r, 0, &(MRx) { .len = 60 + i }, i);
        g_assert_cmpint(xen_netfront_recv(nf, pkt, sizeof(pkt), 10000), ==,
                        60 + i);
    }
    inject(&r, 0, &(MRx) { .len = 1000, .flags = NETRXF_data_validated }, 7);
    expect_rx(&r, 0, 1000, 7, &info, NULL);
    g_assert(info.data_validated && !info.csum_blank);
    g_assert_cmpuint(info.nr_slots, ==, 1);
    g_assert(xen_netfront_tx_wait(nf, 0, 10000));
    g_assert_cmpuint(nf->q[0].tx_okay, ==, 300);
    g_assert_cmpuint(nf->rx_protocol_errors + nf->tx_errors, ==, 0);
    g_assert_cmpuint(nf->q[0].rx_packets, ==, 301);
    rig_stop(&r);
}

/* Four queues, split channels: the keys and traffic on each queue. */
static void test_multi_queue(void)
{
    XenNetfrontConfig cfg = { .nr_queues = 4, .split_evtchn = true };
    Rig r;
    XenNetfront *nf;
    uint8_t pkt[1000];

    rig_start(&r, &cfg);
    nf = r.m.nf;
    rig_connect(&r);
    g_assert_cmpuint(r.m.nq, ==, 4);
    g_assert(r.m.split);
    {
        g_autofree char *top = fe_read(&r, "tx-ring-ref");
        g_autofree char *q3 = fe_read(&r, "queue-3/event-channel-rx");

        g_assert_null(top);
        g_assert_nonnull(q3);
    }
    for (unsigned int round = 0; round < 3; round++) {
        for (unsigned int q = 0; q < 4; q++) {
            unsigned int qo;

            fill(pkt, sizeof(pkt), q + round * 4);
            g_assert(xen_netfront_send_pkt(nf, q, pkt, sizeof(pkt), NULL));
            g_assert_cmpuint(sent_pkt(&r, q + round * 4)->queue, ==, q);
            inject(&r, q, &(MRx) { .len = 100 + q }, q);
            expect_rx(&r, -1, 100 + q, q, NULL, &qo);
            g_assert_cmpuint(qo, ==, q);
        }
    }
    for (unsigned int q = 0; q < 4; q++) {
        g_assert(xen_netfront_tx_wait(nf, q, 10000));
        g_assert_cmpuint(nf->q[q].tx_okay, ==, 3);
        g_assert_cmpuint(nf->q[q].rx_packets, ==, 3);
    }

    /* Back to one queue: the queue-N directories go. */
    rig_disconnect(&r);
    cfg.nr_queues = 1;
    cfg.split_evtchn = false;
    xen_netfront_set_config(nf, &cfg);
    rig_connect(&r);
    {
        g_autofree char *q0 = fe_read(&r, "queue-0/tx-ring-ref");
        g_autofree char *n = fe_read(&r, "multi-queue-num-queues");
        g_autofree char *split = fe_read(&r, "event-channel-tx");

        g_assert_null(q0);
        g_assert_null(n);
        g_assert_null(split);
    }
    g_assert_cmpuint(r.m.nq, ==, 1);
    fill(pkt, sizeof(pkt), 99);
    g_assert(xen_netfront_send_pkt(nf, 0, pkt, sizeof(pkt), NULL));
    g_assert(!memcmp(sent_pkt(&r, 12)->data, pkt, sizeof(pkt)));
    rig_stop(&r);
}

/* Slots, extras and flags of TX packets. */
static void test_tx_layout(void)
{
    XenNetfrontConfig cfg = { .sg = true };
    Rig r;
    XenNetfront *nf;
    g_autofree uint8_t *big = g_malloc(65535);
    XenNetPktInfo gso = {
        .gso_type = XEN_NETIF_GSO_TYPE_TCPV4, .gso_size = 1448,
        .csum_blank = true, .hash_valid = true, .hash = 0x12345678,
        .hash_type = _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP,
        .hash_alg = XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ,
    };
    static const uint16_t sizes[] = { 14, 1, 1, 1, 1, 100 };
    static const uint16_t offs[] = { 0, 4095, 7, 0, 3000, 12 };
    MPkt *p;
    XenNetTxCounts c;

    rig_start(&r, &cfg);
    nf = r.m.nf;
    rig_connect(&r);
    fill(big, 65535, 1);
    /* 9000 bytes: 3 page-sized slots. */
    g_assert(xen_netfront_send_pkt(nf, 0, big, 9000, NULL));
    p = sent_pkt(&r, 0);
    g_assert_cmpuint(p->len, ==, 9000);
    g_assert_cmpuint(p->slots, ==, 3);
    g_assert(p->flags & NETTXF_more_data);
    g_assert(!memcmp(p->data, big, 9000));
    /* 64 KiB - 1 with GSO and HASH extras. */
    g_assert(xen_netfront_send_pkt(nf, 0, big, 65535, &gso));
    p = sent_pkt(&r, 1);
    g_assert_cmpuint(p->len, ==, 65535);
    g_assert_cmpuint(p->slots, ==, 16);
    g_assert_cmpuint(p->extras, ==, 2);
    g_assert(p->has_gso && p->has_hash);
    g_assert_cmpuint(p->gso.u.gso.size, ==, 1448);
    g_assert_cmpuint(p->gso.u.gso.type, ==, XEN_NETIF_GSO_TYPE_TCPV4);
    g_assert_cmpuint(p->hash.u.hash.value[0], ==, 0x78);
    g_assert_cmpuint(p->hash.u.hash.value[3], ==, 0x12);
    g_assert_cmphex(p->flags, ==, NETTXF_csum_blank | NETTXF_more_data |
                    NETTXF_extra_info);
    g_assert(!memcmp(p->data, big, 65535));
    /* An explicit layout: headers in 1-byte slots at odd offsets. */
    g_assert(xen_netfront_send_layout(nf, 0, big, 118, NULL, sizes, offs,
                                      G_N_ELEMENTS(sizes)));
    p = sent_pkt(&r, 2);
    g_assert_cmpuint(p->slots, ==, 6);
    g_assert(!memcmp(p->data, big, 118));
    g_assert(xen_netfront_tx_wait(nf, 0, 10000));
    c = xen_netfront_tx_counts(nf, 0);
    g_assert_cmpuint(c.okay, ==, 3 + 16 + 6);
    g_assert_cmpuint(c.null, ==, 2);
    g_assert_cmpuint(c.error + c.dropped + c.bad, ==, 0);
    /* Too big, or more slots than the ring. */
    g_assert(!xen_netfront_send_pkt(nf, 0, big, 65536, NULL));
    rig_disconnect(&r);

    /* Tiny slots. */
    cfg.max_slot_size = 7;
    xen_netfront_set_config(nf, &cfg);
    rig_connect(&r);
    g_assert(xen_netfront_send_pkt(nf, 0, big, 100, NULL));
    p = sent_pkt(&r, 3);
    g_assert_cmpuint(p->slots, ==, 15);
    g_assert(!memcmp(p->data, big, 100));
    g_assert(!xen_netfront_send_pkt(nf, 0, big, 2000, NULL));
    rig_stop(&r);
}

/* RX: several slots, extras, flags, and the checks. */
static void test_rx(void)
{
    XenNetfrontConfig cfg = { .sg = true, .gso_tcpv4 = true, .rx_post = 64 };
    Rig r;
    XenNetfront *nf;
    XenNetPktInfo info;
    uint8_t small[100];

    rig_start(&r, &cfg);
    nf = r.m.nf;
    rig_connect(&r);
    g_assert_cmpuint(nf->q[0].rx_posted, ==, 64);
    inject(&r, 0, &(MRx) {
        .len = 60000, .gso_type = XEN_NETIF_GSO_TYPE_TCPV4,
        .gso_size = 1448, .hash = true, .hash_value = 0xcafef00d,
        .flags = NETRXF_csum_blank | NETRXF_data_validated,
    }, 1);
    expect_rx(&r, 0, 60000, 1, &info, NULL);
    g_assert_cmpuint(info.gso_type, ==, XEN_NETIF_GSO_TYPE_TCPV4);
    g_assert_cmpuint(info.gso_size, ==, 1448);
    g_assert(info.hash_valid);
    g_assert_cmphex(info.hash, ==, 0xcafef00d);
    g_assert_cmpuint(info.hash_type, ==, _XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP);
    g_assert(info.csum_blank && info.data_validated);
    g_assert_cmpuint(info.nr_slots, ==, 15 + 2);
    g_assert_cmpuint(info.nr_extras, ==, 2);
    inject(&r, 0, &(MRx) { .len = 9000 }, 2);
    expect_rx(&r, 0, 9000, 2, &info, NULL);
    g_assert_cmpuint(info.nr_slots, ==, 3);
    g_assert(!info.hash_valid && !info.gso_type && !info.csum_blank);
    g_assert_cmpuint(nf->rx_protocol_errors, ==, 0);

    /* Broken responses are counted and dropped; the next one comes. */
    {
        static const Corrupt bad[] = { BAD_ID, BAD_OFFSET, BAD_EXTRA };

        for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
            uint64_t before = nf->rx_protocol_errors;

            inject(&r, 0, &(MRx) { .len = 500, .corrupt = bad[i] }, 3);
            inject(&r, 0, &(MRx) { .len = 501 }, 4);
            expect_rx(&r, 0, 501, 4, NULL, NULL);
            g_assert_cmpuint(nf->rx_protocol_errors, >, before);
            g_test_message("%s", nf->last_error);
        }
    }
    inject(&r, 0, &(MRx) { .len = 500, .corrupt = ERROR_STATUS }, 5);
    inject(&r, 0, &(MRx) { .len = 502 }, 6);
    expect_rx(&r, 0, 502, 6, NULL, NULL);
    g_assert_cmpuint(nf->q[0].rx_rsp_errors, ==, 1);
    /* Too big for the caller: -EMSGSIZE, then the next. */
    inject(&r, 0, &(MRx) { .len = 1000 }, 7);
    g_assert_cmpint(xen_netfront_recv_pkt(nf, 0, small, sizeof(small), NULL,
                                          NULL, 10000), ==, -EMSGSIZE);
    g_assert_cmpuint(nf->q[0].rx_truncated, ==, 1);
    /* Every buffer came back and is posted again. */
    g_assert_cmpuint(nf->q[0].rx_posted, ==, 64);
    rig_disconnect(&r);

    /* Without SG: a packet in several slots is a violation. */
    cfg.sg = false;
    cfg.gso_tcpv4 = false;
    xen_netfront_set_config(nf, &cfg);
    rig_connect(&r);
    inject(&r, 0, &(MRx) { .len = 300, .corrupt = FORCE_SLOTS }, 8);
    inject(&r, 0, &(MRx) { .len = 301 }, 9);
    expect_rx(&r, 0, 301, 9, NULL, NULL);
    g_assert_cmpuint(nf->q[0].rx_protocol_errors, ==, 1);
    g_assert(strstr(nf->last_error, "feature-sg"));
    rig_stop(&r);
}

/* Posting stops and resumes. */
static void test_rx_posting(void)
{
    XenNetfrontConfig cfg = { .rx_post = 16 };
    Rig r;
    XenNetfront *nf;
    uint8_t buf[2000];

    rig_start(&r, &cfg);
    nf = r.m.nf;
    xen_netfront_set_rx_posting(nf, false);
    rig_connect(&r);
    g_assert_cmpuint(nf->q[0].rx.sring->req_prod, ==, 0);
    inject(&r, 0, &(MRx) { .len = 100 }, 1);
    g_assert_cmpint(xen_netfront_recv_pkt(nf, 0, buf, sizeof(buf), NULL,
                                          NULL, 300), ==, -1);
    xen_netfront_set_rx_posting(nf, true);
    g_assert_cmpuint(nf->q[0].rx.sring->req_prod, ==, 16);
    expect_rx(&r, 0, 100, 1, NULL, NULL);
    /* Stopped again: what is posted is used, then nothing. */
    xen_netfront_set_rx_posting(nf, false);
    for (unsigned int i = 0; i < 16; i++) {
        inject(&r, 0, &(MRx) { .len = 200 + i }, i);
        expect_rx(&r, 0, 200 + i, i, NULL, NULL);
    }
    inject(&r, 0, &(MRx) { .len = 100 }, 1);
    g_assert_cmpint(xen_netfront_recv_pkt(nf, 0, buf, sizeof(buf), NULL,
                                          NULL, 300), ==, -1);
    /* A raw post with a test's own grant. */
    {
        uint64_t gfn = xen_fe_alloc_page(r.fe);
        grant_ref_t ref = xen_fe_grant(r.fe, gfn, false);

        g_assert(xen_netfront_rx_post_gref(nf, 0, 77, ref, gfn));
        expect_rx(&r, 0, 100, 1, NULL, NULL);
        g_assert(xen_fe_end_grant(r.fe, ref));
        xen_fe_free_page(r.fe, gfn);
    }
    xen_netfront_set_rx_posting(nf, true);
    rig_stop(&r);
}

/* Multicast add / del and the control ring. */
static void test_mcast_ctrl(void)
{
    XenNetfrontConfig cfg = { .multicast_control = true, .ctrl_ring = true };
    Rig r;
    XenNetfront *nf;
    uint8_t key[40], long_key[41] = { 0 };
    uint32_t mapping[128], size = 0;

    rig_start(&r, &cfg);
    nf = r.m.nf;
    rig_connect(&r);
    {
        g_autofree char *v = fe_read(&r, "request-multicast-control");

        g_assert_cmpstr(v, ==, "1");
    }
    for (unsigned int i = 0; i < MAX_MCAST; i++) {
        uint8_t mac[6] = { 1, 0, 0x5e, 0, 0, i };

        g_assert_cmpint(xen_netfront_mcast_add(nf, mac), ==, NETIF_RSP_OKAY);
    }
    g_assert_cmpint(xen_netfront_mcast_add(nf, (uint8_t[6]) { 1, 0, 0x5e }),
                    ==, NETIF_RSP_ERROR);
    g_assert_cmpint(xen_netfront_mcast_del(nf, (uint8_t[6]) { 1, 0, 0x5e }),
                    ==, NETIF_RSP_OKAY);
    g_assert_cmpuint(r.m.nr_mcast, ==, MAX_MCAST - 1);
    g_assert_cmpuint(nf->q[0].tx_null, ==, MAX_MCAST + 2);
    g_assert(xen_netfront_set_multicast_control(nf, false));
    {
        g_autofree char *v = fe_read(&r, "request-multicast-control");

        g_assert_cmpstr(v, ==, "0");
    }

    for (unsigned int i = 0; i < sizeof(key); i++) {
        key[i] = i * 11 + 1;
    }
    for (unsigned int i = 0; i < 128; i++) {
        mapping[i] = (i * 5) % 3;
    }
    g_assert_cmpint(xen_netfront_ctrl(nf,
                    XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0, 0, 0,
                    &size), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(size, ==, 128);
    g_assert_cmpint(xen_netfront_set_toeplitz(nf, key, sizeof(key),
                    XEN_NETIF_CTRL_HASH_TYPE_IPV4 |
                    XEN_NETIF_CTRL_HASH_TYPE_IPV4_TCP, mapping, 128), ==,
                    XEN_NETIF_CTRL_STATUS_SUCCESS);
    g_assert_cmpuint(r.m.hash_alg, ==, XEN_NETIF_CTRL_HASH_ALGORITHM_TOEPLITZ);
    g_assert_cmpuint(r.m.hash_flags, ==, 3);
    g_assert_cmpuint(r.m.keylen, ==, 40);
    g_assert(!memcmp(r.m.key, key, 40));
    g_assert_cmpuint(r.m.mapping_size, ==, 128);
    g_assert(!memcmp(r.m.mapping, mapping, sizeof(mapping)));
    g_assert_cmpint(xen_netfront_set_toeplitz(nf, long_key, sizeof(long_key),
                                              1, NULL, 0), ==,
                    XEN_NETIF_CTRL_STATUS_BUFFER_OVERFLOW);
    g_assert_cmpint(xen_netfront_ctrl(nf, 99, 0, 0, 0, NULL), ==,
                    XEN_NETIF_CTRL_STATUS_NOT_SUPPORTED);
    g_assert_cmpuint(nf->ctrl_bad_responses, ==, 0);
    /* Reconnect: the control ring comes back. */
    rig_disconnect(&r);
    rig_connect(&r);
    g_assert_cmpint(xen_netfront_ctrl(nf,
                    XEN_NETIF_CTRL_TYPE_GET_HASH_MAPPING_SIZE, 0, 0, 0,
                    &size), ==, XEN_NETIF_CTRL_STATUS_SUCCESS);
    rig_stop(&r);
}

/* A refused connection reports the backend's error node. */
static void test_refused(void)
{
    XenNetfrontConfig cfg = { .no_rx_copy = true };
    Rig r;
    XenNetfront *nf;
    g_autofree char *err = NULL;

    rig_start(&r, &cfg);
    nf = r.m.nf;
    g_assert(!xen_netfront_connect(nf, &err));
    g_test_message("%s", err);
    g_assert(strstr(err, "model: request-rx-copy is required"));
    rig_disconnect(&r);
    xen_netfront_set_config(nf, NULL);
    rig_connect(&r);
    {
        g_autofree char *v = fe_read(&r, "request-rx-copy");

        g_assert_cmpstr(v, ==, "1");
    }
    rig_stop(&r);
}

/* Raw TX requests written by the test, with claimed ids. */
static void test_raw_tx(void)
{
    Rig r;
    XenNetfront *nf;
    int id0, id1;
    uint8_t *pg;
    netif_tx_request_t req;
    uint32_t n;
    MPkt *p;

    rig_start(&r, &(XenNetfrontConfig) { .sg = true });
    nf = r.m.nf;
    rig_connect(&r);
    id0 = xen_netfront_tx_claim(nf, 0);
    id1 = xen_netfront_tx_claim(nf, 0);
    g_assert_cmpint(id0, >=, 0);
    g_assert_cmpint(id1, >=, 0);
    pg = xen_netfront_tx_slot_page(nf, 0, id0);
    memset(pg, 0xaa, 60);
    pg = xen_netfront_tx_slot_page(nf, 0, id1);
    memset(pg + 100, 0xbb, 40);
    req = (netif_tx_request_t) {
        .gref = xen_netfront_tx_slot_gref(nf, 0, id0), .offset = 0,
        .flags = NETTXF_more_data, .id = id0, .size = 100,
    };
    g_assert(xen_netfront_tx_raw_put(nf, 0, &req, sizeof(req)));
    req = (netif_tx_request_t) {
        .gref = xen_netfront_tx_slot_gref(nf, 0, id1), .offset = 100,
        .flags = 0, .id = id1, .size = 40,
    };
    g_assert(xen_netfront_tx_raw_put(nf, 0, &req, sizeof(req)));
    xen_netfront_tx_raw_push(nf, 0, true);
    g_assert(xen_netfront_tx_wait(nf, 0, 10000));
    g_assert_cmpint(xen_netfront_tx_id_status(nf, 0, id0, &n), ==,
                    NETIF_RSP_OKAY);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpint(xen_netfront_tx_id_status(nf, 0, id1, &n), ==,
                    NETIF_RSP_OKAY);
    p = sent_pkt(&r, 0);
    g_assert_cmpuint(p->len, ==, 100);
    g_assert_cmpuint(p->data[59], ==, 0xaa);
    g_assert_cmpuint(p->data[60], ==, 0xbb);
    g_assert_cmpuint(nf->q[0].tx_bad_responses, ==, 0);
    rig_stop(&r);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("xen-netfront/defaults", test_defaults);
    qtest_add_func("xen-netfront/multi-queue", test_multi_queue);
    qtest_add_func("xen-netfront/tx-layout", test_tx_layout);
    qtest_add_func("xen-netfront/rx", test_rx);
    qtest_add_func("xen-netfront/rx-posting", test_rx_posting);
    qtest_add_func("xen-netfront/mcast-ctrl", test_mcast_ctrl);
    qtest_add_func("xen-netfront/refused", test_refused);
    qtest_add_func("xen-netfront/raw-tx", test_raw_tx);
    return g_test_run();
}
