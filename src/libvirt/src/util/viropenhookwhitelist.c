/*
 * viropenhookwhitelist.c: per-guest allowlist of files the open hook may grant
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
#include <string.h>
#include <unistd.h>
#include <sys/vfs.h>

#include "viropenhookwhitelist.h"
#include "viropenhookpath.h"
#include "viropenhookproto.h"

static const char *const virOpenHookModeNames[] = {
    "enforce",
    "permissive",
};
G_STATIC_ASSERT(G_N_ELEMENTS(virOpenHookModeNames) == VIR_OPENHOOK_MODE_LAST);

/* Entries are reached through the tables (under wl->lock) and through
 * tickets and handles. Their strings never change after creation, so a
 * holder of a reference may read them without the lock; every other
 * field is protected by wl->lock. */
struct _virOpenHookEntry {
    gint refs;
    char *canonical;
    char *origin;
    GPtrArray *aliases;       /* alias keys in wl->aliases */
    GPtrArray *names;         /* trusted names in wl->names */

    virOpenHookAccess access;
    bool create;
    bool dir;                 /* a directory subtree, see dirfd */
    int dirfd;                /* O_PATH of the directory, or -1 */
    bool listed;              /* false: removed, maybe draining */
    bool bound;
    dev_t dev;
    ino_t ino;
    unsigned int users;
    unsigned int asUsers;     /* of @users, added with ENTRY_AS_USER */
    unsigned int nheld;
    bool mayHang;             /* see virOpenHookWhitelistMayHang */
};

typedef struct {
    uint64_t id;              /* key of wl->handles: must stay first */
    virOpenHookEntry *entry;  /* NULL for permissive unlisted grants */
} virOpenHookHandle;

struct _virOpenHookWhitelist {
    gint refs;
    GMutex lock;
    char *guest;
    virOpenHookMode mode;
    unsigned int maxFds;
    bool confined;          /* see virOpenHookWhitelistSetConfined */
    bool sharedMounts;      /* see virOpenHookWhitelistSetSharedMounts */
    unsigned int nheld;
    uint64_t nextHandle;

    GHashTable *entries;      /* canonical path -> entry (a reference) */
    GHashTable *aliases;      /* alias path -> entry (borrowed) */
    GHashTable *dirs;         /* the same for directory entries */
    GHashTable *dirAliases;
    GHashTable *names;        /* trusted path as given -> entry (borrowed) */
    GHashTable *handles;      /* &handle->id -> handle */

    /* Changed under the writer lock, called under the reader lock, so
     * that once the callback is unset no call of it is in progress */
    GRWLock cbLock;
    virOpenHookEventFunc cb;
    void *cbOpaque;

    virOpenHookOpener *opener;
    /* starts the opener on first need (see GetOpener); startLock
     * serializes the starts, never taken under wl->lock */
    GMutex startLock;
    /* helpers this whitelist left stuck in the kernel: at
     * VIR_OPENHOOK_OPENER_STUCK_MAX it starts no more */
    virOpenHookOpenerStuck *stuck;
    virOpenHookOpenerStartFunc openerStart;
    void *openerStartOpaque;
    GDestroyNotify openerStartFree;
    unsigned int workers;     /* see virOpenHookWhitelistWorkerAcquire */
};


const char *
virOpenHookModeToString(virOpenHookMode mode)
{
    if ((unsigned int)mode >= VIR_OPENHOOK_MODE_LAST)
        return "unknown";
    return virOpenHookModeNames[mode];
}


static virOpenHookEntry *
virOpenHookEntryRef(virOpenHookEntry *entry)
{
    g_atomic_int_inc(&entry->refs);
    return entry;
}


static void
virOpenHookEntryUnref(virOpenHookEntry *entry)
{
    if (!entry || !g_atomic_int_dec_and_test(&entry->refs))
        return;
    virOpenHookCloseFD(&entry->dirfd);
    g_free(entry->canonical);
    g_free(entry->origin);
    g_ptr_array_unref(entry->aliases);
    g_ptr_array_unref(entry->names);
    g_free(entry);
}


static void
virOpenHookHandleFree(void *opaque)
{
    virOpenHookHandle *h = opaque;

    virOpenHookEntryUnref(h->entry);
    g_free(h);
}


void
virOpenHookEntryInfoClear(virOpenHookEntryInfo *info)
{
    g_clear_pointer(&info->canonical, g_free);
    g_clear_pointer(&info->origin, g_free);
}


virOpenHookWhitelist *
virOpenHookWhitelistNew(const char *guest)
{
    virOpenHookWhitelist *wl = g_new0(virOpenHookWhitelist, 1);

    wl->refs = 1;
    g_mutex_init(&wl->lock);
    g_rw_lock_init(&wl->cbLock);
    g_mutex_init(&wl->startLock);
    wl->stuck = virOpenHookOpenerStuckNew();
    wl->guest = g_strdup(guest);
    wl->mode = VIR_OPENHOOK_MODE_ENFORCE;
    wl->maxFds = VIR_OPENHOOK_DEFAULT_MAX_FDS;
    wl->nextHandle = 1;
    wl->entries = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                        (GDestroyNotify) virOpenHookEntryUnref);
    wl->aliases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    wl->dirs = g_hash_table_new_full(g_str_hash, g_str_equal, NULL,
                                     (GDestroyNotify) virOpenHookEntryUnref);
    wl->dirAliases = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    wl->names = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    wl->handles = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                        virOpenHookHandleFree);
    return wl;
}


virOpenHookWhitelist *
virOpenHookWhitelistRef(virOpenHookWhitelist *wl)
{
    g_atomic_int_inc(&wl->refs);
    return wl;
}


void
virOpenHookWhitelistUnref(virOpenHookWhitelist *wl)
{
    if (!wl || !g_atomic_int_dec_and_test(&wl->refs))
        return;
    g_hash_table_unref(wl->handles);
    g_hash_table_unref(wl->names);
    g_hash_table_unref(wl->dirAliases);
    g_hash_table_unref(wl->dirs);
    g_hash_table_unref(wl->aliases);
    g_hash_table_unref(wl->entries);
    virOpenHookOpenerUnref(wl->opener);
    virOpenHookOpenerStuckUnref(wl->stuck);
    if (wl->openerStartFree)
        wl->openerStartFree(wl->openerStartOpaque);
    g_free(wl->guest);
    g_mutex_clear(&wl->startLock);
    g_mutex_clear(&wl->lock);
    g_rw_lock_clear(&wl->cbLock);
    g_free(wl);
}


const char *
virOpenHookWhitelistGetGuest(virOpenHookWhitelist *wl)
{
    return wl->guest;
}


void
virOpenHookWhitelistSetMode(virOpenHookWhitelist *wl,
                            virOpenHookMode mode)
{
    g_mutex_lock(&wl->lock);
    wl->mode = mode;
    g_mutex_unlock(&wl->lock);
}


virOpenHookMode
virOpenHookWhitelistGetMode(virOpenHookWhitelist *wl)
{
    virOpenHookMode mode;

    g_mutex_lock(&wl->lock);
    mode = wl->mode;
    g_mutex_unlock(&wl->lock);
    return mode;
}


void
virOpenHookWhitelistSetConfined(virOpenHookWhitelist *wl,
                                bool confined)
{
    g_mutex_lock(&wl->lock);
    wl->confined = confined;
    g_mutex_unlock(&wl->lock);
}


void
virOpenHookWhitelistSetSharedMounts(virOpenHookWhitelist *wl,
                                    bool shared)
{
    g_mutex_lock(&wl->lock);
    wl->sharedMounts = shared;
    g_mutex_unlock(&wl->lock);
}


bool
virOpenHookWhitelistGetConfined(virOpenHookWhitelist *wl)
{
    bool ret;

    g_mutex_lock(&wl->lock);
    ret = wl->confined;
    g_mutex_unlock(&wl->lock);
    return ret;
}


bool
virOpenHookWhitelistHasOpener(virOpenHookWhitelist *wl)
{
    bool ret;

    g_mutex_lock(&wl->lock);
    ret = wl->opener || wl->openerStart;
    g_mutex_unlock(&wl->lock);
    return ret;
}


void
virOpenHookWhitelistSetMaxFds(virOpenHookWhitelist *wl,
                              unsigned int maxfds)
{
    g_mutex_lock(&wl->lock);
    wl->maxFds = maxfds;
    g_mutex_unlock(&wl->lock);
}


unsigned int
virOpenHookWhitelistGetMaxFds(virOpenHookWhitelist *wl)
{
    unsigned int ret;

    g_mutex_lock(&wl->lock);
    ret = wl->maxFds;
    g_mutex_unlock(&wl->lock);
    return ret;
}


void
virOpenHookWhitelistSetEventCallback(virOpenHookWhitelist *wl,
                                     virOpenHookEventFunc cb,
                                     void *opaque)
{
    g_rw_lock_writer_lock(&wl->cbLock);
    wl->cb = cb;
    wl->cbOpaque = opaque;
    g_rw_lock_writer_unlock(&wl->cbLock);
}


void
virOpenHookWhitelistSetOpener(virOpenHookWhitelist *wl,
                              virOpenHookOpener *opener)
{
    virOpenHookOpener *old;

    if (opener)
        virOpenHookOpenerRef(opener);
    g_mutex_lock(&wl->lock);
    old = wl->opener;
    wl->opener = opener;
    g_mutex_unlock(&wl->lock);
    /* may reap the old helper: not under the lock */
    virOpenHookOpenerUnref(old);
}


void
virOpenHookWhitelistSetOpenerStart(virOpenHookWhitelist *wl,
                                   virOpenHookOpenerStartFunc cb,
                                   void *opaque,
                                   GDestroyNotify freecb)
{
    void *oldOpaque;
    GDestroyNotify oldFree;

    /* not while a start uses the old one */
    g_mutex_lock(&wl->startLock);
    g_mutex_lock(&wl->lock);
    oldOpaque = wl->openerStartOpaque;
    oldFree = wl->openerStartFree;
    wl->openerStart = cb;
    wl->openerStartOpaque = opaque;
    wl->openerStartFree = freecb;
    g_mutex_unlock(&wl->lock);
    g_mutex_unlock(&wl->startLock);
    if (oldFree)
        oldFree(oldOpaque);
}


/*
 * The opener resolves as QEMU's user, following symbolic links that
 * QEMU's user may have planted on storage it can write to: its own FUSE
 * mount, an NFS export; and QEMU's user can stop it, or ptrace it in
 * the instant after exec before it makes itself non-dumpable: its
 * answer is worth no more than QEMU's word. So the canonical name it
 * gives must be one root cannot reach either: the broker opens entries
 * as root first, and a name root can reach (a symlink out of the mount
 * to /etc/shadow) would get QEMU root's open of that file. Returns 0,
 * or -EPERM with *@msg set.
 */
static int
virOpenHookWhitelistCheckOpenerName(const char *canonical,
                                    char **msg)
{
    struct stat sb;

    if (stat(canonical, &sb) < 0 && (errno == EACCES || errno == EPERM))
        return 0;
    *msg = g_strdup_printf("as QEMU's user it resolves to '%s', which root "
                           "can reach: refused", canonical);
    return -EPERM;
}


/* A reference to the opener if there is one that is alive, else NULL */
static virOpenHookOpener *
virOpenHookWhitelistGetLiveOpener(virOpenHookWhitelist *wl,
                                  bool *canStart)
{
    virOpenHookOpener *opener = NULL;

    g_mutex_lock(&wl->lock);
    if (wl->opener && virOpenHookOpenerIsAlive(wl->opener))
        opener = virOpenHookOpenerRef(wl->opener);
    *canStart = !!wl->openerStart;
    g_mutex_unlock(&wl->lock);
    return opener;
}


virOpenHookOpener *
virOpenHookWhitelistGetOpener(virOpenHookWhitelist *wl)
{
    virOpenHookOpener *opener = NULL;
    g_autofree char *errmsg = NULL;
    bool canStart;

    if ((opener = virOpenHookWhitelistGetLiveOpener(wl, &canStart)))
        return opener;

    if (!canStart) {
        /* a helper set by hand stays, dead or alive */
        g_mutex_lock(&wl->lock);
        if (wl->opener)
            opener = virOpenHookOpenerRef(wl->opener);
        g_mutex_unlock(&wl->lock);
        return opener;
    }

    /* None yet, or the last one died or was killed for missing a
     * deadline: start one (once, whoever asks at the same time). The
     * start waits for the helper, so it runs under startLock only.
     * Killed helpers that a FUSE daemon which does not answer keeps in
     * the kernel each cost a thread until it answers: a guest whose
     * QEMU owns that daemon gets no more than a few. */
    g_mutex_lock(&wl->startLock);
    if (!(opener = virOpenHookWhitelistGetLiveOpener(wl, &canStart)) &&
        canStart &&
        virOpenHookOpenerStuckCount(wl->stuck) < VIR_OPENHOOK_OPENER_STUCK_MAX) {
        if ((opener = wl->openerStart(wl->openerStartOpaque, &errmsg))) {
            virOpenHookOpenerSetStuck(opener, wl->stuck);
            virOpenHookWhitelistSetOpener(wl, opener);
        }
    }
    g_mutex_unlock(&wl->startLock);
    /* the start function logs why it failed: the caller denies */
    return opener;
}


void
virOpenHookWhitelistEmit(virOpenHookWhitelist *wl,
                         virOpenHookEvent *ev)
{
    ev->guest = wl->guest;
    g_rw_lock_reader_lock(&wl->cbLock);
    if (wl->cb)
        wl->cb(ev, wl->cbOpaque);
    g_rw_lock_reader_unlock(&wl->cbLock);
}


static void
virOpenHookWhitelistEmitDrained(virOpenHookWhitelist *wl,
                                virOpenHookEntry *entry)
{
    virOpenHookEvent ev = {
        .type = VIR_OPENHOOK_EVENT_DRAINED,
        .path = entry->canonical,
        .canonical = entry->canonical,
        .origin = entry->origin,
    };

    virOpenHookWhitelistEmit(wl, &ev);
}


/* Find the file entry for a normalised path, by canonical name or
 * alias. */
static virOpenHookEntry *
virOpenHookWhitelistFind(virOpenHookWhitelist *wl,
                         const char *normpath)
{
    virOpenHookEntry *entry;

    if ((entry = g_hash_table_lookup(wl->entries, normpath)))
        return entry;
    return g_hash_table_lookup(wl->aliases, normpath);
}


/* The entry a trusted @path names, for Remove() and friends; called
 * with wl->lock held. In this order: the file or directory entry whose
 * canonical name @path is; the entry an Add() or AddDir() of exactly
 * @path made (the kernel's resolution of @path then, which is the one
 * to drop a reference of even if a symlink was retargeted or the file
 * removed since); else, with @resolved (the kernel's resolution of
 * @path now), the entry of that canonical name. Never by alias nor by
 * any lexical normalisation of @path: "a/link/../b" is not "a/b". */
static virOpenHookEntry *
virOpenHookWhitelistFindTrusted(virOpenHookWhitelist *wl,
                                const char *path,
                                const char *resolved)
{
    virOpenHookEntry *entry;

    if ((entry = g_hash_table_lookup(wl->entries, path)) ||
        (entry = g_hash_table_lookup(wl->dirs, path)) ||
        (entry = g_hash_table_lookup(wl->names, path)) ||
        !resolved)
        return entry;
    if ((entry = g_hash_table_lookup(wl->entries, resolved)))
        return entry;
    return g_hash_table_lookup(wl->dirs, resolved);
}


/* The kernel's resolution of the trusted @path now, following symlinks
 * as open() does: of the file or directory there, or, if there is none
 * (a file removed or still to be created), of its directory plus its
 * last component. NULL if neither resolves. */
static char *
virOpenHookWhitelistResolveName(const char *path)
{
    g_autofree char *msg = NULL;
    char *canonical = NULL;
    struct stat st;
    bool bound;
    int fd;

    if ((fd = open(path, O_PATH | O_CLOEXEC)) >= 0) {
        canonical = virOpenHookResolveFD(fd, &msg);
        virOpenHookCloseFD(&fd);
        return canonical;
    }
    if (errno != ENOENT ||
        virOpenHookResolve(path, true, &canonical, &bound, &st, &msg) < 0)
        return NULL;
    return canonical;
}


/* Find the entry for the trusted @path (see FindTrusted), asking the
 * kernel, outside the lock, only if no name matches. Returns with
 * wl->lock held. */
static virOpenHookEntry *
virOpenHookWhitelistLockTrusted(virOpenHookWhitelist *wl,
                                const char *path)
{
    g_autofree char *resolved = NULL;
    virOpenHookEntry *entry;

    g_mutex_lock(&wl->lock);
    if ((entry = virOpenHookWhitelistFindTrusted(wl, path, NULL)))
        return entry;
    g_mutex_unlock(&wl->lock);

    resolved = virOpenHookWhitelistResolveName(path);
    g_mutex_lock(&wl->lock);
    return virOpenHookWhitelistFindTrusted(wl, path, resolved);
}


/* The deepest listed directory strictly above @normpath, comparing
 * whole components: /a/dir holds /a/dir/x, not /a/dir2/x, and not
 * /a/dir itself. *@rel is the rest of @normpath below it, never empty,
 * never with a '.' or '..' component (@normpath is normalised). */
static virOpenHookEntry *
virOpenHookWhitelistFindDir(virOpenHookWhitelist *wl,
                            const char *normpath,
                            const char **rel)
{
    g_autofree char *prefix = NULL;
    size_t len;

    *rel = NULL;
    if (g_hash_table_size(wl->dirs) == 0)
        return NULL;

    prefix = g_strdup(normpath);
    len = strlen(prefix);
    while (len > 1) {
        virOpenHookEntry *entry;
        const char *rest;

        /* cut the last component and the '/' before it */
        while (len > 0 && prefix[len - 1] != '/')
            len--;
        if (len == 0)
            break;
        if (len == 1) {
            prefix[1] = '\0';
            rest = normpath + 1;
        } else {
            prefix[--len] = '\0';
            rest = normpath + len + 1;
        }
        if (*rest == '\0')
            continue;
        if ((entry = g_hash_table_lookup(wl->dirs, prefix)) ||
            (entry = g_hash_table_lookup(wl->dirAliases, prefix))) {
            *rel = rest;
            return entry;
        }
    }
    return NULL;
}


/* Map @alias, the lexical normalisation of a trusted path of @entry,
 * to it: the broker normalises the guest's request the same way (it
 * never resolves the guest's bytes), so QEMU's request for the spelling
 * libvirt gave it finds the entry of the file the kernel resolved.
 *
 * After a ".." that follows a symlink, the alias is the name of another
 * file ("a/link/../b" is listed as "<target of link>/../b", its alias
 * is "a/b"). An alias never shadows a canonical name: Find() looks in
 * wl->entries first, so if "a/b" is, or later becomes, a listed file
 * of its own, requests for "a/b" get that file; the alias stays, and
 * serves again once that entry is removed. Aliases still win over a
 * directory above them, as any file listed by name does. */
static void
virOpenHookWhitelistAddAlias(virOpenHookWhitelist *wl,
                             virOpenHookEntry *entry,
                             const char *alias)
{
    GHashTable *aliases = entry->dir ? wl->dirAliases : wl->aliases;
    virOpenHookEntry *old = g_hash_table_lookup(aliases, alias);

    if (old == entry)
        return;
    /* The symlink now points elsewhere: the newest resolution wins. */
    if (old) {
        size_t i;

        for (i = 0; i < old->aliases->len; i++) {
            if (g_str_equal(g_ptr_array_index(old->aliases, i), alias)) {
                g_ptr_array_remove_index_fast(old->aliases, i);
                break;
            }
        }
    }
    g_hash_table_insert(aliases, g_strdup(alias), entry);
    g_ptr_array_add(entry->aliases, g_strdup(alias));
}


/* A trusted path from libvirt: record the name as given (see
 * FindTrusted). The newest Add() of a name wins, as for aliases. */
static void
virOpenHookWhitelistAddName(virOpenHookWhitelist *wl,
                            virOpenHookEntry *entry,
                            const char *path)
{
    virOpenHookEntry *old = g_hash_table_lookup(wl->names, path);
    size_t i;

    if (old == entry)
        return;
    if (old) {
        for (i = 0; i < old->names->len; i++) {
            if (g_str_equal(g_ptr_array_index(old->names, i), path)) {
                g_ptr_array_remove_index_fast(old->names, i);
                break;
            }
        }
    }
    g_hash_table_insert(wl->names, g_strdup(path), entry);
    g_ptr_array_add(entry->names, g_strdup(path));
}


/* Trusted paths are validated (absolute, no NUL byte, at most
 * VIR_OPENHOOK_MAX_PATH long) but never rewritten: the kernel resolves
 * them as given. Returns the lexical normalisation, only ever used as
 * the alias the guest's request will be looked up by, or NULL. */
static char *
virOpenHookNormalizeString(const char *path,
                           char **errmsg)
{
    char *norm = NULL;
    virOpenHookPathError perr;

    if ((perr = virOpenHookPathNormalize(path, strlen(path), &norm))) {
        *errmsg = g_strdup_printf("invalid path '%s': %s", path,
                                  virOpenHookPathErrorToString(perr));
        return NULL;
    }
    return norm;
}


/* File systems on which open() waits for as long as a server or a
 * user-space daemon takes to answer, for ever on a hard NFS mount, a
 * dead FUSE daemon or a partitioned cluster, in a wait that SIGKILL
 * does not always end. The broker never opens files on them on the
 * guest's event thread (see virOpenHookBrokerConnDispatch). Local file
 * systems are fast or fail; a network or user-space file system that
 * is not listed here is treated as local: add its magic when one shows
 * up (statfs(2), <linux/magic.h>). */
static const unsigned long virOpenHookHangFSTypes[] = {
    0x65735546,     /* FUSE_SUPER_MAGIC: sshfs, s3fs, glusterfs, ... */
    0x6969,         /* NFS_SUPER_MAGIC: NFSv2, v3, v4 */
    0xFF534D42,     /* CIFS_SUPER_MAGIC */
    0xFE534D42,     /* SMB2_SUPER_MAGIC (the cifs client over SMB2/3) */
    0x517B,         /* SMB_SUPER_MAGIC (smbfs) */
    0x01021997,     /* V9FS_MAGIC: 9p */
    0x00C36400,     /* CEPH_SUPER_MAGIC */
    0x01161970,     /* GFS2_MAGIC (cluster locks) */
    0x7461636F,     /* OCFS2_SUPER_MAGIC (cluster locks) */
    0x0BD00BD0,     /* LUSTRE_SUPER_MAGIC */
    0x47504653,     /* GPFS_SUPER_MAGIC */
    0x19830326,     /* BeeGFS (fhgfs) */
    0xAAD7AAEA,     /* PANFS_SUPER_MAGIC */
    0x5346414F,     /* AFS_SUPER_MAGIC (OpenAFS) */
    0x6B414653,     /* AFS_FS_MAGIC (kAFS) */
    0x73757245,     /* CODA_SUPER_MAGIC */
    0x564C,         /* NCP_SUPER_MAGIC */
};


/* Whether opening files of an entry may hang: the file system of @fd,
 * or of @path (a file that does not exist yet counts as its directory).
 * A file system that cannot be identified is assumed to hang. */
static bool
virOpenHookWhitelistMayHang(int fd,
                            const char *path)
{
    struct statfs sfs;
    size_t i;
    int rc;

    if (fd >= 0) {
        rc = fstatfs(fd, &sfs);
    } else if ((rc = statfs(path, &sfs)) < 0 && errno == ENOENT) {
        g_autofree char *dir = g_path_get_dirname(path);

        rc = statfs(dir, &sfs);
    }
    if (rc < 0)
        return true;

    for (i = 0; i < G_N_ELEMENTS(virOpenHookHangFSTypes); i++) {
        if ((unsigned long)(unsigned int)sfs.f_type == virOpenHookHangFSTypes[i])
            return true;
    }
    return false;
}


bool
virOpenHookWhitelistWorkerAcquire(virOpenHookWhitelist *wl,
                                  unsigned int max)
{
    bool ret;

    g_mutex_lock(&wl->lock);
    if ((ret = wl->workers < max))
        wl->workers++;
    g_mutex_unlock(&wl->lock);
    return ret;
}


void
virOpenHookWhitelistWorkerRelease(virOpenHookWhitelist *wl)
{
    g_mutex_lock(&wl->lock);
    if (wl->workers > 0)
        wl->workers--;
    g_mutex_unlock(&wl->lock);
}


unsigned int
virOpenHookWhitelistGetWorkers(virOpenHookWhitelist *wl)
{
    unsigned int ret;

    g_mutex_lock(&wl->lock);
    ret = wl->workers;
    g_mutex_unlock(&wl->lock);
    return ret;
}


int
virOpenHookWhitelistAdd(virOpenHookWhitelist *wl,
                        const char *path,
                        virOpenHookAccess access,
                        unsigned int flags,
                        const char *origin,
                        char **errmsg)
{
    g_autofree char *msg = NULL;
    g_autofree char *norm = NULL;
    g_autofree char *canonical = NULL;
    bool create = !!(flags & VIR_OPENHOOK_ENTRY_CREATE);
    virOpenHookEntry *entry;
    struct stat st;
    bool bound;
    bool mayHang;
    int ret;

    if ((unsigned int)access >= VIR_OPENHOOK_ACCESS_LAST ||
        (flags & ~(VIR_OPENHOOK_ENTRY_CREATE | VIR_OPENHOOK_ENTRY_AS_USER))) {
        msg = g_strdup("invalid access or flags");
        ret = -EINVAL;
        goto cleanup;
    }
    if (!(norm = virOpenHookNormalizeString(path, &msg))) {
        ret = -EINVAL;
        goto cleanup;
    }
    /* Resolve what libvirt probed, as the kernel (and QEMU without the
     * hook) resolves it: never @norm, which names another file when a
     * ".." follows a symlink. */
    if ((ret = virOpenHookResolve(path, create, &canonical, &bound, &st, &msg)) < 0) {
        g_autoptr(virOpenHookOpener) opener = NULL;

        /* Storage where root is not root: resolve it as the QEMU user */
        if ((ret != -EACCES && ret != -EPERM) ||
            !(opener = virOpenHookWhitelistGetOpener(wl)))
            goto cleanup;
        g_clear_pointer(&msg, g_free);
        if ((ret = virOpenHookOpenerResolve(opener, path, create, &canonical,
                                            &bound, &st, &msg)) < 0)
            goto cleanup;
        if ((ret = virOpenHookWhitelistCheckOpenerName(canonical, &msg)) < 0)
            goto cleanup;
    }

    mayHang = virOpenHookWhitelistMayHang(-1, canonical);
    g_mutex_lock(&wl->lock);
    if (!(entry = g_hash_table_lookup(wl->entries, canonical))) {
        entry = g_new0(virOpenHookEntry, 1);
        entry->refs = 1;
        entry->canonical = g_steal_pointer(&canonical);
        entry->origin = g_strdup(origin);
        entry->aliases = g_ptr_array_new_with_free_func(g_free);
        entry->names = g_ptr_array_new_with_free_func(g_free);
        entry->access = access;
        entry->dirfd = -1;
        entry->listed = true;
        g_hash_table_insert(wl->entries, entry->canonical, entry);
    } else if (access == VIR_OPENHOOK_ACCESS_RW) {
        entry->access = VIR_OPENHOOK_ACCESS_RW;
    }
    entry->users++;
    if (flags & VIR_OPENHOOK_ENTRY_AS_USER)
        entry->asUsers++;
    entry->create |= create;
    entry->mayHang = mayHang;
    if (bound) {
        entry->bound = true;
        entry->dev = st.st_dev;
        entry->ino = st.st_ino;
    }
    if (!g_str_equal(path, entry->canonical))
        virOpenHookWhitelistAddName(wl, entry, path);
    if (!g_str_equal(norm, entry->canonical))
        virOpenHookWhitelistAddAlias(wl, entry, norm);
    g_mutex_unlock(&wl->lock);
    ret = 0;

 cleanup:
    if (errmsg)
        *errmsg = g_steal_pointer(&msg);
    return ret;
}


int
virOpenHookWhitelistAddDir(virOpenHookWhitelist *wl,
                           const char *path,
                           virOpenHookAccess access,
                           const char *origin,
                           char **errmsg)
{
    g_autofree char *msg = NULL;
    g_autofree char *norm = NULL;
    g_autofree char *canonical = NULL;
    virOpenHookEntry *entry;
    struct stat st;
    bool mayHang;
    int fd = -1;
    int ret;

    if ((unsigned int)access >= VIR_OPENHOOK_ACCESS_LAST) {
        msg = g_strdup("invalid access");
        ret = -EINVAL;
        goto cleanup;
    }
    if (!(norm = virOpenHookNormalizeString(path, &msg))) {
        ret = -EINVAL;
        goto cleanup;
    }
    /* Trusted: follow symlinks now, as the kernel does for the path as
     * given (not @norm, see Add()), then hold on to the directory. */
    if ((fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0 ||
        fstat(fd, &st) < 0) {
        ret = -errno;
        msg = g_strdup_printf("cannot open directory '%s': %s",
                              path, g_strerror(-ret));
        goto cleanup;
    }
    if (!(canonical = virOpenHookResolveFD(fd, &msg))) {
        ret = -EINVAL;
        goto cleanup;
    }

    mayHang = virOpenHookWhitelistMayHang(fd, NULL);
    g_mutex_lock(&wl->lock);
    if ((entry = g_hash_table_lookup(wl->dirs, canonical))) {
        /* The anchor never changes while a ticket may use it. */
        if (entry->dev != st.st_dev || entry->ino != st.st_ino) {
            g_mutex_unlock(&wl->lock);
            msg = g_strdup_printf("directory '%s' was replaced since it was "
                                  "allowed", canonical);
            ret = -EBUSY;
            goto cleanup;
        }
        if (access == VIR_OPENHOOK_ACCESS_RW)
            entry->access = VIR_OPENHOOK_ACCESS_RW;
    } else {
        entry = g_new0(virOpenHookEntry, 1);
        entry->refs = 1;
        entry->canonical = g_steal_pointer(&canonical);
        entry->origin = g_strdup(origin);
        entry->aliases = g_ptr_array_new_with_free_func(g_free);
        entry->names = g_ptr_array_new_with_free_func(g_free);
        entry->access = access;
        entry->dir = true;
        entry->dirfd = fd;
        fd = -1;
        entry->listed = true;
        entry->bound = true;
        entry->dev = st.st_dev;
        entry->ino = st.st_ino;
        g_hash_table_insert(wl->dirs, entry->canonical, entry);
    }
    entry->users++;
    entry->mayHang = mayHang;
    if (!g_str_equal(path, entry->canonical))
        virOpenHookWhitelistAddName(wl, entry, path);
    if (!g_str_equal(norm, entry->canonical))
        virOpenHookWhitelistAddAlias(wl, entry, norm);
    g_mutex_unlock(&wl->lock);
    ret = 0;

 cleanup:
    virOpenHookCloseFD(&fd);
    if (errmsg)
        *errmsg = g_steal_pointer(&msg);
    return ret;
}


int
virOpenHookWhitelistRemove(virOpenHookWhitelist *wl,
                           const char *path,
                           unsigned int flags)
{
    g_autofree char *msg = NULL;
    g_autofree char *norm = NULL;
    virOpenHookEntry *entry;
    virOpenHookEntry *drained = NULL;
    size_t i;

    if (!(norm = virOpenHookNormalizeString(path, &msg)))
        return -ENOENT;

    if (!(entry = virOpenHookWhitelistLockTrusted(wl, path))) {
        g_mutex_unlock(&wl->lock);
        return -ENOENT;
    }
    if ((flags & VIR_OPENHOOK_ENTRY_AS_USER) && entry->asUsers > 0)
        entry->asUsers--;
    if (--entry->users == 0) {
        GHashTable *entries = entry->dir ? wl->dirs : wl->entries;
        GHashTable *aliases = entry->dir ? wl->dirAliases : wl->aliases;

        /* Stop granting now; the guest's fds drain on their own. */
        entry->listed = false;
        for (i = 0; i < entry->aliases->len; i++)
            g_hash_table_remove(aliases, g_ptr_array_index(entry->aliases, i));
        g_ptr_array_set_size(entry->aliases, 0);
        for (i = 0; i < entry->names->len; i++)
            g_hash_table_remove(wl->names, g_ptr_array_index(entry->names, i));
        g_ptr_array_set_size(entry->names, 0);
        virOpenHookEntryRef(entry);
        g_hash_table_remove(entries, entry->canonical);
        if (entry->nheld == 0)
            drained = virOpenHookEntryRef(entry);
        virOpenHookEntryUnref(entry);
    }
    g_mutex_unlock(&wl->lock);

    if (drained) {
        virOpenHookWhitelistEmitDrained(wl, drained);
        virOpenHookEntryUnref(drained);
    }
    return 0;
}


int
virOpenHookWhitelistSetAccess(virOpenHookWhitelist *wl,
                              const char *path,
                              virOpenHookAccess access)
{
    g_autofree char *msg = NULL;
    g_autofree char *norm = NULL;
    virOpenHookEntry *entry;

    if ((unsigned int)access >= VIR_OPENHOOK_ACCESS_LAST)
        return -EINVAL;
    if (!(norm = virOpenHookNormalizeString(path, &msg)))
        return -ENOENT;

    if ((entry = virOpenHookWhitelistLockTrusted(wl, path)))
        entry->access = access;
    g_mutex_unlock(&wl->lock);
    return entry ? 0 : -ENOENT;
}


/* Called with wl->lock held. */
static void
virOpenHookEntryInfoFill(virOpenHookEntryInfo *info,
                         virOpenHookEntry *entry)
{
    info->canonical = g_strdup(entry->canonical);
    info->origin = g_strdup(entry->origin);
    info->access = entry->access;
    info->create = entry->create;
    info->dir = entry->dir;
    info->bound = entry->bound;
    info->dev = entry->dev;
    info->ino = entry->ino;
    info->users = entry->users;
    info->nheld = entry->nheld;
    info->mayHang = entry->mayHang;
    info->asUser = entry->asUsers > 0 && entry->asUsers == entry->users;
}


int
virOpenHookWhitelistGetInfo(virOpenHookWhitelist *wl,
                            const char *path,
                            virOpenHookEntryInfo *info)
{
    g_autofree char *msg = NULL;
    g_autofree char *norm = NULL;
    virOpenHookEntry *entry;

    memset(info, 0, sizeof(*info));
    if (!(norm = virOpenHookNormalizeString(path, &msg)))
        return -ENOENT;

    if ((entry = virOpenHookWhitelistLockTrusted(wl, path)))
        virOpenHookEntryInfoFill(info, entry);
    g_mutex_unlock(&wl->lock);
    return entry ? 0 : -ENOENT;
}


static int
virOpenHookEntryInfoCompare(const void *a,
                            const void *b,
                            void *opaque G_GNUC_UNUSED)
{
    const virOpenHookEntryInfo *ia = a;
    const virOpenHookEntryInfo *ib = b;

    return strcmp(ia->canonical, ib->canonical);
}


size_t
virOpenHookWhitelistGetAll(virOpenHookWhitelist *wl,
                           virOpenHookEntryInfo **infos)
{
    GHashTableIter iter;
    gpointer value;
    size_t n = 0;

    g_mutex_lock(&wl->lock);
    *infos = g_new0(virOpenHookEntryInfo, g_hash_table_size(wl->entries) +
                    g_hash_table_size(wl->dirs) + 1);
    g_hash_table_iter_init(&iter, wl->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        virOpenHookEntryInfoFill(&(*infos)[n++], value);
    g_hash_table_iter_init(&iter, wl->dirs);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        virOpenHookEntryInfoFill(&(*infos)[n++], value);
    g_mutex_unlock(&wl->lock);

    g_qsort_with_data(*infos, n, sizeof(**infos),
                      virOpenHookEntryInfoCompare, NULL);
    return n;
}


void
virOpenHookEntryInfoListFree(virOpenHookEntryInfo *infos,
                             size_t ninfos)
{
    size_t i;

    if (!infos)
        return;
    for (i = 0; i < ninfos; i++)
        virOpenHookEntryInfoClear(&infos[i]);
    g_free(infos);
}


size_t
virOpenHookWhitelistCount(virOpenHookWhitelist *wl)
{
    size_t ret;

    g_mutex_lock(&wl->lock);
    ret = g_hash_table_size(wl->entries) + g_hash_table_size(wl->dirs);
    g_mutex_unlock(&wl->lock);
    return ret;
}


unsigned int
virOpenHookWhitelistGetHeldFds(virOpenHookWhitelist *wl)
{
    unsigned int ret;

    g_mutex_lock(&wl->lock);
    ret = wl->nheld;
    g_mutex_unlock(&wl->lock);
    return ret;
}


bool
virOpenHookWhitelistLookup(virOpenHookWhitelist *wl,
                           const char *normpath,
                           virOpenHookTicket *ticket)
{
    virOpenHookEntry *entry;
    const char *rel = NULL;

    memset(ticket, 0, sizeof(*ticket));
    ticket->dirfd = -1;

    g_mutex_lock(&wl->lock);
    /* A file listed by name wins over any directory above it. */
    if ((entry = virOpenHookWhitelistFind(wl, normpath)) ||
        (entry = virOpenHookWhitelistFindDir(wl, normpath, &rel))) {
        ticket->entry = virOpenHookEntryRef(entry);
        ticket->canonical = entry->canonical;
        ticket->origin = entry->origin;
        ticket->access = entry->access;
        ticket->create = entry->create;
        /* what a file system QEMU's user mounted since may do to an
         * open is not known: any open may hang */
        ticket->mayHang = entry->mayHang || wl->sharedMounts;
        /* one reference from a trusted name is enough: the identity
         * bound is then the one libvirt resolved from that name */
        ticket->asUser = entry->asUsers > 0 && entry->asUsers == entry->users;
        if (entry->dir) {
            ticket->dir = true;
            ticket->dirfd = entry->dirfd;
            ticket->rel = rel;
            /* a writable directory is one files may be created in */
            ticket->create = entry->access == VIR_OPENHOOK_ACCESS_RW;
        }
    }
    g_mutex_unlock(&wl->lock);
    return entry != NULL;
}


void
virOpenHookTicketClear(virOpenHookTicket *ticket)
{
    virOpenHookEntryUnref(ticket->entry);
    memset(ticket, 0, sizeof(*ticket));
    ticket->dirfd = -1;
}


bool
virOpenHookWhitelistAtFdLimit(virOpenHookWhitelist *wl)
{
    bool ret;

    g_mutex_lock(&wl->lock);
    ret = wl->nheld >= wl->maxFds;
    g_mutex_unlock(&wl->lock);
    return ret;
}


/* Called with wl->lock held: a file found beneath a listed directory.
 * The directory's access applies, but only to a regular file with a
 * single link: a hard link planted in the directory could be any file
 * of the file system, which RESOLVE_BENEATH cannot see. A file listed
 * by name keeps that entry's rights whatever name reached it (a symlink
 * in a writable directory must not make a read-only image writable). */
static virOpenHookReason
virOpenHookWhitelistCheckDirGrant(virOpenHookWhitelist *wl,
                                  virOpenHookEntry *entry,
                                  int oflags,
                                  const struct stat *st)
{
    virOpenHookReason reason;
    GHashTableIter iter;
    gpointer value;

    if ((reason = virOpenHookFlagsCheckAccess(oflags, entry->access,
                                              entry->access == VIR_OPENHOOK_ACCESS_RW)))
        return reason;
    if (!S_ISREG(st->st_mode))
        return VIR_OPENHOOK_REASON_FILE_TYPE;
    if (st->st_nlink != 1)
        return VIR_OPENHOOK_REASON_HARD_LINK;
    if ((oflags & O_ACCMODE) == O_RDONLY && !(oflags & O_CREAT))
        return VIR_OPENHOOK_REASON_NONE;

    g_hash_table_iter_init(&iter, wl->entries);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        virOpenHookEntry *file = value;

        if (file->bound && file->dev == st->st_dev && file->ino == st->st_ino)
            return virOpenHookFlagsCheckAccess(oflags, file->access, file->create);
    }
    return VIR_OPENHOOK_REASON_NONE;
}


/* Called with wl->lock held: the authoritative check of a grant. */
static virOpenHookReason
virOpenHookWhitelistCheckGrant(virOpenHookWhitelist *wl,
                               virOpenHookEntry *entry,
                               int oflags,
                               const struct stat *st)
{
    virOpenHookReason reason;

    if (!entry)
        return VIR_OPENHOOK_REASON_NOT_LISTED;
    if (!entry->listed)
        return VIR_OPENHOOK_REASON_REMOVED;
    if (entry->dir) {
        if ((reason = virOpenHookWhitelistCheckDirGrant(wl, entry, oflags, st)))
            return reason;
    } else if ((reason = virOpenHookFlagsCheckAccess(oflags, entry->access,
                                                     entry->create))) {
        return reason;
    } else if (entry->bound) {
        if (st->st_dev != entry->dev || st->st_ino != entry->ino)
            return VIR_OPENHOOK_REASON_IDENTITY;
    } else if (!S_ISREG(st->st_mode) || st->st_nlink != 1) {
        /* A file that appeared at a create-only path is bound only if it
         * cannot be some other file's hard link. */
        return VIR_OPENHOOK_REASON_IDENTITY;
    }
    if (wl->nheld >= wl->maxFds)
        return VIR_OPENHOOK_REASON_FD_LIMIT;
    return VIR_OPENHOOK_REASON_NONE;
}


virOpenHookReason
virOpenHookWhitelistTicketBinding(virOpenHookWhitelist *wl,
                                  const virOpenHookTicket *ticket,
                                  int oflags,
                                  bool *bound,
                                  dev_t *dev,
                                  ino_t *ino)
{
    virOpenHookEntry *entry = ticket->entry;
    virOpenHookReason reason = VIR_OPENHOOK_REASON_NONE;

    *bound = false;
    *dev = 0;
    *ino = 0;
    if (!entry || entry->dir)
        return VIR_OPENHOOK_REASON_NOT_LISTED;

    g_mutex_lock(&wl->lock);
    if (!entry->listed) {
        reason = VIR_OPENHOOK_REASON_REMOVED;
    } else if (!(reason = virOpenHookFlagsCheckAccess(oflags, entry->access,
                                                      entry->create))) {
        *bound = entry->bound;
        *dev = entry->dev;
        *ino = entry->ino;
    }
    g_mutex_unlock(&wl->lock);
    return reason;
}


int
virOpenHookWhitelistCommit(virOpenHookWhitelist *wl,
                           virOpenHookTicket *ticket,
                           int oflags,
                           const struct stat *st,
                           bool permissive,
                           uint64_t *handle,
                           virOpenHookReason *reason)
{
    virOpenHookEntry *entry = ticket->entry;
    virOpenHookHandle *h;

    *handle = 0;

    g_mutex_lock(&wl->lock);
    /* The fd limit holds in every mode */
    if (wl->nheld >= wl->maxFds) {
        *reason = VIR_OPENHOOK_REASON_FD_LIMIT;
        g_mutex_unlock(&wl->lock);
        return -1;
    }
    *reason = virOpenHookWhitelistCheckGrant(wl, entry, oflags, st);
    if (*reason != VIR_OPENHOOK_REASON_NONE && !permissive) {
        g_mutex_unlock(&wl->lock);
        return -1;
    }

    if (entry && entry->listed && !entry->bound &&
        *reason == VIR_OPENHOOK_REASON_NONE) {
        entry->bound = true;
        entry->dev = st->st_dev;
        entry->ino = st->st_ino;
    }

    h = g_new0(virOpenHookHandle, 1);
    h->id = wl->nextHandle++;
    if (entry) {
        h->entry = virOpenHookEntryRef(entry);
        entry->nheld++;
    }
    wl->nheld++;
    g_hash_table_insert(wl->handles, &h->id, h);
    *handle = h->id;
    g_mutex_unlock(&wl->lock);
    return 0;
}


/* Called with wl->lock held. Returns the handle's entry with a new
 * reference if it just drained, so that the caller reports it. */
static virOpenHookEntry *
virOpenHookWhitelistDropHandle(virOpenHookWhitelist *wl,
                               virOpenHookHandle *h)
{
    virOpenHookEntry *entry = h->entry;
    virOpenHookEntry *drained = NULL;

    wl->nheld--;
    if (entry && --entry->nheld == 0 && !entry->listed)
        drained = virOpenHookEntryRef(entry);
    return drained;
}


int
virOpenHookWhitelistRelease(virOpenHookWhitelist *wl,
                            uint64_t handle,
                            virOpenHookReason reason)
{
    virOpenHookEvent ev = {
        .type = VIR_OPENHOOK_EVENT_CLOSE,
        .decision = VIR_OPENHOOK_DECISION_GRANT,
        .reason = reason,
        .handle = handle,
    };
    virOpenHookHandle *h;
    virOpenHookEntry *entry = NULL;
    virOpenHookEntry *drained = NULL;

    g_mutex_lock(&wl->lock);
    if ((h = g_hash_table_lookup(wl->handles, &handle))) {
        if (h->entry)
            entry = virOpenHookEntryRef(h->entry);
        drained = virOpenHookWhitelistDropHandle(wl, h);
        g_hash_table_remove(wl->handles, &handle);
    }
    g_mutex_unlock(&wl->lock);

    if (!h) {
        ev.decision = VIR_OPENHOOK_DECISION_DENY;
        ev.reason = VIR_OPENHOOK_REASON_UNKNOWN_HANDLE;
        ev.result = -ENOENT;
    } else if (entry) {
        ev.path = entry->canonical;
        ev.canonical = entry->canonical;
        ev.origin = entry->origin;
    }
    virOpenHookWhitelistEmit(wl, &ev);

    if (drained) {
        virOpenHookWhitelistEmitDrained(wl, drained);
        virOpenHookEntryUnref(drained);
    }
    virOpenHookEntryUnref(entry);
    return h ? 0 : -ENOENT;
}


void
virOpenHookWhitelistReleaseAll(virOpenHookWhitelist *wl)
{
    g_autoptr(GPtrArray) drained = NULL;
    GHashTableIter iter;
    void *value;
    size_t i;

    drained = g_ptr_array_new_with_free_func((GDestroyNotify) virOpenHookEntryUnref);

    g_mutex_lock(&wl->lock);
    g_hash_table_iter_init(&iter, wl->handles);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        virOpenHookEntry *entry = virOpenHookWhitelistDropHandle(wl, value);

        if (entry)
            g_ptr_array_add(drained, entry);
        g_hash_table_iter_remove(&iter);
    }
    g_mutex_unlock(&wl->lock);

    for (i = 0; i < drained->len; i++)
        virOpenHookWhitelistEmitDrained(wl, g_ptr_array_index(drained, i));
}
