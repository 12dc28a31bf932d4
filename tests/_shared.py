"""Helpers shared by several test modules (command-line CSV files, plotted lines)."""

import csv

import numpy as np


def write_csv(path, header, rows):
    """Write ``rows`` under ``header`` to the CSV file ``path``; returns the path as text."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return str(path)


def read_csv(path):
    """The rows of a CSV file as dicts."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def plot_line(ax, label_start):
    """``(x, y)`` of the one line of ``ax`` whose label starts with ``label_start``."""
    (line,) = [ln for ln in ax.get_lines() if ln.get_label().startswith(label_start)]
    return np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
