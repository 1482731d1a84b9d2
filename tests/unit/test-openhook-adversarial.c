/*
 * test-openhook-adversarial.c: a hostile guest against the broker
 *
 * In the style of Chromium's broker_process_unittest: every test plays
 * the compromised QEMU and checks that it gets nothing it should not.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <glib/gstdio.h>

#include "viropenhookproto.h"
#include "openhook-testutil.h"

typedef struct {
    char *dir;
    char *img;          /* allowed, "hello" */
    char *secret;       /* not allowed, "s3cret" */
    struct stat imgst;
    virOpenHookWhitelist *wl;
    ohtEvents *ev;
} Fixture;


static void
fixtureSetup(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    f->dir = ohtTmpNew();
    f->img = ohtWriteFile(f->dir, "a.img", "hello");
    f->secret = ohtWriteFile(f->dir, "secret", "s3cret");
    g_assert_cmpint(g_stat(f->img, &f->imgst), ==, 0);
    f->wl = virOpenHookWhitelistNew("hostile");
    f->ev = ohtEventsNew(f->wl);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW, 0,
                                            NULL, NULL), ==, 0);
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    virOpenHookWhitelistUnref(f->wl);
    ohtEventsFree(f->ev);
    g_free(f->img);
    g_free(f->secret);
    ohtTmpFree(f->dir);
}


static int
brokerOpen(Fixture *f,
           const char *path,
           int flags)
{
    uint64_t handle;
    int fd = virOpenHookBrokerOpen(f->wl, path, strlen(path), flags, 0600, &handle);

    if (fd >= 0)
        g_assert_cmpint(virOpenHookWhitelistRelease(f->wl, handle, 0), ==, 0);
    return fd;
}


/* Whatever the guest gets must be the allowed inode. */
static void
assertIsImg(Fixture *f,
            int fd)
{
    struct stat st;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpuint(st.st_dev, ==, f->imgst.st_dev);
    g_assert_cmpuint(st.st_ino, ==, f->imgst.st_ino);
    virOpenHookCloseFD(&fd);
}


static void
testDotDot(Fixture *f,
           gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *up = g_strdup_printf("%s/../../../../etc/passwd", f->dir);
    g_autofree char *via = g_strdup_printf("%s/../%s/a.img", f->dir,
                                           strrchr(f->dir, '/') + 1);
    g_autofree char *slashes = g_strdup_printf("%s//./a.img/", f->dir);
    g_autofree char *sec = g_strdup_printf("%s/a.img/../secret", f->dir);

    g_assert_cmpint(brokerOpen(f, up, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, sec, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, "/../../etc/shadow", O_RDONLY), ==, -EACCES);
    /* Lexically equal spellings map to the entry, and the fd is it. */
    assertIsImg(f, brokerOpen(f, via, O_RDONLY));
    assertIsImg(f, brokerOpen(f, slashes, O_RDONLY));
}


static void
testRelativeAndOverlong(Fixture *f,
                        gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *big = g_malloc(VIR_OPENHOOK_MAX_PATH + 2);
    uint64_t handle;

    g_assert_cmpint(brokerOpen(f, "a.img", O_RDONLY), ==, -EINVAL);
    g_assert_cmpint(brokerOpen(f, "../etc/passwd", O_RDONLY), ==, -EINVAL);
    g_assert_cmpint(brokerOpen(f, "", O_RDONLY), ==, -EINVAL);
    memset(big, '/', VIR_OPENHOOK_MAX_PATH + 1);
    g_assert_cmpint(virOpenHookBrokerOpen(f->wl, big, VIR_OPENHOOK_MAX_PATH + 1, O_RDONLY, 0,
                                          &handle), ==, -EINVAL);
    g_assert_cmpint(virOpenHookBrokerOpen(f->wl, "/a\0b", 4, O_RDONLY, 0, &handle), ==, -EINVAL);
}


/* A symlink anywhere on the path: the broker opens the name it
 * resolved itself with RESOLVE_NO_SYMLINKS, so a symlink put there
 * later is refused rather than followed. */
static void
testSymlinkComponents(Fixture *f,
                      gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *sub = g_build_filename(f->dir, "sub", NULL);
    g_autofree char *subimg = NULL;
    g_autofree char *moved = g_build_filename(f->dir, "moved", NULL);
    g_autofree char *evil = g_build_filename(f->dir, "evil", NULL);
    g_autofree char *evilimg = g_build_filename(evil, "b.img", NULL);

    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    subimg = ohtWriteFile(sub, "b.img", "sub");
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, subimg, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(g_mkdir(evil, 0700), ==, 0);
    g_assert_cmpint(symlink(f->secret, evilimg), ==, 0);

    /* Replace the directory component by a symlink to a directory
     * whose b.img is a symlink to the secret. */
    g_assert_cmpint(g_rename(sub, moved), ==, 0);
    g_assert_cmpint(symlink(evil, sub), ==, 0);
    g_assert_cmpint(brokerOpen(f, subimg, O_RDONLY), ==, -EACCES);

    /* Final component a symlink to the secret. */
    g_assert_cmpint(g_unlink(f->img), ==, 0);
    g_assert_cmpint(symlink(f->secret, f->img), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_SYMLINK), ==, 2);
}


static void
testMagicLinks(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    int secretfd = open(f->secret, O_RDONLY | O_CLOEXEC);
    g_autofree char *fdpath = g_strdup_printf("/proc/self/fd/%d", secretfd);
    g_autofree char *rootpath = g_strdup_printf("/proc/self/root%s", f->img);
    g_autofree char *cwdpath = g_strdup_printf("/proc/%d/cwd/x", getpid());

    /* Unlisted: refused outright. */
    g_assert_cmpint(brokerOpen(f, fdpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, rootpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, cwdpath, O_RDONLY), ==, -EACCES);

    /* Even permissive mode never follows a magic link. */
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(brokerOpen(f, fdpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, rootpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_SYMLINK), ==, 2);

    /* An allowed entry replaced by a symlink to a magic link. */
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);
    g_assert_cmpint(g_unlink(f->img), ==, 0);
    g_assert_cmpint(symlink(fdpath, f->img), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), ==, -EACCES);
    virOpenHookCloseFD(&secretfd);
}


/* A hard link is the same inode under another name: not listed by
 * that name; and a hard link of another file planted at the listed
 * name has the wrong identity. */
static void
testHardLinks(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *alias = g_build_filename(f->dir, "alias.img", NULL);
    g_autofree char *tmp = g_build_filename(f->dir, "tmp", NULL);

    g_assert_cmpint(link(f->img, alias), ==, 0);
    g_assert_cmpint(brokerOpen(f, alias, O_RDONLY), ==, -EACCES);

    g_assert_cmpint(link(f->secret, tmp), ==, 0);
    g_assert_cmpint(g_rename(tmp, f->img), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_IDENTITY), ==, 2);
}


/* A bind mount over the allowed path (root only; skipped if the
 * sandbox forbids mounting). */
static void
testBindMount(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    if (mount(f->secret, f->img, NULL, MS_BIND, NULL) < 0) {
        g_test_skip("bind mount not permitted here");
        return;
    }
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(umount2(f->img, MNT_DETACH), ==, 0);
    assertIsImg(f, brokerOpen(f, f->img, O_RDONLY));
}


static void
testSpecialFiles(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *fifo = g_build_filename(f->dir, "fifo", NULL);
    g_autofree char *sockpath = g_build_filename(f->dir, "sock", NULL);
    g_autofree char *chr = g_build_filename(f->dir, "null", NULL);
    g_autofree char *subdir = g_build_filename(f->dir, "d", NULL);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const char *targets[4];
    size_t i;

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_strlcpy(addr.sun_path, sockpath, sizeof(addr.sun_path));
    g_assert_cmpint(bind(s, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    targets[0] = fifo;
    targets[1] = sockpath;
    g_assert_cmpint(g_mkdir(subdir, 0700), ==, 0);
    targets[2] = subdir;
    targets[3] = NULL;
    if (mknod(chr, S_IFCHR | 0600, makedev(1, 3)) == 0)
        targets[3] = chr;

    /* Each special file is planted at the allowed name (as a guest with
     * write access to the image directory could), and also reached in
     * permissive mode by its own name. Nothing blocks, nothing is
     * handed out. */
    for (i = 0; i < G_N_ELEMENTS(targets) && targets[i]; i++) {
        g_autofree char *moved = g_strdup_printf("%s.moved", f->img);

        virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
        g_assert_cmpint(brokerOpen(f, targets[i], O_RDONLY), <, 0);
        g_assert_cmpint(brokerOpen(f, targets[i], O_RDWR), <, 0);
        virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);

        g_assert_cmpint(g_rename(f->img, moved), ==, 0);
        g_assert_cmpint(g_rename(targets[i], f->img), ==, 0);
        g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), <, 0);
        g_assert_cmpint(brokerOpen(f, f->img, O_RDWR), <, 0);
        g_assert_cmpint(g_rename(f->img, targets[i]), ==, 0);
        g_assert_cmpint(g_rename(moved, f->img), ==, 0);
    }
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN, VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
    virOpenHookCloseFD(&s);
}


typedef struct {
    Fixture *f;
    volatile gint stop;
    unsigned long swaps;
} RaceData;


/* Cycle the allowed name through: the real file, a symlink to the
 * secret, a hard link of the secret, a symlink to the real file. */
static gpointer
raceThread(gpointer opaque)
{
    RaceData *rd = opaque;
    g_autofree char *real = g_build_filename(rd->f->dir, "real", NULL);
    g_autofree char *tmp = g_build_filename(rd->f->dir, "tmp", NULL);

    g_assert_cmpint(link(rd->f->img, real), ==, 0);
    while (!g_atomic_int_get(&rd->stop)) {
        /* rename() between two links of one inode is a no-op that
         * leaves tmp behind. */
        g_unlink(tmp);
        switch (rd->swaps++ % 4) {
        case 0:
            g_assert_cmpint(link(real, tmp), ==, 0);
            break;
        case 1:
            g_assert_cmpint(symlink(rd->f->secret, tmp), ==, 0);
            break;
        case 2:
            g_assert_cmpint(link(rd->f->secret, tmp), ==, 0);
            break;
        case 3:
            g_assert_cmpint(symlink(real, tmp), ==, 0);
            break;
        }
        g_assert_cmpint(g_rename(tmp, rd->f->img), ==, 0);
    }
    return NULL;
}


static void
testSymlinkRace(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    const char *env = g_getenv("OPENHOOK_RACE_ITERATIONS");
    unsigned long iterations = env ? g_ascii_strtoull(env, NULL, 10) : 100000;
    RaceData rd = { .f = f };
    unsigned long granted = 0;
    unsigned long wrong = 0;
    unsigned long i;
    GThread *th;

    /* Count events instead of keeping 100k formatted lines. */
    virOpenHookWhitelistSetEventCallback(f->wl, NULL, NULL);
    th = g_thread_new("race", raceThread, &rd);
    for (i = 0; i < iterations; i++) {
        uint64_t handle;
        int fd = virOpenHookBrokerOpen(f->wl, f->img, strlen(f->img),
                                       i % 2 ? O_RDWR : O_RDONLY, 0, &handle);
        struct stat st;

        if (fd < 0)
            continue;
        granted++;
        g_assert_cmpint(fstat(fd, &st), ==, 0);
        if (st.st_dev != f->imgst.st_dev || st.st_ino != f->imgst.st_ino)
            wrong++;
        virOpenHookCloseFD(&fd);
        virOpenHookWhitelistRelease(f->wl, handle, 0);
    }
    g_atomic_int_set(&rd.stop, 1);
    g_thread_join(th);

    if (g_test_verbose())
        g_printerr("# %lu iterations, %lu swaps, %lu granted, %lu wrong\n",
                   iterations, rd.swaps, granted, wrong);
    g_assert_cmpuint(wrong, ==, 0);
    /* Both outcomes happened, so the race was real. */
    g_assert_cmpuint(granted, >, 0);
    g_assert_cmpuint(granted, <, iterations);
    g_assert_cmpuint(rd.swaps, >, 1000);
}


/* The broker itself out of descriptors: an error reply, no crash, no
 * leak, and service resumes when descriptors are back. */
static void
testFdExhaustion(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    struct rlimit old;
    struct rlimit low;
    GPtrArray *hog = g_ptr_array_new();
    unsigned int before = ohtCountFDs();
    int fd;
    size_t i;

    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &old), ==, 0);
    low = old;
    low.rlim_cur = before + 8;
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &low), ==, 0);
    while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        g_ptr_array_add(hog, GINT_TO_POINTER(fd));

    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY), ==, -EMFILE);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);

    for (i = 0; i < hog->len; i++) {
        fd = GPOINTER_TO_INT(g_ptr_array_index(hog, i));
        virOpenHookCloseFD(&fd);
    }
    g_ptr_array_unref(hog);
    g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &old), ==, 0);
    assertIsImg(f, brokerOpen(f, f->img, O_RDONLY));
    g_assert_cmpuint(ohtCountFDs(), ==, before);
}


/* Flood of requests over the socket from a hostile client that holds
 * every fd and never closes: it hits its own cap, the broker is fine. */
static void
testHoarder(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(virOpenHookClient) client = NULL;
    GPtrArray *fds = g_ptr_array_new();
    ohtBroker *b;
    uint64_t handle;
    int fd;
    size_t i;

    virOpenHookWhitelistSetMaxFds(f->wl, 32);
    client = ohtClientStart(f->wl, &b);
    while ((fd = virOpenHookClientOpen(client, f->img, O_RDONLY, 0, &handle)) >= 0)
        g_ptr_array_add(fds, GINT_TO_POINTER(fd));
    g_assert_cmpint(fd, ==, -EMFILE);
    g_assert_cmpuint(fds->len, ==, 32);
    g_assert_false(virOpenHookClientIsDead(client));

    /* libvirt revokes the image; the hoard does not keep it granting. */
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, 0);
    for (i = 0; i < fds->len; i++) {
        fd = GPOINTER_TO_INT(g_ptr_array_index(fds, i));
        virOpenHookCloseFD(&fd);
    }
    g_ptr_array_unref(fds);
    g_assert_cmpint(virOpenHookClientOpen(client, f->img, O_RDONLY, 0, &handle), ==, -EACCES);
    ohtBrokerStop(b);
    /* The guest died: its fds are gone, the entry drains. */
    virOpenHookWhitelistReleaseAll(f->wl);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/adversarial/" name, Fixture, NULL, fixtureSetup, fn, fixtureTeardown)
    ADD("dotdot", testDotDot);
    ADD("relative-overlong-nul", testRelativeAndOverlong);
    ADD("symlink-components", testSymlinkComponents);
    ADD("magic-links", testMagicLinks);
    ADD("hard-links", testHardLinks);
    ADD("bind-mount", testBindMount);
    ADD("special-files", testSpecialFiles);
    ADD("symlink-race", testSymlinkRace);
    ADD("fd-exhaustion", testFdExhaustion);
    ADD("hoarder", testHoarder);
    return g_test_run();
}
