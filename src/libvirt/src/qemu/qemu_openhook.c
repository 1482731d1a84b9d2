/*
 * qemu_openhook.c: let libvirt open the files QEMU uses on its behalf
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

#include <sys/socket.h>
#include <sys/un.h>
#include <glib-unix.h>

#include "qemu_openhook.h"
#include "qemu_blockjob.h"
#include "qemu_domain.h"
#include "qemu_security.h"
#include "viralloc.h"
#include "viraudit.h"
#include "virerror.h"
#include "virfile.h"
#include "virlog.h"
#include "viropenhookbroker.h"
#include "virstring.h"
#include "virutil.h"
#include "viruuid.h"

#define VIR_FROM_THIS VIR_FROM_QEMU

VIR_LOG_INIT("qemu.qemu_openhook");

/*
 * The open hook of one running domain: its whitelist, and the broker
 * end of the channel QEMU sends its open requests on.  The broker is
 * served from the domain's event thread and never takes the domain
 * lock, a job or the monitor: QEMU sends requests from inside QMP
 * commands, so waiting on any of them would deadlock.  The whitelist
 * has its own lock, so jobs can change it while QEMU is being served.
 *
 * The channel is not a socketpair(): QEMU's end is connected to a
 * socket libvirt listens on in the domain's private directory.  When
 * the daemon restarts, the connection dies with it, QEMU connects to
 * that path again and the new daemon, listening there once more, takes
 * the connection if it comes from the domain's QEMU process.
 */
struct _qemuOpenHook {
    virQEMUOpenHookMode mode;
    virOpenHookWhitelist *wl;
    char *preload;
    char *sockpath;

    /* for logs and audit records, which are written without the
     * domain lock */
    char *vmname;
    char *virttype;
    char uuidstr[VIR_UUID_STRING_BUFLEN];

    int qemufd;     /* QEMU's end of the channel, until it is passed */
    int listenfd;
    GSource *listenSource;
    GMainContext *context;
    pid_t pid;      /* the only process that may connect */
    bool restoring; /* see qemuOpenHookRestore */

    /* The user the opener (see qemuOpenHookStartOpener) runs as */
    bool opener;
    uid_t openerUid;
    gid_t openerGid;

    /* Images revoked while QEMU still held them: canonical path ->
     * virStorageSource whose label is restored once QEMU closed its
     * last fd.  Only used with the domain locked. */
    GHashTable *pendingLabels;
    qemuOpenHookDrainedFunc drained;
    void *drainedOpaque;

    /* touched only on the event thread once serving started */
    virOpenHookBrokerConn *conn;
    GSource *source;
};


void
qemuOpenHookFree(qemuOpenHook *hook)
{
    if (!hook)
        return;

    /* the domain or the daemon is going away: nobody to tell */
    hook->drained = NULL;

    if (hook->listenSource) {
        g_source_destroy(hook->listenSource);
        g_source_unref(hook->listenSource);
    }
    if (hook->source) {
        g_source_destroy(hook->source);
        g_source_unref(hook->source);
    }
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    g_clear_pointer(&hook->context, g_main_context_unref);
    /* kills and reaps the opener */
    if (hook->wl)
        virOpenHookWhitelistSetOpener(hook->wl, NULL);
    VIR_FORCE_CLOSE(hook->qemufd);
    /* The socket file stays: after a daemon restart QEMU reconnects to
     * it, and it goes away with the domain's private directory. */
    VIR_FORCE_CLOSE(hook->listenfd);
    if (hook->wl) {
        /* QEMU is gone: so is every fd it held */
        virOpenHookWhitelistReleaseAll(hook->wl);
        virOpenHookWhitelistUnref(hook->wl);
    }
    g_clear_pointer(&hook->pendingLabels, g_hash_table_unref);
    g_free(hook->preload);
    g_free(hook->sockpath);
    g_free(hook->vmname);
    g_free(hook->virttype);
    g_free(hook);
}


static void
qemuOpenHookAudit(qemuOpenHook *hook,
                  const virOpenHookEvent *ev)
{
    g_autofree char *vmname = NULL;
    g_autofree char *path = NULL;
    const char *decision = virOpenHookDecisionToString(ev->decision);
    const char *reason = virOpenHookReasonToString(ev->reason);

    if (!(vmname = virAuditEncode("vm", hook->vmname)) ||
        !(path = virAuditEncode("path", VIR_AUDIT_STR(ev->path))))
        return;

    VIR_AUDIT(VIR_AUDIT_RECORD_RESOURCE,
              ev->decision != VIR_OPENHOOK_DECISION_DENY,
              "virt=%s resrc=file reason=open %s uuid=%s %s flags=0x%x "
              "decision=%s cause=%s",
              hook->virttype, vmname, hook->uuidstr, path,
              (unsigned int)ev->oflags, decision, reason);
}


/* Runs on the domain's event thread, or on whichever thread changed the
 * whitelist, with no lock held. */
static void
qemuOpenHookEvent(const virOpenHookEvent *ev,
                  void *opaque)
{
    qemuOpenHook *hook = opaque;
    g_autofree char *line = virOpenHookEventFormat(ev);

    switch (ev->type) {
    case VIR_OPENHOOK_EVENT_OPEN:
        if (ev->decision == VIR_OPENHOOK_DECISION_GRANT)
            VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
        else
            VIR_WARN("open hook of domain '%s': %s", hook->vmname, line);
        qemuOpenHookAudit(hook, ev);
        break;
    case VIR_OPENHOOK_EVENT_CLOSE:
        VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
        break;
    case VIR_OPENHOOK_EVENT_DRAINED:
        VIR_DEBUG("open hook of domain '%s': %s", hook->vmname, line);
        if (hook->drained && ev->canonical)
            hook->drained(ev->canonical, hook->drainedOpaque);
        break;
    case VIR_OPENHOOK_EVENT_PROTOCOL:
        VIR_WARN("open hook of domain '%s': %s", hook->vmname, line);
        break;
    case VIR_OPENHOOK_EVENT_LAST:
        break;
    }
}


/**
 * qemuOpenHookNew:
 * @def: the domain definition
 * @mode: permissive or enforce
 * @preload: the preload library QEMU gets, or NULL for -open-hook-fd
 * @sockpath: where the broker listens for QEMU's connection
 *
 * Returns a new open hook with an empty whitelist.
 */
qemuOpenHook *
qemuOpenHookNew(const virDomainDef *def,
                virQEMUOpenHookMode mode,
                const char *preload,
                const char *sockpath)
{
    g_autoptr(qemuOpenHook) hook = g_new0(qemuOpenHook, 1);
    const char *virt = virDomainVirtTypeToString(def->virtType);

    hook->qemufd = -1;
    hook->listenfd = -1;
    hook->pid = -1;
    hook->mode = mode;
    hook->preload = g_strdup(preload);
    hook->sockpath = g_strdup(sockpath);
    hook->vmname = g_strdup(def->name);
    hook->virttype = g_strdup(virt ? virt : "?");
    virUUIDFormat(def->uuid, hook->uuidstr);

    hook->pendingLabels = g_hash_table_new_full(g_str_hash, g_str_equal,
                                                g_free, virObjectUnref);
    hook->wl = virOpenHookWhitelistNew(def->name);
    virOpenHookWhitelistSetMode(hook->wl,
                                mode == QEMU_OPEN_HOOK_PERMISSIVE ?
                                VIR_OPENHOOK_MODE_PERMISSIVE :
                                VIR_OPENHOOK_MODE_ENFORCE);
    virOpenHookWhitelistSetEventCallback(hook->wl, qemuOpenHookEvent, hook);

    return g_steal_pointer(&hook);
}


virQEMUOpenHookMode
qemuOpenHookGetMode(qemuOpenHook *hook)
{
    return hook->mode;
}


virOpenHookWhitelist *
qemuOpenHookGetWhitelist(qemuOpenHook *hook)
{
    return hook->wl;
}


const char *
qemuOpenHookGetSocketPath(qemuOpenHook *hook)
{
    return hook->sockpath;
}


/**
 * qemuOpenHookStartOpener:
 * @hook: the domain's open hook
 * @uid: the user QEMU runs as
 * @gid: QEMU's group
 *
 * Storage where root is not root (NFS with root_squash, FUSE without
 * allow_other) refuses the opens libvirt makes as root, and FUSE even
 * its stat() and realpath().  For those files the hook goes through an
 * opener: one helper process, forked now (in the job, before QEMU
 * runs), which is QEMU's user for good (real, effective and saved ids,
 * and its supplementary groups) and resolves and opens files for the
 * whitelist and the broker with the same rules as libvirt's own opens.
 * It is only asked when root's attempt failed with EACCES or EPERM, for
 * a file the whitelist allows.  Nothing to do if QEMU runs as root or
 * the daemon does not.
 *
 * Returns 0, or -1 with an error reported.
 */
int
qemuOpenHookStartOpener(qemuOpenHook *hook,
                        uid_t uid,
                        gid_t gid)
{
    g_autoptr(virOpenHookOpener) opener = NULL;
    g_autofree gid_t *groups = NULL;
    g_autofree char *errmsg = NULL;
    int ngroups;

    if (geteuid() != 0 || uid == 0)
        return 0;

    if ((ngroups = virGetGroupList(uid, gid, &groups)) < 0)
        return -1;

    if (!(opener = virOpenHookOpenerNew(uid, gid, groups, ngroups, &errmsg))) {
        virReportError(VIR_ERR_OPERATION_FAILED,
                       _("cannot start the open hook's opener for domain '%s': %s"),
                       hook->vmname, NULLSTR(errmsg));
        return -1;
    }

    hook->opener = true;
    hook->openerUid = uid;
    hook->openerGid = gid;
    virOpenHookWhitelistSetOpener(hook->wl, opener);
    VIR_DEBUG("open hook of domain '%s': opener pid %lld as %u:%u",
              hook->vmname, (long long)virOpenHookOpenerGetPid(opener),
              (unsigned int)uid, (unsigned int)gid);
    return 0;
}


/* The opener died (or was killed: it runs as QEMU's user): start a new
 * one, from the job that is about to need it.  Until then the broker
 * denies what only the opener could open. */
static void
qemuOpenHookCheckOpener(qemuOpenHook *hook)
{
    g_autoptr(virOpenHookOpener) opener = NULL;

    if (!hook->opener)
        return;

    opener = virOpenHookWhitelistGetOpener(hook->wl);
    if (opener && virOpenHookOpenerIsAlive(opener))
        return;

    VIR_WARN("open hook of domain '%s': the opener (pid %lld) is gone, "
             "starting a new one", hook->vmname,
             opener ? (long long)virOpenHookOpenerGetPid(opener) : -1LL);
    if (qemuOpenHookStartOpener(hook, hook->openerUid, hook->openerGid) < 0) {
        VIR_WARN("%s", virGetLastErrorMessage());
        virResetLastError();
    }
}


/**
 * qemuOpenHookRefusesRoot:
 * @path: a local path
 *
 * Returns true if @path is on storage that refuses root: stat() as root
 * fails with EACCES or EPERM (root cannot fail a permission check
 * otherwise).  Probing such an image must be done as QEMU's user.
 */
bool
qemuOpenHookRefusesRoot(const char *path)
{
    struct stat st;

    return path && stat(path, &st) < 0 &&
        (errno == EACCES || errno == EPERM);
}


/**
 * qemuOpenHookStat:
 * @hook: the domain's open hook
 * @path: a file root cannot stat
 * @st: filled in (device, inode, mode, links and size)
 *
 * stat() @path as QEMU's user, through the opener.  Only regular files
 * and block devices are described.
 *
 * Returns 0, or -errno (-ENOENT for a missing file) without reporting.
 */
int
qemuOpenHookStat(qemuOpenHook *hook,
                 const char *path,
                 struct stat *st)
{
    g_autoptr(virOpenHookOpener) opener = NULL;
    g_autofree char *canonical = NULL;
    g_autofree char *errmsg = NULL;
    bool bound;
    int rc;

    qemuOpenHookCheckOpener(hook);
    if (!(opener = virOpenHookWhitelistGetOpener(hook->wl)))
        return -EACCES;

    if ((rc = virOpenHookOpenerResolve(opener, path, false, &canonical,
                                       &bound, st, &errmsg)) < 0) {
        VIR_DEBUG("open hook of domain '%s': cannot stat '%s' as uid %u: %s",
                  hook->vmname, path, (unsigned int)hook->openerUid,
                  NULLSTR(errmsg));
        return rc;
    }
    return 0;
}


static int
qemuOpenHookAllowPath(qemuOpenHook *hook,
                      const char *path,
                      virOpenHookAccess access,
                      unsigned int flags,
                      const char *origin)
{
    g_autofree char *errmsg = NULL;
    int rc;

    qemuOpenHookCheckOpener(hook);

    if ((rc = virOpenHookWhitelistAdd(hook->wl, path, access, flags,
                                      origin, &errmsg)) < 0) {
        if (hook->restoring) {
            VIR_WARN("open hook of domain '%s': cannot allow '%s' again, "
                     "QEMU will be denied it: %s",
                     hook->vmname, path, g_strerror(-rc));
            return 0;
        }
        virReportSystemError(-rc,
                             _("cannot let domain '%s' open '%s': %s"),
                             hook->vmname, path, NULLSTR(errmsg));
        return -1;
    }

    VIR_DEBUG("open hook of domain '%s': allowed '%s' (%s, %s)",
              hook->vmname, path, virOpenHookAccessToString(access), origin);

    /* in use again: its label must stay */
    if (g_hash_table_size(hook->pendingLabels) > 0) {
        virOpenHookEntryInfo info = { 0 };

        if (virOpenHookWhitelistGetInfo(hook->wl, path, &info) == 0)
            g_hash_table_remove(hook->pendingLabels, info.canonical);
        virOpenHookEntryInfoClear(&info);
    }
    return 0;
}


/**
 * qemuOpenHookSetDrainedCallback:
 * @hook: the domain's open hook
 * @cb: called with the canonical path of a revoked image once QEMU
 *      closed its last fd of it
 * @opaque: passed to @cb
 *
 * @cb runs on whichever thread saw QEMU's last fd go (the domain's event
 * thread, or the one that revoked the image), with no lock held, so it
 * must only hand the work over, e.g. to the driver's worker pool.
 */
void
qemuOpenHookSetDrainedCallback(qemuOpenHook *hook,
                               qemuOpenHookDrainedFunc cb,
                               void *opaque)
{
    hook->drained = cb;
    hook->drainedOpaque = opaque;
}


/* Local images are opened by path; network storage and passed fds
 * involve no open() by QEMU. */
static bool
qemuOpenHookSourceIsOpened(virStorageSource *src)
{
    return !virStorageSourceIsEmpty(src) &&
        virStorageSourceIsLocalStorage(src) &&
        !virStorageSourceIsFD(src);
}


/* Every local image of the disk's chain: the top is writable unless the
 * disk is read-only, backing images are read-only. */
static int
qemuOpenHookAllowDisk(qemuOpenHook *hook,
                      const virDomainDiskDef *disk)
{
    virStorageSource *n;

    for (n = disk->src; virStorageSourceIsBacking(n); n = n->backingStore) {
        g_autofree char *origin = NULL;
        virOpenHookAccess access = VIR_OPENHOOK_ACCESS_RO;

        if (!qemuOpenHookSourceIsOpened(n))
            continue;

        if (n == disk->src && !n->readonly)
            access = VIR_OPENHOOK_ACCESS_RW;

        if (n->id > 0)
            origin = g_strdup_printf("%s[%u]", disk->dst, n->id);
        else
            origin = g_strdup(disk->dst);

        if (qemuOpenHookAllowPath(hook, n->path, access, 0, origin) < 0)
            return -1;
    }

    return 0;
}


/**
 * qemuOpenHookSkipOwnership:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to walk @src's whole backing chain
 *
 * In enforce mode QEMU opens no image itself: libvirt does, as root, and
 * QEMU only reads and writes the descriptors it is handed, on which the
 * kernel does not check ownership and permissions again.  Like images
 * passed as fds, the images the broker serves therefore need no chown:
 * give each a DAC seclabel with relabel='no', unless the domain sets one
 * itself.  MAC labels are still applied: SELinux checks every read and
 * write on a received descriptor.
 */
void
qemuOpenHookSkipOwnership(qemuOpenHook *hook,
                          virStorageSource *src,
                          bool chain)
{
    virStorageSource *n;

    if (hook->mode != QEMU_OPEN_HOOK_ENFORCE)
        return;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        if (qemuOpenHookSourceIsOpened(n) &&
            !virStorageSourceGetSecurityLabelDef(n, "dac")) {
            virSecurityDeviceLabelDef *seclabel = virSecurityDeviceLabelDefNew("dac");

            seclabel->relabel = false;
            VIR_APPEND_ELEMENT(n->seclabels, n->nseclabels, seclabel);
        }

        if (!chain)
            break;
    }
}


/**
 * qemuOpenHookAllowSource:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to allow @src's whole backing chain
 * @modify: @src is already allowed, only its access changes
 *
 * Follow what libvirt allows the domain through the storage access
 * funnel: a new image is added with the access @src->readonly implies
 * (backing images of a chain read-only), an access change (e.g. the
 * base of a block commit becoming writable for the job) changes the
 * entry's access without taking a reference.  A new writable raw image
 * may be created by QEMU (blockdev-create opens it with O_CREAT).
 */
int
qemuOpenHookAllowSource(qemuOpenHook *hook,
                        virStorageSource *src,
                        bool chain,
                        bool modify)
{
    virStorageSource *n;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        virOpenHookAccess access = VIR_OPENHOOK_ACCESS_RO;
        unsigned int flags = 0;

        if (qemuOpenHookSourceIsOpened(n)) {
            if (n == src && !n->readonly)
                access = VIR_OPENHOOK_ACCESS_RW;

            if (modify &&
                virOpenHookWhitelistSetAccess(hook->wl, n->path, access) == 0) {
                VIR_DEBUG("open hook of domain '%s': '%s' is now %s",
                          hook->vmname, n->path,
                          virOpenHookAccessToString(access));
            } else {
                if (!modify && access == VIR_OPENHOOK_ACCESS_RW &&
                    n->format == VIR_STORAGE_FILE_RAW)
                    flags |= VIR_OPENHOOK_ENTRY_CREATE;
                if (qemuOpenHookAllowPath(hook, n->path, access, flags,
                                          n->nodeformat ? n->nodeformat :
                                          "image") < 0)
                    return -1;
            }
        }

        if (!chain)
            break;
    }

    return 0;
}


/**
 * qemuOpenHookRevokeImage:
 * @hook: the domain's open hook
 * @src: one image
 *
 * Drop one reference to @src.  Call with the domain locked.
 *
 * Returns true if @src's label must not be restored now: another disk
 * of the domain still uses it, or QEMU still holds it, or it is a
 * read-only or shareable image, whose label libvirt restores only after
 * checking that no other domain uses it.  In the last two cases the hook
 * keeps a copy of @src for qemuOpenHookTakeDrainedLabel() once QEMU
 * closed it (at once if it does not hold it).  Returns false if the label
 * may be restored now.
 */
bool
qemuOpenHookRevokeImage(qemuOpenHook *hook,
                        virStorageSource *src)
{
    virOpenHookEntryInfo info = { 0 };
    bool keep = false;

    if (!qemuOpenHookSourceIsOpened(src))
        return false;

    if (virOpenHookWhitelistGetInfo(hook->wl, src->path, &info) < 0) {
        VIR_DEBUG("open hook of domain '%s': '%s' was not allowed",
                  hook->vmname, src->path);
        return false;
    }

    if (info.users > 1) {
        VIR_DEBUG("open hook of domain '%s': '%s' is still used by %u disks",
                  hook->vmname, src->path, info.users - 1);
        keep = true;
    } else if (info.nheld > 0) {
        VIR_DEBUG("open hook of domain '%s': QEMU still holds %u fds of "
                  "'%s', its label is restored once they are closed",
                  hook->vmname, info.nheld, src->path);
        g_hash_table_replace(hook->pendingLabels, g_strdup(info.canonical),
                             virStorageSourceCopy(src, false));
        keep = true;
    } else if (src->readonly || src->shared) {
        VIR_DEBUG("open hook of domain '%s': '%s' is %s, its label is "
                  "restored unless another domain uses it",
                  hook->vmname, src->path,
                  src->shared ? "shareable" : "read-only");
        g_hash_table_replace(hook->pendingLabels, g_strdup(info.canonical),
                             virStorageSourceCopy(src, false));
        keep = true;
    }

    /* may report the entry drained at once, which finds it pending */
    ignore_value(virOpenHookWhitelistRemove(hook->wl, src->path));
    VIR_DEBUG("open hook of domain '%s': revoked '%s'",
              hook->vmname, src->path);

    virOpenHookEntryInfoClear(&info);
    return keep;
}


/**
 * qemuOpenHookTakeDrainedLabel:
 * @hook: the domain's open hook
 * @canonical: the canonical path of an image QEMU closed
 *
 * Returns the image whose label qemuOpenHookRevokeImage() kept because
 * QEMU held it, or NULL if there is none (any more).  The caller owns
 * it.  Call with the domain locked.
 */
virStorageSource *
qemuOpenHookTakeDrainedLabel(qemuOpenHook *hook,
                             const char *canonical)
{
    virStorageSource *src = g_hash_table_lookup(hook->pendingLabels, canonical);

    if (!src)
        return NULL;

    virObjectRef(src);
    g_hash_table_remove(hook->pendingLabels, canonical);
    return src;
}


/**
 * qemuOpenHookUsesImage:
 * @hook: a domain's open hook
 * @path: an image
 *
 * Returns true if the domain's QEMU may open @path, or has not closed it
 * yet since it was revoked.  Call with the domain locked.
 */
bool
qemuOpenHookUsesImage(qemuOpenHook *hook,
                      const char *path)
{
    virOpenHookEntryInfo info = { 0 };
    GHashTableIter iter;
    gpointer key;
    gpointer value;

    if (virOpenHookWhitelistGetInfo(hook->wl, path, &info) == 0) {
        virOpenHookEntryInfoClear(&info);
        return true;
    }

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        virStorageSource *src = value;

        if (STREQ(key, path) || STREQ_NULLABLE(src->path, path))
            return true;
    }

    return false;
}


/**
 * qemuOpenHookTakePendingLabels:
 * @hook: the domain's open hook
 *
 * QEMU is gone: returns every image whose label still waits for QEMU to
 * close it (free with g_ptr_array_unref).  Call with the domain locked.
 */
GPtrArray *
qemuOpenHookTakePendingLabels(qemuOpenHook *hook)
{
    GPtrArray *srcs = g_ptr_array_new_with_free_func(virObjectUnref);
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, hook->pendingLabels);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        g_ptr_array_add(srcs, virObjectRef(value));
        g_hash_table_iter_remove(&iter);
    }

    return srcs;
}


/**
 * qemuOpenHookRevokeSource:
 * @hook: the domain's open hook
 * @src: an image, or the top of a chain
 * @chain: whether to revoke @src's whole backing chain
 *
 * Drop one reference to each image: an image still in another disk's
 * chain stays allowed.  An image QEMU still holds stops being granted
 * at once and is reported as drained when QEMU closed it.
 */
void
qemuOpenHookRevokeSource(qemuOpenHook *hook,
                         virStorageSource *src,
                         bool chain)
{
    virStorageSource *n;

    for (n = src; virStorageSourceIsBacking(n); n = n->backingStore) {
        if (qemuOpenHookSourceIsOpened(n)) {
            if (virOpenHookWhitelistRemove(hook->wl, n->path) < 0)
                VIR_DEBUG("open hook of domain '%s': '%s' was not allowed",
                          hook->vmname, n->path);
            else
                VIR_DEBUG("open hook of domain '%s': revoked '%s'",
                          hook->vmname, n->path);
        }

        if (!chain)
            break;
    }
}


static int
qemuOpenHookAllowDir(qemuOpenHook *hook,
                     const char *path,
                     virOpenHookAccess access)
{
    g_autofree char *errmsg = NULL;
    int rc;

    if ((rc = virOpenHookWhitelistAddDir(hook->wl, path, access,
                                         "openhook", &errmsg)) < 0) {
        if (hook->restoring) {
            VIR_WARN("open hook of domain '%s': cannot allow directory '%s' "
                     "again, QEMU will be denied its files: %s",
                     hook->vmname, path, NULLSTR(errmsg));
            return 0;
        }
        virReportSystemError(-rc,
                             _("cannot let domain '%s' open files in '%s': %s"),
                             hook->vmname, path, NULLSTR(errmsg));
        return -1;
    }

    VIR_DEBUG("open hook of domain '%s': allowed directory '%s' (%s)",
              hook->vmname, path, virOpenHookAccessToString(access));
    return 0;
}


/**
 * qemuOpenHookAllowDef:
 * @hook: the domain's open hook
 * @def: the domain definition, with its disk chains detected
 * @masterKeyPath: the file of the domain's master key
 *
 * Fill the whitelist with every file the domain uses: each disk's whole
 * backing chain (cdroms and floppies included), the firmware and its
 * NVRAM, kernel, initrd and DTB, and the files and directories the
 * domain XML lists in <openhook>.
 */
int
qemuOpenHookAllowDef(qemuOpenHook *hook,
                     const virDomainDef *def,
                     const char *masterKeyPath)
{
    size_t i;

    for (i = 0; i < def->ndisks; i++) {
        if (qemuOpenHookAllowDisk(hook, def->disks[i]) < 0)
            return -1;
    }

    if (def->os.loader) {
        virDomainLoaderDef *loader = def->os.loader;

        if (loader->path &&
            qemuOpenHookAllowPath(hook, loader->path,
                                  loader->readonly == VIR_TRISTATE_BOOL_NO ?
                                  VIR_OPENHOOK_ACCESS_RW :
                                  VIR_OPENHOOK_ACCESS_RO,
                                  0, "loader") < 0)
            return -1;

        if (loader->nvram &&
            virStorageSourceIsLocalStorage(loader->nvram) &&
            !virStorageSourceIsEmpty(loader->nvram) &&
            qemuOpenHookAllowPath(hook, loader->nvram->path,
                                  VIR_OPENHOOK_ACCESS_RW, 0, "nvram") < 0)
            return -1;
    }

    if (def->os.kernel &&
        qemuOpenHookAllowPath(hook, def->os.kernel,
                              VIR_OPENHOOK_ACCESS_RO, 0, "kernel") < 0)
        return -1;
    if (def->os.initrd &&
        qemuOpenHookAllowPath(hook, def->os.initrd,
                              VIR_OPENHOOK_ACCESS_RO, 0, "initrd") < 0)
        return -1;
    if (def->os.dtb &&
        qemuOpenHookAllowPath(hook, def->os.dtb,
                              VIR_OPENHOOK_ACCESS_RO, 0, "dtb") < 0)
        return -1;

    if (def->openhook) {
        for (i = 0; i < def->openhook->nfiles; i++) {
            virDomainOpenHookFileDef *file = &def->openhook->files[i];

            if (qemuOpenHookAllowPath(hook, file->path,
                                      file->access == VIR_DOMAIN_OPEN_HOOK_ACCESS_RW ?
                                      VIR_OPENHOOK_ACCESS_RW :
                                      VIR_OPENHOOK_ACCESS_RO,
                                      0, "openhook") < 0)
                return -1;
        }

        for (i = 0; i < def->openhook->ndirs; i++) {
            virDomainOpenHookFileDef *dir = &def->openhook->dirs[i];

            if (qemuOpenHookAllowDir(hook, dir->path,
                                     dir->access == VIR_DOMAIN_OPEN_HOOK_ACCESS_RW ?
                                     VIR_OPENHOOK_ACCESS_RW :
                                     VIR_OPENHOOK_ACCESS_RO) < 0)
                return -1;
        }
    }

    /* QEMU reads the master key without its open helper, but the preload
     * library routes that read too.  (QEMU's pid file is written by
     * libvirt, so QEMU never needs to create anything at start.) */
    if (masterKeyPath && virFileExists(masterKeyPath) &&
        qemuOpenHookAllowPath(hook, masterKeyPath, VIR_OPENHOOK_ACCESS_RO,
                              0, "master-key") < 0)
        return -1;

    return 0;
}


/* A block job writes into @src (e.g. the base of a commit) */
static void
qemuOpenHookAllowJobWrite(qemuOpenHook *hook,
                          virStorageSource *src)
{
    if (!src || !qemuOpenHookSourceIsOpened(src))
        return;

    if (virOpenHookWhitelistSetAccess(hook->wl, src->path,
                                      VIR_OPENHOOK_ACCESS_RW) < 0)
        VIR_WARN("open hook of domain '%s': '%s' of a block job is not "
                 "allowed", hook->vmname, src->path);
}


/**
 * qemuOpenHookRestore:
 * @hook: the open hook of a domain that was running when the daemon
 *        restarted
 * @vm: the domain, as its status XML describes it
 * @masterKeyPath: the file of the domain's master key
 *
 * Rebuild the whitelist the previous daemon had: every file of the
 * definition, the mirror chains of copy jobs, and the images that
 * commit jobs made writable.  Jobs that ended while the daemon was down
 * change it through the storage access funnel when they are processed.
 * A file that cannot be allowed any more (removed meanwhile) is logged
 * and left out, so QEMU is denied it, but the domain keeps running.
 */
void
qemuOpenHookRestore(qemuOpenHook *hook,
                    virDomainObj *vm,
                    const char *masterKeyPath)
{
    qemuDomainObjPrivate *priv = vm->privateData;
    GHashTableIter iter;
    gpointer value;
    size_t i;

    hook->restoring = true;

    ignore_value(qemuOpenHookAllowDef(hook, vm->def, masterKeyPath));

    for (i = 0; i < vm->def->ndisks; i++) {
        virDomainDiskDef *disk = vm->def->disks[i];

        if (disk->mirror)
            ignore_value(qemuOpenHookAllowSource(hook, disk->mirror,
                                                 true, false));
    }

    g_hash_table_iter_init(&iter, priv->blockjobs);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        qemuBlockJobData *job = value;

        if (job->type != QEMU_BLOCKJOB_TYPE_COMMIT &&
            job->type != QEMU_BLOCKJOB_TYPE_ACTIVE_COMMIT)
            continue;

        qemuOpenHookAllowJobWrite(hook, job->data.commit.base);
        if (job->disk && job->data.commit.topparent != job->disk->src)
            qemuOpenHookAllowJobWrite(hook, job->data.commit.topparent);
    }

    hook->restoring = false;
}


/**
 * qemuOpenHookFormatStatus:
 * @hook: the domain's open hook
 * @buf: the status XML's private data
 *
 * Record what a restarted daemon needs to serve QEMU again.  The
 * whitelist itself is not saved: it is rebuilt from the definition.
 */
void
qemuOpenHookFormatStatus(qemuOpenHook *hook,
                         virBuffer *buf)
{
    virBufferAsprintf(buf, "<openHook mode='%s'",
                      virQEMUOpenHookTypeToString(hook->mode));
    virBufferEscapeString(buf, " path='%s'", hook->sockpath);
    virBufferAddLit(buf, "/>\n");
}


qemuOpenHook *
qemuOpenHookParseStatus(xmlNodePtr node,
                        virDomainDef *def)
{
    g_autofree char *path = virXMLPropString(node, "path");
    unsigned int mode;

    if (virXMLPropEnum(node, "mode", virQEMUOpenHookTypeFromString,
                       VIR_XML_PROP_REQUIRED | VIR_XML_PROP_NONZERO,
                       &mode) < 0)
        return NULL;

    if (!path) {
        virReportError(VIR_ERR_INTERNAL_ERROR, "%s",
                       _("missing path of the open hook in status XML"));
        return NULL;
    }

    return qemuOpenHookNew(def, mode, NULL, path);
}


/**
 * qemuOpenHookUpdateLiveDef:
 * @hook: the domain's open hook
 * @def: the live definition of the running domain
 *
 * Copy the whitelist as it is now into @def, for the live XML.
 */
void
qemuOpenHookUpdateLiveDef(qemuOpenHook *hook,
                          virDomainDef *def)
{
    virOpenHookEntryInfo *infos = NULL;
    size_t n = virOpenHookWhitelistGetAll(hook->wl, &infos);
    size_t i;

    if (!def->openhook)
        def->openhook = g_new0(virDomainOpenHookDef, 1);
    virDomainOpenHookDefClearEntries(def->openhook);

    def->openhook->entries = g_new0(virDomainOpenHookEntryDef, n);
    for (i = 0; i < n; i++) {
        virDomainOpenHookEntryDef *entry = &def->openhook->entries[i];

        entry->path = g_steal_pointer(&infos[i].canonical);
        entry->dir = infos[i].dir;
        entry->origin = g_steal_pointer(&infos[i].origin);
        entry->access = infos[i].access == VIR_OPENHOOK_ACCESS_RW ?
            VIR_DOMAIN_OPEN_HOOK_ACCESS_RW : VIR_DOMAIN_OPEN_HOOK_ACCESS_RO;
        entry->fds = infos[i].nheld;
    }
    def->openhook->nentries = n;

    virOpenHookEntryInfoListFree(infos, n);
}


static int
qemuOpenHookListen(qemuOpenHook *hook)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };

    if (virStrcpyStatic(addr.sun_path, hook->sockpath) < 0) {
        virReportError(VIR_ERR_INTERNAL_ERROR,
                       _("open hook socket path '%s' is too long"),
                       hook->sockpath);
        return -1;
    }

    /* a previous daemon's socket, which nobody listens on any more */
    if (unlink(hook->sockpath) < 0 && errno != ENOENT) {
        virReportSystemError(errno, _("cannot remove '%s'"), hook->sockpath);
        return -1;
    }

    VIR_FORCE_CLOSE(hook->listenfd);
    if ((hook->listenfd = socket(AF_UNIX,
                                 SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK,
                                 0)) < 0 ||
        bind(hook->listenfd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        listen(hook->listenfd, 4) < 0) {
        virReportSystemError(errno, _("cannot listen on '%s'"),
                             hook->sockpath);
        VIR_FORCE_CLOSE(hook->listenfd);
        return -1;
    }

    return 0;
}


/**
 * qemuOpenHookOpenChannel:
 * @hook: the domain's open hook
 * @secMgr: the security manager
 * @def: the domain definition
 *
 * Listen on the hook's socket and connect the end QEMU gets to it, so
 * that QEMU can connect again after a daemon restart.  QEMU's end gets
 * the domain's socket label, as if QEMU had created it, like the socket
 * QEMU creates itself when it reconnects.  Mocked in tests, which must
 * not create sockets.
 *
 * Returns QEMU's end of the channel, or -1 on error.
 */
int
qemuOpenHookOpenChannel(qemuOpenHook *hook,
                        virSecurityManager *secMgr,
                        virDomainDef *def)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    VIR_AUTOCLOSE qemufd = -1;
    int fd;

    if (qemuOpenHookListen(hook) < 0)
        return -1;

    if (qemuSecuritySetSocketLabel(secMgr, def) < 0)
        return -1;
    qemufd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (qemuSecurityClearSocketLabel(secMgr, def) < 0)
        return -1;

    ignore_value(virStrcpyStatic(addr.sun_path, hook->sockpath));
    if (qemufd < 0 ||
        connect(qemufd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        (fd = accept4(hook->listenfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        virReportSystemError(errno, "%s",
                             _("cannot create the open hook channel"));
        return -1;
    }

    /* takes ownership of fd */
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    hook->conn = virOpenHookBrokerConnNew(hook->wl, fd);
    VIR_FORCE_CLOSE(hook->qemufd);
    hook->qemufd = qemufd;
    qemufd = -1;
    return hook->qemufd;
}


/**
 * qemuOpenHookBuildCommandLine:
 * @cmd: QEMU's command
 * @hook: the domain's open hook
 * @native: whether QEMU has -open-hook-fd
 * @secMgr: the security manager
 * @def: the domain definition
 *
 * Pass QEMU its end of the channel: with -open-hook-fd if the binary
 * has it, otherwise to the preload library through the environment.
 */
int
qemuOpenHookBuildCommandLine(virCommand *cmd,
                             qemuOpenHook *hook,
                             bool native,
                             virSecurityManager *secMgr,
                             virDomainDef *def)
{
    int fd;

    if ((fd = qemuOpenHookOpenChannel(hook, secMgr, def)) < 0)
        return -1;

    virCommandPassFD(cmd, fd, VIR_COMMAND_PASS_FD_CLOSE_PARENT);
    hook->qemufd = -1;

    if (native) {
        virCommandAddArg(cmd, "-open-hook-fd");
        virCommandAddArgFormat(cmd, "%d", fd);
    } else {
        virCommandAddEnvPair(cmd, "LD_PRELOAD", hook->preload);
        virCommandAddEnvFormat(cmd, "OPENHOOK_FD=%d", fd);
    }

    return 0;
}


/* Start serving @hook->conn on the event thread */
static void
qemuOpenHookServe(qemuOpenHook *hook)
{
    hook->source = virOpenHookBrokerConnCreateSource(hook->conn, NULL, NULL);
    g_source_attach(hook->source, hook->context);
}


/* The pid of the process at the other end of @fd, or -1 */
static pid_t
qemuOpenHookPeerPid(int fd)
{
#if defined(SO_PEERCRED) && !defined(WITH_STRUCT_SOCKPEERCRED)
    struct ucred cred = { .pid = -1 };
    socklen_t len = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
        return -1;
    return cred.pid;
#else
    /* no way to authenticate the peer: nobody may reconnect */
    return -1;
#endif
}


/*
 * QEMU connects again: the daemon restarted, or the channel died.  Runs
 * on the event thread; only the domain's own QEMU process may take over
 * the whitelist.
 */
static gboolean
qemuOpenHookAccept(int listenfd,
                   GIOCondition cond G_GNUC_UNUSED,
                   gpointer opaque)
{
    qemuOpenHook *hook = opaque;
    pid_t pid;
    int fd;

    if ((fd = accept4(listenfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
        if (errno != EAGAIN && errno != EINTR)
            VIR_WARN("open hook of domain '%s': cannot accept: %s",
                     hook->vmname, g_strerror(errno));
        return G_SOURCE_CONTINUE;
    }

    if ((pid = qemuOpenHookPeerPid(fd)) != hook->pid || pid <= 0) {
        VIR_WARN("open hook of domain '%s': refused a connection from "
                 "pid %lld, which is not the domain's QEMU (pid %lld)",
                 hook->vmname, (long long)pid, (long long)hook->pid);
        VIR_FORCE_CLOSE(fd);
        return G_SOURCE_CONTINUE;
    }

    VIR_INFO("open hook of domain '%s': QEMU connected again",
             hook->vmname);
    /* QEMU only reconnects once its channel is dead */
    if (hook->source) {
        g_source_destroy(hook->source);
        g_clear_pointer(&hook->source, g_source_unref);
    }
    g_clear_pointer(&hook->conn, virOpenHookBrokerConnFree);
    hook->conn = virOpenHookBrokerConnNew(hook->wl, fd);
    qemuOpenHookServe(hook);
    return G_SOURCE_CONTINUE;
}


/**
 * qemuOpenHookStart:
 * @hook: the domain's open hook
 * @context: the domain's event thread context
 * @pid: QEMU's pid
 *
 * Start serving QEMU's requests.  Must happen before anything waits for
 * QEMU, which opens its disks before it answers on the monitor.  After
 * a daemon restart there is no channel yet: listen on the hook's socket
 * again, for QEMU to connect.
 */
int
qemuOpenHookStart(qemuOpenHook *hook,
                  GMainContext *context,
                  pid_t pid)
{
    if (hook->listenfd < 0 && qemuOpenHookListen(hook) < 0)
        return -1;

    hook->pid = pid;
    hook->context = g_main_context_ref(context);
    if (hook->conn)
        qemuOpenHookServe(hook);

    hook->listenSource = g_unix_fd_source_new(hook->listenfd, G_IO_IN);
    g_source_set_callback(hook->listenSource,
                          (GSourceFunc)qemuOpenHookAccept,
                          hook, NULL);
    g_source_attach(hook->listenSource, context);

    VIR_DEBUG("open hook of domain '%s' serving in %s mode on '%s'",
              hook->vmname, virQEMUOpenHookTypeToString(hook->mode),
              hook->sockpath);
    return 0;
}
