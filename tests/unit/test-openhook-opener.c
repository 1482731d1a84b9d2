/*
 * test-openhook-opener.c: root-squashed storage, for real
 *
 * A bindfs FUSE mount without allow_other, mounted by the QEMU user,
 * refuses every process whose uids are not the mounter's, root
 * included, for open and for stat. The broker must reach the files of
 * its whitelist there through the opener (a helper running as the QEMU
 * user), and nothing else: the policy, the (dev, ino) identity and the
 * symlink rules hold as for root's own opens. Skipped without FUSE.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#include "openhook-testutil.h"
#include "viropenhookopener.h"
#include "viropenhookproto.h"

#define QEMU_USER "libvirt-qemu"

static struct {
    char *skip;         /* why the suite cannot run, or NULL */
    char *top;          /* 0755, root's */
    char *src;          /* the user's files */
    char *mnt;          /* bindfs --no-allow-other of src, by the user */
    char *helper;       /* a copy of the helper the user can run */
    uid_t uid;
    gid_t gid;
} fx;


static bool
ohtRunAs(const char *cmd)
{
    g_autofree char *full = g_strdup_printf("runuser -u %s -- sh -c '%s'",
                                            QEMU_USER, cmd);
    g_autoptr(GError) err = NULL;
    int status = -1;

    if (!g_spawn_command_line_sync(full, NULL, NULL, &status, &err))
        return false;
    if (g_test_verbose())
        g_printerr("# %s: %d\n", full, status);
    return g_spawn_check_exit_status(status, NULL);
}


static bool G_GNUC_PRINTF(1, 2)
ohtRunAsf(const char *fmt, ...)
{
    g_autofree char *cmd = NULL;
    va_list ap;

    va_start(ap, fmt);
    cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    return ohtRunAs(cmd);
}


static char *
ohtUserPath(const char *dir,
            const char *name)
{
    return g_build_filename(dir, name, NULL);
}


/* A failed assertion aborts before ohtTearDown(): unmount what an
 * earlier run left behind. */
static void
ohtCleanStale(void)
{
    g_autofree char *mounts = NULL;
    g_auto(GStrv) lines = NULL;
    size_t i;

    if (!g_file_get_contents("/proc/mounts", &mounts, NULL, NULL))
        return;
    lines = g_strsplit(mounts, "\n", -1);
    for (i = 0; lines[i]; i++) {
        g_auto(GStrv) fields = g_strsplit(lines[i], " ", 3);

        if (g_strv_length(fields) >= 2 &&
            g_str_has_prefix(fields[1], "/var/tmp/openhook-opener-") &&
            g_str_has_suffix(fields[1], "/mnt")) {
            g_autofree char *top = g_path_get_dirname(fields[1]);
            g_autofree char *rm = g_strdup_printf("rm -rf %s", top);

            ohtRunAsf("fusermount3 -u %s", fields[1]);
            g_spawn_command_line_sync(rm, NULL, NULL, NULL, NULL);
        }
    }
}


static void
ohtSetUp(void)
{
    struct passwd *pw;
    g_autofree char *cmd = NULL;
    g_autofree char *bindfs = g_find_program_in_path("bindfs");
    g_autofree char *fusermount = g_find_program_in_path("fusermount3");

    if (geteuid() != 0) {
        fx.skip = g_strdup("needs root");
        return;
    }
    if (access("/dev/fuse", R_OK | W_OK) < 0 || !bindfs || !fusermount) {
        fx.skip = g_strdup("FUSE is unavailable (/dev/fuse, bindfs, fusermount3)");
        return;
    }
    if (!(pw = getpwnam(QEMU_USER))) {
        fx.skip = g_strdup("no " QEMU_USER " user");
        return;
    }
    fx.uid = pw->pw_uid;
    fx.gid = pw->pw_gid;
    ohtCleanStale();

    /* under /var/tmp: /tmp may be a tmpfs the user cannot mount over */
    fx.top = g_strdup("/var/tmp/openhook-opener-XXXXXX");
    g_assert_nonnull(g_mkdtemp_full(fx.top, 0755));
    fx.src = g_build_filename(fx.top, "src", NULL);
    fx.mnt = g_build_filename(fx.top, "mnt", NULL);
    g_assert_cmpint(g_mkdir(fx.src, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(fx.mnt, 0700), ==, 0);
    g_assert_cmpint(chown(fx.src, fx.uid, fx.gid), ==, 0);
    g_assert_cmpint(chown(fx.mnt, fx.uid, fx.gid), ==, 0);

    /* the build tree may be out of the user's reach */
    fx.helper = g_build_filename(fx.top, "libvirt_openhook_opener", NULL);
    {
        g_autofree char *cp = g_strdup_printf("cp %s %s", OPENHOOK_OPENER_PATH,
                                              fx.helper);
        int status = -1;

        g_assert_true(g_spawn_command_line_sync(cp, NULL, NULL, &status, NULL));
        g_assert_cmpint(status, ==, 0);
        /* as installed: not readable by the user, so not traceable */
        g_assert_cmpint(chmod(fx.helper, 0711), ==, 0);
    }

    cmd = g_strdup_printf("bindfs --no-allow-other %s %s", fx.src, fx.mnt);
    if (!ohtRunAs(cmd)) {
        fx.skip = g_strdup("FUSE is unavailable (bindfs as " QEMU_USER " failed)");
        return;
    }
}


static void
ohtTearDown(void)
{
    if (fx.mnt) {
        g_autofree char *cmd = g_strdup_printf("fusermount3 -u %s", fx.mnt);

        ohtRunAs(cmd);
    }
    if (fx.top) {
        g_autofree char *cmd = g_strdup_printf("rm -rf %s", fx.top);

        g_assert_true(g_spawn_command_line_sync(cmd, NULL, NULL, NULL, NULL));
    }
    g_free(fx.top);
    g_free(fx.src);
    g_free(fx.mnt);
    g_free(fx.helper);
    g_free(fx.skip);
}


static bool
ohtSkipped(void)
{
    if (fx.skip) {
        g_test_skip(fx.skip);
        return true;
    }
    return false;
}


/* (Re)create the user's file @name with @content, through the mount. */
static void
ohtUserFile(const char *name,
            const char *content)
{
    g_autofree char *path = ohtUserPath(fx.mnt, name);
    g_assert_true(ohtRunAsf("rm -f %s && printf %s > %s && chmod 600 %s",
                            path, content, path, path));
}


static virOpenHookOpener *
ohtOpenerNew(void)
{
    g_autofree char *errmsg = NULL;
    virOpenHookOpener *op = virOpenHookOpenerNew(fx.uid, fx.gid, NULL, 0, &errmsg);

    if (!op)
        g_error("%s", errmsg);
    return op;
}


/* Read the whole fd into a string. */
static char *
ohtSlurp(int fd)
{
    char buf[256];
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

    g_assert_cmpint(n, >=, 0);
    buf[n] = '\0';
    return g_strdup(buf);
}


static bool
ohtProcessGone(pid_t pid)
{
    g_autofree char *proc = g_strdup_printf("/proc/%lld", (long long)pid);

    return !g_file_test(proc, G_FILE_TEST_EXISTS);
}


/* The mount really refuses root: open, stat, and resolving it. */
static void
testRootRefused(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *errmsg = NULL;
    struct stat st;
    int fd;

    if (ohtSkipped())
        return;
    ohtUserFile("img", "image");

    fd = open(img, O_RDONLY);
    g_assert_cmpint(fd, ==, -1);
    g_assert_cmpint(errno, ==, EACCES);
    g_assert_cmpint(stat(img, &st), ==, -1);
    g_assert_cmpint(errno, ==, EACCES);

    /* without an opener, libvirt cannot even allow the file */
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", &errmsg), ==, -EACCES);
}


/* The opener is the QEMU user for good, and reaped when unreferenced. */
static void
testOpenerProcess(void)
{
    g_autofree char *status = NULL;
    g_autofree char *path = NULL;
    g_autofree char *expect = NULL;
    virOpenHookOpener *op;
    pid_t pid;

    if (ohtSkipped())
        return;

    op = ohtOpenerNew();
    pid = virOpenHookOpenerGetPid(op);
    g_assert_true(virOpenHookOpenerIsAlive(op));

    path = g_strdup_printf("/proc/%lld/status", (long long)pid);
    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    expect = g_strdup_printf("Uid:\t%u\t%u\t%u\t%u\n", fx.uid, fx.uid, fx.uid, fx.uid);
    g_assert_nonnull(strstr(status, expect));
    g_clear_pointer(&expect, g_free);
    expect = g_strdup_printf("Gid:\t%u\t%u\t%u\t%u\n", fx.gid, fx.gid, fx.gid, fx.gid);
    g_assert_nonnull(strstr(status, expect));
    g_assert_true(g_regex_match_simple("\nGroups:\\s*\n", status, 0, 0));
    g_assert_nonnull(strstr(status, "\nCapEff:\t0000000000000000\n"));
    g_assert_nonnull(strstr(status, "\nNoNewPrivs:\t1\n"));

    virOpenHookOpenerUnref(op);
    /* reaped: no zombie, no process */
    g_assert_cmpint(waitpid(pid, NULL, WNOHANG), ==, -1);
    g_assert_cmpint(errno, ==, ECHILD);
    g_assert_true(ohtProcessGone(pid));
}


/* A whitelisted file is resolved and granted through the opener, with
 * the identity the user sees; the entry's rules still apply. */
static void
testGrant(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *link = ohtUserPath(fx.mnt, "link");
    g_autofree char *errmsg = NULL;
    g_autofree char *content = NULL;
    g_autofree char *cmd = NULL;
    virOpenHookEntryInfo info = { 0 };
    virOpenHookClient *client;
    ohtEvents *ev;
    ohtBroker *b;
    uint64_t handle;
    int fd;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    ohtUserFile("img", "image");
    g_assert_true(ohtRunAsf("ln -sf img %s", link));

    ev = ohtEventsNew(wl);
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, link, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", &errmsg), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(wl, link, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, img);
    g_assert_true(info.bound);
    virOpenHookEntryInfoClear(&info);

    client = ohtClientStart(wl, &b);

    /* by the canonical name and by the XML's symlink */
    fd = virOpenHookClientOpen(client, img, O_RDONLY | O_CLOEXEC, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    content = ohtSlurp(fd);
    g_assert_cmpstr(content, ==, "image");
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookClientClose(client, handle), ==, 0);

    fd = virOpenHookClientOpen(client, link, O_RDONLY | O_CLOEXEC, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);

    /* read-only stays read-only: denied before the opener is asked */
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDWR, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 1);

    g_assert_cmpuint(ohtEventsCount(ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 2);
    g_assert_true(ohtEventsContain(ev, "decision=grant"));
    cmd = g_strdup_printf("as uid %u", fx.uid);
    g_assert_true(ohtEventsContain(ev, cmd));

    virOpenHookClientFree(client);
    ohtBrokerStop(b);

    /* the synchronous decision takes the same detour */
    fd = virOpenHookBrokerOpen(wl, img, strlen(img), O_RDONLY, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);

    virOpenHookWhitelistSetEventCallback(wl, NULL, NULL);
    ohtEventsFree(ev);
}


/* Writes and truncation go through the opener too, and the helper
 * truncates only the file the entry is bound to. */
static void
testWriteTruncate(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "rw");
    g_autofree char *content = NULL;
    virOpenHookClient *client;
    ohtBroker *b;
    uint64_t handle;
    int fd;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    ohtUserFile("rw", "data");
    ohtUserFile("other", "other");

    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, "vda",
                                            NULL), ==, 0);
    client = ohtClientStart(wl, &b);

    fd = virOpenHookClientOpen(client, img, O_RDWR | O_CLOEXEC, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pwrite(fd, "DA", 2, 0), ==, 2);
    content = ohtSlurp(fd);
    g_assert_cmpstr(content, ==, "DAta");
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, 0);
    virOpenHookCloseFD(&fd);

    /* another file renamed over the bound one: neither truncated nor
     * granted */
    g_assert_true(ohtRunAsf("mv -f %s/other %s", fx.mnt, img));
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDWR | O_TRUNC, 0,
                                          &handle), ==, -EACCES);
    g_assert_true(ohtRunAsf("test -s %s", img));

    /* re-allowed (rebound): truncated */
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, "vda",
                                            NULL), ==, 0);
    fd = virOpenHookClientOpen(client, img, O_RDWR | O_TRUNC | O_CLOEXEC, 0,
                               &handle);
    g_assert_cmpint(fd, >=, 0);
    g_clear_pointer(&content, g_free);
    content = ohtSlurp(fd);
    g_assert_cmpstr(content, ==, "");
    virOpenHookCloseFD(&fd);

    virOpenHookClientFree(client);
    ohtBrokerStop(b);
}


/* What the opener opens is checked like what root opens: a swapped
 * file fails the identity check, a planted symlink or magic link is
 * not followed, and an unlisted file never reaches the opener. */
static void
testPolicy(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *secret = ohtUserPath(fx.mnt, "secret");
    g_autofree char *magic = ohtUserPath(fx.mnt, "magic");
    virOpenHookClient *client;
    ohtEvents *ev;
    ohtBroker *b;
    uint64_t handle;
    unsigned int fds;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    ohtUserFile("img", "image");
    ohtUserFile("secret", "secret");

    ev = ohtEventsNew(wl);
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    client = ohtClientStart(wl, &b);
    fds = ohtCountFDs();

    /* not listed: denied by the policy, the opener is never asked */
    g_assert_cmpint(virOpenHookClientOpen(client, secret, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 1);
    g_assert_false(ohtEventsContain(ev, "as uid"));

    /* a hard link of the secret renamed over the image: identity */
    g_assert_true(ohtRunAsf("ln -f %s %s/hard && mv -f %s/hard %s",
                            secret, fx.mnt, fx.mnt, img));
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_IDENTITY), ==, 1);

    /* a symlink to the secret planted at the image's name */
    g_assert_true(ohtRunAsf("ln -sfn secret %s", img));
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_SYMLINK), ==, 1);

    /* permissive mode follows ordinary symlinks, never magic links,
     * through the opener as well */
    virOpenHookWhitelistSetMode(wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_true(ohtRunAsf("ln -sfn /proc/self/fd/0 %s", magic));
    g_assert_cmpint(virOpenHookClientOpen(client, magic, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_SYMLINK), ==, 2);

    g_assert_cmpuint(ohtEventsCount(ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 0);
    g_assert_cmpuint(ohtCountFDs(), ==, fds);

    virOpenHookClientFree(client);
    ohtBrokerStop(b);
    virOpenHookWhitelistSetEventCallback(wl, NULL, NULL);
    ohtEventsFree(ev);
}


typedef struct {
    GMutex lock;
    GCond cond;
    bool ran;
} ohtPing;


static gboolean
ohtPingCb(gpointer opaque)
{
    ohtPing *p = opaque;

    g_mutex_lock(&p->lock);
    p->ran = true;
    g_cond_broadcast(&p->cond);
    g_mutex_unlock(&p->lock);
    return G_SOURCE_REMOVE;
}


/* Whether @ctx's thread runs a callback within @ms: it is not blocked. */
static bool
ohtContextResponds(GMainContext *ctx,
                   unsigned int ms)
{
    ohtPing p = { 0 };
    gint64 deadline = g_get_monotonic_time() + ms * G_TIME_SPAN_MILLISECOND;
    bool ran;

    g_mutex_init(&p.lock);
    g_cond_init(&p.cond);
    g_main_context_invoke(ctx, ohtPingCb, &p);
    g_mutex_lock(&p.lock);
    while (!p.ran && g_cond_wait_until(&p.cond, &p.lock, deadline))
        ;
    ran = p.ran;
    g_mutex_unlock(&p.lock);
    if (!ran) {
        /* let it run before p goes away */
        g_mutex_lock(&p.lock);
        while (!p.ran)
            g_cond_wait(&p.cond, &p.lock);
        g_mutex_unlock(&p.lock);
    }
    g_mutex_clear(&p.lock);
    g_cond_clear(&p.cond);
    return ran;
}


typedef struct {
    virOpenHookClient *client;
    const char *path;
    int result;
} ohtOpenJob;


static gpointer
ohtOpenThread(gpointer opaque)
{
    ohtOpenJob *job = opaque;
    uint64_t handle;

    job->result = virOpenHookClientOpen(job->client, job->path,
                                        O_RDONLY | O_CLOEXEC, 0, &handle);
    return NULL;
}


/* While the opener works (here: is stopped), the broker's event thread
 * keeps running; the request is answered once the opener is back. */
static void
testNonBlocking(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    virOpenHookClient *client;
    ohtBroker *b;
    ohtOpenJob job = { 0 };
    GThread *thread;
    pid_t pid;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    pid = virOpenHookOpenerGetPid(op);
    ohtUserFile("img", "image");
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    client = ohtClientStart(wl, &b);

    g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
    job.client = client;
    job.path = img;
    thread = g_thread_new("oht-open", ohtOpenThread, &job);
    g_usleep(200 * G_TIME_SPAN_MILLISECOND);
    g_assert_true(ohtContextResponds(ohtBrokerGetContext(b), 1000));
    g_assert_cmpint(kill(pid, SIGCONT), ==, 0);
    g_thread_join(thread);
    g_assert_cmpint(job.result, >=, 0);
    virOpenHookCloseFD(&job.result);

    virOpenHookClientFree(client);
    ohtBrokerStop(b);
}


/* The opener dies while a request waits for it, and before the next:
 * clean denials, no hang, no leaked fd, no zombie once released. */
static void
testOpenerDeath(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    virOpenHookOpener *op;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    virOpenHookClient *client;
    ohtEvents *ev;
    ohtBroker *b;
    ohtOpenJob job = { 0 };
    GThread *thread;
    pid_t pid;
    uint64_t handle;
    unsigned int fds;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    pid = virOpenHookOpenerGetPid(op);
    ohtUserFile("img", "image");
    ev = ohtEventsNew(wl);
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    client = ohtClientStart(wl, &b);
    fds = ohtCountFDs();

    /* dies while the request waits */
    g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
    job.client = client;
    job.path = img;
    thread = g_thread_new("oht-open", ohtOpenThread, &job);
    g_usleep(200 * G_TIME_SPAN_MILLISECOND);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);
    g_thread_join(thread);
    g_assert_cmpint(job.result, ==, -EACCES);
    g_assert_true(ohtEventsContain(ev, "opener: gone"));
    g_assert_false(virOpenHookOpenerIsAlive(op));

    /* and the next request is denied at once, the connection lives */
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_false(virOpenHookClientIsDead(client));
    g_assert_cmpuint(ohtEventsReason(ev, VIR_OPENHOOK_REASON_OPEN_FAILED), ==, 2);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 0);
    g_assert_cmpuint(ohtCountFDs(), ==, fds);

    virOpenHookClientFree(client);
    ohtBrokerStop(b);

    /* a dead opener fails Add() cleanly too */
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), <, 0);

    /* the whitelist's reference and ours gone: reaped */
    virOpenHookWhitelistSetOpener(wl, NULL);
    virOpenHookOpenerUnref(op);
    g_assert_cmpint(waitpid(pid, NULL, WNOHANG), ==, -1);
    g_assert_cmpint(errno, ==, ECHILD);
    g_assert_true(ohtProcessGone(pid));

    virOpenHookWhitelistSetEventCallback(wl, NULL, NULL);
    ohtEventsFree(ev);
}


/* A guest that hangs up while its request waits for the opener: the
 * answer that comes later is dropped with its fd. */
static void
testHangupWhileWaiting(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    char buf[VIR_OPENHOOK_MAX_MSG];
    pid_t pid;
    ohtBroker *b;
    size_t len;
    unsigned int fds;
    int sock;

    if (ohtSkipped())
        return;
    op = ohtOpenerNew();
    pid = virOpenHookOpenerGetPid(op);
    ohtUserFile("img", "image");
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    fds = ohtCountFDs();
    b = ohtBrokerStart(wl, 0, &sock);
    ohtRawHello(sock);

    g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
    len = virOpenHookProtoEncodeOpen(buf, 1, O_RDONLY, 0, img, strlen(img));
    ohtSendRaw(sock, buf, len, -1);
    g_usleep(100 * G_TIME_SPAN_MILLISECOND);
    virOpenHookCloseFD(&sock);
    g_assert_true(ohtBrokerWaitClosed(b, 5000));
    g_assert_cmpint(kill(pid, SIGCONT), ==, 0);
    ohtBrokerStop(b);

    /* the late answer is read and dropped by the next user */
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(wl), ==, 0);
    {
        g_autofree char *canonical = NULL;
        struct stat st;
        bool bound;

        g_assert_cmpint(virOpenHookOpenerResolve(op, img, false, &canonical,
                                                 &bound, &st, NULL), ==, 0);
    }
    g_usleep(100 * G_TIME_SPAN_MILLISECOND);
    {
        int result = 0;
        struct stat st;
        virOpenHookReason reason;

        g_assert_cmpint(virOpenHookOpenerRecvOpen(op, 12345, &result, &st,
                                                  &reason), ==, 0);
    }
    g_assert_cmpuint(ohtCountFDs(), ==, fds);
}


/* The FUSE daemon stops answering while the opener waits in it: the
 * last unref does not hang (it kills the opener and, if the kernel
 * keeps it waiting, reaps it later). */
static void
testStuckDaemon(void)
{
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *out = NULL;
    g_autofree char *cmd = NULL;
    gint64 start;
    uint64_t id;
    pid_t daemon;
    pid_t pid;
    int i;

    if (ohtSkipped())
        return;
    ohtUserFile("img", "image");
    op = ohtOpenerNew();
    pid = virOpenHookOpenerGetPid(op);

    cmd = g_strdup_printf("pgrep -o -u %s -f 'bindfs --no-allow-other %s %s'",
                          QEMU_USER, fx.src, fx.mnt);
    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    daemon = g_ascii_strtoll(out, NULL, 10);
    g_assert_cmpint(daemon, >, 0);

    g_assert_cmpint(kill(daemon, SIGSTOP), ==, 0);
    g_assert_cmpint(virOpenHookOpenerSendOpen(op, img, O_RDONLY, 0, false,
                                              NULL, &id), ==, 0);
    g_usleep(200 * G_TIME_SPAN_MILLISECOND);

    start = g_get_monotonic_time();
    g_clear_pointer(&op, virOpenHookOpenerUnref);
    g_assert_cmpint(g_get_monotonic_time() - start, <, 3 * G_TIME_SPAN_SECOND);

    g_assert_cmpint(kill(daemon, SIGCONT), ==, 0);
    for (i = 0; i < 500 && !ohtProcessGone(pid); i++)
        g_usleep(10 * G_TIME_SPAN_MILLISECOND);
    g_assert_true(ohtProcessGone(pid));
}

/* ---- the exec'd helper, as the daemon runs it ---- */

/*
 * What the daemon's virCommand does, in small: fork, become the user
 * (groups, gid, uid: @asRoot stays root, to see the helper refuse),
 * keep the two channels as fds 3 and 4, exec the helper program.
 */
static virOpenHookOpener *
ohtSpawn(bool asRoot,
         char **errmsg)
{
    int ctrl[2] = { -1, -1 };
    int async[2] = { -1, -1 };
    pid_t pid;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, ctrl), ==, 0);
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, async), ==, 0);

    if ((pid = fork()) == 0) {
        char *argv[] = { fx.helper, (char *)"3", (char *)"4", NULL };
        char *envp[] = { NULL };

        if (dup2(ctrl[1], 3) < 0 || dup2(async[1], 4) < 0)
            _exit(126);
        if (!asRoot &&
            (setgroups(0, NULL) < 0 ||
             setresgid(fx.gid, fx.gid, fx.gid) < 0 ||
             setresuid(fx.uid, fx.uid, fx.uid) < 0))
            _exit(126);
        execve(fx.helper, argv, envp);
        _exit(127);
    }
    g_assert_cmpint(pid, >, 0);
    virOpenHookCloseFD(&ctrl[1]);
    virOpenHookCloseFD(&async[1]);
    return virOpenHookOpenerAdopt(pid, ctrl[0], async[0],
                                  asRoot ? 0 : fx.uid, asRoot ? 0 : fx.gid,
                                  errmsg);
}


/*
 * A helper QEMU's user can read is dumpable from exec on: a QEMU could
 * attach to it before it makes itself non-dumpable, and have a process
 * of its uid outside its sandbox.  It refuses to serve.  One installed
 * mode 0711 cannot even be looked at by the user.
 */
static void
testExecTraceable(void)
{
    g_autofree char *errmsg = NULL;
    virOpenHookOpener *op;
    g_autofree char *cmd = NULL;

    if (ohtSkipped())
        return;

    g_assert_cmpint(chmod(fx.helper, 0755), ==, 0);
    op = ohtSpawn(false, &errmsg);
    g_assert_cmpint(chmod(fx.helper, 0711), ==, 0);
    g_assert_null(op);
    g_assert_nonnull(errmsg);
    g_assert_nonnull(strstr(errmsg, "mode 0711"));

    g_clear_pointer(&errmsg, g_free);
    if (!(op = ohtSpawn(false, &errmsg)))
        g_error("%s", errmsg);
    cmd = g_strdup_printf("cat /proc/%lld/environ",
                          (long long)virOpenHookOpenerGetPid(op));
    g_assert_false(ohtRunAs(cmd));
    virOpenHookOpenerUnref(op);
}


static virOpenHookOpener *
ohtSpawnUser(void)
{
    g_autofree char *errmsg = NULL;
    virOpenHookOpener *op = ohtSpawn(false, &errmsg);

    if (!op)
        g_error("%s", errmsg);
    return op;
}


/* The helper refuses to be root: a start that forgot to drop
 * privileges fails, it does not serve. */
static void
testExecRefusesRoot(void)
{
    g_autofree char *errmsg = NULL;
    virOpenHookOpener *op;

    if (ohtSkipped())
        return;
    op = ohtSpawn(true, &errmsg);
    g_assert_null(op);
    g_assert_nonnull(errmsg);
    g_assert_nonnull(strstr(errmsg, "did not start"));
    g_assert_nonnull(strstr(errmsg, g_strerror(EPERM)));
}


/* Whether @pid's memory holds @needle (read as root, by ptrace rights) */
static bool
ohtMemoryContains(pid_t pid,
                  const char *needle)
{
    g_autofree char *mapsPath = g_strdup_printf("/proc/%lld/maps", (long long)pid);
    g_autofree char *memPath = g_strdup_printf("/proc/%lld/mem", (long long)pid);
    g_autofree char *maps = NULL;
    g_auto(GStrv) lines = NULL;
    size_t nlen = strlen(needle);
    bool found = false;
    size_t i;
    int fd;

    g_assert_true(g_file_get_contents(mapsPath, &maps, NULL, NULL));
    g_assert_cmpint((fd = open(memPath, O_RDONLY)), >=, 0);
    lines = g_strsplit(maps, "\n", -1);
    for (i = 0; lines[i] && !found; i++) {
        unsigned long long start;
        unsigned long long end;
        char perms[5];
        g_autofree char *buf = NULL;
        ssize_t n;

        if (sscanf(lines[i], "%llx-%llx %4s", &start, &end, perms) != 3 ||
            perms[0] != 'r' || strstr(lines[i], "[vvar]") ||
            end - start > 256 * 1024 * 1024ULL)
            continue;
        buf = g_malloc(end - start);
        if ((n = pread(fd, buf, end - start, start)) <= 0)
            continue;
        found = !!memmem(buf, n, needle, nlen);
    }
    virOpenHookCloseFD(&fd);
    return found;
}


/* The exec'd helper is exactly the user: ids, no groups, no
 * capabilities, no_new_privs, not dumpable; it is the helper program,
 * and holds nothing of the process that started it (a secret planted
 * in its memory before the start). A forked opener holds the secret:
 * that is what the exec is for. */
static void
testExecProcess(void)
{
    g_autofree char *status = NULL;
    g_autofree char *path = NULL;
    g_autofree char *expect = NULL;
    g_autofree char *exe = NULL;
    g_autofree char *secret = NULL;
    virOpenHookOpener *op;
    virOpenHookOpener *forked;
    pid_t pid;

    if (ohtSkipped())
        return;

    /* on the heap, built at run time: not in the binary's image */
    secret = g_strdup_printf("openhook-secret-%08x%08x",
                             g_random_int(), g_random_int());

    op = ohtSpawnUser();
    pid = virOpenHookOpenerGetPid(op);
    g_assert_true(virOpenHookOpenerIsAlive(op));

    path = g_strdup_printf("/proc/%lld/status", (long long)pid);
    g_assert_true(g_file_get_contents(path, &status, NULL, NULL));
    expect = g_strdup_printf("Uid:\t%u\t%u\t%u\t%u\n", fx.uid, fx.uid, fx.uid, fx.uid);
    g_assert_nonnull(strstr(status, expect));
    g_clear_pointer(&expect, g_free);
    expect = g_strdup_printf("Gid:\t%u\t%u\t%u\t%u\n", fx.gid, fx.gid, fx.gid, fx.gid);
    g_assert_nonnull(strstr(status, expect));
    g_assert_true(g_regex_match_simple("\nGroups:\\s*\n", status, 0, 0));
    g_assert_nonnull(strstr(status, "\nCapEff:\t0000000000000000\n"));
    g_assert_nonnull(strstr(status, "\nCapPrm:\t0000000000000000\n"));
    g_assert_nonnull(strstr(status, "\nNoNewPrivs:\t1\n"));

    g_clear_pointer(&path, g_free);
    path = g_strdup_printf("/proc/%lld/exe", (long long)pid);
    exe = g_file_read_link(path, NULL);
    g_assert_cmpstr(exe, ==, fx.helper);

    /* not dumpable: /proc/PID/mem and ptrace are root's only */
    g_clear_pointer(&path, g_free);
    path = g_strdup_printf("/proc/%lld/environ", (long long)pid);
    g_assert_true(ohtRunAsf("! cat %s >/dev/null 2>&1", path));

    g_assert_false(ohtMemoryContains(pid, secret));
    g_assert_true(ohtMemoryContains(getpid(), secret));

    /* the control: fork without exec copies the secret */
    forked = ohtOpenerNew();
    g_assert_true(ohtMemoryContains(virOpenHookOpenerGetPid(forked), secret));
    virOpenHookOpenerUnref(forked);

    virOpenHookOpenerUnref(op);
    g_assert_cmpint(waitpid(pid, NULL, WNOHANG), ==, -1);
    g_assert_cmpint(errno, ==, ECHILD);
    g_assert_true(ohtProcessGone(pid));
}


typedef struct {
    unsigned int starts;
    pid_t last;
} ohtStarter;


static virOpenHookOpener *
ohtStart(void *opaque,
         char **errmsg)
{
    ohtStarter *st = opaque;
    virOpenHookOpener *op = ohtSpawn(false, errmsg);

    st->starts++;
    if (op)
        st->last = virOpenHookOpenerGetPid(op);
    return op;
}


/* Whether a process of the user runs the helper program */
static unsigned int
ohtCountHelpers(void)
{
    g_autofree char *cmd = g_strdup_printf("pgrep -c -u %s -f '^%s '",
                                           QEMU_USER, fx.helper);
    g_autofree char *out = NULL;

    g_assert_true(g_spawn_command_line_sync(cmd, &out, NULL, NULL, NULL));
    return g_ascii_strtoull(out, NULL, 10);
}


/* No helper until one is needed: allowing local files (root can)
 * starts none, the first file on storage that refuses root starts one,
 * and the next ones reuse it. */
static void
testLazyStart(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *img2 = ohtUserPath(fx.mnt, "img2");
    g_autofree char *local = g_build_filename(fx.top, "local", NULL);
    ohtStarter st = { 0 };

    if (ohtSkipped())
        return;
    ohtUserFile("img", "image");
    ohtUserFile("img2", "image2");
    g_assert_true(g_file_set_contents(local, "local", -1, NULL));

    virOpenHookWhitelistSetOpenerStart(wl, ohtStart, &st, NULL);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, local, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    g_assert_cmpuint(st.starts, ==, 0);
    g_assert_cmpuint(ohtCountHelpers(), ==, 0);

    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb", NULL), ==, 0);
    g_assert_cmpuint(st.starts, ==, 1);
    g_assert_cmpuint(ohtCountHelpers(), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img2, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdc", NULL), ==, 0);
    g_assert_cmpuint(st.starts, ==, 1);

    virOpenHookWhitelistSetOpener(wl, NULL);
    g_assert_cmpuint(ohtCountHelpers(), ==, 0);
}


/* Whether @pid is gone or a zombie (killed, not reaped yet), within
 * half a second (SIGKILL is delivered asynchronously) */
static bool
ohtProcessDead(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%lld/stat", (long long)pid);
    int i;

    for (i = 0; i < 50; i++) {
        g_autofree char *stat = NULL;
        const char *p;

        if (!g_file_get_contents(path, &stat, NULL, NULL))
            return true;
        if ((p = strrchr(stat, ')')) && p[1] == ' ' && p[2] == 'Z')
            return true;
        g_usleep(10 * G_TIME_SPAN_MILLISECOND);
    }
    return false;
}


/* QEMU's user stops the helper. A request waiting for it is denied
 * within the deadline, the helper is killed, and the next need starts
 * a new one that serves: through the broker (event thread) and through
 * Add() (a job), and nothing waits longer. */
static void
testStoppedHelper(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    g_autofree char *img2 = ohtUserPath(fx.mnt, "img2");
    g_autofree char *errmsg = NULL;
    ohtStarter st = { 0 };
    virOpenHookClient *client;
    ohtEvents *ev;
    ohtBroker *b;
    uint64_t handle;
    gint64 start;
    gint64 took;
    pid_t first;
    pid_t second;
    int fd;

    if (ohtSkipped())
        return;
    ohtUserFile("img", "image");
    ohtUserFile("img2", "image2");
    ev = ohtEventsNew(wl);
    virOpenHookWhitelistSetOpenerStart(wl, ohtStart, &st, NULL);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    first = st.last;
    client = ohtClientStart(wl, &b);

    /* the broker's request: denied at the deadline, helper killed */
    g_assert_cmpint(kill(first, SIGSTOP), ==, 0);
    start = g_get_monotonic_time();
    g_assert_cmpint(virOpenHookClientOpen(client, img, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    took = g_get_monotonic_time() - start;
    g_assert_cmpint(took, >=, (VIR_OPENHOOK_OPENER_TIMEOUT_MS - 100) * 1000LL);
    g_assert_cmpint(took, <, (VIR_OPENHOOK_OPENER_TIMEOUT_MS + 1500) * 1000LL);
    g_assert_true(ohtEventsContain(ev, "opener: "));
    g_assert_true(ohtProcessDead(first));

    /* the next request gets a new helper, which serves it */
    fd = virOpenHookClientOpen(client, img, O_RDONLY | O_CLOEXEC, 0, &handle);
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpuint(st.starts, ==, 2);
    second = st.last;
    g_assert_cmpint(second, !=, first);
    g_assert_true(ohtProcessGone(first));

    /* a job's Add(): the same */
    g_assert_cmpint(kill(second, SIGSTOP), ==, 0);
    start = g_get_monotonic_time();
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img2, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb", &errmsg), ==, -ETIMEDOUT);
    took = g_get_monotonic_time() - start;
    g_assert_cmpint(took, <, (VIR_OPENHOOK_OPENER_TIMEOUT_MS + 1500) * 1000LL);
    g_assert_true(ohtProcessDead(second));
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img2, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb", NULL), ==, 0);
    g_assert_cmpuint(st.starts, ==, 3);
    g_assert_true(ohtProcessGone(second));

    /* one stopped before it said it was ready: the start gives up */
    virOpenHookClientFree(client);
    ohtBrokerStop(b);
    virOpenHookWhitelistSetEventCallback(wl, NULL, NULL);
    ohtEventsFree(ev);
    virOpenHookWhitelistSetOpener(wl, NULL);
    g_assert_cmpuint(ohtCountHelpers(), ==, 0);
}


/* A symlink planted by QEMU's user on its storage, pointing out of it to
 * a file root can reach: the opener follows it (as QEMU would), but the
 * name it gives back is refused, or root would open that file for QEMU. */
static void
testOpenerEscape(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autoptr(virOpenHookOpener) op = NULL;
    g_autofree char *pub = g_build_filename(fx.top, "root-file", NULL);
    g_autofree char *escape = ohtUserPath(fx.mnt, "escape");
    g_autofree char *errmsg = NULL;
    virOpenHookEntryInfo info = { 0 };
    virOpenHookClient *client;
    ohtBroker *b;
    uint64_t handle;

    if (ohtSkipped())
        return;
    g_assert_true(g_file_set_contents(pub, "root's", -1, NULL));
    g_assert_cmpint(chmod(pub, 0644), ==, 0);
    g_assert_true(ohtRunAsf("ln -sfn %s %s", pub, escape));

    op = ohtSpawnUser();
    virOpenHookWhitelistSetOpener(wl, op);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, escape, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", &errmsg), ==, -EPERM);
    g_assert_nonnull(strstr(errmsg, "root can reach"));
    g_assert_cmpint(virOpenHookWhitelistGetInfo(wl, pub, &info), <, 0);
    virOpenHookEntryInfoClear(&info);

    client = ohtClientStart(wl, &b);
    g_assert_cmpint(virOpenHookClientOpen(client, pub, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    g_assert_cmpint(virOpenHookClientOpen(client, escape, O_RDONLY, 0, &handle),
                    ==, -EACCES);
    virOpenHookClientFree(client);
    ohtBrokerStop(b);
}


typedef struct {
    ohtStarter st;
    virOpenHookWhitelist *wl;
    const char *remove;
} ohtRemovingStarter;


/* Starts the helper after removing the entry of @remove, as libvirt
 * may (a block job ends) while a request waits for the helper */
static virOpenHookOpener *
ohtStartRemoving(void *opaque,
                 char **errmsg)
{
    ohtRemovingStarter *rs = opaque;

    if (rs->remove) {
        g_assert_cmpint(virOpenHookWhitelistRemove(rs->wl, rs->remove, 0), ==, 0);
        rs->remove = NULL;
    }
    return ohtStart(&rs->st, errmsg);
}


/* The helper truncates only for a request whose entry still allows
 * it: an entry removed after the lookup, before the helper runs, is not
 * truncated through it (the name is not looked up again, where another
 * file or nothing may be listed by now). */
static void
testTruncateRemoved(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("g");
    g_autofree char *img = ohtUserPath(fx.mnt, "img");
    ohtRemovingStarter rs = { .wl = wl };
    uint64_t handle;
    pid_t first;

    if (ohtSkipped())
        return;
    ohtUserFile("img", "image");

    virOpenHookWhitelistSetOpenerStart(wl, ohtStartRemoving, &rs, NULL);
    g_assert_cmpint(virOpenHookWhitelistAdd(wl, img, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, "vda",
                                            NULL), ==, 0);
    g_assert_cmpuint(rs.st.starts, ==, 1);
    first = rs.st.last;

    /* the helper is gone: the next request starts another one, and the
     * entry goes meanwhile */
    g_assert_cmpint(kill(first, SIGKILL), ==, 0);
    g_assert_true(ohtProcessDead(first));
    rs.remove = img;
    g_assert_cmpint(ohtBrokerOpen(wl, img, O_RDWR | O_TRUNC | O_CLOEXEC,
                                  &handle), ==, -EACCES);
    g_assert_cmpuint(rs.st.starts, ==, 2);
    g_assert_null(rs.remove);
    g_assert_true(ohtRunAsf("test -s %s", img));

    virOpenHookWhitelistSetOpener(wl, NULL);
}


int
main(int argc,
     char **argv)
{
    int ret;

    g_test_init(&argc, &argv, NULL);
    ohtSetUp();

    g_test_add_func("/opener/root-refused", testRootRefused);
    g_test_add_func("/opener/process", testOpenerProcess);
    g_test_add_func("/opener/grant", testGrant);
    g_test_add_func("/opener/write-truncate", testWriteTruncate);
    g_test_add_func("/opener/policy", testPolicy);
    g_test_add_func("/opener/non-blocking", testNonBlocking);
    g_test_add_func("/opener/death", testOpenerDeath);
    g_test_add_func("/opener/hangup-while-waiting", testHangupWhileWaiting);
    g_test_add_func("/opener/stuck-daemon", testStuckDaemon);
    g_test_add_func("/opener/exec/refuses-root", testExecRefusesRoot);
    g_test_add_func("/opener/exec/traceable", testExecTraceable);
    g_test_add_func("/opener/exec/process", testExecProcess);
    g_test_add_func("/opener/exec/lazy-start", testLazyStart);
    g_test_add_func("/opener/exec/truncate-removed", testTruncateRemoved);
    g_test_add_func("/opener/exec/stopped", testStoppedHelper);
    g_test_add_func("/opener/exec/escape", testOpenerEscape);

    ret = g_test_run();
    ohtTearDown();
    return ret;
}
