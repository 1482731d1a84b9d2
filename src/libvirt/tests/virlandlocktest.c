/*
 * virlandlocktest.c: confining a child process with Landlock
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

#include "testutils.h"

#ifdef __linux__

# include <fcntl.h>
# include <stddef.h>
# include <unistd.h>
# include <linux/filter.h>
# include <linux/seccomp.h>
# include <sys/prctl.h>
# include <sys/socket.h>
# include <sys/stat.h>
# include <sys/syscall.h>
# include <sys/wait.h>

# include "vircommand.h"
# include "virfile.h"
# include "virsocket.h"

# define LIBVIRT_VIRLANDLOCKPRIV_H_ALLOW
# include "virlandlockpriv.h"

# define VIR_FROM_THIS VIR_FROM_NONE

/*
 * Each test that applies a ruleset does so in a child, which then plays
 * the compromised QEMU: what the rules allow must work, the "guest's"
 * files must be refused by the kernel, and descriptors the child holds
 * or receives must keep working. The scratch directory has:
 *
 *   sys/lib.txt     a system file: read-only
 *   run/            QEMU's runtime directory: read, write, create
 *   out/disk.img    a guest image: nothing
 */
static char *scratch;
static char *sysDir;
static char *sysFile;
static char *runDir;
static char *outDir;
static char *outImg;

# define IMG_DATA "guest disk data"

/* Checks in a child: say what failed and return 1 from the child. */
# define CHECK(cond) \
    do { \
        if (!(cond)) { \
            int saved_ = errno; \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", \
                    __FILE__, __LINE__, #cond, g_strerror(saved_)); \
            return 1; \
        } \
    } while (0)

/* @call fails with errno @err */
# define CHECK_ERRNO(call, err) \
    do { \
        long rc_; \
        errno = 0; \
        rc_ = (long)(call); \
        if (rc_ != -1 || errno != (err)) { \
            int saved_ = errno; \
            fprintf(stderr, "%s:%d: %s: want errno %s, got %ld (%s)\n", \
                    __FILE__, __LINE__, #call, g_strerror(err), rc_, \
                    g_strerror(saved_)); \
            return 1; \
        } \
    } while (0)

# define CHECK_OPEN_DENIED(path, flags) \
    CHECK_ERRNO(open(path, (flags) | O_CLOEXEC, 0600), EACCES)


typedef int (*testChildFunc)(const void *opaque);

/* Run @func in a child and return 0 if it exited with 0. */
static int
testRunChild(testChildFunc func,
             const void *opaque)
{
    int status;
    pid_t pid;

    if ((pid = virFork()) < 0)
        return -1;
    if (pid == 0)
        _exit(func(opaque));

    if (waitpid(pid, &status, 0) != pid) {
        fprintf(stderr, "waitpid: %s\n", g_strerror(errno));
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed: status 0x%x\n", status);
        return -1;
    }
    return 0;
}


static bool
testHaveLandlock(void)
{
    return virLandlockGetABI() >= 1;
}


/* sys read-only, run as a runtime directory, plus @extra (or NULL)
 * with @extraAccess; then apply. In a child only. */
static int
testConfine(const char *extra,
            unsigned int extraAccess)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autofree char *errmsg = NULL;
    int rc;

    if ((rc = virLandlockRulesetNew(&rs, &errmsg)) < 0 ||
        (rc = virLandlockRulesetAddPath(rs, sysDir, VIR_LANDLOCK_ACCESS_RO,
                                        0, &errmsg)) < 0 ||
        (rc = virLandlockRulesetAddPath(rs, runDir,
                                        VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
                                        0, &errmsg)) < 0 ||
        (extra &&
         (rc = virLandlockRulesetAddPath(rs, extra, extraAccess,
                                         0, &errmsg)) < 0)) {
        fprintf(stderr, "ruleset: %s\n", NULLSTR(errmsg));
        return rc;
    }

    if ((rc = virLandlockRulesetRestrictSelf(rs, 0)) < 0)
        fprintf(stderr, "restrict: %s\n", g_strerror(-rc));
    return rc;
}


/* The mapping of our rights to the kernel's, for each ABI. */
static int
testMapping(const void *opaque G_GNUC_UNUSED)
{
    if (virLandlockHandledForABI(1) != 0x1fff ||
        virLandlockHandledForABI(2) != 0x3fff ||
        virLandlockHandledForABI(3) != 0x7fff ||
        virLandlockHandledForABI(4) != 0x7fff ||
        virLandlockHandledForABI(5) != 0xffff ||
        virLandlockHandledForABI(7) != 0xffff ||
        virLandlockHandledForABI(42) != 0xffff) {
        fprintf(stderr, "handled rights\n");
        return -1;
    }

    /* directory rights are dropped from a rule on a file */
    if (virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RO, 7, false) !=
        VIR_LANDLOCK_FS_READ_FILE ||
        virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RO, 7, true) !=
        (VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_READ_DIR)) {
        fprintf(stderr, "file rights\n");
        return -1;
    }

    /* a runtime directory never grants REFER, EXECUTE or device nodes */
    if (virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 7, true) &
        (VIR_LANDLOCK_FS_REFER | VIR_LANDLOCK_FS_EXECUTE |
         VIR_LANDLOCK_FS_MAKE_CHAR | VIR_LANDLOCK_FS_MAKE_BLOCK)) {
        fprintf(stderr, "runtime directory rights\n");
        return -1;
    }

    /* rights an older ABI lacks are not asked for */
    if (virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_DEV, 4, false) !=
        (VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE) ||
        virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_DEV, 5, false) !=
        (VIR_LANDLOCK_FS_READ_FILE | VIR_LANDLOCK_FS_WRITE_FILE |
         VIR_LANDLOCK_FS_IOCTL_DEV) ||
        virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_TRUNCATE, 2, false) != 0) {
        fprintf(stderr, "rights of older ABIs\n");
        return -1;
    }

    return 0;
}


/* Building a ruleset: optional and missing paths, bad arguments. */
static int
testRuleset(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autoptr(virLandlockRuleset) old = NULL;
    g_autofree char *missing = g_build_filename(scratch, "missing", NULL);
    g_autofree char *errmsg = NULL;
    int fd;

    if (!testHaveLandlock())
        return EXIT_AM_SKIP;

    if (virLandlockRulesetNew(&rs, &errmsg) < 0) {
        fprintf(stderr, "%s\n", NULLSTR(errmsg));
        return -1;
    }
    if (virLandlockRulesetGetABI(rs) < 1 ||
        virLandlockRulesetGetHandled(rs) !=
        virLandlockHandledForABI(virLandlockRulesetGetABI(rs))) {
        fprintf(stderr, "ABI %d handled 0x%llx\n", virLandlockRulesetGetABI(rs),
                (unsigned long long)virLandlockRulesetGetHandled(rs));
        return -1;
    }
    fd = virLandlockRulesetGetFD(rs);
    if (fd < 0 || fcntl(fd, F_GETFD) != FD_CLOEXEC) {
        fprintf(stderr, "ruleset fd %d is not close-on-exec\n", fd);
        return -1;
    }

    if (virLandlockRulesetAddPath(rs, sysDir, VIR_LANDLOCK_ACCESS_RX, 0, NULL) != 0 ||
        virLandlockRulesetAddPath(rs, sysFile, VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
                                  0, NULL) != 0 ||
        virLandlockRulesetAddPath(rs, missing, VIR_LANDLOCK_ACCESS_RO,
                                  VIR_LANDLOCK_PATH_OPTIONAL, &errmsg) != 1 ||
        errmsg) {
        fprintf(stderr, "rules\n");
        return -1;
    }

    if (virLandlockRulesetAddPath(rs, missing, VIR_LANDLOCK_ACCESS_RO,
                                  0, &errmsg) != -ENOENT ||
        !errmsg || !strstr(errmsg, missing)) {
        fprintf(stderr, "missing path: %s\n", NULLSTR(errmsg));
        return -1;
    }
    g_clear_pointer(&errmsg, g_free);

    if (virLandlockRulesetAddPath(rs, sysDir, 1 << 20, 0, &errmsg) != -EINVAL ||
        !errmsg) {
        fprintf(stderr, "unknown access rights accepted\n");
        return -1;
    }
    g_clear_pointer(&errmsg, g_free);

    /* ABI 1 cannot grant REFER: refused, not weakened */
    if (virLandlockRulesetNewForABI(&old, 1, NULL) < 0 ||
        virLandlockRulesetAddPath(old, runDir, VIR_LANDLOCK_ACCESS_REFER,
                                  0, &errmsg) != -EOPNOTSUPP) {
        fprintf(stderr, "REFER on ABI 1\n");
        return -1;
    }

    return 0;
}


/* Allowed operations work, the guest's files are refused, root or not. */
static int
testChildConfined(const void *opaque G_GNUC_UNUSED)
{
    g_autofree char *runNew = g_build_filename(runDir, "new", NULL);
    g_autofree char *runImg = g_build_filename(runDir, "disk.img", NULL);
    g_autofree char *sysNew = g_build_filename(sysDir, "new", NULL);
    g_autofree char *outNew = g_build_filename(outDir, "new", NULL);
    g_autofree char *dotdot = g_build_filename(sysDir, "..", "out",
                                               "disk.img", NULL);
    char buf[16] = { 0 };
    int fd;

    CHECK(testConfine(NULL, 0) == 0);

    CHECK((fd = open(sysFile, O_RDONLY | O_CLOEXEC)) >= 0);
    CHECK(read(fd, buf, sizeof(buf) - 1) == 7 && STREQ(buf, "library"));
    VIR_FORCE_CLOSE(fd);
    CHECK_OPEN_DENIED(sysFile, O_WRONLY);
    CHECK_OPEN_DENIED(sysNew, O_WRONLY | O_CREAT);

    CHECK((fd = open(runNew, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) >= 0);
    CHECK(safewrite(fd, "x", 1) == 1 && ftruncate(fd, 0) == 0);
    VIR_FORCE_CLOSE(fd);
    CHECK(unlink(runNew) == 0);

    CHECK_OPEN_DENIED(outImg, O_RDONLY);
    CHECK_OPEN_DENIED(outImg, O_RDWR);
    CHECK_OPEN_DENIED(outImg, O_WRONLY | O_TRUNC);
    CHECK_OPEN_DENIED(outNew, O_WRONLY | O_CREAT);
    CHECK_OPEN_DENIED(outDir, O_RDONLY | O_DIRECTORY);
    CHECK_OPEN_DENIED(dotdot, O_RDONLY);
    CHECK_ERRNO(unlink(outImg), EACCES);
    CHECK_ERRNO(rename(outImg, runImg), EACCES);
    return 0;
}


static int
testConfined(const void *opaque G_GNUC_UNUSED)
{
    struct stat sb;

    if (!testHaveLandlock())
        return EXIT_AM_SKIP;
    if (testRunChild(testChildConfined, NULL) < 0)
        return -1;
    /* nothing happened to the guest's image */
    if (stat(outImg, &sb) < 0 || sb.st_size != strlen(IMG_DATA))
        return -1;
    return 0;
}


/*
 * The open hook's case: the child holds a read-write fd of the image
 * from before it was confined and receives a read-only one afterwards,
 * over SCM_RIGHTS, from its unconfined parent. Both keep working; the
 * image cannot be opened by name, nor by the /proc/self/fd magic link
 * of the fd received, which would turn it into a writable one.
 */
typedef struct {
    int heldfd;
    int sock;
} testFdsData;


static int
testChildFds(const void *opaque)
{
    const testFdsData *data = opaque;
    g_autofree char *magic = NULL;
    char buf[5];
    char c = 'r';
    int fd;

    CHECK(testConfine(NULL, 0) == 0);
    CHECK(safewrite(data->sock, &c, 1) == 1);
    CHECK((fd = virSocketRecvFD(data->sock, O_CLOEXEC)) >= 0);

    CHECK_OPEN_DENIED(outImg, O_RDONLY);

    CHECK(pread(fd, buf, 5, 0) == 5 && memcmp(buf, "guest", 5) == 0);
    CHECK_ERRNO(pwrite(fd, "x", 1, 0), EBADF);
    magic = g_strdup_printf("/proc/self/fd/%d", fd);
    CHECK_OPEN_DENIED(magic, O_RDWR);
    CHECK_OPEN_DENIED(magic, O_RDONLY);

    CHECK(pwrite(data->heldfd, "GUEST", 5, 0) == 5);
    CHECK(ftruncate(data->heldfd, 4096) == 0);
    CHECK(ftruncate(data->heldfd, strlen(IMG_DATA)) == 0);
    CHECK(pwrite(data->heldfd, "guest", 5, 0) == 5);
    CHECK(fdatasync(data->heldfd) == 0);
    VIR_FORCE_CLOSE(fd);
    return 0;
}


static int
testFds(const void *opaque G_GNUC_UNUSED)
{
    testFdsData data = { .heldfd = -1, .sock = -1 };
    int sv[2] = { -1, -1 };
    int fd = -1;
    int status;
    int ret = -1;
    pid_t pid;
    char c;

    if (!testHaveLandlock())
        return EXIT_AM_SKIP;

    if ((data.heldfd = open(outImg, O_RDWR | O_CLOEXEC)) < 0 ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        goto cleanup;
    data.sock = sv[1];

    if ((pid = virFork()) < 0)
        goto cleanup;
    if (pid == 0) {
        VIR_FORCE_CLOSE(sv[0]);
        _exit(testChildFds(&data));
    }
    VIR_FORCE_CLOSE(sv[1]);

    /* open it only once the child is confined */
    if (saferead(sv[0], &c, 1) == 1 &&
        (fd = open(outImg, O_RDONLY | O_CLOEXEC)) >= 0 &&
        virSocketSendFD(sv[0], fd) < 0)
        fprintf(stderr, "cannot send the fd: %s\n", g_strerror(errno));

    if (waitpid(pid, &status, 0) != pid ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "child failed\n");
        goto cleanup;
    }
    ret = 0;

 cleanup:
    VIR_FORCE_CLOSE(fd);
    VIR_FORCE_CLOSE(sv[0]);
    VIR_FORCE_CLOSE(sv[1]);
    VIR_FORCE_CLOSE(data.heldfd);
    return ret;
}


/* execve needs EXEC on the program and on its ELF interpreter, which
 * virLandlockRulesetAddExecutable finds; the libraries only READ. */
static int
testChildExecutable(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    const char *const libdirs[] = { "/lib", "/lib64", "/usr/lib", "/usr/lib64",
                                    "/etc/ld.so.cache" };
    char *argv[] = { (char *)"true", NULL };
    g_autofree char *errmsg = NULL;
    size_t i;
    int status;
    pid_t pid;

    CHECK(virLandlockRulesetNew(&rs, NULL) == 0);
    for (i = 0; i < G_N_ELEMENTS(libdirs); i++)
        CHECK(virLandlockRulesetAddPath(rs, libdirs[i], VIR_LANDLOCK_ACCESS_RO,
                                        VIR_LANDLOCK_PATH_OPTIONAL, NULL) >= 0);
    if (virLandlockRulesetAddExecutable(rs, "/bin/true", &errmsg) < 0) {
        fprintf(stderr, "%s\n", NULLSTR(errmsg));
        return 1;
    }
    CHECK(virLandlockRulesetRestrictSelf(rs, VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC) == 0);
    CHECK(virLandlockRulesetGetFD(rs) == -1);
    CHECK(virLandlockRulesetRestrictSelf(rs, 0) == -EBADF);

    CHECK((pid = virFork()) >= 0);
    if (pid == 0) {
        execv("/bin/true", argv);
        _exit(127);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

    /* the same interpreter, but no rule for the program itself */
    CHECK_ERRNO(execv("/bin/false", argv), EACCES);
    return 0;
}


static int
testExecutable(const void *opaque G_GNUC_UNUSED)
{
    if (!testHaveLandlock())
        return EXIT_AM_SKIP;
    if (!virFileIsExecutable("/bin/true") || !virFileIsExecutable("/bin/false"))
        return EXIT_AM_SKIP;
    return testRunChild(testChildExecutable, NULL);
}


/*
 * virCommand applies the ruleset after the pre-exec hook, which can
 * still add rules (run/ here), and the program never gets its fd. The
 * shell only reads files with redirections, so that it needs no other
 * program.
 */
static int
testCommandHook(void *opaque)
{
    virLandlockRuleset *rs = opaque;
    g_autofree char *errmsg = NULL;

    if (virLandlockRulesetAddPath(rs, runDir, VIR_LANDLOCK_ACCESS_RO,
                                  0, &errmsg) < 0) {
        fprintf(stderr, "%s\n", NULLSTR(errmsg));
        return -1;
    }
    return 0;
}


static int
testCommand(const void *opaque G_GNUC_UNUSED)
{
    const char *const libdirs[] = { "/lib", "/lib64", "/usr/lib", "/usr/lib64",
                                    "/etc/ld.so.cache" };
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autoptr(virCommand) cmd = NULL;
    g_autofree char *runFile = g_build_filename(runDir, "state", NULL);
    g_autofree char *script = NULL;
    g_autofree char *errmsg = NULL;
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    virLandlockRuleset *ruleset;
    int status = -1;
    size_t i;

    if (!testHaveLandlock())
        return EXIT_AM_SKIP;
    if (!virFileIsExecutable("/bin/sh"))
        return EXIT_AM_SKIP;

    if (virFileWriteStr(runFile, "runtime", 0644) < 0 ||
        virLandlockRulesetNew(&rs, &errmsg) < 0 ||
        virLandlockRulesetAddExecutable(rs, "/bin/sh", &errmsg) < 0 ||
        virLandlockRulesetAddPath(rs, sysDir, VIR_LANDLOCK_ACCESS_RO,
                                  0, &errmsg) < 0) {
        fprintf(stderr, "%s\n", NULLSTR(errmsg));
        return -1;
    }
    for (i = 0; i < G_N_ELEMENTS(libdirs); i++) {
        if (virLandlockRulesetAddPath(rs, libdirs[i], VIR_LANDLOCK_ACCESS_RO,
                                      VIR_LANDLOCK_PATH_OPTIONAL, &errmsg) < 0) {
            fprintf(stderr, "%s\n", NULLSTR(errmsg));
            return -1;
        }
    }

    script = g_strdup_printf("read l < %s; echo \"$l\"; "
                             "read l < %s; echo \"$l\"; "
                             "if true >&%d; then echo leaked; fi; "
                             "read l < %s",
                             sysFile, runFile, virLandlockRulesetGetFD(rs),
                             outImg);
    cmd = virCommandNewArgList("/bin/sh", "-c", script, NULL);
    ruleset = g_steal_pointer(&rs);
    virCommandSetLandlockRuleset(cmd, ruleset, VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC);
    virCommandSetPreExecHook(cmd, testCommandHook, ruleset);
    virCommandSetOutputBuffer(cmd, &out);
    virCommandSetErrorBuffer(cmd, &err);

    if (virCommandRun(cmd, &status) < 0)
        return -1;

    /* the parent's ruleset is untouched */
    if (virLandlockRulesetGetFD(ruleset) < 0) {
        fprintf(stderr, "the parent's ruleset fd was closed\n");
        return -1;
    }
    if (status == 0 || !strstr(NULLSTR(err), "Permission denied")) {
        fprintf(stderr, "the guest's image was readable: status %d, '%s'\n",
                status, NULLSTR(err));
        return -1;
    }
    return virTestCompareToString("library\nruntime\n", NULLSTR(out));
}


/* Landlock unavailable: a seccomp filter makes landlock_create_ruleset
 * fail as a kernel without Landlock does (ENOSYS) or one that has it
 * disabled at boot (EOPNOTSUPP). */
static int
testChildUnavailable(const void *opaque)
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
    CHECK(virLandlockRulesetNew(&rs, &errmsg) == -err && !rs);
    CHECK(errmsg && strstr(errmsg, err == ENOSYS ? "not supported" : "not enabled"));
    return 0;
}


static int
testUnavailable(const void *opaque G_GNUC_UNUSED)
{
# ifdef __NR_landlock_create_ruleset
    if (testRunChild(testChildUnavailable, GINT_TO_POINTER(ENOSYS)) < 0)
        return -1;
    /* only a kernel sees the filter: valgrind fails the syscall itself */
    if (virLandlockGetABI() != -ENOSYS &&
        testRunChild(testChildUnavailable, GINT_TO_POINTER(EOPNOTSUPP)) < 0)
        return -1;
    return 0;
# else
    return EXIT_AM_SKIP;
# endif
}


static int
testSetup(void)
{
    g_autofree char *sub = NULL;

    if (!(scratch = g_dir_make_tmp("virlandlocktest-XXXXXX", NULL)))
        return -1;

    sysDir = g_build_filename(scratch, "sys", NULL);
    sysFile = g_build_filename(sysDir, "lib.txt", NULL);
    runDir = g_build_filename(scratch, "run", NULL);
    outDir = g_build_filename(scratch, "out", NULL);
    outImg = g_build_filename(outDir, "disk.img", NULL);

    if (g_mkdir(sysDir, 0755) < 0 ||
        g_mkdir(runDir, 0755) < 0 ||
        g_mkdir(outDir, 0755) < 0 ||
        virFileWriteStr(sysFile, "library", 0644) < 0 ||
        virFileWriteStr(outImg, IMG_DATA, 0644) < 0)
        return -1;
    return 0;
}


static int
mymain(void)
{
    int ret = 0;

    if (testSetup() < 0) {
        ret = -1;
        goto cleanup;
    }

    if (virTestRun("access mapping", testMapping, NULL) < 0)
        ret = -1;
    if (virTestRun("ruleset", testRuleset, NULL) < 0)
        ret = -1;
    if (virTestRun("confined child", testConfined, NULL) < 0)
        ret = -1;
    if (virTestRun("held and received fds", testFds, NULL) < 0)
        ret = -1;
    if (virTestRun("executable and interpreter", testExecutable, NULL) < 0)
        ret = -1;
    if (virTestRun("virCommand", testCommand, NULL) < 0)
        ret = -1;
    if (virTestRun("landlock unavailable", testUnavailable, NULL) < 0)
        ret = -1;

 cleanup:
    if (scratch)
        virFileDeleteTree(scratch);
    g_free(scratch);
    g_free(sysDir);
    g_free(sysFile);
    g_free(runDir);
    g_free(outDir);
    g_free(outImg);
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN(mymain)

#else /* !__linux__ */

int
main(void)
{
    return EXIT_AM_SKIP;
}

#endif /* !__linux__ */
