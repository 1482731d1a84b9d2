/*
 * openhook-client.c: ask an open-hook broker for files, for scripts
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
 *   openhook-client -s SOCK open /img/top.qcow2 rdwr,direct
 *   openhook-client --fd 3 cat /img/base.qcow2 > copy
 *
 * Exit status: 0 all requests granted, 1 one was denied, 2 usage or
 * channel error.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "viropenhookclient.h"
#include "viropenhookproto.h"

static const struct {
    const char *name;
    int flag;
} clientFlags[] = {
    { "rdonly", O_RDONLY }, { "wronly", O_WRONLY }, { "rdwr", O_RDWR },
    { "creat", O_CREAT }, { "excl", O_EXCL }, { "trunc", O_TRUNC },
    { "append", O_APPEND }, { "direct", O_DIRECT }, { "sync", O_SYNC },
    { "dsync", O_DSYNC }, { "nonblock", O_NONBLOCK }, { "cloexec", O_CLOEXEC },
    { "noatime", O_NOATIME }, { "nofollow", O_NOFOLLOW }, { "noctty", O_NOCTTY },
    { "path", O_PATH }, { "tmpfile", O_TMPFILE }, { "directory", O_DIRECTORY },
    { "async", O_ASYNC },
};


/* "rdwr,creat,direct" or a number (0x..., 0...). */
static bool
clientParseFlags(const char *str,
                 int *flags)
{
    g_auto(GStrv) words = g_strsplit(str, ",", -1);
    size_t i;
    size_t j;

    *flags = 0;
    for (i = 0; words[i]; i++) {
        bool found = false;
        char *end = NULL;
        long val;

        for (j = 0; j < G_N_ELEMENTS(clientFlags); j++) {
            if (g_str_equal(words[i], clientFlags[j].name)) {
                *flags |= clientFlags[j].flag;
                found = true;
            }
        }
        if (found)
            continue;
        val = g_ascii_strtoll(words[i], &end, 0);
        if (!*words[i] || *end) {
            fprintf(stderr, "unknown flag '%s'\n", words[i]);
            return false;
        }
        *flags |= (int)val;
    }
    return true;
}


static int
clientCat(int fd)
{
    g_autofree char *buf = g_malloc(65536);
    ssize_t n;

    while ((n = read(fd, buf, 65536)) > 0) {
        if (fwrite(buf, 1, n, stdout) != (size_t)n)
            return -EIO;
    }
    return n < 0 ? -errno : 0;
}


int
main(int argc,
     char **argv)
{
    g_autofree char *sockpath = NULL;
    gint sockfd = -1;
    gint mode = 0600;
    gboolean keep = FALSE;
    g_auto(GStrv) args = NULL;
    GOptionEntry entries[] = {
        { "socket", 's', 0, G_OPTION_ARG_FILENAME, &sockpath,
          "connect to this UNIX socket", "PATH" },
        { "fd", 0, 0, G_OPTION_ARG_INT, &sockfd,
          "use this inherited socket (e.g. $OPENHOOK_FD)", "N" },
        { "mode", 0, 0, G_OPTION_ARG_INT, &mode,
          "mode for O_CREAT (decimal; default 384 = 0600)", "MODE" },
        { "keep", 'k', 0, G_OPTION_ARG_NONE, &keep,
          "keep every fd open until exit (no CLOSE)", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_STRING_ARRAY, &args,
          NULL, "open PATH [FLAGS] | cat PATH ..." },
        { NULL, 0, 0, 0, NULL, NULL, NULL },
    };
    g_autoptr(GOptionContext) ctx = g_option_context_new("- open-hook client");
    g_autoptr(GError) err = NULL;
    g_autoptr(virOpenHookClient) client = NULL;
    int status = 0;
    int rc;
    size_t i;

    g_option_context_add_main_entries(ctx, entries, NULL);
    if (!g_option_context_parse(ctx, &argc, &argv, &err)) {
        fprintf(stderr, "%s\n", err->message);
        return 2;
    }
    if (!args || (!sockpath && sockfd < 0)) {
        fprintf(stderr, "usage: openhook-client -s SOCK|--fd N open PATH [FLAGS] | cat PATH ...\n");
        return 2;
    }

    if (sockpath) {
        rc = virOpenHookClientConnect(sockpath, &client);
    } else {
        client = virOpenHookClientNew(sockfd);
        rc = virOpenHookClientHello(client);
    }
    if (rc < 0) {
        fprintf(stderr, "cannot talk to broker: %s\n", g_strerror(-rc));
        return 2;
    }

    for (i = 0; args[i]; i++) {
        const char *cmd = args[i];
        const char *path = args[i + 1];
        bool cat = g_str_equal(cmd, "cat");
        int flags = O_RDONLY | O_CLOEXEC;
        uint64_t handle;
        struct stat st;
        int fd;

        if ((!cat && !g_str_equal(cmd, "open")) || !path) {
            fprintf(stderr, "expected 'open PATH [FLAGS]' or 'cat PATH'\n");
            return 2;
        }
        i++;
        if (!cat && args[i + 1] && args[i + 1][0] != '/' &&
            !g_str_equal(args[i + 1], "open") && !g_str_equal(args[i + 1], "cat")) {
            if (!clientParseFlags(args[++i], &flags))
                return 2;
        }

        if ((fd = virOpenHookClientOpen(client, path, flags, mode, &handle)) < 0) {
            fprintf(cat ? stderr : stdout, "open %s: error %d (%s)\n",
                    path, fd, g_strerror(-fd));
            if (virOpenHookClientIsDead(client))
                return 2;
            status = 1;
            continue;
        }
        if (cat) {
            if ((rc = clientCat(fd)) < 0) {
                fprintf(stderr, "read %s: %s\n", path, g_strerror(-rc));
                status = 1;
            }
        } else if (fstat(fd, &st) == 0) {
            printf("open %s: ok handle=%" G_GUINT64_FORMAT " dev=%lu ino=%lu size=%lld\n",
                   path, (guint64)handle, (unsigned long)st.st_dev,
                   (unsigned long)st.st_ino, (long long)st.st_size);
        }
        if (!keep) {
            virOpenHookCloseFD(&fd);
            if (virOpenHookClientClose(client, handle) < 0)
                return 2;
        }
    }
    fflush(stdout);
    return status;
}
