/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest: what the block tests share on top of the xen-sim harness: the
 * data pattern, the backend's XenStore nodes as dom0 sees them, the
 * frontend's connection, and vbds created the way libxl creates them.
 * Failures end the test (sim_fail(), g_assert()).
 */

#ifndef TESTS_XEN_BLOCK_HARNESS_H
#define TESTS_XEN_BLOCK_HARNESS_H

#include "frontend/xen-fe.h"
#include "frontend/xen-blkfront.h"
#include "xen-sim-harness.h"

#define GUEST_DOMID XEN_SIM_GUEST_DOMID
#define DISK_SIZE (64 * MiB)
#define PAGE 4096
#define VBD_XVDA 51712
#define VBD_XVDB 51728
#define VBD_XVDC 51744
#define VBD_HDC 5632

/* Pattern @gen at byte @offset of the disk: 8 bytes that say where. */
void fill(uint8_t *buf, size_t len, uint64_t offset, uint32_t gen);

bool is_pattern(const uint8_t *buf, size_t len, uint64_t offset,
                uint32_t gen);

bool is_zero(const uint8_t *buf, size_t len);

/* QEMU with a 64 MiB image, s->img (@IMG@ in @args), and @args. */
Sim *start(const char *args);

char *be_path(unsigned int devid);

char *fe_path(unsigned int devid);

/* A backend node of vbd @devid, as dom0 reads it; NULL if absent. */
char *be_read(Sim *s, unsigned int devid, const char *key);

long long be_int(Sim *s, unsigned int devid, const char *key,
                 long long dflt);

void assert_be_key(Sim *s, unsigned int devid, const char *key,
                   const char *want);

/* Wait (as dom0) until the backend's state is @state; false on timeout. */
bool wait_be_state(Sim *s, unsigned int devid, int state, int ms);

XenBlkfront *blk_new(XenFe *fe, unsigned int devid);

void blk_connect(XenBlkfront *bf);

void blk_disconnect(XenBlkfront *bf);

/*
 * Disconnect (if connected: the backend must have let go of each of its
 * grants), check no stray response came, free.
 */
void blk_done(Sim *s, XenBlkfront *bf);

/* The end of a test: nothing stays mapped, QEMU is fine; stop it. */
void finish(Sim *s, XenFe *fe);

XenBlkfront *blk_open(XenFe *fe, unsigned int devid);

/* Write @len bytes of pattern @gen at @off on queue @q. */
void write_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                   size_t len, uint32_t gen);

/* Read @len bytes at @off on queue @q; they must be pattern @gen. */
void check_pattern(XenBlkfront *bf, unsigned int q, uint64_t off,
                   size_t len, uint32_t gen);

void check_zero(XenBlkfront *bf, uint64_t off, size_t len);

/* The image file holds pattern @gen at @off. */
void check_file_pattern(const char *path, uint64_t off, size_t len,
                        uint32_t gen);

void file_write_pattern(const char *path, uint64_t off, size_t len,
                        uint32_t gen);

void xs_put(struct xs_handle *xs, xs_transaction_t t, const char *dir,
            const char *key, const char *val);

/*
 * One transaction writes the backend and frontend directories of vbd
 * @devid: the backend's owned by dom0 and readable by the guest, the
 * frontend's owned by the guest and writable by dom0.
 */
void libxl_add_vbd(Sim *s, unsigned int devid, const char *dev,
                   const char *type, const char *params);

#endif /* TESTS_XEN_BLOCK_HARNESS_H */
