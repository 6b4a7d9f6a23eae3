"""MQTT ingest through a real Mosquitto broker: sustained readings/s with validation, and loss under a broker restart.

Run: .venv/bin/python benchmarks/mqtt_throughput.py [--n 50000]

1. baseline: publish n readings (QoS 1) to a subscriber that only counts them;
2. validated: the same stream into `iot.Collector` (JSON parse, de-duplication, pandera in batches, windows);
3. restart: the validated stream again, with the broker stopped and started halfway through;
4. TLS: the baseline and the validated stream again on a broker with TLS, accounts and ACLs (`Broker(devices=...)`);
5. the baseline once more on a broker that saves its state every 60 s instead of after every change: what the
   durability costs (`benchmarks/mqtt_kill.py` measures what it buys).
Prints readings/s for each (the ratios validated/baseline and TLS/plain from the same run), and for the restart run:
readings the broker acknowledged, how many of those never reached the collector (target: 0), duplicates removed.
"""
import argparse, threading, time
from mlops_lab.prepare import iot


class Counter:
    "A subscriber that does nothing but count (the network and broker cost alone)."
    def __init__(self): self.n = {'received': 0, 'duplicates': 0}; self.seen = set(); self.lock = threading.Lock()
    def add(self, payload):
        with self.lock:
            self.n['received'] += 1; self.seen.add(iot.reading_id(payload))


def run(payloads, sink, restart=False, tls=False, autosave=1):
    with iot.Broker(devices=['bench'] if tls else None, autosave=autosave) as b:
        sub = iot.subscribe(sink, b.port, client_id=f'bench-{time.monotonic_ns()}', **(dict(topic='lab/sensors/#', **b.login('lab-ingest')) if tls else {}))
        t0 = time.perf_counter()
        acked = iot.publish(payloads, b.port, on_half=(lambda: b.restart(down=0.5)) if restart else None,
                            **(dict(topic='lab/sensors/bench', **b.login('bench')) if tls else {}))
        ok = iot.drain(sink, payloads, timeout=120)
        secs = time.perf_counter() - t0
        sub.loop_stop(); sub.disconnect()
    return secs, acked, ok


if __name__ == '__main__':
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--n', type=int, default=50_000)
    a = ap.parse_args()
    payloads = iot.readings(a.n, sensors=20, seed=0, bad=0.01, resend=0.01)
    print(f'{len(payloads)} messages ({a.n} readings, 1% broken, 1% sent twice), QoS 1, one publisher, one subscriber')
    base, _, _ = run(payloads, Counter())
    print(f'baseline (count only):      {len(payloads) / base:>9,.0f} msgs/s  ({base:.1f} s)')
    col = iot.Collector(window=60, batch=1000)
    secs, acked, ok = run(payloads, col)
    secs_plain, c = secs, col.counts()
    print(f'validated + windowed:       {len(payloads) / secs:>9,.0f} msgs/s  ({secs:.1f} s; {secs / base:.2f}x the baseline time); '
          f"accepted {c['accepted']}, quarantined {c['quarantined']}, duplicates {c['duplicates']}")
    col2 = iot.Collector(window=60, batch=1000)
    secs, acked, ok = run(payloads, col2, restart=True)
    ids = {iot.reading_id(payloads[i]) for i in acked} - {None}
    c2 = col2.counts()
    print(f'with a broker restart:      {len(payloads) / secs:>9,.0f} msgs/s  ({secs:.1f} s); acknowledged {len(acked)} of {len(payloads)}, '
          f"acknowledged but lost {len(ids - col2.seen)}, duplicates removed {c2['duplicates']}, accepted {c2['accepted']} (without restart {c['accepted']})")
    tb, _, _ = run(payloads, Counter(), tls=True)
    print(f'TLS + accounts, count only: {len(payloads) / tb:>9,.0f} msgs/s  ({tb:.1f} s; {tb / base:.2f}x the plain baseline time)')
    col3 = iot.Collector(window=60, batch=1000)
    ts, _, _ = run(payloads, col3, tls=True)
    print(f'TLS + accounts, validated:  {len(payloads) / ts:>9,.0f} msgs/s  ({ts:.1f} s; {ts / secs_plain:.2f}x the plain validated time); '
          f"accepted {col3.counts()['accepted']}")
    lazy, _, _ = run(payloads, Counter(), autosave=None)
    print(f'saved every 60 s, count only: {len(payloads) / lazy:>7,.0f} msgs/s  ({lazy:.1f} s; saving after every change takes '
          f'{base / lazy:.2f}x its time)')
