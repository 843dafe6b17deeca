/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a Xen 9pfs frontend and a minimal 9P2000.L client (see
 * xen-9pfront.h).
 */

#include "qemu/osdep.h"
#include "qemu/atomic.h"
#include "qemu/bswap.h"
#include "xen-9pfront.h"
#include "hw/xen/interface/io/xenbus.h"

/* 9P2000.L message types */
enum {
    P9_RLERROR = 7,
    P9_TLOPEN = 12, P9_RLOPEN,
    P9_TLCREATE = 14, P9_RLCREATE,
    P9_TGETATTR = 24, P9_RGETATTR,
    P9_TREADDIR = 40, P9_RREADDIR,
    P9_TVERSION = 100, P9_RVERSION,
    P9_TATTACH = 104, P9_RATTACH,
    P9_TWALK = 110, P9_RWALK,
    P9_TREAD = 116, P9_RREAD,
    P9_TWRITE = 118, P9_RWRITE,
    P9_TCLUNK = 120, P9_RCLUNK,
};

Xen9pFront *xen_9pfront_new(XenFe *fe, unsigned int devid,
                            unsigned int nr_rings, unsigned int order,
                            char **err)
{
    Xen9pFront *f;
    unsigned int i, j;

    g_assert(nr_rings >= 1 && nr_rings <= XEN_9PFRONT_MAX_RINGS);
    g_assert(order <= XEN_9PFRONT_MAX_ORDER);
    f = g_new0(Xen9pFront, 1);
    f->fe = fe;
    if (!xen_fe_device_paths(fe, "9pfs", devid, &f->fe_path, &f->be_path)) {
        *err = g_strdup_printf("no backend for 9pfs/%u", devid);
        g_free(f);
        return NULL;
    }
    f->nr_rings = nr_rings;
    f->order = order;
    f->next_tag = 1;
    for (i = 0; i < nr_rings; i++) {
        Xen9pFrontRing *r = &f->ring[i];
        uint8_t *data;

        r->intf_gfn = xen_fe_alloc_page(fe);
        r->intf = xen_fe_page(fe, r->intf_gfn);
        r->intf_ref = xen_fe_grant(fe, r->intf_gfn, false);
        r->data_gfn = xen_fe_alloc_pages(fe, 1u << order);
        data = xen_fe_page(fe, r->data_gfn);
        for (j = 0; j < (1u << order); j++) {
            r->refs[j] = xen_fe_grant(fe, r->data_gfn + j, false);
            r->intf->ref[j] = r->refs[j];
        }
        r->intf->ring_order = order;
        r->half = XEN_FLEX_RING_SIZE(order);
        r->in = data;
        r->out = data + r->half;
        if (!xen_fe_evtchn_alloc(fe, &r->evt)) {
            *err = g_strdup("cannot allocate an event channel");
            xen_9pfront_free(f);
            return NULL;
        }
    }
    return f;
}

void xen_9pfront_free(Xen9pFront *f)
{
    unsigned int i, j;

    if (!f) {
        return;
    }
    for (i = 0; i < f->nr_rings; i++) {
        Xen9pFrontRing *r = &f->ring[i];

        if (r->evt.to_guest > 0) {
            xen_fe_evtchn_close(f->fe, &r->evt);
        }
        /* Grants the backend still maps stay: the test ends anyway */
        xen_fe_end_grant(f->fe, r->intf_ref);
        for (j = 0; j < (1u << f->order); j++) {
            xen_fe_end_grant(f->fe, r->refs[j]);
        }
    }
    g_free(f->fe_path);
    g_free(f->be_path);
    g_free(f);
}

bool xen_9pfront_write_keys(Xen9pFront *f)
{
    g_autofree char *n = g_strdup_printf("%s/version", f->fe_path);
    unsigned int i;

    if (!xen_fe_xs_printf(f->fe, n, "1")) {
        return false;
    }
    g_free(n);
    n = g_strdup_printf("%s/num-rings", f->fe_path);
    if (!xen_fe_xs_printf(f->fe, n, "%u", f->nr_rings)) {
        return false;
    }
    for (i = 0; i < f->nr_rings; i++) {
        g_autofree char *ref = g_strdup_printf("%s/ring-ref%u", f->fe_path,
                                               i);
        g_autofree char *port = g_strdup_printf("%s/event-channel-%u",
                                                f->fe_path, i);

        if (!xen_fe_xs_printf(f->fe, ref, "%u", f->ring[i].intf_ref) ||
            !xen_fe_xs_printf(f->fe, port, "%u", f->ring[i].evt.port)) {
            return false;
        }
    }
    return true;
}

bool xen_9pfront_set_state(Xen9pFront *f, int state)
{
    return xen_fe_set_state(f->fe, f->fe_path, state);
}

bool xen_9pfront_wait_backend(Xen9pFront *f, int state)
{
    return xen_fe_wait_backend_state(f->fe, f->be_path, state);
}

bool xen_9pfront_connect(Xen9pFront *f, char **err)
{
    if (!xen_9pfront_write_keys(f) ||
        !xen_9pfront_set_state(f, XenbusStateInitialised)) {
        *err = g_strdup("cannot write the frontend's keys");
        return false;
    }
    if (!xen_9pfront_wait_backend(f, XenbusStateConnected)) {
        *err = g_strdup("backend never reached Connected");
        return false;
    }
    xen_9pfront_set_state(f, XenbusStateConnected);
    return true;
}

bool xen_9pfront_close(Xen9pFront *f, char **err)
{
    return xen_fe_close_device(f->fe, f->fe_path, f->be_path, err);
}

/* Copy into a ring half at index @idx, wrapping at its end. */
static void ring_put(uint8_t *half_base, uint32_t half, RING_IDX idx,
                     const uint8_t *src, uint32_t len)
{
    uint32_t off = idx & (half - 1);
    uint32_t first = MIN(len, half - off);

    memcpy(half_base + off, src, first);
    memcpy(half_base, src + first, len - first);
}

static void ring_get(const uint8_t *half_base, uint32_t half, RING_IDX idx,
                     uint8_t *dst, uint32_t len)
{
    uint32_t off = idx & (half - 1);
    uint32_t first = MIN(len, half - off);

    memcpy(dst, half_base + off, first);
    memcpy(dst + first, half_base, len - first);
}

bool xen_9pfront_send(Xen9pFront *f, unsigned int ri, const void *buf,
                      uint32_t len)
{
    Xen9pFrontRing *r = &f->ring[ri];
    gint64 end = g_get_monotonic_time() +
                 XEN_9PFRONT_TIMEOUT_MS * (gint64)1000;
    RING_IDX prod = qatomic_read(&r->intf->out_prod);

    if (len > r->half) {
        return false;
    }
    /* Wait for space, as trans_xen does */
    while (prod - qatomic_read(&r->intf->out_cons) + len > r->half) {
        if (g_get_monotonic_time() > end) {
            return false;
        }
        xen_fe_evtchn_wait(&r->evt, 50);
    }
    /* The backend has copied the old bytes out before we overwrite them */
    smp_mb();
    ring_put(r->out, r->half, prod, buf, len);
    /* The message is there before out_prod says so */
    smp_wmb();
    qatomic_set(&r->intf->out_prod, prod + len);
    xen_fe_evtchn_notify(&r->evt);
    return true;
}

int xen_9pfront_recv(Xen9pFront *f, unsigned int ri, uint8_t **msg,
                     int timeout_ms)
{
    Xen9pFrontRing *r = &f->ring[ri];
    gint64 end = g_get_monotonic_time() + timeout_ms * (gint64)1000;
    RING_IDX cons = qatomic_read(&r->intf->in_cons);
    uint8_t hdr[XEN_9PFRONT_HDR];
    uint32_t size = 0;

    for (;;) {
        RING_IDX prod = qatomic_read(&r->intf->in_prod);
        uint32_t queued = prod - cons;

        /* Paired with the backend's write barrier before in_prod */
        smp_rmb();
        if (queued > r->half) {
            return -EPROTO;
        }
        if (queued >= XEN_9PFRONT_HDR) {
            ring_get(r->in, r->half, cons, hdr, sizeof(hdr));
            size = ldl_le_p(hdr);
            if (size < XEN_9PFRONT_HDR || size > r->half) {
                return -EPROTO;
            }
            if (queued >= size) {
                break;
            }
        }
        if (timeout_ms <= 0 || g_get_monotonic_time() > end) {
            return -ETIMEDOUT;
        }
        xen_fe_evtchn_wait(&r->evt, 20);
    }
    *msg = g_malloc(size);
    ring_get(r->in, r->half, cons, *msg, size);
    /* The reply is read before the backend may reuse its space */
    smp_mb();
    qatomic_set(&r->intf->in_cons, cons + size);
    xen_fe_evtchn_notify(&r->evt);
    return size;
}

/* ---- 9P messages ---- */

P9Req p9_req_new(uint8_t type, uint16_t tag)
{
    P9Req m = { g_byte_array_new() };

    p9_put_u32(&m, 0);
    p9_put_u8(&m, type);
    p9_put_u16(&m, tag);
    return m;
}

void p9_put_u8(P9Req *m, uint8_t v)
{
    g_byte_array_append(m->b, &v, 1);
}

void p9_put_u16(P9Req *m, uint16_t v)
{
    uint8_t b[2];

    stw_le_p(b, v);
    g_byte_array_append(m->b, b, 2);
}

void p9_put_u32(P9Req *m, uint32_t v)
{
    uint8_t b[4];

    stl_le_p(b, v);
    g_byte_array_append(m->b, b, 4);
}

void p9_put_u64(P9Req *m, uint64_t v)
{
    uint8_t b[8];

    stq_le_p(b, v);
    g_byte_array_append(m->b, b, 8);
}

void p9_put_str(P9Req *m, const char *s)
{
    p9_put_u16(m, strlen(s));
    g_byte_array_append(m->b, (const uint8_t *)s, strlen(s));
}

void p9_put_bytes(P9Req *m, const void *p, uint32_t len)
{
    g_byte_array_append(m->b, p, len);
}

uint8_t *p9_req_finish(P9Req *m, uint32_t *len)
{
    *len = m->b->len;
    stl_le_p(m->b->data, m->b->len);
    return g_byte_array_free(m->b, false);
}

/* A reply being read */
typedef struct P9Rep {
    const uint8_t *p;
    uint32_t len, off;
    bool bad;
} P9Rep;

static const uint8_t *rep_take(P9Rep *r, uint32_t n)
{
    const uint8_t *p;

    if (r->bad || n > r->len - r->off) {
        r->bad = true;
        return NULL;
    }
    p = r->p + r->off;
    r->off += n;
    return p;
}

static uint32_t rep_u32(P9Rep *r)
{
    const uint8_t *p = rep_take(r, 4);

    return p ? ldl_le_p(p) : 0;
}

static uint16_t rep_u16(P9Rep *r)
{
    const uint8_t *p = rep_take(r, 2);

    return p ? lduw_le_p(p) : 0;
}

static uint64_t rep_u64(P9Rep *r)
{
    const uint8_t *p = rep_take(r, 8);

    return p ? ldq_le_p(p) : 0;
}

static void rep_qid(P9Rep *r, P9Qid *q)
{
    const uint8_t *p = rep_take(r, 13);

    if (p && q) {
        q->type = p[0];
        q->version = ldl_le_p(p + 1);
        q->path = ldq_le_p(p + 5);
    }
}

int p9_rpc(Xen9pFront *f, unsigned int r, const uint8_t *req, uint32_t len,
           uint8_t **reply, uint32_t *reply_len)
{
    int n;

    if (!xen_9pfront_send(f, r, req, len)) {
        return -EPROTO;
    }
    n = xen_9pfront_recv(f, r, reply, XEN_9PFRONT_TIMEOUT_MS);
    if (n < 0) {
        return -EPROTO;
    }
    /* The tag of a reply is the request's */
    if (lduw_le_p(*reply + 5) != lduw_le_p(req + 5)) {
        g_free(*reply);
        *reply = NULL;
        return -EPROTO;
    }
    *reply_len = n;
    return (*reply)[4];
}

/*
 * Send @m on ring @r; expect reply type @want: 0 and the body in *@rep,
 * -errno of an Rlerror, or -EPROTO.
 */
static int p9_call(Xen9pFront *f, unsigned int r, P9Req *m, uint8_t want,
                   uint8_t **buf, P9Rep *rep)
{
    g_autofree uint8_t *req = NULL;
    uint32_t len, rlen;
    int type;

    req = p9_req_finish(m, &len);
    type = p9_rpc(f, r, req, len, buf, &rlen);
    if (type < 0) {
        return type;
    }
    *rep = (P9Rep) { *buf, rlen, XEN_9PFRONT_HDR, false };
    if (type == P9_RLERROR) {
        uint32_t e = rep_u32(rep);

        return rep->bad || !e ? -EPROTO : -(int)e;
    }
    return type == want ? 0 : -EPROTO;
}

static uint16_t p9_tag(Xen9pFront *f)
{
    uint16_t tag = f->next_tag++;

    if (f->next_tag == P9_NOTAG) {
        f->next_tag = 1;
    }
    return tag;
}

int p9_version(Xen9pFront *f, unsigned int r, uint32_t msize,
               uint32_t *got_msize)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TVERSION, P9_NOTAG);
    P9Rep rep;
    int ret;

    p9_put_u32(&m, msize);
    p9_put_str(&m, "9P2000.L");
    ret = p9_call(f, r, &m, P9_RVERSION, &buf, &rep);
    if (ret) {
        return ret;
    }
    f->msize = rep_u32(&rep);
    if (got_msize) {
        *got_msize = f->msize;
    }
    return rep.bad ? -EPROTO : 0;
}

int p9_attach(Xen9pFront *f, unsigned int r, uint32_t fid, P9Qid *qid)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TATTACH, p9_tag(f));
    P9Rep rep;
    int ret;

    p9_put_u32(&m, fid);
    p9_put_u32(&m, P9_NOFID);
    p9_put_str(&m, "root");
    p9_put_str(&m, "");
    p9_put_u32(&m, 0);
    ret = p9_call(f, r, &m, P9_RATTACH, &buf, &rep);
    if (ret) {
        return ret;
    }
    rep_qid(&rep, qid);
    return rep.bad ? -EPROTO : 0;
}

int p9_walk(Xen9pFront *f, unsigned int r, uint32_t fid, uint32_t newfid,
            const char *name)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TWALK, p9_tag(f));
    P9Rep rep;
    int ret;

    p9_put_u32(&m, fid);
    p9_put_u32(&m, newfid);
    p9_put_u16(&m, name ? 1 : 0);
    if (name) {
        p9_put_str(&m, name);
    }
    ret = p9_call(f, r, &m, P9_RWALK, &buf, &rep);
    if (ret) {
        return ret;
    }
    if (rep_u16(&rep) != (name ? 1 : 0)) {
        return -ENOENT;
    }
    return rep.bad ? -EPROTO : 0;
}

int p9_lopen(Xen9pFront *f, unsigned int r, uint32_t fid, uint32_t flags)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TLOPEN, p9_tag(f));
    P9Rep rep;

    p9_put_u32(&m, fid);
    p9_put_u32(&m, flags);
    return p9_call(f, r, &m, P9_RLOPEN, &buf, &rep);
}

int p9_lcreate(Xen9pFront *f, unsigned int r, uint32_t fid, const char *name,
               uint32_t flags, uint32_t mode)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TLCREATE, p9_tag(f));
    P9Rep rep;

    p9_put_u32(&m, fid);
    p9_put_str(&m, name);
    p9_put_u32(&m, flags);
    p9_put_u32(&m, mode);
    p9_put_u32(&m, getgid());
    return p9_call(f, r, &m, P9_RLCREATE, &buf, &rep);
}

int p9_read(Xen9pFront *f, unsigned int r, uint32_t fid, uint64_t off,
            void *data, uint32_t count)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TREAD, p9_tag(f));
    const uint8_t *p;
    P9Rep rep;
    uint32_t n;
    int ret;

    p9_put_u32(&m, fid);
    p9_put_u64(&m, off);
    p9_put_u32(&m, count);
    ret = p9_call(f, r, &m, P9_RREAD, &buf, &rep);
    if (ret) {
        return ret;
    }
    n = rep_u32(&rep);
    if (n > count) {
        return -EPROTO;
    }
    p = rep_take(&rep, n);
    if (!p) {
        return -EPROTO;
    }
    memcpy(data, p, n);
    return n;
}

int p9_write(Xen9pFront *f, unsigned int r, uint32_t fid, uint64_t off,
             const void *data, uint32_t count)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TWRITE, p9_tag(f));
    P9Rep rep;
    uint32_t n;
    int ret;

    p9_put_u32(&m, fid);
    p9_put_u64(&m, off);
    p9_put_u32(&m, count);
    p9_put_bytes(&m, data, count);
    ret = p9_call(f, r, &m, P9_RWRITE, &buf, &rep);
    if (ret) {
        return ret;
    }
    n = rep_u32(&rep);
    return rep.bad || n > count ? -EPROTO : (int)n;
}

int p9_readdir(Xen9pFront *f, unsigned int r, uint32_t fid, char ***names)
{
    GPtrArray *list = g_ptr_array_new();
    uint64_t off = 0;

    for (;;) {
        g_autofree uint8_t *buf = NULL;
        P9Req m = p9_req_new(P9_TREADDIR, p9_tag(f));
        P9Rep rep, ents;
        uint32_t n;
        int ret;

        p9_put_u32(&m, fid);
        p9_put_u64(&m, off);
        p9_put_u32(&m, 4096);
        ret = p9_call(f, r, &m, P9_RREADDIR, &buf, &rep);
        if (ret) {
            g_ptr_array_free(list, true);
            return ret;
        }
        n = rep_u32(&rep);
        if (!n) {
            break;
        }
        ents = (P9Rep) { rep_take(&rep, n), n, 0, rep.bad };
        if (ents.bad) {
            g_ptr_array_free(list, true);
            return -EPROTO;
        }
        while (ents.off < ents.len && !ents.bad) {
            const uint8_t *s;
            uint16_t slen;

            rep_qid(&ents, NULL);
            off = rep_u64(&ents);
            rep_take(&ents, 1);
            slen = rep_u16(&ents);
            s = rep_take(&ents, slen);
            if (s) {
                g_ptr_array_add(list, g_strndup((const char *)s, slen));
            }
        }
        if (ents.bad) {
            g_ptr_array_free(list, true);
            return -EPROTO;
        }
    }
    g_ptr_array_add(list, NULL);
    *names = (char **)g_ptr_array_free(list, false);
    return 0;
}

int p9_getattr_size(Xen9pFront *f, unsigned int r, uint32_t fid,
                    uint64_t *size)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TGETATTR, p9_tag(f));
    P9Rep rep;
    int ret;

    p9_put_u32(&m, fid);
    p9_put_u64(&m, 0x3fff);     /* P9_GETATTR_BASIC */
    ret = p9_call(f, r, &m, P9_RGETATTR, &buf, &rep);
    if (ret) {
        return ret;
    }
    /* valid[8] qid[13] mode[4] uid[4] gid[4] nlink[8] rdev[8] size[8] */
    rep_take(&rep, 8 + 13 + 4 + 4 + 4 + 8 + 8);
    *size = rep_u64(&rep);
    return rep.bad ? -EPROTO : 0;
}

int p9_clunk(Xen9pFront *f, unsigned int r, uint32_t fid)
{
    g_autofree uint8_t *buf = NULL;
    P9Req m = p9_req_new(P9_TCLUNK, p9_tag(f));
    P9Rep rep;

    p9_put_u32(&m, fid);
    return p9_call(f, r, &m, P9_RCLUNK, &buf, &rep);
}
