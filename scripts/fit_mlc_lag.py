#!/ usr / bin / env python3
"""Fit the MLC servo lag of the simulated Clinac on a real Dynalog pair.

The following error of a leaf (expected minus actual position) is about its commanded speed
times the servo's lag: the least-squares slope of the error on the commanded speed, over every
moving leaf's beam-on snapshots, is the lag (machines/clinac-ix.json: mlc.servo_time_constant_s).
Also prints the residual and the leaves' speed and acceleration percentiles.

usage: scripts/fit_mlc_lag.py A_FILE.dlg   (its B file beside it)
"""
import csv
import math
import os
import sys

PERIOD_S = 0.05
MM_PER_UNIT = 1.96614 / 100.0  # 1/100 mm at the MLC plane -> mm at the isocentre


def rows(path):
    with open(path, newline="") as f:
        return [[float(v) for v in r] for r in list(csv.reader(f))[6:] if r]


def main():
    a_path = sys.argv[1]
    b_path = os.path.join(os.path.dirname(a_path), "B" + os.path.basename(a_path)[1:])
    banks = [rows(a_path), rows(b_path)]
    a = banks[0]
    on = set(i for i, r in enumerate(a) if r[2] == 0 and r[3] == 1)
    pairs = []  # (commanded speed mm/s, following error mm)
    speeds, accelerations = [], []
    for bank in banks:
        for leaf in range(60):
            expected = [r[14 + 4 * leaf] * MM_PER_UNIT for r in bank]
            actual = [r[15 + 4 * leaf] * MM_PER_UNIT for r in bank]
            for i in range(2, len(bank) - 2):
                if not all(k in on for k in range(i - 2, i + 3)):
                    continue
                v = (expected[i + 1] - expected[i - 1]) / (2 * PERIOD_S)
                if abs(v) <= 0.5:
                    continue
                pairs.append((v, expected[i] - actual[i]))
                speeds.append(abs(actual[i + 1] - actual[i - 1]) / (2 * PERIOD_S))
                accelerations.append(
                    abs(actual[i + 2] - 2 * actual[i] + actual[i - 2]) / (4 * PERIOD_S**2))
    if not pairs:
        sys.exit(f"{a_path}: no moving leaf while the beam was on")
    lag = sum(v * e for v, e in pairs) / sum(v * v for v, _ in pairs)
    residual = math.sqrt(sum((e - lag * v) ** 2 for v, e in pairs) / len(pairs))
    speeds.sort()
    accelerations.sort()

    def pct(values, p):
        return values[int(p * (len(values) - 1))]

    print(f"samples {len(pairs)}")
    print(f"servo lag {lag:.4f} s (residual {residual:.3f} mm)")
    print(f"leaf speed p50/p99/max {pct(speeds, .5):.1f} / {pct(speeds, .99):.1f} / "
          f"{speeds[-1]:.1f} mm/s")
    print(f"leaf acceleration p50/p99 {pct(accelerations, .5):.0f} / "
          f"{pct(accelerations, .99):.0f} mm/s^2")


if __name__ == "__main__":
    main()
