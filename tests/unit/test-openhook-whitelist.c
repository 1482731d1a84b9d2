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
    fd = ohtBrokerOpen(f->wl, f->img, O_RDONLY | O_CLOEXEC, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(handle, !=, 0);
    g_assert_cmpint(read(fd, buf, sizeof(buf) - 1), ==, 5);
    g_assert_cmpstr(buf, ==, "hello");
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    /* O_NONBLOCK was used for the open but is cleared: not requested. */
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 1);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);

    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN, VIR_OPENHOOK_DECISION_GRANT), ==, 1);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_CLOSE, VIR_OPENHOOK_DECISION_GRANT), ==, 1);
    g_assert_true(ohtEventsContain(f->ev, "guest=\"guest1\""));
    g_assert_true(ohtEventsContain(f->ev, "origin=\"vda[0]\""));

    /* Requested status flags survive. */
    fd = ohtBrokerOpen(f->wl, f->img, O_RDONLY | O_NONBLOCK, &handle);
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, O_NONBLOCK);
    ohtCloseGrant(f->wl, fd, handle);
}


static void
testNotListed(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *other = ohtWriteFile(f->dir, "b.img", "x");

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, "/etc/passwd", O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, "a.img", O_RDONLY, NULL), ==, -EINVAL);
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

    fd = ohtBrokerOpen(f->wl, link, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);

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
    fd = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, -ENOENT);

    /* Removed: no new opens, even though the guest still holds one. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 0);

    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);

    /* Closing twice is an unknown handle, reported. */
    g_assert_cmpint(virOpenHookWhitelistRelease(f->wl, handle, VIR_OPENHOOK_REASON_NONE), ==, -ENOENT);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_UNKNOWN_HANDLE), ==, 1);

    /* Removing an entry with no fds held drains at once. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, 0);
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
    fd1 = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &h1);
    fd2 = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &h2);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->img, 0), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDONLY, NULL), ==, -EACCES);
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
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_WRONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 2);

    /* A commit makes the base rw for a while... */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW), ==, 0);
    fd = ohtBrokerOpen(f->wl, f->img, O_RDWR, &handle);
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_ACCMODE, ==, O_RDWR);
    ohtCloseGrant(f->wl, fd, handle);

    /* ...and ro again afterwards. */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR, NULL), ==, -EACCES);

    /* rw entries still refuse creation flags. */
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, f->img, VIR_OPENHOOK_ACCESS_RW), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR | O_TRUNC, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EACCES);
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
        g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, bad[i], NULL), ==, -EINVAL);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_BAD_FLAGS), ==, G_N_ELEMENTS(bad));

    for (i = 0; i < G_N_ELEMENTS(good); i++) {
        uint64_t handle;
        int fd = ohtBrokerOpen(f->wl, f->img, good[i], &handle);
        int fl;

        g_assert_cmpint(fd, >=, 0);
        fl = fcntl(fd, F_GETFL);
        g_assert_cmpint(fl & O_ACCMODE, ==, good[i] & O_ACCMODE);
        g_assert_cmpint(fl & (O_APPEND | O_DIRECT | O_NOATIME),
                        ==, good[i] & (O_APPEND | O_DIRECT | O_NOATIME));
        ohtCloseGrant(f->wl, fd, handle);
    }

    /* Permissive mode does not forgive malformed flags. */
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_PATH, NULL), ==, -EINVAL);
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

    fd = ohtBrokerOpen(f->wl, newimg, O_RDWR | O_CREAT | O_EXCL, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    /* mode & 0666 and the umask apply: never executable. */
    g_assert_cmpint(st.st_mode & 0111, ==, 0);
    g_assert_cmpint(write(fd, "data", 4), ==, 4);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, newimg, &info), ==, 0);
    g_assert_true(info.bound);
    g_assert_cmpuint(info.ino, ==, st.st_ino);
    virOpenHookEntryInfoClear(&info);

    /* Creating is writing: O_RDONLY with O_CREAT or O_EXCL is refused
     * even on a create entry, and creates nothing. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, other, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY | O_CREAT, NULL), ==, -EINVAL);
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY | O_CREAT | O_EXCL, NULL), ==, -EINVAL);
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY | O_EXCL, NULL), ==, -EINVAL);
    g_assert_cmpint(g_access(other, F_OK), !=, 0);

    /* O_EXCL on an existing file: the kernel's errno passes through. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, newimg, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EEXIST);

    /* O_TRUNC is applied after the identity check. */
    fd = ohtBrokerOpen(f->wl, newimg, O_RDWR | O_TRUNC, &handle);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);
    ohtCloseGrant(f->wl, fd, handle);

    /* Replaced by another file: identity mismatch, and the replacement
     * is not truncated. */
    g_assert_cmpint(g_rename(f->img, newimg), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, newimg, O_RDWR | O_TRUNC, NULL), ==, -EACCES);
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
    g_assert_cmpint(ohtBrokerOpen(f->wl, newimg, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, newimg, O_RDONLY, NULL), ==, -EACCES);
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
    fd[0] = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &h[0]);
    fd[1] = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &h[1]);
    g_assert_cmpint(fd[1], >=, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDONLY, NULL), ==, -EMFILE);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_FD_LIMIT), ==, 1);
    ohtCloseGrant(f->wl, fd[0], h[0]);
    fd[2] = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &h[2]);
    g_assert_cmpint(fd[2], >=, 0);
    ohtCloseGrant(f->wl, fd[1], h[1]);
    ohtCloseGrant(f->wl, fd[2], h[2]);
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

    /* What enforce would deny is only ever opened with QEMU's
     * credentials, by the opener (test-openhook-permissive.c): without
     * one, root opens nothing against the policy. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_DENY), ==, 2);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 1);
    g_assert_true(ohtEventsContain(f->ev, "no opener"));
    fd = ohtBrokerOpen(f->wl, f->img, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);

    /* Safety rules stay: a directory is never handed out. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->dir, O_RDONLY, NULL), ==, -EACCES);

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);
    g_assert_cmpint(ohtBrokerOpen(f->wl, other, O_RDONLY, NULL), ==, -EACCES);
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
    fd = ohtBrokerOpen(f->wl, b, O_RDWR, &handle);
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

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, b, 0), ==, 0);
    n = virOpenHookWhitelistGetAll(f->wl, &infos);
    g_assert_cmpuint(n, ==, 1);
    g_assert_true(g_str_has_suffix(infos[0].canonical, "/a.img"));
    virOpenHookEntryInfoListFree(infos, n);
    ohtCloseGrant(f->wl, fd, handle);
}


/* Directories: a fixture-independent layout under f->dir:
 *   d/a.img "hello", d/sub/b.img "sub", d2/x.img "x" */
static char *
dirLayout(Fixture *f)
{
    g_autofree char *d = g_build_filename(f->dir, "d", NULL);
    g_autofree char *sub = g_build_filename(d, "sub", NULL);
    g_autofree char *d2 = g_build_filename(f->dir, "d2", NULL);
    g_autofree char *a = NULL;
    g_autofree char *b = NULL;
    g_autofree char *x = NULL;

    g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(d2, 0700), ==, 0);
    a = ohtWriteFile(d, "a.img", "hello");
    b = ohtWriteFile(sub, "b.img", "sub");
    x = ohtWriteFile(d2, "x.img", "x");
    return g_steal_pointer(&d);
}


static void
testDirBasic(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *b = g_build_filename(d, "sub", "b.img", NULL);
    g_autofree char *sub = g_build_filename(d, "sub", NULL);
    g_autofree char *x = g_build_filename(f->dir, "d2", "x.img", NULL);
    g_autofree char *dx = g_strdup_printf("%sx/a.img", d);
    g_autofree char *canonline = NULL;
    g_autofree char *missing = NULL;
    virOpenHookEntryInfo *infos = NULL;
    virOpenHookEntryInfo info;
    uint64_t handle;
    char buf[8] = { 0 };
    size_t n;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               "openhook", NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, d, &info), ==, 0);
    g_assert_true(info.dir);
    g_assert_cmpstr(info.canonical, ==, d);
    g_assert_cmpuint(info.users, ==, 1);
    virOpenHookEntryInfoClear(&info);
    /* GetInfo is by exact name, not by prefix */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, a, &info), ==, -ENOENT);

    fd = ohtBrokerOpen(f->wl, a, O_RDONLY, &handle);
    g_assert_cmpint(read(fd, buf, sizeof(buf) - 1), ==, 5);
    g_assert_cmpstr(buf, ==, "hello");
    g_assert_cmpint(fcntl(fd, F_GETFL) & O_NONBLOCK, ==, 0);

    /* held fds are counted on the directory's entry */
    n = virOpenHookWhitelistGetAll(f->wl, &infos);
    g_assert_cmpuint(n, ==, 1);
    g_assert_true(infos[0].dir);
    g_assert_cmpstr(infos[0].canonical, ==, d);
    g_assert_cmpstr(infos[0].origin, ==, "openhook");
    g_assert_cmpuint(infos[0].nheld, ==, 1);
    virOpenHookEntryInfoListFree(infos, n);
    ohtCloseGrant(f->wl, fd, handle);

    fd = ohtBrokerOpen(f->wl, b, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);

    /* The event names the file beneath the directory. */
    canonline = g_strdup_printf("canonical=\"%s\"", b);
    g_assert_true(ohtEventsContain(f->ev, canonline));

    /* Neither the directory itself nor a subdirectory is a file, and a
     * sibling whose name starts with the directory's is not beneath. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, d, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, sub, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, x, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, dx, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->img, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 4);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_FILE_TYPE), ==, 1);

    /* A missing file beneath is the kernel's answer. */
    missing = g_build_filename(d, "missing.img", NULL);
    g_assert_cmpint(ohtBrokerOpen(f->wl, missing, O_RDONLY, NULL), ==, -ENOENT);
}


/* The deepest listed directory decides; "/" works as a directory too. */
static void
testDirNested(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *sub = g_build_filename(d, "sub", NULL);
    g_autofree char *b = g_build_filename(sub, "b.img", NULL);
    g_autofree char *passwd = NULL;
    uint64_t handle;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, sub, VIR_OPENHOOK_ACCESS_RW,
                                               NULL, NULL), ==, 0);
    fd = ohtBrokerOpen(f->wl, b, O_RDWR, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_RDWR, NULL), ==, -EACCES);
    fd = ohtBrokerOpen(f->wl, a, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, "/", VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    passwd = g_strdup("/etc/passwd");
    fd = ohtBrokerOpen(f->wl, passwd, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(ohtBrokerOpen(f->wl, "/", O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, b, O_RDWR | O_APPEND, &handle), >=, 0);
    g_assert_cmpint(virOpenHookWhitelistRelease(f->wl, handle, 0), ==, 0);
}


/* A directory allowed by a symlink's name: both names lead to it. */
static void
testDirAlias(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *link = g_build_filename(f->dir, "dlink", NULL);
    g_autofree char *viaLink = g_build_filename(link, "a.img", NULL);
    g_autofree char *viaReal = g_build_filename(d, "a.img", NULL);
    virOpenHookEntryInfo info;
    uint64_t handle;
    int fd;

    g_assert_cmpint(symlink("d", link), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, link, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, link, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, d);
    virOpenHookEntryInfoClear(&info);
    fd = ohtBrokerOpen(f->wl, viaLink, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, viaReal, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);

    /* the second name is a second reference */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, link, 0), ==, 0);
    fd = ohtBrokerOpen(f->wl, viaReal, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, viaReal, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, viaLink, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
}


/* Removal stops granting at once; DRAINED comes with the last fd of any
 * file beneath it, or with ReleaseAll. */
static void
testDirRefcountAndDrain(Fixture *f,
                        gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *b = g_build_filename(d, "sub", "b.img", NULL);
    uint64_t ha;
    uint64_t hb;
    int fda;
    int fdb;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RW,
                                               NULL, NULL), ==, 0);
    fda = ohtBrokerOpen(f->wl, a, O_RDWR, &ha);
    g_assert_cmpint(fda, >=, 0);
    fdb = ohtBrokerOpen(f->wl, b, O_RDONLY, &hb);
    g_assert_cmpint(fdb, >=, 0);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, -ENOENT);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_RDONLY, NULL), ==, -EACCES);

    ohtCloseGrant(f->wl, fda, ha);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 0);
    ohtCloseGrant(f->wl, fdb, hb);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);
    g_assert_true(ohtEventsContain(f->ev, "event=drained"));

    /* A guest that never closes: ReleaseAll drains. */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    fda = ohtBrokerOpen(f->wl, a, O_RDONLY, &ha);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    virOpenHookCloseFD(&fda);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 1);
    virOpenHookWhitelistReleaseAll(f->wl);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 2);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);

    /* Removing one with nothing held drains at once. */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, d, 0), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_DRAINED, 0), ==, 3);
}


/* ro directories never create, truncate or write; rw ones create
 * private files, keep O_EXCL, and truncate only after the checks. */
static void
testDirCreate(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *sub = g_build_filename(d, "sub", NULL);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *newro = g_build_filename(d, "new.img", NULL);
    g_autofree char *newrw = g_build_filename(sub, "new.img", NULL);
    g_autofree char *nodir = g_build_filename(sub, "nodir", "new.img", NULL);
    g_autofree char *b = g_build_filename(sub, "b.img", NULL);
    uint64_t handle;
    struct stat st;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, newro, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    /* creating is writing (protocol.rst): malformed with O_RDONLY */
    g_assert_cmpint(ohtBrokerOpen(f->wl, newro, O_RDONLY | O_CREAT, NULL), ==, -EINVAL);
    g_assert_cmpint(ohtBrokerOpen(f->wl, newro, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EACCES);
    g_assert_cmpint(g_access(newro, F_OK), !=, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_WRONLY | O_TRUNC, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_RDONLY | O_TRUNC, NULL), ==, -EINVAL);
    g_assert_cmpint(g_stat(a, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 5);
    /* write access is checked first */
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NO_CREATE), ==, 0);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 4);

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, sub, VIR_OPENHOOK_ACCESS_RW,
                                               NULL, NULL), ==, 0);
    fd = virOpenHookBrokerOpen(f->wl, newrw, strlen(newrw),
                               O_RDWR | O_CREAT | O_EXCL, 0777, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_true(S_ISREG(st.st_mode));
    /* never more than 0600, whatever the guest asks */
    g_assert_cmpint(st.st_mode & 0077, ==, 0);
    g_assert_cmpint(st.st_mode & 0111, ==, 0);
    g_assert_cmpint(write(fd, "data", 4), ==, 4);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpint(ohtBrokerOpen(f->wl, newrw, O_RDWR | O_CREAT | O_EXCL, NULL), ==, -EEXIST);
    fd = ohtBrokerOpen(f->wl, newrw, O_RDWR | O_CREAT, &handle);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 4);
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, b, O_WRONLY | O_TRUNC, &handle);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);
    ohtCloseGrant(f->wl, fd, handle);

    /* no directories are made on the way */
    g_assert_cmpint(ohtBrokerOpen(f->wl, nodir, O_RDWR | O_CREAT, NULL), ==, -ENOENT);
}


/* A file listed by name wins over the directory it is in, whichever
 * is wider, and keeps its rights under another name in the directory. */
static void
testDirExactWins(Fixture *f,
                 gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *sub = g_build_filename(d, "sub", NULL);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *b = g_build_filename(sub, "b.img", NULL);
    g_autofree char *c = ohtWriteFile(sub, "c.img", "c");
    g_autofree char *blink = g_build_filename(sub, "b-link.img", NULL);
    uint64_t handle;
    struct stat st;
    int fd;

    /* rw file in a ro directory */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, a, VIR_OPENHOOK_ACCESS_RW, 0,
                                            "vda", NULL), ==, 0);
    fd = ohtBrokerOpen(f->wl, a, O_RDWR, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_true(ohtEventsContain(f->ev, "origin=\"vda\""));
    g_assert_cmpint(ohtBrokerOpen(f->wl, b, O_RDWR, NULL), ==, -EACCES);

    /* ro file in a rw directory, also through a symlink beside it */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, sub, VIR_OPENHOOK_ACCESS_RW,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, b, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda[1]", NULL), ==, 0);
    g_assert_cmpint(symlink("b.img", blink), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, b, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, blink, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, blink, O_WRONLY | O_TRUNC, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, blink, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    fd = ohtBrokerOpen(f->wl, blink, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, c, O_RDWR, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 5);
    /* b.img was never truncated */
    g_assert_cmpint(g_stat(b, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 3);
}


static void
testDirAddRejects(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *moved = g_build_filename(f->dir, "moved", NULL);
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
    g_autofree char *err = NULL;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, f->img, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, &err), ==, -ENOTDIR);
    g_assert_nonnull(err);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, missing, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, &err), ==, -ENOENT);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, "relative", VIR_OPENHOOK_ACCESS_RO,
                                               NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_LAST,
                                               NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);

    /* A file entry is not a directory entry and vice versa. */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, d, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);

    /* Another directory at the listed name: the anchor stays, the
     * second Add fails. */
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(g_rename(d, moved), ==, 0);
    g_assert_cmpint(g_mkdir(d, 0700), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, &err), ==, -EBUSY);
    g_assert_nonnull(err);
}


/* Permissive mode beneath a directory: policy denials go to the opener
 * (none here, so they are denied), the file type rule stays. */
static void
testDirPermissive(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *d = dirLayout(f);
    g_autofree char *a = g_build_filename(d, "a.img", NULL);
    g_autofree char *out = g_build_filename(d, "out.img", NULL);
    g_autofree char *hl = g_build_filename(d, "hl.img", NULL);
    g_autofree char *fifo = g_build_filename(d, "fifo", NULL);
    uint64_t handle;
    struct stat st;
    int fd;

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, d, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(symlink(f->img, out), ==, 0);
    g_assert_cmpint(link(f->img, hl), ==, 0);
    g_assert_cmpint(mkfifo(fifo, 0600), ==, 0);

    /* Without an opener, nothing against the policy is opened: root
     * never follows the escaping symlink nor opens the hard link. */
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, out, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, hl, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_DENY), ==, 3);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_ESCAPE), ==, 1);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_HARD_LINK), ==, 1);
    fd = ohtBrokerOpen(f->wl, a, O_RDONLY, &handle);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpint(ohtBrokerOpen(f->wl, fifo, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_FILE_TYPE), ==, 1);
    /* the directory itself is not listed: nothing root opens */
    g_assert_cmpint(ohtBrokerOpen(f->wl, d, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_NOT_LISTED), ==, 1);
    g_assert_cmpint(ohtBrokerOpen(f->wl, a, O_PATH, NULL), ==, -EINVAL);
}


/* The layout of a trusted path with ".." after a symlink: ROOT/link ->
 * other/sub, so the kernel resolves ROOT/link/../disk.qcow2 to
 * ROOT/other/disk.qcow2, while a lexical normalisation says
 * ROOT/disk.qcow2, another file. Returns the spelling ROOT/link/../NAME. */
static char *
trustLayout(Fixture *f,
            const char *name,
            char **lexical,
            char **kernel)
{
    g_autofree char *other = g_build_filename(f->dir, "other", NULL);
    g_autofree char *sub = g_build_filename(other, "sub", NULL);
    g_autofree char *link = g_build_filename(f->dir, "link", NULL);

    g_assert_cmpint(g_mkdir(other, 0700), ==, 0);
    g_assert_cmpint(g_mkdir(sub, 0700), ==, 0);
    g_assert_cmpint(symlink("other/sub", link), ==, 0);
    *lexical = g_build_filename(f->dir, name, NULL);
    *kernel = g_build_filename(other, name, NULL);
    return g_strdup_printf("%s/link/../%s", f->dir, name);
}


static void
assertSameFile(int fd,
               const char *path)
{
    struct stat a;
    struct stat b;

    g_assert_cmpint(fstat(fd, &a), ==, 0);
    g_assert_cmpint(stat(path, &b), ==, 0);
    g_assert_cmpuint(a.st_dev, ==, b.st_dev);
    g_assert_cmpuint(a.st_ino, ==, b.st_ino);
}


/* A trusted path is resolved by the kernel as it was given, never
 * normalised lexically first: the entry is the file libvirt probed. */
static void
testTrustDotDotAfterSymlink(Fixture *f,
                            gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *lexical = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *spelling = trustLayout(f, "disk.qcow2", &lexical, &kernel);
    g_autofree char *l G_GNUC_UNUSED = ohtWriteFile(f->dir, "disk.qcow2", "lexical");
    g_autofree char *k = NULL;
    g_autofree char *kdir = g_build_filename(f->dir, "other", NULL);
    virOpenHookEntryInfo info;
    char buf[16] = { 0 };
    uint64_t handle;
    struct stat st;
    int fd;

    k = ohtWriteFile(kdir, "disk.qcow2", "kernel");
    g_assert_cmpstr(k, ==, kernel);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, spelling, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vda", NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);

    /* the canonical name and identity are the kernel's */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, spelling, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, kernel);
    g_assert_true(info.bound);
    g_assert_cmpint(stat(kernel, &st), ==, 0);
    g_assert_cmpuint(info.dev, ==, st.st_dev);
    g_assert_cmpuint(info.ino, ==, st.st_ino);
    virOpenHookEntryInfoClear(&info);

    /* QEMU asks for the spelling libvirt gave it: it gets that file */
    fd = ohtBrokerOpen(f->wl, spelling, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);
    assertSameFile(fd, kernel);
    g_assert_cmpint(read(fd, buf, sizeof(buf) - 1), ==, 6);
    g_assert_cmpstr(buf, ==, "kernel");
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, kernel, O_RDONLY, &handle);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);

    /* lookups by trusted path find what the kernel names: the lexical
     * file is not listed */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, lexical, &info), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, lexical,
                                                  VIR_OPENHOOK_ACCESS_RW), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, lexical, 0), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistSetAccess(f->wl, spelling,
                                                  VIR_OPENHOOK_ACCESS_RW), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, kernel, &info), ==, 0);
    g_assert_cmpint(info.access, ==, VIR_OPENHOOK_ACCESS_RW);
    virOpenHookEntryInfoClear(&info);

    /* the same file by another spelling is the same entry */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, kernel, VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb", NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, spelling, 0), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, kernel, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, spelling, O_RDONLY, NULL), ==, -EACCES);
}


/* The guest's spelling of a trusted path with ".." is an alias: it must
 * never shadow the canonical entry of a listed file of that name,
 * whichever was added first; removing the canonical entry leaves the
 * alias. */
static void
testTrustAliasShadow(Fixture *f,
                     gconstpointer data)
{
    bool canonicalFirst = GPOINTER_TO_INT(data);
    g_autofree char *lexical = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *spelling = trustLayout(f, "disk.qcow2", &lexical, &kernel);
    g_autofree char *l G_GNUC_UNUSED = ohtWriteFile(f->dir, "disk.qcow2", "lexical");
    g_autofree char *kdir = g_build_filename(f->dir, "other", NULL);
    g_autofree char *k G_GNUC_UNUSED = ohtWriteFile(kdir, "disk.qcow2", "kernel");
    virOpenHookEntryInfo info;
    uint64_t handle;
    int fd;

    if (canonicalFirst)
        g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, lexical, VIR_OPENHOOK_ACCESS_RO, 0,
                                                "vdb", NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, spelling, VIR_OPENHOOK_ACCESS_RW, 0,
                                            "vda", NULL), ==, 0);
    if (!canonicalFirst)
        g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, lexical, VIR_OPENHOOK_ACCESS_RO, 0,
                                                "vdb", NULL), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 2);

    /* each trusted name finds its own entry */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, lexical, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, lexical);
    g_assert_cmpint(info.access, ==, VIR_OPENHOOK_ACCESS_RO);
    virOpenHookEntryInfoClear(&info);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, spelling, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, kernel);
    virOpenHookEntryInfoClear(&info);

    /* the guest's name is the canonical one's: read-only, that file */
    fd = ohtBrokerOpen(f->wl, lexical, O_RDONLY, &handle);
    assertSameFile(fd, lexical);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(ohtBrokerOpen(f->wl, lexical, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_READ_ONLY), ==, 1);
    fd = ohtBrokerOpen(f->wl, kernel, O_RDWR, &handle);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);

    /* the canonical entry goes: the alias serves its file again */
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, lexical, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 1);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, lexical, &info), ==, -ENOENT);
    fd = ohtBrokerOpen(f->wl, spelling, O_RDWR, &handle);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, spelling, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, lexical, O_RDONLY, NULL), ==, -EACCES);
}


/* A create entry: the file is created where the kernel resolves the
 * trusted path, and bound to what was created there. */
static void
testTrustCreate(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *lexical = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *spelling = trustLayout(f, "new.img", &lexical, &kernel);
    g_autofree char *planted = NULL;
    virOpenHookEntryInfo info;
    uint64_t handle;
    struct stat st;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, spelling, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, spelling, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, kernel);
    g_assert_false(info.bound);
    virOpenHookEntryInfoClear(&info);

    fd = ohtBrokerOpen(f->wl, spelling, O_RDWR | O_CREAT | O_EXCL, &handle);
    g_assert_cmpint(fd, >=, 0);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(g_stat(lexical, &st), ==, -1);
    g_assert_cmpint(stat(kernel, &st), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, spelling, &info), ==, 0);
    g_assert_true(info.bound);
    g_assert_cmpuint(info.ino, ==, st.st_ino);
    virOpenHookEntryInfoClear(&info);

    /* a file planted at the lexical name is not it */
    planted = ohtWriteFile(f->dir, "new.img", "planted");
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, lexical, &info), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, spelling, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
}


/* A directory given with ".." after a symlink: the kernel's directory
 * is listed, the guest's spelling leads beneath it. */
static void
testTrustDirDotDot(Fixture *f,
                   gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *lexical = NULL;
    g_autofree char *kernel = NULL;
    g_autofree char *spelling = trustLayout(f, "disk.qcow2", &lexical, &kernel);
    g_autofree char *dirSpelling = g_strdup_printf("%s/link/..", f->dir);
    g_autofree char *kdir = g_build_filename(f->dir, "other", NULL);
    g_autofree char *l G_GNUC_UNUSED = ohtWriteFile(f->dir, "disk.qcow2", "lexical");
    g_autofree char *k G_GNUC_UNUSED = ohtWriteFile(kdir, "disk.qcow2", "kernel");
    virOpenHookEntryInfo info;
    uint64_t handle;
    int fd;

    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, dirSpelling, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, dirSpelling, &info), ==, 0);
    g_assert_cmpstr(info.canonical, ==, kdir);
    g_assert_true(info.dir);
    virOpenHookEntryInfoClear(&info);
    /* the lexical directory is not listed */
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, f->dir, &info), ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->dir, 0), ==, -ENOENT);

    fd = ohtBrokerOpen(f->wl, spelling, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);
    fd = ohtBrokerOpen(f->wl, kernel, O_RDONLY, &handle);
    assertSameFile(fd, kernel);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, dirSpelling, 0), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, spelling, O_RDONLY, NULL), ==, -EACCES);
}


/* Trusted paths are validated, not rewritten. */
static void
testTrustValidate(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *longpath = g_strnfill(VIR_OPENHOOK_MAX_PATH + 1, '/');
    g_autofree char *slash = g_strdup_printf("%s/", f->img);
    g_autofree char *newslash = g_strdup_printf("%s/new.img/", f->dir);
    g_autofree char *err = NULL;

    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, longpath, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_assert_nonnull(err);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, "", VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAddDir(f->wl, longpath, VIR_OPENHOOK_ACCESS_RO,
                                               NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    /* a file named with a trailing '/' is no file, as for the kernel */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, slash, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, &err), ==, -ENOTDIR);
    g_clear_pointer(&err, g_free);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, newslash, VIR_OPENHOOK_ACCESS_RW,
                                            VIR_OPENHOOK_ENTRY_CREATE, NULL, &err), ==, -EINVAL);
    g_clear_pointer(&err, g_free);
    g_assert_cmpuint(virOpenHookWhitelistCount(f->wl), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistGetInfo(f->wl, longpath, &(virOpenHookEntryInfo){ 0 }),
                    ==, -ENOENT);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, "relative", 0), ==, -ENOENT);
}


typedef struct {
    GMutex lock;
    GCond cond;
    bool inCallback;
    bool release;
    bool unset;         /* SetEventCallback(NULL) returned */
    virOpenHookWhitelist *wl;
} SlowCallback;


/* An event callback that stays in progress until released */
static void
slowCallback(const virOpenHookEvent *ev G_GNUC_UNUSED,
             void *opaque)
{
    SlowCallback *c = opaque;

    g_mutex_lock(&c->lock);
    c->inCallback = true;
    g_cond_broadcast(&c->cond);
    while (!c->release)
        g_cond_wait(&c->cond, &c->lock);
    g_mutex_unlock(&c->lock);
}


static gpointer
slowEmit(gpointer opaque)
{
    SlowCallback *c = opaque;
    virOpenHookEvent ev = { .type = VIR_OPENHOOK_EVENT_CLOSE };

    virOpenHookWhitelistEmit(c->wl, &ev);
    return NULL;
}


static gpointer
slowUnset(gpointer opaque)
{
    SlowCallback *c = opaque;

    virOpenHookWhitelistSetEventCallback(c->wl, NULL, NULL);
    g_mutex_lock(&c->lock);
    c->unset = true;
    g_cond_broadcast(&c->cond);
    g_mutex_unlock(&c->lock);
    return NULL;
}


/* Unsetting the event callback waits for a call of it in progress on
 * another thread (an abandoned broker thread, say): once it returned,
 * the callback's data may be freed. */
static void
testEventCallbackUnset(void)
{
    g_autoptr(virOpenHookWhitelist) wl = virOpenHookWhitelistNew("guest1");
    SlowCallback c = { .wl = wl };
    GThread *emitter;
    GThread *unsetter;
    gint64 deadline;
    bool unset;

    g_mutex_init(&c.lock);
    g_cond_init(&c.cond);
    virOpenHookWhitelistSetEventCallback(wl, slowCallback, &c);
    emitter = g_thread_new("emit", slowEmit, &c);
    g_mutex_lock(&c.lock);
    while (!c.inCallback)
        g_cond_wait(&c.cond, &c.lock);
    g_mutex_unlock(&c.lock);

    unsetter = g_thread_new("unset", slowUnset, &c);
    deadline = g_get_monotonic_time() + 300 * G_TIME_SPAN_MILLISECOND;
    g_mutex_lock(&c.lock);
    while (!c.unset && g_cond_wait_until(&c.cond, &c.lock, deadline))
        ;
    unset = c.unset;
    c.release = true;
    g_cond_broadcast(&c.cond);
    g_mutex_unlock(&c.lock);
    g_assert_false(unset);

    g_thread_join(emitter);
    g_thread_join(unsetter);
    g_assert_true(c.unset);
    g_mutex_clear(&c.lock);
    g_cond_clear(&c.cond);
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
    ADD("dir-basic", testDirBasic);
    ADD("dir-nested", testDirNested);
    ADD("dir-alias", testDirAlias);
    ADD("dir-refcount-drain", testDirRefcountAndDrain);
    ADD("dir-create", testDirCreate);
    ADD("dir-exact-wins", testDirExactWins);
    ADD("dir-add-rejects", testDirAddRejects);
    ADD("dir-permissive", testDirPermissive);
    ADD("trust-dotdot-after-symlink", testTrustDotDotAfterSymlink);
    g_test_add("/whitelist/trust-alias-shadow/canonical-first", Fixture,
               GINT_TO_POINTER(1), fixtureSetup, testTrustAliasShadow, fixtureTeardown);
    g_test_add("/whitelist/trust-alias-shadow/alias-first", Fixture,
               GINT_TO_POINTER(0), fixtureSetup, testTrustAliasShadow, fixtureTeardown);
    ADD("trust-create", testTrustCreate);
    ADD("trust-dir-dotdot", testTrustDirDotDot);
    ADD("trust-validate", testTrustValidate);
    g_test_add_func("/whitelist/event-callback-unset", testEventCallbackUnset);
    return g_test_run();
}
