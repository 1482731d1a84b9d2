/*
 * qemu_landlock.c: confine QEMU with Landlock
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

#include "qemu_landlock.h"
#include "qemu_cgroup.h"
#include "qemu_domain.h"
#include "qemu_namespace.h"
#include "viralloc.h"
#include "virbuffer.h"
#include "virerror.h"
#include "virlog.h"
#include "virmdev.h"
#include "virpci.h"
#include "virstring.h"

#define VIR_FROM_THIS VIR_FROM_QEMU

VIR_LOG_INIT("qemu.qemu_landlock");

/*
 * What a confined QEMU may open by itself. Everything else, the guest's
 * images first of all, comes from libvirt as a file descriptor: through
 * the open hook, or as the monitor, chardev, tap, vhost and migration
 * fds libvirt already passes. So the list holds system files only:
 *
 *  - the emulator and its ELF interpreter, and the libraries (QEMU's
 *    modules live beneath the library directories too);
 *  - QEMU's data and firmware (option ROMs, keymaps, BIOS and UEFI
 *    images), read-only; the NVRAM of a domain goes through the hook;
 *  - name resolution and time zone files, and the TLS and SASL
 *    configuration of qemu.conf;
 *  - the domain's own runtime directory (priv->libDir: the master key,
 *    HOME and the XDG directories, sockets QEMU binds itself), and the
 *    directories of its file-backed and hugepage memory;
 *  - device nodes: with the mount namespace, its /dev, which holds
 *    exactly the nodes libvirt created for the domain (and nodes it
 *    creates at hotplug); without it, the nodes of cgroup_device_acl
 *    and of the domain's devices;
 *  - a few device-specific paths (9p shares, NVDIMM backing files, the
 *    sysfs directories of assigned PCI and mediated devices) and the
 *    open_hook_confine_allow entries of qemu.conf.
 *
 * Not in the list on purpose: the driver's state, cache and library
 * directories as a whole (they hold every domain's files), images,
 * NVRAM, loaders, kernels, logs, /proc and /sys.
 */

/* Libraries, read-only. */
static const char *const qemuLandlockLibPaths[] = {
    "/lib", "/lib64", "/usr/lib", "/usr/lib64",
    "/usr/local/lib", "/usr/local/lib64",
    "/etc/ld.so.cache",
};

/* Data and firmware of the common distributions, read-only. */
static const char *const qemuLandlockDataPaths[] = {
    "/usr/share/qemu", "/usr/share/seabios", "/usr/share/sgabios",
    "/usr/share/ipxe", "/usr/share/OVMF", "/usr/share/AAVMF",
    "/usr/share/qemu-efi-aarch64", "/usr/share/edk2",
};

/* Host configuration QEMU's libraries read, read-only: name resolution
 * (migration to a host name, VNC on "localhost", the user network's
 * DNS proxy), the time zone (<clock offset='localtime'/>), GnuTLS. */
static const char *const qemuLandlockConfigPaths[] = {
    "/etc/hosts", "/etc/host.conf", "/etc/nsswitch.conf",
    "/etc/resolv.conf", "/etc/gai.conf",
    "/etc/localtime", "/usr/share/zoneinfo",
    "/etc/gnutls",
};


static void
qemuLandlockRuleClear(qemuLandlockRule *rule)
{
    g_free(rule->path);
}


void
qemuLandlockRulesFree(qemuLandlockRules *rules)
{
    size_t i;

    if (!rules)
        return;

    for (i = 0; i < rules->nrules; i++)
        qemuLandlockRuleClear(&rules->rules[i]);
    g_free(rules->rules);
    g_free(rules);
}


/* Add a rule, or merge it into the one for the same path added at the
 * same point: the access of both, optional only if both are. */
static void
qemuLandlockRulesAdd(qemuLandlockRules *rules,
                     const char *path,
                     unsigned int access,
                     unsigned int flags)
{
    const unsigned int kind = QEMU_LANDLOCK_RULE_EXECUTABLE |
                              QEMU_LANDLOCK_RULE_CHILD;
    qemuLandlockRule rule = { 0 };
    size_t i;

    for (i = 0; i < rules->nrules; i++) {
        qemuLandlockRule *r = &rules->rules[i];

        if (STREQ(r->path, path) && (r->flags & kind) == (flags & kind)) {
            r->access |= access;
            if (!(flags & QEMU_LANDLOCK_RULE_OPTIONAL))
                r->flags &= ~QEMU_LANDLOCK_RULE_OPTIONAL;
            return;
        }
    }

    rule.path = g_strdup(path);
    rule.access = access;
    rule.flags = flags;
    VIR_APPEND_ELEMENT(rules->rules, rules->nrules, rule);
}


static void
qemuLandlockRulesAddList(qemuLandlockRules *rules,
                         const char *const *paths,
                         size_t npaths,
                         unsigned int access,
                         unsigned int flags)
{
    size_t i;

    for (i = 0; i < npaths; i++)
        qemuLandlockRulesAdd(rules, paths[i], access, flags);
}


/* The emulator, its libraries, and the data and firmware it looks for
 * in the usual places and next to itself (QEMU finds them relative to
 * its binary: PREFIX/bin/qemu-system-* reads PREFIX/share/qemu). */
static void
qemuLandlockAddEmulator(qemuLandlockRules *rules,
                        virQEMUDriverConfig *cfg,
                        const virDomainDef *def)
{
    g_autofree char *bindir = g_path_get_dirname(def->emulator);
    g_autofree char *prefix = g_path_get_dirname(bindir);
    const char *const relative[] = {
        "lib", "lib64", "share/qemu", "share/seabios",
    };
    size_t i;

    qemuLandlockRulesAdd(rules, def->emulator, 0,
                         QEMU_LANDLOCK_RULE_EXECUTABLE);
    qemuLandlockRulesAddList(rules, qemuLandlockLibPaths,
                             G_N_ELEMENTS(qemuLandlockLibPaths),
                             VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    qemuLandlockRulesAddList(rules, qemuLandlockDataPaths,
                             G_N_ELEMENTS(qemuLandlockDataPaths),
                             VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);

    for (i = 0; i < G_N_ELEMENTS(relative); i++) {
        g_autofree char *path = g_build_filename(prefix, relative[i], NULL);

        qemuLandlockRulesAdd(rules, path, VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    /* the firmware qemu.conf lists, and the templates of their NVRAM */
    for (i = 0; i < cfg->nfirmwares; i++) {
        const char *files[] = { cfg->firmwares[i]->name,
                                cfg->firmwares[i]->nvram };
        size_t j;

        for (j = 0; j < G_N_ELEMENTS(files); j++) {
            g_autofree char *dir = NULL;

            if (!files[j])
                continue;
            dir = g_path_get_dirname(files[j]);
            qemuLandlockRulesAdd(rules, dir, VIR_LANDLOCK_ACCESS_RO,
                                 QEMU_LANDLOCK_RULE_OPTIONAL);
        }
    }

    /* the open hook's preload library, if QEMU lacks native support */
    if (cfg->openHookPreload)
        qemuLandlockRulesAdd(rules, cfg->openHookPreload,
                             VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
}


static void
qemuLandlockAddConfig(qemuLandlockRules *rules,
                      virQEMUDriverConfig *cfg)
{
    const char *const tlsdirs[] = {
        cfg->defaultTLSx509certdir, cfg->vncTLSx509certdir,
        cfg->spiceTLSx509certdir, cfg->chardevTLSx509certdir,
        cfg->migrateTLSx509certdir, cfg->backupTLSx509certdir,
        cfg->vxhsTLSx509certdir, cfg->nbdTLSx509certdir,
    };
    size_t i;

    qemuLandlockRulesAddList(rules, qemuLandlockConfigPaths,
                             G_N_ELEMENTS(qemuLandlockConfigPaths),
                             VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);

    /* QEMU loads its certificates when a TLS object is created, which
     * may be long after it started (migration, NBD, backup) */
    for (i = 0; i < G_N_ELEMENTS(tlsdirs); i++) {
        if (tlsdirs[i])
            qemuLandlockRulesAdd(rules, tlsdirs[i], VIR_LANDLOCK_ACCESS_RO,
                                 QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    if (cfg->vncSASL && cfg->vncSASLdir)
        qemuLandlockRulesAdd(rules, cfg->vncSASLdir, VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    if (cfg->spiceSASL && cfg->spiceSASLdir)
        qemuLandlockRulesAdd(rules, cfg->spiceSASLdir, VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
}


/* The domain's runtime directory and memory backing directories, which
 * QEMU creates files and sockets in. */
static int
qemuLandlockAddRuntime(qemuLandlockRules *rules,
                       virQEMUDriver *driver,
                       virQEMUDriverConfig *cfg,
                       virDomainObj *vm)
{
    qemuDomainObjPrivate *priv = vm->privateData;
    size_t i;

    qemuLandlockRulesAdd(rules, priv->libDir,
                         VIR_LANDLOCK_ACCESS_RUNTIME_DIR, 0);

    /* these exist only if the domain uses them */
    for (i = 0; i < cfg->nhugetlbfs; i++) {
        g_autofree char *path = NULL;

        if (!(path = qemuGetDomainHugepagePath(driver, vm->def,
                                               &cfg->hugetlbfs[i])))
            return -1;
        qemuLandlockRulesAdd(rules, path, VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    if (priv->memoryBackingDir)
        qemuLandlockRulesAdd(rules, priv->memoryBackingDir,
                             VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
                             QEMU_LANDLOCK_RULE_OPTIONAL);

    return 0;
}


/* Files QEMU opens by path for the domain's devices. */
static void
qemuLandlockAddDevices(qemuLandlockRules *rules,
                       const virDomainDef *def)
{
    size_t i;

    /* NVDIMM and virtio-pmem backing files: memory-backend-file opens
     * them itself and may resize them */
    for (i = 0; i < def->nmems; i++) {
        const virDomainMemoryDef *mem = def->mems[i];
        unsigned int access = VIR_LANDLOCK_ACCESS_READ;
        const char *path = NULL;
        bool readonly = false;

        switch (mem->model) {
        case VIR_DOMAIN_MEMORY_MODEL_NVDIMM:
            path = mem->source.nvdimm.path;
            readonly = mem->target.nvdimm.readonly;
            break;
        case VIR_DOMAIN_MEMORY_MODEL_VIRTIO_PMEM:
            path = mem->source.virtio_pmem.path;
            break;
        case VIR_DOMAIN_MEMORY_MODEL_NONE:
        case VIR_DOMAIN_MEMORY_MODEL_DIMM:
        case VIR_DOMAIN_MEMORY_MODEL_VIRTIO_MEM:
        case VIR_DOMAIN_MEMORY_MODEL_SGX_EPC:
        case VIR_DOMAIN_MEMORY_MODEL_LAST:
            break;
        }

        if (!path)
            continue;
        if (!readonly)
            access |= VIR_LANDLOCK_ACCESS_WRITE | VIR_LANDLOCK_ACCESS_TRUNCATE;
        qemuLandlockRulesAdd(rules, path, access,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    /* 9p shares are served by QEMU itself (virtiofs by virtiofsd): the
     * guest may create, rename and remove files anywhere beneath them */
    for (i = 0; i < def->nfss; i++) {
        const virDomainFSDef *fs = def->fss[i];
        unsigned int access = VIR_LANDLOCK_ACCESS_RO;

        if (fs->fsdriver == VIR_DOMAIN_FS_DRIVER_TYPE_VIRTIOFS ||
            fs->type != VIR_DOMAIN_FS_TYPE_MOUNT ||
            !fs->src || !fs->src->path)
            continue;
        if (!fs->readonly)
            access = VIR_LANDLOCK_ACCESS_RUNTIME_DIR | VIR_LANDLOCK_ACCESS_REFER;
        qemuLandlockRulesAdd(rules, fs->src->path, access, 0);
    }

    /* assigned PCI and mediated devices: QEMU looks at their sysfs
     * directories (the VFIO group and device fds come from /dev) */
    for (i = 0; i < def->nhostdevs; i++) {
        const virDomainHostdevDef *hostdev = def->hostdevs[i];
        const virDomainHostdevSubsys *subsys = &hostdev->source.subsys;
        g_autofree char *path = NULL;

        if (hostdev->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS)
            continue;

        if (subsys->type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI) {
            g_autofree char *addr = virPCIDeviceAddressAsString(&subsys->u.pci.addr);

            path = g_strdup_printf("/sys/bus/pci/devices/%s", addr);
        } else if (subsys->type == VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_MDEV) {
            path = virMediatedDeviceGetSysfsPath(subsys->u.mdev.uuidstr);
        } else {
            continue;
        }
        qemuLandlockRulesAdd(rules, path, VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    /* the NSS database of emulated smartcards */
    for (i = 0; i < def->nsmartcards; i++) {
        const virDomainSmartcardDef *card = def->smartcards[i];

        if (card->type != VIR_DOMAIN_SMARTCARD_TYPE_HOST_CERTIFICATES)
            continue;
        qemuLandlockRulesAdd(rules,
                             card->data.cert.database ?
                             card->data.cert.database :
                             VIR_DOMAIN_SMARTCARD_DEFAULT_DATABASE,
                             VIR_LANDLOCK_ACCESS_RO,
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }
}


static bool
qemuLandlockDefHasGL(const virDomainDef *def)
{
    size_t i;

    for (i = 0; i < def->ngraphics; i++) {
        const virDomainGraphicsDef *graphics = def->graphics[i];

        if (graphics->type == VIR_DOMAIN_GRAPHICS_TYPE_EGL_HEADLESS ||
            (graphics->type == VIR_DOMAIN_GRAPHICS_TYPE_SPICE &&
             graphics->data.spice.gl == VIR_TRISTATE_BOOL_YES) ||
            (graphics->type == VIR_DOMAIN_GRAPHICS_TYPE_DBUS &&
             graphics->data.dbus.gl == VIR_TRISTATE_BOOL_YES))
            return true;
    }
    return false;
}


/*
 * Device nodes. With the mount namespace (the default), QEMU's /dev is
 * a tmpfs of its own that holds exactly the nodes libvirt creates for
 * the domain, now and at hotplug, plus the mounts preserved beneath it
 * (/dev/pts, /dev/shm...). It only exists in the child, and rules bind
 * inodes, so that rule is added there.
 *
 * Without it, QEMU sees the host's /dev: allow the nodes the cgroup
 * device ACL lets it use, and those of its devices.
 */
static void
qemuLandlockAddDev(qemuLandlockRules *rules,
                   virQEMUDriverConfig *cfg,
                   virDomainObj *vm)
{
    const virDomainDef *def = vm->def;
    const char *const *acl = (const char *const *) cfg->cgroupDeviceACL;
    const unsigned int opt = QEMU_LANDLOCK_RULE_OPTIONAL;
    size_t i;

    if (qemuDomainNamespaceEnabled(vm, QEMU_DOMAIN_NS_MOUNT)) {
        qemuLandlockRulesAdd(rules, "/dev", VIR_LANDLOCK_ACCESS_DEV,
                             QEMU_LANDLOCK_RULE_CHILD);
        return;
    }

    if (!acl)
        acl = defaultDeviceACL;
    for (i = 0; acl[i]; i++)
        qemuLandlockRulesAdd(rules, acl[i], VIR_LANDLOCK_ACCESS_DEV, opt);
    /* the terminal of a pty chardev, opened through /dev/ptmx */
    qemuLandlockRulesAdd(rules, "/dev/pts", VIR_LANDLOCK_ACCESS_DEV, opt);

    for (i = 0; i < def->nrngs; i++) {
        if (def->rngs[i]->backend == VIR_DOMAIN_RNG_BACKEND_RANDOM &&
            def->rngs[i]->source.file)
            qemuLandlockRulesAdd(rules, def->rngs[i]->source.file,
                                 VIR_LANDLOCK_ACCESS_DEV, opt);
    }

    for (i = 0; i < def->ninputs; i++) {
        if (def->inputs[i]->type == VIR_DOMAIN_INPUT_TYPE_EVDEV &&
            def->inputs[i]->source.evdev)
            qemuLandlockRulesAdd(rules, def->inputs[i]->source.evdev,
                                 VIR_LANDLOCK_ACCESS_DEV, opt);
    }

    for (i = 0; i < def->nhostdevs; i++) {
        const virDomainHostdevDef *hostdev = def->hostdevs[i];

        if (hostdev->mode != VIR_DOMAIN_HOSTDEV_MODE_SUBSYS)
            continue;
        switch ((virDomainHostdevSubsysType) hostdev->source.subsys.type) {
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_PCI:
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_MDEV:
            qemuLandlockRulesAdd(rules, "/dev/vfio", VIR_LANDLOCK_ACCESS_DEV, opt);
            break;
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_USB:
            qemuLandlockRulesAdd(rules, "/dev/bus/usb", VIR_LANDLOCK_ACCESS_DEV, opt);
            break;
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_SCSI:
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_SCSI_HOST:
        case VIR_DOMAIN_HOSTDEV_SUBSYS_TYPE_LAST:
            break;
        }
    }

    if (virDomainDefHasNVMeDisk(def))
        qemuLandlockRulesAdd(rules, "/dev/vfio", VIR_LANDLOCK_ACCESS_DEV, opt);

    if (qemuLandlockDefHasGL(def))
        qemuLandlockRulesAdd(rules, "/dev/dri", VIR_LANDLOCK_ACCESS_DEV, opt);

    if (def->sec && def->sec->sectype == VIR_DOMAIN_LAUNCH_SECURITY_SEV)
        qemuLandlockRulesAdd(rules, "/dev/sev", VIR_LANDLOCK_ACCESS_DEV, opt);

    for (i = 0; i < def->nmems; i++) {
        if (def->mems[i]->model == VIR_DOMAIN_MEMORY_MODEL_SGX_EPC) {
            qemuLandlockRulesAdd(rules, "/dev/sgx_vepc", VIR_LANDLOCK_ACCESS_DEV, opt);
            qemuLandlockRulesAdd(rules, "/dev/sgx_provision", VIR_LANDLOCK_ACCESS_DEV, opt);
        }
    }
}


static int
qemuLandlockAddAllowList(qemuLandlockRules *rules,
                         virQEMUDriverConfig *cfg)
{
    static const unsigned int access[] = {
        [QEMU_CONFINE_ALLOW_RO] = VIR_LANDLOCK_ACCESS_RO,
        [QEMU_CONFINE_ALLOW_RW] = VIR_LANDLOCK_ACCESS_RUNTIME_DIR,
        [QEMU_CONFINE_ALLOW_DEV] = VIR_LANDLOCK_ACCESS_DEV,
    };
    char **entry;

    G_STATIC_ASSERT(G_N_ELEMENTS(access) == QEMU_CONFINE_ALLOW_LAST);

    for (entry = cfg->openHookConfineAllow; entry && *entry; entry++) {
        virQEMUConfineAllow kind;
        const char *path;

        if (virQEMUConfineAllowParse(*entry, &kind, &path) < 0)
            return -1;
        qemuLandlockRulesAdd(rules, path, access[kind],
                             QEMU_LANDLOCK_RULE_OPTIONAL);
    }

    return 0;
}


/**
 * qemuLandlockBuildRules:
 * @driver: the qemu driver
 * @vm: the domain about to start, with its runtime directory and
 *      namespaces decided
 *
 * List the paths QEMU may open by itself (see the comment at the top).
 * Nothing is looked up on the host.
 *
 * Returns the list, or NULL with an error reported.
 */
qemuLandlockRules *
qemuLandlockBuildRules(virQEMUDriver *driver,
                       virDomainObj *vm)
{
    g_autoptr(virQEMUDriverConfig) cfg = virQEMUDriverGetConfig(driver);
    g_autoptr(qemuLandlockRules) rules = g_new0(qemuLandlockRules, 1);
    qemuDomainObjPrivate *priv = vm->privateData;

    if (!vm->def->emulator || !priv->libDir) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("the emulator and the domain's directory must be known to confine QEMU"));
        return NULL;
    }

    qemuLandlockAddEmulator(rules, cfg, vm->def);
    qemuLandlockAddConfig(rules, cfg);
    if (qemuLandlockAddRuntime(rules, driver, cfg, vm) < 0)
        return NULL;
    qemuLandlockAddDevices(rules, vm->def);
    qemuLandlockAddDev(rules, cfg, vm);
    if (qemuLandlockAddAllowList(rules, cfg) < 0)
        return NULL;

    return g_steal_pointer(&rules);
}


static const struct {
    const char *name;
    unsigned int access;
} qemuLandlockAccessNames[] = {
    /* the shorthands first */
    { "runtime", VIR_LANDLOCK_ACCESS_RUNTIME_DIR },
    { "dev", VIR_LANDLOCK_ACCESS_DEV },
    { "rx", VIR_LANDLOCK_ACCESS_RX },
    { "ro", VIR_LANDLOCK_ACCESS_RO },
    { "read", VIR_LANDLOCK_ACCESS_READ },
    { "write", VIR_LANDLOCK_ACCESS_WRITE },
    { "truncate", VIR_LANDLOCK_ACCESS_TRUNCATE },
    { "exec", VIR_LANDLOCK_ACCESS_EXEC },
    { "ioctl-dev", VIR_LANDLOCK_ACCESS_IOCTL_DEV },
    { "read-dir", VIR_LANDLOCK_ACCESS_READ_DIR },
    { "make-reg", VIR_LANDLOCK_ACCESS_MAKE_REG },
    { "make-dir", VIR_LANDLOCK_ACCESS_MAKE_DIR },
    { "make-sock", VIR_LANDLOCK_ACCESS_MAKE_SOCK },
    { "make-fifo", VIR_LANDLOCK_ACCESS_MAKE_FIFO },
    { "make-sym", VIR_LANDLOCK_ACCESS_MAKE_SYM },
    { "make-dev", VIR_LANDLOCK_ACCESS_MAKE_DEV },
    { "remove", VIR_LANDLOCK_ACCESS_REMOVE },
    { "refer", VIR_LANDLOCK_ACCESS_REFER },
};


static void
qemuLandlockFormatAccess(virBuffer *buf,
                         unsigned int access)
{
    const char *sep = "";
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(qemuLandlockAccessNames); i++) {
        unsigned int a = qemuLandlockAccessNames[i].access;

        if ((access & a) == a) {
            virBufferAsprintf(buf, "%s%s", sep, qemuLandlockAccessNames[i].name);
            access &= ~a;
            sep = "+";
        }
    }
}


/**
 * qemuLandlockRulesFormat:
 * @rules: the list
 *
 * One line per rule: "ACCESS PATH [optional] [child]", "exec PATH"
 * for the emulator. For logs and tests.
 */
char *
qemuLandlockRulesFormat(const qemuLandlockRules *rules)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    size_t i;

    for (i = 0; i < rules->nrules; i++) {
        const qemuLandlockRule *r = &rules->rules[i];

        if (r->flags & QEMU_LANDLOCK_RULE_EXECUTABLE)
            virBufferAddLit(&buf, "exec");
        else
            qemuLandlockFormatAccess(&buf, r->access);
        virBufferAsprintf(&buf, " %s", r->path);
        if (r->flags & QEMU_LANDLOCK_RULE_OPTIONAL)
            virBufferAddLit(&buf, " optional");
        if (r->flags & QEMU_LANDLOCK_RULE_CHILD)
            virBufferAddLit(&buf, " child");
        virBufferAddChar(&buf, '\n');
    }

    return virBufferContentAndReset(&buf);
}


static int
qemuLandlockAddRule(virLandlockRuleset *rs,
                    const qemuLandlockRule *rule)
{
    g_autofree char *errmsg = NULL;
    unsigned int access = rule->access;
    unsigned int flags = 0;
    int rc;

    if (rule->flags & QEMU_LANDLOCK_RULE_EXECUTABLE) {
        rc = virLandlockRulesetAddExecutable(rs, rule->path, &errmsg);
    } else {
        /* renaming across directories is always denied before ABI 2 */
        if (virLandlockRulesetGetABI(rs) < 2)
            access &= ~VIR_LANDLOCK_ACCESS_REFER;
        if (rule->flags & QEMU_LANDLOCK_RULE_OPTIONAL)
            flags |= VIR_LANDLOCK_PATH_OPTIONAL;
        rc = virLandlockRulesetAddPath(rs, rule->path, access, flags, &errmsg);
    }

    if (rc < 0) {
        virReportSystemError(-rc, _("cannot let the confined QEMU open '%1$s': %2$s"),
                             rule->path, NULLSTR(errmsg));
        return -1;
    }

    return 0;
}


/**
 * qemuLandlockRulesetNew:
 * @rules: what QEMU may open
 * @rs: filled with the ruleset
 *
 * Create a Landlock ruleset with every rule of @rules but those to be
 * added in the child. A host without Landlock is a configuration error:
 * the domain must not start unconfined.
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuLandlockRulesetNew(const qemuLandlockRules *rules,
                       virLandlockRuleset **rs)
{
    g_autoptr(virLandlockRuleset) ruleset = NULL;
    g_autofree char *errmsg = NULL;
    size_t i;
    int rc;

    if ((rc = virLandlockRulesetNew(&ruleset, &errmsg)) < 0) {
        if (rc == -ENOSYS || rc == -EOPNOTSUPP) {
            virReportError(VIR_ERR_CONFIG_UNSUPPORTED,
                           _("open_hook_confine is set in qemu.conf, but QEMU cannot be confined: %1$s"),
                           NULLSTR(errmsg));
        } else {
            virReportSystemError(-rc, _("cannot create a Landlock ruleset: %1$s"),
                                 NULLSTR(errmsg));
        }
        return -1;
    }

    for (i = 0; i < rules->nrules; i++) {
        if (rules->rules[i].flags & QEMU_LANDLOCK_RULE_CHILD)
            continue;
        if (qemuLandlockAddRule(ruleset, &rules->rules[i]) < 0)
            return -1;
    }

    *rs = g_steal_pointer(&ruleset);
    return 0;
}


/**
 * qemuLandlockAddChildRules:
 * @rules: what QEMU may open
 * @rs: the ruleset qemuLandlockRulesetNew() created
 *
 * Add the rules that only the child can add (its namespace's /dev). For
 * the pre-exec hook, after the mount namespace is set up; virCommand
 * applies the ruleset after the hook.
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuLandlockAddChildRules(const qemuLandlockRules *rules,
                          virLandlockRuleset *rs)
{
    size_t i;

    for (i = 0; i < rules->nrules; i++) {
        if (!(rules->rules[i].flags & QEMU_LANDLOCK_RULE_CHILD))
            continue;
        if (qemuLandlockAddRule(rs, &rules->rules[i]) < 0)
            return -1;
    }

    return 0;
}


/**
 * qemuLandlockPrepareCommand:
 * @driver: the qemu driver
 * @vm: the domain about to start
 * @cmd: QEMU's command
 * @rules: filled with the rules, for qemuLandlockAddChildRules()
 * @rs: filled with the ruleset, which @cmd owns
 *
 * Have @cmd confine QEMU: build the ruleset and hand it to @cmd, which
 * applies it in the child. The caller's pre-exec hook must call
 * qemuLandlockAddChildRules(*@rules, *@rs).
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuLandlockPrepareCommand(virQEMUDriver *driver,
                           virDomainObj *vm,
                           virCommand *cmd,
                           qemuLandlockRules **rules,
                           virLandlockRuleset **rs)
{
    qemuDomainObjPrivate *priv = vm->privateData;
    g_autoptr(qemuLandlockRules) list = NULL;
    g_autoptr(virLandlockRuleset) ruleset = NULL;
    g_autofree char *str = NULL;

    if (!(list = qemuLandlockBuildRules(driver, vm)) ||
        qemuLandlockRulesetNew(list, &ruleset) < 0)
        return -1;

    str = qemuLandlockRulesFormat(list);
    VIR_DEBUG("confining QEMU of domain '%s' with Landlock ABI %d:\n%s",
              vm->def->name, virLandlockRulesetGetABI(ruleset), NULLSTR_EMPTY(str));
    if (!priv->openhook)
        VIR_INFO("QEMU of domain '%s' is confined without the open hook: it cannot open the domain's local files",
                 vm->def->name);

    /* @cmd owns it now (it frees it at once if @cmd has an error, but
     * then it never runs the hook that uses *@rs) */
    *rs = ruleset;
    virCommandSetLandlockRuleset(cmd, g_steal_pointer(&ruleset),
                                 VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC);
    *rules = g_steal_pointer(&list);
    return 0;
}
