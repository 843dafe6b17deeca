/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Post-conditions of the malicious-frontend cases (see xen-attack.h).
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"
#include "qobject/qdict.h"
#include "xen-attack.h"

#define CANARY_PAGE XEN_FE_PAGE_SIZE

typedef struct XenAttack {
    XenFe *fe;
    unsigned int fds;
    uint64_t rss_kib;
    uint64_t log_bytes;
    GArray *canaries;           /* uint64_t frames */
} XenAttack;

static unsigned int ended;

static uint64_t file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? st.st_size : 0;
}

/* What QEMU wrote so far: its log (-D) and its stderr. */
static uint64_t log_bytes(Sim *s)
{
    return file_size(s->log) + file_size(s->err);
}

static void canary_fill(uint8_t *p, uint64_t gfn)
{
    for (size_t i = 0; i < CANARY_PAGE; i += 8) {
        uint64_t v = (gfn << 12 | i) * 0xD6E8FEB86659FD93ULL;

        memcpy(p + i, &v, 8);
    }
}

uint64_t xen_attack_canary(Sim *s)
{
    XenAttack *a = s->attack;
    uint64_t gfn;

    g_assert(a);
    gfn = xen_fe_alloc_page(a->fe);
    canary_fill(xen_fe_page(a->fe, gfn), gfn);
    g_array_append_val(a->canaries, gfn);
    return gfn;
}

void xen_attack_begin(Sim *s, XenFe *fe)
{
    XenAttack *a = g_new0(XenAttack, 1);

    g_assert(!s->attack);
    s->attack = a;
    a->fe = fe;
    a->canaries = g_array_new(false, false, sizeof(uint64_t));
    a->fds = sim_qemu_fds(s);
    a->rss_kib = sim_qemu_rss_kib(s);
    a->log_bytes = log_bytes(s);
    xen_attack_canary(s);
    xen_attack_canary(s);
}

void xen_attack_check(Sim *s)
{
    XenAttack *a = s->attack;
    g_autofree uint8_t *want = g_malloc(CANARY_PAGE);
    unsigned int fds;
    uint64_t rss, log;

    g_assert(a);
    sim_assert_alive(s);
    fds = sim_qemu_fds(s);
    rss = sim_qemu_rss_kib(s);
    log = log_bytes(s);
    g_test_message("attack: fds %u -> %u, RSS %" PRIu64 " -> %" PRIu64
                   " KiB, log +%" PRIu64 " bytes", a->fds, fds, a->rss_kib,
                   rss, log - a->log_bytes);
    if (fds > a->fds + XEN_ATTACK_FD_SLACK) {
        sim_fail("QEMU holds %u file descriptors, %u before the attack", fds,
                 a->fds);
    }
    if (rss > a->rss_kib + XEN_ATTACK_RSS_SLACK_KIB) {
        sim_fail("QEMU's RSS grew from %" PRIu64 " to %" PRIu64 " KiB",
                 a->rss_kib, rss);
    }
    if (log > a->log_bytes + XEN_ATTACK_LOG_SLACK) {
        sim_fail("QEMU wrote %" PRIu64 " bytes to its log and stderr",
                 log - a->log_bytes);
    }
    for (guint i = 0; i < a->canaries->len; i++) {
        uint64_t gfn = g_array_index(a->canaries, uint64_t, i);
        const uint8_t *p = xen_fe_page(a->fe, gfn);

        canary_fill(want, gfn);
        if (memcmp(p, want, CANARY_PAGE)) {
            sim_fail("page 0x%" PRIx64 ", never granted, was written", gfn);
        }
    }
}

void xen_attack_end(Sim *s)
{
    XenAttack *a = s->attack;

    xen_attack_check(s);
    g_assert_cmpuint(sim_counter(s, "grant-unmaps"), ==,
                     sim_counter(s, "grant-maps"));
    for (guint i = 0; i < a->canaries->len; i++) {
        xen_fe_free_page(a->fe, g_array_index(a->canaries, uint64_t, i));
    }
    g_array_free(a->canaries, true);
    g_free(a);
    s->attack = NULL;
    ended++;
}

unsigned int xen_attack_ended(void)
{
    return ended;
}
