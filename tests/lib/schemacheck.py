#!/usr/bin/python3
# Check real `vxts --json` outputs against docs/schema/*.json (draft 2020-12).
#
# Usage: schemacheck.py SCHEMA_DIR SAMPLES ALLOW
#   SAMPLES  lines "schema.json<TAB>file": the file is one JSON object, or
#            for progress.json the stderr of a run (every line starting
#            with '{' is one object)
#   ALLOW    schema properties no sample has to exercise, one per line:
#            "file.json:prop" or "file.json:*" (the whole schema), then
#            optionally a reason; blank lines and '#' lines are skipped
#
# Three checks, each failure one line on stdout, exit 1 if any:
#   1. every sample validates against its schema;
#   2. every member of every sample is required by its schema: deleting it
#      makes validation fail (OPTIONAL below lists the members that may be
#      absent);
#   3. every schema property not allow-listed is needed by some sample:
#      deleting it from the schema makes some sample fail (so no property is
#      documented that no real output has), and every schema not
#      allow-listed whole has a sample, or is referenced by one that has.
# The last line sums up: "N samples; N schema properties each proved needed
# by a real output; N not".
# Used by tests/cli/cases-guide.sh (image-file runs) and tests/vm/run.sh
# (the online verbs, samples sent by the guest).
import copy
import json
import os
import sys
import warnings

warnings.simplefilter("ignore", DeprecationWarning)     # RefResolver in newer jsonschema
from jsonschema import Draft202012Validator, RefResolver  # noqa: E402

# Members an output may leave out: a bare name anywhere, or
# "schema.json:dotted.path" for one member of one schema ("*:" any schema).
OPTIONAL = {
    "key_check",            # only when the command unlocked the volume
    "advancing",            # status DEVICE: only when a rate was measured
    "argon2id",             # keyslot: passphrase slots only
    "pkcs11_uri", "kms_key_id", "mechanism",    # keyslot: by type
    "volume_key", "new_volume_key",             # dump --volume-key only
    "*:header_path",        # the envelope's --header PATH: only when given
    "status-mapping.json:header",   # only when the data device is known
}


def load(sdir, samples_file, allow_file):
    store = {}
    for f in sorted(os.listdir(sdir)):
        if f.endswith(".json"):
            with open(os.path.join(sdir, f)) as fh:
                store[f] = json.load(fh)
            Draft202012Validator.check_schema(store[f])
    allow = set()
    with open(allow_file) as fh:
        for line in fh:
            w = line.split()
            if w and not w[0].startswith("#"):
                allow.add(w[0])
    samples = []
    with open(samples_file) as fh:
        for line in fh:
            if not line.strip():
                continue
            name, path = line.rstrip("\n").split("\t")
            with open(path) as sf:
                text = sf.read()
            try:
                if name == "progress.json":
                    objs = [json.loads(l) for l in text.splitlines() if l.startswith("{")]
                else:
                    objs = [json.loads(text)]
            except ValueError as e:
                sys.exit("%s: %s is not JSON (%s): %.120r" %
                         (name, os.path.basename(path), e, text))
            if not objs:
                sys.exit("no JSON in %s for %s" % (path, name))
            for o in objs:
                samples.append((name, path, o))
    return store, allow, samples


def errors(st, name, inst):
    v = Draft202012Validator(st[name], resolver=RefResolver("", st[name], store=st))
    return [e.message for e in v.iter_errors(inst)]


def members(o, path=()):
    if isinstance(o, dict):
        for k, v in o.items():
            yield path + (k,), v
            yield from members(v, path + (k,))
    elif isinstance(o, list) and o:
        yield from members(o[0], path + (0,))


def without(o, path):
    o = copy.deepcopy(o)
    p = o
    for k in path[:-1]:
        p = p[k]
    del p[path[-1]]
    return o


def props(s, path=()):
    if isinstance(s, dict):
        if isinstance(s.get("properties"), dict):
            for p in s["properties"]:
                yield path, p
        for k, v in s.items():
            yield from props(v, path + (k,))
    elif isinstance(s, list):
        for i, v in enumerate(s):
            yield from props(v, path + (i,))


def refs(s):
    if isinstance(s, dict):
        if isinstance(s.get("$ref"), str):
            yield s["$ref"].split("#")[0]
        for v in s.values():
            yield from refs(v)
    elif isinstance(s, list):
        for v in s:
            yield from refs(v)


def check_valid(store, samples):
    bad = 0
    for name, path, o in samples:
        if name not in store:
            print("no schema %s (for %s)" % (name, path))
            bad += 1
            continue
        for e in errors(store, name, o)[:3]:
            print("%s: %s does not validate: %s" % (name, os.path.basename(path), e))
            bad += 1
    return bad


def optional(name, mp):
    dotted = ".".join(map(str, mp))
    return mp[-1] in OPTIONAL or "%s:%s" % (name, dotted) in OPTIONAL or \
        "*:" + dotted in OPTIONAL


def check_required(store, samples):
    bad = 0
    for name, path, o in samples:
        if name not in store:
            continue
        for mp, v in members(o):
            if isinstance(mp[-1], int) or optional(name, mp):
                continue
            if not errors(store, name, without(o, mp)):
                print("%s: %s still validates without member %s" %
                      (name, os.path.basename(path), ".".join(map(str, mp))))
                bad += 1
    return bad


def check_needed(store, allow, samples):
    covered = uncovered = 0
    have = {name for name, _, _ in samples}
    referenced = {r for f in store for r in refs(store[f])}
    for f in sorted(store):
        if f + ":*" in allow:
            continue
        if f not in have and f not in referenced:
            print("%s: no sample output at all (did the run that makes it stop emitting?)" % f)
            uncovered += 1
        for sp, p in props(store[f]):
            if "%s:%s" % (f, p) in allow:
                continue
            st = copy.deepcopy(store)
            node = st[f]
            for k in sp:
                node = node[k]
            del node["properties"][p]
            if p in node.get("required", []):
                node["required"].remove(p)
            if any(errors(st, name, o) for name, _, o in samples if name in st):
                covered += 1
            else:
                print("%s: property %s (at /%s) is not needed by any sample output" %
                      (f, p, "/".join(map(str, sp))))
                uncovered += 1
    return covered, uncovered


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: schemacheck.py SCHEMA_DIR SAMPLES ALLOW")
    store, allow, samples = load(*sys.argv[1:4])
    bad = check_valid(store, samples) + check_required(store, samples)
    covered, uncovered = check_needed(store, allow, samples)
    print("%d samples; %d schema properties each proved needed by a real output; %d not" %
          (len(samples), covered, uncovered))
    sys.exit(1 if bad or uncovered else 0)


if __name__ == "__main__":
    main()
