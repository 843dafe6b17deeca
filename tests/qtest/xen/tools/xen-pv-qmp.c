/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * A minimal QMP client for the tools on the frontend library.
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include "xen-pv-qmp.h"

struct XenPvQmp {
    int fd;
};

static char *qmp_line(XenPvQmp *qmp)
{
    GString *s = g_string_new(NULL);
    char c;

    while (read(qmp->fd, &c, 1) == 1) {
        if (c == '\n') {
            return g_string_free(s, false);
        }
        g_string_append_c(s, c);
    }
    g_string_free(s, true);
    return NULL;
}

/* Send @cmd; the reply line (events before it are skipped). */
static char *qmp_cmd(XenPvQmp *qmp, const char *cmd)
{
    size_t len = strlen(cmd);

    if (write(qmp->fd, cmd, len) != (ssize_t)len) {
        return NULL;
    }
    for (;;) {
        char *line = qmp_line(qmp);

        if (!line || strstr(line, "\"return\"") || strstr(line, "\"error\"")) {
            return line;
        }
        g_free(line);   /* an event */
    }
}

XenPvQmp *xen_pv_qmp_open(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    g_autofree char *greeting = NULL, *caps = NULL;
    XenPvQmp *qmp = g_new0(XenPvQmp, 1);

    qmp->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_strlcpy(sun.sun_path, path, sizeof(sun.sun_path));
    if (qmp->fd < 0 ||
        connect(qmp->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        xen_pv_qmp_close(qmp);
        return NULL;
    }
    greeting = qmp_line(qmp);
    caps = qmp_cmd(qmp, "{\"execute\": \"qmp_capabilities\"}\n");
    if (!greeting || !caps || !strstr(caps, "\"return\"")) {
        xen_pv_qmp_close(qmp);
        return NULL;
    }
    return qmp;
}

void xen_pv_qmp_close(XenPvQmp *qmp)
{
    if (qmp) {
        if (qmp->fd >= 0) {
            close(qmp->fd);
        }
        g_free(qmp);
    }
}

uint64_t xen_pv_qmp_machine_u64(XenPvQmp *qmp, const char *name)
{
    g_autofree char *cmd = g_strdup_printf(
        "{\"execute\": \"qom-get\", \"arguments\": {\"path\": \"/machine\","
        " \"property\": \"%s\"}}\n", name);
    g_autofree char *reply = qmp_cmd(qmp, cmd);
    const char *p = reply ? strstr(reply, "\"return\":") : NULL;

    return p ? g_ascii_strtoull(p + strlen("\"return\":"), NULL, 10) : 0;
}

XenSimCounters xen_pv_qmp_counters(XenPvQmp *qmp)
{
    return (XenSimCounters) {
        .maps = xen_pv_qmp_machine_u64(qmp, "grant-maps"),
        .unmaps = xen_pv_qmp_machine_u64(qmp, "grant-unmaps"),
        .copy_segs = xen_pv_qmp_machine_u64(qmp, "grant-copy-segs"),
        .to_backend = xen_pv_qmp_machine_u64(qmp, "notify-to-backend"),
        .to_guest = xen_pv_qmp_machine_u64(qmp, "notify-to-guest"),
    };
}
