#!/usr/bin/python3
"""Tests scripts/plot: every chart from the fixture reports, their files, what
they show (through the plots.json manifest), and the refusals of bad input.

Runs under /usr/bin/python3 (ctest). matplotlib, numpy and jsonschema are
required (scripts/setup.sh installs them): a missing one fails the test, it is
never skipped.
"""

import collections
import json
import math
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

SOURCE = os.environ.get("LNBENCH_SOURCE_DIR") or os.path.dirname(
    os.path.dirname(os.path.abspath(__file__)))
PLOT = os.path.join(SOURCE, "scripts", "plot")
LNBENCH = os.environ.get("LNBENCH_BINARY", os.path.join(SOURCE, "build", "lnbench"))
FIXTURES = os.path.join(SOURCE, "tests", "fixtures", "plot")
SCHEMA = os.path.join(SOURCE, "results", "schema", "report.schema.json")
SCHEMA_V2 = os.path.join(SOURCE, "results", "schema", "report.v2.schema.json")
CHARTS = ("bandwidth", "bandwidth_fraction", "speedup", "accuracy_ulp", "accuracy_bound",
          "accuracy_vs_speed")
TIMING_CHARTS = ("bandwidth", "bandwidth_fraction", "speedup", "accuracy_vs_speed")

try:
  import jsonschema
  import matplotlib  # noqa: F401
  import matplotlib.image
  import numpy as np
except ImportError as e:
  print("FAILED: %s for %s (apt-get install python3-matplotlib python3-numpy "
        "python3-jsonschema, or run scripts/setup.sh deps)" % (e, sys.executable))
  sys.exit(1)


def Fixture(name):
  return os.path.join(FIXTURES, name)


def LoadJson(path):
  with open(path) as f:
    return json.load(f)


def RunPlot(args, python=None, env=None):
  """Returns the CompletedProcess of scripts/plot with `args`."""
  cmd = ([python, PLOT] if python else [sys.executable, PLOT]) + list(args)
  return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def LnbenchCompare(old, new):
  """Returns (exit code, JSON) of lnbench compare OLD NEW --format json."""
  p = subprocess.run([LNBENCH, "compare", old, new, "--format", "json"], capture_output=True,
                     text=True, timeout=120)
  return p.returncode, json.loads(p.stdout)


def StartPlot(args):
  return subprocess.Popen([sys.executable, PLOT] + list(args), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True)


# ----------------------------------------------------------------------------
# Schema checks, by python3-jsonschema (the schema says which draft).


def SchemaErrors(schema, value):
  """Returns "path: message" for every place where `value` breaks `schema`."""
  cls = jsonschema.validators.validator_for(schema)
  cls.check_schema(schema)
  return ["$%s: %s" % ("".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                               for p in e.absolute_path), e.message)
          for e in cls(schema).iter_errors(value)]


# ----------------------------------------------------------------------------
# File checks


def CheckPng(test, path):
  """Checks signature, header, size and that the picture is not blank."""
  with open(path, "rb") as f:
    data = f.read()
  test.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n", path)
  test.assertEqual(data[12:16], b"IHDR", path)
  width, height = struct.unpack(">II", data[16:24])
  test.assertTrue(500 <= width <= 6000 and 300 <= height <= 8000, "%s: %dx%d" % (
      path, width, height))
  test.assertGreater(len(data), 20000, path)
  image = matplotlib.image.imread(path)
  test.assertEqual(image.shape[:2], (height, width))
  rgb = (image[:, :, :3] * 255).astype(np.uint32)
  packed = (rgb[:, :, 0] << 16) | (rgb[:, :, 1] << 8) | rgb[:, :, 2]
  colours = np.unique(packed)
  test.assertGreater(len(colours), 24, "%s: only %d colours" % (path, len(colours)))
  not_white = np.mean(np.any(rgb < 245, axis=2))
  test.assertGreater(not_white, 0.03, "%s: %.3f of the pixels drawn" % (path, not_white))
  test.assertLess(not_white, 0.9, path)


def SvgText(test, path):
  """Checks the SVG parses and draws; returns all its text."""
  tree = ET.parse(path)
  root = tree.getroot()
  test.assertTrue(root.tag.endswith("svg"), path)
  shapes = [e for e in root.iter() if e.tag.split("}")[-1] in ("path", "use", "rect", "line")]
  test.assertGreater(len(shapes), 30, path)
  return " ".join("".join(e.itertext()) for e in root.iter() if e.tag.endswith("text"))


def AllPoints(manifest, chart_prefix, machine=None):
  """Returns the case ids a timing chart drew, over every chart with that prefix
  (and, given `machine`, over the series of that machine only)."""
  ids = set()
  for chart in manifest["charts"]:
    if not chart["name"].startswith(chart_prefix):
      continue
    for s in chart.get("series", []):
      if machine is not None and s["machine"] != machine:
        continue
      for p in s.get("points", []):
        ids.update(p["cases"])
      for b in s.get("bars", []):
        ids.update(b["cases"])
        ids.update(b["baseline_cases"])
  return ids


def Timed(case):
  return (case["status"] == "passed" and case["timing"] is not None and
          case["throughput"] is not None and
          (case["accuracy"] is None or case["accuracy"]["passed"]))


class PlotTest(unittest.TestCase):
  @classmethod
  def setUpClass(cls):
    cls.tmp = tempfile.mkdtemp(prefix="lnbench-plot-test-")
    runs = {
        "run": [Fixture("run_gpu_node.json"), "--format", "png,svg"],
        "merged": [Fixture("merged.json"), "--format", "png,svg"],
        "verify": [Fixture("verify_only.json"), "--format", "png,svg"],
        # Two reports of one machine, one of them with the trap case.
        "two": [Fixture("trap_failed_with_timing.json"), Fixture("compare_new.json"),
                "--format", "svg", "--baseline", "highway/welford"],
        "compare": ["compare", Fixture("compare_old.json"), Fixture("compare_new.json"),
                    "--format", "png,svg"],
        # One case 8% slower by its median, too noisy to be significant.
        "noisy": ["compare", Fixture("compare_noisy_old.json"),
                  Fixture("compare_noisy_new.json"), "--format", "svg"],
        "real_run": [Fixture("real_run_cpu.json"), "--format", "png"],
        "real_verify": [Fixture("real_verify_cpu.json"), "--format", "svg"],
        "real_ops": [Fixture("real_run_ops_cpu.json"), "--format", "png"],
    }
    # Odd but valid reports: a single case (no baseline), and no ceiling measured.
    report = LoadJson(Fixture("trap_failed_with_timing.json"))
    single = dict(report, cases=[c for c in report["cases"] if c["backend"] == "highway"][:1])
    no_ceiling = dict(LoadJson(Fixture("trap_failed_with_timing.json")), ceilings=[])
    for c in no_ceiling["cases"]:
      if c["throughput"]:
        c["throughput"]["ceiling_gbps"] = "NaN"
        c["throughput"]["fraction_of_ceiling"] = "NaN"
    # Rows swept on a grid (f32: N = 1000 and 64 at every H) against reports of
    # different sweeps put together (bf16: N = 64 beside the usual N at each H).
    base = [c for c in LoadJson(Fixture("trap_failed_with_timing.json"))["cases"]
            if c["status"] == "passed" and c["problem"]["dist"] == "normal"]
    rows_cases = []
    for c in base:
      for dtype, rows in (("f32", 1000), ("f32", 64), ("bf16", c["problem"]["rows"]),
                          ("bf16", 64)):
        d = json.loads(json.dumps(c))
        d["problem"].update(rows=rows, dtype=dtype)
        d["id"] += "/%s/%d" % (dtype, rows)
        rows_cases.append(d)
    rows_report = dict(report, cases=rows_cases)
    # `lnbench run --ceiling-per-case`: a ceiling measured before every timed
    # case, each a little different.
    per_case = LoadJson(Fixture("real_run_cpu.json"))
    per_case["config"]["ceiling"] = "per_case"
    per_case["ceilings"] = []
    for i, c in enumerate(per_case["cases"]):
      t = c["throughput"]
      if not t:
        continue
      ceiling = next(dict(m) for m in LoadJson(Fixture("real_run_cpu.json"))["ceilings"]
                     if m["bandwidth_gbps"] == t["ceiling_gbps"])
      ceiling["bandwidth_gbps"] = t["ceiling_gbps"] * (0.8 + 0.005 * i)
      per_case["ceilings"].append(ceiling)
      t["ceiling_gbps"] = ceiling["bandwidth_gbps"]
      t["fraction_of_ceiling"] = t["bandwidth_gbps"] / ceiling["bandwidth_gbps"]
    # One thread and two, and no scalar: the multi-op report's cases of
    # highway and oneDNN, again with threads = 1 (ids and timings apart).
    threads = LoadJson(Fixture("real_run_ops_cpu.json"))
    threads["cases"] = [c for c in threads["cases"] if c["backend"] != "scalar"]
    for c in list(threads["cases"]):
      one = json.loads(json.dumps(c))
      one["id"] = one["id"].replace("/threads=2/", "/threads=1/")
      one["threads"] = 1
      if one["timing"]:
        one["timing"]["median_s"] *= 1.7
      threads["cases"].append(one)
    for name, data in (("single", single), ("no_ceiling", no_ceiling), ("rows", rows_report),
                       ("per_case", per_case), ("threads", threads)):
      with open(os.path.join(cls.tmp, name + ".json"), "w") as f:
        json.dump(data, f)
      runs[name] = [os.path.join(cls.tmp, name + ".json"), "--format",
                    "svg" if name in ("rows", "per_case") else "png"]
    cls.out = {name: os.path.join(cls.tmp, name) for name in runs}
    cls.runs = runs
    # Independent runs, started together: the test stays well under 30 s.
    procs = {name: StartPlot(args + ["-o", cls.out[name]]) for name, args in runs.items()}
    cls.results = {}
    for name, p in procs.items():
      stdout, stderr = p.communicate(timeout=180)
      cls.results[name] = (p.returncode, stdout, stderr)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.tmp, ignore_errors=True)

  def Result(self, name):
    rc, stdout, stderr = self.results[name]
    self.assertEqual(rc, 0, "%s: exit %d\n%s" % (name, rc, stderr))
    return stdout, stderr, LoadJson(os.path.join(
        self.out[name], "compare.json" if name in ("compare", "noisy") else "plots.json"))

  # -- the fixtures themselves -------------------------------------------------

  def test_fixtures_follow_the_schema(self):
    schemas = {2: LoadJson(SCHEMA_V2), 3: LoadJson(SCHEMA)}
    names = [n for n in sorted(os.listdir(FIXTURES))
             if n.endswith(".json") and not n.startswith("bad_not") and
             not n.startswith("bad_truncated")]
    self.assertGreaterEqual(len(names), 6)
    for name in names:
      report = LoadJson(Fixture(name))
      errors = SchemaErrors(schemas[report.get("schema_version")], report)
      self.assertEqual(errors[:5], [], name)
      s = report["summary"]
      self.assertEqual(s["cases"], len(report["cases"]), name)
    # The checker can fail: a broken report is caught.
    broken = LoadJson(Fixture("run_gpu_node.json"))
    broken["cases"][0]["problem"]["dtype"] = "f64"
    broken["cases"][1]["throughput"]["ceiling_gbps"] = "fast"
    del broken["cases"][2]["repro"]
    self.assertEqual(len(SchemaErrors(schemas[2], broken)), 3, SchemaErrors(schemas[2], broken))

  def test_fixture_variety(self):
    report = LoadJson(Fixture("run_gpu_node.json"))
    cases = report["cases"]
    self.assertEqual({c["backend"] for c in cases}, {"scalar", "highway", "onednn", "cuda"})
    self.assertTrue(all(c["peer"] == (c["backend"] == "onednn") for c in cases))
    self.assertEqual({c["problem"]["dtype"] for c in cases}, {"f32", "bf16"})
    hs = {c["problem"]["cols"] for c in cases}
    self.assertTrue(min(hs) == 128 and max(hs) == 131072 and len(hs) >= 5)
    self.assertGreaterEqual(len({c["problem"]["dist"] for c in cases}), 5)
    self.assertTrue(any(c["status"] == "failed" for c in cases))
    self.assertTrue(any(c["status"] == "unsupported" for c in cases))

  # -- one report: every chart ---------------------------------------------------

  def test_every_chart_is_written_and_valid(self):
    stdout, _, manifest = self.Result("run")
    expected = {"%s_%s.%s" % (c, d, f) for c in CHARTS for d in ("f32", "bf16")
                for f in ("png", "svg")}
    self.assertEqual(set(os.listdir(self.out["run"])) - {"plots.json"}, expected)
    self.assertEqual(manifest["skipped"], [])
    for name in sorted(expected):
      path = os.path.join(self.out["run"], name)
      self.assertIn("wrote %s" % path, stdout)
      if name.endswith(".png"):
        CheckPng(self, path)
        continue
      text = SvgText(self, path)
      dtype = name.rsplit(".", 1)[0].rsplit("_", 1)[1]
      self.assertIn("(%s)" % dtype if not name.startswith("accuracy_") or "vs_speed" in name
                    else dtype, text, name)
      self.assertIn("Intel Xeon Platinum 8480+ + NVIDIA H100 80GB HBM3", text, name)
      self.assertIn("lnbench 0.1.0 (3f9c2e1a7b", text, name)
      self.assertIn("onednn/dnnl (peer)", text, name)
    # Axis labels carry their units.
    text = SvgText(self, os.path.join(self.out["run"], "bandwidth_f32.svg"))
    self.assertIn("bandwidth (GB/s", text)
    self.assertIn("hidden size H", text)
    self.assertIn("copy ceiling", text)

  def test_bandwidth_draws_only_valid_timings(self):
    _, _, manifest = self.Result("run")
    report = LoadJson(Fixture("run_gpu_node.json"))
    by_id = {c["id"]: c for c in report["cases"]}
    chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    drawn = set()
    for series in chart["series"]:
      self.assertEqual(series["peer"], series["backend"] == "onednn")
      self.assertEqual(series["label"].endswith("(peer)"), series["peer"])
      for p in series["points"]:
        cases = [by_id[i] for i in p["cases"]]
        for c in cases:
          self.assertTrue(Timed(c), c["id"])
          self.assertEqual((c["backend"], c["variant"], c["problem"]["cols"],
                            c["problem"]["dtype"], c["problem"]["dist"]),
                           (series["backend"], series["variant"], p["x"], "f32", "normal"))
        self.assertAlmostEqual(
            p["y"], statistics.median(c["throughput"]["bandwidth_gbps"] for c in cases))
        drawn.update(p["cases"])
    want = {c["id"] for c in report["cases"] if Timed(c) and c["problem"]["dtype"] == "f32"
            and c["problem"]["dist"] == "normal"}
    self.assertEqual(drawn, want)
    # One ceiling line per device, from the report.
    self.assertEqual(sorted(c["gbps"] for c in chart["ceilings"]),
                     sorted(c["bandwidth_gbps"] for c in report["ceilings"]))
    # Nothing failed or unsupported anywhere among the timing charts.
    not_timed = {c["id"] for c in report["cases"] if not Timed(c)}
    self.assertTrue(not_timed)
    for prefix in TIMING_CHARTS:
      self.assertFalse(AllPoints(manifest, prefix) & not_timed, prefix)

  def test_speedup_is_baseline_time_over_case_time(self):
    _, _, manifest = self.Result("run")
    report = LoadJson(Fixture("run_gpu_node.json"))
    by_id = {c["id"]: c for c in report["cases"]}
    for dtype in ("f32", "bf16"):
      chart = next(c for c in manifest["charts"] if c["name"] == "speedup_" + dtype)
      self.assertEqual(chart["baseline"], "scalar/twopass")
      n = 0
      for series in chart["series"]:
        self.assertNotEqual(series["backend"], "scalar")
        for bar in series["bars"]:
          case, base = by_id[bar["cases"][0]], by_id[bar["baseline_cases"][0]]
          self.assertEqual(base["backend"], "scalar")
          self.assertEqual(case["problem"], base["problem"])
          self.assertAlmostEqual(bar["speedup"],
                                 base["timing"]["median_s"] / case["timing"]["median_s"])
          n += 1
      # 6 variants other than scalar x 6 shapes, minus unsupported warp_per_row at 128K.
      self.assertEqual(n, 6 * 6 - 1)

  def test_accuracy_map_marks_failures(self):
    _, _, manifest = self.Result("run")
    report = LoadJson(Fixture("run_gpu_node.json"))
    for dtype in ("f32", "bf16"):
      for metric in ("ulp", "bound"):
        chart = next(c for c in manifest["charts"]
                     if c["name"] == "accuracy_%s_%s" % (metric, dtype))
        cells = {(c["row"], c["dist"]): c for c in chart["cells"]}
        groups = collections.defaultdict(list)
        for c in report["cases"]:
          if c["problem"]["dtype"] == dtype:
            label = "%s/%s%s" % (c["backend"], c["variant"], " (peer)" if c["peer"] else "")
            groups[(label, c["problem"]["dist"])].append(c)
        self.assertEqual(set(cells), set(groups))
        for key, cases in groups.items():
          cell = cells[key]
          failed = [c for c in cases if c["status"] == "failed"]
          self.assertEqual(cell["failed"], len(failed), key)
          self.assertEqual(sorted(cell["failed_cases"]), sorted(c["id"] for c in failed))
          checked = [c for c in cases if c["accuracy"] is not None]
          if metric == "ulp":
            self.assertEqual(cell["value"], max(c["accuracy"]["y"]["max_ulp"] for c in checked))
          else:
            ratios = [c["accuracy"]["y"]["max_bound_ratio"] for c in checked]
            want = "Infinity" if "Infinity" in ratios else max(ratios)
            self.assertEqual(cell["value"], want, key)
        self.assertTrue(any(c["failed"] for c in chart["cells"]))

  def test_accuracy_vs_speed_points(self):
    _, _, manifest = self.Result("run")
    report = LoadJson(Fixture("run_gpu_node.json"))
    by_id = {c["id"]: c for c in report["cases"]}
    chart = next(c for c in manifest["charts"] if c["name"] == "accuracy_vs_speed_f32")
    points = [(s, p) for s in chart["series"] for p in s["points"]]
    # One point per variant and shape: 7 variants x 6 H, minus the unsupported one.
    self.assertEqual(len(points), 7 * 6 - 1)
    flagged = 0
    for s, p in points:
      for i in p["cases"]:
        self.assertTrue(Timed(by_id[i]))
      acc = [by_id[i] for i in p["accuracy_cases"]]
      ratios = [c["accuracy"]["y"]["max_bound_ratio"] for c in acc]
      self.assertEqual(p["y"], "Infinity" if "Infinity" in ratios else max(ratios))
      self.assertEqual(p["max_ulp"], max(c["accuracy"]["y"]["max_ulp"] for c in acc))
      # Every checked case of that variant and shape counts, whatever its input.
      self.assertEqual(sorted(p["accuracy_cases"]), sorted(
          c["id"] for c in report["cases"] if c["accuracy"] is not None and
          (c["backend"], c["variant"], c["problem"]["rows"], c["problem"]["cols"],
           c["problem"]["dtype"]) == (s["backend"], s["variant"], p["rows"], p["cols"], "f32")))
      self.assertTrue(all(by_id[i]["status"] == "failed" for i in p["failed_cases"]))
      flagged += bool(p["failed_cases"])
    self.assertEqual(flagged, 1)  # cuda/onepass at H=4096 fails the offset inputs

  # -- other reports ---------------------------------------------------------------

  def test_verify_only_report_skips_timing_charts(self):
    _, stderr, manifest = self.Result("verify")
    files = set(os.listdir(self.out["verify"]))
    self.assertEqual(files, {"plots.json"} | {"accuracy_%s_%s.%s" % (m, d, f)
                                                for m in ("ulp", "bound") for d in ("f32", "bf16")
                                                for f in ("png", "svg")})
    skipped = {s["chart"] for s in manifest["skipped"]}
    self.assertEqual(skipped, {"%s_%s" % (c, d) for c in TIMING_CHARTS for d in ("f32", "bf16")})
    self.assertIn("plot: note: bandwidth_f32: skipped:", stderr)
    for name in files - {"plots.json"}:
      path = os.path.join(self.out["verify"], name)
      CheckPng(self, path) if name.endswith(".png") else SvgText(self, path)

  def test_failed_case_with_a_timing_is_never_drawn(self):
    _, stderr, manifest = self.Result("two")
    report = LoadJson(Fixture("trap_failed_with_timing.json"))
    trap = [c["id"] for c in report["cases"] if c["status"] == "failed"]
    self.assertEqual(len(trap), 1)
    self.assertIsNotNone(next(c for c in report["cases"] if c["id"] == trap[0])["timing"])
    # The same id is a valid case in the other report: look at this report's series.
    machine = "AMD Ryzen 9 7950X 16-Core Processor [trap_failed_with_timing.json]"
    for prefix in TIMING_CHARTS:
      drawn = AllPoints(manifest, prefix, machine)
      self.assertTrue(drawn, prefix)
      self.assertNotIn(trap[0], drawn, prefix)
    chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    self.assertLess(max(p["y"] for s in chart["series"] for p in s["points"]), 1000)
    self.assertIn("did not pass verification", stderr)
    speedup = next(c for c in manifest["charts"] if c["name"] == "speedup_f32")
    self.assertEqual(speedup["baseline"], "highway/welford")

  def test_merged_report_draws_each_machine(self):
    _, _, manifest = self.Result("merged")
    report = LoadJson(Fixture("merged.json"))
    self.assertEqual(report["kind"], "lnbench-merged-report")
    machines = {c["machine"] for c in report["cases"]}
    self.assertEqual(len(machines), 2)
    chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    self.assertEqual({s["machine"] for s in chart["series"]}, machines)
    self.assertEqual(len(chart["ceilings"]), 3)
    # Legends name a short tag; the line under the title names each machine once.
    tags = {}
    for s in chart["series"]:
      tag, _, rest = s["label"].partition(": ")
      self.assertRegex(tag, r"^M[12]$", s["label"])
      self.assertEqual(tags.setdefault(s["machine"], tag), tag)
      self.assertFalse(any(m[:12] in rest for m in machines), s["label"])
    self.assertEqual(sorted(tags.values()), ["M1", "M2"])
    svg = SvgText(self, os.path.join(self.out["merged"], "bandwidth_f32.svg"))
    for machine, tag in tags.items():
      self.assertIn("%s = %s" % (tag, machine), svg)
      self.assertEqual(svg.count(machine), 1, machine)
    speedup = next(c for c in manifest["charts"] if c["name"] == "speedup_f32")
    by_id = collections.defaultdict(list)
    for c in report["cases"]:
      by_id[c["id"]].append(c)
    for s in speedup["series"]:
      for bar in s["bars"]:
        # Each speedup uses the baseline of its own machine.
        base = [c for c in by_id[bar["baseline_cases"][0]] if c["machine"] == s["machine"]]
        self.assertEqual(len(base), 1)
    for name in os.listdir(self.out["merged"]):
      if name.endswith(".png"):
        CheckPng(self, os.path.join(self.out["merged"], name))

  def LegendTexts(self, path):
    """Returns the texts of the legend of an SVG chart (matplotlib's legend group)."""
    root = ET.parse(path).getroot()
    legend = next(g for g in root.iter() if g.get("id", "").startswith("legend_"))
    return ["".join(t.itertext()).strip() for t in legend.iter() if t.tag.endswith("text")]

  def test_legends_are_short_and_name_each_ceiling_once(self):
    checked = 0
    for run, charts in (("merged", ("bandwidth_f32", "bandwidth_fraction_f32",
                                    "accuracy_vs_speed_f32")),
                        ("two", ("bandwidth_f32", "bandwidth_bf16")),
                        ("run", ("bandwidth_f32", "bandwidth_bf16"))):
      report_machines = {c["machine"] for n in self.Inputs(run) for c in LoadJson(n)["cases"]}
      for chart in charts:
        path = os.path.join(self.out[run], chart + ".svg")
        if not os.path.exists(path):
          continue
        checked += 1
        texts = self.LegendTexts(path)
        self.assertTrue(texts, path)
        self.assertEqual(len(texts), len(set(texts)), (path, texts))
        for t in texts:
          self.assertLessEqual(len(t), 48, (path, t))
          self.assertFalse(any(m[:12] in t for m in report_machines), (path, t))
        ceilings = [t for t in texts if t.startswith("ceiling")]
        if not chart.startswith(("bandwidth_fraction", "accuracy")):
          self.assertTrue(ceilings, (path, texts))
    self.assertGreaterEqual(checked, 5)
    # The merged report holds each ceiling of its machines: one entry each.
    chart = next(c for c in self.Result("merged")[2]["charts"] if c["name"] == "bandwidth_f32")
    keys = [(c["machine"], c["device"], "%.3g" % c["gbps"]) for c in chart["ceilings"]]
    self.assertEqual(len(keys), len(set(keys)))

  def test_ceilings_measured_per_case_are_one_band(self):
    _, _, manifest = self.Result("per_case")
    report = LoadJson(os.path.join(self.tmp, "per_case.json"))
    for dtype in ("f32", "bf16"):
      chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_" + dtype)
      quoted = sorted({c["throughput"]["ceiling_gbps"] for c in report["cases"]
                       if Timed(c) and c["problem"]["dtype"] == dtype})
      self.assertGreaterEqual(len(quoted), 3)
      # One device and thread count (cpu, 2 threads, memcpy): one band over its values.
      self.assertEqual(len(chart["ceilings"]), 1, chart["ceilings"])
      band = chart["ceilings"][0]
      self.assertEqual(band["measurements"], len(quoted))
      self.assertAlmostEqual(band["gbps_min"], quoted[0])
      self.assertAlmostEqual(band["gbps_max"], quoted[-1])
      self.assertEqual((band["device"], band["method"], band["threads"]), ("cpu", "memcpy", 2))
      texts = self.LegendTexts(os.path.join(self.out["per_case"], "bandwidth_%s.svg" % dtype))
      ceilings = [t for t in texts if t.startswith("ceiling")]
      self.assertEqual(len(ceilings), 1, texts)
      self.assertIn("per case", ceilings[0])
      self.assertLessEqual(len(ceilings[0]), 48, ceilings[0])

  def Inputs(self, run):
    return [a for a in self.runs[run] if a.endswith(".json")]

  def test_every_line_of_a_chart_has_its_own_style(self):
    # Lines of one kernel split by threads or N used to share colour and
    # marker (only the legend told them apart): each line now differs from
    # every other of its chart in colour, marker or dash.
    split_charts = 0
    for run in ("run", "merged", "two", "real_run", "rows"):
      for chart in self.Result(run)[2]["charts"]:
        series = chart.get("series") or []
        if not series or "style" not in series[0]:
          continue
        styles = [(s["style"]["color"], s["style"]["marker"], s["style"]["linestyle"])
                  for s in series]
        self.assertEqual(len(styles), len(set(styles)), (run, chart["name"], styles))
        kernels = collections.Counter((s["backend"], s["variant"], s["peer"], s["machine"])
                                      for s in series)
        split_charts += any(n > 1 for n in kernels.values())
    self.assertGreater(split_charts, 0)  # the rows fixture splits every kernel by N

  def test_accuracy_vs_speed_labels_do_not_overlap(self):
    moved = 0
    for run in ("run", "real_run", "merged", "two"):
      for chart in self.Result(run)[2]["charts"]:
        if not chart["name"].startswith("accuracy_vs_speed") or "labels" not in chart:
          continue
        boxes = [l["box_px"] for l in chart["labels"]]
        self.assertTrue(boxes, chart["name"])
        for i, a in enumerate(boxes):
          for b in boxes[i + 1:]:
            overlap = a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
            self.assertFalse(overlap, (run, chart["name"], a, b))
        moved += sum(l["offset"] != [4, 3] for l in chart["labels"])
        # Every drawn point (NaN ratios are not drawn) has its label or is counted out.
        drawn = [p for s in chart["series"] for p in s["points"] if p["y"] not in (None, "NaN")]
        self.assertEqual(len(chart["labels"]) + chart["labels_left_out"],
                         len(drawn) if len(drawn) <= 90 else 0)
    # The fixtures do crowd: some labels had to move off their first spot.
    self.assertGreater(moved, 0)

  def test_two_reports_on_one_command_line(self):
    _, _, manifest = self.Result("two")
    chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    # Both reports come from one machine: the file tells their lines apart.
    self.assertEqual({s["machine"] for s in chart["series"]},
                     {"AMD Ryzen 9 7950X 16-Core Processor [%s]" % n
                      for n in ("trap_failed_with_timing.json", "compare_new.json")})
    self.assertEqual(len(manifest["inputs"]), 2)

  def test_reports_of_real_runs(self):
    # Reports written by lnbench itself (tests/fixtures/plot/README.md says how).
    _, _, manifest = self.Result("real_run")
    report = LoadJson(Fixture("real_run_cpu.json"))
    dtypes = sorted({c["problem"]["dtype"] for c in report["cases"]})
    self.assertEqual(sorted(c["name"] for c in manifest["charts"]),
                     sorted("%s_%s" % (c, d) for c in CHARTS for d in dtypes))
    for name in os.listdir(self.out["real_run"]):
      if name.endswith(".png"):
        CheckPng(self, os.path.join(self.out["real_run"], name))
    timed = {c["id"] for c in report["cases"] if Timed(c)}
    drawn = AllPoints(manifest, "bandwidth_")
    self.assertTrue(drawn and drawn <= timed)
    speedup = next(c for c in manifest["charts"] if c["name"] == "speedup_f32")
    self.assertEqual(speedup["baseline"], "scalar/twopass")
    _, _, manifest = self.Result("real_verify")
    report = LoadJson(Fixture("real_verify_cpu.json"))
    dtypes = sorted({c["problem"]["dtype"] for c in report["cases"]})
    self.assertEqual(sorted(c["name"] for c in manifest["charts"]),
                     sorted("accuracy_%s_%s" % (m, d) for m in ("ulp", "bound") for d in dtypes))
    for chart in manifest["charts"]:
      self.assertEqual(sum(c["cases"] for c in chart["cells"]), len(
          [c for c in report["cases"] if c["problem"]["dtype"] == chart["dtype"]]))

  def test_one_chart_per_op(self):
    # `lnbench run --op all --dir all`: every chart once per op, named for it,
    # drawing that op's cases alone, with the op in the title, not in legends.
    _, _, manifest = self.Result("real_ops")
    report = LoadJson(Fixture("real_run_ops_cpu.json"))
    op_of = lambda c: "%s %s" % (c["problem"]["op"], c["problem"]["dir"])
    ops = sorted({op_of(c) for c in report["cases"]})
    self.assertEqual(ops, ["layernorm bwd", "layernorm fwd", "rmsnorm bwd", "rmsnorm fwd"])
    dtypes = sorted({c["problem"]["dtype"] for c in report["cases"]})
    self.assertEqual(sorted(c["name"] for c in manifest["charts"]),
                     sorted("%s_%s_%s" % (c, op.replace(" ", "_"), d)
                            for c in CHARTS for op in ops for d in dtypes))
    self.assertEqual(manifest["skipped"], [])
    by_id = {c["id"]: c for c in report["cases"]}
    names = {"layernorm": "LayerNorm", "rmsnorm": "RMSNorm", "fwd": "forward", "bwd": "backward"}
    for chart in manifest["charts"]:
      op = chart["ops"][0]
      self.assertEqual(chart["ops"], [op])
      self.assertTrue(chart["name"].endswith("_%s_%s" % (op.replace(" ", "_"), chart["dtype"])))
      self.assertTrue(chart["title"].startswith(" ".join(names[w] for w in op.split())),
                      chart["title"])
      ids = AllPoints(manifest, chart["name"])
      for cell in chart.get("cells", []):
        ids.update(cell.get("failed_cases", []))
      self.assertTrue(all(op_of(by_id[i]) == op for i in ids), chart["name"])
      for series in chart.get("series", []):
        self.assertNotIn("[", series["label"])
    for name in os.listdir(self.out["real_ops"]):
      if name.endswith(".png"):
        CheckPng(self, os.path.join(self.out["real_ops"], name))
    # The accuracy of a backward case is the worst of dx, dgamma and dbeta.
    for op in ("layernorm bwd", "rmsnorm bwd"):
      outputs = ["dx", "dgamma", "dbeta"] if op == "layernorm bwd" else ["dx", "dgamma"]
      for metric, field in (("ulp", "max_ulp"), ("bound", "max_bound_ratio")):
        chart = next(c for c in manifest["charts"]
                     if c["name"] == "accuracy_%s_%s_f32" % (metric, op.replace(" ", "_")))
        self.assertIn(", ".join(outputs) + " (worst)", chart["title"])
        for cell in chart["cells"]:
          if not cell["checked"]:
            continue
          cases = [c for c in report["cases"] if op_of(c) == op and c["accuracy"] and
                   c["problem"]["dtype"] == "f32" and c["problem"]["dist"] == cell["dist"] and
                   cell["row"].startswith("%s/%s" % (c["backend"], c["variant"]))]
          for c in cases:
            self.assertEqual(sorted(c["accuracy"]["tensors"]), sorted(outputs))
          self.assertEqual(cell["value"], max(c["accuracy"]["tensors"][t][field]
                                              for c in cases for t in outputs), cell["row"])

  def test_thread_counts_get_shades_in_bars_too(self):
    _, _, manifest = self.Result("threads")
    chart = next(c for c in manifest["charts"] if c["name"] == "speedup_layernorm_bwd_f32")
    highway = [s for s in chart["series"] if s["backend"] == "highway"]
    self.assertEqual(sorted(s["label"] for s in highway),
                     ["highway/avx3 1 thr", "highway/avx3 2 thr"])
    self.assertNotEqual(highway[0]["color"], highway[1]["color"])
    lines = next(c for c in manifest["charts"] if c["name"] == "bandwidth_layernorm_bwd_f32")
    line_colors = {s["label"]: s["style"]["color"] for s in lines["series"]}
    self.assertEqual({s["label"]: s["color"] for s in highway},
                     {k: v for k, v in line_colors.items() if k.startswith("highway")})

  def test_baseline_defaults_to_a_peer_without_scalar(self):
    _, stderr, manifest = self.Result("threads")  # no scalar case
    for op in ("layernorm_fwd", "layernorm_bwd"):
      chart = next(c for c in manifest["charts"] if c["name"] == "speedup_%s_f32" % op)
      self.assertTrue(chart["baseline"].startswith("onednn/"), chart["baseline"])
      self.assertEqual({s["backend"] for s in chart["series"]}, {"highway"})
    # oneDNN has no RMSNorm: those speedups are skipped, saying why.
    self.assertEqual(sorted(s["chart"] for s in manifest["skipped"]),
                     ["speedup_rmsnorm_bwd_f32", "speedup_rmsnorm_fwd_f32"])
    self.assertIn("baseline 'onednn'", stderr)
    # With scalar timed, scalar stays the default.
    _, _, manifest = self.Result("real_ops")
    chart = next(c for c in manifest["charts"] if c["name"] == "speedup_layernorm_fwd_f32")
    self.assertTrue(chart["baseline"].startswith("scalar/"), chart["baseline"])

  def test_odd_but_valid_reports(self):
    _, stderr, manifest = self.Result("single")
    self.assertEqual(sorted(c["name"] for c in manifest["charts"]),
                     ["accuracy_bound_f32", "accuracy_ulp_f32", "accuracy_vs_speed_f32",
                      "bandwidth_f32", "bandwidth_fraction_f32"])
    self.assertEqual([s["chart"] for s in manifest["skipped"]], ["speedup_f32"])
    self.assertIn("baseline 'scalar'", stderr)
    _, stderr, manifest = self.Result("no_ceiling")
    self.assertEqual([s["chart"] for s in manifest["skipped"]], ["bandwidth_fraction_f32"])
    chart = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    self.assertEqual(chart["ceilings"], [])
    for name in os.listdir(self.out["no_ceiling"]):
      if name.endswith(".png"):
        CheckPng(self, os.path.join(self.out["no_ceiling"], name))

  def test_lines_split_by_rows_only_on_a_grid(self):
    _, _, manifest = self.Result("rows")
    grid = next(c for c in manifest["charts"] if c["name"] == "bandwidth_f32")
    labels = [s["label"] for s in grid["series"]]
    kernels = {(s["backend"], s["variant"]) for s in grid["series"]}
    self.assertEqual(len(labels), 2 * len(kernels))  # one line per kernel and N
    self.assertEqual(sorted({lbl.replace(" (peer)", "").split()[-1] for lbl in labels}),
                     ["N=1000", "N=64"])
    report = LoadJson(os.path.join(self.tmp, "rows.json"))
    self.assertEqual(sum(len(s["points"]) for s in grid["series"]),
                     len([c for c in report["cases"] if c["problem"]["dtype"] == "f32"]))
    merged = next(c for c in manifest["charts"] if c["name"] == "bandwidth_bf16")
    self.assertFalse(any("N=" in s["label"] for s in merged["series"]))
    for s in merged["series"]:
      for p in s["points"]:
        # Only the larger problem at each H is drawn.
        self.assertEqual(len(p["cases"]), 1)
        self.assertFalse(p["cases"][0].endswith("/64"), p["cases"])

  # -- before/after ------------------------------------------------------------------

  def test_compare_highlights_regressions(self):
    _, _, manifest = self.Result("compare")
    self.assertEqual(sorted(os.listdir(self.out["compare"])),
                     ["compare.json", "compare.png", "compare.svg"])
    CheckPng(self, os.path.join(self.out["compare"], "compare.png"))
    text = SvgText(self, os.path.join(self.out["compare"], "compare.svg"))
    self.assertIn("NOW FAILS", text)
    old = {c["id"]: c for c in LoadJson(Fixture("compare_old.json"))["cases"]}
    new = {c["id"]: c for c in LoadJson(Fixture("compare_new.json"))["cases"]}
    chart = manifest["charts"][0]
    rows = {r["id"]: r for r in chart["rows"]}
    for i, n in new.items():
      o = old.get(i)
      if o and Timed(o) and Timed(n):
        change = n["timing"]["median_s"] / o["timing"]["median_s"] - 1
        self.assertAlmostEqual(rows[i]["change"], change, places=6)
    # Every verdict is lnbench compare's, case by case.
    rc, comparison = LnbenchCompare(Fixture("compare_old.json"), Fixture("compare_new.json"))
    self.assertEqual(chart["lnbench_exit_code"], rc)
    self.assertEqual(chart["verdict"], "regression")
    want = {c["new"]["id"] for c in comparison["cases"]
            if c["regression"] and c["timing"]["change"] is not None}
    got = {i for i, r in rows.items() if r["kind"] == "regression"}
    self.assertEqual(got, want)
    self.assertEqual({i for i, r in rows.items() if r["kind"] == "improvement"},
                     {c["new"]["id"] for c in comparison["cases"]
                      if c["timing"]["verdict"] == "faster"})
    for c in comparison["cases"]:
      if c["new"]["id"] in rows:
        self.assertEqual(rows[c["new"]["id"]]["regression"], c["regression"])
    self.assertTrue(got and all(new[i]["backend"] == "onednn" for i in got))
    fails = [r for r in chart["rows"] if r["kind"] == "now fails"]
    self.assertEqual(len(fails), 1)
    self.assertEqual(new[fails[0]["id"]]["status"], "failed")
    self.assertIsNone(fails[0]["new_median_s"])
    self.assertEqual(len(chart["only_new"]), 1)
    self.assertIn("twopass_nt", chart["only_new"][0])
    self.assertLess(chart["geomean_ratio"], 1.0)

  def test_compare_follows_lnbench_compare_where_5_percent_would_not(self):
    _, _, manifest = self.Result("noisy")
    chart = manifest["charts"][0]
    rc, comparison = LnbenchCompare(Fixture("compare_noisy_old.json"),
                                    Fixture("compare_noisy_new.json"))
    self.assertEqual(rc, 0)
    # The old rule of its own (over +5% is a regression) would flag this case.
    over = [r for r in chart["rows"] if r["change"] is not None and r["change"] > 0.05]
    self.assertEqual(len(over), 1)
    self.assertEqual(over[0]["kind"], "same")
    self.assertEqual(over[0]["timing_verdict"], "no change")
    self.assertEqual(chart["verdict"], "no regression")
    self.assertFalse(any(r["kind"] == "regression" for r in chart["rows"]))
    # --max-slowdown/--alpha go to compare: with alpha 0.9 compare calls it
    # slower, and so does the chart.
    out = os.path.join(self.tmp, "noisy_alpha")
    r = RunPlot(["compare", Fixture("compare_noisy_old.json"), Fixture("compare_noisy_new.json"),
                 "--alpha", "0.9", "--format", "svg", "-o", out])
    self.assertEqual(r.returncode, 0, r.stderr)
    p = subprocess.run([LNBENCH, "compare", Fixture("compare_noisy_old.json"),
                        Fixture("compare_noisy_new.json"), "--alpha", "0.9"], capture_output=True)
    rows = LoadJson(os.path.join(out, "compare.json"))["charts"][0]["rows"]
    self.assertEqual(p.returncode == 1, any(x["kind"] == "regression" for x in rows))

  def test_compare_axis_fits_the_changes(self):
    # The axis runs from the lowest to the highest change (or +-threshold), with
    # room for the value labels, not a symmetric span half empty.
    for name in ("compare", "noisy"):
      chart = self.Result(name)[2]["charts"][0]
      changes = [r["change"] * 100 for r in chart["rows"] if r["change"] is not None]
      lo = min(changes + [-chart["threshold"] * 100])
      hi = max(changes + [chart["threshold"] * 100])
      x0, x1 = chart["xlim"]
      self.assertLess(x0, lo)
      self.assertGreater(x1, hi)
      for margin in (lo - x0, x1 - hi):
        self.assertLess(margin, 0.25 * (x1 - x0), (name, chart["xlim"], lo, hi))

  def test_same_input_gives_the_same_svg(self):
    out = os.path.join(self.tmp, "again")
    r = RunPlot(["compare", Fixture("compare_old.json"), Fixture("compare_new.json"), "-o", out,
                 "--format", "svg"])
    self.assertEqual(r.returncode, 0, r.stderr)
    with open(os.path.join(out, "compare.svg"), "rb") as a, \
         open(os.path.join(self.out["compare"], "compare.svg"), "rb") as b:
      self.assertEqual(a.read(), b.read())

  # -- refusals -------------------------------------------------------------------------

  def test_bad_input_exits_2(self):
    broken = LoadJson(Fixture("trap_failed_with_timing.json"))
    broken["cases"][3]["problem"]["cols"] = "768"
    broken_path = os.path.join(self.tmp, "broken.json")
    with open(broken_path, "w") as f:
      json.dump(broken, f)
    deep_path = os.path.join(self.tmp, "deep.json")
    with open(deep_path, "w") as f:
      f.write("[" * 100000 + "]" * 100000)
    fifo_path = os.path.join(self.tmp, "fifo.json")
    if not os.path.exists(fifo_path):
      os.mkfifo(fifo_path)
    huge = LoadJson(Fixture("trap_failed_with_timing.json"))
    huge["cases"][3]["problem"]["cols"] = 10 ** 400
    huge_path = os.path.join(self.tmp, "huge.json")
    with open(huge_path, "w") as f:
      json.dump(huge, f)
    refusals = [
        # A traceback, a hang, and an exit 3 after 20 charts, once:
        ([deep_path], "nested too deeply"),
        ([fifo_path], "not a regular file"),
        ([huge_path], "cases[3].problem: rows"),
        ([Fixture("bad_not_a_report.json")], "not an lnbench report"),
        ([Fixture("bad_truncated.json")], "invalid JSON"),
        ([Fixture("bad_no_cases.json")], "no cases to plot"),
        ([Fixture("bad_all_unsupported.json")], "no cases to plot"),
        ([Fixture("run_gpu_node.json"), Fixture("bad_no_cases.json")], "bad_no_cases.json"),
        ([os.path.join(self.tmp, "missing.json")], "cannot read"),
        ([PLOT], "not an lnbench report"),
        ([Fixture("run_gpu_node.json"), "--format", "png,bmp"], "--format"),
        ([Fixture("run_gpu_node.json"), "--baseline", "nosuch"], "nosuch"),
        (["compare", Fixture("compare_old.json")], "arguments"),
        (["compare", Fixture("compare_old.json"), Fixture("bad_no_cases.json")],
         "no cases to plot"),
        # lnbench compare's own refusal (its rule decides what is comparable).
        (["compare", Fixture("verify_only.json"), Fixture("compare_new.json")],
         "nothing to compare"),
        ([Fixture("trap_failed_with_timing.json"), "-o", Fixture("run_gpu_node.json")],
         "not a folder"),
        ([broken_path], "cases[3].problem.cols"),  # the broken field is named
        ([], "required"),
    ]
    # Started together: each is a short process, and the test stays fast.
    procs = []
    for i, (args, needle) in enumerate(refusals):
      out = os.path.join(self.tmp, "refused%d" % i)
      procs.append((args, needle, out, StartPlot(
          list(args) + (["-o", out] if "-o" not in args and args else []))))
    for args, needle, out, p in procs:
      _, stderr = p.communicate(timeout=120)
      self.assertEqual(p.returncode, 2, "%s: %s" % (args, stderr))
      lines = stderr.strip().splitlines()
      self.assertEqual(len(lines), 1, stderr)
      self.assertTrue(lines[0].startswith("plot: error: "), lines[0])
      self.assertIn(needle, lines[0])
      self.assertFalse(os.path.exists(out), "%s: wrote files on bad input" % args)

  def test_unwritable_output_exits_3(self):
    r = RunPlot([Fixture("trap_failed_with_timing.json"), "-o",
                 os.path.join(Fixture("run_gpu_node.json"), "sub")])
    self.assertEqual(r.returncode, 3, r.stderr)
    self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)

  def test_missing_matplotlib_exits_3_with_the_fix(self):
    fake = os.path.join(self.tmp, "fake")
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "matplotlib.py"), "w") as f:
      f.write("raise ImportError('No module named matplotlib (test)')\n")
    env = dict(os.environ, PYTHONPATH=fake)
    out = os.path.join(self.tmp, "nompl")
    r = RunPlot([Fixture("run_gpu_node.json"), "-o", out], env=env)
    self.assertEqual(r.returncode, 3, r.stderr)
    self.assertIn("apt-get install python3-matplotlib", r.stderr)
    self.assertEqual(len(r.stderr.strip().splitlines()), 1)
    self.assertFalse(os.path.exists(out))

  def test_another_python_restarts_under_the_system_one(self):
    others = []
    for d in os.environ.get("PATH", "").split(os.pathsep) + ["/root/.pyenv/shims"]:
      p = os.path.join(d, "python3")
      if os.path.exists(p) and not os.path.samefile(p, sys.executable):
        others.append(p)
    for python in others:
      has = subprocess.run([python, "-c", "import matplotlib"], capture_output=True)
      if has.returncode != 0:
        break
    else:
      self.skipTest("no other python3 without matplotlib on this machine")
    out = os.path.join(self.tmp, "reexec")
    env = dict(os.environ)
    env.pop("LNBENCH_PLOT_REEXEC", None)
    compare = ["compare", Fixture("compare_old.json"), Fixture("compare_new.json"),
               "--format", "png"]
    r = RunPlot(compare + ["-o", out], python=python, env=env)
    self.assertEqual(r.returncode, 0, r.stderr)
    CheckPng(self, os.path.join(out, "compare.png"))
    # Run as a program, its shebang picks the system Python too.
    out2 = os.path.join(self.tmp, "shebang")
    r = subprocess.run([PLOT] + compare + ["-o", out2], capture_output=True, text=True,
                       timeout=120, env=env)
    self.assertEqual(r.returncode, 0, r.stderr)
    CheckPng(self, os.path.join(out2, "compare.png"))


if __name__ == "__main__":
  unittest.main(verbosity=2)
