#!/usr/bin/env python3
"""GPU kit: proves and measures WfVae.Vulkan on a GPU in one command, against the PyTorch twin on the same GPU.

usage: python3 tools/gpu/kit.py [--out DIR] [--quick] [--rehearse] [--budget S] [--loader auto|bundled|system]
                                [--wfvae PATH] [--payload DIR] [--work DIR] [--keep-work] [--steps a,b]

Steps, in order, each bounded in time (tools/gpu/plan.py): setup (payload, Vulkan loader), devices, verify (every
golden case in fp32, fp16 and fp16 on cooperative matrices), weights (random WF-VAE-L-16Chn, generated here),
identity (streamed == whole clip, bit for bit; cooperative vs scalar fp16), bench (encode/decode time, peak memory,
per-layer table), peer (the PyTorch twin in TF32 and bf16 on the same sizes), stream (streaming decode: frames/s
and per-chunk latency). After every step DIR/summary.json and DIR/summary.md are rewritten, so a later failure or
a kill keeps what was measured; DIR/kit.log has every command and its output. Exit 0 when every step is ok,
1 when one failed or was skipped, 2 on bad arguments. docs/gpu.md explains the figures.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import plan as plans  # noqa: E402
from common import StepFailed, last_error  # noqa: E402
import report  # noqa: E402
import steps  # noqa: E402


class Killed(Exception):
    pass


class Kit:
    def __init__(self, args, plan, out, work):
        self.args, self.plan, self.out, self.work = args, plan, out, work
        self.env = dict(os.environ, PYTHONUNBUFFERED="1")
        self.repo = REPO
        self.wfvae = None
        self.started = time.monotonic()
        self.budget_s = args.budget or plan["budget_s"]
        self.deadline = None
        self.steps = []
        self.info = {"kit_mode": args.mode, "started_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                     "budget_s": self.budget_s, "repo_commit": git_commit(), "host": os.uname().nodename}
        self.log_file = open(os.path.join(out, "kit.log"), "a", buffering=1)

    def say(self, line):
        print(f"[kit {time.monotonic() - self.started:6.1f}s] {line}", flush=True)
        self.log_file.write(line + "\n")

    def remaining(self):
        return self.budget_s - (time.monotonic() - self.started)

    def run(self, cmd, label, env=None, stdout=None, check=True, base_env=None):
        """Runs a command within the step's deadline; returns (code, stdout, stderr). A timeout kills its process
        group and fails the step; check=True fails it on a nonzero exit too. The environment is the engine's
        (loader paths) unless base_env gives another."""
        timeout = self.deadline - time.monotonic()
        if timeout <= 1:
            raise StepFailed(f"no time left for {label}")
        self.log_file.write(f"\n$ {' '.join(cmd)}\n")
        start = time.monotonic()
        p = subprocess.Popen(cmd, stdout=stdout if stdout is not None else subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=dict(base_env or self.env, **(env or {})), cwd=self.repo, start_new_session=True)
        try:
            out, err = p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, err = p.communicate()
            self.log_file.write((out or "") + (err or ""))
            raise StepFailed(f"{label} timed out after {time.monotonic() - start:.0f} s")
        except BaseException:  # the kit itself was stopped: its commands go with it
            os.killpg(p.pid, signal.SIGKILL)
            raise
        self.log_file.write((out or "") + (err or "") + f"[exit {p.returncode}, {time.monotonic() - start:.1f} s]\n")
        if check and p.returncode != 0:
            raise StepFailed(f"{label} exited with code {p.returncode}: {last_error(err, out)}")
        return p.returncode, out or "", err or ""

    def step(self, name, fn, needs=()):
        record = {"name": name, "status": "skipped", "seconds": 0.0}
        self.steps.append(record)
        missing = [n for n in needs if self.status(n) != "ok"]
        bound = self.plan["bounds"][name]
        if missing:
            record["reason"] = f"needs {', '.join(missing)}, which did not succeed"
        elif self.remaining() < 5:
            record["reason"] = f"the kit's budget of {self.budget_s:.0f} s is spent"
        else:
            self.deadline = time.monotonic() + min(bound, self.remaining())
            self.say(f"step {name} (at most {min(bound, self.remaining()):.0f} s)")
            start = time.monotonic()
            try:
                fn(self, record)
                record["status"] = "ok"
            except Killed:
                record.update(status="failed", reason="the kit was stopped (SIGTERM) during this step")
                raise
            except StepFailed as e:
                record.update(status="failed", reason=str(e))
            except Exception as e:  # a broken kit must still report, not stop
                record.update(status="failed", reason=f"{type(e).__name__}: {e}")
            finally:
                record["seconds"] = round(time.monotonic() - start, 2)
        self.say(f"step {name}: {record['status']}{' - ' + record['reason'] if 'reason' in record else ''}")
        self.write()

    def status(self, name):
        return next((s["status"] for s in self.steps if s["name"] == name), "missing")

    def write(self):
        summary = dict(self.info, steps=self.steps, comparison=report.comparison(self),
                       elapsed_s=round(time.monotonic() - self.started, 1))
        write_atomically(os.path.join(self.out, "summary.json"), json.dumps(summary, indent=2) + "\n")
        write_atomically(os.path.join(self.out, "summary.md"), report.markdown(summary))


def write_atomically(path, text):
    with open(path + ".tmp", "w") as f:
        f.write(text)
    os.replace(path + ".tmp", path)


def git_commit():
    """The checkout's commit; on a machine that got the files without .git, the one the payload was built from."""
    try:
        commit = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        commit = ""
    manifest = os.path.join(REPO, "artifacts", "gpu-kit", "payload", "manifest.json")
    if not commit and os.path.exists(manifest):
        with open(manifest) as f:
            commit = json.load(f).get("commit", "")
    return commit or None


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=os.environ.get("OUT") or os.path.join(REPO, "artifacts", "gpu-kit"),
                   help="results folder (default: $OUT, else artifacts/gpu-kit)")
    p.add_argument("--quick", action="store_true", help="the second-try plan: fewer sizes, single runs")
    p.add_argument("--rehearse", action="store_true", help="small sizes for a CPU Vulkan driver, the twin on the CPU")
    p.add_argument("--budget", type=float, help="seconds for all steps (default: the plan's)")
    p.add_argument("--loader", choices=["auto", "bundled", "system"],
                   help="Vulkan loader: the system's when present (auto, the default on a GPU), or the payload's "
                        "(bundled, the rehearsal's default when the payload has one)")
    p.add_argument("--wfvae", help="use this wfvae executable instead of the payload's build")
    p.add_argument("--payload", default=os.path.join(REPO, "artifacts", "gpu-kit", "payload"))
    p.add_argument("--work", help="scratch folder (default: a new temporary folder, removed at the end)")
    p.add_argument("--keep-work", action="store_true")
    p.add_argument("--steps", help="comma-separated steps to run (the steps they need run too); default all")
    args = p.parse_args(argv)
    args.selected = selected_steps(p, args.steps)
    # Commands run in the repository root: paths given relative to the caller's folder are made absolute first.
    for name in ("out", "wfvae", "payload", "work"):
        if getattr(args, name):
            setattr(args, name, os.path.abspath(getattr(args, name)))
    args.mode = plans.choose(args.quick, args.rehearse)
    return args


def selected_steps(parser, text):
    """The named steps and, transitively, the steps they need; all steps when none are named."""
    known = {name: needs for name, _, needs in steps.ORDER}
    if not text:
        return set(known)
    chosen = {n.strip() for n in text.split(",") if n.strip()}
    unknown = chosen - set(known)
    if unknown:
        parser.error(f"unknown step(s) {', '.join(sorted(unknown))} (steps: {', '.join(known)})")
    while True:
        more = {need for n in chosen for need in known[n]} - chosen
        if not more:
            return chosen
        chosen |= more


def main(argv):
    args = parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    for stale in ("summary.json", "summary.md", "kit.log"):
        if os.path.exists(os.path.join(args.out, stale)):
            os.remove(os.path.join(args.out, stale))
    work = args.work or tempfile.mkdtemp(prefix="wfvae-gpu-kit-")
    os.makedirs(work, exist_ok=True)
    kit = Kit(args, plans.PLANS[args.mode], args.out, work)

    def on_term(signum, frame):
        raise Killed()
    signal.signal(signal.SIGTERM, on_term)
    try:
        kit.say(f"mode {args.mode}, budget {kit.budget_s:.0f} s, results in {args.out}")
        for name, fn, needs in steps.ORDER:
            if name in args.selected:
                kit.step(name, fn, needs)
    except (Killed, KeyboardInterrupt):
        kit.say("stopped: the results so far are in summary.json")
        for name, _, _ in steps.ORDER:
            if name in args.selected and kit.status(name) == "missing":
                kit.steps.append({"name": name, "status": "skipped", "seconds": 0.0, "reason": "the kit was stopped"})
    finally:
        kit.write()
        if not args.keep_work and not args.work:
            shutil.rmtree(work, ignore_errors=True)
    # The whole summary on the console too: a remote runner that returns only the output's tail still gets it.
    with open(os.path.join(args.out, "summary.md")) as f:
        print("\n" + f.read())
    print(report.console(kit))
    return 0 if all(s["status"] == "ok" for s in kit.steps) and len(kit.steps) == len(args.selected) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
