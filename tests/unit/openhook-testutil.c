/*
 * openhook-testutil.c: helpers shared by the open-hook unit tests
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <glib/gstdio.h>

#include "openhook-testutil.h"
#include "viropenhookproto.h"

char *
ohtTmpNew(void)
{
    g_autoptr(GError) err = NULL;
    char *dir = g_dir_make_tmp("openhook-test-XXXXXX", &err);

    g_assert_no_error(err);
    return dir;
}


static void
ohtRmrf(const char *path)
{
    GDir *dir;
    const char *name;

    if ((dir = g_dir_open(path, 0, NULL))) {
        while ((name = g_dir_read_name(dir))) {
            g_autofree char *child = g_build_filename(path, name, NULL);
            GStatBuf st;

            if (g_lstat(child, &st) == 0 && S_ISDIR(st.st_mode))
                ohtRmrf(child);
            else
                g_unlink(child);
        }
        g_dir_close(dir);
    }
    g_rmdir(path);
}


void
ohtTmpFree(char *dir)
{
    if (!dir)
        return;
    ohtRmrf(dir);
    g_free(dir);
}


char *
ohtWriteFile(const char *dir,
             const char *name,
             const char *content)
{
    g_autoptr(GError) err = NULL;
    char *path = g_build_filename(dir, name, NULL);

    g_file_set_contents(path, content, -1, &err);
    g_assert_no_error(err);
    return path;
}


static void
ohtEventsCb(const virOpenHookEvent *event,
            void *opaque)
{
    ohtEvents *ev = opaque;
    char *line = virOpenHookEventFormat(event);

    g_mutex_lock(&ev->lock);
    if (g_test_verbose())
        g_printerr("# %s\n", line);
    g_ptr_array_add(ev->lines, line);
    ev->counts[event->type][event->decision]++;
    ev->reasons[event->reason]++;
    g_mutex_unlock(&ev->lock);
}


ohtEvents *
ohtEventsNew(virOpenHookWhitelist *wl)
{
    ohtEvents *ev = g_new0(ohtEvents, 1);

    g_mutex_init(&ev->lock);
    ev->lines = g_ptr_array_new_with_free_func(g_free);
    virOpenHookWhitelistSetEventCallback(wl, ohtEventsCb, ev);
    return ev;
}


void
ohtEventsFree(ohtEvents *ev)
{
    if (!ev)
        return;
    g_ptr_array_unref(ev->lines);
    g_mutex_clear(&ev->lock);
    g_free(ev);
}


unsigned int
ohtEventsCount(ohtEvents *ev,
               virOpenHookEventType type,
               virOpenHookDecision decision)
{
    unsigned int ret;

    g_mutex_lock(&ev->lock);
    ret = ev->counts[type][decision];
    g_mutex_unlock(&ev->lock);
    return ret;
}


unsigned int
ohtEventsReason(ohtEvents *ev,
                virOpenHookReason reason)
{
    unsigned int ret;

    g_mutex_lock(&ev->lock);
    ret = ev->reasons[reason];
    g_mutex_unlock(&ev->lock);
    return ret;
}


bool
ohtEventsContain(ohtEvents *ev,
                 const char *needle)
{
    bool ret = false;
    size_t i;

    g_mutex_lock(&ev->lock);
    for (i = 0; i < ev->lines->len && !ret; i++)
        ret = strstr(g_ptr_array_index(ev->lines, i), needle) != NULL;
    g_mutex_unlock(&ev->lock);
    return ret;
}


struct _ohtBroker {
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    virOpenHookBrokerConn *conn;
    GMutex lock;
    GCond cond;
    bool closed;
    virOpenHookReason reason;
};


static void
ohtBrokerClosed(virOpenHookBrokerConn *conn,
                void *opaque)
{
    ohtBroker *b = opaque;

    g_mutex_lock(&b->lock);
    b->closed = true;
    b->reason = virOpenHookBrokerConnGetCloseReason(conn);
    g_cond_broadcast(&b->cond);
    g_mutex_unlock(&b->lock);
}


static gpointer
ohtBrokerThread(gpointer opaque)
{
    ohtBroker *b = opaque;

    g_main_context_push_thread_default(b->ctx);
    g_main_loop_run(b->loop);
    g_main_context_pop_thread_default(b->ctx);
    return NULL;
}


ohtBroker *
ohtBrokerStart(virOpenHookWhitelist *wl,
               unsigned int maxOutstanding,
               int *clientSock)
{
    ohtBroker *b = g_new0(ohtBroker, 1);
    GSource *src;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    g_mutex_init(&b->lock);
    g_cond_init(&b->cond);
    b->ctx = g_main_context_new();
    b->loop = g_main_loop_new(b->ctx, FALSE);
    b->conn = virOpenHookBrokerConnNew(wl, sv[0]);
    if (maxOutstanding)
        virOpenHookBrokerConnSetMaxOutstanding(b->conn, maxOutstanding);
    src = virOpenHookBrokerConnCreateSource(b->conn, ohtBrokerClosed, b);
    g_source_attach(src, b->ctx);
    g_source_unref(src);
    b->thread = g_thread_new("oht-broker", ohtBrokerThread, b);
    *clientSock = sv[1];
    return b;
}


bool
ohtBrokerWaitClosed(ohtBroker *b,
                    unsigned int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
    bool ret;

    g_mutex_lock(&b->lock);
    while (!b->closed && g_cond_wait_until(&b->cond, &b->lock, deadline))
        ;
    ret = b->closed;
    g_mutex_unlock(&b->lock);
    return ret;
}


virOpenHookReason
ohtBrokerCloseReason(ohtBroker *b)
{
    virOpenHookReason ret;

    g_mutex_lock(&b->lock);
    ret = b->reason;
    g_mutex_unlock(&b->lock);
    return ret;
}


static gboolean
ohtBrokerQuit(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_REMOVE;
}


void
ohtBrokerStop(ohtBroker *b)
{
    if (!b)
        return;
    g_main_context_invoke(b->ctx, ohtBrokerQuit, b->loop);
    g_thread_join(b->thread);
    virOpenHookBrokerConnFree(b->conn);
    g_main_loop_unref(b->loop);
    g_main_context_unref(b->ctx);
    g_mutex_clear(&b->lock);
    g_cond_clear(&b->cond);
    g_free(b);
}


GMainContext *
ohtBrokerGetContext(ohtBroker *b)
{
    return b->ctx;
}


virOpenHookClient *
ohtClientStart(virOpenHookWhitelist *wl,
               ohtBroker **b)
{
    int sock;
    virOpenHookClient *client;

    *b = ohtBrokerStart(wl, 0, &sock);
    client = virOpenHookClientNew(sock);
    g_assert_cmpint(virOpenHookClientHello(client), ==, 0);
    return client;
}


void
ohtSendRaw(int sock,
           const void *buf,
           size_t len,
           int passfd)
{
    g_assert_cmpint(virOpenHookProtoSend(sock, buf, len, passfd, false), ==, 0);
}


ssize_t
ohtRecvRaw(int sock,
           void *buf,
           size_t len,
           int *fd,
           unsigned int timeout_ms)
{
    struct pollfd pfd = { .fd = sock, .events = POLLIN };
    int fds[4];
    size_t nfds = 0;
    bool truncated;
    ssize_t ret;
    size_t i;

    if (fd)
        *fd = -1;
    if (poll(&pfd, 1, timeout_ms) <= 0)
        return -1;
    ret = virOpenHookProtoRecv(sock, buf, len, fds, G_N_ELEMENTS(fds),
                               &nfds, &truncated, false);
    for (i = 0; i < nfds; i++) {
        if (fd && *fd < 0)
            *fd = fds[i];
        else
            virOpenHookCloseFD(&fds[i]);
    }
    return ret < 0 ? 0 : ret;
}


void
ohtRawHello(int sock)
{
    char buf[64];
    virOpenHookMsgHelloReply reply;
    size_t len = virOpenHookProtoEncodeHello(buf, VIR_OPENHOOK_PROTO_VERSION, 0);
    ssize_t rlen;

    ohtSendRaw(sock, buf, len, -1);
    rlen = ohtRecvRaw(sock, buf, sizeof(buf), NULL, 5000);
    g_assert_true(rlen > 0);
    g_assert_true(virOpenHookProtoDecodeHelloReply(buf, rlen, &reply));
    g_assert_cmpint(reply.status, ==, 0);
}


unsigned int
ohtCountFDs(void)
{
    GDir *dir = g_dir_open("/proc/self/fd", 0, NULL);
    unsigned int n = 0;

    g_assert_nonnull(dir);
    while (g_dir_read_name(dir))
        n++;
    g_dir_close(dir);
    /* g_dir_open's own descriptor was counted too. */
    return n - 1;
}


int
ohtBrokerOpen(virOpenHookWhitelist *wl,
              const char *path,
              int flags,
              uint64_t *handle)
{
    uint64_t h;

    return virOpenHookBrokerOpen(wl, path, strlen(path), flags, 0644,
                                 handle ? handle : &h);
}


void
ohtCloseGrant(virOpenHookWhitelist *wl,
              int fd,
              uint64_t handle)
{
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookWhitelistRelease(wl, handle,
                                                VIR_OPENHOOK_REASON_NONE), ==, 0);
}
