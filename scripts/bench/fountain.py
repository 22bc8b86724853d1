"""The fountain benchmark (not a test): bf-console seeders on hosts of their own (network
namespaces on one bridge, each host's upload shaped by `tc tbf`), a downloader that is
bf-console with the fountain exchange, bf-console without it (--no-fountain), or
libtorrent, all against the same seeders, in the scenarios of docs/fountain-results.md.

Run through scripts/bench-fountain.sh (root, the release build, /usr/bin/python3 with
libtorrent). Writes results.jsonl in the work folder: one JSON object per download.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

WORK = os.environ.get('BENCH_DIR', '/tmp/bf-bench-fountain')
BIN = os.environ['BF_BIN']
ROOT = os.environ['BF_ROOT']
RUNS = int(os.environ.get('RUNS', '3'))
SCENARIOS = os.environ.get('SCENARIOS', 'healthy slow stall churn crowd').split()
MODES = os.environ.get('MODES', 'tcp fountain blocks libtorrent').split()
SIZE_MIB = int(os.environ.get('SIZE_MIB', '96'))
PIECE = os.environ.get('PIECE', '256K')
SEED_RATE = float(os.environ.get('SEED_RATE_MIB', '1.5'))      # MiB/s per seeder
CROWD = int(os.environ.get('CROWD', '10'))
CROWD_SEED_RATE = float(os.environ.get('CROWD_SEED_RATE_MIB', '4'))
CROWD_PEER_RATE = float(os.environ.get('CROWD_PEER_RATE_MIB', '1'))
CROWD_SIZE_MIB = int(os.environ.get('CROWD_SIZE_MIB', '32'))
TIMEOUT = float(os.environ.get('TIMEOUT', '300'))
SYS_PY = '/usr/bin/python3'
# libtorrent tries MSE encryption first by default; bf-console does not speak it, and each
# failed attempt costs libtorrent a second before it dials again in plain text (at every
# seeder's return in the churn scenario). The comparison is of the exchanges, so libtorrent
# dials in plain text unless LT_PLAIN=0.
LT_PLAIN = os.environ.get('LT_PLAIN', '1')
NET = '10.77.0'
HUB = 'bfb-hub'
RESULTS = os.path.join(WORK, 'results.jsonl')
MIB = 1 << 20


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def ns(host):
    return 'bfb-h%d' % host


def ip_of(host):
    return '%s.%d' % (NET, host)


def in_ns(host, cmd):
    return ['ip', 'netns', 'exec', ns(host)] + cmd


class Net:
    """A hub namespace with a bridge, and hosts, each in its own namespace on it."""

    def __init__(self):
        self.hosts = []
        self.teardown()
        sh('ip', 'netns', 'add', HUB)
        sh('ip', 'netns', 'exec', HUB, 'ip', 'link', 'set', 'lo', 'up')
        sh('ip', 'netns', 'exec', HUB, 'ip', 'link', 'add', 'br0', 'type', 'bridge')
        sh('ip', 'netns', 'exec', HUB, 'ip', 'addr', 'add', NET + '.254/24', 'dev', 'br0')
        sh('ip', 'netns', 'exec', HUB, 'ip', 'link', 'set', 'br0', 'up')

    def add(self, host, upload_mib=None):
        """Host `host` at 10.77.0.host; its upload shaped to `upload_mib` MiB/s if given."""
        name = ns(host)
        sh('ip', 'netns', 'add', name)
        sh('ip', 'link', 'add', 'bfv%d' % host, 'type', 'veth', 'peer', 'name', 'bfp%d' % host)
        sh('ip', 'link', 'set', 'bfv%d' % host, 'netns', name)
        sh('ip', 'link', 'set', 'bfp%d' % host, 'netns', HUB)
        sh('ip', 'netns', 'exec', HUB, 'ip', 'link', 'set', 'bfp%d' % host, 'master', 'br0')
        sh('ip', 'netns', 'exec', HUB, 'ip', 'link', 'set', 'bfp%d' % host, 'up')
        e = in_ns(host, [])
        sh(*e, 'ip', 'link', 'set', 'lo', 'up')
        sh(*e, 'ip', 'link', 'set', 'bfv%d' % host, 'name', 'eth0')
        sh(*e, 'ip', 'addr', 'add', ip_of(host) + '/24', 'dev', 'eth0')
        sh(*e, 'ip', 'link', 'set', 'eth0', 'up')
        if upload_mib:
            rate = '%dkbit' % int(upload_mib * 8 * 1024)
            sh(*e, 'tc', 'qdisc', 'add', 'dev', 'eth0', 'root', 'tbf', 'rate', rate,
               'burst', '64kb', 'latency', '200ms')
        self.hosts.append(host)

    def link(self, host, up):
        sh(*in_ns(host, ['ip', 'link', 'set', 'eth0', 'up' if up else 'down']))

    def teardown(self):
        out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
        for line in out.splitlines():
            n = line.split()[0] if line.split() else ''
            if n.startswith('bfb-'):
                subprocess.run(['ip', 'netns', 'del', n], check=False)


class Proc:
    def __init__(self, host, cmd, log):
        self.log = open(log, 'w')
        self.p = subprocess.Popen(in_ns(host, cmd), stdout=self.log, stderr=subprocess.STDOUT,
                                  start_new_session=True)

    def stop(self, sig=signal.SIGKILL):
        if self.p.poll() is None:
            try:
                os.killpg(self.p.pid, sig)
            except ProcessLookupError:
                pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
        self.log.close() if sig == signal.SIGKILL else None

    def pause(self):
        os.killpg(self.p.pid, signal.SIGSTOP)

    def cont(self):
        os.killpg(self.p.pid, signal.SIGCONT)


def make_file(path, mib):
    if os.path.exists(path) and os.path.getsize(path) == mib * MIB:
        return
    with open('/dev/urandom', 'rb') as r, open(path + '.part', 'wb') as w:
        for _ in range(mib):
            w.write(r.read(MIB))
    os.rename(path + '.part', path)


def make_torrent(path, announce):
    t = path + '-' + PIECE + '.torrent'
    sh(os.path.join(BIN, 'bf-maketorrent'), path, announce, '--piece-size', PIECE, '-o', t,
       '--force', capture_output=True)
    return t


def wait_for(pred, limit, step=0.1):
    end = time.time() + limit
    while time.time() < end:
        if pred():
            return True
        time.sleep(step)
    return False


def seeder(host, torrent, data, tag, fountain=True):
    """A bf-console seeder on `host` (its data checked once, then trusted from resume data)."""
    log = os.path.join(WORK, 'seed-%s-h%d.log' % (tag, host))
    cmd = [os.path.join(BIN, 'bf-console'), torrent, '--no-dht', '--no-lsd', '--saveas', data, '--port', '6881',
           '--bind', ip_of(host), '--ip', ip_of(host), '--json',
           '--resume-dir', os.path.join(WORK, 'resume-h%d' % host)]
    if not fountain:
        cmd.append('--no-fountain')
    p = Proc(host, cmd, log)
    ok = wait_for(lambda: '"state":"seeding"' in open(log).read(), 120)
    if not ok:
        raise SystemExit('seeder on host %d did not start: %s' % (host, open(log).read()[-500:]))
    return p


def run_bf(host, torrent, out, fountain, timeout):
    """bf-console downloading on `host`; returns its numbers."""
    cmd = ['/usr/bin/time', '-f', 'TIME %e %U %S %M', os.path.join(BIN, 'bf-console'), torrent, '--no-dht', '--no-lsd',
           '--saveas', out, '--port', '6881', '--bind', ip_of(host), '--ip', ip_of(host),
           '--no-resume', '--json', '--exit-on-complete']
    if not fountain:
        cmd.append('--no-fountain')
    log = os.path.join(WORK, 'dl-h%d.log' % host)
    start = time.time()
    with open(log, 'w') as f:
        p = subprocess.Popen(in_ns(host, cmd), stdout=f, stderr=subprocess.STDOUT)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    wall = time.time() - start
    cpu, rss = None, None
    statuses = []
    for line in open(log):
        if line.startswith('TIME '):
            _, _, u, s, m = line.split()
            cpu, rss = float(u) + float(s), int(m) * 1024
            continue
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        if ev.get('event') == 'status':
            statuses.append(ev)
    last = statuses[-1] if statuses else None
    # Status lines come once a second and at completion, each with the time since the
    # torrent started: the last 5 % took from the first line at 95 % to the last one.
    t95 = next((m.get('active_secs') for m in statuses if m.get('progress', 0) >= 0.95), None)
    tail = (last.get('active_secs') - t95) if (last and t95 is not None
                                               and last.get('active_secs') is not None) else None
    return {
        'seconds': wall,
        'tail': tail,
        'complete': bool(last and last.get('progress') == 1.0),
        'downloaded': last and last.get('downloaded'),
        'redundant': last and last.get('redundant'),
        'duplicate': last and last.get('duplicate'),
        'late': last and last.get('late'),
        'repair': last and last.get('repair_received'),
        'decoded': last and last.get('pieces_decoded'),
        'held_up': last and last.get('pieces_held_up'),
        'decode_secs': last and last.get('decode_secs'),
        'cpu': cpu,
        'rss': rss,
    }


def run_lt(host, torrent, out, timeout):
    cmd = ['/usr/bin/time', '-f', 'TIME %e %U %S %M', SYS_PY,
           os.path.join(ROOT, 'scripts/bench/lt_download.py'), torrent, out, '6881', str(timeout)]
    env = dict(os.environ, LT_IFACE=ip_of(host), LT_PLAIN=LT_PLAIN)
    start = time.time()
    r = subprocess.run(in_ns(host, cmd), capture_output=True, text=True, env=env)
    wall = time.time() - start
    res = {'seconds': wall, 'complete': False}
    for line in (r.stdout + r.stderr).splitlines():
        if line.startswith('TIME '):
            _, e, u, s, m = line.split()
            res['cpu'], res['rss'] = float(u) + float(s), int(m) * 1024
        elif line.startswith('{'):
            d = json.loads(line)
            tail = d['seconds'] - d['t95'] if d['t95'] is not None else None
            res.update({'seconds': d['seconds'], 'tail': tail, 'complete': d['complete'],
                        'downloaded': d['downloaded'], 'redundant': d['redundant'] + d['failed']})
    return res


def same(a, b):
    return subprocess.run(['cmp', '-s', a, b]).returncode == 0


def record(row):
    with open(RESULTS, 'a') as f:
        f.write(json.dumps(row) + '\n')
    r = row
    print('  %-8s %-10s run %d: %6.1f s (bound %5.1f s, %.2f)  redundant %s  repair %s  cpu %s  %s'
          % (r['scenario'], r['mode'], r['run'], r['seconds'], r['bound'],
             r['bound'] / r['seconds'] if r['seconds'] else 0,
             fmt_bytes(r.get('redundant')), r.get('repair'), r.get('cpu'),
             'ok' if r.get('same') else 'WRONG/INCOMPLETE'), flush=True)


def fmt_bytes(b):
    if b is None:
        return '-'
    return '%.2f MiB' % (b / MIB) if b >= MIB else '%d KiB' % (b // 1024)


def one_download(scenario, mode, run, net, torrent, data, dl_host, bound, events=None):
    out = os.path.join(WORK, 'out-%d' % dl_host, 'payload')
    shutil.rmtree(os.path.dirname(out), ignore_errors=True)
    os.makedirs(os.path.dirname(out))
    if events:
        events.start()
    if mode == 'libtorrent':
        res = run_lt(dl_host, torrent, os.path.dirname(out), TIMEOUT)
        got = os.path.join(os.path.dirname(out), os.path.basename(data))
    else:
        res = run_bf(dl_host, torrent, out, mode == 'fountain', TIMEOUT)
        got = out
    if events:
        events.stop()
    res.update({'scenario': scenario, 'mode': mode, 'run': run, 'bound': bound,
                'same': same(data, got)})
    record(res)


def tcp_ceiling(scenario, run, rates, dl, size):
    """Plain TCP from every seeder host at once, each sending its share of `size` in
    proportion to its rate (so that all would end together at the nominal rates)."""
    script = os.path.join(ROOT, 'scripts/bench/tcp_ceiling.py')
    sink = subprocess.Popen(in_ns(dl, [SYS_PY, script, 'recv', '7000', str(len(rates))]),
                            stdout=subprocess.PIPE, text=True)
    time.sleep(0.5)
    total = sum(rates.values())
    senders = [subprocess.Popen(in_ns(h, [SYS_PY, script, 'send', ip_of(dl), '7000',
                                          str(int(size * r / total))]))
               for h, r in rates.items()]
    for p in senders:
        p.wait(TIMEOUT)
    out, _ = sink.communicate(timeout=TIMEOUT)
    res = json.loads(out.strip().splitlines()[-1])
    record({'scenario': scenario, 'mode': 'tcp', 'run': run, 'seconds': res['seconds'],
            'bound': size / (total * MIB), 'redundant': 0, 'complete': res['complete'],
            'same': res['complete'] and res['bytes'] >= size - len(rates)})


class Churn:
    """Seeders leave (link down, process killed) and rejoin, one at a time, every period."""

    def __init__(self, net, seeders, restart, period):
        self.net, self.seeders, self.restart, self.period = net, seeders, restart, period
        self.stop_flag = False
        self.thread = None

    def start(self):
        import threading
        self.stop_flag = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        i = 0
        hosts = sorted(self.seeders)
        time.sleep(self.period)
        while not self.stop_flag:
            h = hosts[i % len(hosts)]
            i += 1
            # Vanishes: no FIN, no RST, as when a peer's link drops.
            self.net.link(h, False)
            self.seeders[h].stop()
            slept = 0
            while slept < self.period and not self.stop_flag:
                time.sleep(0.1)
                slept += 0.1
            self.net.link(h, True)
            self.seeders[h] = self.restart(h)

    def stop(self):
        self.stop_flag = True
        if self.thread:
            self.thread.join()


class Stall:
    """One seeder stops answering (SIGSTOP: the connection stays open) `after` seconds in."""

    def __init__(self, seeder, after):
        self.seeder, self.after, self.timer = seeder, after, None

    def start(self):
        import threading
        self.timer = threading.Timer(self.after, self.seeder.pause)
        self.timer.start()

    def stop(self):
        self.timer.cancel()
        self.seeder.cont()


def start_tracker():
    """bf-tracker on the hub (it goes with the hub's namespace: start it again after each)."""
    t = subprocess.Popen(['ip', 'netns', 'exec', HUB, os.path.join(BIN, 'bf-tracker'),
                          '--port', '6969', '--bind', NET + '.254', '--interval', '30',
                          '--min-interval', '5', '--no-log', '--no-udp'],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return t


def main():
    os.makedirs(WORK, exist_ok=True)
    open(RESULTS, 'w').close()
    announce = 'http://%s.254:6969/announce' % NET
    data = os.path.join(WORK, 'payload.bin')
    make_file(data, SIZE_MIB)
    crowd_data = os.path.join(WORK, 'crowd.bin')
    net = Net()
    tracker = start_tracker()
    try:
        torrent = make_torrent(data, announce)
        size = SIZE_MIB * MIB
        for scenario in SCENARIOS:
            print('== %s' % scenario, flush=True)
            if scenario == 'crowd':
                tracker.kill()
                tracker.wait()
                crowd(announce, crowd_data)
                net = Net()
                tracker = start_tracker()
                continue
            rates = {1: SEED_RATE, 2: SEED_RATE, 3: SEED_RATE, 4: SEED_RATE}
            if scenario == 'slow':
                rates[4] = SEED_RATE / 20
            for mode in MODES:
                # Plain TCP's ceiling is defined where every seeder sends throughout.
                if mode == 'tcp' and scenario not in ('healthy', 'slow'):
                    continue
                for run in range(1, RUNS + 1):
                    hosts = list(rates)
                    dl = 10
                    for h in hosts:
                        net.add(h, rates[h])
                    net.add(dl)
                    if mode == 'tcp':
                        try:
                            tcp_ceiling(scenario, run, rates, dl, size)
                        finally:
                            # The tracker lives in the hub's namespace: it goes with it.
                            net.teardown()
                            net = Net()
                            tracker.kill()
                            tracker.wait()
                            tracker = start_tracker()
                        continue
                    restart = lambda h: seeder(h, torrent, data, scenario)
                    seeders = {h: restart(h) for h in hosts}
                    events = None
                    cap = sum(rates.values()) * MIB
                    bound = size / cap
                    if scenario == 'stall':
                        after = 0.3 * bound
                        events = Stall(seeders[4], after)
                        # Until the stall every seeder draws; then three.
                        healthy = sum(rates[h] for h in (1, 2, 3)) * MIB
                        bound = after + (size - cap * after) / healthy
                    if scenario == 'churn':
                        period = float(os.environ.get('CHURN_PERIOD', '4'))
                        events = Churn(net, seeders, restart, period)
                        # One seeder in four away most of the time: three draw on average.
                        bound = size / (cap * 3 / 4)
                    try:
                        one_download(scenario, mode, run, net, torrent, data, dl, bound, events)
                    finally:
                        for p in seeders.values():
                            p.cont() if scenario == 'stall' else None
                            p.stop()
                        net.teardown()
                        net = Net()
                        tracker.kill()
                        tracker.wait()
                        tracker = start_tracker()
    finally:
        tracker.kill()
        net.teardown()


def crowd(announce, data):
    """One seeder, many downloaders starting together, each with its own upload limit."""
    make_file(data, CROWD_SIZE_MIB)
    torrent = make_torrent(data, announce)
    size = CROWD_SIZE_MIB * MIB
    n = CROWD
    us, ud = CROWD_SEED_RATE * MIB, CROWD_PEER_RATE * MIB
    # The fluid bound: the seeder must send everything once, and all downloads together
    # need n copies from the total upload capacity.
    bound = max(size / us, n * size / (us + n * ud))
    for mode in MODES:
        if mode == 'tcp':
            continue
        for run in range(1, RUNS + 1):
            net = Net()
            tracker = start_tracker()
            net.add(1, CROWD_SEED_RATE)
            hosts = list(range(10, 10 + n))
            for h in hosts:
                net.add(h, CROWD_PEER_RATE)
            s = seeder(1, torrent, data, 'crowd')
            outs = {}
            procs = {}
            start = time.time()
            for h in hosts:
                out = os.path.join(WORK, 'out-%d' % h, 'crowd.bin')
                shutil.rmtree(os.path.dirname(out), ignore_errors=True)
                os.makedirs(os.path.dirname(out))
                outs[h] = out
                if mode == 'libtorrent':
                    cmd = ['/usr/bin/time', '-f', 'TIME %e %U %S %M', SYS_PY,
                           os.path.join(ROOT, 'scripts/bench/lt_download.py'), torrent,
                           os.path.dirname(out), '6881', str(TIMEOUT)]
                    env = dict(os.environ, LT_IFACE=ip_of(h), LT_PLAIN=LT_PLAIN)
                else:
                    # Downloaders keep seeding to the others once complete, as users do;
                    # each is timed until its own completion.
                    cmd = [os.path.join(BIN, 'bf-console'), torrent, '--no-dht', '--no-lsd', '--saveas', out,
                           '--port', '6881', '--bind', ip_of(h), '--ip', ip_of(h),
                           '--no-resume', '--json']
                    if mode == 'blocks':
                        cmd.append('--no-fountain')
                    env = os.environ
                log = open(os.path.join(WORK, 'crowd-h%d.log' % h), 'w')
                procs[h] = (subprocess.Popen(in_ns(h, cmd), stdout=log, stderr=subprocess.STDOUT,
                                             env=env, start_new_session=True), log)
            done = {}
            end = start + TIMEOUT
            while len(done) < n and time.time() < end:
                for h in hosts:
                    if h in done:
                        continue
                    text = open(os.path.join(WORK, 'crowd-h%d.log' % h)).read()
                    if '"event":"completed"' in text or '"complete": true' in text:
                        done[h] = time.time() - start
                time.sleep(0.2)
            redundant = 0
            for h, (p, log) in procs.items():
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                log.close()
                last = None
                for line in open(os.path.join(WORK, 'crowd-h%d.log' % h)):
                    try:
                        ev = json.loads(line)
                    except ValueError:
                        continue
                    if ev.get('event') == 'status' or 'redundant' in ev:
                        last = ev
                if last:
                    redundant += last.get('redundant', 0) + last.get('failed', 0)
            s.stop()
            times = sorted(done.values())
            ok = all(same(data, outs[h] if mode != 'libtorrent'
                          else os.path.join(os.path.dirname(outs[h]), 'crowd.bin')) for h in done)
            row = {'scenario': 'crowd', 'mode': mode, 'run': run, 'bound': bound,
                   'seconds': times[-1] if len(times) == n else TIMEOUT,
                   'median': times[len(times) // 2] if times else None,
                   'completed': len(times), 'redundant': redundant, 'same': ok and len(times) == n}
            record(row)
            tracker.kill()
            tracker.wait()
            net.teardown()


if __name__ == '__main__':
    main()
