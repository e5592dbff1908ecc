#!/usr/bin/python3
"""Tests the command line of lnbench_highway_bench, the Highway backend's
development benchmark: --tune and --ab (paired A/B of two values of one
backend setting) reach the cases, bad settings are refused with one line and
exit code 2, and the A/B tables of the hot and dram modes have their ratio
columns. Timings are printed, never judged (the machine is shared).

The benchmark is not built in the sanitizer build, which skips this test.
Environment: LNBENCH_BINARY (build/lnbench; the benchmark is built next to it
in backends/highway/).
"""

import math
import os
import subprocess
import sys
import unittest

SOURCE = os.environ.get("LNBENCH_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
LNBENCH = os.environ.get("LNBENCH_BINARY", os.path.join(SOURCE, "build", "lnbench"))
BENCH = os.path.join(os.path.dirname(LNBENCH), "backends", "highway", "lnbench_highway_bench")


def bench(*args):
  return subprocess.run([BENCH, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                        text=True, timeout=120)


def ab_rows(stdout):
  """Returns the table rows' B/A medians (the third-last and second-last words
  hold the median and p10..p90 when the row ends with the A/B columns)."""
  rows = [l.split() for l in stdout.splitlines() if l.strip() and not l.startswith("#")]
  header, data = rows[0], rows[1:]
  assert header[-3:] == ["B/A", "time", "p10..p90"], header
  return [float(r[-2]) for r in data], [r[-1] for r in data]


class HighwayBenchTest(unittest.TestCase):

  def refused(self, args, words):
    res = bench(*args)
    self.assertEqual(res.returncode, 2, f"{args}: {res.stdout} {res.stderr}")
    err = res.stderr.strip()
    self.assertEqual(len(err.splitlines()), 1, err)
    for w in words:
      self.assertIn(w, err)

  def test_bad_settings_are_refused(self):
    self.refused(["hot", "--ab", "bogus=1,2"], ["bogus", "stream_min_bytes", "groups16"])
    self.refused(["hot", "--tune", "bogus=1"], ["bogus"])
    self.refused(["hot", "--ab", "groups16=chunked"], ["--ab", "two values"])
    self.refused(["hot", "--ab", "groups16=a,b,c"], ["two values"])
    self.refused(["hot", "--tune", "=x"], ["key=value"])
    self.refused(["hot", "--tune"], ["needs a value"])
    # Each side's value reaches the backend, which refuses a bad one.
    small = ["hot", "--dtypes", "bf16", "--cols", "4096", "--kib", "64", "--samples", "1"]
    self.refused(small + ["--ab", "groups16=chunked,bad"], ["groups16", "'bad'"])
    self.refused(small + ["--ab", "groups16=bad,chunked"], ["groups16", "'bad'"])
    self.refused(small + ["--tune", "groups16=bad"], ["groups16", "'bad'"])
    # Numbers that are not whole numbers name their option (not a bare "stoull").
    self.refused(["hot", "--mib", "abc"], ["--mib", "'abc'"])
    self.refused(["hot", "--samples", "-3"], ["--samples", "'-3'"])
    self.refused(["hot", "--cols", "128,x"], ["--cols", "'x'"])
    self.refused(["hot", "--cols", "0"], ["--cols", "H must be"])
    self.refused(["hot", "--threads", "1.5"], ["--threads", "'1.5'"])
    self.refused(["hot", "--bogus"], ["unknown argument --bogus", "--help"])

  def test_help(self):
    res = bench("--help")
    self.assertEqual(res.returncode, 0, res.stderr)
    self.assertTrue(res.stdout.startswith("usage: lnbench_highway_bench"), res.stdout)
    for word in ("--ab key=A,B", "--tune key=value", "--bwd", "hot"):
      self.assertIn(word, res.stdout)

  def test_hot_ab_table(self):
    res = bench("hot", "--ab", "groups16=chunked,interleaved", "--dtypes", "bf16,f32",
                "--cols", "256,4096", "--kib", "64", "--samples", "2")
    self.assertEqual(res.returncode, 0, res.stderr)
    self.assertIn("A = --tune groups16=chunked", res.stdout)
    self.assertIn("B = --tune groups16=interleaved", res.stdout)
    medians, spreads = ab_rows(res.stdout)
    self.assertEqual(len(medians), 4, res.stdout)
    for m, s in zip(medians, spreads):
      self.assertTrue(math.isfinite(m) and m > 0, res.stdout)
      lo, hi = (float(v) for v in s.split(".."))
      self.assertTrue(0 < lo <= m <= hi, res.stdout)

  def test_hot_takes_threads(self):
    # One thread unless --threads is given; then a table for each count
    # (hot ran one thread whatever --threads said).
    for args, want in (((), ["1 thread,"]), (("--threads", "1,2"), ["1 thread,", "2 threads,"])):
      res = bench("hot", "--dtypes", "f32", "--cols", "768", "--kib", "64", "--samples", "1", *args)
      self.assertEqual(res.returncode, 0, res.stderr)
      headers = [l for l in res.stdout.splitlines() if l.startswith("# hot:")]
      self.assertEqual(len(headers), len(want), res.stdout)
      for h, w in zip(headers, want):
        self.assertIn(w, h)

  def test_latency_takes_cols(self):
    # Without --cols batch 1 is timed at H = 4096 alone; with it, at each H.
    for args, want in (((), [("f32", "4096")]),
                       (("--cols", "16,768"), [("f32", "16"), ("f32", "768")])):
      res = bench("latency", "--dtypes", "f32", "--samples", "2", *args)
      self.assertEqual(res.returncode, 0, res.stderr)
      rows = [l.split() for l in res.stdout.splitlines() if l.strip() and not l.startswith("#")]
      self.assertEqual(rows[0][:2], ["dtype", "H"], res.stdout)
      self.assertEqual([(r[0], r[1]) for r in rows[1:]], want, res.stdout)
      for r in rows[1:]:
        self.assertTrue(all(math.isfinite(float(v)) and float(v) > 0 for v in r[2:]), res.stdout)

  def test_dram_ab_table_with_tune(self):
    res = bench("dram", "--mib", "4", "--tune", "groups16=chunked", "--ab",
                "stream_min_bytes=0,1073741824", "--dtypes", "f32", "--cols", "1024",
                "--threads", "1", "--samples", "2")
    self.assertEqual(res.returncode, 0, res.stderr)
    self.assertIn("A = --tune stream_min_bytes=0", res.stdout)
    medians, _ = ab_rows(res.stdout)
    self.assertEqual(len(medians), 1, res.stdout)
    self.assertTrue(math.isfinite(medians[0]) and medians[0] > 0, res.stdout)

  def test_without_ab_no_ratio_columns(self):
    res = bench("hot", "--dtypes", "f32", "--cols", "1024", "--kib", "64", "--samples", "1")
    self.assertEqual(res.returncode, 0, res.stderr)
    self.assertNotIn("B/A", res.stdout)
    self.assertNotIn("A/B", res.stdout)


if __name__ == "__main__":
  if not os.access(BENCH, os.X_OK):
    print(f"FAIL: {BENCH} is missing (build the Release build first)")
    sys.exit(1)
  unittest.main()
