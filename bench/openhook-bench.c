/*
 * openhook-bench.c: brokered vs direct open, the IPC floor, lookup cost
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * Every server runs in a forked process, as in production (libvirt and
 * QEMU are separate processes). By default client and server are both
 * pinned to the last CPU: on the 2-vCPU VM these numbers come from, a
 * wake-up across vCPUs costs 20 to 40 us of hypervisor time (an idle
 * vCPU halts; an IPI exits to the host), which swamps everything else;
 * --cpus 0,1 measures that case. One run measures, in interleaved
 * rounds (the first kind rotates) so that all of them see the same
 * machine state:
 *
 *   direct   open() + close() of the image in the client
 *   bare     the IPC floor: a request datagram, a reply carrying a
 *            pre-opened fd with SCM_RIGHTS, close() of the received fd
 *            (no open in the server, no policy)
 *   naive    bare + the server opens the file per request (plain
 *            openat) and closes its copy after sending: a broker
 *            without any policy work
 *   floor    exactly the system calls of a brokered op, in blocking
 *            loops, without the policy code or an event loop: OPEN
 *            request; openat2 (RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS,
 *            O_NONBLOCK), fstat, F_SETFL, reply with the fd, close;
 *            F_GETFL check in the client, close, CLOSE datagram
 *   poll     the real broker (virOpenHookBrokerConn) from a poll() loop
 *   gmain    the real broker from a GMainLoop + its GSource, which is
 *            what the libvirt glue does
 *
 * A brokered op is virOpenHookClientOpen(O_RDWR | O_CLOEXEC), close()
 * of the fd and virOpenHookClientClose() (the CLOSE report). The
 * figures are medians of the per-round means, with min and max.
 *
 *   openhook-bench [--rounds R] [--ops N] [--cpus C,B | --no-pin]
 *                  [--only direct,bare,naive,floor,poll,gmain] [--no-lookup]
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/openat2.h>
#include <glib/gstdio.h>

#include "viropenhookbroker.h"
#include "viropenhookclient.h"
#include "viropenhookproto.h"

typedef enum {
    BENCH_DIRECT,
    BENCH_BARE,
    BENCH_NAIVE,
    BENCH_FLOOR,
    BENCH_POLL,
    BENCH_GMAIN,

    BENCH_LAST
} benchKind;

static const char *const benchNames[] = {
    "direct", "bare", "naive", "floor", "poll", "gmain",
};
G_STATIC_ASSERT(G_N_ELEMENTS(benchNames) == BENCH_LAST);

static const char *const benchDescs[] = {
    "direct open+close",
    "bare SCM_RIGHTS round trip",
    "naive broker (openat, no policy)",
    "broker's syscalls, no policy",
    "broker, poll() loop",
    "broker, GMainLoop + GSource",
};
G_STATIC_ASSERT(G_N_ELEMENTS(benchDescs) == BENCH_LAST);

static int cpuClient = -1;
static int cpuBroker = -1;


static int
cmpDouble(const void *a,
          const void *b)
{
    double x = *(const double *)a;
    double y = *(const double *)b;

    return (x > y) - (x < y);
}


static double
median(double *v,
       size_t n)
{
    qsort(v, n, sizeof(*v), cmpDouble);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}


static void
pinTo(int cpu)
{
    cpu_set_t set;

    if (cpu < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof(set), &set) < 0) {
        fprintf(stderr, "cannot pin to CPU %d: %s\n", cpu, g_strerror(errno));
        exit(1);
    }
}


static char *
loadAvg(void)
{
    g_autofree char *buf = NULL;
    g_auto(GStrv) f = NULL;

    if (!g_file_get_contents("/proc/loadavg", &buf, NULL, NULL))
        return g_strdup("?");
    f = g_strsplit(buf, " ", 4);
    if (g_strv_length(f) < 3)
        return g_strdup("?");
    return g_strdup_printf("%s %s %s", f[0], f[1], f[2]);
}


/* ---- servers (run in the forked child) ---- */

static void
serverBare(int sock,
           const char *img)
{
    char buf[64];
    int fd = open(img, O_RDWR | O_CLOEXEC);

    if (fd < 0)
        _exit(1);
    for (;;) {
        ssize_t len = recv(sock, buf, sizeof(buf), 0);

        if (len <= 0)
            break;
        if (virOpenHookProtoSend(sock, buf, 24, fd, false) < 0)
            break;
    }
    virOpenHookCloseFD(&fd);
}


static void
serverNaive(int sock,
            const char *img)
{
    char buf[64];

    for (;;) {
        ssize_t len = recv(sock, buf, sizeof(buf), 0);
        int fd;

        if (len <= 0)
            break;
        if ((fd = openat(AT_FDCWD, img, O_RDWR | O_CLOEXEC)) < 0)
            _exit(1);
        if (virOpenHookProtoSend(sock, buf, 24, fd, false) < 0)
            break;
        virOpenHookCloseFD(&fd);
    }
}


static void
serverFloor(int sock,
            const char *img)
{
    char buf[VIR_OPENHOOK_MAX_MSG];
    struct open_how how = {
        .flags = O_RDWR | O_CLOEXEC | O_NONBLOCK | O_NOCTTY,
        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
    };

    for (;;) {
        ssize_t len = recv(sock, buf, sizeof(buf), 0);
        struct stat st;
        int fd;

        if (len <= 0)
            break;
        if (len == sizeof(virOpenHookMsgClose))
            continue;
        if ((fd = syscall(SYS_openat2, AT_FDCWD, img, &how, sizeof(how))) < 0 ||
            fstat(fd, &st) < 0 || fcntl(fd, F_SETFL, 0) < 0)
            _exit(1);
        if (virOpenHookProtoSend(sock, buf, sizeof(virOpenHookMsgOpenReply),
                                 fd, false) < 0)
            break;
        virOpenHookCloseFD(&fd);
    }
}


static void
serverPoll(virOpenHookBrokerConn *conn)
{
    for (;;) {
        struct pollfd pfd = { .fd = virOpenHookBrokerConnGetFD(conn) };
        GIOCondition want = virOpenHookBrokerConnGetEvents(conn);
        GIOCondition rev = 0;

        pfd.events = (want & G_IO_IN ? POLLIN : 0) | (want & G_IO_OUT ? POLLOUT : 0);
        if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
            return;
        if (pfd.revents & POLLIN)
            rev |= G_IO_IN;
        if (pfd.revents & POLLOUT)
            rev |= G_IO_OUT;
        if (pfd.revents & (POLLHUP | POLLERR))
            rev |= G_IO_HUP;
        if (!virOpenHookBrokerConnDispatch(conn, rev))
            return;
    }
}


static void
serverClosed(virOpenHookBrokerConn *conn G_GNUC_UNUSED,
             void *opaque)
{
    g_main_loop_quit(opaque);
}


static void
serverGMain(virOpenHookBrokerConn *conn)
{
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    GSource *src = virOpenHookBrokerConnCreateSource(conn, serverClosed, loop);

    g_source_attach(src, NULL);
    g_main_loop_run(loop);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_loop_unref(loop);
}


static void
serverBroker(int sock,
             const char *img,
             bool gmain)
{
    virOpenHookWhitelist *wl = virOpenHookWhitelistNew("bench");
    virOpenHookBrokerConn *conn;

    if (virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW, 0, "bench", NULL) < 0)
        _exit(1);
    conn = virOpenHookBrokerConnNew(wl, sock);
    if (gmain)
        serverGMain(conn);
    else
        serverPoll(conn);
    virOpenHookBrokerConnFree(conn);
    virOpenHookWhitelistUnref(wl);
}


typedef struct {
    benchKind kind;
    pid_t pid;
    int sock;
    virOpenHookClient *client;
} benchServer;


/* @others are the servers spawned so far: the child must not keep
 * their client ends open, or they would never see EOF. */
static void
serverSpawn(benchServer *s,
            benchKind kind,
            const char *img,
            benchServer *others,
            size_t nothers)
{
    int sv[2];

    s->kind = kind;
    s->pid = -1;
    s->sock = -1;
    s->client = NULL;
    if (kind == BENCH_DIRECT)
        return;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if ((s->pid = fork()) == 0) {
        size_t i;

        for (i = 0; i < nothers; i++) {
            g_clear_pointer(&others[i].client, virOpenHookClientFree);
            virOpenHookCloseFD(&others[i].sock);
        }
        virOpenHookCloseFD(&sv[1]);
        pinTo(cpuBroker);
        switch (kind) {
        case BENCH_BARE:
            serverBare(sv[0], img);
            break;
        case BENCH_NAIVE:
            serverNaive(sv[0], img);
            break;
        case BENCH_FLOOR:
            serverFloor(sv[0], img);
            break;
        case BENCH_POLL:
        case BENCH_GMAIN:
            serverBroker(sv[0], img, kind == BENCH_GMAIN);
            break;
        case BENCH_DIRECT:
        case BENCH_LAST:
            break;
        }
        _exit(0);
    }
    virOpenHookCloseFD(&sv[0]);
    s->sock = sv[1];
    if (kind == BENCH_POLL || kind == BENCH_GMAIN) {
        s->client = virOpenHookClientNew(s->sock);
        s->sock = -1;
        if (virOpenHookClientHello(s->client) < 0)
            abort();
    }
}


static void
serverStop(benchServer *s)
{
    int status;

    if (s->client)
        virOpenHookClientFree(s->client);
    virOpenHookCloseFD(&s->sock);
    if (s->pid > 0)
        waitpid(s->pid, &status, 0);
}


/* One op of @s: an open+close of @img, however @s does it. */
static void
benchOp(benchServer *s,
        const char *img)
{
    char req[16] = { 0 };
    char buf[VIR_OPENHOOK_MAX_MSG];
    char rep[64];
    size_t len;
    int fds[2];
    size_t nfds;
    bool trunc;
    uint64_t handle;
    int fd = -1;

    switch (s->kind) {
    case BENCH_DIRECT:
        fd = open(img, O_RDWR | O_CLOEXEC);
        break;
    case BENCH_BARE:
    case BENCH_NAIVE:
        if (virOpenHookProtoSend(s->sock, req, sizeof(req), -1, false) < 0 ||
            virOpenHookProtoRecv(s->sock, rep, sizeof(rep), fds, 2, &nfds,
                                 &trunc, false) <= 0 || nfds != 1)
            abort();
        fd = fds[0];
        break;
    case BENCH_FLOOR:
        len = virOpenHookProtoEncodeOpen(buf, 1, O_RDWR | O_CLOEXEC, 0,
                                         img, strlen(img));
        if (virOpenHookProtoSend(s->sock, buf, len, -1, false) < 0 ||
            virOpenHookProtoRecv(s->sock, rep, sizeof(rep), fds, 2, &nfds,
                                 &trunc, false) <= 0 || nfds != 1 ||
            (fcntl(fds[0], F_GETFL) & O_ACCMODE) != O_RDWR)
            abort();
        virOpenHookCloseFD(&fds[0]);
        len = virOpenHookProtoEncodeClose(buf, 1);
        if (virOpenHookProtoSend(s->sock, buf, len, -1, false) < 0)
            abort();
        return;
    case BENCH_POLL:
    case BENCH_GMAIN:
        fd = virOpenHookClientOpen(s->client, img, O_RDWR | O_CLOEXEC, 0, &handle);
        if (fd < 0) {
            fprintf(stderr, "brokered open failed: %s\n", g_strerror(-fd));
            exit(1);
        }
        virOpenHookCloseFD(&fd);
        virOpenHookClientClose(s->client, handle);
        return;
    case BENCH_LAST:
        break;
    }
    if (fd < 0)
        abort();
    virOpenHookCloseFD(&fd);
}


/* ns per op */
static double
benchRound(benchServer *s,
           const char *img,
           unsigned int ops)
{
    gint64 start = g_get_monotonic_time();
    unsigned int i;

    for (i = 0; i < ops; i++)
        benchOp(s, img);
    return (g_get_monotonic_time() - start) * 1000.0 / ops;
}


static void
benchOpen(const char *img,
          unsigned int rounds,
          unsigned int ops,
          const bool *enabled)
{
    benchServer servers[BENCH_LAST] = { 0 };
    double *t[BENCH_LAST] = { 0 };
    double med[BENCH_LAST] = { 0 };
    unsigned int r;
    size_t k;

    for (k = 0; k < BENCH_LAST; k++) {
        servers[k].sock = -1;
        servers[k].pid = -1;
    }
    for (k = 0; k < BENCH_LAST; k++) {
        if (!enabled[k])
            continue;
        serverSpawn(&servers[k], k, img, servers, k);
        t[k] = g_new0(double, rounds);
        benchRound(&servers[k], img, ops / 4 + 1);   /* warm up */
    }

    /* Interleave the kinds, and rotate which one goes first. */
    for (r = 0; r < rounds; r++) {
        for (k = 0; k < BENCH_LAST; k++) {
            size_t j = (k + r) % BENCH_LAST;

            if (enabled[j])
                t[j][r] = benchRound(&servers[j], img, ops);
        }
    }

    printf("\n%-34s %9s %9s %9s %8s %10s\n",
           "open+close, per op", "median", "min", "max", "/direct", "ops/s");
    for (k = 0; k < BENCH_LAST; k++) {
        if (!enabled[k])
            continue;
        serverStop(&servers[k]);
        med[k] = median(t[k], rounds);
        printf("%-34s %7.2f us %6.2f us %6.2f us ",
               benchDescs[k], med[k] / 1000, t[k][0] / 1000,
               t[k][rounds - 1] / 1000);
        if (enabled[BENCH_DIRECT])
            printf("%7.2fx ", med[k] / median(t[BENCH_DIRECT], rounds));
        else
            printf("%8s ", "-");
        printf("%10.0f\n", 1e9 / med[k]);
    }
    for (k = BENCH_POLL; k <= BENCH_GMAIN; k++) {
        size_t j;

        if (!enabled[k])
            continue;
        printf("%s:", benchNames[k]);
        for (j = BENCH_BARE; j <= BENCH_FLOOR; j++) {
            if (enabled[j])
                printf(" %+.2f us vs %s", (med[k] - med[j]) / 1000, benchNames[j]);
        }
        printf("\n");
    }
    for (k = 0; k < BENCH_LAST; k++)
        g_free(t[k]);
}


static void
benchLookup(const char *dir,
            unsigned int n)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("lookup");
    g_autofree double *t = g_new0(double, 15);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    double med;
    gint64 start;
    unsigned int r;
    unsigned int i;

    /* Create-entries need no file per name, only the directory. */
    for (i = 0; i < n; i++) {
        char *name = g_strdup_printf("%s/img-%07u.qcow2", dir, i);

        if (virOpenHookWhitelistAdd(wl, name, VIR_OPENHOOK_ACCESS_RO,
                                    VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL) < 0)
            abort();
        g_ptr_array_add(names, name);
    }

    for (r = 0; r < 15; r++) {
        const unsigned int lookups = 200000;

        start = g_get_monotonic_time();
        for (i = 0; i < lookups; i++) {
            virOpenHookTicket ticket;
            const char *name = g_ptr_array_index(names, (i * 7919u) % n);

            if (!virOpenHookWhitelistLookup(wl, name, &ticket))
                abort();
            virOpenHookTicketClear(&ticket);
        }
        t[r] = (g_get_monotonic_time() - start) * 1000.0 / lookups;
    }
    med = median(t, 15);
    printf("lookup with %6u entries: %4.0f ns  (median of 15 x 200000, "
           "min %.0f, max %.0f)\n", n, med, t[0], t[14]);
}


int
main(int argc,
     char **argv)
{
    gint rounds = 21;
    gint ops = 4000;
    gboolean nopin = FALSE;
    gboolean nolookup = FALSE;
    g_autofree char *cpus = NULL;
    g_autofree char *only = NULL;
    GOptionEntry entries[] = {
        { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "rounds (default 21)", "R" },
        { "ops", 'n', 0, G_OPTION_ARG_INT, &ops, "ops per round (default 4000)", "N" },
        { "cpus", 0, 0, G_OPTION_ARG_STRING, &cpus,
          "pin client to C and servers to B (default: both on the last CPU)", "C,B" },
        { "no-pin", 0, 0, G_OPTION_ARG_NONE, &nopin, "do not pin", NULL },
        { "only", 0, 0, G_OPTION_ARG_STRING, &only,
          "comma-separated subset of direct,bare,naive,floor,poll,gmain", "LIST" },
        { "no-lookup", 0, 0, G_OPTION_ARG_NONE, &nolookup, "skip the lookup bench", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- open-hook benchmark");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("openhook-bench-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "a.img", NULL);
    g_autofree char *lookdir = g_build_filename(dir, "many", NULL);
    g_autofree char *load0 = loadAvg();
    g_autofree char *load1 = NULL;
    bool enabled[BENCH_LAST];
    size_t k;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 2;
    }
    if (rounds < 1 || ops < 1) {
        fprintf(stderr, "--rounds and --ops must be positive\n");
        return 2;
    }
    for (k = 0; k < BENCH_LAST; k++)
        enabled[k] = !only;
    if (only) {
        g_auto(GStrv) names = g_strsplit(only, ",", -1);
        size_t i;

        for (i = 0; names[i]; i++) {
            for (k = 0; k < BENCH_LAST; k++) {
                if (g_str_equal(names[i], benchNames[k]))
                    break;
            }
            if (k == BENCH_LAST) {
                fprintf(stderr, "unknown kind '%s'\n", names[i]);
                return 2;
            }
            enabled[k] = true;
        }
    }
    if (cpus) {
        if (sscanf(cpus, "%d,%d", &cpuClient, &cpuBroker) != 2) {
            fprintf(stderr, "--cpus wants C,B\n");
            return 2;
        }
    } else if (!nopin) {
        cpuClient = cpuBroker = sysconf(_SC_NPROCESSORS_ONLN) - 1;
    }
    pinTo(cpuClient);

    signal(SIGPIPE, SIG_IGN);
    if (!g_file_set_contents(img, "image", -1, NULL) || g_mkdir(lookdir, 0700) < 0)
        return 1;

    printf("# %d rounds x %d ops, medians of the per-round means; CPUs online: %ld; "
           "client CPU %d, server CPU %d (-1: not pinned)\n"
           "# load average at start: %s\n",
           rounds, ops, sysconf(_SC_NPROCESSORS_ONLN), cpuClient, cpuBroker, load0);
    benchOpen(img, rounds, ops, enabled);
    load1 = loadAvg();
    printf("# load average after the open bench: %s\n", load1);

    if (!nolookup) {
        printf("\n");
        benchLookup(lookdir, 10);
        benchLookup(lookdir, 10000);
        benchLookup(lookdir, 100000);
    }

    g_unlink(img);
    g_rmdir(lookdir);
    g_rmdir(dir);
    return 0;
}
