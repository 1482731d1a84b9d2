/*
 * qemu_openhook.h: let libvirt open the files QEMU uses on its behalf
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

#include "domain_conf.h"
#include "qemu_conf.h"
#include "vircommand.h"
#include "viropenhookwhitelist.h"

typedef struct _qemuOpenHook qemuOpenHook;

void
qemuOpenHookFree(qemuOpenHook *hook);

void
qemuOpenHookDisconnect(qemuOpenHook *hook);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qemuOpenHook, qemuOpenHookFree);

qemuOpenHook *
qemuOpenHookNew(const virDomainDef *def,
                virQEMUOpenHookMode mode,
                const char *preload,
                const char *sockpath);

virQEMUOpenHookMode
qemuOpenHookGetMode(qemuOpenHook *hook);

virOpenHookWhitelist *
qemuOpenHookGetWhitelist(qemuOpenHook *hook);

const char *
qemuOpenHookGetSocketPath(qemuOpenHook *hook);

void
qemuOpenHookSetOpenTimeout(qemuOpenHook *hook,
                           unsigned int seconds);

void
qemuOpenHookSetSharedMounts(qemuOpenHook *hook,
                            bool shared);

int
qemuOpenHookPrepareOpener(qemuOpenHook *hook,
                          virDomainObj *vm,
                          virSecurityManager *secMgr,
                          uid_t uid,
                          gid_t gid);

bool
qemuOpenHookRefusesRoot(const char *path);

int
qemuOpenHookStat(qemuOpenHook *hook,
                 const char *path,
                 struct stat *st);

int
qemuOpenHookAllowDef(qemuOpenHook *hook,
                     const virDomainDef *def,
                     const char *masterKeyPath);

void
qemuOpenHookSkipOwnership(qemuOpenHook *hook,
                          virStorageSource *src,
                          bool chain);

int
qemuOpenHookAllowSource(qemuOpenHook *hook,
                        virStorageSource *src,
                        bool chain,
                        bool modify);

/* @canonical: a drained entry, or NULL to check every held-back label */
typedef void (*qemuOpenHookDrainedFunc)(const char *canonical,
                                        void *opaque);

void
qemuOpenHookSetDrainedCallback(qemuOpenHook *hook,
                               qemuOpenHookDrainedFunc cb,
                               void *opaque);

bool
qemuOpenHookRevokeImage(qemuOpenHook *hook,
                        virStorageSource *src);

virStorageSource *
qemuOpenHookTakeDrainedLabel(qemuOpenHook *hook,
                             const char *canonical);

bool
qemuOpenHookUsesImage(qemuOpenHook *hook,
                      const char *path);

GPtrArray *
qemuOpenHookTakePendingLabels(qemuOpenHook *hook);

size_t
qemuOpenHookDecideLabels(qemuOpenHook *hook,
                         virDomainObj *vm,
                         const char *canonical,
                         bool stopping);

void
qemuOpenHookRestoreShared(qemuOpenHook *hook,
                          virDomainObj *vm);

void
qemuOpenHookRecheckLater(qemuOpenHook *hook);

typedef enum {
    /* wait for a metadata lock of the file that another process holds */
    QEMU_OPEN_HOOK_RESTORE_WAIT = 1 << 0,
    /* QEMU has exited: its mount namespace and PID are gone */
    QEMU_OPEN_HOOK_RESTORE_QEMU_GONE = 1 << 1,
} qemuOpenHookRestoreFlags;

/* Gives @src's label back (@flags: qemuOpenHookRestoreFlags).  Without
 * QEMU_OPEN_HOOK_RESTORE_WAIT, returns 1 if another process holds the
 * metadata lock of the file, and nothing was done; otherwise 0 (a
 * failure is logged). */
typedef int (*qemuOpenHookRestoreFunc)(virDomainObj *vm,
                                       virStorageSource *src,
                                       unsigned int flags,
                                       void *opaque);

void
qemuOpenHookSetRestoreFunc(qemuOpenHook *hook,
                           qemuOpenHookRestoreFunc func,
                           void *opaque);

void
qemuOpenHookSetProcDir(qemuOpenHook *hook,
                       const char *dir);

void
qemuOpenHookRevokeSource(qemuOpenHook *hook,
                         virStorageSource *src,
                         bool chain);

void
qemuOpenHookRestore(qemuOpenHook *hook,
                    virDomainObj *vm,
                    const char *masterKeyPath);

void
qemuOpenHookFormatStatus(qemuOpenHook *hook,
                         const virDomainDef *def,
                         virBuffer *buf);

qemuOpenHook *
qemuOpenHookParseStatus(xmlNodePtr node,
                        virDomainDef *def);

void
qemuOpenHookUpdateLiveDef(qemuOpenHook *hook,
                          virDomainDef *def);

int
qemuOpenHookOpenChannel(qemuOpenHook *hook,
                        virSecurityManager *secMgr,
                        virDomainDef *def)
    G_NO_INLINE;

int
qemuOpenHookBuildCommandLine(virCommand *cmd,
                             qemuOpenHook *hook,
                             bool native,
                             virSecurityManager *secMgr,
                             virDomainDef *def);

int
qemuOpenHookPrepareSocket(qemuOpenHook *hook,
                          virSecurityManager *secMgr,
                          virDomainDef *def);

int
qemuOpenHookStart(qemuOpenHook *hook,
                  GMainContext *context,
                  pid_t pid);

void
qemuOpenHookNoteUnhookedDomain(bool running);
