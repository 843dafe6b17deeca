/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: what the block tests share on top of the xen-sim harness: the
 * data pattern, the backend's XenStore nodes as dom0 sees them, the
 * frontend's connection, vbds created the way libxl creates them, and the
 * helpers of more than one xen-block-*-test program (requests and pages
 * made by hand, refused connections, hot-unplug, the raw rings).  Its
 * functions are named xbh_*.  Failures end the test (sim_fail(),
 * g_assert()).
 */

#ifndef TESTS_XEN_BLOCK_HARNESS_H
#define TESTS_XEN_BLOCK_HARNESS_H

#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "frontend/xen-raw-ring.h"
#include "xen-sim-harness.h"

#define GUEST_DOMID XEN_SIM_GUEST_DOMID
#define DISK_SIZE (64 * MiB)
#define PAGE 4096
#define VBD_XVDA 51712
#define VBD_XVDB 51728
#define VBD_XVDC 51744
#define VBD_HDC 5632

/* Pattern @gen at byte @offset of the disk: 8 bytes that say where. */
void xbh_fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen);

bool xbh_is_pattern(const uint8_t *buf, size_t len, uint64_t offset,
                    uint32_t gen);

bool xbh_is_zero(const uint8_t *buf, size_t len);

/* QEMU with a 64 MiB image, s->img (@IMG@ in @args), and @args. */
Sim *xbh_start(const char *args);

char *xbh_be_path(unsigned int devid);

char *xbh_fe_path(unsigned int devid);

/* A backend node of vbd @devid, as dom0 reads it; NULL if absent. */
char *xbh_be_read(Sim *s, unsigned int devid, const char *key);

long long xbh_be_int(Sim *s, unsigned int devid, const char *key,
                     long long dflt);

void xbh_assert_be_key(Sim *s, unsigned int devid, const char *key,
                       const char *want);

/* Wait (as dom0) until the backend's state is @state; false on timeout. */
bool xbh_wait_be_state(Sim *s, unsigned int devid, int state, int ms);

XenBlkfront *xbh_blk_new(XenFe *fe, unsigned int devid);

void xbh_blk_connect(XenBlkfront *bf);

void xbh_blk_disconnect(XenBlkfront *bf);

/*
 * Disconnect (if connected: the backend must have let go of each of its
 * grants), check no stray response came, free.
 */
void xbh_blk_done(Sim *s, XenBlkfront *bf);

/* The end of a test: nothing stays mapped, QEMU is fine; stop it. */
void xbh_finish(Sim *s, XenFe *fe);

XenBlkfront *xbh_blk_open(XenFe *fe, unsigned int devid);

/* Write @len bytes of pattern @gen at @off on queue @q. */
void xbh_write_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                       size_t len, uint32_t gen);

/* Read @len bytes at @off on queue @q; they must be pattern @gen. */
void xbh_check_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                       size_t len, uint32_t gen);

void xbh_check_zero(XenBlkfront *bf, uint64_t off, size_t len);

/* The image file holds pattern @gen at @off. */
void xbh_check_file_pattern(const char *path, uint64_t off, size_t len,
                            uint32_t gen);

void xbh_file_write_pattern(const char *path, uint64_t off, size_t len,
                            uint32_t gen);

void xbh_xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
                const char *key, const char *val);

/*
 * One transaction writes the backend and frontend directories of vbd
 * @devid: the backend's owned by dom0 and readable by the guest, the
 * frontend's owned by the guest and writable by dom0.
 */
void xbh_libxl_add_vbd(Sim *s, unsigned int devid, const char *dev,
                       const char *type, const char *params);

#define SEGS BLKIF_MAX_SEGMENTS_PER_REQUEST
#define CHUNK (SEGS * PAGE)     /* the most one direct request carries */

/* For xbh_start(): @IMG@ stands for the 64 MiB image. */
#define DRIVE0 "-drive file=@IMG@,if=none,id=d0,format=raw "
#define DISK0 DRIVE0 "-device xen-disk,vdev=xvda,drive=d0 "

/* ---- requests and pages made by hand ---- */

/* A refusal: a response came and it is ERROR or EOPNOTSUPP. */
void xbh_assert_refused(int status);

struct blkif_request_segment xbh_seg(grant_ref_t gref, uint8_t first,
                                     uint8_t last);

/* One request with explicit segments on queue 0; returns its status. */
int xbh_req_segs(XenBlkfront *bf, uint8_t op, uint64_t sector,
                 unsigned int nr_segments,
                 const struct blkif_request_segment *segs,
                 unsigned int nr_segs);

/* Pages granted by the test itself, for hand-made segments. */
typedef struct TestPages {
    unsigned int n;
    uint64_t gfn[16];
    grant_ref_t gref[16];
} TestPages;

void xbh_pages_new(XenFe *fe, TestPages *p, unsigned int n, bool ro);

/* End the grants: the backend must have let go of every one. */
void xbh_pages_free(XenFe *fe, TestPages *p);

/* ---- refused connections ---- */

/* Overwrite (value) or remove (NULL) frontend nodes before Initialised. */
typedef struct NodeEdit {
    const char *key;
    const char *value;
} NodeEdit;

void xbh_edit_nodes(XenBlkfront *bf, void *opaque);

/*
 * The connect must be refused: the backend writes "error" and goes
 * Closing, QEMU stays up; then the frontend closes, which must release
 * everything.
 */
void xbh_expect_refused_connect(Sim *s, XenBlkfront *bf);

/* A good connect after a refused one: I/O on every queue. */
void xbh_expect_recovery(Sim *s, XenBlkfront *bf, unsigned int queues,
                         uint32_t gen);

/* ---- errors injected by blkdebug ---- */

/* Away from sector 0, which realize reads to guess a geometry */
#define FAIL_SECTOR 64

/* ---- the disk size the backend publishes ---- */

bool xbh_wait_sectors(Sim *s, unsigned int devid, long long want);

/* ---- hot-plug ---- */

/*
 * device_del @id, whose frontend is @bf: the backend goes Closing, the
 * frontend closes, the device goes away, and it let go of every grant.
 */
void xbh_unplug(Sim *s, XenBlkfront *bf, const char *id);

/* ---- the raw rings ---- */

XenRawRing xbh_raw_view(XenBlkfront *bf, unsigned int q);

/* Wait until queue @q's rsp_prod reaches @want; false on timeout. */
bool xbh_raw_wait_rsp(XenBlkfront *bf, unsigned int q, XenRawRing *raw,
                      RING_IDX want, int ms);

#endif /* TESTS_XEN_BLOCK_HARNESS_H */
