# Copyright: contributors to edgefl.nvflare
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Plot one device's metrics CSV (from nvflare-jetson-metrics) to a PNG: load, RAM, power over time.

Usage: plot_metrics.py CSV PNG TITLE    (needs matplotlib on the control node)
"""
import csv
import sys


def load(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise SystemExit("%s has no samples" % path)
    t0 = float(rows[0]["time"])
    cols = {"t": [float(r["time"]) - t0 for r in rows]}
    for key in rows[0]:
        if key != "time":
            cols[key] = [float(r[key]) if r[key] not in ("", None) else float("nan") for r in rows]
    return cols


def main(argv):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed on the control node: pip install matplotlib to get PNG plots")
        return 3
    csv_path, png_path, title = argv[1], argv[2], argv[3]
    c = load(csv_path)
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    ax1.plot(c["t"], c["cpu_pct"], label="CPU %")
    ax1.plot(c["t"], c["gpu_pct"], label="GPU %")
    ax1.set_ylabel("load %")
    ax1.set_ylim(0, 100)
    ax1.legend(loc="upper right")
    ax2.plot(c["t"], c["ram_used_mb"], label="RAM used")
    ax2.plot(c["t"], c["swap_used_mb"], label="swap used")
    ax2.set_ylabel("MiB")
    ax2.legend(loc="upper right")
    ax3.plot(c["t"], c["power_mw"], color="tab:red", label="board power")
    ax3.set_ylabel("mW")
    ax3.set_xlabel("seconds")
    ax3.legend(loc="upper right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png_path, dpi=80)
    print("%s: %d samples" % (png_path, len(c["t"])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
