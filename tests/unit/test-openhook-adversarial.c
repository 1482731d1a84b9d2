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

    /* Permissive mode never opens /proc for a path outside the
     * whitelist (test-openhook-permissive.c has the opener's side). */
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(brokerOpen(f, fdpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, rootpath, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);

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
    volatile gint swaps;
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
        switch (g_atomic_int_add(&rd->swaps, 1) % 4) {
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
    /* On a loaded machine the racer may get little CPU: keep opening
     * (up to 10 times as long) until it has swapped enough */
    for (i = 0;
         i < iterations ||
         (g_atomic_int_get(&rd.swaps) <= 1000 && i < 10 * iterations);
         i++) {
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
        g_printerr("# %lu iterations, %d swaps, %lu granted, %lu wrong\n",
                   i, rd.swaps, granted, wrong);
    g_assert_cmpuint(wrong, ==, 0);
    /* Both outcomes happened, so the race was real. */
    g_assert_cmpuint(granted, >, 0);
    g_assert_cmpuint(granted, <, i);
    g_assert_cmpint(rd.swaps, >, 1000);
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
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, 0);
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


/* Directory grants. @f->dir/g is listed; g/in.img is inside, the
 * secret outside, g2/x.img beside it. */
typedef struct {
    char *d;
    char *in;
    struct stat inst;
    char *sub;
} DirLayout;


static void
dirLayoutInit(Fixture *f,
              DirLayout *l,
              virOpenHookAccess access)
{
    g_autofree char *d2 = g_build_filename(f->dir, "g2", NULL);
    g_autofree char *x = NULL;

    l->d = g_build_filename(f->dir, "g", NULL);
    l->sub = g_build_filename(l->d, "sub", NULL);
    g_assert_cmpint(g_mkdir(l->d, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(l->sub, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(d2, 0700), ==, 0);
    l->in = ohtWriteFile(l->d, "in.img", "inside");
    x = ohtWriteFile(d2, "x.img", "x");
    g_assert_cmpint(g_stat(l->in, &l->inst), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, l->d, access, "openhook",
                                               NULL), ==, 0);
}


static void
dirLayoutClear(DirLayout *l)
{
    g_free(l->d);
    g_free(l->in);
    g_free(l->sub);
}


G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DirLayout, dirLayoutClear);


/* What a granted fd must never be. */
static void
assertNotSecret(Fixture *f,
                int fd)
{
    struct stat st;
    struct stat secst;

    if (fd < 0)
        return;
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(g_stat(f->secret, &secst), ==, 0);
    g_assert_false(st.st_dev == secst.st_dev && st.st_ino == secst.st_ino);
}


static void
assertIsInode(int fd,
              const struct stat *want)
{
    struct stat st;

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpuint(st.st_dev, ==, want->st_dev);
    g_assert_cmpuint(st.st_ino, ==, want->st_ino);
    virOpenHookCloseFD(&fd);
}


/* ".." is removed lexically before the lookup: what climbs out of the
 * directory is looked up outside it, and is not listed. */
static void
testDirDotDot(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *up = NULL;
    g_autofree char *deep = NULL;
    g_autofree char *back = NULL;
    g_autofree char *twice = NULL;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    up = g_strdup_printf("%s/../secret", l.d);
    deep = g_strdup_printf("%s/sub/../../secret", l.d);
    back = g_strdup_printf("%s/../g/in.img", l.d);
    twice = g_strdup_printf("%s/sub/..//./in.img", l.d);

    g_assert_cmpint(brokerOpen(f, up, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, deep, O_RDWR), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 2);
    assertIsInode(brokerOpen(f, back, O_RDONLY), &l.inst);
    assertIsInode(brokerOpen(f, twice, O_RDONLY), &l.inst);
}


/* Symlinks inside the directory: followed while they stay beneath it,
 * refused (reason escape) as soon as they lead out, absolute or
 * relative, to a file or through the parent directory. */
static void
testDirSymlinks(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *abs = NULL;
    g_autofree char *rel = NULL;
    g_autofree char *parent = NULL;
    g_autofree char *viaParent = NULL;
    g_autofree char *deep = NULL;
    g_autofree char *absIn = NULL;
    g_autofree char *inside = NULL;
    g_autofree char *subdirLink = NULL;
    g_autofree char *viaSubdirLink = NULL;
    g_autofree char *dangling = NULL;
    g_autofree char *created = NULL;
    const int modes[] = { O_RDONLY, O_RDWR, O_RDWR | O_CREAT, O_WRONLY | O_TRUNC };
    size_t i;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    abs = g_build_filename(l.d, "abs.img", NULL);
    rel = g_build_filename(l.d, "rel.img", NULL);
    parent = g_build_filename(l.d, "up", NULL);
    viaParent = g_build_filename(parent, "secret", NULL);
    deep = g_build_filename(l.sub, "deep.img", NULL);
    absIn = g_build_filename(l.d, "abs-in.img", NULL);
    inside = g_build_filename(l.sub, "inside.img", NULL);
    subdirLink = g_build_filename(l.d, "sublink", NULL);
    viaSubdirLink = g_build_filename(subdirLink, "inside.img", NULL);
    dangling = g_build_filename(l.d, "dangling.img", NULL);
    created = g_build_filename(f->dir, "created.img", NULL);

    g_assert_cmpint(symlink(f->secret, abs), ==, 0);
    g_assert_cmpint(symlink("../secret", rel), ==, 0);
    g_assert_cmpint(symlink("..", parent), ==, 0);
    g_assert_cmpint(symlink("../../secret", deep), ==, 0);
    g_assert_cmpint(symlink(l.in, absIn), ==, 0);
    g_assert_cmpint(symlink("../in.img", inside), ==, 0);
    g_assert_cmpint(symlink("sub", subdirLink), ==, 0);
    g_assert_cmpint(symlink("../created.img", dangling), ==, 0);

    for (i = 0; i < G_N_ELEMENTS(modes); i++) {
        g_assert_cmpint(brokerOpen(f, abs, modes[i]), ==, -EACCES);
        g_assert_cmpint(brokerOpen(f, rel, modes[i]), ==, -EACCES);
        g_assert_cmpint(brokerOpen(f, viaParent, modes[i]), ==, -EACCES);
        g_assert_cmpint(brokerOpen(f, deep, modes[i]), ==, -EACCES);
        /* absolute symlinks are refused even when they point inside */
        g_assert_cmpint(brokerOpen(f, absIn, modes[i]), ==, -EACCES);
    }
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_ESCAPE), ==,
                     5 * G_N_ELEMENTS(modes));

    /* A dangling symlink out of the directory creates nothing. */
    g_assert_cmpint(brokerOpen(f, dangling, O_RDWR | O_CREAT), ==, -EACCES);
    g_assert_cmpint(g_access(created, F_OK), !=, 0);

    /* The secret is untouched. */
    {
        g_autofree char *content = NULL;

        g_assert_true(g_file_get_contents(f->secret, &content, NULL, NULL));
        g_assert_cmpstr(content, ==, "s3cret");
    }

    /* Relative symlinks that stay beneath are followed. */
    assertIsInode(brokerOpen(f, inside, O_RDONLY), &l.inst);
    assertIsInode(brokerOpen(f, viaSubdirLink, O_RDWR), &l.inst);
    /* ...but not with O_NOFOLLOW on the last one */
    g_assert_cmpint(brokerOpen(f, inside, O_RDONLY | O_NOFOLLOW), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_SYMLINK), ==, 1);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 2);
}


/* The hard link RESOLVE_BENEATH cannot see: a link of an outside file
 * planted in the directory. Never granted, never truncated. */
static void
testDirHardLinks(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *planted = NULL;
    g_autofree char *twin = NULL;
    g_autofree char *content = NULL;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    planted = g_build_filename(l.sub, "planted.img", NULL);
    twin = g_build_filename(l.d, "twin.img", NULL);
    g_assert_cmpint(link(f->secret, planted), ==, 0);

    g_assert_cmpint(brokerOpen(f, planted, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, planted, O_RDWR), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, planted, O_RDWR | O_CREAT), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, planted, O_WRONLY | O_TRUNC), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, planted, O_RDWR | O_APPEND), ==, -EACCES);
    g_assert_true(g_file_get_contents(f->secret, &content, NULL, NULL));
    g_assert_cmpstr(content, ==, "s3cret");

    /* A second name inside the directory makes both names unusable:
     * a link count above one says nothing about where the other is. */
    g_assert_cmpint(link(l.in, twin), ==, 0);
    g_assert_cmpint(brokerOpen(f, twin, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, l.in, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_HARD_LINK), ==, 7);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


/* The grant is anchored to the directory libvirt resolved: renaming it
 * and putting a symlink (or another directory) at its name, or doing
 * the same to a parent, does not move the grant. */
static void
testDirReplaced(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *moved = NULL;
    g_autofree char *asked = NULL;
    g_autofree char *top = NULL;
    g_autofree char *decoy = NULL;
    g_autofree char *parentDir = NULL;
    g_autofree char *parentMoved = NULL;
    g_autofree char *evil = NULL;
    int fd;

    top = ohtTmpNew();
    parentDir = g_build_filename(top, "p", NULL);
    g_assert_cmpint(g_mkdir(parentDir, 0700), ==, 0);
    /* l.d = top/p/g */
    l.d = g_build_filename(parentDir, "g", NULL);
    l.sub = g_build_filename(l.d, "sub", NULL);
    g_assert_cmpint(g_mkdir(l.d, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(l.sub, 0700), ==, 0);
    l.in = ohtWriteFile(l.d, "in.img", "inside");
    g_assert_cmpint(g_stat(l.in, &l.inst), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, l.d, VIR_OPENHOOK_ACCESS_RW,
                                               NULL, NULL), ==, 0);

    /* the directory renamed, a symlink to the secret's directory in
     * its place */
    moved = g_build_filename(parentDir, "g.moved", NULL);
    g_assert_cmpint(g_rename(l.d, moved), ==, 0);
    g_assert_cmpint(symlink(f->dir, l.d), ==, 0);
    asked = g_build_filename(l.d, "secret", NULL);
    fd = brokerOpen(f, asked, O_RDONLY);
    assertNotSecret(f, fd);
    g_assert_cmpint(fd, ==, -ENOENT);
    /* creating it creates it in the allowed directory */
    fd = brokerOpen(f, asked, O_RDWR | O_CREAT | O_EXCL);
    g_assert_cmpint(fd, >=, 0);
    assertNotSecret(f, fd);
    virOpenHookCloseFD(&fd);
    {
        g_autofree char *made = g_build_filename(moved, "secret", NULL);

        g_assert_cmpint(g_unlink(made), ==, 0);
    }
    /* the name still leads to the directory that was allowed */
    assertIsInode(brokerOpen(f, l.in, O_RDONLY), &l.inst);

    /* another directory with a "secret" in it at the name */
    g_assert_cmpint(g_unlink(l.d), ==, 0);
    g_assert_cmpint(g_mkdir(l.d, 0700), ==, 0);
    decoy = ohtWriteFile(l.d, "secret", "decoy");
    g_assert_cmpint(brokerOpen(f, asked, O_RDONLY), ==, -ENOENT);
    g_assert_cmpint(g_unlink(decoy), ==, 0);
    g_assert_cmpint(g_rmdir(l.d), ==, 0);

    /* a parent replaced by a symlink to a tree with the same names */
    g_assert_cmpint(g_rename(moved, l.d), ==, 0);
    parentMoved = g_build_filename(top, "p.moved", NULL);
    g_assert_cmpint(g_rename(parentDir, parentMoved), ==, 0);
    evil = g_build_filename(top, "evil", NULL);
    g_assert_cmpint(g_mkdir(evil, 0700), ==, 0);
    {
        g_autofree char *eg = g_build_filename(evil, "g", NULL);

        g_assert_cmpint(symlink(f->dir, eg), ==, 0);
    }
    g_assert_cmpint(symlink(evil, parentDir), ==, 0);
    fd = brokerOpen(f, asked, O_RDONLY);
    assertNotSecret(f, fd);
    g_assert_cmpint(fd, <, 0);
    assertIsInode(brokerOpen(f, l.in, O_RDWR), &l.inst);

    ohtTmpFree(g_steal_pointer(&top));
}


/* /a/dir does not hold /a/dir2/x, nor /a/dirx, nor /a/dir itself. */
static void
testDirPrefix(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *sibling = NULL;
    g_autofree char *glued = NULL;
    g_autofree char *glued2 = NULL;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    sibling = g_build_filename(f->dir, "g2", "x.img", NULL);
    glued = g_strdup_printf("%s2", l.d);
    glued2 = g_strdup_printf("%s.img", l.d);
    g_free(ohtWriteFile(f->dir, "g.img", "g"));

    g_assert_cmpint(brokerOpen(f, sibling, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, glued, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, glued2, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, l.d, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 4);
}


/* Magic links are never followed beneath a directory, in any mode. */
static void
testDirMagicLinks(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    int secretfd = open(f->secret, O_RDONLY | O_CLOEXEC);
    g_autofree char *fdpath = g_strdup_printf("/proc/self/fd/%d", secretfd);
    g_autofree char *rootpath = g_strdup_printf("/proc/self/root%s", f->secret);
    g_autofree char *m1 = NULL;
    g_autofree char *m2 = NULL;
    g_autofree char *m3 = NULL;
    g_autofree char *rel = NULL;
    size_t depth;
    size_t i;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    m1 = g_build_filename(l.d, "fd.img", NULL);
    m2 = g_build_filename(l.d, "root.img", NULL);
    m3 = g_build_filename(l.d, "relproc.img", NULL);
    g_assert_cmpint(symlink(fdpath, m1), ==, 0);
    g_assert_cmpint(symlink(rootpath, m2), ==, 0);
    /* a relative one climbing to /proc: "../" as often as needed */
    for (depth = 0, i = 0; l.d[i]; i++)
        depth += l.d[i] == '/';
    rel = g_strnfill(depth * 3, '.');
    for (i = 0; i < depth; i++)
        rel[i * 3 + 2] = '/';
    {
        g_autofree char *target = g_strdup_printf("%sproc/self/fd/%d", rel, secretfd);

        g_assert_cmpint(symlink(target, m3), ==, 0);
    }

    g_assert_cmpint(brokerOpen(f, m1, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, m2, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, m3, O_RDONLY), ==, -EACCES);

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(brokerOpen(f, m1, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, m2, O_RDONLY), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, m3, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
    virOpenHookCloseFD(&secretfd);
}


/* FIFOs, sockets, devices and directories beneath a directory are never
 * handed out, and none of them blocks the broker. */
static void
testDirSpecialFiles(Fixture *f,
                    gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *fifo = NULL;
    g_autofree char *sockpath = NULL;
    g_autofree char *chr = NULL;
    g_autofree char *blk = NULL;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const char *targets[6];
    size_t n = 0;
    size_t i;
    int mode;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    fifo = g_build_filename(l.d, "fifo", NULL);
    sockpath = g_build_filename(l.d, "sock", NULL);
    chr = g_build_filename(l.d, "null", NULL);
    blk = g_build_filename(l.d, "loop", NULL);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_strlcpy(addr.sun_path, sockpath, sizeof(addr.sun_path));
    g_assert_cmpint(bind(s, (struct sockaddr *)&addr, sizeof(addr)), ==, 0);
    targets[n++] = fifo;
    targets[n++] = sockpath;
    targets[n++] = l.sub;
    if (mknod(chr, S_IFCHR | 0600, makedev(1, 3)) == 0)
        targets[n++] = chr;
    /* a block device: refused beneath a directory, even if it could
     * be listed by name (7, 0 is loop0; never opened for real) */
    if (mknod(blk, S_IFBLK | 0600, makedev(7, 0)) == 0)
        targets[n++] = blk;

    for (mode = 0; mode < 2; mode++) {
        virOpenHookWhitelistSetMode(f->wl, mode ? VIR_OPENHOOK_MODE_PERMISSIVE :
                                                  VIR_OPENHOOK_MODE_ENFORCE);
        for (i = 0; i < n; i++) {
            g_assert_cmpint(brokerOpen(f, targets[i], O_RDONLY), <, 0);
            g_assert_cmpint(brokerOpen(f, targets[i], O_RDWR), <, 0);
            g_assert_cmpint(brokerOpen(f, targets[i], O_RDWR | O_CREAT), <, 0);
        }
    }
    if (g_test_verbose())
        g_printerr("# %zu special files tried\n", n);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN, VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
    virOpenHookCloseFD(&s);
}


/* A mount inside the directory is not part of the grant
 * (RESOLVE_NO_XDEV). Root only; skipped if mounting is not allowed. */
static void
testDirMount(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_auto(DirLayout) l = { 0 };
    g_autofree char *mnt = NULL;
    g_autofree char *asked = NULL;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    mnt = g_build_filename(l.d, "mnt", NULL);
    asked = g_build_filename(mnt, "secret", NULL);
    g_assert_cmpint(g_mkdir(mnt, 0700), ==, 0);
    if (mount(f->dir, mnt, NULL, MS_BIND, NULL) < 0) {
        g_test_skip("bind mount not permitted here");
        return;
    }
    g_assert_cmpint(brokerOpen(f, asked, O_RDONLY), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_ESCAPE), ==, 1);
    g_assert_cmpint(umount2(mnt, MNT_DETACH), ==, 0);
}


typedef struct {
    Fixture *f;
    DirLayout *l;
    char *target;
    volatile gint stop;
    volatile gint swaps;
} DirRaceData;


/* Cycle a name in the directory through: a file of its own, a symlink
 * out, a symlink to the parent's secret through "..", and a symlink to
 * the inside file. RESOLVE_BENEATH decides each open atomically, so the
 * secret must never come out. (Hard links are not in the cycle: a link
 * count can only be observed, not locked; see dir-hard-links and
 * design.rst.) */
static gpointer
dirRaceThread(gpointer opaque)
{
    DirRaceData *rd = opaque;
    g_autofree char *tmp = g_build_filename(rd->l->d, "tmp", NULL);

    while (!g_atomic_int_get(&rd->stop)) {
        g_unlink(tmp);
        switch (g_atomic_int_add(&rd->swaps, 1) % 4) {
        case 0: {
            int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

            g_assert_cmpint(fd, >=, 0);
            virOpenHookCloseFD(&fd);
            break;
        }
        case 1:
            g_assert_cmpint(symlink(rd->f->secret, tmp), ==, 0);
            break;
        case 2:
            g_assert_cmpint(symlink("../secret", tmp), ==, 0);
            break;
        case 3:
            g_assert_cmpint(symlink("in.img", tmp), ==, 0);
            break;
        }
        g_assert_cmpint(g_rename(tmp, rd->target), ==, 0);
    }
    return NULL;
}


static void
testDirRace(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    const char *env = g_getenv("OPENHOOK_RACE_ITERATIONS");
    unsigned long iterations = env ? g_ascii_strtoull(env, NULL, 10) / 2 : 50000;
    g_auto(DirLayout) l = { 0 };
    DirRaceData rd = { .f = f, .l = &l };
    unsigned long granted = 0;
    unsigned long i;
    GThread *th;

    dirLayoutInit(f, &l, VIR_OPENHOOK_ACCESS_RW);
    rd.target = g_build_filename(l.d, "x.img", NULL);
    virOpenHookWhitelistSetEventCallback(f->wl, NULL, NULL);
    th = g_thread_new("dir-race", dirRaceThread, &rd);
    /* On a loaded machine the racer may get little CPU: keep opening
     * (up to 10 times as long) until it has swapped enough */
    for (i = 0;
         i < iterations ||
         (g_atomic_int_get(&rd.swaps) <= 1000 && i < 10 * iterations);
         i++) {
        uint64_t handle;
        int fd = virOpenHookBrokerOpen(f->wl, rd.target, strlen(rd.target),
                                       i % 2 ? O_RDWR : O_RDONLY, 0, &handle);

        if (fd < 0)
            continue;
        granted++;
        assertNotSecret(f, fd);
        virOpenHookCloseFD(&fd);
        virOpenHookWhitelistRelease(f->wl, handle, 0);
    }
    g_atomic_int_set(&rd.stop, 1);
    g_thread_join(th);
    g_free(rd.target);

    if (g_test_verbose())
        g_printerr("# %lu iterations, %d swaps, %lu granted\n",
                   i, rd.swaps, granted);
    g_assert_cmpuint(granted, >, 0);
    g_assert_cmpuint(granted, <, i);
    g_assert_cmpint(rd.swaps, >, 1000);
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
    ADD("dir-dotdot", testDirDotDot);
    ADD("dir-symlinks", testDirSymlinks);
    ADD("dir-hard-links", testDirHardLinks);
    ADD("dir-replaced", testDirReplaced);
    ADD("dir-prefix", testDirPrefix);
    ADD("dir-magic-links", testDirMagicLinks);
    ADD("dir-special-files", testDirSpecialFiles);
    ADD("dir-mount", testDirMount);
    ADD("dir-race", testDirRace);
    return g_test_run();
}
