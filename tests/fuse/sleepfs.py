#!/usr/bin/python3
"""sleepfs: a FUSE file system whose open() hangs, for the open hook's tests.

   sleepfs.py MOUNTPOINT [--sleep SECONDS] [--trigger FILE] [--release FILE]
              [--size BYTES] [--allow-other]

Three files, all SIZE bytes of zeros (1 MiB by default):

  fast.img   opens at once
  hang.img   open() sleeps SECONDS (default: forever, i.e. until released);
             with --trigger, only while FILE exists (so a guest can be
             started on it and made to hang later); with --release, an
             open ends as soon as FILE exists (the open then succeeds)
  flush.img  opens at once, but a close() by root (its FUSE flush) sleeps
             as an open of hang.img does: root's copy of an fd it handed
             on, closed after the open succeeded

The process runs in the foreground until the file system is unmounted
(fusermount3 -u, umount, or an abort through /sys/fs/fuse/connections).
It serves requests on several threads, so lookups and stats keep working
while an open sleeps, as on a hung NFS server with cached attributes.
Needs python3-fusepy (Debian) and /dev/fuse; run as root.
"""

import argparse
import errno
import os
import stat
import sys
import threading
import time

try:
    from fusepy import FUSE, FuseOSError, Operations, fuse_get_context
except ImportError:  # fusepy's upstream module name
    from fuse import FUSE, FuseOSError, Operations, fuse_get_context

FILES = ("fast.img", "hang.img", "flush.img")


class SleepFS(Operations):
    def __init__(self, args):
        self.args = args
        self.now = time.time()
        self._mu = threading.Lock()
        self.fh = 0

    def _file(self, path):
        if path[1:] not in FILES:
            raise FuseOSError(errno.ENOENT)

    def getattr(self, path, fh=None):
        base = dict(st_uid=0, st_gid=0, st_atime=self.now,
                    st_mtime=self.now, st_ctime=self.now)
        if path == "/":
            return dict(base, st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        self._file(path)
        return dict(base, st_mode=stat.S_IFREG | 0o666, st_nlink=1,
                    st_size=self.args.size)

    def readdir(self, path, fh):
        return [".", ".."] + list(FILES)

    def _hang(self):
        a = self.args
        if a.trigger and not os.path.exists(a.trigger):
            return
        end = None if a.sleep < 0 else time.monotonic() + a.sleep
        while end is None or time.monotonic() < end:
            if a.release and os.path.exists(a.release):
                return
            time.sleep(0.05)

    def open(self, path, flags):
        self._file(path)
        if path == "/hang.img":
            self._hang()
        with self._mu:
            self.fh += 1
            return self.fh

    def flush(self, path, fh):
        uid, _, _ = fuse_get_context()
        if path == "/flush.img" and uid == 0:
            self._hang()
        return 0

    def read(self, path, size, offset, fh):
        size = max(0, min(size, self.args.size - offset))
        return bytes(size)

    def write(self, path, data, offset, fh):
        return len(data)

    def truncate(self, path, length, fh=None):
        pass

    # ownership and labels that libvirt may set: accepted, not kept
    def chmod(self, path, mode):
        self._file(path)

    def chown(self, path, uid, gid):
        self._file(path)

    def statfs(self, path):
        return dict(f_bsize=4096, f_frsize=4096, f_blocks=1024, f_bfree=0,
                    f_bavail=0, f_files=2, f_ffree=0, f_namemax=255)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mountpoint")
    p.add_argument("--sleep", type=float, default=-1)
    p.add_argument("--trigger")
    p.add_argument("--release")
    p.add_argument("--size", type=int, default=1 << 20)
    p.add_argument("--allow-other", action="store_true")
    a = p.parse_args()
    FUSE(SleepFS(a), a.mountpoint, foreground=True, nothreads=False,
         allow_other=a.allow_other, fsname="sleepfs", default_permissions=False)


if __name__ == "__main__":
    sys.exit(main())
