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
#include "qemu/qemu_block.h"
#include "qemu/qemu_blockjob.h"
#include "qemu/qemu_openhook.h"
#include "viralloc.h"
#include "virbuffer.h"
#include "virfile.h"
#include "viropenhookbroker.h"
#include "virthread.h"
#include "virtime.h"

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


static int
testEntryAsUser(qemuOpenHook *hook,
                const char *name,
                bool expect)
{
    g_autofree char *path = g_build_filename(imgdir, name, NULL);
    virOpenHookEntryInfo info = { 0 };
    int ret = -1;

    if (virOpenHookWhitelistGetInfo(qemuOpenHookGetWhitelist(hook), path,
                                    &info) < 0) {
        VIR_TEST_DEBUG("'%s' is not listed", name);
        return -1;
    }
    if (info.asUser != expect)
        VIR_TEST_DEBUG("'%s' is opened %s", name,
                       info.asUser ? "only as QEMU's user" : "by root");
    else
        ret = 0;
    virOpenHookEntryInfoClear(&info);
    return ret;
}


/* Backing images named by an image header (which QEMU may have written),
 * not by the definition, are opened only with QEMU's credentials, unless
 * the definition names them too; the status XML keeps telling them apart
 * across a daemon restart. */
static int
testDetected(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(virDomainDef) def2 = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) restarted = NULL;
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    virStorageSource *mid;

    if (!def || !def2)
        return -1;

    /* as if vda's chain had come from top.img's and mid.img's headers */
    mid = virDomainDiskByTarget(def, "vda")->src->backingStore;
    mid->detected = true;
    mid->backingStore->detected = true;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL,
                           "/nonexistent/openhook.sock");
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0 ||
        testEntryAsUser(hook, "top.img", false) < 0 ||
        testEntryAsUser(hook, "mid.img", true) < 0 ||
        testEntryAsUser(hook, "base.img", false) < 0)
        return -1;

    /* vdb named base.img in the definition; without it only a header does */
    qemuOpenHookRevokeSource(hook, virDomainDiskByTarget(def, "vdb")->src, true);
    if (testEntryAsUser(hook, "base.img", true) < 0)
        return -1;

    qemuOpenHookFormatStatus(hook, def, &buf);
    xml = virBufferContentAndReset(&buf);
    if (!strstr(xml, "<detected disk='vda'") || strstr(xml, "top.img'/>")) {
        VIR_TEST_DEBUG("status XML without the detected images: %s", xml);
        return -1;
    }

    if (!(doc = virXMLParseStringCtxt(xml, "(status)", &ctxt)) ||
        !(restarted = qemuOpenHookParseStatus(ctxt->node, def2)))
        return -1;
    mid = virDomainDiskByTarget(def2, "vda")->src->backingStore;
    if (virDomainDiskByTarget(def2, "vda")->src->detected ||
        !mid->detected || !mid->backingStore->detected ||
        virDomainDiskByTarget(def2, "vdb")->src->backingStore->detected) {
        VIR_TEST_DEBUG("the restarted daemon lost which images were detected");
        return -1;
    }
    if (qemuOpenHookAllowDef(restarted, def2, NULL) < 0 ||
        testEntryAsUser(restarted, "mid.img", true) < 0 ||
        testEntryAsUser(restarted, "base.img", false) < 0)
        return -1;
    return 0;
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


static int
testRestoreRecord(virDomainObj *vm G_GNUC_UNUSED,
                  virStorageSource *src,
                  unsigned int restoreFlags G_GNUC_UNUSED,
                  void *opaque)
{
    GPtrArray *restored = opaque;
    g_autofree char *name = g_path_get_basename(src->path);

    /* the security drivers would restore a data file with its image */
    if (src->dataFileStore) {
        g_autofree char *data = g_path_get_basename(src->dataFileStore->path);

        g_ptr_array_add(restored, g_strdup_printf("%s+%s", name, data));
        return 0;
    }
    g_ptr_array_add(restored, g_steal_pointer(&name));
    return 0;
}


/* The labels restored so far, in order, are @want (space separated) */
static bool
testRestored(GPtrArray *restored,
             const char *want)
{
    g_autofree char *got = NULL;

    g_ptr_array_add(restored, NULL);
    got = g_strjoinv(" ", (char **)restored->pdata);
    g_ptr_array_remove_index(restored, restored->len - 1);

    if (STRNEQ(got, want)) {
        VIR_TEST_DEBUG("labels restored: '%s', expected '%s'", got, want);
        return false;
    }
    return true;
}


/* A stand-in for /proc/QPID: an empty "fd" directory in @imgdir */
static char *
testProcDir(const char *name)
{
    g_autofree char *dir = g_strdup_printf("%s/%s", imgdir, name);
    g_autofree char *fddir = g_strdup_printf("%s/fd", dir);

    if (g_mkdir_with_parents(fddir, 0700) < 0)
        return NULL;
    return g_steal_pointer(&dir);
}


/* QEMU's fd table has (or no longer has) @name as fd @fd */
static int
testHold(const char *procdir,
         int fd,
         const char *name)
{
    g_autofree char *link = g_strdup_printf("%s/fd/%d", procdir, fd);
    g_autofree char *target = g_strdup_printf("%s/%s", imgdir, name);

    if (!name)
        return unlink(link);
    return symlink(target, link);
}


static qemuOpenHook *
testLabelHook(virDomainDef *def,
              const char *procdir,
              GPtrArray *restored,
              GPtrArray *drained)
{
    g_autoptr(qemuOpenHook) hook = NULL;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL,
                           "/nonexistent/openhook.sock");
    if (drained)
        qemuOpenHookSetDrainedCallback(hook, testDrainedRecord, drained);
    qemuOpenHookSetRestoreFunc(hook, testRestoreRecord, restored);
    qemuOpenHookSetProcDir(hook, procdir);
    if (qemuOpenHookAllowDef(hook, def, NULL) < 0)
        return NULL;
    return g_steal_pointer(&hook);
}


/* Another domain's hook that only allows @names, each through a
 * symlink "link-NAME" in @imgdir: another spelling of the same file */
static qemuOpenHook *
testOtherHook(virDomainDef *def,
              const char **names)
{
    g_autoptr(qemuOpenHook) hook = NULL;

    hook = qemuOpenHookNew(def, QEMU_OPEN_HOOK_ENFORCE, NULL,
                           "/nonexistent/openhook2.sock");
    for (; *names; names++) {
        g_autoptr(virStorageSource) src = virStorageSourceNew();
        g_autofree char *target = g_strdup_printf("%s/%s", imgdir, *names);

        src->type = VIR_STORAGE_TYPE_FILE;
        src->format = VIR_STORAGE_FILE_RAW;
        src->path = g_strdup_printf("%s/link-%s", imgdir, *names);
        if ((symlink(target, src->path) < 0 && errno != EEXIST) ||
            qemuOpenHookAllowSource(hook, src, false, false) < 0)
            return NULL;
    }
    return g_steal_pointer(&hook);
}


/* The daemon decides labels, by identity: an image that left the domain
 * gets its label back once QEMU's fd table no longer has it.  QEMU's
 * close report brings the check forward but does not decide it. */
static int
testDrainedLabels(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(GPtrArray) drained = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-drained");
    g_autofree char *top = NULL;
    virOpenHookWhitelist *wl;
    virDomainDiskDef *vda;
    virDomainDiskDef *vdb;
    virDomainDiskDef *hdc;
    uint64_t handle;

    if (!def || !procdir ||
        !(hook = testLabelHook(def, procdir, restored, drained)))
        return -1;
    wl = qemuOpenHookGetWhitelist(hook);
    vda = virDomainDiskByTarget(def, "vda");
    vdb = virDomainDiskByTarget(def, "vdb");
    hdc = virDomainDiskByTarget(def, "hdc");
    top = g_strdup_printf("%s/top.img", imgdir);

    /* held when revoked: the label waits */
    if (!(handle = testGrant(hook, "top.img")) ||
        testHold(procdir, 10, "top.img") < 0 ||
        !qemuOpenHookRevokeImage(hook, vda->src) || drained->len != 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("the label of a held image was not kept");
        return -1;
    }

    /* QEMU reports closing it, but its fd table still has it */
    if (virOpenHookWhitelistRelease(wl, handle, VIR_OPENHOOK_REASON_NONE) < 0 ||
        drained->len != 1 ||
        qemuOpenHookDecideLabels(hook, NULL, top, false) != 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("a close report decided the label of an image QEMU holds");
        return -1;
    }

    /* gone from the fd table: restored at the next check, once */
    if (testHold(procdir, 10, NULL) < 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "top.img")) {
        VIR_TEST_DEBUG("the label of a closed image was not restored once");
        return -1;
    }

    /* not held: read-only too, restored at once since no other domain
     * uses it */
    if (!qemuOpenHookRevokeImage(hook, vda->src->backingStore) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        !testRestored(restored, "top.img mid.img")) {
        VIR_TEST_DEBUG("the label of a read-only image was not restored");
        return -1;
    }

    /* still used by vdb: nothing waits */
    if (!qemuOpenHookRevokeImage(hook, vda->src->backingStore->backingStore) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "top.img mid.img")) {
        VIR_TEST_DEBUG("a shared base was not kept for the other disk");
        return -1;
    }

    /* allowed again (attached once more) before QEMU closed it: it stays */
    if (!(handle = testGrant(hook, "other.img")) ||
        testHold(procdir, 11, "other.img") < 0 ||
        !qemuOpenHookRevokeImage(hook, vdb->src) ||
        qemuOpenHookAllowSource(hook, vdb->src, false, false) < 0 ||
        virOpenHookWhitelistRelease(wl, handle, VIR_OPENHOOK_REASON_NONE) < 0 ||
        testHold(procdir, 11, NULL) < 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "top.img mid.img")) {
        VIR_TEST_DEBUG("the label of an image in use again would be restored");
        return -1;
    }

    /* the domain stops: every label still waiting is decided, but one
     * whose file QEMU's process still holds is left as it is */
    if (!testGrant(hook, "other.img") ||
        testHold(procdir, 12, "other.img") < 0 ||
        !qemuOpenHookRevokeImage(hook, vdb->src) ||
        !qemuOpenHookRevokeImage(hook, hdc->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, true) != 2 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, true) != 0 ||
        !testRestored(restored, "top.img mid.img cd.iso")) {
        VIR_TEST_DEBUG("labels were not decided at stop");
        return -1;
    }

    return testHold(procdir, 12, NULL);
}


typedef struct {
    GPtrArray *restored;
    unsigned int busy;      /* restores that find the file locked */
    unsigned int waited;    /* restores asked to wait for the lock */
} testBusyRestoreData;


/* Another process holds the file's metadata lock for the next
 * t->busy restores that do not wait */
static int
testRestoreBusy(virDomainObj *vm G_GNUC_UNUSED,
                virStorageSource *src,
                unsigned int flags,
                void *opaque)
{
    testBusyRestoreData *t = opaque;

    if (flags & QEMU_OPEN_HOOK_RESTORE_WAIT) {
        t->waited++;
    } else if (t->busy > 0) {
        t->busy--;
        return 1;
    }
    g_ptr_array_add(t->restored, g_path_get_basename(src->path));
    return 0;
}


/* A restore held up by another process's lock of the file does not
 * wait for it (the security manager would, with every other domain's
 * labelling held up): the label stays held back, and is given back by
 * a later decision, once the lock is gone.  At stop it is waited for. */
static int
testBusyRestore(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-busy");
    testBusyRestoreData t = { 0 };
    virDomainDiskDef *vda;
    virDomainDiskDef *vdb;

    if (!def || !procdir ||
        !(hook = testLabelHook(def, procdir, restored, NULL)))
        return -1;
    t.restored = restored;
    qemuOpenHookSetRestoreFunc(hook, testRestoreBusy, &t);
    vda = virDomainDiskByTarget(def, "vda");
    vdb = virDomainDiskByTarget(def, "vdb");

    t.busy = 2;
    if (!qemuOpenHookRevokeImage(hook, vda->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        t.busy != 0 || t.waited != 0 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("a restore waited for a lock held elsewhere, or "
                       "the label was given up");
        return -1;
    }

    /* the lock is gone */
    if (qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !testRestored(restored, "top.img")) {
        VIR_TEST_DEBUG("a postponed label was not given back once");
        return -1;
    }

    /* the domain stops: then the restore waits for the lock */
    t.busy = 1;
    if (!qemuOpenHookRevokeImage(hook, vdb->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, true) != 1 ||
        t.waited != 1 ||
        !testRestored(restored, "top.img other.img")) {
        VIR_TEST_DEBUG("a label was not given back at stop");
        return -1;
    }

    return 0;
}


/* Another running domain uses a file, under another name: whatever
 * QEMU does, its label is not restored, read-write images included. */
static int
testCrossDomainLabels(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) other = NULL;
    g_autoptr(qemuOpenHook) late = NULL;
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-cross");
    const char *otherNames[] = { "other.img", "ro.img", NULL };
    const char *lateNames[] = { "top.img", NULL };
    virOpenHookWhitelist *wl;
    uint64_t handle;

    if (!def || !procdir ||
        !(hook = testLabelHook(def, procdir, restored, NULL)) ||
        !(other = testOtherHook(def, otherNames)))
        return -1;
    wl = qemuOpenHookGetWhitelist(hook);

    /* read-write and read-only images the other domain uses */
    if (!qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vdb")->src) ||
        !qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vdc")->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 2 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("restored the label of an image another domain uses");
        return -1;
    }

    /* QEMU holds top.img back until the image is given to another
     * domain, then closes it */
    if (!(handle = testGrant(hook, "top.img")) ||
        testHold(procdir, 10, "top.img") < 0 ||
        !qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vda")->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 0 ||
        !(late = testOtherHook(def, lateNames)) ||
        virOpenHookWhitelistRelease(wl, handle, VIR_OPENHOOK_REASON_NONE) < 0 ||
        testHold(procdir, 10, NULL) < 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("restored the label of an image given to another domain meanwhile");
        return -1;
    }

    /* once the other domain stopped, the file is this domain's alone */
    g_clear_pointer(&other, qemuOpenHookFree);
    if (qemuOpenHookAllowSource(hook, virDomainDiskByTarget(def, "vdc")->src,
                                false, false) < 0 ||
        !qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vdc")->src) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        !testRestored(restored, "ro.img")) {
        VIR_TEST_DEBUG("the label was not restored once the other domain stopped");
        return -1;
    }

    return 0;
}


/* A label restore QEMU's user makes slow (a lock on the image, a hung
 * NFS server): it waits until the test releases it, at most 5 s. */
typedef struct {
    virMutex lock;
    virCond cond;
    bool entered;
    bool release;
    bool timedOut;
    bool sameDone;
    bool sameAfterRestore;
    qemuOpenHook *hook;
    qemuOpenHook *same;
    virDomainDef *def;
    GPtrArray *restored;
} testSlowRestoreData;


static int
testRestoreSlow(virDomainObj *vm G_GNUC_UNUSED,
                virStorageSource *src,
                unsigned int restoreFlags G_GNUC_UNUSED,
                void *opaque)
{
    testSlowRestoreData *t = opaque;
    unsigned long long deadline = 0;

    ignore_value(virTimeMillisNow(&deadline));
    deadline += 5000;

    virMutexLock(&t->lock);
    t->entered = true;
    virCondBroadcast(&t->cond);
    while (!t->release) {
        if (virCondWaitUntil(&t->cond, &t->lock, deadline) < 0) {
            t->timedOut = true;
            break;
        }
    }
    g_ptr_array_add(t->restored, g_path_get_basename(src->path));
    virMutexUnlock(&t->lock);
    return 0;
}


static void
testSlowRestoreDecide(void *opaque)
{
    testSlowRestoreData *t = opaque;

    ignore_value(qemuOpenHookDecideLabels(t->hook, NULL, NULL, false));
}


/* Another domain starts using the file whose label is being restored */
static void
testSlowRestoreSame(void *opaque)
{
    testSlowRestoreData *t = opaque;
    const char *names[] = { "top.img", NULL };

    t->same = testOtherHook(t->def, names);

    virMutexLock(&t->lock);
    t->sameDone = true;
    t->sameAfterRestore = t->restored->len > 0;
    virMutexUnlock(&t->lock);
}


/* A slow label restore holds up only the domains that use that file:
 * one that starts using it waits for the restore to end (so the restore
 * cannot undo its label); others go on. */
static int
testSlowRestore(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) other = NULL;
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-slow");
    testSlowRestoreData t = { .restored = restored };
    const char *otherNames[] = { "other.img", NULL };
    unsigned long long deadline = 0;
    virThread decide;
    virThread same;
    int ret = -1;

    if (!def || !procdir ||
        !(hook = testLabelHook(def, procdir, restored, NULL)))
        return -1;
    if (virMutexInit(&t.lock) < 0 || virCondInit(&t.cond) < 0)
        return -1;
    t.hook = hook;
    t.def = def;
    qemuOpenHookSetRestoreFunc(hook, testRestoreSlow, &t);

    /* top.img left the domain and QEMU does not hold it */
    if (!qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vda")->src) ||
        virThreadCreate(&decide, true, testSlowRestoreDecide, &t) < 0)
        return -1;

    ignore_value(virTimeMillisNow(&deadline));
    deadline += 5000;
    virMutexLock(&t.lock);
    while (!t.entered) {
        if (virCondWaitUntil(&t.cond, &t.lock, deadline) < 0)
            break;
    }
    virMutexUnlock(&t.lock);
    if (!t.entered) {
        VIR_TEST_DEBUG("the label of top.img was not restored");
        goto join;
    }

    /* another domain starts on other files meanwhile */
    if (!(other = testOtherHook(def, otherNames)))
        goto release;
    virMutexLock(&t.lock);
    if (t.timedOut) {
        VIR_TEST_DEBUG("another domain waited for an unrelated label restore");
        virMutexUnlock(&t.lock);
        goto release;
    }
    virMutexUnlock(&t.lock);

    /* and one that uses top.img waits */
    if (virThreadCreate(&same, true, testSlowRestoreSame, &t) < 0)
        goto release;
    g_usleep(200 * 1000);
    virMutexLock(&t.lock);
    if (t.sameDone)
        VIR_TEST_DEBUG("a domain took top.img while its label was being restored");
    else
        ret = 0;
    t.release = true;
    virCondBroadcast(&t.cond);
    virMutexUnlock(&t.lock);
    virThreadJoin(&same);
    virThreadJoin(&decide);

    if (!t.same || !t.sameAfterRestore || !testRestored(restored, "top.img")) {
        VIR_TEST_DEBUG("the domain that uses top.img did not get it after the restore");
        ret = -1;
    }
    g_clear_pointer(&t.same, qemuOpenHookFree);
    goto cleanup;

 release:
    virMutexLock(&t.lock);
    t.release = true;
    virCondBroadcast(&t.cond);
    virMutexUnlock(&t.lock);
 join:
    virThreadJoin(&decide);
 cleanup:
    virCondDestroy(&t.cond);
    virMutexDestroy(&t.lock);
    return ret;
}


/* Held-back labels survive a daemon restart in the status XML, and so
 * do the files the domain uses, for the other domains' checks until it
 * is reconnected. */
static int
testLabelsRestart(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainDef) def = testParseDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) restarted = NULL;
    g_autoptr(qemuOpenHook) third = NULL;
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-restart");
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    g_autoptr(virDomainDef) def2 = testParseDomain();

    if (!def || !def2 || !procdir ||
        !(hook = testLabelHook(def, procdir, restored, NULL)))
        return -1;

    if (!testGrant(hook, "top.img") ||
        testHold(procdir, 10, "top.img") < 0 ||
        !qemuOpenHookRevokeImage(hook, virDomainDiskByTarget(def, "vda")->src))
        return -1;

    qemuOpenHookFormatStatus(hook, def, &buf);
    xml = virBufferContentAndReset(&buf);
    if (!strstr(xml, "<pendingLabel") || !strstr(xml, "<file ")) {
        VIR_TEST_DEBUG("status XML without the held-back label: %s", xml);
        return -1;
    }

    /* the daemon goes; the new one reads the status XML */
    g_clear_pointer(&hook, qemuOpenHookFree);
    if (!(doc = virXMLParseStringCtxt(xml, "(status)", &ctxt)) ||
        !(restarted = qemuOpenHookParseStatus(ctxt->node, def)))
        return -1;
    qemuOpenHookSetRestoreFunc(restarted, testRestoreRecord, restored);
    qemuOpenHookSetProcDir(restarted, procdir);

    /* another domain checks before this one is reconnected */
    if (!(third = testLabelHook(def2, procdir, restored, NULL)) ||
        !qemuOpenHookRevokeImage(third, virDomainDiskByTarget(def2, "vdb")->src) ||
        qemuOpenHookDecideLabels(third, NULL, NULL, false) != 1 ||
        !testRestored(restored, "")) {
        VIR_TEST_DEBUG("the files of a domain not reconnected yet were not seen");
        return -1;
    }
    g_clear_pointer(&third, qemuOpenHookFree);

    if (qemuOpenHookDecideLabels(restarted, NULL, NULL, false) != 0 ||
        !testRestored(restored, "") ||
        testHold(procdir, 10, NULL) < 0 ||
        qemuOpenHookDecideLabels(restarted, NULL, NULL, false) != 1 ||
        !testRestored(restored, "top.img")) {
        VIR_TEST_DEBUG("the held-back label was lost or decided early after a restart");
        return -1;
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


/* qcow2 images with external data files (<dataStore>): a writable top
 * and its backing image, and a read-only disk. */
static const char *testDataFileXML =
    "<domain type='qemu'>\n"
    "  <name>openhook-data</name>\n"
    "  <uuid>7a3b9d0e-5f4c-4b1e-9d2a-6c8e0f1a2b3c</uuid>\n"
    "  <memory>219100</memory>\n"
    "  <os><type arch='x86_64' machine='pc'>hvm</type></os>\n"
    "  <devices>\n"
    "    <emulator>/usr/bin/qemu-system-x86_64</emulator>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='@DIR@/dtop.img'>\n"
    "        <dataStore type='file'>\n"
    "          <format type='raw'/>\n"
    "          <source file='@DIR@/dtop.data'/>\n"
    "        </dataStore>\n"
    "      </source>\n"
    "      <backingStore type='file'>\n"
    "        <format type='qcow2'/>\n"
    "        <source file='@DIR@/dbase.img'>\n"
    "          <dataStore type='file'>\n"
    "            <format type='raw'/>\n"
    "            <source file='@DIR@/dbase.data'/>\n"
    "          </dataStore>\n"
    "        </source>\n"
    "        <backingStore/>\n"
    "      </backingStore>\n"
    "      <target dev='vda' bus='virtio'/>\n"
    "    </disk>\n"
    "    <disk type='file' device='disk'>\n"
    "      <driver name='qemu' type='qcow2'/>\n"
    "      <source file='@DIR@/dro.img'>\n"
    "        <dataStore type='file'>\n"
    "          <format type='raw'/>\n"
    "          <source file='@DIR@/dro.data'/>\n"
    "        </dataStore>\n"
    "      </source>\n"
    "      <backingStore/>\n"
    "      <target dev='vdb' bus='virtio'/>\n"
    "      <readonly/>\n"
    "    </disk>\n"
    "  </devices>\n"
    "</domain>\n";


static virDomainObj *
testDataFileDomain(void)
{
    g_auto(GStrv) parts = g_strsplit(testDataFileXML, "@DIR@", -1);
    g_autofree char *xml = g_strjoinv(imgdir, parts);
    g_autoptr(virDomainObj) vm = virDomainObjNew(driver.xmlopt);

    if (!vm ||
        !(vm->def = virDomainDefParseString(xml, driver.xmlopt, NULL,
                                            VIR_DOMAIN_DEF_PARSE_INACTIVE)))
        return NULL;
    return g_steal_pointer(&vm);
}


/* A qcow2 image's data file is a file QEMU opens next to the image, with
 * the image's access: it is listed with it, changes access with it
 * (a snapshot makes the old top read-only, a commit makes the base
 * writable, also after a daemon restart), leaves with it, is opened as
 * QEMU's user when an image header named it, and gets its label back by
 * itself once QEMU no longer holds it. */
static int
testDataFiles(const void *opaque G_GNUC_UNUSED)
{
    g_autoptr(virDomainObj) vm = testDataFileDomain();
    g_autoptr(virDomainObj) vm2 = testDataFileDomain();
    g_autoptr(qemuOpenHook) hook = NULL;
    g_autoptr(qemuOpenHook) restarted = NULL;
    g_autoptr(qemuBlockJobData) job = NULL;
    g_autoptr(GPtrArray) restored = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *procdir = testProcDir("proc-data");
    g_auto(virBuffer) buf = VIR_BUFFER_INITIALIZER;
    g_autofree char *xml = NULL;
    g_autoptr(xmlDoc) doc = NULL;
    g_autoptr(xmlXPathContext) ctxt = NULL;
    virDomainDiskDef *vda;
    virStorageSource *base;

    if (!vm || !vm2 || !procdir)
        return -1;
    vda = virDomainDiskByTarget(vm->def, "vda");
    base = vda->src->backingStore;

    if (!(hook = testLabelHook(vm->def, procdir, restored, NULL)) ||
        testCompareWhitelist(hook,
                             "dbase.data ro users=1 origin=vda\n"
                             "dbase.img ro users=1 origin=vda\n"
                             "dro.data ro users=1 origin=vdb\n"
                             "dro.img ro users=1 origin=vdb\n"
                             "dtop.data rw users=1 origin=vda\n"
                             "dtop.img rw users=1 origin=vda\n") < 0)
        return -1;

    /* enforce mode chowns neither */
    qemuOpenHookSkipOwnership(hook, vda->src, true);
    if (!testSkipsOwnership(vda->src->dataFileStore) ||
        !testSkipsOwnership(base->dataFileStore)) {
        VIR_TEST_DEBUG("a data file would be chowned");
        return -1;
    }

    /* block commit into the base: writable for the job, with its data
     * file; a restarted daemon finds the job and does the same */
    base->readonly = false;
    if (qemuOpenHookAllowSource(hook, base, false, true) < 0)
        return -1;
    base->readonly = true;
    if (testCompareWhitelist(hook,
                             "dbase.data rw users=1 origin=vda\n"
                             "dbase.img rw users=1 origin=vda\n"
                             "dro.data ro users=1 origin=vdb\n"
                             "dro.img ro users=1 origin=vdb\n"
                             "dtop.data rw users=1 origin=vda\n"
                             "dtop.img rw users=1 origin=vda\n") < 0)
        return -1;

    qemuBlockStorageSourceSetFormatNodename(vda->src, g_strdup("libvirt-1-format"));
    if (!(job = qemuBlockJobDiskNewCommit(vm, vda, NULL, vda->src, base, false,
                                          VIR_TRISTATE_BOOL_YES, 0)))
        return -1;
    restarted = qemuOpenHookNew(vm->def, QEMU_OPEN_HOOK_ENFORCE, NULL,
                                "/nonexistent/openhook2.sock");
    qemuOpenHookRestore(restarted, vm, NULL);
    if (testCompareWhitelist(restarted,
                             "dbase.data rw users=1 origin=vda\n"
                             "dbase.img rw users=1 origin=vda\n"
                             "dro.data ro users=1 origin=vdb\n"
                             "dro.img ro users=1 origin=vdb\n"
                             "dtop.data rw users=1 origin=vda\n"
                             "dtop.img rw users=1 origin=vda\n") < 0)
        return -1;
    qemuBlockJobStartupFinalize(vm, job);
    g_clear_pointer(&restarted, qemuOpenHookFree);

    /* ... and read-only again once it ended; an external snapshot makes
     * the old top read-only */
    vda->src->readonly = true;
    if (qemuOpenHookAllowSource(hook, base, false, true) < 0 ||
        qemuOpenHookAllowSource(hook, vda->src, false, true) < 0)
        return -1;
    vda->src->readonly = false;
    if (testCompareWhitelist(hook,
                             "dbase.data ro users=1 origin=vda\n"
                             "dbase.img ro users=1 origin=vda\n"
                             "dro.data ro users=1 origin=vdb\n"
                             "dro.img ro users=1 origin=vdb\n"
                             "dtop.data ro users=1 origin=vda\n"
                             "dtop.img ro users=1 origin=vda\n") < 0)
        return -1;

    /* a data file an image header named: only as QEMU's user, also for a
     * restarted daemon */
    qemuOpenHookRevokeSource(hook, vda->src, false);
    vda->src->dataFileStore->detected = true;
    if (qemuOpenHookAllowSource(hook, vda->src, false, false) < 0 ||
        testEntryAsUser(hook, "dtop.img", false) < 0 ||
        testEntryAsUser(hook, "dtop.data", true) < 0)
        return -1;
    qemuOpenHookFormatStatus(hook, vm->def, &buf);
    xml = virBufferContentAndReset(&buf);
    if (!(doc = virXMLParseStringCtxt(xml, "(status)", &ctxt)) ||
        !(restarted = qemuOpenHookParseStatus(ctxt->node, vm2->def)))
        return -1;
    if (!virDomainDiskByTarget(vm2->def, "vda")->src->dataFileStore->detected ||
        virDomainDiskByTarget(vm2->def, "vda")->src->detected ||
        virDomainDiskByTarget(vm2->def, "vda")->src->backingStore->dataFileStore->detected) {
        VIR_TEST_DEBUG("the restarted daemon lost which data file was detected: %s", xml);
        return -1;
    }
    if (qemuOpenHookAllowDef(restarted, vm2->def, NULL) < 0 ||
        testEntryAsUser(restarted, "dtop.data", true) < 0 ||
        testEntryAsUser(restarted, "dbase.data", false) < 0)
        return -1;
    g_clear_pointer(&restarted, qemuOpenHookFree);

    /* the top leaves the domain (a blockcommit's top): QEMU still holds
     * the data file, so only the image gets its label back, by itself */
    if (testHold(procdir, 20, "dtop.data") < 0 ||
        !qemuOpenHookRevokeImage(hook, vda->src) ||
        !qemuOpenHookRevokeImage(hook, vda->src->dataFileStore) ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        !testRestored(restored, "dtop.img")) {
        VIR_TEST_DEBUG("a data file QEMU holds lost its label with its image");
        return -1;
    }
    if (testHold(procdir, 20, NULL) < 0 ||
        qemuOpenHookDecideLabels(hook, NULL, NULL, false) != 1 ||
        !testRestored(restored, "dtop.img dtop.data")) {
        VIR_TEST_DEBUG("a closed data file did not get its label back");
        return -1;
    }

    /* the domain stops: its read-only images and their data files, each
     * by itself */
    qemuOpenHookRestoreShared(hook, vm);
    if (!testRestored(restored, "dtop.img dtop.data dbase.img dbase.data dro.img dro.data"))
        return -1;

    /* blockpull drops the base: both files leave the whitelist */
    qemuOpenHookRevokeSource(hook, base, false);
    return testCompareWhitelist(hook,
                                "dro.data ro users=1 origin=vdb\n"
                                "dro.img ro users=1 origin=vdb\n");
}


static int
testCreateImages(void)
{
    const char *names[] = { "top.img", "mid.img", "base.img", "other.img",
                            "ro.img", "cd.iso", "cd2.iso", "extra.log",
                            "dtop.img", "dtop.data", "dbase.img", "dbase.data",
                            "dro.img", "dro.data" };
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
    g_autoptr(GHashTable) capslatest = testQemuGetLatestCaps();
    g_autoptr(GHashTable) capscache = virHashNew(virObjectUnref);
    int ret = 0;

    if (qemuTestDriverInit(&driver) < 0)
        return EXIT_FAILURE;

    qemuTestSetHostArch(&driver, VIR_ARCH_X86_64);
    if (testQemuInsertRealCaps(driver.qemuCapsCache, "x86_64", "latest", "",
                               capslatest, capscache, NULL, NULL) < 0)
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
    if (virTestRun("backing images named by image headers", testDetected, NULL) < 0)
        ret = -1;
    if (virTestRun("whitelist through the access funnel", testFunnel, NULL) < 0)
        ret = -1;
    if (virTestRun("labels restored once QEMU no longer holds images", testDrainedLabels, NULL) < 0)
        ret = -1;
    if (virTestRun("a label restore does not wait for a lock held elsewhere", testBusyRestore, NULL) < 0)
        ret = -1;
    if (virTestRun("labels of images other domains use", testCrossDomainLabels, NULL) < 0)
        ret = -1;
    if (virTestRun("held-back labels across a daemon restart", testLabelsRestart, NULL) < 0)
        ret = -1;
    if (virTestRun("a slow label restore holds up only its file", testSlowRestore, NULL) < 0)
        ret = -1;
    if (virTestRun("no chown in enforce mode", testSkipOwnership, NULL) < 0)
        ret = -1;
    if (virTestRun("missing listed file", testMissingFile, NULL) < 0)
        ret = -1;
    if (virTestRun("qcow2 data files", testDataFiles, NULL) < 0)
        ret = -1;

 cleanup:
    if (imgdir)
        virFileDeleteTree(imgdir);
    g_free(imgdir);
    qemuTestDriverFree(&driver);
    return ret == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

VIR_TEST_MAIN(mymain)
