#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Runs every shell command block of README.md and docs/*.md as printed, so
the documentation stays true.

    run_doc_commands.py SOURCE_ROOT BUILD_ROOT [FILE.md ...]

Each ```sh (or ```bash) block runs with bash -e in a scratch folder that
holds symbolic links to the repository's graphs/, examples/, scripts/ and
weights/ (so paths read as in a clone), with the built cnnrun first on
PATH, as the README's quick start leaves it. A file's blocks run in order
in one folder, so later blocks see earlier blocks' files; each block runs
in a fresh shell, but `export NAME=...` lines carry over to the file's
later blocks.

A block that must not run here is preceded by a marker line naming why:

    <!-- doc-test: skip (needs root: installs Debian packages) -->

The skip list is kept small (the quick start script itself, the whole
suite, builds and installs); everything else must run. docs/plugin-abi.md's
tutorial runs in a copy of examples/lrn/ against the build tree's SDK
(meson-uninstalled/cnn-uninstalled.pc), since its install step is one of
the skipped blocks.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

BLOCK = re.compile(r"(?P<marker><!-- doc-test: (?P<what>[^>]*)-->\s*\n)?```(?P<lang>[a-z]*)\n(?P<body>.*?)```",
                   re.S)


def blocks(text):
    for m in BLOCK.finditer(text):
        if m.group("lang") not in ("sh", "bash"):
            continue
        line = text[:m.start("lang")].count("\n") + 1
        yield line, m.group("what"), m.group("body")


def run_file(src, build, path):
    rel = os.path.relpath(path, src)
    failures = 0
    work = tempfile.mkdtemp(prefix="cnn-doc-")
    try:
        for name in ("graphs", "examples", "scripts"):
            os.symlink(os.path.join(src, name), os.path.join(work, name))
        os.makedirs(os.path.join(work, "weights"))
        if rel == os.path.join("docs", "plugin-abi.md"):
            for name in ("lrn.c", "lenet5-lrn.yaml"):
                shutil.copy(os.path.join(src, "examples", "lrn", name), work)
        env = dict(os.environ)
        env["PATH"] = os.path.join(build, "cnnrun") + os.pathsep + env["PATH"]
        env["PKG_CONFIG_PATH"] = os.path.join(build, "meson-uninstalled")
        env.pop("CNN_PLUGIN_PATH", None)
        exports = ""
        for line, what, body in blocks(open(path).read()):
            where = "%s:%d" % (rel, line)
            if what and what.strip().startswith("skip"):
                print("skip - %s %s" % (where, what.strip()[4:].strip()))
                continue
            # Continued lines are one command; exports carry over.
            exports += "".join(l + "\n" for l in body.replace("\\\n", " ").splitlines()
                               if l.startswith("export "))
            started = time.time()
            proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", exports + body], cwd=work,
                                  env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            took = time.time() - started
            if proc.returncode == 0:
                print("ok - %s (%.1f s)" % (where, took))
            else:
                failures += 1
                print("not ok - %s exit %d:\n%s\n--- output:\n%s" % (
                    where, proc.returncode, body, proc.stdout.decode(errors="replace")[-3000:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return failures


def main():
    src, build = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    files = sys.argv[3:] or [os.path.join(src, "README.md")] + sorted(
        os.path.join(src, "docs", f) for f in os.listdir(os.path.join(src, "docs")) if f.endswith(".md"))
    if not os.path.exists("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"):
        print("Fashion-MNIST is not installed (dataset-fashion-mnist); skipping")
        return 77
    failures = sum(run_file(src, build, os.path.abspath(f)) for f in files)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
