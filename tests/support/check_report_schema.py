#!/usr/bin/python3
"""Validates lnbench reports against results/schema/report.schema.json.

    check_report_schema.py REPORT.json [REPORT.json ...]

Uses Debian's python3-jsonschema (Draft 2020-12), so the schema is checked by
the library that implements it, not by a hand-written subset. Prints one line
per error (file, JSON path, message) and exits 1 if any report breaks the
schema, 2 if jsonschema is missing or a file cannot be read, 0 otherwise.
"""
import json
import os
import sys

SCHEMA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "results",
                      "schema", "report.schema.json")


def Errors(validator, report):
  """Returns "path: message" for every place `report` breaks the schema."""
  out = []
  for e in sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path)):
    path = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p for p in e.absolute_path)
    out.append("%s: %s" % (path, e.message))
  return out


def MakeValidator():
  import jsonschema
  with open(SCHEMA) as f:
    schema = json.load(f)
  cls = jsonschema.validators.validator_for(schema)
  cls.check_schema(schema)
  return cls(schema)


def main(argv):
  if len(argv) < 2:
    print("usage: check_report_schema.py REPORT.json ...", file=sys.stderr)
    return 2
  try:
    validator = MakeValidator()
  except ImportError:
    print("check_report_schema: python3-jsonschema is not installed "
          "(apt-get install python3-jsonschema; scripts/setup.sh installs it)", file=sys.stderr)
    return 2
  bad = 0
  for path in argv[1:]:
    try:
      with open(path) as f:
        report = json.load(f)
    except (OSError, ValueError) as e:
      print("%s: cannot read: %s" % (path, e), file=sys.stderr)
      return 2
    for line in Errors(validator, report):
      print("%s: %s" % (path, line))
      bad += 1
  return 1 if bad else 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
