/*
 * openhook-landlock.c: run a command confined by a Landlock ruleset
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
 *
 * What libvirt's qemu driver does in its pre-exec hook, for testing the
 * QEMU side without libvirt:
 *
 *   openhook-broker -r /img/base.qcow2 -r /img/top.qcow2 -- \
 *       openhook-landlock -x /usr -r /etc -- \
 *       qemu-img --open-hook-fd @FD@ info --backing-chain /img/top.qcow2
 *
 * Every fd is inherited (the open-hook socket too); the ruleset's own
 * fd is not.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "virlandlock.h"

/* Like env(1): 125 for our own failures, 126/127 if exec fails. */
#define TOOL_EXIT_FAILURE 125


int
main(int argc,
     char **argv)
{
    g_auto(GStrv) readPaths = NULL;
    g_auto(GStrv) execPaths = NULL;
    g_auto(GStrv) writePaths = NULL;
    g_auto(GStrv) devPaths = NULL;
    g_auto(GStrv) programs = NULL;
    g_auto(GStrv) command = NULL;
    gboolean optional = FALSE;
    gboolean verbose = FALSE;
    gboolean logExec = FALSE;
    GOptionEntry entries[] = {
        { "read", 'r', 0, G_OPTION_ARG_FILENAME_ARRAY, &readPaths,
          "read files and list directories beneath PATH", "PATH" },
        { "exec", 'x', 0, G_OPTION_ARG_FILENAME_ARRAY, &execPaths,
          "like -r, and execute files beneath PATH", "PATH" },
        { "write", 'w', 0, G_OPTION_ARG_FILENAME_ARRAY, &writePaths,
          "like -r, and write, truncate, create (files, directories, sockets, "
          "FIFOs, symlinks) and remove beneath PATH", "PATH" },
        { "dev", 'd', 0, G_OPTION_ARG_FILENAME_ARRAY, &devPaths,
          "read, write and ioctl device nodes beneath PATH", "PATH" },
        { "program", 'e', 0, G_OPTION_ARG_FILENAME_ARRAY, &programs,
          "read and execute the program PATH and its ELF interpreter", "PATH" },
        { "optional", 'o', 0, G_OPTION_ARG_NONE, &optional,
          "skip paths that do not exist", NULL },
        { "log-exec", 'l', 0, G_OPTION_ARG_NONE, &logExec,
          "audit COMMAND's denials (Landlock ABI 7)", NULL },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose,
          "print the ABI and the rules on stderr", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &command,
          NULL, "-- COMMAND [ARG]..." },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- run COMMAND under Landlock");
    g_autoptr(GError) err = NULL;
    g_autoptr(virLandlockRuleset) rs = NULL;
    g_autofree char *errmsg = NULL;
    const struct {
        const char *kind;
        unsigned int access;
        char ***paths;
    } rules[] = {
        { "read", VIR_LANDLOCK_ACCESS_RO, &readPaths },
        { "exec", VIR_LANDLOCK_ACCESS_RX, &execPaths },
        { "write", VIR_LANDLOCK_ACCESS_RUNTIME_DIR, &writePaths },
        { "dev", VIR_LANDLOCK_ACCESS_DEV, &devPaths },
    };
    unsigned int restrictFlags = VIR_LANDLOCK_RESTRICT_NO_NEW_PRIVS;
    size_t i;
    int rc;

    g_option_context_add_main_entries(ctx, entries, NULL);
    g_option_context_set_description(ctx,
        "Everything else on the filesystem is denied to COMMAND and what it\n"
        "executes, except files it inherits open or receives as fds.  Symlinks\n"
        "in PATH are followed: the rule is bound to the target.  no_new_privs\n"
        "is set.  Exit status: COMMAND's, or 125 if the ruleset cannot be\n"
        "applied, 126 if COMMAND cannot be executed, 127 if it is not found.\n");
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "openhook-landlock: %s\n", err->message);
        return TOOL_EXIT_FAILURE;
    }
    if (!command || !command[0]) {
        fprintf(stderr, "openhook-landlock: need -- COMMAND\n");
        return TOOL_EXIT_FAILURE;
    }

    if ((rc = virLandlockRulesetNew(&rs, &errmsg)) < 0) {
        fprintf(stderr, "openhook-landlock: %s\n", errmsg);
        return TOOL_EXIT_FAILURE;
    }
    if (verbose)
        fprintf(stderr, "openhook-landlock: ABI %d (kernel %d), handled 0x%llx\n",
                virLandlockRulesetGetABI(rs), virLandlockGetABI(),
                (unsigned long long)virLandlockRulesetGetHandled(rs));

    for (i = 0; i < G_N_ELEMENTS(rules); i++) {
        size_t j;

        for (j = 0; *rules[i].paths && (*rules[i].paths)[j]; j++) {
            const char *path = (*rules[i].paths)[j];

            rc = virLandlockRulesetAddPath(rs, path, rules[i].access,
                                           optional ? VIR_LANDLOCK_PATH_OPTIONAL : 0,
                                           &errmsg);
            if (rc < 0) {
                fprintf(stderr, "openhook-landlock: %s\n", errmsg);
                return TOOL_EXIT_FAILURE;
            }
            if (verbose)
                fprintf(stderr, "openhook-landlock: %s %s%s\n", rules[i].kind, path,
                        rc == 1 ? " (does not exist, skipped)" : "");
        }
    }

    for (i = 0; programs && programs[i]; i++) {
        if (virLandlockRulesetAddExecutable(rs, programs[i], &errmsg) < 0) {
            fprintf(stderr, "openhook-landlock: %s\n", errmsg);
            return TOOL_EXIT_FAILURE;
        }
        if (verbose)
            fprintf(stderr, "openhook-landlock: program %s\n", programs[i]);
    }

    if (logExec)
        restrictFlags |= VIR_LANDLOCK_RESTRICT_LOG_NEW_EXEC;
    if ((rc = virLandlockRulesetRestrictSelf(rs, restrictFlags)) < 0) {
        fprintf(stderr, "openhook-landlock: cannot apply the ruleset: %s\n",
                g_strerror(-rc));
        return TOOL_EXIT_FAILURE;
    }

    execvp(command[0], command);
    rc = errno;
    fprintf(stderr, "openhook-landlock: cannot execute %s: %s\n",
            command[0], g_strerror(rc));
    return rc == ENOENT ? 127 : 126;
}
