/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * QTest harness for xen-sim: a temporary directory with the sockets (and any
 * image files a test makes there), QEMU started with -M xen-sim on them, the
 * frontend's connection, dom0's XenStore connection, QMP helpers.
 */

#ifndef TESTS_XEN_SIM_HARNESS_H
#define TESTS_XEN_SIM_HARNESS_H

#include "libqtest.h"
#include "frontend/xen-fe.h"

#define XEN_SIM_GUEST_DOMID 1

typedef struct Sim {
    QTestState *qts;
    char *dir;                  /* removed with everything in it */
    char *ctl, *xs, *xs_admin;  /* the sockets */
    char *img;                  /* the default image, if any */
    char *log;                  /* QEMU's log: -D, with -d guest_errors */
    char *err;                  /* QEMU's stderr */
    struct xs_handle *admin;    /* dom0's, for sim_xs_read() */
    struct XenAttack *attack;   /* see xen-attack.h */
    GPid pid;                   /* QEMU started by sim_spawn(), or 0 */
} Sim;

/*
 * A temporary directory (in $XEN_SIM_TEST_TMPDIR if set, else in the system's
 * temporary directory); with @img_size > 0 also a sparse raw image of that
 * size, "disk.img", in s->img.
 */
Sim *sim_new(uint64_t img_size);
/* A new sparse file @name of @size bytes in the directory; its path. */
char *sim_make_image(Sim *s, const char *name, uint64_t size);
/*
 * Start QEMU: -M xen-sim with the three sockets, -m 256M -nodefaults, then
 * @fmt (the devices).  Guest errors go to s->log, stderr to s->err (shown
 * when the test stops or fails).
 */
void sim_launch(Sim *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/*
 * Start QEMU as a plain child process, without libqtest, for a test that
 * kills it: the same machine and options as sim_launch() (with -accel qtest
 * but no qtest or QMP connection), its stdout discarded.  Returns once its
 * sockets are there; then sim_fe_connect() (which retries while QEMU starts
 * to listen) reaches it.  No QMP helper works on such a QEMU.
 */
void sim_spawn(Sim *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/*
 * SIGKILL the QEMU of sim_spawn() and reap it; fails the test if it had
 * already died.
 */
void sim_kill(Sim *s);
/* Stop QEMU (if started), remove the directory, free @s. */
void sim_stop(Sim *s);

/*
 * Fail the test with a message (an assertion failure: the abort handlers
 * stop QEMU and remove the directory).
 */
void G_NORETURN sim_fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/*
 * One test case per process: g_test_init() for a program whose cases run in
 * a child each (a failed child fails its case, not the whole program), and
 * the parent's side of one case: the child (this test path, re-run) gets a
 * directory of its own, "@prefix-XXXXXX", in $XEN_SIM_TEST_TMPDIR, removed
 * afterwards even if an assertion ended the child with _exit(); the case
 * fails unless the child passed within @timeout_s.
 */
void sim_test_init(int *argc, char ***argv);
void sim_run_case_in_child(const char *prefix, unsigned int timeout_s);

/* Remove @dir and everything below it. */
void sim_rm_tree(const char *dir);

/* The guest's connection; fails the test if it cannot connect. */
XenFe *sim_fe_connect(Sim *s);
/*
 * A new XenStore connection as dom0 (libxenstore takes the socket from the
 * environment: open connections before starting threads).
 */
struct xs_handle *sim_admin_xs(Sim *s);
/* A XenStore connection as the guest (for watches of its own). */
struct xs_handle *sim_guest_xs(Sim *s);

/* A uint64 counter of the machine (grant-maps, ...). */
uint64_t sim_counter(Sim *s, const char *name);
/* QMP still answers. */
void sim_assert_alive(Sim *s);
/* Run a QMP command that must succeed. */
void sim_qmp_ok(Sim *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Run a QMP command that must fail; returns the error's description. */
char *sim_qmp_err(Sim *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Whether QOM @path exists. */
bool sim_qom_exists(Sim *s, const char *path);

/* The number of open file descriptors of the QEMU process. */
unsigned int sim_qemu_fds(Sim *s);
/* The resident memory (VmRSS) of the QEMU process, in KiB. */
uint64_t sim_qemu_rss_kib(Sim *s);

/* Dom0's view of a node: NULL if absent. */
char *sim_xs_read(Sim *s, const char *path);
/* Integer value of a node (as dom0); @dflt if absent. */
long long sim_xs_read_int(Sim *s, const char *path, long long dflt);

#endif
