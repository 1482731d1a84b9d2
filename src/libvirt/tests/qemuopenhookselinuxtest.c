/*
 * qemuopenhookselinuxtest.c: the open hook's label rules with SELinux
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

#include <sched.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/xattr.h>
#include <selinux/selinux.h>

#include "testutils.h"
#include "testutilsqemu.h"
#include "qemu/qemu_domain.h"
#include "qemu/qemu_namespace.h"
#include "qemu/qemu_openhook.h"
#include "qemu/qemu_security.h"
#define LIBVIRT_QEMU_PROCESSPRIV_H_ALLOW
#include "qemu/qemu_processpriv.h"
#include "security/security_manager.h"
#include "locking/lock_manager.h"
#include "vireventthread.h"
#include "virfile.h"
#include "virprocess.h"
#include "virutil.h"
#include "viropenhookbroker.h"

#define VIR_FROM_THIS VIR_FROM_NONE

/* What the policy gives the images (securityselinuxhelper.c returns it as
 * their default label), and the labels libvirt gives read-only and
 * shareable images (securityselinuxhelperdata/virtual_image_context). */
#define TEST_FILE_CONTEXT "system_u:object_r:virt_image_t:s0"
#define TEST_CONTENT_CONTEXT "system_u:object_r:virt_content_t:s0"
#define TEST_SHARED_CONTEXT "system_u:object_r:svirt_image_t:s0"

static virQEMUDriver driver;
static char *imgdir;


/* vda and vdb share base.img, vdc is shareable, vdd read-only. */
static const char *testDomainXML =
    "<domain type='qemu'>\n"
    "  <name>@NAME@</name>\n"
    "  <uuid>@UUID@</uuid>\n"
    "  <memory>219100</memory>\n"
    "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='@DIR@/top.img'/>\n"
    "      <backingStore type='file'>\n"
    "        <format type='qcow2'/>\n"
    "        <source file='@DIR@/mid.img'/>\n"
    "        <backingStore type='file'>\n"
    "          <format type='qcow2'/>\n"
    "          <source file='@DIR@/base.img'/>\n"
    "          <backingStore/>\n"
    "        </backingStore>\n"
    "      </backingStore>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='@DIR@/other.img'/>\n"
    "      <backingStore type='file'>\n"
    "        <format type='qcow2'/>\n"
    "        <source file='@DIR@/base.img'/>\n"
    "        <backingStore/>\n"
    "      </backingStore>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='@DIR@/shared.img'/>\n"
    "      <target dev='vdc' bus='virtio'/>\n"
    "      <shareable/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='@DIR@/ro.img'/>\n"
    "      <target dev='vdd' bus='virtio'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "  </devices>\n"
    "</domain>\n";

static const char *testImages[] = {
    "top.img", "mid.img", "base.img", "other.img", "shared.img", "ro.img",
};


typedef struct _testDomain testDomain;
struct _testDomain {
    virDomainObj *vm;
    GPtrArray *drained; /* canonical paths the hook reported drained */
    char *imagelabel;
};


static void
testDomainClear(testDomain *dom)
{
    if (dom->vm) {
        qemuDomainObjPrivate *priv = dom->vm->privateData;

        g_clear_pointer(&priv->openhook, qemuOpenHookFree);
        g_clear_pointer(&priv->eventThread, g_object_unref);
        virDomainObjEndAPI(&dom->vm);
    }
    g_clear_pointer(&dom->drained, g_ptr_array_unref);
    g_clear_pointer(&dom->imagelabel, g_free);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(testDomain, testDomainClear);


static virDomainDef *
testParseDomain(const char *name,
                const char *uuid)
{
    g_autofree char *xml = g_strdup(testDomainXML);
    const char *vars[][2] = {
        { "@NAME@", name }, { "@UUID@", uuid }, { "@DIR@", imgdir },
    };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(vars); i++) {
        g_auto(GStrv) parts = g_strsplit(xml, vars[i][0], -1);

        g_free(xml);
        xml = g_strjoinv(vars[i][1], parts);
    }

    return virDomainDefParseString(xml, driver.xmlopt, NULL,
                                   VIR_DOMAIN_DEF_PARSE_INACTIVE);
}


static void
testDrainedRecord(const char *canonical,
                  void *opaque)
{
    GPtrArray *drained = opaque;

    g_ptr_array_add(drained, g_strdup(canonical));
}


/*
 * A running domain as qemuProcessLaunch() leaves it: the whitelist holds
 * every file of the domain, and every image has the label libvirt gives
 * it.  Each image starts with TEST_FILE_CONTEXT.
 */
static int
testDomainStart(testDomain *dom)
{
    qemuDomainObjPrivate *priv;
    virSecurityLabelDef *seclabel;
    g_autofree char *sockpath = g_strdup_printf("%s/openhook.sock", imgdir);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(testImages); i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", imgdir, testImages[i]);

        if (setfilecon_raw(path, TEST_FILE_CONTEXT) < 0)
            return -1;
    }

    if (!(dom->vm = virDomainObjNew(driver.xmlopt)))
        return -1;
    priv = dom->vm->privateData;
    /* XATTRs in the trusted namespace need root: libvirt looks the
     * original label up (selabel_lookup_raw) */
    priv->rememberOwner = false;

    if (!(dom->vm->def = testParseDomain("openhook",
                                         "c7a5fdbd-edaf-9455-926a-d65c16db1809")) ||
        virSecurityManagerGenLabel(driver.securityManager, dom->vm->def) < 0)
        return -1;
    dom->vm->def->id = 1;
    dom->vm->pid = getpid();

    if (!(seclabel = virDomainDefGetSecurityLabelDef(dom->vm->def, "selinux")) ||
        !seclabel->imagelabel ||
        !STRPREFIX(seclabel->imagelabel, "system_u:object_r:svirt_image_t:s0:c")) {
        VIR_TEST_DEBUG("no MCS image label was generated");
        return -1;
    }
    dom->imagelabel = g_strdup(seclabel->imagelabel);

    dom->drained = g_ptr_array_new_with_free_func(g_free);
    priv->openhook = qemuOpenHookNew(dom->vm->def, QEMU_OPEN_HOOK_ENFORCE,
                                     NULL, sockpath);
    qemuOpenHookSetDrainedCallback(priv->openhook, testDrainedRecord,
                                   dom->drained);

    if (qemuOpenHookAllowDef(priv->openhook, dom->vm->def, NULL) < 0 ||
        qemuSecuritySetAllLabel(&driver, dom->vm, NULL, false) < 0)
        return -1;

    return 0;
}


/* What the driver's worker does for every DRAINED event */
static void
testDomainProcessDrained(testDomain *dom)
{
    size_t i;

    for (i = 0; i < dom->drained->len; i++)
        qemuDomainOpenHookRestoreDrained(&driver, dom->vm,
                                         g_ptr_array_index(dom->drained, i));
    g_ptr_array_set_size(dom->drained, 0);
}


/* QEMU opens @name through the hook: returns the grant's handle, or 0 */
static uint64_t
testGrant(testDomain *dom,
          const char *name)
{
    qemuDomainObjPrivate *priv = dom->vm->privateData;
    g_autofree char *path = g_strdup_printf("%s/%s", imgdir, name);
    uint64_t handle = 0;
    int fd;

    fd = virOpenHookBrokerOpen(qemuOpenHookGetWhitelist(priv->openhook),
                               path, strlen(path), O_RDONLY | O_CLOEXEC, 0,
                               &handle);
    if (fd < 0) {
        VIR_TEST_DEBUG("QEMU was refused '%s'", name);
        return 0;
    }
    VIR_FORCE_CLOSE(fd);
    return handle;
}


/* QEMU reports that it closed the fd of @handle */
static int
testRelease(testDomain *dom,
            uint64_t handle)
{
    qemuDomainObjPrivate *priv = dom->vm->privateData;

    return virOpenHookWhitelistRelease(qemuOpenHookGetWhitelist(priv->openhook),
                                       handle, VIR_OPENHOOK_REASON_NONE);
}


static int
testCheckLabel(const char *name,
               const char *expected,
               const char *when)
{
    g_autofree char *path = g_strdup_printf("%s/%s", imgdir, name);
    char *con = NULL;
    int ret = 0;

    if (getfilecon_raw(path, &con) < 0) {
        VIR_TEST_DEBUG("%s: cannot get the label of '%s'", when, name);
        return -1;
    }

    if (STRNEQ(con, expected)) {
        VIR_TEST_DEBUG("%s: '%s' is labelled '%s', expected '%s'",
                       when, name, con, expected);
        ret = -1;
    }
    freecon(con);
    return ret;
}


static int
testCheckDrained(testDomain *dom,
                 size_t expected,
                 const char *when)
{
    if (dom->drained->len != expected) {
        VIR_TEST_DEBUG("%s: %u images drained, expected %zu",
                       when, dom->drained->len, expected);
        return -1;
    }
    return 0;
}


static virDomainDiskDef *
testDisk(testDomain *dom,
         const char *dst)
{
    return virDomainDiskByTarget(dom->vm->def, dst);
}


/*
 * An image revoked while QEMU holds fds of it keeps the domain's MCS
 * label until QEMU closed the last one; then it gets its original label
 * back.  An image QEMU does not hold gets it back at once.
 */
static int
testHeldImage(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    uint64_t h1;
    uint64_t h2;

    if (testDomainStart(&dom) < 0 ||
        testCheckLabel("top.img", dom.imagelabel, "started") < 0 ||
        testCheckLabel("other.img", dom.imagelabel, "started") < 0 ||
        !(h1 = testGrant(&dom, "top.img")) ||
        !(h2 = testGrant(&dom, "top.img")))
        return -1;

    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, testDisk(&dom, "vda")->src);
    if (testCheckLabel("top.img", dom.imagelabel, "revoked, 2 fds held") < 0 ||
        testCheckDrained(&dom, 0, "revoked, 2 fds held") < 0)
        return -1;

    if (testRelease(&dom, h1) < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("top.img", dom.imagelabel, "revoked, 1 fd held") < 0)
        return -1;

    if (testRelease(&dom, h2) < 0 ||
        testCheckDrained(&dom, 1, "last fd closed") < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("top.img", TEST_FILE_CONTEXT, "last fd closed") < 0)
        return -1;

    /* other.img allowed twice, as for two disks: the first revoke keeps
     * its label although QEMU does not hold it */
    if (qemuDomainStorageSourceAccessAllow(&driver, dom.vm, testDisk(&dom, "vdb")->src,
                                           false, true, true) < 0)
        return -1;
    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdb")->src);
    if (testCheckLabel("other.img", dom.imagelabel, "one of two users revoked") < 0)
        return -1;

    /* the last user, not held: restored by the funnel itself */
    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdb")->src);
    if (testCheckLabel("other.img", TEST_FILE_CONTEXT, "revoked, not held") < 0)
        return -1;

    return 0;
}


/*
 * A read-only backing image, a read-only disk and a shareable disk that
 * leave the domain get their label back once QEMU closed them (libvirt
 * alone never restores them); a base still in another disk's chain keeps
 * its label until the last disk using it is gone.
 */
static int
testReadOnlyShared(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    virDomainDiskDef *vda;
    uint64_t mid;
    uint64_t shared;
    uint64_t base;

    if (testDomainStart(&dom) < 0 ||
        testCheckLabel("mid.img", TEST_CONTENT_CONTEXT, "started") < 0 ||
        testCheckLabel("base.img", TEST_CONTENT_CONTEXT, "started") < 0 ||
        testCheckLabel("ro.img", TEST_CONTENT_CONTEXT, "started") < 0 ||
        testCheckLabel("shared.img", TEST_SHARED_CONTEXT, "started") < 0 ||
        !(mid = testGrant(&dom, "mid.img")) ||
        !(shared = testGrant(&dom, "shared.img")) ||
        !(base = testGrant(&dom, "base.img")))
        return -1;
    vda = testDisk(&dom, "vda");

    /* a block pull drops mid.img while QEMU still holds it */
    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, vda->src->backingStore);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("mid.img", TEST_CONTENT_CONTEXT, "read-only, revoked, held") < 0)
        return -1;
    if (testRelease(&dom, mid) < 0 ||
        testCheckDrained(&dom, 1, "read-only, closed") < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("mid.img", TEST_FILE_CONTEXT, "read-only, closed") < 0)
        return -1;

    /* detach the read-only disk, which QEMU does not hold */
    qemuDomainStorageSourceChainAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdd")->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("ro.img", TEST_FILE_CONTEXT, "read-only disk detached") < 0)
        return -1;

    /* detach the shareable disk while QEMU holds it */
    qemuDomainStorageSourceChainAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdc")->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("shared.img", TEST_SHARED_CONTEXT, "shareable, detached, held") < 0)
        return -1;
    if (testRelease(&dom, shared) < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("shared.img", TEST_FILE_CONTEXT, "shareable, closed") < 0)
        return -1;

    /* base.img is vdb's too: detaching vda leaves it labelled, even once
     * QEMU closed it */
    qemuDomainStorageSourceChainAccessRevoke(&driver, dom.vm, vda->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("base.img", TEST_CONTENT_CONTEXT, "vda detached") < 0)
        return -1;

    /* ...detaching vdb too restores it once QEMU closed it */
    qemuDomainStorageSourceChainAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdb")->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("base.img", TEST_CONTENT_CONTEXT, "vdb detached, base held") < 0)
        return -1;
    if (testRelease(&dom, base) < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("base.img", TEST_FILE_CONTEXT, "vdb detached, base closed") < 0)
        return -1;

    return 0;
}


/*
 * A read-only image that another running domain uses keeps its label
 * when it leaves this one.
 */
static int
testReadOnlyOtherDomain(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    g_autoptr(virDomainDef) otherdef = NULL;
    virDomainObj *other = NULL;
    int ret = -1;

    if (testDomainStart(&dom) < 0 ||
        !(otherdef = testParseDomain("other", "9ed2a2b5-2d47-4e3e-9d0b-3c1f5fb1c6a1")))
        return -1;

    if (!(other = virDomainObjListAdd(driver.domains, &otherdef, driver.xmlopt,
                                      0, NULL)))
        return -1;
    other->def->id = 2;
    virObjectUnlock(other);
    /* running, without the hook: it could share any read-only image */
    qemuOpenHookNoteUnhookedDomain(true);

    qemuDomainStorageSourceChainAccessRevoke(&driver, dom.vm, testDisk(&dom, "vdd")->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("ro.img", TEST_CONTENT_CONTEXT,
                       "read-only disk detached, used by another domain") < 0)
        goto cleanup;

    /* nor when this domain stops */
    qemuDomainOpenHookRestoreShared(&driver, dom.vm);
    if (testCheckLabel("base.img", TEST_CONTENT_CONTEXT,
                       "stopped, base used by another domain") < 0 ||
        testCheckLabel("shared.img", TEST_SHARED_CONTEXT,
                       "stopped, shareable disk used by another domain") < 0)
        goto cleanup;

    ret = 0;
 cleanup:
    qemuOpenHookNoteUnhookedDomain(false);
    virObjectLock(other);
    virDomainObjListRemove(driver.domains, other);
    virDomainObjEndAPI(&other);
    return ret;
}


/*
 * An image revoked while QEMU holds it, then allowed again before QEMU
 * closed it (attached again), keeps its label for good.
 */
static int
testAllowedAgain(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    virDomainDiskDef *vdb;
    uint64_t other;
    uint64_t mid;

    if (testDomainStart(&dom) < 0 ||
        !(other = testGrant(&dom, "other.img")) ||
        !(mid = testGrant(&dom, "mid.img")))
        return -1;
    vdb = testDisk(&dom, "vdb");

    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, vdb->src);
    if (qemuDomainStorageSourceAccessAllow(&driver, dom.vm, vdb->src,
                                           false, true, true) < 0 ||
        testRelease(&dom, other) < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("other.img", dom.imagelabel, "allowed again, closed") < 0)
        return -1;

    /* the same for a read-only image */
    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm,
                                        testDisk(&dom, "vda")->src->backingStore);
    if (qemuDomainStorageSourceAccessAllow(&driver, dom.vm,
                                           testDisk(&dom, "vda")->src->backingStore,
                                           true, true, false) < 0 ||
        testRelease(&dom, mid) < 0)
        return -1;
    testDomainProcessDrained(&dom);
    if (testCheckLabel("mid.img", TEST_CONTENT_CONTEXT, "read-only, allowed again, closed") < 0)
        return -1;

    return 0;
}


/*
 * The domain stops while QEMU still held revoked images: qemuProcessStop()
 * restores their labels, and those of the read-only and shareable images
 * of the definition.
 */
static int
testStop(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    virDomainDiskDef *vda;

    if (testDomainStart(&dom) < 0 ||
        !testGrant(&dom, "top.img") ||
        !testGrant(&dom, "mid.img"))
        return -1;
    vda = testDisk(&dom, "vda");

    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, vda->src);
    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, vda->src->backingStore);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("top.img", dom.imagelabel, "revoked, held") < 0 ||
        testCheckLabel("mid.img", TEST_CONTENT_CONTEXT, "revoked, held") < 0)
        return -1;

    qemuDomainOpenHookRestorePending(&driver, dom.vm);
    if (testCheckLabel("top.img", TEST_FILE_CONTEXT, "stopped") < 0 ||
        testCheckLabel("mid.img", TEST_FILE_CONTEXT, "stopped") < 0)
        return -1;

    /* the read-only and shareable images still in the definition, which
     * qemuSecurityRestoreAllLabel() leaves alone */
    if (testCheckLabel("base.img", TEST_CONTENT_CONTEXT, "stopping") < 0 ||
        testCheckLabel("ro.img", TEST_CONTENT_CONTEXT, "stopping") < 0 ||
        testCheckLabel("shared.img", TEST_SHARED_CONTEXT, "stopping") < 0)
        return -1;
    qemuDomainOpenHookRestoreShared(&driver, dom.vm);
    if (testCheckLabel("base.img", TEST_FILE_CONTEXT, "stopped") < 0 ||
        testCheckLabel("ro.img", TEST_FILE_CONTEXT, "stopped") < 0 ||
        testCheckLabel("shared.img", TEST_FILE_CONTEXT, "stopped") < 0 ||
        testCheckLabel("other.img", dom.imagelabel, "stopped, read-write") < 0)
        return -1;

    return 0;
}


/*
 * QEMU ran in a mount namespace of its own and has exited: the namespace
 * went with it, and its PID may belong to another process by now, one
 * of QEMU's user's that has a mount namespace of its own with a file of
 * its choosing at the image's path.  The labels the hook held back are
 * restored in the daemon's namespace, never through that PID.
 */
static int
testStopPidReused(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    g_autofree char *top = g_strdup_printf("%s/top.img", imgdir);
    g_autofree char *theirs = NULL;
    char *con = NULL;
    virDomainDiskDef *vda;
    int ready[2] = { -1, -1 };
    char c = 0;
    pid_t child;
    int ret = -1;

    if (testDomainStart(&dom) < 0 ||
        !testGrant(&dom, "top.img"))
        return -1;
    vda = testDisk(&dom, "vda");

    qemuDomainStorageSourceAccessRevoke(&driver, dom.vm, vda->src);
    testDomainProcessDrained(&dom);
    if (testCheckLabel("top.img", dom.imagelabel, "revoked, held") < 0 ||
        qemuDomainEnableNamespace(dom.vm, QEMU_DOMAIN_NS_MOUNT) < 0 ||
        virPipe(ready) < 0)
        return -1;

    /* QEMU is gone; a process with QEMU's PID has a tmpfs over the
     * images' directory, with a top.img labelled as the domain's */
    if ((child = virFork()) < 0)
        goto cleanup;
    if (child == 0) {
        VIR_FORCE_CLOSE(ready[0]);
        if (unshare(CLONE_NEWNS) < 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
            mount("tmpfs", imgdir, "tmpfs", 0, NULL) < 0 ||
            virFileWriteStr(top, "", 0600) < 0 ||
            setfilecon_raw(top, dom.imagelabel) < 0)
            _exit(EXIT_FAILURE);
        ignore_value(safewrite(ready[1], "r", 1));
        while (true)
            g_usleep(G_USEC_PER_SEC);
    }
    VIR_FORCE_CLOSE(ready[1]);
    if (saferead(ready[0], &c, 1) != 1) {
        /* no mount namespace here (not root) */
        ignore_value(virProcessWait(child, NULL, false));
        ret = EXIT_AM_SKIP;
        goto cleanup;
    }
    dom.vm->pid = child;

    qemuDomainOpenHookRestorePending(&driver, dom.vm);

    theirs = g_strdup_printf("/proc/%lld/root%s", (long long)child, top);
    if (getfilecon_raw(theirs, &con) < 0 ||
        STRNEQ(con, dom.imagelabel)) {
        VIR_TEST_DEBUG("the label of the other process's file changed to '%s'",
                       NULLSTR(con));
        goto cleanup;
    }
    if (testCheckLabel("top.img", TEST_FILE_CONTEXT, "stopped") < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    if (child > 0 && c)
        virProcessAbort(child);
    VIR_FORCE_CLOSE(ready[0]);
    VIR_FORCE_CLOSE(ready[1]);
    freecon(con);
    return ret;
}


/*
 * QEMU's end of the channel is created with the domain's socket label,
 * and only it; the socket QEMU connects to again after a daemon restart
 * gets the domain's file label once the hook serves.
 */
static int
testSocket(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    qemuDomainObjPrivate *priv;
    virSecurityLabelDef *seclabel;
    int qemufd; /* the hook's until it is passed to QEMU */
    VIR_AUTOCLOSE fd = -1;
    char *con = NULL;
    int rc;

    if (testDomainStart(&dom) < 0)
        return -1;
    priv = dom.vm->privateData;
    seclabel = virDomainDefGetSecurityLabelDef(dom.vm->def, "selinux");

    if ((qemufd = qemuOpenHookOpenChannel(priv->openhook, driver.securityManager,
                                          dom.vm->def)) < 0)
        return -1;

    if (fgetfilecon_raw(qemufd, &con) < 0) {
        VIR_TEST_DEBUG("QEMU's end of the channel has no label");
        return -1;
    }
    rc = STRNEQ(con, seclabel->label) ? -1 : 0;
    if (rc < 0)
        VIR_TEST_DEBUG("QEMU's end is labelled '%s', expected '%s'",
                       con, seclabel->label);
    freecon(con);
    if (rc < 0)
        return -1;

    /* the socket creation context was reset */
    if ((fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return -1;
    if (fgetfilecon_raw(fd, &con) == 0) {
        VIR_TEST_DEBUG("a later socket is labelled '%s'", con);
        freecon(con);
        return -1;
    }

    priv->eventThread = virEventThreadNew("vm-openhook");
    if (!priv->eventThread ||
        qemuProcessStartOpenHook(&driver, dom.vm) < 0)
        return -1;

    return testCheckLabel("openhook.sock", dom.imagelabel, "serving");
}


/*
 * QEMU's user can rename anything over the socket's name: the label
 * goes to the socket file, through its inode, never to what the name
 * points to by the time the hook labels it.
 */
static int
testSocketReplaced(const void *opaque G_GNUC_UNUSED)
{
    g_auto(testDomain) dom = { 0 };
    qemuDomainObjPrivate *priv;
    g_autofree char *sockpath = g_strdup_printf("%s/openhook.sock", imgdir);
    g_autofree char *victim = g_strdup_printf("%s/victim", imgdir);

    if (testDomainStart(&dom) < 0)
        return -1;
    priv = dom.vm->privateData;

    if (virFileWriteStr(victim, "", 0600) < 0 ||
        setfilecon_raw(victim, TEST_FILE_CONTEXT) < 0 ||
        qemuOpenHookOpenChannel(priv->openhook, driver.securityManager,
                                dom.vm->def) < 0)
        return -1;

    /* the socket, and the file label it gets */
    if (qemuOpenHookPrepareSocket(priv->openhook, driver.securityManager,
                                  dom.vm->def) < 0 ||
        testCheckLabel("openhook.sock", dom.imagelabel, "prepared") < 0)
        return -1;

    /* a symlink renamed over it */
    if (unlink(sockpath) < 0 || symlink(victim, sockpath) < 0)
        return -1;
    if (qemuOpenHookPrepareSocket(priv->openhook, driver.securityManager,
                                  dom.vm->def) == 0) {
        VIR_TEST_DEBUG("a symlink over the socket was labelled");
        return -1;
    }
    virResetLastError();
    if (testCheckLabel("victim", TEST_FILE_CONTEXT, "symlink over the socket") < 0)
        return -1;

    /* a file renamed over it */
    if (unlink(sockpath) < 0 || link(victim, sockpath) < 0)
        return -1;
    if (qemuOpenHookPrepareSocket(priv->openhook, driver.securityManager,
                                  dom.vm->def) == 0) {
        VIR_TEST_DEBUG("a file over the socket was labelled");
        return -1;
    }
    virResetLastError();
    unlink(sockpath);
    return testCheckLabel("victim", TEST_FILE_CONTEXT, "file over the socket");
}


static int
mymain(void)
{
    g_autoptr(GHashTable) capslatest = testQemuGetLatestCaps();
    g_autoptr(GHashTable) capscache = virHashNew(virObjectUnref);
    virSecurityManager *selinux = NULL;
    int ret = 0;
    size_t i;

    if (!(imgdir = g_strdup(abs_builddir "/qemuopenhookselinuxdata-XXXXXX")) ||
        !g_mkdtemp(imgdir))
        return EXIT_FAILURE;

    for (i = 0; i < G_N_ELEMENTS(testImages); i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", imgdir, testImages[i]);

        if (virFileWriteStr(path, "", 0600) < 0) {
            ret = -1;
            goto cleanup;
        }
    }

    if (setxattr(imgdir, "user.libvirt.selinux", "x", 1, 0) < 0) {
        VIR_TEST_VERBOSE("user XATTRs unsupported here");
        virFileDeleteTree(imgdir);
        return EXIT_AM_SKIP;
    }

    g_setenv("FAKE_SELINUX_FILE_CONTEXT", TEST_FILE_CONTEXT, TRUE);
    setcon("system_u:system_r:virtd_t:s0-s0:c0.c1023");

    if (qemuTestDriverInit(&driver) < 0) {
        ret = -1;
        goto cleanup;
    }

    qemuTestSetHostArch(&driver, VIR_ARCH_X86_64);
    if (testQemuInsertRealCaps(driver.qemuCapsCache, "x86_64", "latest", "",
                               capslatest, capscache, NULL, NULL) < 0) {
        ret = -1;
        goto cleanup;
    }

    virObjectUnref(driver.securityManager);
    if (!(selinux = virSecurityManagerNew("selinux", "QEMU",
                                          VIR_SECURITY_MANAGER_DEFAULT_CONFINED |
                                          VIR_SECURITY_MANAGER_PRIVILEGED)) ||
        !(driver.securityManager = virSecurityManagerNewStack(selinux))) {
        VIR_TEST_VERBOSE("Unable to initialize security driver: %s",
                         virGetLastErrorMessage());
        virObjectUnref(selinux);
        ret = -1;
        goto cleanup;
    }

    if (!(driver.domains = virDomainObjListNew()) ||
        !(driver.lockManager = virLockManagerPluginNew("nop", "qemu",
                                                       driver.config->configBaseDir,
                                                       0))) {
        ret = -1;
        goto cleanup;
    }

    if (virTestRun("held image keeps its label until closed", testHeldImage, NULL) < 0)
        ret = -1;
    if (virTestRun("read-only and shareable images restored once closed",
                   testReadOnlyShared, NULL) < 0)
        ret = -1;
    if (virTestRun("read-only image another domain uses keeps its label",
                   testReadOnlyOtherDomain, NULL) < 0)
        ret = -1;
    if (virTestRun("allowed again before closed keeps its label",
                   testAllowedAgain, NULL) < 0)
        ret = -1;
    if (virTestRun("pending labels restored at stop", testStop, NULL) < 0)
        ret = -1;
    if (virTestRun("pending labels restored outside a gone QEMU's namespace",
                   testStopPidReused, NULL) < 0)
        ret = -1;
    if (virTestRun("socket labels", testSocket, NULL) < 0)
        ret = -1;
    if (virTestRun("socket replaced by a symlink or a file", testSocketReplaced, NULL) < 0)
        ret = -1;

 cleanup:
    virLockManagerPluginUnref(driver.lockManager);
    virObjectUnref(driver.domains);
    qemuTestDriverFree(&driver);
    virFileDeleteTree(imgdir);
    g_free(imgdir);
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN_PRELOAD(mymain,
                      VIR_TEST_MOCK("domaincaps"),
                      "libsecurityselinuxhelper.so")
