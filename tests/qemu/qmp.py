#!/usr/bin/env python3
"""Minimal QMP client for the open-hook tests.

usage: qmp.py SOCKET 'CMD [JSON-ARGS]'...

Connects (waiting up to 10 s for the socket), negotiates capabilities,
runs each command and prints one line per command: the command name, then
"ok" or "error: <desc>", then the JSON return value.  Events are skipped,
except by the pseudo-command 'wait-job ID': it waits up to 60 s for the
BLOCK_JOB_COMPLETED event of job ID (even one that came before) and prints
"wait-job ok ID" or "wait-job error: <the job's error, or timeout>".
Exit status 0 even if commands fail; the caller checks the lines.
"""
import json
import socket
import sys
import time


def main():
    path = sys.argv[1]
    deadline = time.time() + 10
    while True:
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(path)
            break
        except OSError:
            s.close()
            if time.time() > deadline:
                print("qmp: cannot connect to %s" % path, file=sys.stderr)
                return 2
            time.sleep(0.1)
    f = s.makefile('rw')
    events = []

    def reply():
        while True:
            line = f.readline()
            if not line:
                raise SystemExit("qmp: connection closed")
            msg = json.loads(line)
            if 'event' in msg:
                events.append(msg)
                continue
            return msg

    def wait_job(job):
        s.settimeout(60)
        try:
            while True:
                for ev in events:
                    data = ev.get('data', {})
                    if (ev['event'] == 'BLOCK_JOB_COMPLETED' and
                            data.get('device') == job):
                        if 'error' in data:
                            return 'error: %s' % data['error']
                        return 'ok %s' % job
                line = f.readline()
                if not line:
                    return 'error: connection closed'
                msg = json.loads(line)
                if 'event' in msg:
                    events.append(msg)
        except OSError:
            return 'error: timeout'
        finally:
            s.settimeout(None)

    json.loads(f.readline())  # greeting
    f.write(json.dumps({'execute': 'qmp_capabilities'}) + '\n')
    f.flush()
    reply()
    for cmd in sys.argv[2:]:
        name, _, args = cmd.partition(' ')
        if name == 'wait-job':
            print('wait-job %s' % wait_job(args))
            sys.stdout.flush()
            continue
        req = {'execute': name}
        if args:
            req['arguments'] = json.loads(args)
        f.write(json.dumps(req) + '\n')
        f.flush()
        if name == 'quit':
            # the reply (or EOF if QEMU exits first), and then disconnect:
            # qemu-storage-daemon 7.2 only leaves its main loop on the
            # next event after 'quit'
            f.readline()
            print('quit ok')
            break
        msg = reply()
        if 'error' in msg:
            print('%s error: %s' % (name, msg['error']['desc']))
        else:
            print('%s ok %s' % (name, json.dumps(msg['return'])))
        sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main())
