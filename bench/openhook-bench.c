/*
 * openhook-bench.c: brokered vs direct open, lookup cost, opens/s
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 *
 * The broker runs in a forked process, as in production (libvirt and
 * QEMU are separate processes), serving one SOCK_SEQPACKET connection
 * either from a plain poll() loop or from a GMainLoop + GSource (what
 * the libvirt glue does). Rounds of brokered and direct open+close of
 * the same file alternate, so both see the same machine state; the
 * medians of the rounds are compared.
 *
 *   openhook-bench [--rounds R] [--ops N] [--gmain]
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "viropenhookbroker.h"
#include "viropenhookclient.h"
#include "viropenhookproto.h"

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
brokerPoll(virOpenHookBrokerConn *conn)
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
brokerClosed(virOpenHookBrokerConn *conn G_GNUC_UNUSED,
             void *opaque)
{
    g_main_loop_quit(opaque);
}


static void
brokerGMain(virOpenHookBrokerConn *conn)
{
    GMainLoop *loop = g_main_loop_new(NULL, FALSE);
    GSource *src = virOpenHookBrokerConnCreateSource(conn, brokerClosed, loop);

    g_source_attach(src, NULL);
    g_main_loop_run(loop);
    g_source_destroy(src);
    g_source_unref(src);
    g_main_loop_unref(loop);
}


static pid_t
brokerSpawn(const char *img,
            bool gmain,
            int *clientSock)
{
    int sv[2];
    pid_t pid;

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if ((pid = fork()) == 0) {
        virOpenHookWhitelist *wl = virOpenHookWhitelistNew("bench");
        virOpenHookBrokerConn *conn;

        virOpenHookCloseFD(&sv[1]);
        if (virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW, 0, "bench", NULL) < 0)
            _exit(1);
        conn = virOpenHookBrokerConnNew(wl, sv[0]);
        if (gmain)
            brokerGMain(conn);
        else
            brokerPoll(conn);
        virOpenHookBrokerConnFree(conn);
        virOpenHookWhitelistUnref(wl);
        _exit(0);
    }
    virOpenHookCloseFD(&sv[0]);
    *clientSock = sv[1];
    return pid;
}


/* ns per open+close, brokered (open, close(fd), CLOSE report). */
static double
roundBrokered(virOpenHookClient *client,
              const char *img,
              unsigned int ops)
{
    gint64 start = g_get_monotonic_time();
    unsigned int i;

    for (i = 0; i < ops; i++) {
        uint64_t handle;
        int fd = virOpenHookClientOpen(client, img, O_RDWR | O_CLOEXEC, 0, &handle);

        if (fd < 0) {
            fprintf(stderr, "brokered open failed: %s\n", g_strerror(-fd));
            exit(1);
        }
        virOpenHookCloseFD(&fd);
        virOpenHookClientClose(client, handle);
    }
    return (g_get_monotonic_time() - start) * 1000.0 / ops;
}


static double
roundDirect(const char *img,
            unsigned int ops)
{
    gint64 start = g_get_monotonic_time();
    unsigned int i;

    for (i = 0; i < ops; i++) {
        int fd = open(img, O_RDWR | O_CLOEXEC);

        if (fd < 0)
            abort();
        virOpenHookCloseFD(&fd);
    }
    return (g_get_monotonic_time() - start) * 1000.0 / ops;
}


static void
benchOpen(const char *img,
          unsigned int rounds,
          unsigned int ops,
          bool gmain)
{
    g_autofree double *b = g_new0(double, rounds);
    g_autofree double *d = g_new0(double, rounds);
    virOpenHookClient *client;
    double mb;
    double md;
    unsigned int r;
    int sock;
    int status;
    pid_t pid = brokerSpawn(img, gmain, &sock);

    client = virOpenHookClientNew(sock);
    if (virOpenHookClientHello(client) < 0)
        abort();
    roundBrokered(client, img, ops / 4 + 1);   /* warm up */
    roundDirect(img, ops / 4 + 1);
    for (r = 0; r < rounds; r++) {
        b[r] = roundBrokered(client, img, ops);
        d[r] = roundDirect(img, ops);
    }
    virOpenHookClientFree(client);
    waitpid(pid, &status, 0);

    mb = median(b, rounds);
    md = median(d, rounds);
    printf("open+close (%s broker): brokered %.2f us, direct %.2f us, "
           "ratio %.2fx, %.0f brokered opens/s  [min %.2f / max %.2f us]\n",
           gmain ? "GMainLoop" : "poll", mb / 1000, md / 1000, mb / md,
           1e9 / mb, b[0] / 1000, b[rounds - 1] / 1000);
}


static void
benchLookup(const char *dir,
            unsigned int n)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("lookup");
    g_autofree double *t = g_new0(double, 15);
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
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
    printf("lookup with %6u entries: %.0f ns (median of 15 x 200000)\n",
           n, median(t, 15));
}


int
main(int argc,
     char **argv)
{
    gint rounds = 21;
    gint ops = 5000;
    gboolean gmain = FALSE;
    GOptionEntry entries[] = {
        { "rounds", 'r', 0, G_OPTION_ARG_INT, &rounds, "rounds", "R" },
        { "ops", 'n', 0, G_OPTION_ARG_INT, &ops, "open+close per round", "N" },
        { "gmain", 0, 0, G_OPTION_ARG_NONE, &gmain, "only the GMainLoop broker", NULL },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- open-hook benchmark");
    g_autoptr(GError) err = NULL;
    g_autofree char *dir = g_dir_make_tmp("openhook-bench-XXXXXX", NULL);
    g_autofree char *img = g_build_filename(dir, "a.img", NULL);
    g_autofree char *lookdir = g_build_filename(dir, "many", NULL);

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!g_file_set_contents(img, "image", -1, NULL) || g_mkdir(lookdir, 0700) < 0)
        return 1;

    printf("# %d rounds x %d ops, medians; CPUs online: %ld\n",
           rounds, ops, sysconf(_SC_NPROCESSORS_ONLN));
    if (!gmain)
        benchOpen(img, rounds, ops, false);
    benchOpen(img, rounds, ops, true);
    benchLookup(lookdir, 10);
    benchLookup(lookdir, 10000);
    benchLookup(lookdir, 100000);

    g_unlink(img);
    g_rmdir(lookdir);
    g_rmdir(dir);
    return 0;
}
