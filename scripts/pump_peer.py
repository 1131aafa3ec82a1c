#!/usr/bin/env python3
"""A plain, independent client of `rig sim`, for comparing the rig's real-time path with what
ordinary blocking I/O achieves on the same machine. Written from ICD.md alone: frames and their
CRC-16/CCITT-FALSE, the bench bus and the SF06-LF's CRC-8 are computed here, not by the rig.

No real-time priority, no tuning: `os.read`/`os.write` on the pump's pseudo-terminal, blocking
socket I/O on the bench bus, `time.sleep` to the next deadline. Each mode prints one JSON line.

usage:
  scripts/pump_peer.py status --pump DIR/pump [--count N]
      N STATUS round trips. Each is timed from the start of the request's write to the arrival
      of the first byte of its answer (the read that delivered the answer line's first byte).
  scripts/pump_peer.py sample --bus DIR/bus.sock [--hz 100] [--seconds 60]
      Reads the flow sensor (I2C 08 R 9) on the grid t_k = t_0 + k / hz. Wake-up lateness is
      from each deadline slept to, to the moment the script woke; a deadline is missed when it
      passed before the previous read returned (it is then read at once, not slept to), as the
      rig's sampler counts them.
"""

import argparse
import json
import math
import os
import random
import socket
import sys
import termios
import time
import tty

ICD_ANSWER_MS = 50.0  # ICD part 1: the pump answers every well-formed request within 50 ms.


def crc16(payload: bytes) -> int:
    """CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR."""
    crc = 0xFFFF
    for b in payload:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
            crc &= 0xFFFF
    return crc


def crc8(data: bytes) -> int:
    """The SF06-LF's CRC-8: poly 0x31, init 0xFF."""
    crc = 0xFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x31) if crc & 0x80 else (crc << 1)
            crc &= 0xFF
    return crc


assert crc16(b"123456789") == 0x29B1, "CRC-16 check value from the ICD"
assert crc8(bytes([0xBE, 0xEF])) == 0x92, "CRC-8 check value from the ICD"


def frame(payload: str) -> bytes:
    data = payload.encode("ascii")
    return data + b"*%04X\r\n" % crc16(data)


def payload_of(line: bytes) -> str:
    """The payload of a received line, its CRC checked; raises ValueError otherwise."""
    line = line.rstrip(b"\r\n")
    star = line.rfind(b"*")
    if star < 0 or len(line) - star != 5:
        raise ValueError(f"not a frame: {line!r}")
    payload, crc = line[:star], line[star + 1:]
    if int(crc, 16) != crc16(payload):
        raise ValueError(f"bad CRC: {line!r}")
    return payload.decode("ascii")


def percentiles(values_ms):
    """p50, p99 (nearest rank) and max of a list of milliseconds."""
    if not values_ms:
        return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}
    s = sorted(values_ms)

    def rank(q):
        return s[max(0, math.ceil(q * len(s)) - 1)]

    return {"count": len(s), "p50_ms": round(rank(0.50), 4), "p99_ms": round(rank(0.99), 4),
            "max_ms": round(s[-1], 4)}


class Pump:
    """The host end of the service port: raw mode, blocking reads."""

    def __init__(self, path: str):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[4] = attrs[5] = termios.B115200
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        termios.tcflush(self.fd, termios.TCIOFLUSH)
        self.pending = b""
        self.line_started = None  # when the first byte of the partial line arrived

    def next_line(self):
        """The next whole line and the time (ns) its first byte was read."""
        while True:
            end = self.pending.find(b"\n")
            if end >= 0:
                line, self.pending = self.pending[:end + 1], self.pending[end + 1:]
                started = self.line_started
                # Bytes left over arrived in the read that completed this line.
                self.line_started = self.read_at if self.pending else None
                return line, started
            chunk = os.read(self.fd, 512)
            self.read_at = time.monotonic_ns()
            if not chunk:
                raise EOFError("the pump's port closed")
            if not self.pending:
                self.line_started = self.read_at
            self.pending += chunk

    def round_trip(self, seq: int):
        """Sends `seq STATUS`; returns (ms from the write's start to the answer's first byte,
        the answer's payload). Events interleaved before the answer are skipped."""
        request = frame(f"{seq} STATUS")
        start = time.monotonic_ns()
        written = 0
        while written < len(request):
            written += os.write(self.fd, request[written:])
        while True:
            line, first_byte = self.next_line()
            try:
                payload = payload_of(line)
            except ValueError:
                continue
            if payload.startswith("!"):
                continue  # an event
            if payload.split(" ", 1)[0] in (str(seq), "0"):
                return (first_byte - start) / 1e6, payload


def status_mode(args) -> dict:
    pump = Pump(args.pump)
    seq = random.randint(1, 65000)
    # A throw-away first request: the pump answers a seq equal to the previous request's from
    # its cache, whoever sent that one (ICD part 1).
    pump.round_trip(seq)
    latencies, errors = [], 0
    for _ in range(args.count):
        seq = seq + 1 if seq < 65535 else 1
        ms, payload = pump.round_trip(seq)
        if " OK " not in f"{payload} ":
            errors += 1
        latencies.append(ms)
    result = percentiles(latencies)
    result.update({"what": "status_round_trip", "over_icd_50ms": sum(1 for v in latencies if v > ICD_ANSWER_MS),
                   "not_ok": errors})
    return result


class Bus:
    """The bench bus (ICD part 2): one line out, one line back, blocking."""

    def __init__(self, path: str):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.file = self.sock.makefile("rb")

    def ask(self, request: str) -> str:
        self.sock.sendall(request.encode("ascii") + b"\n")
        line = self.file.readline()
        if not line:
            raise EOFError("the bench bus closed")
        return line.decode("ascii").strip()


def read_flow(bus: Bus) -> bool:
    """One 9-byte SF06-LF read, every word's CRC-8 checked. False on NACK."""
    answer = bus.ask("I2C 08 R 9")
    if not answer.startswith("OK "):
        return False
    data = bytes.fromhex(answer[3:])
    if len(data) != 9 or any(crc8(data[i:i + 2]) != data[i + 2] for i in (0, 3, 6)):
        raise ValueError(f"bad sensor frame: {answer}")
    return True


def sample_mode(args) -> dict:
    bus = Bus(args.bus)
    if not bus.ask("HELLO").startswith("OK"):
        raise RuntimeError("not a bench bus")
    bus.ask("I2C 08 W 3ff9")  # stop a measurement left running (answered OK or NACK)
    if bus.ask("I2C 08 W 3608") != "OK":
        raise RuntimeError("the sensor did not start measuring")
    time.sleep(0.05)  # the SF06-LF NACKs reads in its first 12 ms
    period_ns = int(1e9 / args.hz)
    deadlines = int(args.seconds * args.hz)
    t0 = time.monotonic_ns() + period_ns
    lateness, reads, missed, nacks = [], [], 0, 0
    for k in range(deadlines):
        deadline = t0 + k * period_ns
        now = time.monotonic_ns()
        if now >= deadline:
            missed += 1  # passed before the previous read returned: read at once, not slept to
        else:
            time.sleep((deadline - now) / 1e9)
            lateness.append((time.monotonic_ns() - deadline) / 1e6)
        started = time.monotonic_ns()
        if not read_flow(bus):
            nacks += 1
        reads.append((time.monotonic_ns() - started) / 1e6)
    bus.ask("I2C 08 W 3ff9")
    return {"what": "sampling", "hz": args.hz, "deadlines": deadlines, "missed_deadlines": missed,
            "nacks": nacks, "wake_lateness": percentiles(lateness), "read_duration": percentiles(reads)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    status = sub.add_parser("status", help="STATUS round trips over the pump's pty")
    status.add_argument("--pump", required=True)
    status.add_argument("--count", type=int, default=2000)
    sample = sub.add_parser("sample", help="flow sensor reads over the bench bus on a fixed grid")
    sample.add_argument("--bus", required=True)
    sample.add_argument("--hz", type=float, default=100.0)
    sample.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    try:
        result = status_mode(args) if args.mode == "status" else sample_mode(args)
    except (OSError, EOFError, ValueError, RuntimeError) as e:
        print(f"pump_peer.py {args.mode}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
