/*
 * test-openhook-permissive.c: permissive mode is "off, plus observation"
 *
 * What enforce would deny is opened with QEMU's credentials by the
 * opener, never by root; /proc, /sys and /dev never; the fd limit holds.
 * Each case is an attack that succeeded when permissive mode opened as
 * root: /etc/shadow-like files, /proc/self/{environ,mem} (the daemon's),
 * O_TRUNC of a root-only file, O_CREAT in a root-only directory, and a
 * peer that never reports its closes.
 *
 * An entry whose name QEMU may have chosen (a backing file named in an
 * image header) is opened the same way in every mode: by the opener,
 * with QEMU's credentials, and only if it is the file libvirt bound.
 *
 * Needs root (to start an opener as another user); skipped otherwise.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <glib/gstdio.h>

#include "openhook-testutil.h"
#include "viropenhookopener.h"
#include "viropenhookproto.h"

typedef struct {
    char *top;          /* 0755 root, traversable by the user */
    char *pub;          /* top/pub: 0777, the user may create here */
    char *priv;         /* top/priv: 0700 root */
    char *readable;     /* top/readable.img: 0644 root, "public" */
    char *secret;       /* top/secret: 0600 root, "s3cret" */
    uid_t uid;
    gid_t gid;
    virOpenHookWhitelist *wl;
    virOpenHookOpener *opener;
    ohtEvents *ev;
    const char *skip;
} Fixture;


static void
fixtureSetup(Fixture *f,
             gconstpointer data)
{
    struct passwd *pw;
    g_autofree char *errmsg = NULL;

    if (geteuid() != 0) {
        f->skip = "needs root";
        return;
    }
    if (!(pw = getpwnam("libvirt-qemu")) && !(pw = getpwnam("nobody"))) {
        f->skip = "no unprivileged user";
        return;
    }
    f->uid = pw->pw_uid;
    f->gid = pw->pw_gid;

    f->top = g_strdup("/var/tmp/openhook-permissive-XXXXXX");
    g_assert_nonnull(g_mkdtemp_full(f->top, 0755));
    g_assert_cmpint(chmod(f->top, 0755), ==, 0);
    f->pub = g_build_filename(f->top, "pub", NULL);
    f->priv = g_build_filename(f->top, "priv", NULL);
    g_assert_cmpint(g_mkdir(f->pub, 0777), ==, 0);
    g_assert_cmpint(chmod(f->pub, 0777), ==, 0);
    g_assert_cmpint(g_mkdir(f->priv, 0700), ==, 0);
    f->readable = ohtWriteFile(f->top, "readable.img", "public");
    f->secret = ohtWriteFile(f->top, "secret", "s3cret");
    g_assert_cmpint(chmod(f->readable, 0644), ==, 0);
    g_assert_cmpint(chmod(f->secret, 0600), ==, 0);

    f->wl = virOpenHookWhitelistNew("guest1");
    f->ev = ohtEventsNew(f->wl);
    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_PERMISSIVE);
    if (data) {
        if (!(f->opener = virOpenHookOpenerNew(f->uid, f->gid, NULL, 0, &errmsg)))
            g_error("%s", errmsg);
        virOpenHookWhitelistSetOpener(f->wl, f->opener);
    }
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    if (f->wl) {
        virOpenHookWhitelistSetOpener(f->wl, NULL);
        virOpenHookWhitelistUnref(f->wl);
    }
    if (f->opener)
        virOpenHookOpenerUnref(f->opener);
    if (f->ev)
        ohtEventsFree(f->ev);
    g_free(f->readable);
    g_free(f->secret);
    g_free(f->pub);
    g_free(f->priv);
    if (f->top)
        ohtTmpFree(f->top);
}


static bool
skipped(Fixture *f)
{
    if (f->skip) {
        g_test_skip(f->skip);
        return true;
    }
    return false;
}




static void
assertContent(const char *path,
              const char *content)
{
    g_autofree char *buf = NULL;

    g_assert_true(g_file_get_contents(path, &buf, NULL, NULL));
    g_assert_cmpstr(buf, ==, content);
}


/* What the user may open itself is opened, by the user */
static void
testUserOpens(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *created = g_build_filename(f->pub, "new.img", NULL);
    uint64_t handle;
    struct stat st;
    int fd;

    if (skipped(f))
        return;

    fd = ohtBrokerOpen(f->wl, f->readable, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);
    ohtCloseGrant(f->wl, fd, handle);

    /* created by the user, not by root */
    fd = ohtBrokerOpen(f->wl, created, O_RDWR | O_CREAT | O_EXCL, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, f->uid);
    ohtCloseGrant(f->wl, fd, handle);

    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 2);
    g_assert_true(ohtEventsContain(f->ev, "as uid"));
}


/* What only root may open is refused, and left untouched */
static void
testRootOnly(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *planted = g_build_filename(f->priv, "planted", NULL);
    g_autofree char *ro = NULL;
    struct stat st;

    if (skipped(f))
        return;

    g_assert_cmpint(ohtBrokerOpen(f->wl, f->secret, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->secret, O_WRONLY | O_TRUNC, NULL), ==, -EACCES);
    assertContent(f->secret, "s3cret");
    g_assert_cmpint(ohtBrokerOpen(f->wl, "/etc/shadow", O_RDONLY, NULL), ==, -EACCES);

    g_assert_cmpint(ohtBrokerOpen(f->wl, planted, O_RDWR | O_CREAT, NULL), ==, -EACCES);
    g_assert_cmpint(lstat(planted, &st), ==, -1);
    g_assert_cmpint(errno, ==, ENOENT);

    /* a listed read-only image is not writable by root on the guest's
     * behalf either: the user cannot write it */
    ro = g_strdup(f->readable);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, ro, VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, ro, O_RDWR, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, ro, O_WRONLY | O_TRUNC, NULL), ==, -EACCES);
    assertContent(ro, "public");

    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


/* /proc, /sys and /dev never: by name, nor through a symlink */
static void
testHostFiles(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    static const char *const paths[] = {
        "/proc/self/environ", "/proc/self/mem", "/proc/self/status",
        "/proc/1/environ", "/proc/sys/kernel/hostname",
        "/sys/kernel/mm/transparent_hugepage/enabled",
        "/dev/null", "/dev/zero", "/dev/../proc/self/environ",
    };
    g_autofree char *link1 = g_build_filename(f->pub, "env", NULL);
    g_autofree char *link2 = g_build_filename(f->pub, "status", NULL);
    g_autofree char *link3 = g_build_filename(f->pub, "null", NULL);
    size_t i;

    if (skipped(f))
        return;

    for (i = 0; i < G_N_ELEMENTS(paths); i++) {
        if (ohtBrokerOpen(f->wl, paths[i], O_RDONLY, NULL) != -EACCES)
            g_error("%s was not refused", paths[i]);
        if (ohtBrokerOpen(f->wl, paths[i], O_RDWR, NULL) != -EACCES)
            g_error("%s was not refused for writing", paths[i]);
    }

    /* the user's own symlinks into /proc and /dev: the opener follows
     * them as the user would, the broker refuses what it got */
    g_assert_cmpint(symlink("/proc/self/environ", link1), ==, 0);
    g_assert_cmpint(symlink("/proc/self/status", link2), ==, 0);
    g_assert_cmpint(symlink("/dev/null", link3), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, link1, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, link2, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, link3, O_RDONLY, NULL), ==, -EACCES);

    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_GRANT), ==, 0);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


/* The fd limit holds for unlisted grants too */
static void
testFdLimit(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    uint64_t h[2];
    int fd[2];

    if (skipped(f))
        return;

    virOpenHookWhitelistSetMaxFds(f->wl, 2);
    fd[0] = ohtBrokerOpen(f->wl, f->readable, O_RDONLY, &h[0]);
    fd[1] = ohtBrokerOpen(f->wl, f->readable, O_RDONLY, &h[1]);
    g_assert_cmpint(fd[1], >=, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->readable, O_RDONLY, NULL), ==, -EMFILE);
    g_assert_cmpuint(ohtEventsReason(f->ev, VIR_OPENHOOK_REASON_FD_LIMIT), ==, 1);
    ohtCloseGrant(f->wl, fd[0], h[0]);
    ohtCloseGrant(f->wl, fd[1], h[1]);
}


/* QEMU confined by Landlock: the opener is not, so it opens nothing
 * against the policy (a readable file outside QEMU's ruleset, another
 * guest's image owned by the same user) */
static void
testConfined(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    uint64_t handle;
    int fd;

    if (skipped(f))
        return;

    virOpenHookWhitelistSetConfined(f->wl, true);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->readable, O_RDONLY, NULL), ==, -EACCES);
    g_assert_true(ohtEventsContain(f->ev, "QEMU is confined"));

    /* what the whitelist lists is served as ever */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->readable,
                                            VIR_OPENHOOK_ACCESS_RO, 0,
                                            NULL, NULL), ==, 0);
    fd = ohtBrokerOpen(f->wl, f->readable, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_WOULD_DENY), ==, 0);
}


/* Without an opener nothing is opened against the policy */
static void
testNoOpener(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    if (skipped(f))
        return;

    g_assert_cmpint(ohtBrokerOpen(f->wl, f->readable, O_RDONLY, NULL), ==, -EACCES);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->secret, O_RDONLY, NULL), ==, -EACCES);
    g_assert_true(ohtEventsContain(f->ev, "no opener"));
    g_assert_cmpuint(ohtEventsCount(f->ev, VIR_OPENHOOK_EVENT_OPEN,
                                    VIR_OPENHOOK_DECISION_DENY), ==, 2);
}


/* An entry only QEMU's own credentials may open, in enforce mode, by
 * the synchronous path and through a connection; a reference from a
 * trusted name lets root open it again */
static void
testUntrustedName(Fixture *f,
                  gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *other = NULL;
    g_autoptr(virOpenHookClient) client = NULL;
    char buf[16] = { 0 };
    ohtBroker *b = NULL;
    uint64_t handle;
    struct stat st;
    int fd;

    if (skipped(f))
        return;

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->readable,
                                            VIR_OPENHOOK_ACCESS_RO,
                                            VIR_OPENHOOK_ENTRY_AS_USER,
                                            "vda[2]", NULL), ==, 0);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->secret,
                                            VIR_OPENHOOK_ACCESS_RO,
                                            VIR_OPENHOOK_ENTRY_AS_USER,
                                            "vda[3]", NULL), ==, 0);

    /* what QEMU's user can read, opened by it */
    fd = ohtBrokerOpen(f->wl, f->readable, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_true(ohtEventsContain(f->ev, "untrusted name"));

    /* root's file: listed, but QEMU's user cannot read it */
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->secret, O_RDONLY, NULL), ==, -EACCES);

    /* the same through a connection, as the daemon serves QEMU */
    client = ohtClientStart(f->wl, &b);
    fd = virOpenHookClientOpen(client, f->secret, O_RDONLY | O_CLOEXEC, 0,
                               &handle);
    g_assert_cmpint(fd, ==, -EACCES);
    fd = virOpenHookClientOpen(client, f->readable, O_RDONLY | O_CLOEXEC, 0,
                               &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(pread(fd, buf, sizeof(buf) - 1, 0), ==, 6);
    g_assert_cmpstr(buf, ==, "public");
    virOpenHookCloseFD(&fd);
    g_assert_cmpint(virOpenHookClientClose(client, handle), ==, 0);

    /* another file of QEMU's user in place of the bound one: refused */
    other = ohtWriteFile(f->top, "other.img", "other");
    g_assert_cmpint(chmod(other, 0644), ==, 0);
    g_assert_cmpint(rename(other, f->readable), ==, 0);
    fd = virOpenHookClientOpen(client, f->readable, O_RDONLY | O_CLOEXEC, 0,
                               &handle);
    g_assert_cmpint(fd, <, 0);
    g_clear_pointer(&client, virOpenHookClientFree);
    ohtBrokerStop(b);

    /* the definition names it too: root opens it, until that goes */
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->secret,
                                            VIR_OPENHOOK_ACCESS_RO, 0,
                                            "vdb", NULL), ==, 0);
    fd = ohtBrokerOpen(f->wl, f->secret, O_RDONLY, &handle);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fstat(fd, &st), ==, 0);
    g_assert_cmpuint(st.st_uid, ==, 0);
    ohtCloseGrant(f->wl, fd, handle);
    g_assert_cmpint(virOpenHookWhitelistRemove(f->wl, f->secret, 0), ==, 0);
    g_assert_cmpint(ohtBrokerOpen(f->wl, f->secret, O_RDONLY, NULL), ==, -EACCES);

    assertContent(f->secret, "s3cret");
    g_assert_cmpuint(virOpenHookWhitelistGetHeldFds(f->wl), ==, 0);
}


/* Without an opener (the daemon has no more rights than QEMU, or QEMU
 * runs as root) the daemon opens such an entry itself */
static void
testUntrustedNoOpener(Fixture *f,
                      gconstpointer data G_GNUC_UNUSED)
{
    uint64_t handle;
    int fd;

    if (skipped(f))
        return;

    virOpenHookWhitelistSetMode(f->wl, VIR_OPENHOOK_MODE_ENFORCE);
    g_assert_cmpint(virOpenHookWhitelistAdd(f->wl, f->secret,
                                            VIR_OPENHOOK_ACCESS_RO,
                                            VIR_OPENHOOK_ENTRY_AS_USER,
                                            NULL, NULL), ==, 0);
    fd = ohtBrokerOpen(f->wl, f->secret, O_RDONLY, &handle);
    ohtCloseGrant(f->wl, fd, handle);
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(name, opener, fn) \
    g_test_add("/permissive/" name, Fixture, opener, fixtureSetup, fn, fixtureTeardown)
    ADD("user-opens", "opener", testUserOpens);
    ADD("root-only", "opener", testRootOnly);
    ADD("host-files", "opener", testHostFiles);
    ADD("fd-limit", "opener", testFdLimit);
    ADD("confined", "opener", testConfined);
    ADD("no-opener", NULL, testNoOpener);
    ADD("untrusted-name", "opener", testUntrustedName);
    ADD("untrusted-name-no-opener", NULL, testUntrustedNoOpener);
    return g_test_run();
}
