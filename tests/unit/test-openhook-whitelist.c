/*
 * test-openhook-whitelist.c: allowlist rules and open decisions
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "viropenhookbroker.h"
#include "viropenhookproto.h"
#include "openhook-testutil.h"

typedef struct {
    char *dir;
    char *img;          /* dir/a.img, "hello" */
    virOpenHookWhitelist *wl;
    ohtEvents *ev;
} Fixture;


static void
fixtureSetup(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    f->dir = ohtTmpNew();
    f->img = ohtWriteFile(f->dir, "a.img", "hello");
    f->wl = virOpenHookWhitelistNew("guest1");
    f->ev = ohtEventsNew(f->wl);
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    virOpenHookWhitelistUnref(f->wl);
    ohtEventsFree(f->ev);
    g_free(f->img);
    ohtTmpFree(f->dir);
}


/* Open through the decision path; returns fd or -errno. */
static int
brokerOpen(Fixture *f,
           const char *path,
           int flags,
           uint64_t *handle)
{
    uint64_t h;

    return virOpenHookBrokerOpen(f->wl, path, strlen(path), flags, 0644,
                                 handle ? handle : &h);
}


static void
closeGrant(Fixture *f,
           int fd,
           uint64_t handle)
{
    g_assert_cmpint(fd, >=, 0);
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookWhitelistRelease(f->wl, handle, VIR_OPENHOOK_REASON_NONE), ==, 0);
}


static void
testBasicGrant(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    uint64_t handle = 0;
    char buf[8] = { 0 };
    struct stat st;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda[0]", NULL), ==, 0);
    fd = brokerOpen(f, f->img, O_RDONLY | O_CLOEXEC, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(handle, !=, 0);
    g_assert_cmpint(read(fd, buf, sizeof(buf) - 1), ==, 5);
    g_assert_cmpstr(buf, ==, "hello");
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    /* O_NONBLOCK was used for the open but is cleared: not requested. */
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 1);
    closeGrant(f, fd, handle);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);

    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN, VIR_OPENHOOK_DECISION_GRANT), ==, 1);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_CLOSE, VIR_OPENHOOK_DECISION_GRANT), ==, 1);
    g_assert_true(ohtEventsContain(f->ev, "guest=\"guest1\""));
    g_assert_true(ohtEventsContain(f->ev, "origin=\"vda[0]\""));

    /* Requested status flags survive. */
    fd = brokerOpen(f, f->img, O_RDONLY | O_NONBLOCK, &handle);
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, O_NONBLOCK);
    closeGrant(f, fd, handle);
}


static void
testNotListed(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *other = ohtWriteFile(f->dir, "b.img", "x");

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(brokerOpen(f, other, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, "/etc/passwd", O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, "a.img", O_RDONLY, NULL), ==, -EINVAL);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 2);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_BAD_PATH), ==, 1);
}


static void
testSymlinkAlias(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *link = g_build_filename(f->dir, "link.img", NULL);
    virOpenHookEntryInfo info;
    uint64_t handle;
    int fd;

    g_assert_cmpint(symlink("a.img", link), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, link, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);

    /* Both names map to the one entry, keyed by the resolved path. */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, link, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, f->img);
    g_assert_true(info.bound);
    virOpenHookEntryInfoClear(&info);

    fd = brokerOpen(f, link, O_RDONLY, &handle);
    closeGrant(f, fd, handle);
    fd = brokerOpen(f, f->img, O_RDONLY, &handle);
    closeGrant(f, fd, handle);

    /* Adding by the other name is a second reference, not an entry. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, f->img, &info), ==, 0);
    g_assert_cmpuint(info.users, ==, 2);
    virOpenHookEntryInfoClear(&info);
}


static void
testRefcountAndDrain(Fixture *f,
                     gconstpointer data G_GNUC_UNUSED)
{
    uint64_t handle;
    int fd;

    /* The same base image in two disks' chains. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda[1]", NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb[1]", NULL), ==, 0);
    fd = brokerOpen(f, f->img, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, -ENOENT);

    /* Removed: no new opens, even though the guest still holds one. */
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 0);

    closeGrant(f, fd, handle);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);

    /* Closing twice is an unknown handle, reported. */
    g_assert_cmpint(virOpenHookWhitelistRelease(f->wl, handle, VIR_OPENHOOK_REASON_NONE), ==, -ENOENT);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_UNKNOWN_HANDLE), ==, 1);

    /* Removing an entry with no fds held drains at once. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 2);
}


/* A guest that never sends CLOSE cannot keep an entry granting; when it
 * dies, ReleaseAll drains everything. */
static void
testReleaseAll(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    uint64_t h1;
    uint64_t h2;
    int fd1;
    int fd2;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    fd1 = brokerOpen(f, f->img, O_RDONLY, &h1);
    fd2 = brokerOpen(f, f->img, O_RDONLY, &h2);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY, NULL), ==, -EACCES);
    virOpenHookCloseFD(&fd1);
    virOpenHookCloseFD(&fd2);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 0);
    virOpenHookWhitelistReleaseAll(f->wl);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


static void
testAccessModes(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    uint64_t handle;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, f->img, O_WRONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 2);

    /* A commit makes the base rw for a while... */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW), ==, 0);
    fd = brokerOpen(f, f->img, O_RDWR, &handle);
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDWR);
    closeGrant(f, fd, handle);

    /* ...and ro again afterwards. */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR, NULL), ==, -EACCES);

    /* rw entries still refuse creation flags. */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW), ==, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR | O_TRUNC, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NO_CREATE), ==, 3);
}


static void
testFlags(Fixture *f,
          gconstpointer data G_GNUC_UNUSED)
{
    static const int bad[] = {
        O_PATH, O_TMPFILE | O_RDWR, O_DIRECTORY, O_ASYNC, O_ACCMODE,
        O_RDONLY | O_TRUNC, 0x40000000, 020000000,
    };
    static const int good[] = {
        O_RDONLY, O_RDONLY | O_CLOEXEC, O_RDONLY | O_NOATIME, O_RDONLY | O_NOCTTY,
        O_RDONLY | O_NOFOLLOW, O_RDWR | O_DSYNC, O_RDWR | O_SYNC, O_RDWR | O_APPEND,
        O_RDWR | O_DIRECT, O_RDONLY | O_LARGEFILE,
    };
    size_t i;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW, 0,
                                            NULL, NULL), ==, 0);
    for (i = 0; i < G_N_ELEMENTS(bad); i++)
        g_assert_cmpint(brokerOpen(f, f->img, bad[i], NULL), ==, -EINVAL);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_BAD_FLAGS), ==, G_N_ELEMENTS(bad));

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        uint64_t handle;
        int fd = brokerOpen(f, f->img, good[i], &handle);
        int fl;

        g_assert_cmpint(fd, >=, 0);
        fl = fcntl(fd, F_GETFL);
        g_assert_cmpint(fl & O_ACCMODE, ==, good[i] & O_ACCMODE);
        g_assert_cmpint(fl & (O_APPEND | O_DIRECT | O_NOATIME),
                        ==, good[i] & (O_APPEND | O_DIRECT | O_NOATIME));
        closeGrant(f, fd, handle);
    }

    /* Permissive mode does not forgive malformed flags. */
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(brokerOpen(f, f->img, O_PATH, NULL), ==, -EINVAL);
}


static void
testCreate(Fixture *f,
           gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *newimg = g_build_filename(f->dir, "new.img", NULL);
    g_autofree char *other = g_build_filename(f->dir, "other.img", NULL);
    virOpenHookEntryInfo info;
    uint64_t handle;
    struct stat st;
    int fd;

    /* Missing files are only accepted for create entries. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, other, VIR_OPENHOOK_ACCESS_RW, 0,
                                            NULL, NULL), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, newimg, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, newimg, &info), ==, 0);
    g_assert_false(info.bound);
    virOpenHookEntryInfoClear(&info);

    fd = brokerOpen(f, newimg, O_RDWR | O_CREAT | O_EXCL, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    /* mode & 0666 and the umask apply: never executable. */
    g_assert_cmpint(st.st_mode & 0111, ==, 0);
    g_assert_cmpint(write(fd, "data", 4), ==, 4);
    closeGrant(f, fd, handle);

    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, newimg, &info), ==, 0);
    g_assert_true(info.bound);
    g_assert_cmpuint(info.ino, ==, st.st_ino);
    virOpenHookEntryInfoClear(&info);

    /* O_EXCL on an existing file: the kernel's errno passes through. */
    g_assert_cmpint(brokerOpen(f, newimg, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EEXIST);

    /* O_TRUNC is applied after the identity check. */
    fd = brokerOpen(f, newimg, O_RDWR | O_TRUNC, &handle);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);
    closeGrant(f, fd, handle);

    /* Replaced by another file: identity mismatch, and the replacement
     * is not truncated. */
    g_assert_cmpint(g_rename(f->img, newimg), ==, 0);
    g_assert_cmpint(brokerOpen(f, newimg, O_RDWR | O_TRUNC, NULL), ==, -EACCES);
    g_assert_cmpint(g_stat(newimg, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 5);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_IDENTITY), ==, 1);
}


/* An unbound create entry does not bind to a hard link planted there. */
static void
testCreateHardlinkPlant(Fixture *f,
                        gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *newimg = g_build_filename(f->dir, "new.img", NULL);
    g_autofree char *secret = ohtWriteFile(f->dir, "secret", "s3cret");

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, newimg, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL), ==, 0);
    g_assert_cmpint(link(secret, newimg), ==, 0);
    g_assert_cmpint(brokerOpen(f, newimg, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    g_assert_cmpint(brokerOpen(f, newimg, O_RDONLY, NULL), ==, -EACCES);
}


static void
testFdLimit(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    uint64_t h[3];
    int fd[3];

    virOpenHookWhitelistSetMaxFds(f->wl, 2);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    fd[0] = brokerOpen(f, f->img, O_RDONLY, &h[0]);
    fd[1] = brokerOpen(f, f->img, O_RDONLY, &h[1]);
    g_assert_cmpint(fd[1], >=, 0);
    g_assert_cmpint(brokerOpen(f, f->img, O_RDONLY, NULL), ==, -EMFILE);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_FD_LIMIT), ==, 1);
    closeGrant(f, fd[0], h[0]);
    fd[2] = brokerOpen(f, f->img, O_RDONLY, &h[2]);
    g_assert_cmpint(fd[2], >=, 0);
    closeGrant(f, fd[1], h[1]);
    closeGrant(f, fd[2], h[2]);
}


static void
testPermissive(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *other = ohtWriteFile(f->dir, "b.img", "x");
    uint64_t handle;
    int fd;

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);

    fd = brokerOpen(f, other, O_RDONLY, &handle);
    closeGrant(f, fd, handle);
    fd = brokerOpen(f, f->img, O_RDWR, &handle);
    closeGrant(f, fd, handle);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 2);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 1);

    /* Safety rules stay: a directory is never handed out. */
    g_assert_cmpint(brokerOpen(f, f->dir, O_RDONLY, NULL), ==, -EACCES);

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);
    g_assert_cmpint(brokerOpen(f, other, O_RDONLY, NULL), ==, -EACCES);
}


static void
testAddRejects(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *fifo = g_build_filename(f->dir, "fifo", NULL);
    g_autofree char *err = NULL;

    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->dir, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_assert_nonnull(err);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, fifo, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, "relative", VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, "/dev/null", VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
}


/* The live view lists the listed entries, sorted, with their access and
 * held fds; a removed entry leaves it at once, even while draining. */
static void
testGetAll(Fixture *f,
           gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *b = ohtWriteFile(f->dir, "b.img", "b");
    virOpenHookEntryInfo *infos = NULL;
    uint64_t handle = 0;
    size_t n;
    int fd;

    g_assert_cmpuint(virOpenHookWhitelistGetAll(f->wl, &infos), ==, 0);
    virOpenHookEntryInfoListFree(infos, 0);

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, b, VIR_OPENHOOK_ACCESS_RW, 0,
                                            "vda", NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda[1]", NULL), ==, 0);
    fd = brokerOpen(f, b, O_RDWR, &handle);
    g_assert_cmpint(fd, >=, 0);

    n = virOpenHookWhitelistGetAll(f->wl, &infos);
    g_assert_cmpuint(n, ==, 2);
    g_assert_true(g_str_has_suffix(infos[0].canonical, "/a.img"));
    g_assert_cmpint(infos[0].access, ==, VIR_OPENHOOK_ACCESS_RO);
    g_assert_cmpstr(infos[0].origin, ==, "vda[1]");
    g_assert_cmpuint(infos[0].nheld, ==, 0);
    g_assert_true(g_str_has_suffix(infos[1].canonical, "/b.img"));
    g_assert_cmpint(infos[1].access, ==, VIR_OPENHOOK_ACCESS_RW);
    g_assert_cmpuint(infos[1].nheld, ==, 1);
    virOpenHookEntryInfoListFree(infos, n);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, b), ==, 0);
    n = virOpenHookWhitelistGetAll(f->wl, &infos);
    g_assert_cmpuint(n, ==, 1);
    g_assert_true(g_str_has_suffix(infos[0].canonical, "/a.img"));
    virOpenHookEntryInfoListFree(infos, n);
    closeGrant(f, fd, handle);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, fn) \
    g_test_add("/whitelist/" name, Fixture, NULL, fixtureSetup, fn, fixtureTeardown)
    ADD("basic-grant", testBasicGrant);
    ADD("not-listed", testNotListed);
    ADD("symlink-alias", testSymlinkAlias);
    ADD("refcount-drain", testRefcountAndDrain);
    ADD("release-all", testReleaseAll);
    ADD("access-modes", testAccessModes);
    ADD("flags", testFlags);
    ADD("create", testCreate);
    ADD("create-hardlink-plant", testCreateHardlinkPlant);
    ADD("fd-limit", testFdLimit);
    ADD("permissive", testPermissive);
    ADD("add-rejects", testAddRejects);
    ADD("get-all", testGetAll);
    return g_test_run();
}
