#!/usr/bin/python3
"""Tests scripts/runs-table: the tables of repeated runs of one command (each cell the
median (min-max) over the reports), the time ratios against a peer, the goal counts,
cells timed in fewer runs, and bad input (one line on stderr, exit 2)."""

import copy
import gzip
import json
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import unittest

SOURCE = os.environ.get("LNBENCH_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(SOURCE, "scripts", "runs-table")
FIXTURE = os.path.join(SOURCE, "tests", "fixtures", "plot", "real_run_ops_cpu.json")
# Three runs made from one real report: every case's timing scaled by these
# factors (its fraction and GB/s by their inverse), one case per run made different.
SCALES = (1.0, 0.8, 1.25)


def Timed(c):
  return (c["status"] == "passed" and c["timing"] is not None and c["throughput"] is not None
          and (c["accuracy"] is None or c["accuracy"]["passed"]))


def Scaled(report, scale):
  out = copy.deepcopy(report)
  for c in out["cases"]:
    if c["timing"]:
      c["timing"]["median_s"] *= scale
    if c["throughput"]:
      c["throughput"]["fraction_of_ceiling"] /= scale
      c["throughput"]["bandwidth_gbps"] /= scale
  return out


class RunsTableTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    cls.tmp = tempfile.mkdtemp(prefix="runs_table_test.")
    with open(FIXTURE) as f:
      cls.report = json.load(f)
    cls.paths = []
    for i, scale in enumerate(SCALES):
      run = Scaled(cls.report, scale)
      if i == 2:
        # The third run: one highway case failed verification (its timing must
        # not count), and one was not timed at all.
        cls.failed_id, cls.untimed_id = [c["id"] for c in run["cases"]
                                         if c["backend"] == "highway" and Timed(c)][:2]
        for c in run["cases"]:
          if c["id"] == cls.failed_id:
            c["status"] = "failed"
            c["accuracy"]["passed"] = False
          if c["id"] == cls.untimed_id:
            c["timing"] = c["throughput"] = None
      path = os.path.join(cls.tmp, "run%d.json" % (i + 1) + (".gz" if i == 1 else ""))
      with (gzip.open(path, "wt") if path.endswith(".gz") else open(path, "w")) as f:
        json.dump(run, f)
      cls.paths.append(path)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)

  def Run(self, *args):
    p = subprocess.run(["/usr/bin/python3", SCRIPT] + list(args), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr

  def Fractions(self, c):
    """Returns case c's fraction of the ceiling in each run that timed it."""
    f = c["throughput"]["fraction_of_ceiling"]
    return [f / s for i, s in enumerate(SCALES)
            if i < 2 or c["id"] not in (self.failed_id, self.untimed_id)]

  def Tables(self, stdout):
    """Returns {table title: {row label: [cells]}} and the column headers."""
    tables, cols, title = {}, None, None
    for line in stdout.splitlines():
      if not line.startswith("|") or line.startswith("|---"):
        continue
      cells = [c.strip() for c in line.strip("|").split("|")]
      if title is None or cells[1:] == cols:
        title, cols = cells[0], cells[1:]
        tables[title] = {}
      else:
        tables[title][cells[0]] = cells[1:]
      if not line:
        title = None
    return tables, cols

  def Row(self, case):
    p = case["problem"]
    return "%s %s, %s/%s%s %s, %d thread%s" % (
        p["op"], p["dir"], case["backend"], case["variant"], " (peer)" if case["peer"] else "",
        p["dtype"], case["threads"], "" if case["threads"] == 1 else "s")

  def test_medians_ranges_and_fewer_runs(self):
    rc, stdout, stderr = self.Run(*self.paths)
    self.assertEqual(rc, 0, stderr)
    tables, cols = self.Tables(stdout)
    table = tables["fraction of the copy ceiling, median (min-max) of 3 runs"]
    timed = [c for c in self.report["cases"] if Timed(c)]
    self.assertEqual(cols, [str(h) for h in sorted({c["problem"]["cols"] for c in timed})])
    self.assertEqual(set(table), {self.Row(c) for c in timed})
    for c in timed:
      runs = self.Fractions(c)
      want = "%.0f%% (%.0f-%.0f)" % (statistics.median(runs) * 100, min(runs) * 100,
                                     max(runs) * 100)
      if len(runs) < 3:
        want += ", 2 of 3"
      got = table[self.Row(c)][cols.index(str(c["problem"]["cols"]))]
      self.assertEqual(got, want, c["id"])
    # The unsupported peers' rows (oneDNN has no RMSNorm) are not there at all.
    self.assertFalse(any(r.startswith("rmsnorm") and "onednn" in r for r in table))

  def test_time_metric_and_ratios_against_a_peer(self):
    rc, stdout, stderr = self.Run(*self.paths, "--metric", "time", "--vs", "onednn")
    self.assertEqual(rc, 0, stderr)
    tables, cols = self.Tables(stdout)
    self.assertIn("median time, median (min-max) of 3 runs", tables)
    ratios = tables["time / onednn's time, median (min-max) of the runs' ratios"]
    by_id = {c["id"]: c for c in self.report["cases"]}
    n = 0
    for c in self.report["cases"]:
      if not Timed(c) or c["backend"] == "onednn":
        continue
      base_id = re.sub(r"^(\w+/\w+)/%s/" % c["backend"], r"\1/onednn/", c["id"])
      base = by_id.get(base_id)
      if base is None or not Timed(base):
        self.assertNotIn(self.Row(c), ratios)
        continue
      # Each run's ratio is the fixture's: the scale cancels.
      r = c["timing"]["median_s"] / base["timing"]["median_s"]
      kept = 2 if c["id"] in (self.failed_id, self.untimed_id) else 3
      want = "%.2f (%.2f-%.2f)" % (r, r, r) + (", 2 of 3" if kept < 3 else "")
      self.assertEqual(ratios[self.Row(c)][cols.index(str(c["problem"]["cols"]))], want, c["id"])
      n += 1
    self.assertGreater(n, 10)

  def test_goal_counts(self):
    rc, stdout, stderr = self.Run(*self.paths, "--goal", "layernorm fwd=0.5", "--goal", "bwd=0.3")
    self.assertEqual(rc, 0, stderr)
    for op, goal in (("layernorm fwd", 0.5), ("bwd", 0.3)):
      for backend in ("scalar", "highway"):
        cells = [c for c in self.report["cases"] if Timed(c) and c["backend"] == backend and
                 ("%s %s" % (c["problem"]["op"], c["problem"]["dir"]) == op or
                  c["problem"]["dir"] == op)]
        met = []
        for c in cells:
          if statistics.median(self.Fractions(c)) >= goal:
            met.append(c)
        line = "%s, %s: %d of %d cells at %g of the ceiling or more by their median" % (
            op, backend, len(met), len(cells), goal)
        self.assertIn(line, stdout)
    self.assertNotIn("onednn:", stdout)  # peers are not counted

  def test_cells_that_reach_their_goal_are_bold(self):
    goals = {"layernorm fwd": 0.5, "bwd": 0.3}
    rc, stdout, stderr = self.Run(*self.paths, "--goal", "layernorm fwd=0.5", "--goal", "bwd=0.3")
    self.assertEqual(rc, 0, stderr)
    tables, cols = self.Tables(stdout)
    table = tables["fraction of the copy ceiling, median (min-max) of 3 runs"]
    bold = plain = 0
    for c in self.report["cases"]:
      if not Timed(c):
        continue
      p = c["problem"]
      goal = goals.get("%s %s" % (p["op"], p["dir"]), goals.get(p["dir"]))
      cell = table[self.Row(c)][cols.index(str(p["cols"]))]
      met = goal is not None and not c["peer"] and statistics.median(self.Fractions(c)) >= goal
      self.assertEqual(cell.startswith("**") and cell.endswith("**"), met, (c["id"], cell))
      bold += met
      plain += not met
    self.assertGreater(bold, 0)
    self.assertGreater(plain, 0)
    # Without a goal, or in another metric's table, nothing is bold.
    for extra in ([], ["--metric", "gbps", "--goal", "layernorm fwd=0.5"]):
      rc, stdout, stderr = self.Run(*self.paths, *extra)
      self.assertEqual(rc, 0, stderr)
      self.assertNotIn("**", stdout)

  def test_gbps_and_machines(self):
    other = os.path.join(self.tmp, "other_machine.json")
    report = copy.deepcopy(self.report)
    report["context"]["machine"] = "another CPU"
    with open(other, "w") as f:
      json.dump(report, f)
    rc, stdout, stderr = self.Run(self.paths[0], other, "--metric", "gbps")
    self.assertEqual(rc, 0, stderr)
    self.assertIn("different machines (AMD EPYC, another CPU)", stderr)
    tables, cols = self.Tables(stdout)
    table = tables["GB/s, median (min-max) of 2 runs"]
    c = next(c for c in self.report["cases"] if Timed(c) and c["backend"] == "highway")
    g = c["throughput"]["bandwidth_gbps"]
    self.assertEqual(table[self.Row(c)][cols.index(str(c["problem"]["cols"]))],
                     "%.1f (%.1f-%.1f)" % (g, g, g))

  def test_bad_input(self):
    bad = os.path.join(self.tmp, "bad.json")
    with open(bad, "w") as f:
      f.write('{"cases": [')
    merged = os.path.join(self.tmp, "merged.json")
    with open(merged, "w") as f:
      json.dump(dict(self.report, kind="lnbench-merged-report"), f)
    none = os.path.join(self.tmp, "none.json")
    with open(none, "w") as f:
      json.dump(dict(self.report, cases=[c for c in self.report["cases"] if not Timed(c)]), f)
    deep = os.path.join(self.tmp, "deep.json")
    with open(deep, "w") as f:
      f.write("[" * 100000 + "]" * 100000)
    fifo = os.path.join(self.tmp, "fifo.json")
    if not os.path.exists(fifo):
      os.mkfifo(fifo)
    typed = os.path.join(self.tmp, "typed.json")
    wrong = copy.deepcopy(self.report)
    next(c for c in wrong["cases"] if Timed(c))["threads"] = "1"
    with open(typed, "w") as f:
      json.dump(wrong, f)
    twice = os.path.join(self.tmp, "twice.json")
    dup = dict(copy.deepcopy(next(c for c in self.report["cases"] if Timed(c))), id="other")
    with open(twice, "w") as f:
      json.dump(dict(self.report, cases=self.report["cases"] + [dup]), f)
    for args, needle in (([bad], "bad.json: cannot read a report"),
                         ([os.path.join(self.tmp, "missing.json")], "missing.json: cannot read"),
                         ([merged], "merged.json: a lnbench-merged-report"),
                         ([none], "none.json: no case passed verification and was timed"),
                         ([twice], "twice.json: two cases in one cell"),
                         # Tracebacks and a hang once:
                         ([deep], "deep.json: cannot read a report: nested too deeply"),
                         ([fifo], "fifo.json: cannot read a report: not a regular file"),
                         ([typed], "threads '1' is not a whole number"),
                         ([self.paths[0], "--vs", "cudnn"], "--vs cudnn: no timed case"),
                         ([self.paths[0], "--goal", "fwd"], "--goal 'fwd': expected"),
                         ([self.paths[0], "--metric", "speed"], "argument --metric: invalid"),
                         ([], "the following arguments are required")):
      rc, stdout, stderr = self.Run(*args)
      self.assertEqual(rc, 2, args)
      self.assertEqual(stdout, "", args)
      self.assertEqual(len(stderr.strip().splitlines()), 1, stderr)
      self.assertIn(needle, stderr)


if __name__ == "__main__":
  unittest.main(verbosity=2)
