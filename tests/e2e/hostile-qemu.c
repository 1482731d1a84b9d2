/*
 * hostile-qemu: what a guest that took over its QEMU runs inside QEMU's
 * own process, to attack the open hook from the very pid the daemon
 * serves.  Loaded into QEMU with LD_PRELOAD (the domain's <qemu:env>); it
 * does nothing unless OPENHOOK_HOSTILE_DIR is set, and then waits for
 * commands on the FIFO $OPENHOOK_HOSTILE_DIR/cmd, one per line:
 *
 *   malformed          one fresh connection per kind of malformed message
 *                      (and per way of sending fds to the broker); prints
 *                      "KIND closed" when the broker dropped it, else
 *                      "KIND open" or "KIND error ..."; for the fds kinds,
 *                      "KIND released" when the broker closed every fd it
 *                      was sent, else "KIND kept"
 *   pipeline N PATH S  one connection: N OPENs of PATH read-only, sent
 *                      without waiting until the socket takes no more;
 *                      prints "sent K", reads nothing for S seconds, then
 *                      reads every reply, closes its fds, CLOSEs every
 *                      handle and prints "replies R granted G emfile E
 *                      other O max_fds M"
 *   hoard PATH N       one connection: OPENs of PATH read-only until one is
 *                      refused, closing each fd but never reporting it
 *                      closed; prints "hoarded G max_fds M then STATUS";
 *                      then N CLOSEs of handles never given and an OPEN,
 *                      a CLOSE of a granted handle and an OPEN, ten more
 *                      CLOSEs of that same handle and an OPEN: prints
 *                      "unknown N then S1 reclosed S2 then S3"; then
 *                      CLOSEs every handle and OPENs: "released G then S"
 *   reconnect N        N connections, one after the other, most with a
 *                      HELLO, some closed without one; prints
 *                      "reconnected N hello H failed F"
 *
 * Each command ends with a line "done CMD" in $OPENHOOK_HOSTILE_DIR/out.
 * It uses raw syscalls, not QEMU's qemu_open(), so none of this goes
 * through QEMU's own client: the daemon sees exactly these bytes, from
 * QEMU's pid, uid and label.
 *
 * The wire format is docs/protocol.rst's, written out here on purpose
 * rather than taken from the broker's header: a test of the decoder
 * should not share its definitions.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define OH_OPEN 1
#define OH_CLOSE 2
#define OH_HELLO 3
#define OH_LARGEST 4119
#define OH_REPLY_WAIT_MS 5000

static char dir[512];
static struct sockaddr_un hookaddr = { .sun_family = AF_UNIX };
static int outfd = -1;

static void
say(const char *fmt, ...)
{
    char line[512];
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (len < 0)
        return;
    if (len > (int)sizeof(line) - 2)
        len = sizeof(line) - 2;
    line[len++] = '\n';
    if (write(outfd, line, len) < 0) {
        /* nowhere to report it */
    }
}


/* The hook's socket: the address QEMU's channel is connected to.  NULL,
 * or what went wrong. */
static const char *
find_hook_address(void)
{
    static char buf[65536];
    socklen_t len = sizeof(hookaddr);
    ssize_t n, got = 0;
    char *arg;
    int fd = -1;
    int cmdline;

    if ((cmdline = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC)) < 0)
        return "cannot open /proc/self/cmdline";
    while ((n = read(cmdline, buf + got, sizeof(buf) - 1 - got)) > 0)
        got += n;
    close(cmdline);
    buf[got] = '\0';
    for (arg = buf; arg < buf + got; arg += strlen(arg) + 1) {
        if (strcmp(arg, "-open-hook-fd") == 0 && arg + strlen(arg) + 1 < buf + got)
            fd = atoi(arg + strlen(arg) + 1);
    }
    if (fd < 0)
        return "no -open-hook-fd on the command line";
    if (getpeername(fd, (struct sockaddr *)&hookaddr, &len) < 0)
        return strerror(errno);
    if (len <= sizeof(sa_family_t) || hookaddr.sun_path[0] == '\0')
        return "the channel's peer has no name";
    return NULL;
}


static int
hook_connect(void)
{
    struct timeval tv = { .tv_sec = 10 };
    int s;

    if ((s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    if (connect(s, (struct sockaddr *)&hookaddr, sizeof(hookaddr)) < 0) {
        close(s);
        return -1;
    }
    setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return s;
}


static int
send_msg(int s, const void *buf, size_t len, const int *fds, int nfds)
{
    char control[CMSG_SPACE(sizeof(int) * 64)] = { 0 };
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };

    if (nfds > 0) {
        struct cmsghdr *cmsg;

        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * nfds);
    }
    return sendmsg(s, &msg, MSG_NOSIGNAL) == (ssize_t)len ? 0 : -1;
}


/* One message; 0 on EOF, -1 on error or after @timeout_ms; fds that came
 * with it are closed, except the first, stored in *@fd if @fd. */
static ssize_t
recv_msg(int s, void *buf, size_t len, int timeout_ms, int *fd)
{
    char control[CMSG_SPACE(sizeof(int) * 8)];
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr msg = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = control, .msg_controllen = sizeof(control),
    };
    struct pollfd pfd = { .fd = s, .events = POLLIN };
    struct cmsghdr *cmsg;
    ssize_t n;

    if (fd)
        *fd = -1;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    if ((n = recvmsg(s, &msg, MSG_CMSG_CLOEXEC)) < 0)
        return errno == ECONNRESET ? 0 : -1;
    for (cmsg = CMSG_FIRSTHDR(&msg); cmsg; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
        int *p = (int *)CMSG_DATA(cmsg);
        size_t i, nfds;

        if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS)
            continue;
        nfds = (cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (i = 0; i < nfds; i++) {
            if (fd && *fd < 0)
                *fd = p[i];
            else
                close(p[i]);
        }
    }
    return n;
}


static void
put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}


static uint32_t
get32(const unsigned char *p)
{
    uint32_t v;

    memcpy(&v, p, 4);
    return v;
}


static size_t
mk_hello(unsigned char *b, uint32_t version, uint32_t flags)
{
    put32(b, 16);
    put32(b + 4, OH_HELLO);
    put32(b + 8, version);
    put32(b + 12, flags);
    return 16;
}


static size_t
mk_open(unsigned char *b, uint32_t id, uint32_t flags, const char *path)
{
    size_t len = strlen(path);

    put32(b, 24 + len);
    put32(b + 4, OH_OPEN);
    put32(b + 8, id);
    put32(b + 12, flags);
    put32(b + 16, 0);
    put32(b + 20, len);
    memcpy(b + 24, path, len);
    return 24 + len;
}


static size_t
mk_close(unsigned char *b, uint64_t handle)
{
    put32(b, 16);
    put32(b + 4, OH_CLOSE);
    memcpy(b + 8, &handle, 8);
    return 16;
}


/* HELLO and its reply; the broker's max_fds in *@max_fds */
static int
hello(int s, uint32_t *max_fds)
{
    unsigned char b[64];

    if (send_msg(s, b, mk_hello(b, 1, 0), NULL, 0) < 0)
        return -1;
    if (recv_msg(s, b, sizeof(b), OH_REPLY_WAIT_MS, NULL) != 32 ||
        get32(b + 4) != OH_HELLO || get32(b + 12) != 0)
        return -1;
    if (max_fds)
        *max_fds = get32(b + 24);
    return 0;
}


/* Read until the broker drops the connection; what it answered before
 * (a HELLO reply's status) in *@status.  1: dropped, 0: still open. */
static int
dropped(int s, int32_t *status)
{
    unsigned char b[64];
    ssize_t n;

    for (;;) {
        n = recv_msg(s, b, sizeof(b), OH_REPLY_WAIT_MS, NULL);
        if (n == 0)
            return 1;
        if (n < 0)
            return 0;
        if (n >= 16 && status)
            *status = (int32_t)get32(b + 12);
    }
}


enum { BEFORE_NOTHING, BEFORE_HELLO };

struct malformed {
    const char *kind;
    int before;
    size_t (*make)(unsigned char *b);
    int nfds;           /* fds (of one pipe) sent along */
};

static size_t m_tiny(unsigned char *b) { put32(b, 3); return 3; }
static size_t m_header_only(unsigned char *b) { put32(b, 8); put32(b + 4, OH_HELLO); return 8; }
static size_t m_size_lies(unsigned char *b) { mk_hello(b, 1, 0); put32(b, 20); return 16; }
static size_t m_open_first(unsigned char *b) { return mk_open(b, 1, O_RDONLY, "/etc/hostname"); }
static size_t m_hello(unsigned char *b) { return mk_hello(b, 1, 0); }
static size_t m_version(unsigned char *b) { return mk_hello(b, 2, 0); }
static size_t m_flags(unsigned char *b) { return mk_hello(b, 1, 1); }
static size_t m_type0(unsigned char *b) { put32(b, 16); put32(b + 4, 0); memset(b + 8, 0, 8); return 16; }
static size_t m_type99(unsigned char *b) { put32(b, 16); put32(b + 4, 99); memset(b + 8, 0, 8); return 16; }
static size_t
m_oversized(unsigned char *b)
{
    memset(b, 'a', OH_LARGEST + 1);
    put32(b, OH_LARGEST + 1);
    put32(b + 4, OH_OPEN);
    put32(b + 8, 1);
    put32(b + 12, O_RDONLY);
    put32(b + 16, 0);
    put32(b + 20, OH_LARGEST + 1 - 24);
    b[24] = '/';
    return OH_LARGEST + 1;
}
static size_t m_pathlen_lies(unsigned char *b) { size_t n = mk_open(b, 1, O_RDONLY, "/etc/hostname"); put32(b + 20, 100); return n; }
static size_t m_pathlen_zero(unsigned char *b) { mk_open(b, 1, O_RDONLY, "/"); put32(b, 24); put32(b + 20, 0); return 24; }
static size_t m_short_close(unsigned char *b) { mk_close(b, 1); put32(b, 12); return 12; }
static size_t m_close(unsigned char *b) { return mk_close(b, 1); }
static size_t m_open(unsigned char *b) { return mk_open(b, 7, O_RDONLY, "/etc/hostname"); }

static const struct malformed kinds[] = {
    { "tiny", BEFORE_NOTHING, m_tiny, 0 },
    { "header-only", BEFORE_NOTHING, m_header_only, 0 },
    { "size-lies", BEFORE_NOTHING, m_size_lies, 0 },
    { "open-before-hello", BEFORE_NOTHING, m_open_first, 0 },
    { "second-hello", BEFORE_HELLO, m_hello, 0 },
    { "wrong-version", BEFORE_NOTHING, m_version, 0 },
    { "hello-flags", BEFORE_NOTHING, m_flags, 0 },
    { "type-0", BEFORE_HELLO, m_type0, 0 },
    { "type-99", BEFORE_HELLO, m_type99, 0 },
    { "oversized", BEFORE_HELLO, m_oversized, 0 },
    { "path-len-lies", BEFORE_HELLO, m_pathlen_lies, 0 },
    { "path-len-0", BEFORE_HELLO, m_pathlen_zero, 0 },
    { "short-close", BEFORE_HELLO, m_short_close, 0 },
    { "fds-on-hello", BEFORE_NOTHING, m_hello, 1 },
    { "fds-on-close", BEFORE_HELLO, m_close, 32 },
    { "fds-on-open", BEFORE_HELLO, m_open, 64 },
};


static void
cmd_malformed(void)
{
    static unsigned char b[OH_LARGEST + 64];
    size_t i;

    for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
        const struct malformed *k = &kinds[i];
        int pipefd[2] = { -1, -1 };
        int fds[64];
        int32_t status = 0;
        int s, j;

        if ((s = hook_connect()) < 0) {
            say("%s error connect: %s", k->kind, strerror(errno));
            continue;
        }
        if (k->before == BEFORE_HELLO && hello(s, NULL) < 0) {
            say("%s error hello", k->kind);
            close(s);
            continue;
        }
        if (k->nfds > 0) {
            if (pipe2(pipefd, O_CLOEXEC) < 0) {
                say("%s error pipe", k->kind);
                close(s);
                continue;
            }
            for (j = 0; j < k->nfds; j++)
                fds[j] = pipefd[0];
        }
        if (send_msg(s, b, k->make(b), fds, k->nfds) < 0) {
            /* the broker may have closed already: that is a drop too */
            say("%s %s", k->kind, errno == EPIPE || errno == ECONNRESET ?
                "closed" : "error send");
        } else {
            int d = dropped(s, &status);

            if (status != 0)
                say("%s %s status=%d", k->kind, d ? "closed" : "open", status);
            else
                say("%s %s", k->kind, d ? "closed" : "open");
        }
        close(s);
        if (k->nfds > 0) {
            /* the last reader gone makes the write end report POLLERR:
             * every copy the broker received must have been closed */
            struct pollfd pfd = { .fd = pipefd[1], .events = POLLOUT };
            int released = 0;

            close(pipefd[0]);
            for (j = 0; j < 50 && !released; j++) {
                if (poll(&pfd, 1, 100) > 0 && (pfd.revents & POLLERR))
                    released = 1;
            }
            say("%s %s", k->kind, released ? "released" : "kept");
            close(pipefd[1]);
        }
    }
}


static void
cmd_pipeline(int n, const char *path, int pause)
{
    unsigned char b[OH_LARGEST];
    uint64_t *handles;
    uint32_t max_fds = 0;
    int sent = 0, replies = 0, granted = 0, emfile = 0, other = 0;
    int s, i;

    if ((s = hook_connect()) < 0 || hello(s, &max_fds) < 0) {
        say("error connect or hello");
        if (s >= 0)
            close(s);
        return;
    }
    if (!(handles = calloc(n, sizeof(*handles)))) {
        say("error out of memory");
        close(s);
        return;
    }
    for (i = 0; i < n; i++) {
        size_t len = mk_open(b, i + 1, O_RDONLY | O_CLOEXEC, path);

        if (send(s, b, len, MSG_DONTWAIT | MSG_NOSIGNAL) != (ssize_t)len)
            break;
        sent++;
    }
    say("sent %d", sent);
    sleep(pause);
    for (i = 0; i < sent; i++) {
        int fd;
        ssize_t len = recv_msg(s, b, sizeof(b), 10000, &fd);

        if (len != 24 || get32(b + 4) != OH_OPEN)
            break;
        replies++;
        if ((int32_t)get32(b + 12) == 0 && fd >= 0) {
            granted++;
            memcpy(&handles[i], b + 16, 8);
        } else if ((int32_t)get32(b + 12) == -EMFILE) {
            emfile++;
        } else {
            other++;
        }
        if (fd >= 0)
            close(fd);
    }
    for (i = 0; i < sent; i++) {
        if (handles[i] != 0)
            send_msg(s, b, mk_close(b, handles[i]), NULL, 0);
    }
    say("replies %d granted %d emfile %d other %d max_fds %u",
        replies, granted, emfile, other, max_fds);
    free(handles);
    close(s);
}


/* One OPEN of @path and its reply: the status, the handle in *@handle */
static int32_t
open_one(int s, const char *path, uint64_t *handle)
{
    unsigned char b[OH_LARGEST];
    int fd;

    if (send_msg(s, b, mk_open(b, 1, O_RDONLY | O_CLOEXEC, path), NULL, 0) < 0 ||
        recv_msg(s, b, sizeof(b), OH_REPLY_WAIT_MS, &fd) != 24 ||
        get32(b + 4) != OH_OPEN)
        return INT32_MIN;
    if (fd >= 0)
        close(fd);
    memcpy(handle, b + 16, 8);
    return (int32_t)get32(b + 12);
}


static void
cmd_hoard(const char *path, int unknown)
{
    unsigned char b[64];
    uint64_t *handles;
    uint64_t h, old;
    uint32_t max_fds = 0;
    int32_t st = 0, unknown_st, again_st, double_st, release_st;
    int granted = 0, s, i;

    if ((s = hook_connect()) < 0 || hello(s, &max_fds) < 0 || max_fds == 0) {
        say("error connect or hello");
        if (s >= 0)
            close(s);
        return;
    }
    if (!(handles = calloc(max_fds + 1, sizeof(*handles)))) {
        say("error out of memory");
        close(s);
        return;
    }
    /* grants, each fd closed at once but never reported closed */
    while (granted <= (int)max_fds &&
           (st = open_one(s, path, &handles[granted])) == 0)
        granted++;
    say("hoarded %d max_fds %u then %d", granted, max_fds, st);

    /* CLOSE of handles never given lowers nothing */
    for (i = 0; i < unknown; i++)
        send_msg(s, b, mk_close(b, 0xfeed000000000000ULL + i), NULL, 0);
    unknown_st = open_one(s, path, &h);

    /* one real CLOSE makes room for one OPEN; closing it again does not */
    old = handles[0];
    send_msg(s, b, mk_close(b, old), NULL, 0);
    again_st = open_one(s, path, &handles[0]);
    for (i = 0; i < 10; i++)
        send_msg(s, b, mk_close(b, old), NULL, 0);
    double_st = open_one(s, path, &h);
    if (double_st == 0)
        send_msg(s, b, mk_close(b, h), NULL, 0);
    say("unknown %d then %d reclosed %d then %d", unknown, unknown_st, again_st, double_st);

    for (i = 0; i < granted; i++)
        send_msg(s, b, mk_close(b, handles[i]), NULL, 0);
    release_st = open_one(s, path, &h);
    if (release_st == 0)
        send_msg(s, b, mk_close(b, h), NULL, 0);
    say("released %d then %d", granted, release_st);
    free(handles);
    close(s);
}


static void
cmd_reconnect(int n)
{
    int hellos = 0, failed = 0, i;

    for (i = 0; i < n; i++) {
        int s = hook_connect();

        if (s < 0) {
            failed++;
            continue;
        }
        if (i % 4 != 3) {
            if (hello(s, NULL) == 0)
                hellos++;
            else
                failed++;
        }
        close(s);
    }
    say("reconnected %d hello %d failed %d", n, hellos, failed);
}


static void
run(const char *line)
{
    char path[4096];
    int n, pause;

    if (strcmp(line, "malformed") == 0)
        cmd_malformed();
    else if (sscanf(line, "pipeline %d %4095s %d", &n, path, &pause) == 3 && n > 0)
        cmd_pipeline(n, path, pause);
    else if (sscanf(line, "reconnect %d", &n) == 1 && n > 0)
        cmd_reconnect(n);
    else if (sscanf(line, "hoard %4095s %d", path, &n) == 2 && n >= 0)
        cmd_hoard(path, n);
    else
        say("error unknown command");
    say("done %s", line);
}


static void *
serve(void *opaque)
{
    char cmdpath[600];
    char buf[4096];
    size_t have = 0;

    (void)opaque;
    snprintf(cmdpath, sizeof(cmdpath), "%s/cmd", dir);
    for (;;) {
        int fd = open(cmdpath, O_RDONLY | O_CLOEXEC);
        ssize_t n;

        if (fd < 0)
            return NULL;
        while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
            char *nl;

            have += n;
            buf[have] = '\0';
            while ((nl = strchr(buf, '\n'))) {
                *nl = '\0';
                run(buf);
                have -= nl + 1 - buf;
                memmove(buf, nl + 1, have + 1);
            }
            if (have == sizeof(buf) - 1)
                have = 0;
        }
        close(fd);
    }
}


static void __attribute__((constructor))
hostile_init(void)
{
    const char *d = getenv("OPENHOOK_HOSTILE_DIR");
    char outpath[600];
    const char *err;
    pthread_t thread;

    if (!d || strlen(d) >= sizeof(dir))
        return;
    strcpy(dir, d);
    snprintf(outpath, sizeof(outpath), "%s/out", dir);
    if ((outfd = open(outpath, O_WRONLY | O_APPEND | O_CLOEXEC)) < 0)
        return;
    if ((err = find_hook_address())) {
        say("error no hook channel: %s", err);
        return;
    }
    say("ready %s", hookaddr.sun_path);
    if (pthread_create(&thread, NULL, serve, NULL) == 0)
        pthread_detach(thread);
}
