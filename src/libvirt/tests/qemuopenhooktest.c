/*
 * qemuopenhooktest.c: the open hook's whitelist built from domain definitions
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
#include "testutilsqemu.h"
#include "qemu/qemu_openhook.h"
#include "viralloc.h"
#include "virbuffer.h"
#include "virfile.h"
#include "viropenhookbroker.h"

#define VIR_FROM_THIS VIR_FROM_NONE

static virQEMUDriver driver;
static char *imgdir;


/* Two disks whose chains share base.img, a read-only disk, a cdrom and
 * a file listed in <openhook>; every image exists in @imgdir. */
static const char *testDomainXML =
    "<domain type='qemu'>\n"
    "  <name>openhook</name>\n"
    "  <uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>\n"
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
    "      <source file='@DIR@/ro.img'/>\n"
    "      <target dev='vdc' bus='virtio'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <source file='@DIR@/cd.iso'/>\n"
    "      <target dev='hdc' bus='ide'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "    <disk type='file' device='cdrom'>\n"
    "      <driver name='qemu' type='raw'/>\n"
    "      <target dev='hdd' bus='ide'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "  </devices>\n"
    "  <openhook mode='enforce'>\n"
    "    <file path='@DIR@/extra.log' access='rw'/>\n"
    "  </openhook>\n"
    "</domain>\n";


static virDomainDef *
testParseDomain(void)
{
    g_autofree char *xml = NULL;
    g_auto(GStrv) parts = g_strsplit(testDomainXML, "@DIR@", -1);

    xml = g_strjoinv(imgdir, parts);
    return virDomainDefParseString(xml, driver.xmlopt, NULL,
                                   VIR_DOMAIN_DEF_PARSE_INACTIVE);
}


/* The whitelist as "path access users fds" lines, @imgdir stripped. */
static char *
testFormatWhitelist(qemuOpenHook *hook)
{
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    virOpenHookEntryInfo *infos = NULL;
    size_t n = virOpenHookWhitelistGetAll(qemuOpenHookGetWhitelist(hook), &infos);
    size_t i;

    for (i = 0; i < n; i++) {
        const char *path = infos[i].canonical;

        if (STRPREFIX(path, imgdir))
            path += strlen(imgdir) + 1;
        virBufferAsprintf(&buf, "%s%s %s users=%u origin=%s\n", path,
                          infos[i].dir ? "/" : "",
                          virOpenHookAccessToString(infos[i].access),
                          infos[i].users, NULLSTR(infos[i].origin));
    }
    virOpenHookEntryInfoListFree(infos, n);
    return virBufferContentAndReset(&buf);
}


static int
testCompareWhitelist(qemuOpenHook *hook,
                     const char *expected)
{
    g_autofree char *actual = testFormatWhitelist(hook);

    return virTestCompareToString(expected, NULLSTR_EMPTY(actual));
}


/* Every storage source of every disk with its chain, read-write only for
 * writable tops, a shared base once with two users, and the extra file. */
static int
testAllowDef(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;

    if (!def)
        return -1;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0)
        return -1;

    return testCompareWhitelist(hook,
                                "base.img ro users=2 origin=vda\n"
                                "cd.iso ro users=1 origin=hdc\n"
                                "extra.log rw users=1 origin=openhook\n"
                                "mid.img ro users=1 origin=vda\n"
                                "other.img rw users=1 origin=vdb\n"
                                "ro.img ro users=1 origin=vdc\n"
                                "top.img rw users=1 origin=vda\n");
}


/* What the storage access funnel does: dropping one disk keeps the shared
 * base for the other; a media change swaps the cdrom's image; an access
 * change takes no reference. */
static int
testFunnel(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(virStorageSource) newmedia = virStorageSourceNew();
    virDomainDiskDef *vdb;
    virDomainDiskDef *hdc;

    if (!def)
        return -1;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0)
        return -1;

    vdb = virDomainDiskByTarget(def, "vdb");
    hdc = virDomainDiskByTarget(def, "hdc");

    /* detach-disk vdb */
    qemuOpenHookRevokeSource(hook, vdb->src, true);

    /* change-media hdc */
    newmedia->type = VIR_STORAGE_TYPE_FILE;
    newmedia->format = VIR_STORAGE_FILE_RAW;
    newmedia->path = g_strdup_printf("%s/cd2.iso", imgdir);
    newmedia->readonly = true;
    if (qemuOpenHookAllowSource(hook, newmedia, true, false) < 0)
        return -1;
    qemuOpenHookRevokeSource(hook, hdc->src, true);

    /* block commit: the base is writable for the job, then read-only */
    def->disks[0]->src->backingStore->backingStore->readonly = false;
    if (qemuOpenHookAllowSource(hook, def->disks[0]->src->backingStore->backingStore,
                                false, true) < 0)
        return -1;
    if (testCompareWhitelist(hook,
                             "base.img rw users=1 origin=vda\n"
                             "cd2.iso ro users=1 origin=image\n"
                             "extra.log rw users=1 origin=openhook\n"
                             "mid.img ro users=1 origin=vda\n"
                             "ro.img ro users=1 origin=vdc\n"
                             "top.img rw users=1 origin=vda\n") < 0)
        return -1;

    def->disks[0]->src->backingStore->backingStore->readonly = true;
    if (qemuOpenHookAllowSource(hook, def->disks[0]->src->backingStore->backingStore,
                                false, true) < 0)
        return -1;
    /* ...which drops mid.img */
    qemuOpenHookRevokeSource(hook, def->disks[0]->src->backingStore, false);

    return testCompareWhitelist(hook,
                                "base.img ro users=1 origin=vda\n"
                                "cd2.iso ro users=1 origin=image\n"
                                "extra.log rw users=1 origin=openhook\n"
                                "ro.img ro users=1 origin=vdc\n"
                                "top.img rw users=1 origin=vda\n");
}


/* A directory listed in <openhook>: one entry for all the files beneath
 * it, shown in the live XML, which still validates; a missing directory
 * is an error. */
static int
testDirectory(const void *opaque G_GNUC_UNUSED)
{
    g_autofree char *shared = g_strdup_printf("%s/shared", imgdir);
    g_autofree char *data = g_strdup_printf("%s/data.img", shared);
    g_autofree char *withDir = virStringReplace(testDomainXML, "</openhook>",
                                                "  <dir path='@DIR@/shared'/>\n"
                                                "  </openhook>");
    g_auto(GStrv) parts = g_strsplit(withDir, "@DIR@", -1);
    g_autofree char *xml = g_strjoinv(imgdir, parts);
    g_autofree char *live = NULL;
    g_autofree char *wantDir = NULL;
    g_autofree char *wantEntry = NULL;
    g_autoptr(virDomainDef) def = NULL;
    g_autoptr(virDomainDef) reparsed = NULL;
    g_autoptr(qemuOpenHook) hook = NULL;
    virOpenHookTicket ticket;
    virOpenHookReason reason;
    uint64_t handle;
    struct stat st;
    int ret = -1;
    int rc;

    if (g_mkdir_with_parents(shared, 0700) < 0 ||
        virFileWriteStr(data, "", 0600) < 0 ||
        stat(data, &st) < 0)
        return -1;

    if (!(def = virDomainDefParseString(xml, driver.xmlopt, NULL,
                                        VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        goto cleanup;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0 ||
        testCompareWhitelist(hook,
                             "base.img ro users=2 origin=vda\n"
                             "cd.iso ro users=1 origin=hdc\n"
                             "extra.log rw users=1 origin=openhook\n"
                             "mid.img ro users=1 origin=vda\n"
                             "other.img rw users=1 origin=vdb\n"
                             "ro.img ro users=1 origin=vdc\n"
                             "shared/ ro users=1 origin=openhook\n"
                             "top.img rw users=1 origin=vda\n") < 0)
        goto cleanup;

    /* a file beneath it is granted read-only, and counted on it */
    if (!virOpenHookWhitelistLookup(qemuOpenHookGetWhitelist(hook), data, &ticket) ||
        !ticket.dir || STRNEQ_NULLABLE(ticket.rel, "data.img")) {
        VIR_TEST_DEBUG("a file in the directory is not allowed");
        virOpenHookTicketClear(&ticket);
        goto cleanup;
    }
    rc = virOpenHookWhitelistCommit(qemuOpenHookGetWhitelist(hook), &ticket,
                                    O_RDWR, &st, false, &handle, &reason);
    if (rc == 0 || reason != VIR_OPENHOOK_REASON_READ_ONLY ||
        virOpenHookWhitelistCommit(qemuOpenHookGetWhitelist(hook), &ticket,
                                   O_RDONLY, &st, false, &handle, &reason) < 0) {
        VIR_TEST_DEBUG("wrong access to a file in the directory");
        virOpenHookTicketClear(&ticket);
        goto cleanup;
    }
    virOpenHookTicketClear(&ticket);

    qemuOpenHookUpdateLiveDef(hook, def);
    def->id = 1; /* running, else the live XML is the inactive one */
    if (!(live = virDomainDefFormat(def, driver.xmlopt, 0)))
        goto cleanup;
    wantDir = g_strdup_printf("<dir path='%s' access='ro'/>", shared);
    wantEntry = g_strdup_printf("<entry type='dir' path='%s' access='ro' "
                                "origin='openhook' fds='1'/>", shared);
    if (!strstr(live, wantDir) || !strstr(live, wantEntry)) {
        VIR_TEST_DEBUG("live XML lacks '%s' or '%s':\n%s", wantDir, wantEntry, live);
        goto cleanup;
    }
    if (!(reparsed = virDomainDefParseString(live, driver.xmlopt, NULL,
                                             VIR_DOMAIN_DEF_PARSE_INACTIVE |
                                             VIR_DOMAIN_DEF_PARSE_VALIDATE_SCHEMA)))
        goto cleanup;
    if (reparsed->openhook->ndirs != 1 || reparsed->openhook->nentries != 0) {
        VIR_TEST_DEBUG("the live XML's entries were parsed");
        goto cleanup;
    }

    /* gone when the domain starts: an error */
    g_clear_pointer(&hook, qemuOpenHookFree);
    if (unlink(data) < 0 || rmdir(shared) < 0)
        goto cleanup;
    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    if (qemuOpenHookAllowDef(hook, def, NULL) == 0) {
        VIR_TEST_DEBUG("a missing directory was allowed");
        goto cleanup;
    }
    virResetLastError();
    ret = 0;

 cleanup:
    unlink(data);
    rmdir(shared);
    return ret;
}


/* After a daemon restart the directory is listed again; one that is
 * gone meanwhile is left out without failing the reconnection. */
static int
testDirectoryRestore(const void *opaque G_GNUC_UNUSED)
{
    g_autofree char *shared = g_strdup_printf("%s/shared", imgdir);
    g_autofree char *withDir = virStringReplace(testDomainXML, "</openhook>",
                                                "  <dir path='@DIR@/shared' access='rw'/>\n"
                                                "  </openhook>");
    g_auto(GStrv) parts = g_strsplit(withDir, "@DIR@", -1);
    g_autofree char *xml = g_strjoinv(imgdir, parts);
    g_autoptr(virDomainObj) vm = NULL;
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) again = NULL;
    int ret = -1;

    if (g_mkdir_with_parents(shared, 0700) < 0 ||
        !(vm = virDomainObjNew(driver.xmlopt)) ||
        !(vm->def = virDomainDefParseString(xml, driver.xmlopt, NULL,
                                            VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        goto cleanup;

    hook = qemuOpenHookNew(vm->def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    qemuOpenHookRestore(hook, vm, NULL);
    if (testCompareWhitelist(hook,
                             "base.img ro users=2 origin=vda\n"
                             "cd.iso ro users=1 origin=hdc\n"
                             "extra.log rw users=1 origin=openhook\n"
                             "mid.img ro users=1 origin=vda\n"
                             "other.img rw users=1 origin=vdb\n"
                             "ro.img ro users=1 origin=vdc\n"
                             "shared/ rw users=1 origin=openhook\n"
                             "top.img rw users=1 origin=vda\n") < 0)
        goto cleanup;

    if (rmdir(shared) < 0)
        goto cleanup;
    again = qemuOpenHookNew(vm->def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    qemuOpenHookRestore(again, vm, NULL);
    if (virGetLastErrorCode() != VIR_ERR_OK ||
        testCompareWhitelist(again,
                             "base.img ro users=2 origin=vda\n"
                             "cd.iso ro users=1 origin=hdc\n"
                             "extra.log rw users=1 origin=openhook\n"
                             "mid.img ro users=1 origin=vda\n"
                             "other.img rw users=1 origin=vdb\n"
                             "ro.img ro users=1 origin=vdc\n"
                             "top.img rw users=1 origin=vda\n") < 0)
        goto cleanup;
    ret = 0;

 cleanup:
    rmdir(shared);
    return ret;
}


/* A file the XML lists that does not exist is an error, not a silent
 * omission. */
static int
testMissingFile(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autofree char *extra = g_strdup_printf("%s/extra.log", imgdir);
    int rc;

    if (!def)
        return -1;

    if (unlink(extra) < 0)
        return -1;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    rc = qemuOpenHookAllowDef(hook, def, NULL);
    if (virFileWriteStr(extra, "", 0600) < 0)
        return -1;
    if (rc == 0) {
        VIR_TEST_DEBUG("a missing file was allowed");
        return -1;
    }
    virResetLastError();
    return 0;
}


static void
testDrainedRecord(const char *canonical,
                  void *opaque)
{
    GPtrArray *drained = opaque;

    g_ptr_array_add(drained, g_path_get_basename(canonical));
}


/* QEMU holds fds of @path: grant one through the broker, as QEMU's open
 * would.  Returns the grant's handle, or 0. */
static uint64_t
testGrant(qemuOpenHook *hook,
          const char *name)
{
    g_autofree char *path = g_strdup_printf("%s/%s", imgdir, name);
    uint64_t handle = 0;
    int fd;

    fd = virOpenHookBrokerOpen(qemuOpenHookGetWhitelist(hook), path,
                               strlen(path), O_RDONLY | O_CLOEXEC, 0, &handle);
    if (fd < 0)
        return 0;
    VIR_FORCE_CLOSE(fd);
    return handle;
}


static bool
testTakeLabel(qemuOpenHook *hook,
              const char *name)
{
    g_autofree char *path = g_strdup_printf("%s/%s", imgdir, name);
    g_autoptr(virStorageSource) src = qemuOpenHookTakeDrainedLabel(hook, path);

    return src && STREQ(src->path, path);
}


/* Labels wait for QEMU's last close: an image QEMU still holds when it is
 * revoked keeps its label until the close report; one it does not hold,
 * or one another disk still uses, is decided at once; an image allowed
 * again before QEMU closed it keeps its label for good. */
static int
testDrainedLabels(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(GPtrArray) drained = g_ptr_array_new_with_free_func(g_free);
    virOpenHookWhitelist *wl;
    virDomainDiskDef *vda;
    virDomainDiskDef *vdb;
    uint64_t topHandle;
    uint64_t otherHandle;

    if (!def)
        return -1;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    qemuOpenHookSetDrainedCallback(hook, testDrainedRecord, drained);
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0)
        return -1;
    wl = qemuOpenHookGetWhitelist(hook);
    vda = virDomainDiskByTarget(def, "vda");
    vdb = virDomainDiskByTarget(def, "vdb");

    if (!(topHandle = testGrant(hook, "top.img")) ||
        !(otherHandle = testGrant(hook, "other.img")))
        return -1;

    /* held: the label waits */
    if (!qemuOpenHookRevokeImage(hook, vda->src) || drained->len != 0) {
        VIR_TEST_DEBUG("the label of a held image was not kept");
        return -1;
    }
    /* not held: the entry drains at once; read-only, so its label is
     * handed to the worker, which checks the other domains first */
    if (!qemuOpenHookRevokeImage(hook, vda->src->backingStore) ||
        drained->len != 1 || STRNEQ(g_ptr_array_index(drained, 0), "mid.img") ||
        !testTakeLabel(hook, "mid.img")) {
        VIR_TEST_DEBUG("the label of a read-only image was not handed back");
        return -1;
    }
    /* still used by vdb: kept, and nothing waits for a close */
    if (!qemuOpenHookRevokeImage(hook, vda->src->backingStore->backingStore) ||
        drained->len != 1 || testTakeLabel(hook, "base.img")) {
        VIR_TEST_DEBUG("a shared base was not kept for the other disk");
        return -1;
    }

    /* QEMU closes top.img: now its label goes */
    if (virOpenHookWhitelistRelease(wl, topHandle, VIR_OPENHOOK_REASON_NONE) < 0 ||
        drained->len != 2 || STRNEQ(g_ptr_array_index(drained, 1), "top.img") ||
        !testTakeLabel(hook, "top.img") || testTakeLabel(hook, "top.img")) {
        VIR_TEST_DEBUG("the drained image's label was not handed back once");
        return -1;
    }

    /* other.img is revoked while held, then allowed again (e.g. the same
     * image attached once more) before QEMU closed it: the label stays */
    if (!qemuOpenHookRevokeImage(hook, vdb->src) ||
        qemuOpenHookAllowSource(hook, vdb->src, false, false) < 0 ||
        virOpenHookWhitelistRelease(wl, otherHandle, VIR_OPENHOOK_REASON_NONE) < 0 ||
        testTakeLabel(hook, "other.img")) {
        VIR_TEST_DEBUG("the label of an image in use again would be restored");
        return -1;
    }

    /* the domain stops with labels still waiting: all are handed back */
    if (!testGrant(hook, "other.img") ||
        !qemuOpenHookRevokeImage(hook, vdb->src)) {
        VIR_TEST_DEBUG("other.img was not kept");
        return -1;
    } else {
        g_autoptr(GPtrArray) pending = qemuOpenHookTakePendingLabels(hook);

        if (pending->len != 1 || testTakeLabel(hook, "other.img")) {
            VIR_TEST_DEBUG("pending labels were not handed back at stop");
            return -1;
        }
    }

    return 0;
}


static bool
testSkipsOwnership(virStorageSource *src)
{
    virSecurityDeviceLabelDef *seclabel = virStorageSourceGetSecurityLabelDef(src, "dac");

    return seclabel && !seclabel->relabel && !seclabel->label;
}


/* In enforce mode libvirt does not chown what the broker serves: every
 * image of the chain gets a DAC relabel='no', unless the domain sets a
 * DAC label itself; permissive mode keeps libvirt's usual ownership. */
static int
testSkipOwnership(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) enforce = NULL;
    g_autoptr(qemuOpenHook) permissive = NULL;
    virSecurityDeviceLabelDef *own;
    virDomainDiskDef *vda;
    virDomainDiskDef *vdb;
    virStorageSource *n;

    if (!def)
        return -1;
    vda = virDomainDiskByTarget(def, "vda");
    vdb = virDomainDiskByTarget(def, "vdb");

    own = virSecurityDeviceLabelDefNew("dac");
    own->label = g_strdup("+1000:+1000");
    vdb->src->seclabels = g_new0(virSecurityDeviceLabelDef *, 1);
    vdb->src->seclabels[0] = own;
    vdb->src->nseclabels = 1;

    permissive = qemuOpenHookNew(def, QEMU_OPEN_HOOK_PERMISSIVE, NULL, "/nonexistent/openhook.sock");
    qemuOpenHookSkipOwnership(permissive, vda->src, true);
    if (virStorageSourceGetSecurityLabelDef(vda->src, "dac")) {
        VIR_TEST_DEBUG("permissive mode must keep libvirt's ownership");
        return -1;
    }

    enforce = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL, "/nonexistent/openhook.sock");
    qemuOpenHookSkipOwnership(enforce, vda->src, true);
    qemuOpenHookSkipOwnership(enforce, vdb->src, true);
    for (n = vda->src; virStorageSourceIsBacking(n); n = n->backingStore) {
        if (!testSkipsOwnership(n)) {
            VIR_TEST_DEBUG("'%s' would be chowned", n->path);
            return -1;
        }
    }
    if (virStorageSourceGetSecurityLabelDef(vdb->src, "dac") != own ||
        vdb->src->nseclabels != 1) {
        VIR_TEST_DEBUG("the domain's own DAC label was overridden");
        return -1;
    }

    /* idempotent: the funnel may see an image again */
    qemuOpenHookSkipOwnership(enforce, vda->src, false);
    if (vda->src->nseclabels != 1)
        return -1;

    return 0;
}


static int
testCreateImages(void)
{
    const char *names[] = { "top.img", "mid.img", "base.img", "other.img",
                            "ro.img", "cd.iso", "cd2.iso", "extra.log" };
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_strdup_printf("%s/%s", imgdir, names[i]);

        if (virFileWriteStr(path, "", 0600) < 0)
            return -1;
    }
    return 0;
}


static int
mymain(void)
{
    int ret = 0;

    if (qemuTestDriverInit(&driver) < 0)
        return EXIT_FAILURE;

    if (!(imgdir = g_dir_make_tmp("qemuopenhooktest-XXXXXX", NULL)) ||
        testCreateImages() < 0) {
        ret = -1;
        goto cleanup;
    }

    if (virTestRun("directory in <openhook>", testDirectory, NULL) < 0)
        ret = -1;
    if (virTestRun("directory after a daemon restart", testDirectoryRestore, NULL) < 0)
        ret = -1;
    if (virTestRun("whitelist from the domain", testAllowDef, NULL) < 0)
        ret = -1;
    if (virTestRun("whitelist through the access funnel", testFunnel, NULL) < 0)
        ret = -1;
    if (virTestRun("labels restored on QEMU's last close", testDrainedLabels, NULL) < 0)
        ret = -1;
    if (virTestRun("no chown in enforce mode", testSkipOwnership, NULL) < 0)
        ret = -1;
    if (virTestRun("missing listed file", testMissingFile, NULL) < 0)
        ret = -1;

 cleanup:
    if (imgdir)
        virFileDeleteTree(imgdir);
    g_free(imgdir);
    qemuTestDriverFree(&driver);
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN(mymain)
