/*
 * SPDX-License-Identifier: GPL-2.0-or-later
 *
 * Frontend library: the platform client (see xen-fe.h).
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include "qemu/atomic.h"
#include "xen-fe.h"
#include "hw/xen/interface/io/xenbus.h"

#define GNTTAB_GFN 1
#define STATE_TIMEOUT_MS 10000
#define FIRST_GREF 8            /* Xen reserves the first 8 entries */

static bool send_all(int fd, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    while (len) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        len -= n;
    }
    return true;
}

/* Receive exactly @len bytes; collect up to @nfds passed fds. */
static bool recv_all(int fd, void *buf, size_t len, int *fds, size_t nfds)
{
    uint8_t *p = buf;

    while (len) {
        char cbuf[CMSG_SPACE(sizeof(int) * 8)];
        struct iovec iov = { .iov_base = p, .iov_len = len };
        struct msghdr msg = {
            .msg_iov = &iov, .msg_iovlen = 1,
            .msg_control = cbuf, .msg_controllen = sizeof(cbuf),
        };
        ssize_t n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c;
             c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                size_t got = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                int *in = (int *)CMSG_DATA(c);

                for (size_t i = 0; i < got; i++) {
                    if (fds && i < nfds) {
                        fds[i] = in[i];
                    } else {
                        close(in[i]);
                    }
                }
                fds = NULL;     /* fds come with the first bytes only */
            }
        }
        p += n;
        len -= n;
    }
    return true;
}

int xen_fe_ctl(XenFe *fe, uint32_t type, const void *req, uint32_t len,
               void *reply, uint32_t reply_len, int *fds, size_t nfds)
{
    XenSimMsgHeader hdr = { .type = type, .req_id = ++fe->next_req,
                            .len = len };
    uint8_t buf[XEN_SIM_MSG_MAX];
    int32_t status;

    for (size_t i = 0; i < nfds; i++) {
        fds[i] = -1;
    }
    if (!send_all(fe->ctl_fd, &hdr, sizeof(hdr)) ||
        !send_all(fe->ctl_fd, req, len) ||
        !recv_all(fe->ctl_fd, &hdr, sizeof(hdr), fds, nfds) ||
        hdr.len > sizeof(buf) || hdr.len < sizeof(status) ||
        !recv_all(fe->ctl_fd, buf, hdr.len, NULL, 0)) {
        return -EPIPE;
    }
    memcpy(&status, buf, sizeof(status));
    if (reply) {
        memcpy(reply, buf, MIN(reply_len, hdr.len));
    }
    return status;
}

XenFe *xen_fe_connect(const char *ctl_path, const char *xs_path, char **err)
{
    XenFe *fe = g_new0(XenFe, 1);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    XenSimHello hello = { .version = XEN_SIM_PROTOCOL_VERSION };
    XenSimHelloReply r;
    XenSimGnttabSetup setup = { .gfn = GNTTAB_GFN,
                                .nr_frames = XEN_FE_GNTTAB_FRAMES };
    int memfd = -1;
    int st;

    fe->ctl_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_strlcpy(sun.sun_path, ctl_path, sizeof(sun.sun_path));
    if (connect(fe->ctl_fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        *err = g_strdup_printf("connect %s: %s", ctl_path, strerror(errno));
        goto fail;
    }
    st = xen_fe_ctl(fe, XEN_SIM_MSG_HELLO, &hello, sizeof(hello), &r,
                    sizeof(r), &memfd, 1);
    if (st || memfd < 0) {
        *err = g_strdup_printf("hello: status %d", st);
        goto fail;
    }
    fe->domid = r.domid;
    fe->backend_domid = r.backend_domid;
    fe->mem_size = r.mem_size;
    fe->mem = mmap(NULL, fe->mem_size, PROT_READ | PROT_WRITE, MAP_SHARED,
                   memfd, 0);
    close(memfd);
    if (fe->mem == MAP_FAILED) {
        *err = g_strdup_printf("mmap guest memory: %s", strerror(errno));
        fe->mem = NULL;
        goto fail;
    }
    st = xen_fe_ctl(fe, XEN_SIM_MSG_GNTTAB_SETUP, &setup, sizeof(setup),
                    NULL, 0, NULL, 0);
    if (st) {
        *err = g_strdup_printf("grant table setup: status %d", st);
        goto fail;
    }
    fe->gnttab = (grant_entry_v1_t *)(fe->mem + GNTTAB_GFN * XEN_FE_PAGE_SIZE);
    memset(fe->gnttab, 0, XEN_FE_GNTTAB_FRAMES * XEN_FE_PAGE_SIZE);
    fe->nr_grefs = XEN_FE_GNTTAB_FRAMES * XEN_FE_PAGE_SIZE /
                   sizeof(grant_entry_v1_t);
    fe->next_gref = FIRST_GREF;
    fe->next_gfn = GNTTAB_GFN + XEN_FE_GNTTAB_FRAMES;
    fe->free_gfns = g_array_new(false, false, sizeof(uint64_t));
    fe->free_grefs = g_array_new(false, false, sizeof(grant_ref_t));

    /*
     * libxenstore takes its socket from there (plain setenv: GLib frowns
     * on g_setenv() once a test has run a thread, even a finished one).
     */
    setenv("XENSTORED_PATH", xs_path, 1);
    fe->xs = xs_open(0);
    if (!fe->xs) {
        *err = g_strdup_printf("xs_open %s: %s", xs_path, strerror(errno));
        goto fail;
    }
    return fe;

fail:
    xen_fe_close(fe);
    return NULL;
}

void xen_fe_close(XenFe *fe)
{
    if (fe->xs) {
        xs_close(fe->xs);
    }
    if (fe->mem) {
        munmap(fe->mem, fe->mem_size);
    }
    if (fe->free_gfns) {
        g_array_free(fe->free_gfns, true);
        g_array_free(fe->free_grefs, true);
    }
    close(fe->ctl_fd);
    g_free(fe);
}

uint64_t xen_fe_alloc_page(XenFe *fe)
{
    uint64_t gfn;

    if (fe->free_gfns->len) {
        gfn = g_array_index(fe->free_gfns, uint64_t, fe->free_gfns->len - 1);
        g_array_set_size(fe->free_gfns, fe->free_gfns->len - 1);
    } else {
        g_assert((fe->next_gfn + 1) * XEN_FE_PAGE_SIZE <= fe->mem_size);
        gfn = fe->next_gfn++;
    }
    memset(xen_fe_page(fe, gfn), 0, XEN_FE_PAGE_SIZE);
    return gfn;
}

uint64_t xen_fe_alloc_pages(XenFe *fe, unsigned int n)
{
    uint64_t gfn = fe->next_gfn;

    g_assert((fe->next_gfn + n) * XEN_FE_PAGE_SIZE <= fe->mem_size);
    fe->next_gfn += n;
    memset(xen_fe_page(fe, gfn), 0, (size_t)n * XEN_FE_PAGE_SIZE);
    return gfn;
}

void xen_fe_free_page(XenFe *fe, uint64_t gfn)
{
    g_array_append_val(fe->free_gfns, gfn);
}

void *xen_fe_page(XenFe *fe, uint64_t gfn)
{
    return fe->mem + gfn * XEN_FE_PAGE_SIZE;
}

grant_entry_v1_t *xen_fe_gnt_entry(XenFe *fe, grant_ref_t ref)
{
    g_assert(ref < fe->nr_grefs);
    return &fe->gnttab[ref];
}

grant_ref_t xen_fe_grant(XenFe *fe, uint64_t gfn, bool readonly)
{
    grant_ref_t ref;
    grant_entry_v1_t *e;

    if (fe->free_grefs->len) {
        ref = g_array_index(fe->free_grefs, grant_ref_t,
                            fe->free_grefs->len - 1);
        g_array_set_size(fe->free_grefs, fe->free_grefs->len - 1);
    } else {
        g_assert(fe->next_gref < fe->nr_grefs);
        ref = fe->next_gref++;
    }
    e = &fe->gnttab[ref];
    e->frame = gfn;
    e->domid = fe->backend_domid;
    /* Paired with the backend's read of the entry after it marks it used. */
    smp_wmb();
    qatomic_set(&e->flags, GTF_permit_access | (readonly ? GTF_readonly : 0));
    return ref;
}

bool xen_fe_end_grant(XenFe *fe, grant_ref_t ref)
{
    grant_entry_v1_t *e = xen_fe_gnt_entry(fe, ref);
    uint16_t flags = qatomic_read(&e->flags);

    do {
        if (flags & (GTF_reading | GTF_writing)) {
            return false;
        }
    } while (!__atomic_compare_exchange_n(&e->flags, &flags, 0, false,
                                          __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST));
    g_array_append_val(fe->free_grefs, ref);
    return true;
}

bool xen_fe_evtchn_alloc(XenFe *fe, XenFeEvtchn *ch)
{
    XenSimEvtchnAlloc req = { .remote_domid = fe->backend_domid };
    XenSimEvtchnAllocReply r;
    int fds[2];

    if (xen_fe_ctl(fe, XEN_SIM_MSG_EVTCHN_ALLOC_UNBOUND, &req, sizeof(req),
                   &r, sizeof(r), fds, 2) || fds[0] < 0 || fds[1] < 0) {
        return false;
    }
    ch->port = r.port;
    ch->to_backend = fds[0];
    ch->to_guest = fds[1];
    return true;
}

void xen_fe_evtchn_close(XenFe *fe, XenFeEvtchn *ch)
{
    XenSimEvtchnClose req = { .port = ch->port };

    xen_fe_ctl(fe, XEN_SIM_MSG_EVTCHN_CLOSE, &req, sizeof(req), NULL, 0,
               NULL, 0);
    close(ch->to_backend);
    close(ch->to_guest);
    ch->to_backend = ch->to_guest = -1;
}

void xen_fe_evtchn_notify(XenFeEvtchn *ch)
{
    uint64_t one = 1;

    g_assert(write(ch->to_backend, &one, sizeof(one)) == sizeof(one));
}

bool xen_fe_evtchn_wait(XenFeEvtchn *ch, int timeout_ms)
{
    struct pollfd pfd = { .fd = ch->to_guest, .events = POLLIN };
    uint64_t count;

    if (poll(&pfd, 1, timeout_ms) != 1) {
        return false;
    }
    return read(ch->to_guest, &count, sizeof(count)) == sizeof(count);
}

char *xen_fe_xs_read_on(struct xs_handle *xs, const char *path)
{
    unsigned int len;
    char *val = xs_read(xs, XBT_NULL, path, &len);
    char *ret = val ? g_strndup(val, len) : NULL;

    free(val);
    return ret;
}

char *xen_fe_xs_read(XenFe *fe, const char *path)
{
    return xen_fe_xs_read_on(fe->xs, path);
}

char **xen_fe_xs_next_watch(struct xs_handle *xs, int ms)
{
    struct pollfd pfd = { .fd = xs_fileno(xs), .events = POLLIN };
    unsigned int n;

    if (poll(&pfd, 1, ms) != 1) {
        return NULL;
    }
    return xs_read_watch(xs, &n);
}

bool xen_fe_xs_printf(XenFe *fe, const char *path, const char *fmt, ...)
{
    g_autofree char *val = NULL;
    va_list ap;

    va_start(ap, fmt);
    val = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return xs_write(fe->xs, XBT_NULL, path, val, strlen(val));
}

int xen_fe_xs_read_int(XenFe *fe, const char *path, int dflt)
{
    g_autofree char *val = xen_fe_xs_read(fe, path);

    return val ? atoi(val) : dflt;
}

bool xen_fe_xs_wait_int(XenFe *fe, const char *path, int value,
                        int timeout_ms)
{
    gint64 end = g_get_monotonic_time() + timeout_ms * 1000LL;

    do {
        if (xen_fe_xs_read_int(fe, path, -1) == value) {
            return true;
        }
        g_usleep(1000);
    } while (g_get_monotonic_time() < end);
    return false;
}

bool xen_fe_device_paths(XenFe *fe, const char *type, unsigned int devid,
                         char **fe_path, char **be_path)
{
    g_autofree char *node = NULL;

    *fe_path = g_strdup_printf("/local/domain/%u/device/%s/%u", fe->domid,
                               type, devid);
    node = g_strdup_printf("%s/backend", *fe_path);
    *be_path = xen_fe_xs_read(fe, node);
    if (!*be_path) {
        g_free(*fe_path);
        *fe_path = NULL;
        return false;
    }
    return true;
}

bool xen_fe_set_state(XenFe *fe, const char *fe_path, int state)
{
    g_autofree char *node = g_strdup_printf("%s/state", fe_path);

    return xen_fe_xs_printf(fe, node, "%d", state);
}

bool xen_fe_wait_backend_state(XenFe *fe, const char *be_path, int state)
{
    g_autofree char *node = g_strdup_printf("%s/state", be_path);

    return xen_fe_xs_wait_int(fe, node, state, STATE_TIMEOUT_MS);
}

bool xen_fe_close_device(XenFe *fe, const char *fe_path, const char *be_path,
                         char **err)
{
    xen_fe_set_state(fe, fe_path, XenbusStateClosing);
    if (!xen_fe_wait_backend_state(fe, be_path, XenbusStateClosing)) {
        *err = g_strdup("backend never reached Closing");
        return false;
    }
    xen_fe_set_state(fe, fe_path, XenbusStateClosed);
    if (!xen_fe_wait_backend_state(fe, be_path, XenbusStateClosed)) {
        *err = g_strdup("backend never reached Closed");
        return false;
    }
    return true;
}
