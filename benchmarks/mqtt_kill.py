"""Mosquitto killed with SIGKILL mid-stream: which acknowledged readings survive, with the lab's save-after-every-change
configuration and with a save every 60 s (Mosquitto's own default is 30 minutes).

Run: .venv/bin/python benchmarks/mqtt_kill.py [--kills 10] [--n 3000]

For each configuration, `--kills` times:
- online: n readings published (QoS 1, 1,000 in flight) to a subscribed collector; halfway through, the broker is killed
  and restarted 0.3 s later; counts the acknowledged readings that never reached the collector, split into those
  acknowledged at least 0.5 s before the kill and those acknowledged later (the broker's last, unsaved pass);
- offline: the collector's persistent session is on the broker but it is disconnected; 300 readings are published and
  acknowledged, the broker is killed 0.2 s later and restarted, the collector reconnects: counts what never arrives.
Prints the counts per run and the totals, and the seconds each online run took (the cost of saving).
"""
import argparse, time
from mlops_lab.prepare import iot


def online(autosave, n, seed):
    payloads = iot.readings(n, sensors=4, seed=seed, bad=0, resend=0)
    with iot.Broker(autosave=autosave) as b: k = iot.kill_midstream(payloads, b, timeout=5)
    early = [i for i in k['lost'] if k['since'][i] < -0.5]
    oldest = min((k['since'][i] for i in k['lost']), default=0.0)  # how long before the kill the first lost one was acknowledged
    return len(k['acked']), len(early), len(k['lost']) - len(early), k['seconds'], oldest


def offline(autosave, seed, n=300):
    payloads = iot.readings(n, seed=seed, bad=0, resend=0)
    col = iot.Collector()
    with iot.Broker(autosave=autosave) as b:
        sub = iot.subscribe(col, b.port); sub.loop_stop(); sub.disconnect()
        acked = iot.publish(payloads, b.port)
        time.sleep(0.2); b.restart(down=0.2, kill=True)
        sub = iot.subscribe(col, b.port); iot.drain(col, payloads, timeout=5); sub.loop_stop(); sub.disconnect()
    return len(acked), len({iot.reading_id(payloads[i]) for i in acked} - col.seen)


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--kills', type=int, default=10)
    ap.add_argument('--n', type=int, default=3000)
    a = ap.parse_args()
    for autosave, name in [(1, 'saved after every change (the lab)'), (None, 'saved every 60 s')]:
        on = [online(autosave, a.n, s) for s in range(a.kills)]
        off = [offline(autosave, s) for s in range(a.kills)]
        print(f'{name}:')
        print(f'  online, killed mid-stream: acknowledged {sum(r[0] for r in on)}, lost {sum(r[1] for r in on)} of those acknowledged '
              f'>= 0.5 s before the kill, {sum(r[2] for r in on)} acknowledged later; per run (early, late): '
              f'{[(r[1], r[2]) for r in on]}; the earliest lost was acknowledged {-min(r[4] for r in on) * 1000:.1f} ms before the kill; '
              f'seconds per run {min(r[3] for r in on):.1f}-{max(r[3] for r in on):.1f}')
        print(f'  offline subscriber, killed after the acks: acknowledged {sum(r[0] for r in off)}, lost {sum(r[1] for r in off)}; '
              f'per run {[r[1] for r in off]}', flush=True)
