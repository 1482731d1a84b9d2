/*
 * viropenhooktest.c: the open hook broker, end to end over a socket
 *
 * This library is free software; you can redistribute it and/or
 * modify it under the terms of the GNU Lesser General Public
 * License as published by the Free Software Foundation; either
 * version 2.1 of the License, or (at your option) any later version.
 *
 * This library is distributed in the hope that it will be useful,
 * but WITHOUT ANY WARRANTY; without even the implied warranty of
 * MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the GNU
 * Lesser General Public License for more details.
 *
 * You should have received a copy of the GNU Lesser General Public
 * License along with this library.  If not, see
 * <http://www.gnu.org/licenses/>.
 */

#include <config.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testutils.h"
#include "virfile.h"
#include "viropenhookbroker.h"
#include "viropenhookclient.h"
#include "viropenhookopener.h"
#include "viropenhookpath.h"

#define VIR_FROM_THIS VIR_FROM_NONE


typedef struct {
    const char *in;
    const char *out; /* NULL: rejected */
} testPathData;


static int
testPathNormalize(const void *opaque)
{
    const testPathData *data = opaque;
    g_autofree char *result = NULL;
    virOpenHookPathError err;

    err = virOpenHookPathNormalize(data->in, strlen(data->in), &result);

    if (!data->out) {
        if (err == VIR_OPENHOOK_PATH_OK) {
            VIR_TEST_DEBUG("'%s' accepted as '%s'", data->in, result);
            return -1;
        }
        return 0;
    }
    if (err != VIR_OPENHOOK_PATH_OK) {
        VIR_TEST_DEBUG("'%s' rejected: %s", data->in,
                       virOpenHookPathErrorToString(err));
        return -1;
    }
    return virTestCompareToString(data->out, result);
}


/* A broker serving one whitelist on its own event loop thread, the way
 * the qemu driver serves it from the domain's event thread, and a
 * client on the test's thread. */
typedef struct {
    char *dir;
    char *rwfile;
    char *rofile;
    char *unlisted;
    char *symlink;
    virOpenHookWhitelist *wl;
    virOpenHookClient *client;
    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;
    unsigned int ndenied;
    unsigned int nclosed;
} testBroker;


static void
testBrokerEvent(const virOpenHookEvent *event,
                void *opaque)
{
    testBroker *b = opaque;

    /* the events are counted on the broker thread, read after join */
    if (event->type == VIR_OPENHOOK_EVENT_OPEN &&
        event->decision == VIR_OPENHOOK_DECISION_DENY)
        b->ndenied++;
    if (event->type == VIR_OPENHOOK_EVENT_CLOSE)
        b->nclosed++;
}


static void
testBrokerClosed(virOpenHookBrokerConn *conn,
                 void *opaque)
{
    testBroker *b = opaque;

    virOpenHookBrokerConnFree(conn);
    g_main_loop_quit(b->loop);
}


static gpointer
testBrokerThread(gpointer opaque)
{
    testBroker *b = opaque;

    g_main_context_push_thread_default(b->ctx);
    g_main_loop_run(b->loop);
    g_main_context_pop_thread_default(b->ctx);
    return NULL;
}


static int
testBrokerWriteFile(const char *path)
{
    return virFileWriteStr(path, "openhook", 0600);
}


static void
testBrokerStop(testBroker *b)
{
    /* Dropping the client closes its socket: the broker sees EOF,
     * frees its connection and stops its loop. */
    g_clear_pointer(&b->client, virOpenHookClientFree);
    if (b->thread)
        g_thread_join(b->thread);
    g_clear_pointer(&b->loop, g_main_loop_unref);
    g_clear_pointer(&b->ctx, g_main_context_unref);
    g_clear_pointer(&b->wl, virOpenHookWhitelistUnref);
    if (b->dir)
        virFileDeleteTree(b->dir);
    g_free(b->dir);
    g_free(b->rwfile);
    g_free(b->rofile);
    g_free(b->unlisted);
    g_free(b->symlink);
}


static int
testBrokerStart(testBroker *b)
{
    int fds[2] = { -1, -1 };
    virOpenHookBrokerConn *conn;
    g_autoptr(GSource) source = NULL;
    g_autofree char *errmsg = NULL;

    if (!(b->dir = g_dir_make_tmp("viropenhooktest-XXXXXX", NULL)))
        return -1;
    b->rwfile = g_strdup_printf("%s/rw.img", b->dir);
    b->rofile = g_strdup_printf("%s/ro.img", b->dir);
    b->unlisted = g_strdup_printf("%s/unlisted.img", b->dir);
    b->symlink = g_strdup_printf("%s/link.img", b->dir);
    if (testBrokerWriteFile(b->rwfile) < 0 ||
        testBrokerWriteFile(b->rofile) < 0 ||
        testBrokerWriteFile(b->unlisted) < 0 ||
        symlink(b->unlisted, b->symlink) < 0)
        return -1;

    b->wl = virOpenHookWhitelistNew("viropenhooktest");
    virOpenHookWhitelistSetEventCallback(b->wl, testBrokerEvent, b);
    if (virOpenHookWhitelistAdd(b->wl, b->rwfile, VIR_OPENHOOK_ACCESS_RW,
                                0, "vda[0]", &errmsg) < 0 ||
        virOpenHookWhitelistAdd(b->wl, b->rofile, VIR_OPENHOOK_ACCESS_RO,
                                0, "vda[1]", &errmsg) < 0) {
        VIR_TEST_DEBUG("cannot fill the whitelist: %s", NULLSTR(errmsg));
        return -1;
    }

    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) < 0)
        return -1;
    if (!(conn = virOpenHookBrokerConnNew(b->wl, fds[0]))) {
        VIR_FORCE_CLOSE(fds[1]);
        return -1;
    }
    b->client = virOpenHookClientNew(fds[1]);

    b->ctx = g_main_context_new();
    b->loop = g_main_loop_new(b->ctx, FALSE);
    source = virOpenHookBrokerConnCreateSource(conn, testBrokerClosed, b);
    g_source_attach(source, b->ctx);
    b->thread = g_thread_new("openhook-broker", testBrokerThread, b);

    if (virOpenHookClientHello(b->client) < 0) {
        VIR_TEST_DEBUG("HELLO failed");
        return -1;
    }
    return 0;
}


/* Opens @path with @flags and checks the verdict: @expect is 0 for a
 * grant (the fd must then have exactly the requested access mode) or
 * the expected -errno. */
static int
testBrokerExpect(testBroker *b,
                 const char *path,
                 int oflags,
                 int expect)
{
    uint64_t handle = 0;
    int fd = virOpenHookClientOpen(b->client, path, oflags, 0, &handle);
    int ret = -1;

    if (expect < 0) {
        if (fd != expect) {
            VIR_TEST_DEBUG("open('%s', 0x%x) = %d, expected %d",
                           path, oflags, fd, expect);
            goto cleanup;
        }
        return 0;
    }
    if (fd < 0) {
        VIR_TEST_DEBUG("open('%s', 0x%x) denied: %s",
                       path, oflags, g_strerror(-fd));
        return -1;
    }
    if ((fcntl(fd, F_GETFL) & O_ACCMODE) != (oflags & O_ACCMODE)) {
        VIR_TEST_DEBUG("open('%s') got the wrong access mode", path);
        goto cleanup;
    }
    if (virOpenHookClientClose(b->client, handle) < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    if (fd >= 0)
        VIR_FORCE_CLOSE(fd);
    return ret;
}


static int
testBrokerDecisions(const void *opaque G_GNUC_UNUSED)
{
    testBroker b = { 0 };
    g_autofree char *dotdot = NULL;
    int ret = -1;

    if (testBrokerStart(&b) < 0)
        goto cleanup;

    dotdot = g_strdup_printf("%s/sub/../rw.img", b.dir);

    if (testBrokerExpect(&b, b.rwfile, O_RDWR, 0) < 0 ||
        testBrokerExpect(&b, b.rofile, O_RDONLY, 0) < 0 ||
        testBrokerExpect(&b, dotdot, O_RDONLY, 0) < 0 ||
        testBrokerExpect(&b, b.rofile, O_RDWR, -EACCES) < 0 ||
        testBrokerExpect(&b, b.unlisted, O_RDONLY, -EACCES) < 0 ||
        testBrokerExpect(&b, b.symlink, O_RDONLY, -EACCES) < 0 ||
        testBrokerExpect(&b, b.rwfile, O_RDWR | O_TRUNC, -EACCES) < 0 ||
        testBrokerExpect(&b, b.rwfile, O_RDONLY | O_PATH, -EINVAL) < 0)
        goto cleanup;

    /* The client refuses a relative name without asking the broker. */
    if (testBrokerExpect(&b, "rw.img", O_RDONLY, -EINVAL) < 0)
        goto cleanup;

    /* Once the entry is removed, the file is no longer granted. */
    if (virOpenHookWhitelistRemove(b.wl, b.rwfile, 0) < 0 ||
        testBrokerExpect(&b, b.rwfile, O_RDWR, -EACCES) < 0)
        goto cleanup;

    ret = 0;

 cleanup:
    testBrokerStop(&b);
    if (ret == 0 && (b.ndenied != 6 || b.nclosed != 3)) {
        VIR_TEST_DEBUG("events: %u denials (expected 6), %u closes (expected 3)",
                       b.ndenied, b.nclosed);
        ret = -1;
    }
    return ret;
}


/* The opener really is the other user: it resolves and opens what that
 * user may, nothing else, and is reaped with its last reference.  The
 * root-refusing storage itself (FUSE) is tested in libvirt-openhook's
 * unit tests. */
static int
testOpener(const void *opaque G_GNUC_UNUSED)
{
    g_autofree char *dir = NULL;
    g_autofree char *pub = NULL;
    g_autofree char *priv = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *errmsg = NULL;
    virOpenHookOpener *op;
    virOpenHookReason reason;
    struct stat st;
    bool bound;
    pid_t pid;
    int ret = -1;
    int fd;

    if (geteuid() != 0)
        return EXIT_AM_SKIP;

    if (!(dir = g_dir_make_tmp("viropenhooktest-XXXXXX", NULL)) ||
        chmod(dir, 0755) < 0)
        return -1;
    pub = g_build_filename(dir, "public", NULL);
    priv = g_build_filename(dir, "private", NULL);
    if (testBrokerWriteFile(pub) < 0 || chmod(pub, 0644) < 0 ||
        testBrokerWriteFile(priv) < 0 || chmod(priv, 0600) < 0)
        goto cleanup;

    if (!(op = virOpenHookOpenerNew(65534, 65534, NULL, 0, &errmsg))) {
        VIR_TEST_DEBUG("%s", errmsg);
        goto cleanup;
    }
    pid = virOpenHookOpenerGetPid(op);

    if (virOpenHookOpenerResolve(op, pub, false, &canonical, &bound, &st,
                                 &errmsg) < 0 ||
        !bound || !S_ISREG(st.st_mode) || STRNEQ(canonical, pub)) {
        VIR_TEST_DEBUG("resolve '%s': %s", pub, NULLSTR(errmsg));
        goto unref;
    }

    if ((fd = virOpenHookOpenerOpen(op, pub, O_RDONLY, 0, false, NULL,
                                    &st, &reason)) < 0) {
        VIR_TEST_DEBUG("open '%s': %s", pub, g_strerror(-fd));
        goto unref;
    }
    VIR_FORCE_CLOSE(fd);

    if ((fd = virOpenHookOpenerOpen(op, pub, O_RDWR, 0, false, NULL,
                                    &st, &reason)) != -EACCES ||
        (fd = virOpenHookOpenerOpen(op, priv, O_RDONLY, 0, false, NULL,
                                    &st, &reason)) != -EACCES) {
        VIR_TEST_DEBUG("the opener opened as root: %d", fd);
        VIR_FORCE_CLOSE(fd);
        goto unref;
    }

    ret = 0;
 unref:
    virOpenHookOpenerUnref(op);
    if (waitpid(pid, NULL, WNOHANG) != -1 || errno != ECHILD) {
        VIR_TEST_DEBUG("the opener was not reaped");
        ret = -1;
    }
 cleanup:
    unlink(pub);
    unlink(priv);
    rmdir(dir);

    return ret;
}


/* What a request may truncate through the opener follows its ticket's
 * entry, never the name: an entry removed after the lookup allows
 * nothing, even once the name is listed again (read-only here). */
static int
testTicketBinding(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *dir = NULL;
    g_autofree char *img = NULL;
    virOpenHookTicket old = { 0 };
    virOpenHookTicket now = { 0 };
    virOpenHookReason reason;
    struct stat st;
    bool bound;
    dev_t dev;
    ino_t ino;
    int ret = -1;

    if (!(dir = g_dir_make_tmp("viropenhooktest-XXXXXX", NULL)))
        return -1;
    img = g_build_filename(dir, "img", NULL);
    if (testBrokerWriteFile(img) < 0 || stat(img, &st) < 0 ||
        virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW,
                                VIR_OPENHOOK_ENTRY_CREATE, "vda", NULL) < 0 ||
        !virOpenHookWhitelistLookup(wl, img, &old))
        goto cleanup;

    reason = virOpenHookWhitelistTicketBinding(wl, &old, O_RDWR | O_TRUNC,
                                               &bound, &dev, &ino);
    if (reason != VIR_OPENHOOK_REASON_NONE || !bound ||
        dev != st.st_dev || ino != st.st_ino) {
        VIR_TEST_DEBUG("listed entry: reason %s, bound %d",
                       virOpenHookReasonToString(reason), bound);
        goto cleanup;
    }

    if (virOpenHookWhitelistRemove(wl, img, 0) < 0 ||
        virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                "vda", NULL) < 0)
        goto cleanup;
    reason = virOpenHookWhitelistTicketBinding(wl, &old, O_RDWR | O_TRUNC,
                                               &bound, &dev, &ino);
    if (reason != VIR_OPENHOOK_REASON_REMOVED || bound) {
        VIR_TEST_DEBUG("removed entry: reason %s, bound %d",
                       virOpenHookReasonToString(reason), bound);
        goto cleanup;
    }

    if (!virOpenHookWhitelistLookup(wl, img, &now))
        goto cleanup;
    reason = virOpenHookWhitelistTicketBinding(wl, &now, O_RDWR | O_TRUNC,
                                               &bound, &dev, &ino);
    if (reason == VIR_OPENHOOK_REASON_NONE || bound) {
        VIR_TEST_DEBUG("read-only entry: reason %s, bound %d",
                       virOpenHookReasonToString(reason), bound);
        goto cleanup;
    }

    ret = 0;
 cleanup:
    virOpenHookTicketClear(&old);
    virOpenHookTicketClear(&now);
    unlink(img);
    rmdir(dir);
    return ret;
}


/* A directory in the whitelist: the files beneath it, created ones too,
 * but not the directory itself, nor a symlink or a hard link leading
 * out of it, nor a sibling whose name merely starts the same. */
static int
testBrokerDirectory(const void *opaque G_GNUC_UNUSED)
{
    testBroker b = { 0 };
    g_autofree char *share = NULL;
    g_autofree char *inside = NULL;
    g_autofree char *created = NULL;
    g_autofree char *out = NULL;
    g_autofree char *hardlink = NULL;
    g_autofree char *sibling = NULL;
    g_autofree char *errmsg = NULL;
    int ret = -1;

    if (testBrokerStart(&b) < 0)
        goto cleanup;

    share = g_strdup_printf("%s/share", b.dir);
    inside = g_strdup_printf("%s/in.img", share);
    created = g_strdup_printf("%s/new.img", share);
    out = g_strdup_printf("%s/out.img", share);
    hardlink = g_strdup_printf("%s/link.img", share);
    sibling = g_strdup_printf("%s2/in.img", share);
    if (mkdir(share, 0700) < 0 ||
        testBrokerWriteFile(inside) < 0 ||
        symlink("../unlisted.img", out) < 0 ||
        link(b.unlisted, hardlink) < 0)
        goto cleanup;

    if (virOpenHookWhitelistAddDir(b.wl, share, VIR_OPENHOOK_ACCESS_RW,
                                   "openhook", &errmsg) < 0) {
        VIR_TEST_DEBUG("cannot allow the directory: %s", NULLSTR(errmsg));
        goto cleanup;
    }

    if (testBrokerExpect(&b, inside, O_RDWR, 0) < 0 ||
        testBrokerExpect(&b, created, O_RDWR | O_CREAT | O_EXCL, 0) < 0 ||
        testBrokerExpect(&b, share, O_RDONLY, -EACCES) < 0 ||
        testBrokerExpect(&b, out, O_RDONLY, -EACCES) < 0 ||
        testBrokerExpect(&b, hardlink, O_RDONLY, -EACCES) < 0 ||
        testBrokerExpect(&b, sibling, O_RDONLY, -EACCES) < 0)
        goto cleanup;

    if (virOpenHookWhitelistRemove(b.wl, share, 0) < 0 ||
        testBrokerExpect(&b, inside, O_RDONLY, -EACCES) < 0)
        goto cleanup;

    ret = 0;

 cleanup:
    testBrokerStop(&b);
    if (ret == 0 && (b.ndenied != 5 || b.nclosed != 2)) {
        VIR_TEST_DEBUG("events: %u denials (expected 5), %u closes (expected 2)",
                       b.ndenied, b.nclosed);
        ret = -1;
    }
    return ret;
}


static int
mymain(void)
{
    int ret = 0;

#define DO_TEST_PATH(in, out) \
    do { \
        testPathData data = { in, out }; \
        if (virTestRun("path " in, testPathNormalize, &data) < 0) \
            ret = -1; \
    } while (0)

    DO_TEST_PATH("/a/b", "/a/b");
    DO_TEST_PATH("//a///b/", "/a/b");
    DO_TEST_PATH("/a/./b/.", "/a/b");
    DO_TEST_PATH("/a/x/../b", "/a/b");
    DO_TEST_PATH("/../../a", "/a");
    DO_TEST_PATH("/", "/");
    DO_TEST_PATH("a/b", NULL);
    DO_TEST_PATH("./a", NULL);
    DO_TEST_PATH("", NULL);

    if (virTestRun("opener as another user", testOpener, NULL) < 0)
        ret = -1;
    if (virTestRun("broker decisions", testBrokerDecisions, NULL) < 0)
        ret = -1;
    if (virTestRun("ticket binding", testTicketBinding, NULL) < 0)
        ret = -1;
    if (virTestRun("broker directory", testBrokerDirectory, NULL) < 0)
        ret = -1;

    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN(mymain)
