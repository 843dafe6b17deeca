#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Real storage servers for QEMU block-layer tests, on 127.0.0.1 only.

    servers.py start --dir DIR [--only ceph,iscsi,nbd,nbdkit] [--size-mib 64]
                     [--lifetime SECS] [--owner PID] [--qemu-nbd PATH]
    servers.py stop --dir DIR
    servers.py kill|pause|resume|restart NAME --dir DIR

NAME is one of:
  ceph    one monitor, one manager, one bluestore OSD on a sparse file,
          cephx on; pool 'xenpv' (size 1) with the RBD image 'disk'
  iscsi   tgtd; target iqn.2026-12.test.xen-pv:disk, LUN 1 on a sparse
          file with thin provisioning (UNMAP punches holes in the file)
  nbd     qemu-nbd (default: the repo's build/qemu/qemu-nbd), export 'disk'
  nbdkit  nbdkit's file plugin (any export name), its requests logged by the
          log filter

'start' picks free ports, starts the servers, waits until each serves,
writes DIR/servers.env (shell KEY=VALUE lines, also printed on stdout) and
exits 0; on failure it prints the server's log tail, stops what it started
and exits 1.  It leaves a detached watchdog that stops the servers after
--lifetime seconds (default 3600), as soon as the --owner process is gone,
or when DIR is removed.  'kill' sends SIGKILL to the serving process (for
ceph: the OSD), 'pause'/'resume' SIGSTOP/SIGCONT; 'restart' starts it again
on the same port with the same data.  'stop' ends everything of DIR.

Everything (data, configs, logs, PID files "PID STARTTIME") is under DIR,
and only recorded PIDs whose start time still matches are signalled.

    eval "$(tests/storage/servers.py start --dir $T --owner $$)"
    qemu-io -f raw -c 'write 0 1M' "$NBD_URL"        # or $RBD_FILENAME...
    tests/storage/servers.py kill nbd --dir $T
    tests/storage/servers.py restart nbd --dir $T
    tests/storage/servers.py stop --dir $T
"""

import argparse
import json
import os
import random
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid

NAMES = ('ceph', 'iscsi', 'nbd', 'nbdkit')
# the first process of each is the one kill/pause/resume/restart act on
PROCS = {'ceph': ('ceph-osd', 'ceph-mgr', 'ceph-mon'), 'iscsi': ('tgtd',),
         'nbd': ('qemu-nbd',), 'nbdkit': ('nbdkit',)}
NEEDS = {'ceph': [('ceph', 'ceph-common'), ('ceph-authtool', 'ceph-common'),
                  ('rbd', 'ceph-common'), ('monmaptool', 'ceph-base'),
                  ('ceph-mon', 'ceph-mon'), ('ceph-mgr', 'ceph-mgr'),
                  ('ceph-osd', 'ceph-osd')],
         'iscsi': [('tgtd', 'tgt'), ('tgtadm', 'tgt')],
         'nbd': [], 'nbdkit': [('nbdkit', 'nbdkit')]}
IQN = 'iqn.2026-12.test.xen-pv:disk'
QEMU_NBD = os.path.normpath(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), '../../build/qemu/qemu-nbd'))


class Fail(Exception):
    def __init__(self, msg, log=None):
        super().__init__(msg)
        self.log = log


# ---- processes, known by PID and start time (against PID reuse)

def starttime(pid, exiting=False):
    """The start time of a live process; with exiting, also of a zombie
    whose other threads still run (and may hold its sockets)."""
    try:
        with open(f'/proc/{pid}/stat') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        if fields[0] in 'ZX' and (
                not exiting or os.listdir(f'/proc/{pid}/task') == [str(pid)]):
            return None
        return fields[19]
    except (OSError, IndexError):
        return None


def pidfile(d, proc):
    return f'{d}/pids/{proc}.pid'


def record(d, proc, pid):
    with open(pidfile(d, proc), 'w') as f:
        f.write(f'{pid} {starttime(pid)}\n')


def recorded(d, proc):
    """(pid, start time) of a live recorded process, else None."""
    try:
        with open(pidfile(d, proc)) as f:
            pid, st = f.read().split()
    except (OSError, ValueError):
        return None
    return (int(pid), st) if starttime(int(pid)) == st else None


def alive(rec):
    return rec and starttime(rec[0]) == rec[1]


def signal_proc(rec, sig):
    if alive(rec):
        try:
            os.kill(rec[0], sig)
        except ProcessLookupError:
            pass


def wait_gone(recs, timeout):
    """Wait until the processes have exited (their ports then are free)."""
    end = time.time() + timeout
    while time.time() < end:
        if all(starttime(r[0], True) != r[1] for r in recs if r):
            return True
        time.sleep(0.05)
    return False


def terminate(procs, timeout=10):
    """Send each (pid, start time) its signal (and SIGCONT, should it be
    paused), wait for them to exit, SIGKILL the late ones."""
    for rec, sig in procs:
        signal_proc(rec, sig)
        signal_proc(rec, signal.SIGCONT)
    recs = [rec for rec, _ in procs]
    if not wait_gone(recs, timeout):
        for rec in recs:
            signal_proc(rec, signal.SIGKILL)
        wait_gone(recs, 5)


def all_procs():
    return [p for n in NAMES for p in PROCS[n]]


def stop_procs(recs):
    """Stop {process name: (pid, start time)}.  tgtd ignores SIGTERM, Ceph's
    daemons take seconds to obey it; SIGKILL loses nothing of theirs (their
    writes are in the page cache or in their journals)."""
    terminate([(r, signal.SIGTERM if p in ('qemu-nbd', 'nbdkit')
                else signal.SIGKILL) for p, r in recs.items()])


def stop_all(d):
    stop_procs({p: recorded(d, p) for p in all_procs()})
    terminate([(recorded(d, 'watchdog'), signal.SIGTERM)], 2)
    remove_tgt_socket(load_state(d))


def remove_tgt_socket(state):
    """tgtd's control socket is outside DIR, and left behind by SIGKILL."""
    for suffix in ('', '.lock') if state else ():
        path = f'/var/run/tgtd/socket.{state["tgt_control"]}{suffix}'
        if os.path.exists(path):
            os.unlink(path)


def spawn(d, proc, argv, log):
    """Start a daemon by double fork, so that it is a child of init before
    it runs (nbdkit sets PR_SET_PDEATHSIG even without --exit-with-parent)."""
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.write(fd, f'=== {time.ctime()}: {shlex.join(argv)}\n'.encode())
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        try:
            os.close(r)
            os.setsid()
            middle = os.getpid()
            if os.fork():
                os._exit(0)
            os.write(w, str(os.getpid()).encode())
            while os.getppid() == middle:
                time.sleep(0.001)
            for sig in (signal.SIGPIPE, signal.SIGXFSZ):    # Python's SIG_IGN
                signal.signal(sig, signal.SIG_DFL)
            os.dup2(os.open('/dev/null', os.O_RDONLY), 0)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.closerange(3, 1 << 16)
            os.execvp(argv[0], argv)
        except BaseException as e:
            os.write(2, f'cannot run {argv[0]}: {e}\n'.encode())
        finally:
            os._exit(127)
    os.close(w)
    os.close(fd)
    pid = int(os.read(r, 32) or 0)
    os.close(r)
    os.waitpid(child, 0)
    if not pid:
        raise Fail(f'cannot start {proc}', log)
    record(d, proc, pid)


# ---- helpers

def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def tgt_control_port():
    """tgtd's -C N (N <= 32767) names /var/run/tgtd/socket.N."""
    while True:
        n = random.randint(1024, 32767)
        if not os.path.exists(f'/var/run/tgtd/socket.{n}'):
            return n


def run(argv, timeout=60, log=None):
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, text=True,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Fail(f'timed out after {timeout}s: {shlex.join(argv)}', log)
    if r.returncode:
        raise Fail(f'{shlex.join(argv)} failed (exit {r.returncode}):\n'
                   f'{r.stdout}{r.stderr}'.rstrip(), log)
    return r.stdout


def wait_ready(d, proc, log, probe, timeout=60):
    """Poll probe() until it returns without raising."""
    end = time.time() + timeout
    while True:
        if not recorded(d, proc):
            raise Fail(f'{proc} exited during start-up', log)
        try:
            return probe()
        except (OSError, ValueError, Fail) as e:
            if time.time() > end:
                raise Fail(f'{proc} not serving after {timeout}s: {e}', log)
        time.sleep(0.2)


def make_sparse(path, size_mib):
    with open(path, 'wb') as f:
        f.truncate(size_mib << 20)


def nbd_probe(port, export):
    """Fixed-newstyle NBD handshake with NBD_OPT_GO, then NBD_CMD_DISC."""
    def recvn(s, n):
        buf = b''
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise OSError('NBD server closed the connection')
            buf += chunk
        return buf
    with socket.create_connection(('127.0.0.1', port), timeout=5) as s:
        if recvn(s, 18)[:16] != b'NBDMAGICIHAVEOPT':
            raise OSError('not a newstyle NBD server')
        s.sendall(struct.pack('>I', 3))         # fixed newstyle, no zeroes
        name = export.encode()
        data = struct.pack('>I', len(name)) + name + struct.pack('>H', 0)
        s.sendall(b'IHAVEOPT' + struct.pack('>II', 7, len(data)) + data)
        while True:
            _, _, rtype, length = struct.unpack('>QIII', recvn(s, 20))
            body = recvn(s, length)
            if rtype == 1:                      # NBD_REP_ACK
                break
            if rtype & 0x80000000:
                raise OSError(f'NBD_OPT_GO refused ({rtype:#x}) {body!r}')
        s.sendall(struct.pack('>IHHQQI', 0x25609513, 0, 2, 0, 0, 0))


# ---- the servers: start_X(d, state, first) starts one (creating it first
# if first) and returns once it serves

CEPH_CONF = """[global]
fsid = {fsid}
mon host = v2:127.0.0.1:{port}
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = {c}/keyring
run dir = {c}/run
crash dir = {c}/crash
log file = {c}/log/$name.log
mon cluster log file = {c}/log/cluster.log
mon data = {c}/mon/$id
mgr data = {c}/mgr/$id
osd data = {c}/osd/$id
osd pool default size = 1
osd pool default min size = 1
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon osd down out interval = 0
mon warn on pool no redundancy = false
mon warn on osd down out interval zero = false
mon data avail warn = 1
mon data avail crit = 1
mon memory target = 268435456
paxos propose interval = 0.1
osd objectstore = bluestore
bluestore block create = true
bluestore block size = 4294967296
bluestore fsck on mkfs = false
bluestore cache autotune = false
bluestore cache size = 134217728
osd memory target = 1073741824
osd op num shards = 2
osd op num threads per shard = 1
mgr initial modules =
mgr disabled modules = alerts diskprediction_local influx insights iostat \
localpool mirroring nfs osd_perf_query osd_support prometheus restful \
selftest snap_schedule stats telegraf test_orchestrator zabbix
[mon]
admin socket = {c}/run/$name.asok
[mgr]
admin socket = {c}/run/$name.asok
[osd]
admin socket = {c}/run/$name.asok
[client]
admin socket =
log file = {c}/log/client.log
"""
CEPH_KEYS = {'mon.': ['mon', 'allow *'],
             'client.admin': ['mon', 'allow *', 'osd', 'allow *',
                              'mgr', 'allow *', 'mds', 'allow *'],
             'mgr.x': ['mon', 'allow profile mgr', 'osd', 'allow *',
                       'mds', 'allow *'],
             'osd.0': ['mon', 'allow profile osd', 'mgr', 'allow profile osd',
                       'osd', 'allow *']}


def ceph_state(d, name, prefix, want):
    """Ask a daemon's admin socket whether it is in state want yet."""
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(f'{d}/ceph/run/{name}.asok')
        s.sendall(b'{"prefix": "%s"}\0' % prefix.encode())
        data = s.makefile('rb').read()
    if json.loads(data[4:]).get('state') != want:
        raise OSError(f'{name} not {want} yet')


def start_ceph(d, state, first):
    c, port = f'{d}/ceph', state['ports']['ceph']
    conf, kr, osdlog = f'{c}/ceph.conf', f'{c}/keyring', f'{c}/log/osd.0.log'
    ceph = ['ceph', '-c', conf, '--connect-timeout', '20']
    rbd = ['rbd', '-c', conf, '--rados-osd-op-timeout', '10']
    daemon = ['-c', conf, '-f', '--setuser', 'root', '--setgroup', 'root']
    if first:
        for sub in ('mon/a', 'mgr/x', 'osd/0', 'run', 'log', 'crash'):
            os.makedirs(f'{c}/{sub}')
        state['fsid'], state['osd_uuid'] = str(uuid.uuid4()), str(uuid.uuid4())
        with open(conf, 'w') as f:
            f.write(CEPH_CONF.format(c=c, port=port, fsid=state['fsid']))
        for name, caps in CEPH_KEYS.items():
            run(['ceph-authtool', kr, '--gen-key', '-n', name]
                + [a for i in range(0, len(caps), 2)
                   for a in ('--cap', caps[i], caps[i + 1])]
                + (['--create-keyring'] if name == 'mon.' else []))
        run(['monmaptool', '--create', '--fsid', state['fsid'], '--addv',
             'a', f'[v2:127.0.0.1:{port}]', f'{c}/monmap'])
        run(['ceph-mon', '-c', conf, '--mkfs', '-i', 'a', '--monmap',
             f'{c}/monmap', '--keyring', kr])
    if not recorded(d, 'ceph-mon'):
        spawn(d, 'ceph-mon', ['ceph-mon', '-i', 'a', *daemon],
              f'{c}/log/mon.out')
        wait_ready(d, 'ceph-mon', f'{c}/log/mon.a.log',
                   lambda: ceph_state(d, 'mon.a', 'mon_status', 'leader'))
    if not recorded(d, 'ceph-mgr'):
        spawn(d, 'ceph-mgr', ['ceph-mgr', '-i', 'x', *daemon],
              f'{c}/log/mgr.out')
    if first:   # the pool first: its PGs are created as soon as the OSD is up
        run(ceph + ['osd', 'pool', 'create', 'xenpv', '8', '8'])
        run(ceph + ['osd', 'new', state['osd_uuid'], '0'])
        run(['ceph-osd', '-c', conf, '-i', '0', '--mkfs', '--osd-uuid',
             state['osd_uuid']], 120, osdlog)
    if not recorded(d, 'ceph-osd'):
        spawn(d, 'ceph-osd', ['ceph-osd', '-i', '0', *daemon],
              f'{c}/log/osd.out')
    wait_ready(d, 'ceph-osd', osdlog,
               lambda: ceph_state(d, 'osd.0', 'status', 'active'))
    if first:
        wait_ready(d, 'ceph-osd', osdlog,
                   lambda: run(rbd + ['pool', 'init', 'xenpv'], 30))
        run(rbd + ['create', '--size', str(state['size_mib']), 'xenpv/disk'],
            60, osdlog)
    wait_ready(d, 'ceph-osd', osdlog,
               lambda: run(rbd + ['info', 'xenpv/disk'], 30))


def start_iscsi(d, state, first):
    img, port = f'{d}/iscsi/disk.img', state['ports']['iscsi']
    log, ctl = f'{d}/iscsi/tgtd.log', str(state['tgt_control'])
    if first:
        make_sparse(img, state['size_mib'])
    spawn(d, 'tgtd', ['tgtd', '-f', '-C', ctl, '--iscsi',
                      f'portal=127.0.0.1:{port}'], log)
    adm = ['tgtadm', '-C', ctl, '--lld', 'iscsi', '--op']
    wait_ready(d, 'tgtd', log,
               lambda: run(adm + ['show', '--mode', 'sys'], 10, log), 20)
    lun = ['--mode', 'logicalunit', '--tid', '1', '--lun', '1']
    for args in (['new', '--mode', 'target', '--tid', '1', '-T', IQN],
                 ['new', *lun, '-b', img, '--bstype', 'rdwr'],
                 ['update', *lun, '--params', 'thin_provisioning=1'],
                 ['bind', '--mode', 'target', '--tid', '1', '-I', 'ALL']):
        run(adm + args, 10, log)
    if shutil.which('iscsi-inq'):
        url = f'iscsi://127.0.0.1:{port}/{IQN}/1'
        wait_ready(d, 'tgtd', log, lambda: run(['iscsi-inq', url], 10), 20)
    else:
        wait_ready(d, 'tgtd', log, lambda: socket.create_connection(
            ('127.0.0.1', port), 5).close(), 20)


def start_nbd(d, state, first):
    img, port = f'{d}/nbd/disk.img', state['ports']['nbd']
    if first:
        make_sparse(img, state['size_mib'])
    spawn(d, 'qemu-nbd', [state['qemu_nbd'], '--persistent', '--shared=8',
                          '-x', 'disk', '-f', 'raw', '--discard=unmap',
                          '--bind', '127.0.0.1', '--port', str(port), img],
          f'{d}/nbd/qemu-nbd.log')
    wait_ready(d, 'qemu-nbd', f'{d}/nbd/qemu-nbd.log',
               lambda: nbd_probe(port, 'disk'), 20)


def start_nbdkit(d, state, first):
    n, port = f'{d}/nbdkit', state['ports']['nbdkit']
    if first:
        make_sparse(f'{n}/disk.img', state['size_mib'])
    # The log filter records every request (NBDKIT_LOG): a test sees what
    # reached the server, a flush for instance
    spawn(d, 'nbdkit', ['nbdkit', '--foreground', '-P', f'{n}/nbdkit.pid',
                        '-i', '127.0.0.1', '-p', str(port), '--filter=log',
                        'file', f'{n}/disk.img', f'logfile={n}/requests.log'],
          f'{n}/nbdkit.log')
    wait_ready(d, 'nbdkit', f'{n}/nbdkit.log',
               lambda: nbd_probe(port, 'disk'), 20)


STARTERS = {'ceph': start_ceph, 'iscsi': start_iscsi, 'nbd': start_nbd,
            'nbdkit': start_nbdkit}


def env_lines(d, state):
    p, only, env = state['ports'], state['only'], [('SERVERS_DIR', d)]
    if 'ceph' in only:
        env += [('CEPH_CONF', f'{d}/ceph/ceph.conf'),
                ('CEPH_KEYRING', f'{d}/ceph/keyring'),
                ('CEPH_POOL', 'xenpv'), ('CEPH_IMAGE', 'disk'),
                ('CEPH_ID', 'admin'),
                ('RBD_FILENAME',
                 f'rbd:xenpv/disk:id=admin:conf={d}/ceph/ceph.conf')]
    if 'iscsi' in only:
        env += [('ISCSI_URL', f'iscsi://127.0.0.1:{p["iscsi"]}/{IQN}/1'),
                ('ISCSI_IMG', f'{d}/iscsi/disk.img')]
    if 'nbd' in only:
        env += [('NBD_URL', f'nbd://127.0.0.1:{p["nbd"]}/disk'),
                ('NBD_IMG', f'{d}/nbd/disk.img')]
    if 'nbdkit' in only:
        env += [('NBDKIT_URL', f'nbd://127.0.0.1:{p["nbdkit"]}'),
                ('NBDKIT_IMG', f'{d}/nbdkit/disk.img'),
                ('NBDKIT_LOG', f'{d}/nbdkit/requests.log')]
    return ''.join(f'{k}={shlex.quote(v)}\n' for k, v in env)


# ---- state and watchdog

def load_state(d):
    try:
        with open(f'{d}/state.json') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def save_state(d, state):
    with open(f'{d}/state.json.tmp', 'w') as f:
        json.dump(state, f, indent=1)
    os.replace(f'{d}/state.json.tmp', f'{d}/state.json')


def doomed(d, state):
    """Why the servers of DIR must go now, or None."""
    owner = state['owner']
    return ('lifetime over' if time.time() > state['deadline'] else
            f'owner {owner[0]} gone' if owner and not alive(owner) else
            f'{d} removed' if not os.path.isdir(d) else None)


def start_watchdog(d):
    spawn(d, 'watchdog', [sys.executable, os.path.abspath(__file__),
                          'watchdog', '--dir', d], f'{d}/watchdog.log')


def cmd_watchdog(args):
    """Stop the servers when doomed(), then exit; exit too when they have
    all been gone for 30 s.  Lists the PIDs it knows in pids/watchdog.known
    (see sync_watchdog)."""
    d = os.path.abspath(args.dir)
    state = load_state(d)
    known, told, idle_since = {}, None, time.time()
    while state:
        for p in all_procs():
            known[p] = recorded(d, p) or known.get(p)
        known = {p: r for p, r in known.items() if alive(r)}
        why = doomed(d, state)
        if why:
            print(f'{time.ctime()}: {why}, stopping {known}', flush=True)
            stop_procs(known)
            remove_tgt_socket(state)
            return
        pids = ' '.join(str(r[0]) for r in known.values())
        if pids != told:
            with open(f'{d}/pids/watchdog.tmp', 'w') as f:
                f.write(pids + '\n')
            os.replace(f'{d}/pids/watchdog.tmp', f'{d}/pids/watchdog.known')
            told = pids
        if known:
            idle_since = time.time()
        elif time.time() > idle_since + 30:
            return
        time.sleep(0.25)


def sync_watchdog(d):
    """Wait until the watchdog knows all servers, so that it can stop them
    even if DIR is removed right away."""
    want = {str(r[0]) for r in map(lambda p: recorded(d, p), all_procs())
            if r}
    end = time.time() + 5
    while time.time() < end and recorded(d, 'watchdog'):
        try:
            with open(f'{d}/pids/watchdog.known') as f:
                if want <= set(f.read().split()):
                    return
        except OSError:
            pass
        time.sleep(0.05)


# ---- commands

def report(e):
    print(f'servers.py: error: {e}', file=sys.stderr)
    log = getattr(e, 'log', None)
    if log and os.path.exists(log):
        with open(log, errors='replace') as f:
            tail = ''.join(f.readlines()[-30:])
        print(f'--- last lines of {log}:\n{tail}---', file=sys.stderr)


def cmd_start(args):
    d = os.path.abspath(args.dir)
    only = args.only.split(',') if args.only else list(NAMES)
    if set(only) - set(NAMES):
        sys.exit(f'servers.py: --only takes some of {",".join(NAMES)}')
    need = [f'{prog} (Debian package {pkg})' for n in only
            for prog, pkg in NEEDS[n] if not shutil.which(prog)]
    if 'nbd' in only and not os.access(args.qemu_nbd, os.X_OK):
        need.append(f'{args.qemu_nbd} (is the QEMU build finished? '
                    'else pass --qemu-nbd PATH)')
    if any(c in d for c in ' \t\n:,=\'"\\'):
        need.append(f'a DIR without blanks, quotes or :,= (not {d!r})')
    if 'ceph' in only and len(d) > 80:
        need.append('a DIR of at most 80 characters (for Ceph\'s sockets)')
    if need:
        sys.exit('servers.py: need ' + ', '.join(need))
    os.makedirs(d, exist_ok=True)
    if any(recorded(d, p) for p in all_procs()):
        sys.exit(f'servers.py: servers of {d} are running; stop them first')
    owner = args.owner and [args.owner, starttime(args.owner)]
    if owner and not owner[1]:
        sys.exit(f'servers.py: owner process {args.owner} does not exist')
    terminate([(recorded(d, 'watchdog'), signal.SIGTERM)], 2)
    for old in ('pids', *NAMES):
        shutil.rmtree(f'{d}/{old}', ignore_errors=True)
    for old in ('state.json', 'servers.env', 'watchdog.log'):
        if os.path.exists(f'{d}/{old}'):
            os.unlink(f'{d}/{old}')
    for new in ('pids', *only):
        os.makedirs(f'{d}/{new}')
    state = {'only': only, 'size_mib': args.size_mib, 'owner': owner,
             'ports': {n: free_port() for n in only},
             'deadline': time.time() + args.lifetime,
             'qemu_nbd': os.path.abspath(args.qemu_nbd),
             'tgt_control': tgt_control_port()}
    save_state(d, state)
    start_watchdog(d)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda n, _: sys.exit(f'servers.py: signal {n}'))
    try:
        for n in only:
            t = time.time()
            STARTERS[n](d, state, True)
            save_state(d, state)
            print(f'servers.py: {n} serving after {time.time() - t:.1f}s',
                  file=sys.stderr)
    except BaseException as e:
        if owner and not alive(owner):
            e = Fail(f'owner process {owner[0]} exited during start-up')
        report(e)
        stop_all(d)
        sys.exit(1)
    sync_watchdog(d)
    env = env_lines(d, state)
    with open(f'{d}/servers.env', 'w') as f:
        f.write(env)
    sys.stdout.write(env)


def cmd_stop(args):
    stop_all(os.path.abspath(args.dir))


def cmd_fault(args):
    d = os.path.abspath(args.dir)
    state = load_state(d)
    if not state or args.name not in state['only']:
        sys.exit(f'servers.py: {args.name} was not started in {d}')
    proc = PROCS[args.name][0]
    rec = recorded(d, proc)
    if args.cmd == 'restart':
        if doomed(d, state):
            sys.exit(f'servers.py: not restarting: {doomed(d, state)}')
        try:
            stop_procs({proc: rec})
            STARTERS[args.name](d, state, False)
        except Fail as e:
            report(e)
            sys.exit(1)
        if not recorded(d, 'watchdog'):
            start_watchdog(d)
        sync_watchdog(d)
        return
    if not rec:
        sys.exit(f'servers.py: {proc} is not running')
    os.kill(rec[0], {'kill': signal.SIGKILL, 'pause': signal.SIGSTOP,
                     'resume': signal.SIGCONT}[args.cmd])
    if args.cmd == 'kill':
        wait_gone([rec], 10)


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('start')
    s.add_argument('--only', help='comma-separated subset of '
                   + ','.join(NAMES) + ' (default: all)')
    s.add_argument('--size-mib', type=int, default=64)
    s.add_argument('--lifetime', type=float, default=3600)
    s.add_argument('--owner', type=int, help='stop when this PID is gone')
    s.add_argument('--qemu-nbd', default=QEMU_NBD)
    s.set_defaults(func=cmd_start)
    sub.add_parser('stop').set_defaults(func=cmd_stop)
    for c in ('kill', 'pause', 'resume', 'restart'):
        s = sub.add_parser(c)
        s.add_argument('name', choices=NAMES)
        s.set_defaults(func=cmd_fault)
    sub.add_parser('watchdog', help='(internal)').set_defaults(
        func=cmd_watchdog)
    for s in sub.choices.values():
        s.add_argument('--dir', required=True)
    args = ap.parse_args()
    args.func(args)


if __name__ == '__main__':
    main()
