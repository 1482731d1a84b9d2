/*
 * viropenhookwhitelist.h: per-guest allowlist of files the open hook may grant
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

#pragma once

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "viropenhookevent.h"
#include "viropenhookopen.h"
#include "viropenhookopener.h"

typedef enum {
    VIR_OPENHOOK_MODE_ENFORCE = 0,
    VIR_OPENHOOK_MODE_PERMISSIVE,  /* grant, but report would-be denials */

    VIR_OPENHOOK_MODE_LAST
} virOpenHookMode;

const char *virOpenHookModeToString(virOpenHookMode mode);

typedef enum {
    /* The guest may create (O_CREAT/O_EXCL/O_TRUNC) this file. */
    VIR_OPENHOOK_ENTRY_CREATE = (1 << 0),
    /* The name does not come from the trusted definition: QEMU may have
     * chosen it (a backing file named in an image header, which QEMU
     * can rewrite). Such an entry is opened only with QEMU's own
     * credentials, by the opener, unless every reference to it was
     * added without this flag. */
    VIR_OPENHOOK_ENTRY_AS_USER = (1 << 1),
} virOpenHookEntryFlags;

typedef struct _virOpenHookWhitelist virOpenHookWhitelist;
typedef struct _virOpenHookEntry virOpenHookEntry;

/* Snapshot of one entry, for the glue and tests. */
typedef struct {
    char *canonical;
    char *origin;
    virOpenHookAccess access;
    bool create;
    bool dir;              /* a directory subtree (virOpenHookWhitelistAddDir) */
    bool bound;            /* (dev, ino) known */
    dev_t dev;
    ino_t ino;
    unsigned int users;    /* references from Add() */
    unsigned int nheld;    /* fds the guest holds */
    bool mayHang;          /* on a file system whose open() can hang */
    bool asUser;           /* VIR_OPENHOOK_ENTRY_AS_USER on every reference */
} virOpenHookEntryInfo;

void virOpenHookEntryInfoClear(virOpenHookEntryInfo *info);

virOpenHookWhitelist *virOpenHookWhitelistNew(const char *guest);
virOpenHookWhitelist *virOpenHookWhitelistRef(virOpenHookWhitelist *wl);
void virOpenHookWhitelistUnref(virOpenHookWhitelist *wl);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(virOpenHookWhitelist, virOpenHookWhitelistUnref);

const char *virOpenHookWhitelistGetGuest(virOpenHookWhitelist *wl);
void virOpenHookWhitelistSetMode(virOpenHookWhitelist *wl,
                                 virOpenHookMode mode);
virOpenHookMode virOpenHookWhitelistGetMode(virOpenHookWhitelist *wl);
void virOpenHookWhitelistSetMaxFds(virOpenHookWhitelist *wl,
                                   unsigned int maxfds);
unsigned int virOpenHookWhitelistGetMaxFds(virOpenHookWhitelist *wl);
/* @cb gets every event, on whichever thread caused it (the broker's,
 * an abandoned worker's, the one changing the whitelist); it must not
 * change the whitelist.  Once this returns, no call of the previous
 * callback is in progress, so its @opaque may be freed. */
void virOpenHookWhitelistSetEventCallback(virOpenHookWhitelist *wl,
                                          virOpenHookEventFunc cb,
                                          void *opaque);

/*
 * Open files through @opener (a reference is taken; NULL: none) when
 * root cannot: Add() resolves a path through it when resolving it as
 * root fails with EACCES or EPERM, and the broker opens an entry
 * through it when its own open fails so.
 */
void virOpenHookWhitelistSetOpener(virOpenHookWhitelist *wl,
                                   virOpenHookOpener *opener);
/*
 * Start the opener on first need with @cb (called with @opaque, which
 * @freecb frees with the whitelist): GetOpener() calls it when there is
 * no opener yet, or the last one is dead (QEMU's user can kill it, and
 * one that missed a deadline is killed). Never under the whitelist's
 * lock; concurrent needs share one start.
 */
void virOpenHookWhitelistSetOpenerStart(virOpenHookWhitelist *wl,
                                        virOpenHookOpenerStartFunc cb,
                                        void *opaque,
                                        GDestroyNotify freecb);
/* A new reference to the opener, or NULL. With a start function (see
 * above) a live one, started now if needed (waiting for it, at most
 * VIR_OPENHOOK_OPENER_TIMEOUT_MS); without, whichever was set. */
virOpenHookOpener *virOpenHookWhitelistGetOpener(virOpenHookWhitelist *wl);

/* QEMU is confined (Landlock): permissive mode must not open, through
 * the opener, what QEMU's own credentials could but its confinement
 * forbids.  What enforce would deny is then denied. */
void virOpenHookWhitelistSetConfined(virOpenHookWhitelist *wl,
                                     bool confined);
bool virOpenHookWhitelistGetConfined(virOpenHookWhitelist *wl);

/* Whether files are opened with QEMU's credentials through an opener
 * (one is set, or may be started): when not, the daemon runs with
 * QEMU's credentials or QEMU with root's, and the daemon opens every
 * entry itself. */
bool virOpenHookWhitelistHasOpener(virOpenHookWhitelist *wl);

/* QEMU's user can mount file systems where the daemon sees them (QEMU
 * runs in the daemon's mount namespace): a listed file may be on a FUSE
 * file system by the time it is opened, whatever file system it was on
 * when it was added, so every open counts as one that may hang (see
 * virOpenHookTicket.mayHang) and none is made on the event thread. */
void virOpenHookWhitelistSetSharedMounts(virOpenHookWhitelist *wl,
                                         bool shared);

/*
 * Allow @path. The path is resolved now, following symlinks, because
 * it comes from the trusted domain XML: the entry is keyed by the
 * canonical path and records the file's (dev, ino). When @path differs
 * from the canonical path both names map to the entry. A path that
 * does not exist yet is accepted only with VIR_OPENHOOK_ENTRY_CREATE;
 * its directory is resolved and its identity is bound at the first
 * open that finds a regular file with a single link.
 *
 * Adding an existing entry takes another reference (it stays until
 * every reference is removed), widens ro to rw if asked, and rebinds
 * the identity to the file now at the path.
 *
 * Storage that refuses root (root_squash, FUSE without allow_other) is
 * resolved through the opener, if there is one.
 *
 * With VIR_OPENHOOK_ENTRY_AS_USER the reference lets the guest have the
 * file only as opened by the opener, with QEMU's credentials, checked
 * against the identity bound here: the daemon's own rights never follow
 * a name QEMU may have chosen.
 *
 * Returns 0, or -errno with *@errmsg (may be NULL) describing why.
 */
int virOpenHookWhitelistAdd(virOpenHookWhitelist *wl,
                            const char *path,
                            virOpenHookAccess access,
                            unsigned int flags,
                            const char *origin,
                            char **errmsg);

/*
 * Allow the regular files beneath the directory @path, with @access.
 * Like Add(), the trusted path is resolved now, following symlinks; the
 * entry keeps an O_PATH descriptor of the directory, and files are
 * opened relative to it with RESOLVE_BENEATH, so the grant stays with
 * that directory whatever is renamed or replaced later. A request
 * matches the deepest listed directory that is a component-wise prefix
 * of it; a file listed by its own name wins. Only regular files with a
 * single link are granted; in a writable directory files may be
 * created (at most mode 0600).
 *
 * Adding the same directory again takes another reference and widens
 * ro to rw; it fails with -EBUSY if another directory is at the path
 * now.
 *
 * Returns 0, or -errno with *@errmsg (may be NULL) describing why.
 */
int virOpenHookWhitelistAddDir(virOpenHookWhitelist *wl,
                               const char *path,
                               virOpenHookAccess access,
                               const char *origin,
                               char **errmsg);

/*
 * Drop one reference to the entry for the trusted @path: the entry of
 * that canonical name, or the one an Add()/AddDir() of exactly @path
 * made, or that of the kernel's resolution of @path now; never by the
 * lexical alias (the same lookup for SetAccess() and GetInfo()).
 * When the last goes, the entry stops granting at once; it reports
 * VIR_OPENHOOK_EVENT_DRAINED when the guest holds no fd of it any
 * more (immediately if it holds none). @flags are those of the Add()
 * whose reference is dropped (VIR_OPENHOOK_ENTRY_AS_USER counts).
 * Returns 0 or -ENOENT.
 */
int virOpenHookWhitelistRemove(virOpenHookWhitelist *wl,
                               const char *path,
                               unsigned int flags);

/* Change the access of a listed entry (e.g. rw during a commit). */
int virOpenHookWhitelistSetAccess(virOpenHookWhitelist *wl,
                                  const char *path,
                                  virOpenHookAccess access);

int virOpenHookWhitelistGetInfo(virOpenHookWhitelist *wl,
                                const char *path,
                                virOpenHookEntryInfo *info);
size_t virOpenHookWhitelistCount(virOpenHookWhitelist *wl);

/* A snapshot of every listed entry, sorted by canonical path, for the
 * live view of the whitelist. Returns the number of entries; free
 * *@infos with virOpenHookEntryInfoListFree(). */
size_t virOpenHookWhitelistGetAll(virOpenHookWhitelist *wl,
                                  virOpenHookEntryInfo **infos);
void virOpenHookEntryInfoListFree(virOpenHookEntryInfo *infos,
                                  size_t ninfos);
unsigned int virOpenHookWhitelistGetHeldFds(virOpenHookWhitelist *wl);

/* The guest process is gone, so every fd it held is closed: release
 * all handles (draining entries report DRAINED). */
void virOpenHookWhitelistReleaseAll(virOpenHookWhitelist *wl);

/*
 * Interface used by the broker. A ticket is a referenced snapshot of a
 * listed entry taken under the lock, so the open itself happens with
 * no lock held; Commit() re-validates under the lock.
 */
typedef struct {
    virOpenHookEntry *entry;   /* NULL: path is not listed */
    const char *canonical;     /* immutable, valid while the ticket is */
    const char *origin;        /* ditto, may be NULL */
    virOpenHookAccess access;
    bool create;
    bool dir;                  /* found beneath a listed directory: */
    int dirfd;                 /* its O_PATH fd, valid while the ticket is */
    const char *rel;           /* the rest of the lookup's @normpath */
    bool mayHang;              /* on NFS, FUSE, ...: never open it on
                                * the event thread (entry's mayHang, or
                                * any entry with shared mounts) */
    bool asUser;               /* only as QEMU's credentials open it
                                * (VIR_OPENHOOK_ENTRY_AS_USER) */
} virOpenHookTicket;

bool virOpenHookWhitelistLookup(virOpenHookWhitelist *wl,
                                const char *normpath,
                                virOpenHookTicket *ticket);
void virOpenHookTicketClear(virOpenHookTicket *ticket);

/*
 * Record a grant of the file described by @st for a request with
 * @oflags: re-checks that the entry is still listed, its access, the
 * (dev, ino) identity (binding it for a create entry) and the guest's
 * fd limit. In @permissive mode a failed check is returned in *@reason
 * but the grant is still recorded. Returns 0 with *@handle set, or -1
 * with *@reason set.
 */
int virOpenHookWhitelistCommit(virOpenHookWhitelist *wl,
                               virOpenHookTicket *ticket,
                               int oflags,
                               const struct stat *st,
                               bool permissive,
                               uint64_t *handle,
                               virOpenHookReason *reason);

/*
 * The file the entry of @ticket is bound to now, read under the lock,
 * for a request with @oflags that someone other than the broker opens
 * (and truncates) before Commit(): VIR_OPENHOOK_REASON_NONE with
 * *@bound, *@dev and *@ino set (*@bound false: the entry is not bound
 * yet), or why the entry no longer allows @oflags (not listed, removed
 * since the lookup, access changed).  Never looked up by name: the name
 * may be listed again meanwhile, for another file or another access.
 */
virOpenHookReason virOpenHookWhitelistTicketBinding(virOpenHookWhitelist *wl,
                                                    const virOpenHookTicket *ticket,
                                                    int oflags,
                                                    bool *bound,
                                                    dev_t *dev,
                                                    ino_t *ino);

/* Fast pre-check of the fd limit before opening anything. */
bool virOpenHookWhitelistAtFdLimit(virOpenHookWhitelist *wl);

/*
 * The broker's worker threads for opens that may hang (see the
 * ticket's mayHang): Acquire counts one more unless @max of this
 * guest's are running already (false: do not start one); the worker
 * calls Release once its open has returned, however late. A worker
 * that is stuck in the kernel keeps counting, so a guest cannot make
 * the daemon create threads without bound.
 */
bool virOpenHookWhitelistWorkerAcquire(virOpenHookWhitelist *wl,
                                       unsigned int max);
void virOpenHookWhitelistWorkerRelease(virOpenHookWhitelist *wl);
unsigned int virOpenHookWhitelistGetWorkers(virOpenHookWhitelist *wl);

/* A grant ended: a CLOSE from the guest (@reason NONE) or the fd never
 * reached it (@reason SEND_FAILED). Emits a CLOSE event, and DRAINED if
 * this was the last fd of a removed entry. Returns 0 or -ENOENT (an
 * unknown handle, reported as such). */
int virOpenHookWhitelistRelease(virOpenHookWhitelist *wl,
                                uint64_t handle,
                                virOpenHookReason reason);

/* Deliver @ev (its guest field is filled in) to the event callback. */
void virOpenHookWhitelistEmit(virOpenHookWhitelist *wl,
                              virOpenHookEvent *ev);
