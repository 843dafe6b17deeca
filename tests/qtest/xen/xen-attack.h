/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * The post-conditions every malicious-frontend case ends with
 * (docs/devel/xen-pv-security.rst): whatever the guest did, QEMU still
 * answers QMP, holds no more file descriptors and little more memory than
 * before the attack, wrote a bounded amount to its log and stderr, every
 * grant it mapped is unmapped once the devices are disconnected, and guest
 * pages it was never granted ("canaries", allocated next to the pages the
 * attack uses) are unchanged.
 */

#ifndef TESTS_XEN_ATTACK_H
#define TESTS_XEN_ATTACK_H

#include "xen-sim-harness.h"

/* Growth allowed between xen_attack_begin() and a check. */
#define XEN_ATTACK_FD_SLACK 4
#define XEN_ATTACK_RSS_SLACK_KIB (32 * 1024)
#define XEN_ATTACK_LOG_SLACK 4096       /* bytes of log and stderr */

/*
 * Snapshot the QEMU of @s (file descriptors, resident memory, the size of
 * its log and stderr) before an attack, and put canary pages in @fe's
 * memory: the pages the attack allocates next will lie right after one.
 */
void xen_attack_begin(Sim *s, XenFe *fe);
/*
 * One more canary now, e.g. between pages the attack uses; returns its
 * frame.
 */
uint64_t xen_attack_canary(Sim *s);
/*
 * The post-conditions that hold with devices still connected: QMP answers,
 * fds, memory and log within their slack, canaries intact.  Any number of
 * times after xen_attack_begin().
 */
void xen_attack_check(Sim *s);
/*
 * The end of an attack case, every device disconnected or unplugged: the
 * checks above, and grant unmaps == maps.  Frees the canaries.
 */
void xen_attack_end(Sim *s);
/* How many cases this process ended with xen_attack_end(). */
unsigned int xen_attack_ended(void);

#endif
