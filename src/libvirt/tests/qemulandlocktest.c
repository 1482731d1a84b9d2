/*
 * qemulandlocktest.c: what a QEMU confined with Landlock may open
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
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>
#ifdef __linux__
# include <linux/filter.h>
# include <linux/seccomp.h>
# include <sys/prctl.h>
# include <sys/syscall.h>
#endif

#include "testutils.h"
#include "testutilsqemu.h"
#include "qemu/qemu_domain.h"
#include "qemu/qemu_landlock.h"
#include "qemu/qemu_namespace.h"
#include "vircommand.h"
#include "virfile.h"
#include "virfirmware.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static virQEMUDriver driver;


/* The host-dependent parts of the configuration, fixed. */
static void
testSetConfig(virQEMUDriverConfig *cfg)
{
    char **dirs[] = {
        &cfg->defaultTLSx509certdir, &cfg->vncTLSx509certdir,
        &cfg->spiceTLSx509certdir, &cfg->chardevTLSx509certdir,
        &cfg->migrateTLSx509certdir, &cfg->backupTLSx509certdir,
        &cfg->vxhsTLSx509certdir, &cfg->nbdTLSx509certdir,
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(dirs); i++)
        g_clear_pointer(dirs[i], g_free);
    cfg->defaultTLSx509certdir = g_strdup("/etc/pki/qemu");
    cfg->vncTLSx509certdir = g_strdup("/etc/pki/libvirt-vnc");

    g_free(cfg->memoryBackingDir);
    cfg->memoryBackingDir = g_strdup("/var/lib/libvirt/qemu/ram");

    for (i = 0; i < cfg->nhugetlbfs; i++)
        g_free(cfg->hugetlbfs[i].mnt_dir);
    g_free(cfg->hugetlbfs);
    cfg->nhugetlbfs = 1;
    cfg->hugetlbfs = g_new0(virHugeTLBFS, 1);
    cfg->hugetlbfs[0].mnt_dir = g_strdup("/dev/hugepages");
    cfg->hugetlbfs[0].size = 2048;
    cfg->hugetlbfs[0].deflt = true;
}


typedef struct {
    const char *name;       /* tests/qemulandlockdata/NAME.xml */
    bool ns;                /* with the mount namespace */
    const char *conf;       /* a qemu.conf in tests/qemulandlockdata */
    const char *out;        /* tests/qemulandlockdata/OUT.rules */
    const char *emulator;   /* instead of the XML's (which must be known
                             * to the capabilities cache) */
} testInfo;


static int
testRules(const void *opaque)
{
    const testInfo *info = opaque;
    g_autofree char *xmlpath = g_strdup_printf("%s/qemulandlockdata/%s.xml",
                                               abs_srcdir, info->name);
    g_autofree char *outpath = g_strdup_printf("%s/qemulandlockdata/%s.rules",
                                               abs_srcdir, info->out);
    g_autoptr(virQEMUDriverConfig) cfg = NULL;
    g_autoptr(qemuLandlockRules) rules = NULL;
    g_autofree char *actual = NULL;
    virQEMUDriverConfig *saved = driver.config;
    virDomainObj *vm = NULL;
    qemuDomainObjPrivate *priv;
    int ret = -1;

    if (info->conf) {
        g_autofree char *confpath = g_strdup_printf("%s/qemulandlockdata/%s",
                                                    abs_srcdir, info->conf);

        if (!(cfg = virQEMUDriverConfigNew(false, NULL)) ||
            virQEMUDriverConfigLoadFile(cfg, confpath, false) < 0 ||
            virQEMUDriverConfigValidate(cfg) < 0)
            return -1;
        testSetConfig(cfg);
        if (!cfg->openHookConfine) {
            fprintf(stderr, "open_hook_confine was not read\n");
            return -1;
        }
        driver.config = cfg;
    }

    if (!(vm = virDomainObjNew(driver.xmlopt)))
        goto cleanup;
    if (!(vm->def = virDomainDefParseFile(xmlpath, driver.xmlopt, NULL,
                                          VIR_DOMAIN_DEF_PARSE_INACTIVE |
                                          VIR_DOMAIN_DEF_PARSE_SKIP_VALIDATE)))
        goto cleanup;
    vm->def->id = 1;
    if (info->emulator) {
        g_free(vm->def->emulator);
        vm->def->emulator = g_strdup(info->emulator);
    }

    priv = vm->privateData;
    priv->libDir = g_strdup_printf("/var/lib/libvirt/qemu/domain-1-%s",
                                   vm->def->name);
    if (qemuDomainSetPrivatePaths(&driver, vm) < 0)
        goto cleanup;
    if (info->ns &&
        qemuDomainEnableNamespace(vm, QEMU_DOMAIN_NS_MOUNT) < 0)
        goto cleanup;

    if (!(rules = qemuLandlockBuildRules(&driver, vm)))
        goto cleanup;
    actual = qemuLandlockRulesFormat(rules);

    ret = virTestCompareToFile(NULLSTR_EMPTY(actual), outpath);

 cleanup:
    driver.config = saved;
    virObjectUnref(vm);
    return ret;
}


/*
 * The ruleset built from the rules, applied in a child as the pre-exec
 * hook and virCommand would: the domain's runtime directory is
 * writable, the libraries and device nodes usable, the guest's image in
 * a directory next to it is not.
 */
typedef struct {
    char *libDir;
    char *image;
    qemuLandlockRules *rules;
} testApplyData;


static int
testApplyChild(testApplyData *data)
{
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autofree char *created = g_build_filename(data->libDir, "qmp.sock", NULL);
    int fd;
    int rc;

    if (qemuLandlockRulesetNew(data->rules, &rs) < 0 ||
        qemuLandlockAddChildRules(data->rules, rs) < 0) {
        fprintf(stderr, "%s\n", virGetLastErrorMessage());
        return 1;
    }
    if ((rc = virLandlockRulesetRestrictSelf(rs, 0)) < 0) {
        fprintf(stderr, "restrict: %s\n", g_strerror(-rc));
        return 1;
    }

    if ((fd = open(data->image, O_RDONLY | O_CLOEXEC)) >= 0 || errno != EACCES) {
        fprintf(stderr, "the guest's image is readable\n");
        return 1;
    }
    if ((fd = open(created, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0 ||
        VIR_CLOSE(fd) < 0 || unlink(created) < 0) {
        fprintf(stderr, "cannot create files in the runtime directory\n");
        return 1;
    }
    if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0 || VIR_CLOSE(fd) < 0) {
        fprintf(stderr, "/dev/null is not usable\n");
        return 1;
    }
    if (virFileExists("/etc/ld.so.cache") &&
        ((fd = open("/etc/ld.so.cache", O_RDONLY | O_CLOEXEC)) < 0 ||
         VIR_CLOSE(fd) < 0)) {
        fprintf(stderr, "/etc/ld.so.cache is not readable\n");
        return 1;
    }
    if ((fd = open("/etc/ld.so.cache", O_WRONLY | O_CLOEXEC)) >= 0 || errno != EACCES) {
        fprintf(stderr, "/etc/ld.so.cache is writable\n");
        return 1;
    }
    return 0;
}


static int
testApply(const void *opaque)
{
    bool ns = *(const bool *) opaque;
    g_autofree char *scratch = NULL;
    g_autofree char *imgdir = NULL;
    testApplyData data = { 0 };
    virDomainObj *vm = NULL;
    qemuDomainObjPrivate *priv;
    int status;
    int ret = -1;
    pid_t pid;

    if (virLandlockGetABI() < 1)
        return EXIT_AM_SKIP;

    if (!(scratch = g_dir_make_tmp("qemulandlocktest-XXXXXX", NULL)))
        return -1;
    data.libDir = g_build_filename(scratch, "domain-1-guest", NULL);
    imgdir = g_build_filename(scratch, "images", NULL);
    data.image = g_build_filename(imgdir, "guest.qcow2", NULL);
    if (g_mkdir(data.libDir, 0700) < 0 || g_mkdir(imgdir, 0700) < 0 ||
        virFileWriteStr(data.image, "QFI", 0600) < 0)
        goto cleanup;

    if (!(vm = virDomainObjNew(driver.xmlopt)))
        goto cleanup;
    if (!(vm->def = virDomainDefParseFile(abs_srcdir "/qemulandlockdata/minimal.xml",
                                          driver.xmlopt, NULL,
                                          VIR_DOMAIN_DEF_PARSE_INACTIVE |
                                          VIR_DOMAIN_DEF_PARSE_SKIP_VALIDATE)))
        goto cleanup;
    vm->def->id = 1;
    /* any program will do: this one exists everywhere */
    g_free(vm->def->emulator);
    vm->def->emulator = g_strdup("/bin/sh");
    priv = vm->privateData;
    priv->libDir = g_strdup(data.libDir);
    if (ns && qemuDomainEnableNamespace(vm, QEMU_DOMAIN_NS_MOUNT) < 0)
        goto cleanup;

    if (!(data.rules = qemuLandlockBuildRules(&driver, vm)))
        goto cleanup;

    if ((pid = virFork()) < 0)
        goto cleanup;
    if (pid == 0)
        _exit(testApplyChild(&data));
    if (waitpid(pid, &status, 0) != pid ||
        !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        goto cleanup;

    ret = 0;

 cleanup:
    qemuLandlockRulesFree(data.rules);
    virObjectUnref(vm);
    if (scratch)
        virFileDeleteTree(scratch);
    g_free(data.libDir);
    g_free(data.image);
    return ret;
}


/*
 * A domain that asks for confinement must not start unconfined: without
 * Landlock (a seccomp filter makes landlock_create_ruleset(2) fail as a
 * kernel without it does), building the ruleset is a configuration
 * error that names the setting.
 */
#if defined(__linux__) && defined(__NR_landlock_create_ruleset)
static int
testUnavailableChild(int err)
{
    struct sock_filter filter[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_landlock_create_ruleset, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (err & SECCOMP_RET_DATA)),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = { .len = G_N_ELEMENTS(filter), .filter = filter };
    qemuLandlockRules rules = { 0 };
    virLandlockRuleset *rs = NULL;
    virErrorPtr error;

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
        prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) {
        fprintf(stderr, "seccomp: %s\n", g_strerror(errno));
        return 1;
    }

    if (qemuLandlockRulesetNew(&rules, &rs) == 0 || rs) {
        fprintf(stderr, "a ruleset without Landlock\n");
        return 1;
    }
    error = virGetLastError();
    if (!error || error->code != VIR_ERR_CONFIG_UNSUPPORTED ||
        !strstr(NULLSTR(error->message), "open_hook_confine") ||
        !strstr(NULLSTR(error->message),
                err == ENOSYS ? "not supported" : "not enabled")) {
        fprintf(stderr, "wrong error: %s\n",
                error ? NULLSTR(error->message) : "none");
        return 1;
    }
    return 0;
}


static int
testUnavailable(const void *opaque G_GNUC_UNUSED)
{
    const int errs[] = { ENOSYS, EOPNOTSUPP };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(errs); i++) {
        int status;
        pid_t pid;

        /* only a kernel sees the filter: valgrind fails the syscall itself */
        if (errs[i] != ENOSYS && virLandlockGetABI() == -ENOSYS)
            continue;

        if ((pid = virFork()) < 0)
            return -1;
        if (pid == 0)
            _exit(testUnavailableChild(errs[i]));
        if (waitpid(pid, &status, 0) != pid ||
            !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            return -1;
    }
    return 0;
}
#else /* !__linux__ || !__NR_landlock_create_ruleset */
static int
testUnavailable(const void *opaque G_GNUC_UNUSED)
{
    return EXIT_AM_SKIP;
}
#endif /* !__linux__ || !__NR_landlock_create_ruleset */


typedef struct {
    const char *entry;
    int kind;               /* virQEMUConfineAllow, or -1: invalid */
    const char *path;
} testAllowInfo;


static int
testAllowParse(const void *opaque)
{
    const testAllowInfo *info = opaque;
    virQEMUConfineAllow kind;
    const char *path = NULL;
    int rc = virQEMUConfineAllowParse(info->entry, &kind, &path);

    if (info->kind < 0) {
        if (rc == 0) {
            fprintf(stderr, "'%s' accepted\n", info->entry);
            return -1;
        }
        virResetLastError();
        return 0;
    }

    if (rc < 0 || (int) kind != info->kind || STRNEQ_NULLABLE(path, info->path)) {
        fprintf(stderr, "'%s': rc %d kind %d path '%s'\n",
                info->entry, rc, kind, NULLSTR(path));
        return -1;
    }
    return 0;
}


static int
mymain(void)
{
    const bool withNS = true;
    const bool withoutNS = false;
    g_autoptr(GHashTable) capslatest = testQemuGetLatestCaps();
    g_autoptr(GHashTable) capscache = virHashNew(virObjectUnref);
    int ret = 0;

    if (qemuTestDriverInit(&driver) < 0)
        return EXIT_FAILURE;

    qemuTestSetHostArch(&driver, VIR_ARCH_X86_64);
    if (testQemuInsertRealCaps(driver.qemuCapsCache, "x86_64", "latest", "",
                               capslatest, capscache, NULL, NULL) < 0)
        return EXIT_FAILURE;
    testSetConfig(driver.config);

#define DO_TEST_FULL(name, ns, conf, out, emulator) \
    do { \
        testInfo info = { name, ns, conf, out, emulator }; \
        if (virTestRun("rules " out, testRules, &info) < 0) \
            ret = -1; \
    } while (0)

#define DO_TEST(name, emulator) \
    DO_TEST_FULL(name, true, NULL, name, emulator); \
    DO_TEST_FULL(name, false, NULL, name "-nons", emulator)

    DO_TEST("minimal", NULL);
    /* QEMU installed elsewhere finds its data next to itself */
    DO_TEST("devices", "/opt/qemu/bin/qemu-system-x86_64");
    DO_TEST_FULL("minimal", true, "qemu.conf", "minimal-conf", NULL);
    DO_TEST_FULL("minimal", false, "qemu.conf", "minimal-conf-nons", NULL);

    if (virTestRun("apply with the namespace", testApply, &withNS) < 0)
        ret = -1;
    if (virTestRun("apply without the namespace", testApply, &withoutNS) < 0)
        ret = -1;

    if (virTestRun("landlock unavailable", testUnavailable, NULL) < 0)
        ret = -1;

#define DO_TEST_ALLOW(entry, kind, path) \
    do { \
        testAllowInfo info = { entry, kind, path }; \
        if (virTestRun("open_hook_confine_allow " entry, testAllowParse, &info) < 0) \
            ret = -1; \
    } while (0)

    DO_TEST_ALLOW("ro:/opt/firmware", QEMU_CONFINE_ALLOW_RO, "/opt/firmware");
    DO_TEST_ALLOW("rw:/srv/run", QEMU_CONFINE_ALLOW_RW, "/srv/run");
    DO_TEST_ALLOW("dev:/dev/dri", QEMU_CONFINE_ALLOW_DEV, "/dev/dri");
    DO_TEST_ALLOW("ro:/a:b", QEMU_CONFINE_ALLOW_RO, "/a:b");
    DO_TEST_ALLOW("/opt/firmware", -1, NULL);
    DO_TEST_ALLOW("rx:/opt/firmware", -1, NULL);
    DO_TEST_ALLOW("ro:opt/firmware", -1, NULL);
    DO_TEST_ALLOW("ro:", -1, NULL);
    DO_TEST_ALLOW(":/opt", -1, NULL);

    qemuTestDriverFree(&driver);
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN(mymain)
