/*
 * test-virlandlock.c: Landlock confinement of a child process
 *
 * Each test forks a child that builds a ruleset, applies it and then
 * plays the compromised QEMU: what the rules allow must work, anything
 * else under the scratch directory ("guest files") must be refused by
 * the kernel, while fds the child already holds or receives from its
 * unconfined parent (the broker) keep working. A child reports a failed
 * check on stderr and exits non-zero.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <dirent.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/loop.h>
#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <glib/gstdio.h>

#define LIBVIRT_VIRLANDLOCKPRIV_H_ALLOW
#include "virlandlockpriv.h"
#include "viropenhookproto.h"
#include "openhook-testutil.h"

typedef struct {
    char *dir;
    char *sys;          /* "system" files: read and execute */
    char *lib;          /* sys/lib.txt */
    char *run;          /* QEMU's runtime directory: read, write, create */
    char *out;          /* the guest's files: nothing */
    char *img;          /* out/disk.img */
    char *victim;       /* out/victim: may be truncated by a test */
} Fixture;

#define IMG_DATA "guest disk data"


static void
fixtureSetup(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *sub = NULL;

    f->dir = ohtTmpNew();
    f->sys = g_build_filename(f->dir, "sys", NULL);
    f->run = g_build_filename(f->dir, "run", NULL);
    f->out = g_build_filename(f->dir, "out", NULL);
    sub = g_build_filename(f->run, "sub", NULL);
    g_assert_cmpint(g_mkdir(f->sys, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(f->run, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(sub, 0755), ==, 0);
    g_assert_cmpint(g_mkdir(f->out, 0755), ==, 0);
    f->lib = ohtWriteFile(f->sys, "lib.txt", "library");
    f->img = ohtWriteFile(f->out, "disk.img", IMG_DATA);
    f->victim = ohtWriteFile(f->out, "victim", "victim data");
}


static void
fixtureTeardown(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    ohtTmpFree(f->dir);
    g_free(f->sys);
    g_free(f->lib);
    g_free(f->run);
    g_free(f->out);
    g_free(f->img);
    g_free(f->victim);
}


/* Checks in a child: print what failed and return 1 from the child. */
#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            int saved_ = errno; \
            g_printerr("%s:%d: check failed: %s (errno %d: %s)\n", \
                       __FILE__, __LINE__, #cond, saved_, g_strerror(saved_)); \
            return 1; \
        } \
    } while (0)

/* @call fails with errno @err */
#define CHECK_ERRNO(call, err) \
    do { \
        long rc_; \
        errno = 0; \
        rc_ = (long)(call); \
        if (rc_ != -1 || errno != (err)) { \
            int saved_ = errno; \
            g_printerr("%s:%d: %s: want -1 errno %s, got %ld errno %d (%s)\n", \
                       __FILE__, __LINE__, #call, g_strerror(err), rc_, \
                       saved_, g_strerror(saved_)); \
            return 1; \
        } \
    } while (0)

#define CHECK_OPEN_DENIED(path, flags) \
    CHECK_ERRNO(open(path, (flags) | O_CLOEXEC, 0600), EACCES)

/* open succeeds; closes the fd */
static bool
openWorks(const char *path,
          int flags)
{
    int fd = open(path, flags | O_CLOEXEC, 0600);

    if (fd < 0) {
        g_printerr("open('%s', 0%o): %s\n", path, flags, g_strerror(errno));
        return false;
    }
    g_close(fd, NULL);
    return true;
}


/* Drop @cap from the effective set. */
static int
dropCap(unsigned int cap)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct caps[2] = { { 0 } };

    if (syscall(SYS_capget, &hdr, caps) < 0)
        return -1;
    caps[cap / 32].effective &= ~(1U << (cap % 32));
    return syscall(SYS_capset, &hdr, caps);
}


typedef int (*ChildFunc)(Fixture *f, void *opaque);

/* Run @fn in a child; assert that it exited 0. */
static void
runChild(Fixture *f,
         ChildFunc fn,
         void *opaque)
{
    int status;
    pid_t pid = fork();

    g_assert_cmpint(pid, >=, 0);
    if (pid == 0)
        _exit(fn(f, opaque));
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        g_error("child failed (status 0x%x)", status);
}


/* Build and apply a ruleset: sys read+exec, run as a runtime dir,
 * plus @extra (NULL-terminated path, access pairs). */
static int
confine(Fixture *f,
        int abi,
        unsigned int flags,
        ...)
{
    virLandlockRuleset *rs = NULL;
    g_autofree char *errmsg = NULL;
    const char *path;
    va_list ap;
    int rc;

    if (virLandlockRulesetNewForABI(&rs, abi, &errmsg) < 0) {
        g_printerr("ruleset: %s\n", errmsg);
        return -1;
    }
    rc = virLandlockRulesetAddPath(rs, f->sys, VIR_LANDLOCK_ACCESS_RX, 0, &errmsg);
    if (rc == 0)
        rc = virLandlockRulesetAddPath(rs, f->run, VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 0,
                                       &errmsg);
    va_start(ap, flags);
    while (rc == 0 && (path = va_arg(ap, const char *))) {
        unsigned int access = va_arg(ap, unsigned int);

        rc = virLandlockRulesetAddPath(rs, path, access, 0, &errmsg);
    }
    va_end(ap);
    if (rc < 0) {
        g_printerr("rule: %s\n", errmsg);
    } else if ((rc = virLandlockRulesetRestrictSelf(rs, flags)) < 0) {
        g_printerr("restrict: %s\n", g_strerror(-rc));
    }
    virLandlockRulesetFree(rs);
    return rc;
}


static bool
haveLandlock(void)
{
    if (virLandlockGetABI() < 1) {
        g_test_skip("Landlock is not available");
        return false;
    }
    return true;
}


static void
testMapping(void)
{
    const uint64_t fileRights = VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE |
                                VIR_LANDLOCK_FS_TRUNCATE;

    g_assert_cmphex(virLandlockHandledForABI(1), ==, 0x1fff);
    g_assert_cmphex(virLandlockHandledForABI(2), ==, 0x3fff);
    g_assert_cmphex(virLandlockHandledForABI(3), ==, 0x7fff);
    g_assert_cmphex(virLandlockHandledForABI(4), ==, 0x7fff);
    g_assert_cmphex(virLandlockHandledForABI(5), ==, 0xffff);
    g_assert_cmphex(virLandlockHandledForABI(7), ==, 0xffff);
    g_assert_cmphex(virLandlockHandledForABI(9), ==, 0xffff);

    /* directory rights are dropped from a rule on a file */
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RO, 7, false), ==,
                    VIR_LANDLOCK_FS_READ_FILE);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RO, 7, true), ==,
                    VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_READ_DIR);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 7, false),
                    ==, fileRights);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 7, true) &
                    (VIR_LANDLOCK_FS_REFER | VIR_LANDLOCK_FS_EXECUTE |
                     VIR_LANDLOCK_FS_MAKE_CHAR | VIR_LANDLOCK_FS_MAKE_BLOCK), ==, 0);
    /* rights the ABI lacks are not asked for */
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 2, false),
                    ==, VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_DEV, 4, false), ==,
                    VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_DEV, 5, false), ==,
                    VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE |
                    VIR_LANDLOCK_FS_IOCTL_DEV);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_REFER, 1, true), ==, 0);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_MAKE_DEV, 1, true), ==,
                    VIR_LANDLOCK_FS_MAKE_CHAR | VIR_LANDLOCK_FS_MAKE_BLOCK);
    g_assert_cmphex(virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_REMOVE, 1, true), ==,
                    VIR_LANDLOCK_FS_REMOVE_FILE | VIR_LANDLOCK_FS_REMOVE_DIR);
}


static void
testRuleset(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autoptr(virLandlockRuleset) old = NULL;
    virLandlockRuleset *bad = NULL;
    g_autofree char *missing = g_build_filename(f->dir, "missing", NULL);
    g_autofree char *notdir = g_build_filename(f->lib, "x", NULL);
    char *errmsg = NULL;
    int abi;
    int fd;

    if (!haveLandlock())
        return;
    abi = virLandlockGetABI();

    g_assert_cmpint(virLandlockRulesetNew(&rs, NULL), ==, 0);
    g_assert_cmpint(virLandlockRulesetGetABI(rs), ==, MIN(abi, 7));
    g_assert_cmphex(virLandlockRulesetGetHandled(rs), ==, virLandlockHandledForABI(abi));
    fd = virLandlockRulesetGetFD(rs);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpint(fcntl(fd, F_GETFD), ==, FD_CLOEXEC);

    g_assert_cmpint(virLandlockRulesetAddPath(rs, f->sys, VIR_LANDLOCK_ACCESS_RX, 0, NULL),
                    ==, 0);
    /* directory rights on a file are dropped, not refused */
    g_assert_cmpint(virLandlockRulesetAddPath(rs, f->lib, VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
                                              0, NULL), ==, 0);
    /* nothing grantable on a file: no rule, no error */
    g_assert_cmpint(virLandlockRulesetAddPath(rs, f->lib, VIR_LANDLOCK_ACCESS_READ_DIR,
                                              0, NULL), ==, 0);

    g_assert_cmpint(virLandlockRulesetAddPath(rs, missing, VIR_LANDLOCK_ACCESS_RO,
                                              VIR_LANDLOCK_PATH_OPTIONAL, &errmsg), ==, 1);
    g_assert_null(errmsg);
    g_assert_cmpint(virLandlockRulesetAddPath(rs, missing, VIR_LANDLOCK_ACCESS_RO,
                                              0, &errmsg), ==, -ENOENT);
    g_assert_nonnull(strstr(errmsg, missing));
    g_clear_pointer(&errmsg, g_free);
    /* only a missing path is optional */
    g_assert_cmpint(virLandlockRulesetAddPath(rs, notdir, VIR_LANDLOCK_ACCESS_RO,
                                              VIR_LANDLOCK_PATH_OPTIONAL, &errmsg), ==,
                    -ENOTDIR);
    g_clear_pointer(&errmsg, g_free);
    g_assert_cmpint(virLandlockRulesetAddPath(rs, f->sys, 1 << 20, 0, &errmsg), ==,
                    -EINVAL);
    g_clear_pointer(&errmsg, g_free);
    g_assert_cmpint(virLandlockRulesetAddPath(rs, f->sys, VIR_LANDLOCK_ACCESS_RO, 1 << 5,
                                              &errmsg), ==, -EINVAL);
    g_clear_pointer(&errmsg, g_free);

    /* ABI 1 cannot grant REFER: the rule is refused, not weakened */
    g_assert_cmpint(virLandlockRulesetNewForABI(&old, 1, NULL), ==, 0);
    g_assert_cmpint(virLandlockRulesetGetABI(old), ==, 1);
    g_assert_cmphex(virLandlockRulesetGetHandled(old), ==, 0x1fff);
    g_assert_cmpint(virLandlockRulesetAddPath(old, f->run, VIR_LANDLOCK_ACCESS_REFER, 0,
                                              &errmsg), ==, -EOPNOTSUPP);
    g_assert_nonnull(strstr(errmsg, "ABI 2"));
    g_clear_pointer(&errmsg, g_free);
    g_assert_cmpint(virLandlockRulesetNewForABI(&bad, 0, &errmsg), ==, -EINVAL);
    g_assert_null(bad);
    g_clear_pointer(&errmsg, g_free);
}


/* Allowed operations work; everything outside the rules is refused,
 * although the child is root. */
static int
childConfined(Fixture *f,
              void *opaque G_GNUC_UNUSED)
{
    g_autofree char *sysNew = g_build_filename(f->sys, "new", NULL);
    g_autofree char *runNew = g_build_filename(f->run, "new", NULL);
    g_autofree char *runNew2 = g_build_filename(f->run, "new2", NULL);
    g_autofree char *runSubNew = g_build_filename(f->run, "sub", "new", NULL);
    g_autofree char *runDir = g_build_filename(f->run, "dir", NULL);
    g_autofree char *runFifo = g_build_filename(f->run, "fifo", NULL);
    g_autofree char *runSym = g_build_filename(f->run, "sym", NULL);
    g_autofree char *runImg = g_build_filename(f->run, "disk.img", NULL);
    g_autofree char *outNew = g_build_filename(f->out, "new", NULL);
    g_autofree char *outImg2 = g_build_filename(f->out, "disk2.img", NULL);
    g_autofree char *outDir = g_build_filename(f->out, "dir", NULL);
    g_autofree char *dotdot = g_build_filename(f->sys, "..", "out", "disk.img", NULL);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    char buf[64] = { 0 };
    DIR *d;
    int fd;
    int sock;

    CHECK(confine(f, 99, 0, NULL) == 0);

    /* allowed: read and list the system dir, everything in the runtime dir */
    CHECK((fd = open(f->lib, O_RDONLY | O_CLOEXEC)) >= 0);
    CHECK(read(fd, buf, sizeof(buf) - 1) == 7 && strcmp(buf, "library") == 0);
    g_close(fd, NULL);
    CHECK((d = opendir(f->sys)) != NULL);
    closedir(d);
    CHECK((fd = open(runNew, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0);
    CHECK(write(fd, "x", 1) == 1 && ftruncate(fd, 0) == 0);
    g_close(fd, NULL);
    CHECK(truncate(runNew, 10) == 0);
    CHECK(rename(runNew, runNew2) == 0);
    CHECK(unlink(runNew2) == 0);
    CHECK(mkdir(runDir, 0700) == 0 && rmdir(runDir) == 0);
    CHECK(mkfifo(runFifo, 0600) == 0 && unlink(runFifo) == 0);
    CHECK(symlink("target", runSym) == 0 && unlink(runSym) == 0);
    g_strlcpy(sun.sun_path, runNew, sizeof(sun.sun_path));
    CHECK((sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    CHECK(bind(sock, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    CHECK(unlink(runNew) == 0);

    /* the system dir is read-only */
    CHECK_OPEN_DENIED(f->lib, O_WRONLY);
    CHECK_OPEN_DENIED(f->lib, O_RDWR);
    CHECK_OPEN_DENIED(sysNew, O_WRONLY | O_CREAT);
    CHECK_ERRNO(unlink(f->lib), EACCES);

    /* the guest's files: no open in any mode, no directory operation */
    CHECK_OPEN_DENIED(f->img, O_RDONLY);
    CHECK_OPEN_DENIED(f->img, O_WRONLY);
    CHECK_OPEN_DENIED(f->img, O_RDWR);
    CHECK_OPEN_DENIED(f->img, O_WRONLY | O_TRUNC);
    CHECK_OPEN_DENIED(f->img, O_RDONLY | O_DIRECT);
    CHECK_OPEN_DENIED(outNew, O_WRONLY | O_CREAT);
    CHECK_OPEN_DENIED(f->out, O_RDONLY | O_DIRECTORY);
    CHECK_OPEN_DENIED(f->out, O_WRONLY | O_TMPFILE);
    CHECK_ERRNO(truncate(f->img, 0), EACCES);
    CHECK_ERRNO(mkdir(outDir, 0700), EACCES);
    CHECK_ERRNO(unlink(f->img), EACCES);
    CHECK_ERRNO(rename(f->img, outImg2), EACCES);
    CHECK_ERRNO(link(f->img, outImg2), EACCES);
    CHECK_ERRNO(symlink("x", outImg2), EACCES);
    CHECK_ERRNO(mkfifo(outImg2, 0600), EACCES);
    CHECK_ERRNO(mknod(outImg2, S_IFCHR | 0600, makedev(1, 3)), EACCES);
    g_strlcpy(sun.sun_path, outImg2, sizeof(sun.sun_path));
    CHECK_ERRNO(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), EACCES);
    g_close(sock, NULL);

    /* Linking or renaming into another directory reparents the file:
     * that needs REFER, which no rule grants. When REFER is all that is
     * missing the kernel says EXDEV (so that mv(1) falls back to a
     * copy, which is refused in turn), otherwise EACCES. Linking a
     * guest file into the runtime dir lacks only REFER (a link needs no
     * right on the source's directory); moving it there lacks
     * REMOVE_FILE on the guest's directory too. */
    CHECK_ERRNO(link(f->img, runImg), EXDEV);
    CHECK_ERRNO(rename(f->img, runImg), EACCES);
    CHECK((fd = open(runNew, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) >= 0);
    g_close(fd, NULL);
    CHECK_ERRNO(rename(runNew, runSubNew), EXDEV);
    CHECK_ERRNO(rename(runNew, outNew), EACCES);
    CHECK(unlink(runNew) == 0);

    /* other names for the guest's file */
    CHECK_OPEN_DENIED(dotdot, O_RDONLY);
    CHECK(chdir(f->out) == 0);
    CHECK_OPEN_DENIED("disk.img", O_RDONLY);
    CHECK(chdir("/") == 0);
    /* even root may not mount it into an allowed directory */
    CHECK_ERRNO(mount(f->out, f->sys, NULL, MS_BIND, NULL), EPERM);
    return 0;
}


static void
testConfined(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    struct stat st;

    if (!haveLandlock())
        return;
    runChild(f, childConfined, NULL);
    /* nothing happened to the guest's file */
    g_assert_cmpint(g_stat(f->img, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, strlen(IMG_DATA));
}


/* Symbolic links are followed to their target, and the target decides. */
static int
childSymlinks(Fixture *f,
              void *opaque G_GNUC_UNUSED)
{
    g_autofree char *toImg = g_build_filename(f->sys, "to-img", NULL);
    g_autofree char *toOut = g_build_filename(f->sys, "to-out", "disk.img", NULL);
    g_autofree char *planted = g_build_filename(f->run, "planted", NULL);
    g_autofree char *hard = g_build_filename(f->sys, "hardlink", NULL);
    g_autofree char *toSys = g_build_filename(f->out, "to-sys", NULL);

    CHECK(confine(f, 99, 0, NULL) == 0);
    CHECK_OPEN_DENIED(toImg, O_RDONLY);
    CHECK_OPEN_DENIED(toOut, O_RDONLY);
    /* one the confined process plants itself */
    CHECK(symlink(f->img, planted) == 0);
    CHECK_OPEN_DENIED(planted, O_RDONLY);
    CHECK_OPEN_DENIED(planted, O_RDWR);
    /* a link from outside to an allowed file works */
    CHECK(openWorks(toSys, O_RDONLY));
    /* Landlock knows files by path: a hard link made (by someone else,
     * beforehand) in an allowed directory is that directory's file */
    CHECK(openWorks(hard, O_RDONLY));
    return 0;
}


static void
testSymlinks(Fixture *f,
             gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *toImg = g_build_filename(f->sys, "to-img", NULL);
    g_autofree char *toOut = g_build_filename(f->sys, "to-out", NULL);
    g_autofree char *hard = g_build_filename(f->sys, "hardlink", NULL);
    g_autofree char *toSys = g_build_filename(f->out, "to-sys", NULL);

    if (!haveLandlock())
        return;
    g_assert_cmpint(symlink(f->img, toImg), ==, 0);
    g_assert_cmpint(symlink(f->out, toOut), ==, 0);
    g_assert_cmpint(symlink(f->lib, toSys), ==, 0);
    g_assert_cmpint(link(f->victim, hard), ==, 0);
    runChild(f, childSymlinks, NULL);
}


/* A rule bound through a symlink is the target's. */
static int
childRuleThroughSymlink(Fixture *f,
                        void *opaque)
{
    const char *link = opaque;
    g_autofree char *lib = g_build_filename(link, "lib.txt", NULL);

    CHECK(confine(f, 99, 0, link, VIR_LANDLOCK_ACCESS_RO, NULL) == 0);
    CHECK(openWorks(lib, O_RDONLY));
    CHECK(openWorks(f->lib, O_RDONLY));
    return 0;
}


static void
testRuleThroughSymlink(Fixture *f,
                       gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *link = g_build_filename(f->dir, "sys-link", NULL);

    if (!haveLandlock())
        return;
    g_assert_cmpint(symlink(f->sys, link), ==, 0);
    runChild(f, childRuleThroughSymlink, link);
}


/* What Landlock (ABI <= 7) does not control: looking at a guest's files
 * and changing their metadata by path, and connecting to UNIX sockets.
 * DAC still applies. */
static int
childLimits(Fixture *f,
            void *opaque)
{
    const char *sockPath = opaque;
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    char target[64];
    int sock;

    CHECK(confine(f, 99, 0, NULL) == 0);
    CHECK_OPEN_DENIED(f->img, O_RDONLY);
    CHECK(stat(f->img, &st) == 0 && st.st_size == strlen(IMG_DATA));
    CHECK(access(f->img, R_OK | W_OK) == 0);
    CHECK(chmod(f->img, 0640) == 0);
    CHECK(chown(f->img, 0, 0) == 0);
    CHECK(utimes(f->img, NULL) == 0);
    CHECK(readlink(sockPath, target, sizeof(target)) < 0 && errno == EINVAL);
    g_strlcpy(sun.sun_path, sockPath, sizeof(sun.sun_path));
    CHECK((sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0);
    CHECK(connect(sock, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    g_close(sock, NULL);
    return 0;
}


static void
testLimits(Fixture *f,
           gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *sockPath = g_build_filename(f->out, "sock", NULL);
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    int sock;

    if (!haveLandlock())
        return;
    g_strlcpy(sun.sun_path, sockPath, sizeof(sun.sun_path));
    sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    g_assert_cmpint(bind(sock, (struct sockaddr *)&sun, sizeof(sun)), ==, 0);
    g_assert_cmpint(listen(sock, 1), ==, 0);
    runChild(f, childLimits, sockPath);
    g_close(sock, NULL);
    g_assert_cmpint(g_stat(f->img, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 07777, ==, 0640);
}


/* execve needs EXECUTE on the binary and on the dynamic loader. */
static int
childExec(Fixture *f,
          void *opaque G_GNUC_UNUSED)
{
    g_autofree char *sysTrue = g_build_filename(f->sys, "true", NULL);
    g_autofree char *outTrue = g_build_filename(f->out, "true", NULL);
    char *argv[] = { sysTrue, NULL };
    int status;
    pid_t pid;

    /* /usr for the dynamic loader and libc */
    CHECK(confine(f, 99, 0, "/usr", VIR_LANDLOCK_ACCESS_RX, NULL) == 0);
    CHECK((pid = fork()) >= 0);
    if (pid == 0) {
        execv(sysTrue, argv);
        _exit(errno);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    argv[0] = outTrue;
    CHECK_ERRNO(execv(outTrue, argv), EACCES);
    return 0;
}


static void
testExec(Fixture *f,
         gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *content = NULL;
    gsize len;
    const char *names[] = { "sys", "out" };
    size_t i;

    if (!haveLandlock())
        return;
    g_assert_true(g_file_get_contents("/bin/true", &content, &len, NULL));
    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_build_filename(f->dir, names[i], "true", NULL);

        g_assert_true(g_file_set_contents(path, content, len, NULL));
        g_assert_cmpint(g_chmod(path, 0755), ==, 0);
    }
    runChild(f, childExec, NULL);
}


/* A program needs EXEC on its ELF interpreter as well: the kernel runs
 * both. AddExecutable finds it; the libraries need only READ. */
static int
childExecutable(Fixture *f,
                void *opaque)
{
    bool withInterp = GPOINTER_TO_INT(opaque);
    virLandlockRuleset *rs = NULL;
    char *argv[] = { (char *)"true", NULL };
    g_autofree char *script = g_build_filename(f->sys, "script", NULL);
    int status;
    pid_t pid;

    CHECK(virLandlockRulesetNew(&rs, NULL) == 0);
    CHECK(virLandlockRulesetAddPath(rs, "/usr/lib", VIR_LANDLOCK_ACCESS_RO, 0, NULL) == 0);
    CHECK(virLandlockRulesetAddPath(rs, "/etc/ld.so.cache", VIR_LANDLOCK_ACCESS_RO,
                                    VIR_LANDLOCK_PATH_OPTIONAL, NULL) >= 0);
    if (withInterp) {
        CHECK(virLandlockRulesetAddExecutable(rs, "/bin/true", NULL) == 0);
        /* not ELF: the file alone */
        CHECK(virLandlockRulesetAddExecutable(rs, script, NULL) == 0);
    } else {
        CHECK(virLandlockRulesetAddPath(rs, "/bin/true", VIR_LANDLOCK_ACCESS_RX, 0, NULL) == 0);
    }
    CHECK(virLandlockRulesetRestrictSelf(rs, 0) == 0);
    virLandlockRulesetFree(rs);

    if (!withInterp) {
        CHECK_ERRNO(execv("/bin/true", argv), EACCES);
        return 0;
    }
    CHECK((pid = fork()) >= 0);
    if (pid == 0) {
        execv("/bin/true", argv);
        _exit(errno);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* /bin/false: same loader, but no rule of its own */
    CHECK_ERRNO(execv("/bin/false", argv), EACCES);
    return 0;
}


static void
testExecutable(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autofree char *errmsg = NULL;

    if (!haveLandlock())
        return;
    g_free(ohtWriteFile(f->sys, "script", "#!/bin/sh\n"));
    g_assert_cmpint(virLandlockRulesetNew(&rs, NULL), ==, 0);
    g_assert_cmpint(virLandlockRulesetAddExecutable(rs, f->img, NULL), ==, 0);
    g_assert_cmpint(virLandlockRulesetAddExecutable(rs, "/nonexistent", &errmsg), ==,
                    -ENOENT);
    g_assert_nonnull(errmsg);
    runChild(f, childExecutable, GINT_TO_POINTER(true));
    runChild(f, childExecutable, GINT_TO_POINTER(false));
}


/* Everything a confined QEMU does with an image fd it holds: Landlock
 * checks rights when a file is opened, and a file opened outside the
 * domain carries no restriction. */
static int
checkHeldFd(int fd,
            bool writable)
{
    char buf[32] = { 0 };
    struct stat st;
    int avail = -1;

    CHECK(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "guest", 5) == 0);
    CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode));
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    CHECK(ioctl(fd, FIONREAD, &avail) == 0 && avail == st.st_size);
    CHECK(fcntl(fd, F_SETFL, O_DIRECT) == 0 || errno == EINVAL);
    CHECK(fcntl(fd, F_SETFL, 0) == 0);
    if (!writable) {
        CHECK_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
        return 0;
    }
    CHECK(pwrite(fd, "GUEST", 5, 0) == 5);
    CHECK(ftruncate(fd, 4096) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_size == 4096);
    CHECK(fallocate(fd, 0, 0, 8192) == 0 || errno == EOPNOTSUPP);
    CHECK(fsync(fd) == 0 && fdatasync(fd) == 0);
    CHECK(ftruncate(fd, strlen(IMG_DATA)) == 0);
    CHECK(pwrite(fd, "guest", 5, 0) == 5);
    return 0;
}


static int
childHeldFds(Fixture *f,
             void *opaque G_GNUC_UNUSED)
{
    int rw = open(f->img, O_RDWR | O_CLOEXEC);
    int ro = open(f->img, O_RDONLY | O_CLOEXEC);

    CHECK(rw >= 0 && ro >= 0);
    CHECK(confine(f, 99, 0, NULL) == 0);
    CHECK_OPEN_DENIED(f->img, O_RDONLY);
    CHECK(checkHeldFd(rw, true) == 0);
    CHECK(checkHeldFd(ro, false) == 0);
    return 0;
}


static void
testHeldFds(Fixture *f,
            gconstpointer data G_GNUC_UNUSED)
{
    if (!haveLandlock())
        return;
    runChild(f, childHeldFds, NULL);
}


/*
 * The broker's case: the parent (unconfined) opens the image after the
 * child is confined and passes the fds with SCM_RIGHTS. Then the child
 * tries to re-open them by their /proc/self/fd magic link, with more
 * access than it was given: first with /proc outside the ruleset, then
 * with all of /proc allowed read-write.
 */
typedef struct {
    int sock;
    bool allowProc;
} ReceivedData;


static int
childReceivedFds(Fixture *f,
                 void *opaque)
{
    ReceivedData *data = opaque;
    g_autofree char *procRO = NULL;
    g_autofree char *procRW = NULL;
    g_autofree char *procPath = NULL;
    char c = 'r';
    int rw;
    int ro;
    int opath;

    if (data->allowProc)
        CHECK(confine(f, 99, 0, "/proc", VIR_LANDLOCK_ACCESS_RUNTIME_DIR, NULL) == 0);
    else
        CHECK(confine(f, 99, 0, NULL) == 0);
    CHECK(write(data->sock, &c, 1) == 1);
    CHECK(ohtRecvRaw(data->sock, &c, 1, &rw, 5000) == 1 && rw >= 0);
    CHECK(ohtRecvRaw(data->sock, &c, 1, &ro, 5000) == 1 && ro >= 0);
    CHECK_OPEN_DENIED(f->img, O_RDONLY);
    CHECK(checkHeldFd(rw, true) == 0);
    CHECK(checkHeldFd(ro, false) == 0);

    /* the magic link leads to the file itself, and the file's place
     * decides: no re-open at all, and above all no read-only fd
     * turned into a writable one */
    procRO = g_strdup_printf("/proc/self/fd/%d", ro);
    procRW = g_strdup_printf("/proc/self/fd/%d", rw);
    CHECK_OPEN_DENIED(procRO, O_RDWR);
    CHECK_OPEN_DENIED(procRO, O_RDONLY);
    CHECK_OPEN_DENIED(procRW, O_RDWR);
    /* O_PATH opens are not checked, but get nothing to read or write */
    CHECK((opath = open(f->img, O_PATH | O_CLOEXEC)) >= 0);
    procPath = g_strdup_printf("/proc/self/fd/%d", opath);
    CHECK_OPEN_DENIED(procPath, O_RDWR);
    CHECK_ERRNO(read(opath, &c, 1), EBADF);
    if (data->allowProc) {
        g_autofree char *cmdline = g_strdup_printf("/proc/%d/cmdline", getppid());
        g_autofree char *mem = g_strdup_printf("/proc/%d/mem", getppid());
        g_autofree char *exe = g_strdup_printf("/proc/%d/exe", getppid());
        g_autofree char *fd0 = g_strdup_printf("/proc/%d/fd/0", getppid());
        g_autofree char *root = g_strdup_printf("/proc/%d/root%s", getppid(), f->img);
        char target[256];

        /* /proc itself is readable then, and so is what any process
         * shows everyone (the parent is outside the domain) ... */
        CHECK(openWorks("/proc/self/status", O_RDONLY));
        CHECK(openWorks(cmdline, O_RDONLY));
        /* ... but not what needs ptrace access to it: Landlock denies
         * that towards processes outside the domain, even to root */
        CHECK_OPEN_DENIED(mem, O_RDONLY);
        CHECK_ERRNO(readlink(exe, target, sizeof(target)), EACCES);
        CHECK_ERRNO(readlink(fd0, target, sizeof(target)), EACCES);
        CHECK_ERRNO(open(root, O_RDONLY | O_CLOEXEC), EACCES);
    } else {
        CHECK_OPEN_DENIED("/proc/self/status", O_RDONLY);
    }
    return 0;
}


static void
testReceivedFds(Fixture *f,
                gconstpointer data)
{
    ReceivedData rd = { .allowProc = GPOINTER_TO_INT(data) };
    int sv[2];
    int status;
    pid_t pid;
    char c;
    int fd;

    if (!haveLandlock())
        return;
    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    rd.sock = sv[1];
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        g_close(sv[0], NULL);
        _exit(childReceivedFds(f, &rd));
    }
    g_close(sv[1], NULL);

    /* open only once the child is confined */
    g_assert_cmpint(read(sv[0], &c, 1), ==, 1);
    fd = open(f->img, O_RDWR | O_CLOEXEC);
    ohtSendRaw(sv[0], "w", 1, fd);
    g_close(fd, NULL);
    fd = open(f->img, O_RDONLY | O_CLOEXEC);
    ohtSendRaw(sv[0], "r", 1, fd);
    g_close(fd, NULL);

    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_close(sv[0], NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        g_error("child failed (status 0x%x)", status);
}


/*
 * LANDLOCK_ACCESS_FS_IOCTL_DEV (ABI 5) on a character device: a device
 * the confined process opens itself needs it for ioctls, one it held
 * before or receives does not.
 */
static int
childIoctlChar(Fixture *f,
               void *opaque G_GNUC_UNUSED)
{
    int held = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    unsigned int n;
    int on = 1;
    int fd;

    CHECK(held >= 0);
    CHECK(confine(f, 99, 0, "/dev/ptmx", VIR_LANDLOCK_ACCESS_READ | VIR_LANDLOCK_ACCESS_WRITE,
                  "/dev/null", VIR_LANDLOCK_ACCESS_DEV, NULL) == 0);
    CHECK(ioctl(held, TIOCGPTN, &n) == 0);
    CHECK((fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) >= 0);
    CHECK_ERRNO(ioctl(fd, TIOCGPTN, &n), EACCES);
    /* the generic fd ioctls are never restricted */
    CHECK(ioctl(fd, FIOCLEX) == 0 && ioctl(fd, FIONBIO, &on) == 0);
    g_close(fd, NULL);
    CHECK_OPEN_DENIED("/dev/zero", O_RDONLY);
    /* with IOCTL_DEV: /dev/null has no ioctls, so the driver's ENOTTY */
    CHECK((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0);
    CHECK_ERRNO(ioctl(fd, TIOCGPTN, &n), ENOTTY);
    g_close(fd, NULL);
    return 0;
}


static int
childIoctlCharAllowed(Fixture *f,
                      void *opaque G_GNUC_UNUSED)
{
    unsigned int n;
    int fd;

    CHECK(confine(f, 99, 0, "/dev/ptmx", VIR_LANDLOCK_ACCESS_DEV, NULL) == 0);
    CHECK((fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) >= 0);
    CHECK(ioctl(fd, TIOCGPTN, &n) == 0);
    return 0;
}


/* The same ruleset on an ABI 4 kernel does not handle ioctls at all. */
static int
childIoctlCharABI4(Fixture *f,
                   void *opaque G_GNUC_UNUSED)
{
    unsigned int n;
    int fd;

    CHECK(confine(f, 4, 0, "/dev/ptmx", VIR_LANDLOCK_ACCESS_READ | VIR_LANDLOCK_ACCESS_WRITE,
                  NULL) == 0);
    CHECK((fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC)) >= 0);
    CHECK(ioctl(fd, TIOCGPTN, &n) == 0);
    return 0;
}


static void
testIoctlChar(Fixture *f,
              gconstpointer data G_GNUC_UNUSED)
{
    if (!haveLandlock())
        return;
    if (virLandlockGetABI() < 5) {
        g_test_skip("Landlock ABI < 5: no IOCTL_DEV");
        return;
    }
    if (access("/dev/ptmx", R_OK | W_OK) < 0) {
        g_test_skip("no /dev/ptmx");
        return;
    }
    runChild(f, childIoctlChar, NULL);
    runChild(f, childIoctlCharAllowed, NULL);
    runChild(f, childIoctlCharABI4, NULL);
}


/* A block device from the broker: ioctls work on the fd received; the
 * same device opened by the confined process does not get them. */
typedef struct {
    int sock;
    const char *dev;
} BlockData;


static int
childBlock(Fixture *f,
           void *opaque)
{
    BlockData *data = opaque;
    uint64_t size = 0;
    char buf[5];
    char c = 'r';
    int fd;

    CHECK(confine(f, 99, 0, data->dev, VIR_LANDLOCK_ACCESS_READ | VIR_LANDLOCK_ACCESS_WRITE,
                  NULL) == 0);
    CHECK(write(data->sock, &c, 1) == 1);
    CHECK(ohtRecvRaw(data->sock, &c, 1, &fd, 5000) == 1 && fd >= 0);
    CHECK(ioctl(fd, BLKGETSIZE64, &size) == 0 && size == 1024 * 1024);
    CHECK(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "guest", 5) == 0);
    CHECK(pwrite(fd, "GUEST", 5, 512) == 5 && fsync(fd) == 0);
    g_close(fd, NULL);

    CHECK((fd = open(data->dev, O_RDWR | O_CLOEXEC)) >= 0);
    CHECK(pread(fd, buf, 5, 0) == 5);
    CHECK_ERRNO(ioctl(fd, BLKGETSIZE64, &size), EACCES);
    g_close(fd, NULL);
    return 0;
}


/* Attach @backing to a free loop device that goes away with its last
 * fd; returns that fd (and the device's path) or -1. */
static int
loopAttach(const char *backing,
           char **dev)
{
    struct loop_config cfg = { 0 };
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    int backingFd = open(backing, O_RDWR | O_CLOEXEC);
    int tries;
    int fd = -1;

    if (ctl < 0 || backingFd < 0) {
        if (ctl >= 0)
            g_close(ctl, NULL);
        if (backingFd >= 0)
            g_close(backingFd, NULL);
        return -1;
    }
    cfg.fd = backingFd;
    cfg.info.lo_flags = LO_FLAGS_AUTOCLEAR;
    for (tries = 0; tries < 10 && fd < 0; tries++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);

        if (n < 0)
            break;
        g_free(*dev);
        *dev = g_strdup_printf("/dev/loop%d", n);
        if ((fd = open(*dev, O_RDWR | O_CLOEXEC)) < 0)
            continue;
        if (ioctl(fd, LOOP_CONFIGURE, &cfg) < 0) {
            g_close(fd, NULL);
            fd = -1;
        }
    }
    g_close(backingFd, NULL);
    g_close(ctl, NULL);
    return fd;
}


static void
testBlockDevice(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    g_autofree char *backing = g_build_filename(f->dir, "block.img", NULL);
    g_autofree char *dev = NULL;
    BlockData bd;
    int sv[2];
    int status;
    pid_t pid;
    char c;
    char buf[5];
    int loopfd;

    if (!haveLandlock())
        return;
    if (virLandlockGetABI() < 5) {
        g_test_skip("Landlock ABI < 5: no IOCTL_DEV");
        return;
    }
    g_assert_true(g_file_set_contents(backing, IMG_DATA, -1, NULL));
    g_assert_cmpint(truncate(backing, 1024 * 1024), ==, 0);
    if ((loopfd = loopAttach(backing, &dev)) < 0) {
        g_test_skip("cannot set up a loop device (not root?)");
        return;
    }

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), ==, 0);
    bd.sock = sv[1];
    bd.dev = dev;
    pid = fork();
    g_assert_cmpint(pid, >=, 0);
    if (pid == 0) {
        g_close(sv[0], NULL);
        _exit(childBlock(f, &bd));
    }
    g_close(sv[1], NULL);
    g_assert_cmpint(read(sv[0], &c, 1), ==, 1);
    ohtSendRaw(sv[0], "b", 1, loopfd);
    g_assert_cmpint(waitpid(pid, &status, 0), ==, pid);
    g_close(sv[0], NULL);
    g_assert_cmpint(pread(loopfd, buf, 5, 512), ==, 5);
    g_close(loopfd, NULL);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        g_error("child failed (status 0x%x)", status);
    g_assert_cmpmem(buf, 5, "GUEST", 5);
}


/* Best effort on an older kernel: before ABI 3 truncate(2) by path is
 * not handled, so a confined process may truncate a file it cannot
 * open. */
static int
childTruncateABI(Fixture *f,
                 void *opaque)
{
    int abi = GPOINTER_TO_INT(opaque);

    CHECK(confine(f, abi, 0, NULL) == 0);
    CHECK_OPEN_DENIED(f->victim, O_WRONLY);
    if (abi >= 3) {
        CHECK_ERRNO(truncate(f->victim, 0), EACCES);
    } else {
        CHECK(truncate(f->victim, 0) == 0);
    }
    return 0;
}


static void
testTruncateABI(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    struct stat st;

    if (!haveLandlock())
        return;
    if (virLandlockGetABI() < 3) {
        g_test_skip("Landlock ABI < 3: no TRUNCATE");
        return;
    }
    runChild(f, childTruncateABI, GINT_TO_POINTER(3));
    g_assert_cmpint(g_stat(f->victim, &st), ==, 0);
    g_assert_cmpint(st.st_size, >, 0);
    runChild(f, childTruncateABI, GINT_TO_POINTER(2));
    g_assert_cmpint(g_stat(f->victim, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, 0);
}


static bool
haveCapSysAdmin(void)
{
    struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct caps[2] = { { 0 } };

    if (syscall(SYS_capget, &hdr, caps) < 0)
        return false;
    return caps[CAP_SYS_ADMIN / 32].effective & (1U << (CAP_SYS_ADMIN % 32));
}


/* no_new_privs is set only when asked or needed, and the ruleset's fd
 * is closed after the restriction, whatever its close-on-exec flag. */
static int
childNoNewPrivs(Fixture *f,
                void *opaque)
{
    int mode = GPOINTER_TO_INT(opaque);
    virLandlockRuleset *rs = NULL;
    unsigned int flags = 0;
    int fd;

    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    if (mode == 1)
        flags |= VIR_LANDLOCK_RESTRICT_NO_NEW_PRIVS;
    if (mode == 2)
        CHECK(dropCap(CAP_SYS_ADMIN) == 0 && !haveCapSysAdmin());
    CHECK(virLandlockRulesetNew(&rs, NULL) == 0);
    CHECK(virLandlockRulesetAddPath(rs, f->sys, VIR_LANDLOCK_ACCESS_RO, 0, NULL) == 0);
    fd = virLandlockRulesetGetFD(rs);
    /* what virCommand does to an fd it keeps for the child */
    CHECK(fcntl(fd, F_SETFD, 0) == 0);
    CHECK(virLandlockRulesetRestrictSelf(rs, flags | VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC) == 0);
    CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == (mode == 0 ? 0 : 1));
    CHECK_ERRNO(fcntl(fd, F_GETFD), EBADF);
    CHECK(virLandlockRulesetGetFD(rs) == -1);
    CHECK(virLandlockRulesetRestrictSelf(rs, 0) == -EBADF);
    CHECK(virLandlockRulesetAddPath(rs, f->run, VIR_LANDLOCK_ACCESS_RO, 0, NULL) == -EBADF);
    virLandlockRulesetFree(rs);
    CHECK_OPEN_DENIED(f->img, O_RDONLY);
    CHECK(openWorks(f->lib, O_RDONLY));
    return 0;
}


static void
testNoNewPrivs(Fixture *f,
               gconstpointer data G_GNUC_UNUSED)
{
    if (!haveLandlock())
        return;
    if (!haveCapSysAdmin()) {
        g_test_skip("needs CAP_SYS_ADMIN");
        return;
    }
    runChild(f, childNoNewPrivs, GINT_TO_POINTER(0));
    runChild(f, childNoNewPrivs, GINT_TO_POINTER(1));
    runChild(f, childNoNewPrivs, GINT_TO_POINTER(2));
}


/*
 * Landlock unavailable: a kernel without it returns ENOSYS for the
 * syscall, one with it disabled at boot EOPNOTSUPP. A seccomp filter in
 * the child makes landlock_create_ruleset(2) fail exactly so.
 */
static int
childUnavailable(Fixture *f G_GNUC_UNUSED,
                 void *opaque)
{
    int err = GPOINTER_TO_INT(opaque);
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_landlock_create_ruleset, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = G_N_ELEMENTS(filter), .filter = filter };
    virLandlockRuleset *rs = NULL;
    g_autofree char *errmsg = NULL;

    CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHECK(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == 0);
    CHECK(virLandlockGetABI() == -err);
    CHECK(virLandlockRulesetNew(&rs, &errmsg) == -err && rs == NULL);
    CHECK(strstr(errmsg, err == ENOSYS ? "not supported" : "not enabled") != NULL);
    return 0;
}


static void
testUnavailable(Fixture *f,
                gconstpointer data G_GNUC_UNUSED)
{
    runChild(f, childUnavailable, GINT_TO_POINTER(ENOSYS));
    runChild(f, childUnavailable, GINT_TO_POINTER(EOPNOTSUPP));
}


int
main(int argc,
     char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, func, data) \
    g_test_add("/landlock/" name, Fixture, data, fixtureSetup, func, fixtureTeardown)

    g_test_add_func("/landlock/mapping", testMapping);
    ADD("ruleset", testRuleset, NULL);
    ADD("confined", testConfined, NULL);
    ADD("symlinks", testSymlinks, NULL);
    ADD("rule-through-symlink", testRuleThroughSymlink, NULL);
    ADD("exec", testExec, NULL);
    ADD("executable-interpreter", testExecutable, NULL);
    ADD("held-fds", testHeldFds, NULL);
    ADD("received-fds", testReceivedFds, GINT_TO_POINTER(false));
    ADD("received-fds-proc-allowed", testReceivedFds, GINT_TO_POINTER(true));
    ADD("ioctl-char-device", testIoctlChar, NULL);
    ADD("ioctl-block-device", testBlockDevice, NULL);
    ADD("truncate-abi", testTruncateABI, NULL);
    ADD("not-covered", testLimits, NULL);
    ADD("no-new-privs", testNoNewPrivs, NULL);
    ADD("unavailable", testUnavailable, NULL);

    return g_test_run();
}
