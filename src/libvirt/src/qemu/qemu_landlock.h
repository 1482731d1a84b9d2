/*
 * qemu_landlock.h: confine QEMU with Landlock
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

#include "qemu_conf.h"
#include "vircommand.h"
#include "virlandlock.h"

typedef enum {
    /* skip the path if it does not exist */
    QEMU_LANDLOCK_RULE_OPTIONAL = (1 << 0),
    /* a program: READ and EXEC on it and on its ELF interpreter */
    QEMU_LANDLOCK_RULE_EXECUTABLE = (1 << 1),
    /* added in the child once its mount namespace is set up */
    QEMU_LANDLOCK_RULE_CHILD = (1 << 2),
} qemuLandlockRuleFlags;

typedef struct _qemuLandlockRule qemuLandlockRule;
struct _qemuLandlockRule {
    char *path;
    unsigned int access;    /* virLandlockAccess */
    unsigned int flags;     /* qemuLandlockRuleFlags */
};

typedef struct _qemuLandlockRules qemuLandlockRules;
struct _qemuLandlockRules {
    size_t nrules;
    qemuLandlockRule *rules;
};

void
qemuLandlockRulesFree(qemuLandlockRules *rules);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(qemuLandlockRules, qemuLandlockRulesFree);

qemuLandlockRules *
qemuLandlockBuildRules(virQEMUDriver *driver,
                       virDomainObj *vm);

char *
qemuLandlockRulesFormat(const qemuLandlockRules *rules);

int
qemuLandlockRulesetNew(const qemuLandlockRules *rules,
                       virLandlockRuleset **rs);

int
qemuLandlockAddChildRules(const qemuLandlockRules *rules,
                          virLandlockRuleset *rs);

int
qemuLandlockPrepareCommand(virQEMUDriver *driver,
                           virDomainObj *vm,
                           virCommand *cmd,
                           qemuLandlockRules **rules,
                           virLandlockRuleset **rs);
