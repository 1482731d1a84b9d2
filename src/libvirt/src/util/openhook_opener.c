/*
 * openhook_opener.c: the open hook's opener, as a program of its own
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
 * libvirt_openhook_opener CTRL-FD ASYNC-FD
 *
 * The daemon execs it, as libvirt execs libvirt_iohelper, with QEMU's
 * uid, gid, groups and security label and no capabilities, so that it
 * holds none of the daemon's memory and can do nothing QEMU could not.
 * It serves the two channels it inherits (see viropenhookopener.h)
 * until the daemon hangs up, and refuses to run as root.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <glib.h>

#include "viropenhookopener.h"


static int
openhookOpenerParseFD(const char *arg)
{
    char *end = NULL;
    gint64 fd;

    errno = 0;
    fd = g_ascii_strtoll(arg, &end, 10);
    if (errno != 0 || !end || *end != '\0' || end == arg ||
        fd < 0 || fd > 65535 || fcntl((int)fd, F_GETFD) < 0)
        return -1;
    return (int)fd;
}


int
main(int argc,
     char **argv)
{
    int ctrl;
    int async;

    if (argc != 3 ||
        (ctrl = openhookOpenerParseFD(argv[1])) < 0 ||
        (async = openhookOpenerParseFD(argv[2])) < 0 ||
        ctrl == async) {
        fprintf(stderr, "usage: %s CTRL-FD ASYNC-FD\n"
                "(run by libvirt's open hook, not by hand)\n",
                argc > 0 ? argv[0] : VIR_OPENHOOK_OPENER_PROGRAM);
        return EXIT_FAILURE;
    }

    /* Refuses root, reports why on @ctrl, serves until the daemon
     * hangs up */
    virOpenHookOpenerChildMain(ctrl, async);
}
