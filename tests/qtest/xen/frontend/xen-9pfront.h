/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: a Xen 9pfs frontend (the transport of Xen's
 * io/9pfs.h, as Linux's net/9p/trans_xen.c drives it) and a minimal
 * 9P2000.L client on top of it.
 *
 * Each ring is an intf page (indices, ring_order, the data pages' grant
 * references) and 2^order contiguous data pages: the first half "in"
 * (backend to frontend), the second half "out" (frontend to backend).
 * Messages are written whole to "out" (wrapping at the end of the half)
 * and replies read whole from "in".
 *
 * Raw access for hostile tests: the intf page and the halves are public;
 * xen_9pfront_send() writes any bytes, xen_9pfront_write_keys() the keys,
 * which a test may overwrite before xen_9pfront_set_state().
 */

#ifndef TESTS_XEN_9PFRONT_H
#define TESTS_XEN_9PFRONT_H

#include "xen-fe.h"
#include "hw/xen/interface/io/ring.h"

#define XEN_9PFRONT_MAX_RINGS 8
#define XEN_9PFRONT_MAX_ORDER 9
#define XEN_9PFRONT_HDR 7
#define XEN_9PFRONT_TIMEOUT_MS 10000

/* The intf page as io/9pfs.h lays it out */
typedef struct Xen9pFrontIntf {
    RING_IDX in_cons, in_prod;
    uint8_t pad1[56];
    RING_IDX out_cons, out_prod;
    uint8_t pad2[56];
    RING_IDX ring_order;
    grant_ref_t ref[];
} Xen9pFrontIntf;

typedef struct Xen9pFrontRing {
    uint64_t intf_gfn, data_gfn;
    grant_ref_t intf_ref;
    grant_ref_t refs[1u << XEN_9PFRONT_MAX_ORDER];
    Xen9pFrontIntf *intf;
    uint8_t *in, *out;          /* the halves */
    uint32_t half;
    XenFeEvtchn evt;
} Xen9pFrontRing;

typedef struct Xen9pFront {
    XenFe *fe;
    char *fe_path, *be_path;
    unsigned int nr_rings, order;
    Xen9pFrontRing ring[XEN_9PFRONT_MAX_RINGS];
    uint32_t msize;
    uint16_t next_tag;
} Xen9pFront;

/*
 * Device @devid of the guest, @nr_rings rings of 2^@order data pages each
 * (allocated, granted, ring_order written); nothing written to XenStore.
 */
Xen9pFront *xen_9pfront_new(XenFe *fe, unsigned int devid,
                            unsigned int nr_rings, unsigned int order,
                            char **err);
void xen_9pfront_free(Xen9pFront *f);

/* version, num-rings, ring-ref<N>, event-channel-<N> */
bool xen_9pfront_write_keys(Xen9pFront *f);
bool xen_9pfront_set_state(Xen9pFront *f, int state);
bool xen_9pfront_wait_backend(Xen9pFront *f, int state);
/* Keys, Initialised, backend Connected, Connected; false with *@err. */
bool xen_9pfront_connect(Xen9pFront *f, char **err);
/* Closing, Closed (waiting for the backend's each time) */
bool xen_9pfront_close(Xen9pFront *f, char **err);

/* Write @len bytes to ring @r's out half and publish them (no check). */
bool xen_9pfront_send(Xen9pFront *f, unsigned int r, const void *buf,
                      uint32_t len);
/*
 * The next whole reply on ring @r into a g_malloc'd *@msg; its length, or
 * -ETIMEDOUT when none is there within @timeout_ms (at once if it is 0 or
 * less: a poll), -EPROTO when the ring is broken.
 */
int xen_9pfront_recv(Xen9pFront *f, unsigned int r, uint8_t **msg,
                     int timeout_ms);

/* ---- 9P2000.L ---- */

#define P9_NOTAG 0xffff
#define P9_NOFID 0xffffffffu

typedef struct P9Qid {
    uint8_t type;
    uint32_t version;
    uint64_t path;
} P9Qid;

/* A request being built */
typedef struct P9Req {
    GByteArray *b;
} P9Req;

P9Req p9_req_new(uint8_t type, uint16_t tag);
void p9_put_u8(P9Req *m, uint8_t v);
void p9_put_u16(P9Req *m, uint16_t v);
void p9_put_u32(P9Req *m, uint32_t v);
void p9_put_u64(P9Req *m, uint64_t v);
void p9_put_str(P9Req *m, const char *s);
void p9_put_bytes(P9Req *m, const void *p, uint32_t len);
/* Sets the size field; the message (g_free it) and its length in *@len. */
uint8_t *p9_req_finish(P9Req *m, uint32_t *len);

/*
 * The operations, on ring @r: 0, -errno of an Rlerror, or -EPROTO for a
 * malformed or unexpected reply (or none within the timeout).
 */
int p9_version(Xen9pFront *f, unsigned int r, uint32_t msize,
               uint32_t *got_msize);
int p9_attach(Xen9pFront *f, unsigned int r, uint32_t fid, P9Qid *qid);
int p9_walk(Xen9pFront *f, unsigned int r, uint32_t fid, uint32_t newfid,
            const char *name);
int p9_lopen(Xen9pFront *f, unsigned int r, uint32_t fid, uint32_t flags);
int p9_lcreate(Xen9pFront *f, unsigned int r, uint32_t fid, const char *name,
               uint32_t flags, uint32_t mode);
/* Bytes read into @buf (at most @count), or a negative error */
int p9_read(Xen9pFront *f, unsigned int r, uint32_t fid, uint64_t off,
            void *buf, uint32_t count);
int p9_write(Xen9pFront *f, unsigned int r, uint32_t fid, uint64_t off,
             const void *buf, uint32_t count);
/* The names of the entries (a NULL-terminated vector, g_strfreev it) */
int p9_readdir(Xen9pFront *f, unsigned int r, uint32_t fid, char ***names);
int p9_getattr_size(Xen9pFront *f, unsigned int r, uint32_t fid,
                    uint64_t *size);
int p9_clunk(Xen9pFront *f, unsigned int r, uint32_t fid);

/* One request and its reply on ring @r: the reply's type, or -EPROTO. */
int p9_rpc(Xen9pFront *f, unsigned int r, const uint8_t *req, uint32_t len,
           uint8_t **reply, uint32_t *reply_len);

#endif
