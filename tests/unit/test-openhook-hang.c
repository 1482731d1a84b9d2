/*
 * test-openhook-hang.c: an open that hangs never stalls the event thread
 *
 * A real FUSE file system (tests/fuse/sleepfs.py) whose open() of
 * hang.img sleeps until a release file appears stands in for a hung
 * NFS server or FUSE daemon. Two guests are served on one event loop,
 * as two VMs' event threads would serve them, and an idle source stands
 * in for the guest's monitor: while guest A's open hangs, both must
 * keep being dispatched, A must get -ETIMEDOUT at its deadline, and
 * the abandoned worker must release its fd and its thread once the
 * open finally returns, whoever is gone by then.
 *
 * Needs root, /dev/fuse and python3-fusepy; skipped otherwise.
 * Assertions are non-fatal, so that a failing check (the old broker
 * blocks the event loop) still runs the teardown that ends the hang
 * and unmounts.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <glib/gstdio.h>
#include <pwd.h>

#include "viropenhookproto.h"
#include "viropenhookopener.h"
#include "openhook-testutil.h"

#define FUSE_MAGIC 0x65735546
#define DEADLINE_MS 1000

typedef struct {
    char *tmp;
    char *mnt;
    char *release;      /* created: every hanging open returns */
    char *hang;         /* mnt/hang.img: open() sleeps */
    char *fast;         /* mnt/fast.img: on FUSE, opens at once */
    char *flush;        /* mnt/flush.img: root's close() sleeps */
    char *local;        /* tmp/local.img */
    GPid fusepid;
    char *skip;

    GMainContext *ctx;
    GMainLoop *loop;
    GThread *thread;

    virOpenHookWhitelist *wlA;  /* the guest whose open hangs */
    virOpenHookWhitelist *wlB;  /* another guest on the same loop */
    ohtEvents *evA;
    GMutex lock;
    virOpenHookBrokerConn *connA;   /* NULL once closed (and freed) */
    virOpenHookBrokerConn *connB;
    int sockA;
    int sockB;
    uint32_t nextId;
} Fixture;


static void
childSetup(gpointer data G_GNUC_UNUSED)
{
    /* never outlive the test: an orphaned mount would hang others */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
}


static bool
isFuse(const char *path)
{
    struct statfs sfs;

    return statfs(path, &sfs) == 0 && (unsigned long)sfs.f_type == FUSE_MAGIC;
}


static bool
mountSleepFS(Fixture *f,
             const char *sleep,
             bool allowOther)
{
    const char *script = g_getenv("OPENHOOK_SLEEPFS");
    g_autoptr(GError) err = NULL;
    const char *argv[] = { "/usr/bin/python3", script, f->mnt,
                           "--release", f->release, "--sleep", sleep,
                           allowOther ? "--allow-other" : NULL, NULL };
    int i;

    if (geteuid() != 0) {
        f->skip = g_strdup("needs root (FUSE mount, open as root)");
        return false;
    }
    if (!script || access("/dev/fuse", R_OK | W_OK) < 0 ||
        access("/usr/bin/python3", X_OK) < 0) {
        f->skip = g_strdup("FUSE is unavailable (/dev/fuse, python3, OPENHOOK_SLEEPFS)");
        return false;
    }
    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDOUT_TO_DEV_NULL,
                       childSetup, NULL, &f->fusepid, &err)) {
        f->skip = g_strdup_printf("cannot run sleepfs: %s", err->message);
        return false;
    }
    for (i = 0; i < 200 && !isFuse(f->mnt); i++) {
        int status;

        if (waitpid(f->fusepid, &status, WNOHANG) == f->fusepid) {
            f->fusepid = 0;
            break;
        }
        g_usleep(50 * 1000);
    }
    if (!isFuse(f->mnt)) {
        f->skip = g_strdup("FUSE is unavailable (sleepfs did not mount: python3-fusepy?)");
        return false;
    }
    return true;
}


static void
unmountSleepFS(Fixture *f)
{
    int i;

    /* end every hanging open first, or the unmount waits for them */
    g_file_set_contents(f->release, "", 0, NULL);
    if (f->fusepid <= 0)
        return;
    if (umount2(f->mnt, 0) < 0)
        umount2(f->mnt, MNT_DETACH);
    for (i = 0; i < 100; i++) {
        int status;

        if (waitpid(f->fusepid, &status, WNOHANG) == f->fusepid) {
            f->fusepid = 0;
            return;
        }
        g_usleep(50 * 1000);
    }
    kill(f->fusepid, SIGKILL);
    waitpid(f->fusepid, NULL, 0);
    f->fusepid = 0;
}


static gpointer
eventThread(gpointer opaque)
{
    Fixture *f = opaque;

    g_main_context_push_thread_default(f->ctx);
    g_main_loop_run(f->loop);
    g_main_context_pop_thread_default(f->ctx);
    return NULL;
}


static void
connClosed(virOpenHookBrokerConn *conn,
           void *opaque)
{
    Fixture *f = opaque;

    g_mutex_lock(&f->lock);
    if (conn == f->connA)
        f->connA = NULL;
    if (conn == f->connB)
        f->connB = NULL;
    g_mutex_unlock(&f->lock);
    virOpenHookBrokerConnFree(conn);
}


static virOpenHookBrokerConn *
serve(Fixture *f,
      virOpenHookWhitelist *wl,
      unsigned int timeoutMs,
      int *clientSock)
{
    virOpenHookBrokerConn *conn;
    GSource *src;
    int sv[2];

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    conn = virOpenHookBrokerConnNew(wl, sv[0]);
    virOpenHookBrokerConnSetOpenTimeout(conn, timeoutMs);
    src = virOpenHookBrokerConnCreateSource(conn, connClosed, f);
    g_source_attach(src, f->ctx);
    g_source_unref(src);
    *clientSock = sv[1];
    return conn;
}


/* Fixture data: list hang.img and flush.img on the local file system
 * before sleepfs is mounted over them */
static const char *const mountedLater = "mounted-later";
/* Fixture data: other users (QEMU's, the opener's) may use sleepfs */
static const char *const allowOther = "allow-other";


static void
fixtureSetup(Fixture *f,
             gconstpointer data)
{
    bool later = data == mountedLater;
    bool other = data == allowOther;
    const char *sleep = data && !later && !other ? data : "-1";

    f->tmp = ohtTmpNew();
    f->mnt = g_build_filename(f->tmp, "mnt", NULL);
    f->release = g_build_filename(f->tmp, "release", NULL);
    f->hang = g_build_filename(f->mnt, "hang.img", NULL);
    f->fast = g_build_filename(f->mnt, "fast.img", NULL);
    f->flush = g_build_filename(f->mnt, "flush.img", NULL);
    f->local = ohtWriteFile(f->tmp, "local.img", "local");
    f->sockA = f->sockB = -1;
    f->nextId = 1;
    g_mutex_init(&f->lock);
    g_assert_cmpint(g_mkdir(f->mnt, 0755), ==, 0);

    f->wlA = virOpenHookWhitelistNew("guestA");
    f->evA = ohtEventsNew(f->wlA);
    if (later) {
        g_autofree char *h = ohtWriteFile(f->mnt, "hang.img", "local");
        g_autofree char *l = ohtWriteFile(f->mnt, "flush.img", "local");

        g_assert_cmpint(virOpenHookWhitelistAdd(f->wlA, f->hang, VIR_OPENHOOK_ACCESS_RO,
                                                0, NULL, NULL), ==, 0);
        g_assert_cmpint(virOpenHookWhitelistAdd(f->wlA, f->flush, VIR_OPENHOOK_ACCESS_RO,
                                                0, NULL, NULL), ==, 0);
        /* bound to the local files; they go, the entries stay */
        g_assert_cmpint(unlink(h), ==, 0);
        g_assert_cmpint(unlink(l), ==, 0);
    }
    if (!mountSleepFS(f, sleep, other))
        return;

    f->ctx = g_main_context_new();
    f->loop = g_main_loop_new(f->ctx, FALSE);

    if (!later)
        g_assert_cmpint(virOpenHookWhitelistAdd(f->wlA, f->hang, VIR_OPENHOOK_ACCESS_RO,
                                                0, NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wlA, f->fast, VIR_OPENHOOK_ACCESS_RO,
                                            0, NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wlA, f->local, VIR_OPENHOOK_ACCESS_RO,
                                            0, NULL, NULL), ==, 0);
    f->wlB = virOpenHookWhitelistNew("guestB");
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wlB, f->local, VIR_OPENHOOK_ACCESS_RO,
                                            0, NULL, NULL), ==, 0);

    f->connA = serve(f, f->wlA, DEADLINE_MS, &f->sockA);
    f->connB = serve(f, f->wlB, DEADLINE_MS, &f->sockB);
    f->thread = g_thread_new("oht-event", eventThread, f);
    ohtRawHello(f->sockA);
    ohtRawHello(f->sockB);
}


static gboolean
quitLoop(gpointer opaque)
{
    g_main_loop_quit(opaque);
    return G_SOURCE_REMOVE;
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    /* first end the hang, so that a blocked event loop comes back */
    unmountSleepFS(f);
    if (f->thread) {
        g_main_context_invoke(f->ctx, quitLoop, f->loop);
        g_thread_join(f->thread);
    }
    if (f->ctx) {
        g_main_loop_unref(f->loop);
        g_main_context_unref(f->ctx);
    }
    virOpenHookBrokerConnFree(f->connA);
    virOpenHookBrokerConnFree(f->connB);
    virOpenHookCloseFD(&f->sockA);
    virOpenHookCloseFD(&f->sockB);
    virOpenHookWhitelistUnref(f->wlA);
    virOpenHookWhitelistUnref(f->wlB);
    ohtEventsFree(f->evA);
    g_mutex_clear(&f->lock);
    g_free(f->mnt);
    g_free(f->release);
    g_free(f->hang);
    g_free(f->fast);
    g_free(f->flush);
    g_free(f->local);
    g_free(f->skip);
    ohtTmpFree(f->tmp);
}


#define SKIP_IF_NO_FUSE(f) \
    do { \
        if ((f)->skip) { \
            g_test_skip((f)->skip); \
            return; \
        } \
    } while (0)


static uint32_t
sendOpen(Fixture *f,
         int sock,
         const char *path)
{
    g_autofree char *buf = g_malloc0(VIR_OPENHOOK_MAX_MSG);
    uint32_t id = f->nextId++;
    size_t len = virOpenHookProtoEncodeOpen(buf, id, O_RDONLY, 0, path,
                                            strlen(path));

    ohtSendRaw(sock, buf, len, -1);
    return id;
}


/* The reply to OPEN @id within @timeout_ms: true with *@status (and
 * the fd closed), false if none came. */
static bool
recvOpen(int sock,
         uint32_t id,
         unsigned int timeout_ms,
         int *status)
{
    virOpenHookMsgOpenReply reply;
    char buf[64];
    ssize_t len;
    int fd = -1;

    *status = 1;
    if ((len = ohtRecvRaw(sock, buf, sizeof(buf), &fd, timeout_ms)) <= 0)
        return false;
    virOpenHookCloseFD(&fd);
    g_assert_true(virOpenHookProtoDecodeOpenReply(buf, len, &reply));
    g_assert_cmpuint(reply.id, ==, id);
    *status = reply.status;
    if (reply.status == 0) {
        char close[64];
        size_t clen = virOpenHookProtoEncodeClose(close, reply.handle);

        ohtSendRaw(sock, close, clen, -1);
    }
    return true;
}


typedef struct {
    GMutex lock;
    GCond cond;
    bool ran;
} Ping;


static gboolean
pingCb(gpointer opaque)
{
    Ping *p = opaque;

    g_mutex_lock(&p->lock);
    p->ran = true;
    g_cond_signal(&p->cond);
    g_mutex_unlock(&p->lock);
    return G_SOURCE_REMOVE;
}


/* Does the event loop dispatch an idle source (a monitor reply, a
 * timer) within @timeout_ms? */
static bool
loopAnswers(Fixture *f,
            unsigned int timeout_ms)
{
    Ping *p = g_new0(Ping, 1);
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
    GSource *src = g_idle_source_new();
    bool ran;

    g_mutex_init(&p->lock);
    g_cond_init(&p->cond);
    g_source_set_callback(src, pingCb, p, NULL);
    g_source_attach(src, f->ctx);
    g_mutex_lock(&p->lock);
    while (!p->ran && g_cond_wait_until(&p->cond, &p->lock, deadline))
        ;
    ran = p->ran;
    g_mutex_unlock(&p->lock);
    if (!ran) {
        /* still pending: it may run later, after the Ping is gone */
        g_source_destroy(src);
    }
    g_source_unref(src);
    g_mutex_clear(&p->lock);
    g_cond_clear(&p->cond);
    g_free(p);
    return ran;
}


/* Wait until @wl's workers are all done (the hung opens returned) */
static bool
workersGone(virOpenHookWhitelist *wl,
            unsigned int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;

    while (virOpenHookWhitelistGetWorkers(wl) > 0) {
        if (g_get_monotonic_time() > deadline)
            return false;
        g_usleep(10 * 1000);
    }
    return true;
}


/* Wait until this process has @n fds (a finished worker closes its own
 * just after it counted itself out) */
static unsigned int
fdsBackTo(unsigned int n,
          unsigned int timeout_ms)
{
    gint64 deadline = g_get_monotonic_time() + timeout_ms * G_TIME_SPAN_MILLISECOND;
    unsigned int now;

    while ((now = ohtCountFDs()) != n && g_get_monotonic_time() < deadline)
        g_usleep(10 * 1000);
    return now;
}


/* Entries know at Add() time whether their file system can hang */
static void
testClassify(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(virOpenHookWhitelist) wl = NULL;
    g_autofree char *created = NULL;
    virOpenHookEntryInfo info = { 0 };

    SKIP_IF_NO_FUSE(f);
    wl = virOpenHookWhitelistNew("classify");

    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wlA, f->hang, &info), ==, 0);
    g_assert_true(info.mayHang);
    virOpenHookEntryInfoClear(&info);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wlA, f->local, &info), ==, 0);
    g_assert_false(info.mayHang);
    virOpenHookEntryInfoClear(&info);

    /* directories, and a create entry whose file does not exist yet */
    g_assert_cmpint(virOpenHookWhitelistAddDir(wl, f->mnt, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(wl, f->tmp, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(wl, f->mnt, &info), ==, 0);
    g_assert_true(info.mayHang);
    virOpenHookEntryInfoClear(&info);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(wl, f->tmp, &info), ==, 0);
    g_assert_false(info.mayHang);
    virOpenHookEntryInfoClear(&info);

    created = g_build_filename(f->tmp, "new.img", NULL);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, created, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(wl, created, &info), ==, 0);
    g_assert_false(info.mayHang);
    virOpenHookEntryInfoClear(&info);
}


/* While A's open hangs, the loop, B and A's deadline all work; the
 * worker cleans up when the open returns at last. */
static void
testDeadline(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    unsigned int fds;
    gint64 start;
    gint64 took;
    uint32_t id;
    int status;

    SKIP_IF_NO_FUSE(f);
    fds = ohtCountFDs();

    start = g_get_monotonic_time();
    id = sendOpen(f, f->sockA, f->hang);
    g_usleep(100 * 1000);

    /* the event loop, and another guest on it, go on */
    g_assert_true(loopAnswers(f, 500));
    sendOpen(f, f->sockB, f->local);
    g_assert_true(recvOpen(f->sockB, f->nextId - 1, 500, &status));
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==, 1);

    /* A: the error at the deadline, not before, and not much later */
    g_assert_true(recvOpen(f->sockA, id, 3 * DEADLINE_MS, &status));
    took = (g_get_monotonic_time() - start) / 1000;
    g_assert_cmpint(status, ==, -ETIMEDOUT);
    g_assert_cmpint(took, >=, DEADLINE_MS - 50);
    g_assert_cmpint(took, <, DEADLINE_MS + 1000);
    g_assert_cmpuint(ohtEventsReason(f->evA, VIR_OPENHOOK_REASON_TIMEOUT), ==, 1);
    g_assert_true(ohtEventsContain(f->evA, "decision=deny reason=timeout"));

    /* A's next requests are served: on FUSE (a worker) and locally */
    id = sendOpen(f, f->sockA, f->fast);
    g_assert_true(recvOpen(f->sockA, id, 1000, &status));
    g_assert_cmpint(status, ==, 0);
    id = sendOpen(f, f->sockA, f->local);
    g_assert_true(recvOpen(f->sockA, id, 1000, &status));
    g_assert_cmpint(status, ==, 0);

    /* the abandoned worker is still in the kernel ... */
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==, 1);
    /* ... until the open returns: then its fd and thread are gone */
    g_assert_true(g_file_set_contents(f->release, "", 0, NULL));
    g_assert_true(workersGone(f->wlA, 5000));
    g_assert_cmpuint(fdsBackTo(fds, 2000), ==, fds);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wlA), ==, 0);
}


/* A slow open that returns in time is granted through the worker */
static void
testSlowInTime(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    gint64 start;
    uint32_t id;
    int status;

    SKIP_IF_NO_FUSE(f);
    start = g_get_monotonic_time();
    id = sendOpen(f, f->sockA, f->hang);
    g_usleep(100 * 1000);
    g_assert_true(loopAnswers(f, 200));
    g_assert_true(recvOpen(f->sockA, id, 2 * DEADLINE_MS, &status));
    g_assert_cmpint(status, ==, 0);
    g_assert_cmpint((g_get_monotonic_time() - start) / 1000, >=, 300);
    g_assert_cmpuint(ohtEventsCount(f->evA, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 1);
    g_assert_true(workersGone(f->wlA, 1000));
}


/* At most VIR_OPENHOOK_MAX_STUCK_OPENS stuck workers per guest */
static void
testCap(Fixture *f,
        gconstpointer data G_GNUC_UNUSED)
{
    unsigned int fds;
    gint64 start;
    uint32_t id;
    int status;
    size_t i;

    SKIP_IF_NO_FUSE(f);
    fds = ohtCountFDs();

    for (i = 0; i < VIR_OPENHOOK_MAX_STUCK_OPENS; i++) {
        id = sendOpen(f, f->sockA, f->hang);
        g_assert_true(recvOpen(f->sockA, id, 3 * DEADLINE_MS, &status));
        g_assert_cmpint(status, ==, -ETIMEDOUT);
    }
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==,
                     VIR_OPENHOOK_MAX_STUCK_OPENS);

    /* denied at once, even a file that would open: no more threads */
    start = g_get_monotonic_time();
    id = sendOpen(f, f->sockA, f->fast);
    g_assert_true(recvOpen(f->sockA, id, DEADLINE_MS / 2, &status));
    g_assert_cmpint(status, ==, -ETIMEDOUT);
    g_assert_cmpint((g_get_monotonic_time() - start) / 1000, <, DEADLINE_MS / 2);
    g_assert_true(ohtEventsContain(f->evA, "opens of this guest hang already"));
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==,
                     VIR_OPENHOOK_MAX_STUCK_OPENS);

    /* local files of that guest, and other guests, are not affected */
    id = sendOpen(f, f->sockA, f->local);
    g_assert_true(recvOpen(f->sockA, id, 500, &status));
    g_assert_cmpint(status, ==, 0);
    id = sendOpen(f, f->sockB, f->local);
    g_assert_true(recvOpen(f->sockB, id, 500, &status));
    g_assert_cmpint(status, ==, 0);

    g_assert_true(g_file_set_contents(f->release, "", 0, NULL));
    g_assert_true(workersGone(f->wlA, 5000));
    g_assert_cmpuint(fdsBackTo(fds, 2000), ==, fds);

    /* and the guest gets its workers back */
    id = sendOpen(f, f->sockA, f->fast);
    g_assert_true(recvOpen(f->sockA, id, 1000, &status));
    g_assert_cmpint(status, ==, 0);
}


static virOpenHookOpener *
startOpener(void *opaque,
            char **errmsg)
{
    unsigned int *starts = opaque;
    struct passwd *pw = getpwnam("libvirt-qemu");

    if (!pw) {
        *errmsg = g_strdup("no user libvirt-qemu");
        return NULL;
    }
    (*starts)++;
    return virOpenHookOpenerNew(pw->pw_uid, pw->pw_gid, NULL, 0, errmsg);
}


/*
 * A helper killed in the middle of an open that its FUSE daemon has
 * read and does not answer stays in the kernel, with a thread of the
 * daemon to reap it.  A guest gets at most VIR_OPENHOOK_OPENER_STUCK_MAX
 * of those: then no helper is started (the requests that need one are
 * denied), until the daemon answers and they are reaped.  Without the
 * cap each request started one more.
 */
static void
testOpenerCap(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("guestC");
    virOpenHookOpener *op = NULL;
    unsigned int starts = 0;
    uint64_t id;
    size_t i;

    SKIP_IF_NO_FUSE(f);
    /* QEMU's user reaches the mount */
    g_assert_cmpint(g_chmod(f->tmp, 0755), ==, 0);
    virOpenHookWhitelistSetOpenerStart(wl, startOpener, &starts, NULL);

    for (i = 0; i < VIR_OPENHOOK_OPENER_STUCK_MAX; i++) {
        if (!(op = virOpenHookWhitelistGetOpener(wl)))
            break;
        g_assert_cmpint(virOpenHookOpenerSendOpen(op, f->hang, O_RDONLY, 0,
                                                  false, NULL, &id), ==, 0);
        /* sleepfs has read the request: the helper is in the kernel */
        g_usleep(300 * G_TIME_SPAN_MILLISECOND);
        /* as a missed deadline does; then the last reference goes */
        virOpenHookOpenerKill(op);
        g_clear_pointer(&op, virOpenHookOpenerUnref);
        virOpenHookWhitelistSetOpener(wl, NULL);
    }
    g_assert_cmpuint(starts, ==, VIR_OPENHOOK_OPENER_STUCK_MAX);

    op = virOpenHookWhitelistGetOpener(wl);
    g_assert_null(op);
    g_assert_cmpuint(starts, ==, VIR_OPENHOOK_OPENER_STUCK_MAX);
    g_clear_pointer(&op, virOpenHookOpenerUnref);

    /* the opens return: the helpers are reaped, one starts again */
    g_assert_true(g_file_set_contents(f->release, "", 0, NULL));
    for (i = 0; i < 500 && !op; i++) {
        if (!(op = virOpenHookWhitelistGetOpener(wl)))
            g_usleep(10 * G_TIME_SPAN_MILLISECOND);
    }
    g_assert_nonnull(op);
    g_assert_cmpuint(starts, ==, VIR_OPENHOOK_OPENER_STUCK_MAX + 1);
    g_clear_pointer(&op, virOpenHookOpenerUnref);
    virOpenHookWhitelistSetOpener(wl, NULL);
}


/* The guest hangs up while its open hangs, the connection and the
 * whole hook are freed, then the open returns: nothing leaks, nothing
 * is used after it was freed (ASan). */
static void
testGoneFirst(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    unsigned int fds;
    bool gone = false;
    int i;

    SKIP_IF_NO_FUSE(f);
    /* what the fixture's A costs: its socket pair, which goes too */
    fds = ohtCountFDs() - 2;

    sendOpen(f, f->sockA, f->hang);
    g_usleep(200 * 1000);
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==, 1);
    virOpenHookCloseFD(&f->sockA);
    for (i = 0; i < 100 && !gone; i++) {
        g_mutex_lock(&f->lock);
        gone = f->connA == NULL;
        g_mutex_unlock(&f->lock);
        if (!gone)
            g_usleep(10 * 1000);
    }
    g_assert_true(gone);
    g_assert_true(ohtEventsContain(f->evA, "worker: the connection closed first"));

    /* the hook goes away: only the worker holds the whitelist now */
    virOpenHookWhitelistSetEventCallback(f->wlA, NULL, NULL);
    g_clear_pointer(&f->wlA, virOpenHookWhitelistUnref);
    g_assert_true(loopAnswers(f, 500));

    g_assert_true(g_file_set_contents(f->release, "", 0, NULL));
    g_assert_cmpuint(fdsBackTo(fds, 5000), ==, fds);
}


/* A file system mounted over listed files after they were listed (QEMU's
 * user can, when it shares the daemon's mount namespace): with shared
 * mounts every open is a worker's, so one that hangs is answered at the
 * deadline, and a file that is not the listed one is closed by the
 * worker, where a close that never returns (root's FLUSH of flush.img)
 * stalls nobody. */
static void
testMountedLater(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    virOpenHookEntryInfo info = { 0 };
    unsigned int fds;
    gint64 start;
    gint64 took;
    uint32_t id;
    int status;

    SKIP_IF_NO_FUSE(f);
    /* listed on the local file system: nothing says they may hang */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wlA, f->hang, &info), ==, 0);
    g_assert_false(info.mayHang);
    virOpenHookEntryInfoClear(&info);
    virOpenHookWhitelistSetSharedMounts(f->wlA, true);
    fds = ohtCountFDs();

    /* opens at once, but is not the listed file: refused, promptly */
    id = sendOpen(f, f->sockA, f->flush);
    g_assert_true(recvOpen(f->sockA, id, DEADLINE_MS / 2, &status));
    g_assert_cmpint(status, ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->evA, VIR_OPENHOOK_REASON_IDENTITY), ==, 1);
    g_assert_true(loopAnswers(f, 500));

    /* hangs: answered at the deadline, the loop going on meanwhile */
    start = g_get_monotonic_time();
    id = sendOpen(f, f->sockA, f->hang);
    g_usleep(100 * 1000);
    g_assert_true(loopAnswers(f, 500));
    g_assert_true(recvOpen(f->sockA, id, 3 * DEADLINE_MS, &status));
    took = (g_get_monotonic_time() - start) / 1000;
    g_assert_cmpint(status, ==, -ETIMEDOUT);
    g_assert_cmpint(took, <, DEADLINE_MS + 1000);

    /* the guest's other files are served */
    id = sendOpen(f, f->sockA, f->local);
    g_assert_true(recvOpen(f->sockA, id, 1000, &status));
    g_assert_cmpint(status, ==, 0);

    /* two workers in the kernel (a close, an open) until it answers */
    g_assert_cmpuint(virOpenHookWhitelistGetWorkers(f->wlA), ==, 2);
    g_assert_true(g_file_set_contents(f->release, "", 0, NULL));
    g_assert_true(workersGone(f->wlA, 5000));
    g_assert_cmpuint(fdsBackTo(fds, 2000), ==, fds);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wlA), ==, 0);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_set_nonfatal_assertions();

#define ADD(name, fn, data) \
    g_test_add("/hang/" name, Fixture, data, fixtureSetup, fn, fixtureTeardown)
    ADD("classify", testClassify, NULL);
    ADD("deadline", testDeadline, NULL);
    ADD("slow-in-time", testSlowInTime, "0.3");
    ADD("cap", testCap, NULL);
    ADD("gone-first", testGoneFirst, NULL);
    ADD("mounted-later", testMountedLater, mountedLater);
    ADD("opener-cap", testOpenerCap, allowOther);
#undef ADD

    return g_test_run();
}
