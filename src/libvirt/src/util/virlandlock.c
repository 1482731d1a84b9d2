/*
 * virlandlock.c: confine a child process with a Landlock ruleset
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

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <glib/gstdio.h>
#ifdef __linux__
# include <elf.h>
# include <link.h>
# include <sys/prctl.h>
#endif

#define LIBVIRT_VIRLANDLOCKPRIV_H_ALLOW
#include "virlandlockpriv.h"

#if defined(__linux__) && defined(__NR_landlock_create_ruleset) && \
    defined(__NR_landlock_add_rule) && defined(__NR_landlock_restrict_self)
# define WITH_VIR_LANDLOCK 1
#endif

/* The newest ABI whose rights we know: 6 and 7 added no filesystem
 * rights, so a ruleset for ABI >= 5 handles the same. */
#define VIR_LANDLOCK_ABI_KNOWN 7

/* landlock_create_ruleset(2) flag, landlock_add_rule(2) rule type,
 * landlock_restrict_self(2) flag. */
#define VIR_LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#define VIR_LANDLOCK_RULE_PATH_BENEATH 1
#define VIR_LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (1U << 1)   /* ABI 7 */

/* Longest ELF interpreter path accepted (the kernel reads it whole) */
#define VIR_LANDLOCK_MAX_INTERP 4096

/* The first member of struct landlock_ruleset_attr: a kernel accepts
 * any size from this one up, so network rights and scopes (ABI 4, 6)
 * stay unhandled on every kernel. */
typedef struct _virLandlockRulesetAttr virLandlockRulesetAttr;
struct _virLandlockRulesetAttr {
    uint64_t handledAccessFs;
};

typedef struct _virLandlockPathBeneathAttr virLandlockPathBeneathAttr;
struct _virLandlockPathBeneathAttr {
    uint64_t allowedAccess;
    int32_t parentFd;
} __attribute__((packed));

struct _virLandlockRuleset {
    int fd;             /* -1 once applied */
    int abi;
    uint64_t handled;
};

static const struct {
    unsigned int access;
    uint64_t rights;
    int abi;            /* the first ABI that has @rights */
} virLandlockAccessMap[] = {
    { VIR_LANDLOCK_ACCESS_READ, VIR_LANDLOCK_FS_READ_FILE, 1 },
    { VIR_LANDLOCK_ACCESS_WRITE, VIR_LANDLOCK_FS_WRITE_FILE, 1 },
    { VIR_LANDLOCK_ACCESS_TRUNCATE, VIR_LANDLOCK_FS_TRUNCATE, 3 },
    { VIR_LANDLOCK_ACCESS_EXEC, VIR_LANDLOCK_FS_EXECUTE, 1 },
    { VIR_LANDLOCK_ACCESS_IOCTL_DEV, VIR_LANDLOCK_FS_IOCTL_DEV, 5 },
    { VIR_LANDLOCK_ACCESS_READ_DIR, VIR_LANDLOCK_FS_READ_DIR, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_REG, VIR_LANDLOCK_FS_MAKE_REG, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_DIR, VIR_LANDLOCK_FS_MAKE_DIR, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_SOCK, VIR_LANDLOCK_FS_MAKE_SOCK, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_FIFO, VIR_LANDLOCK_FS_MAKE_FIFO, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_SYM, VIR_LANDLOCK_FS_MAKE_SYM, 1 },
    { VIR_LANDLOCK_ACCESS_MAKE_DEV,
      VIR_LANDLOCK_FS_MAKE_CHAR | VIR_LANDLOCK_FS_MAKE_BLOCK, 1 },
    { VIR_LANDLOCK_ACCESS_REMOVE,
      VIR_LANDLOCK_FS_REMOVE_FILE | VIR_LANDLOCK_FS_REMOVE_DIR, 1 },
    { VIR_LANDLOCK_ACCESS_REFER, VIR_LANDLOCK_FS_REFER, 2 },
};


uint64_t
virLandlockAccessToRights(unsigned int access,
                          int abi,
                          bool isDir)
{
    uint64_t rights = 0;
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(virLandlockAccessMap); i++) {
        if ((access & virLandlockAccessMap[i].access) &&
            abi >= virLandlockAccessMap[i].abi)
            rights |= virLandlockAccessMap[i].rights;
    }

    if (!isDir)
        rights &= VIR_LANDLOCK_FS_FILE;
    return rights;
}


uint64_t
virLandlockHandledForABI(int abi)
{
    return virLandlockAccessToRights(VIR_LANDLOCK_ACCESS_ALL, abi, true);
}


static void
virLandlockCloseFD(int *fd)
{
    int saved = errno;

    if (*fd >= 0)
        g_close(*fd, NULL);
    *fd = -1;
    errno = saved;
}


#ifdef WITH_VIR_LANDLOCK

int
virLandlockGetABI(void)
{
    long abi = syscall(__NR_landlock_create_ruleset, NULL, 0,
                       VIR_LANDLOCK_CREATE_RULESET_VERSION);

    if (abi < 0)
        return -errno;
    return abi;
}


static char *
virLandlockUnavailableMessage(int err)
{
    if (err == ENOSYS)
        return g_strdup("Landlock is not supported by the host kernel "
                        "(built without CONFIG_SECURITY_LANDLOCK)");
    if (err == EOPNOTSUPP)
        return g_strdup("Landlock is supported by the host kernel but not "
                        "enabled (add 'landlock' to the lsm= boot parameter)");
    return g_strdup_printf("cannot query the Landlock ABI version: %s",
                           g_strerror(err));
}


int
virLandlockRulesetNewForABI(virLandlockRuleset **rs,
                            int abi,
                            char **errmsg)
{
    virLandlockRulesetAttr attr = { 0 };
    int kabi = virLandlockGetABI();
    int fd;

    *rs = NULL;
    if (kabi < 0) {
        if (errmsg)
            *errmsg = virLandlockUnavailableMessage(-kabi);
        return kabi;
    }
    if (abi < 1) {
        if (errmsg)
            *errmsg = g_strdup_printf("invalid Landlock ABI version %d", abi);
        return -EINVAL;
    }

    abi = MIN(abi, kabi);
    attr.handledAccessFs = virLandlockHandledForABI(abi);

    if ((fd = syscall(__NR_landlock_create_ruleset, &attr, sizeof(attr), 0)) < 0) {
        int err = errno;

        if (errmsg)
            *errmsg = g_strdup_printf("cannot create a Landlock ruleset: %s",
                                      g_strerror(err));
        return -err;
    }

    *rs = g_new0(virLandlockRuleset, 1);
    (*rs)->fd = fd;
    (*rs)->abi = abi;
    (*rs)->handled = attr.handledAccessFs;
    return 0;
}


int
virLandlockRulesetAddPath(virLandlockRuleset *rs,
                          const char *path,
                          unsigned int access,
                          unsigned int flags,
                          char **errmsg)
{
    virLandlockPathBeneathAttr attr = { 0 };
    struct stat sb;
    int fd = -1;
    int err;
    const char *what;

    if (access & ~VIR_LANDLOCK_ACCESS_ALL) {
        err = EINVAL;
        what = "unknown access rights";
        goto error;
    }
    if (flags & ~VIR_LANDLOCK_PATH_OPTIONAL) {
        err = EINVAL;
        what = "unknown flags";
        goto error;
    }
    if (rs->fd < 0) {
        err = EBADF;
        what = "the ruleset was already applied";
        goto error;
    }
    if ((access & VIR_LANDLOCK_ACCESS_REFER) && rs->abi < 2) {
        err = EOPNOTSUPP;
        what = "renaming and linking across directories needs Landlock ABI 2";
        goto error;
    }

    /* O_PATH: no read access needed, and nothing opened (a FIFO cannot
     * block). Symlinks are followed: the rule is the target's. */
    if ((fd = open(path, O_PATH | O_CLOEXEC)) < 0) {
        err = errno;
        if (err == ENOENT && (flags & VIR_LANDLOCK_PATH_OPTIONAL))
            return 1;
        what = "cannot open";
        goto error;
    }
    if (fstat(fd, &sb) < 0) {
        err = errno;
        what = "cannot stat";
        goto error;
    }

    attr.allowedAccess = virLandlockAccessToRights(access, rs->abi,
                                                   S_ISDIR(sb.st_mode));
    attr.allowedAccess &= rs->handled;
    attr.parentFd = fd;

    /* Nothing this kernel can grant (e.g. only READ_DIR on a file): the
     * kernel refuses an empty rule, and there is nothing to allow. */
    if (attr.allowedAccess &&
        syscall(__NR_landlock_add_rule, rs->fd, VIR_LANDLOCK_RULE_PATH_BENEATH,
                &attr, 0) < 0) {
        err = errno;
        what = "cannot add the Landlock rule";
        goto error;
    }

    virLandlockCloseFD(&fd);
    return 0;

 error:
    virLandlockCloseFD(&fd);
    if (errmsg)
        *errmsg = g_strdup_printf("Landlock rule for '%s' (access 0x%x): %s: %s",
                                  path, access, what, g_strerror(err));
    return -err;
}


/* The program interpreter (PT_INTERP) of the ELF executable @fd, or
 * NULL if it has none (static, not ELF, or not of our own word size and
 * byte order: the only kind this host runs without binfmt_misc).
 * Returns 0 or -errno. */
static int
virLandlockGetInterpreter(int fd,
                          char **interp)
{
    ElfW(Ehdr) eh;
    size_t i;

    *interp = NULL;
    if (pread(fd, &eh, sizeof(eh), 0) != sizeof(eh) ||
        memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 ||
        eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
        eh.e_ident[EI_DATA] != (G_BYTE_ORDER == G_LITTLE_ENDIAN ? ELFDATA2LSB : ELFDATA2MSB))
        return 0;
    if (eh.e_phentsize != sizeof(ElfW(Phdr)))
        return -EINVAL;

    for (i = 0; i < eh.e_phnum; i++) {
        ElfW(Phdr) ph;

        if (pread(fd, &ph, sizeof(ph), eh.e_phoff + i * sizeof(ph)) != sizeof(ph))
            return -EIO;
        if (ph.p_type != PT_INTERP)
            continue;

        /* a NUL-terminated absolute path */
        if (ph.p_filesz < 2 || ph.p_filesz > VIR_LANDLOCK_MAX_INTERP)
            return -EINVAL;
        *interp = g_new0(char, ph.p_filesz + 1);
        if (pread(fd, *interp, ph.p_filesz, ph.p_offset) != (ssize_t)ph.p_filesz ||
            (*interp)[0] != '/' || strlen(*interp) != ph.p_filesz - 1) {
            g_clear_pointer(interp, g_free);
            return -EINVAL;
        }
        return 0;
    }
    return 0;
}


int
virLandlockRulesetAddExecutable(virLandlockRuleset *rs,
                                const char *path,
                                char **errmsg)
{
    g_autofree char *interp = NULL;
    int fd;
    int rc;

    if ((rc = virLandlockRulesetAddPath(rs, path, VIR_LANDLOCK_ACCESS_READ |
                                        VIR_LANDLOCK_ACCESS_EXEC, 0, errmsg)) < 0)
        return rc;

    if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
    } else {
        rc = virLandlockGetInterpreter(fd, &interp);
        virLandlockCloseFD(&fd);
    }
    if (rc < 0) {
        if (errmsg)
            *errmsg = g_strdup_printf("cannot read the program interpreter of '%s': %s",
                                      path, g_strerror(-rc));
        return rc;
    }

    if (!interp)
        return 0;
    return virLandlockRulesetAddPath(rs, interp, VIR_LANDLOCK_ACCESS_READ |
                                     VIR_LANDLOCK_ACCESS_EXEC, 0, errmsg);
}


int
virLandlockRulesetRestrictSelf(virLandlockRuleset *rs,
                               unsigned int flags)
{
    unsigned int llflags = 0;
    int err = 0;

    if (!rs || rs->fd < 0)
        return -EBADF;

    if ((flags & VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC) && rs->abi >= 7)
        llflags |= VIR_LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON;

    if ((flags & VIR_LANDLOCK_RESTRICT_NO_NEW_PRIVS) &&
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        err = errno;
        goto cleanup;
    }

    if (syscall(__NR_landlock_restrict_self, rs->fd, llflags) < 0) {
        err = errno;
        /* EPERM: neither no_new_privs nor CAP_SYS_ADMIN. Not setting it
         * when it is not needed matters to a root caller that changes
         * its AppArmor profile or SELinux context after this. */
        if (err == EPERM && !(flags & VIR_LANDLOCK_RESTRICT_NO_NEW_PRIVS)) {
            err = 0;
            if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
                syscall(__NR_landlock_restrict_self, rs->fd, llflags) < 0)
                err = errno;
        }
    }

 cleanup:
    virLandlockCloseFD(&rs->fd);
    return -err;
}

#else /* !WITH_VIR_LANDLOCK */

static int
virLandlockUnsupported(char **errmsg)
{
    if (errmsg)
        *errmsg = g_strdup("Landlock is only available on Linux");
    return -ENOSYS;
}


int
virLandlockGetABI(void)
{
    return -ENOSYS;
}


int
virLandlockRulesetNewForABI(virLandlockRuleset **rs,
                            int abi G_GNUC_UNUSED,
                            char **errmsg)
{
    *rs = NULL;
    return virLandlockUnsupported(errmsg);
}


int
virLandlockRulesetAddPath(virLandlockRuleset *rs G_GNUC_UNUSED,
                          const char *path G_GNUC_UNUSED,
                          unsigned int access G_GNUC_UNUSED,
                          unsigned int pathflags G_GNUC_UNUSED,
                          char **errmsg)
{
    return virLandlockUnsupported(errmsg);
}


int
virLandlockRulesetAddExecutable(virLandlockRuleset *rs G_GNUC_UNUSED,
                                const char *path G_GNUC_UNUSED,
                                char **errmsg)
{
    return virLandlockUnsupported(errmsg);
}


int
virLandlockRulesetRestrictSelf(virLandlockRuleset *rs G_GNUC_UNUSED,
                               unsigned int restrictflags G_GNUC_UNUSED)
{
    return -ENOSYS;
}

#endif /* !WITH_VIR_LANDLOCK */


int
virLandlockRulesetNew(virLandlockRuleset **rs,
                      char **errmsg)
{
    return virLandlockRulesetNewForABI(rs, VIR_LANDLOCK_ABI_KNOWN, errmsg);
}


void
virLandlockRulesetFree(virLandlockRuleset *rs)
{
    if (!rs)
        return;
    virLandlockCloseFD(&rs->fd);
    g_free(rs);
}


int
virLandlockRulesetGetABI(virLandlockRuleset *rs)
{
    return rs->abi;
}


uint64_t
virLandlockRulesetGetHandled(virLandlockRuleset *rs)
{
    return rs->handled;
}


int
virLandlockRulesetGetFD(virLandlockRuleset *rs)
{
    return rs->fd;
}
