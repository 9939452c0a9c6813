"""The `phiwall` command: run the proxy, scan files offline, check policies.

Exit status, the same for every command: 0 fine (nothing would be blocked, every test passed), 1 something would
be blocked or a policy test failed, 2 usage errors (bad arguments, missing files, an invalid policy, a detector
that cannot load). A closed stdout (`phiwall replay --json ... | head`) ends the command quietly with 141.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from phiwall import home
from phiwall import preflight
from phiwall import safelog
from phiwall.errors import PolicyError

if TYPE_CHECKING:  # imported where used: `phiwall --help` stays quick
    from phiwall.pipeline import Inspection

EXIT_OK, EXIT_FOUND, EXIT_USAGE = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return EXIT_USAGE
    if extra and args.cmd not in ("run", "gateway"):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`phiwall replay --json ... | head`): stop quietly, as a SIGPIPE'd tool does.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("phiwall")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown (not installed)"


def _count(text: str) -> int:
    """A count of processes or jobs: a whole number of at least 1, checked when the arguments are parsed."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"{n} is too few: at least 1")
    if n > 256:
        raise argparse.ArgumentTypeError(f"{n} is too many: at most 256")
    return n


def _port(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= n <= 65535:
        raise argparse.ArgumentTypeError(f"{n} is not a port: use 1-65535")
    return n


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="phiwall", description="Stop PHI and medical images on their way to AI chatbots.")
    p.add_argument("--version", action="version", version=f"phiwall {_version()}")
    sub = p.add_subparsers(dest="cmd")

    run = sub.add_parser(
        "run", help="start the proxy", description="Start the proxy. Arguments after -- go to mitmdump."
    )
    run.add_argument("--policy", help="policy YAML (default: the embedded default policy)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    run.add_argument("--port", type=_port, default=8080, help="port to listen on (default 8080)")
    run.add_argument(
        "--mode",
        choices=("enforce", "shadow"),
        default="enforce",
        help="shadow: inspect and audit what the policy would have done (verdict, rule ids), change nothing",
    )
    run.add_argument("--audit-file", help="JSON Lines audit file (default ~/.phiwall/audit.jsonl)")
    run.add_argument("--workers", type=_count, help="inspection worker processes (default: one per CPU core)")
    _run_access_flags(run)
    run.set_defaults(func=cmd_run)

    scan = sub.add_parser("scan", help="inspect files offline with the same detectors and policy")
    scan.add_argument("paths", nargs="+", help="files or folders; a .jsonl file is read as records with id and text")
    scan.add_argument("--policy", help="policy YAML (default: the embedded default policy)")
    scan.add_argument("--json", action="store_true", help="one JSON object per file or record")
    scan.add_argument("--jobs", "-j", type=_count, default=1, metavar="N", help="worker processes (default 1)")
    scan.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    scan.set_defaults(func=cmd_scan)

    from phiwall import cli_deid  # `phiwall deid`: offline de-identification (its own module)

    cli_deid.add_parser(sub)

    pol = sub.add_parser("policy", help="work with policy files")
    polsub = pol.add_subparsers(dest="polcmd")
    check = polsub.add_parser("check", help="validate policy files: every problem with file, line and field")
    check.add_argument("files", nargs="+")
    check.set_defaults(func=cmd_policy_check)
    ptest = polsub.add_parser(
        "test",
        help="run the YAML test cases shipped beside policies (like opa test), with rule coverage",
        description="Run every *.cases.yaml under DIR (default: policies) through the real pipeline and policy.",
    )
    ptest.add_argument(
        "paths", nargs="*", help="folders or cases files (default: ./policies, else the policies phiwall ships)"
    )
    ptest.add_argument("-v", "--verbose", action="store_true", help="also list passing cases")
    ptest.add_argument("--json", action="store_true", help="one JSON object per cases file")
    ptest.add_argument("--no-coverage", action="store_true", help="do not fail when a rule has no case")
    ptest.set_defaults(func=cmd_policy_test)
    schema = polsub.add_parser("schema", help="print the policy JSON Schema (policies/policy.schema.json)")
    schema.set_defaults(func=cmd_policy_schema)

    def policy_help(_args: argparse.Namespace) -> int:
        pol.print_help()
        return EXIT_USAGE

    pol.set_defaults(func=policy_help)

    gw = sub.add_parser(
        "gateway",
        help="HAProxy + N phiwall replicas + Redis on this host (the hospital egress gateway)",
        description="Start HAProxy (TCP mode, health-checked) on HOST:PORT in front of N `phiwall run` replicas "
        "on loopback ports, sharing state in Redis (started unless --redis). Arguments after -- go to every "
        "replica's `phiwall run` (a second -- then to mitmdump). Ctrl-C stops all of it.",
    )
    gw.add_argument("--replicas", type=_count, default=2, help="phiwall processes behind HAProxy (default 2)")
    gw.add_argument("--port", type=_port, default=8080, help="port HAProxy listens on (default 8080)")
    gw.add_argument("--host", default="127.0.0.1", help="address HAProxy listens on (default 127.0.0.1)")
    gw.add_argument("--redis", metavar="URL", help="use this Redis (redis://host:port/db) instead of starting one")
    gw.set_defaults(func=cmd_gateway)

    pac = sub.add_parser("pac", help="print a PAC file: chatbot hosts through the proxy, everything else DIRECT")
    pac.add_argument("--proxy", required=True, metavar="HOST:PORT", help="where browsers reach phiwall")
    pac.set_defaults(func=cmd_pac)

    rep = sub.add_parser(
        "replay",
        help="run recorded traffic (flow files, HAR) through a policy offline and report",
        description="Run every request of mitmproxy flow files (mitmdump -w) or HAR exports through the full "
        "pipeline, offline: nothing is sent anywhere. Reports verdicts, rule ids and finding counts, never PHI.",
    )
    rep.add_argument("inputs", nargs="+", metavar="INPUT", help="flow files or HAR files")
    rep.add_argument("--policy", help="policy YAML (default: the embedded default policy)")
    rep.add_argument("--compare", metavar="OTHER_POLICY", help="also run OTHER_POLICY and list verdict changes")
    rep.add_argument("--json", action="store_true", help="JSON Lines: one object per request, in input order")
    rep.add_argument("--html", metavar="FILE", help="also write a self-contained HTML report with charts")
    rep.add_argument("--report", metavar="FILE", help="also write the whole report as one JSON document")
    rep.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: when stderr is a terminal)",
    )
    rep.add_argument("--groups-file", default="", help="group file, as phiwall_groups_file")
    rep.add_argument("--user-header", default="", help="as phiwall_user_header")
    rep.add_argument("--groups-header", default="", help="as phiwall_groups_header")
    rep.add_argument("--trusted-proxies", default="", help="as phiwall_trusted_proxies")
    rep.set_defaults(func=cmd_replay)
    return p


# -- run --------------------------------------------------------------------------------------------------------


def _cores() -> int:
    """Inspection workers sized to the machine (phiwall.workers.default_workers, without importing the pipeline)."""
    try:
        return max(1, min(len(os.sched_getaffinity(0)), 16))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, min(os.cpu_count() or 2, 16))


def _run_access_flags(run: argparse.ArgumentParser) -> None:
    """Who may use the proxy, who they are, and where it reports (phiwall.exposure, docs/deployment.md)."""
    from phiwall.exposure import OPEN_PROXY_FLAG

    g = run.add_argument_group("access and identity")
    g.add_argument("--htpasswd", metavar="FILE", help="require a proxy login checked against FILE (htpasswd -B/-s)")
    g.add_argument("--proxyauth", metavar="SPEC", help="any mitmproxy proxyauth spec (@FILE, ldap:..., user:pass)")
    g.add_argument("--groups-file", metavar="FILE", help="'group: user1 user2' lines for policy groups")
    g.add_argument("--user-header", metavar="NAME", help="header naming the user, set by an authenticating proxy")
    g.add_argument("--groups-header", metavar="NAME", help="header listing the user's groups (comma-separated)")
    g.add_argument("--trusted-proxies", metavar="CIDRS", help="IPs/CIDRs whose identity headers are trusted")
    g.add_argument(
        OPEN_PROXY_FLAG,
        dest="open_proxy_ok",
        action="store_true",
        help="listen on a non-loopback address without authentication (anyone who reaches it may use it)",
    )
    g.add_argument("--admin-port", type=_port, metavar="PORT", help="serve /metrics, /healthz, /readyz, /proxy.pac")
    g.add_argument("--admin-host", metavar="ADDR", help="admin address (default 127.0.0.1; containers: 0.0.0.0)")
    g.add_argument("--state", metavar="URL", help="shared state: memory (default) or redis://host:port/db")


def mitmdump_args(args: argparse.Namespace, max_body: int) -> list[str]:
    from phiwall import mitm_entry
    from phiwall.extractors import allow_hosts_pattern

    confdir = home.default_confdir()
    out = [
        "-s",
        str(Path(mitm_entry.__file__)),
        "--listen-host",
        args.host,
        "--listen-port",
        str(args.port),
        "--set",
        f"confdir={confdir}",
        "--set",
        "connection_strategy=lazy",
        "--set",
        f"allow_hosts={allow_hosts_pattern()}",
        "--set",
        f"body_size_limit={max_body}",
        "--set",
        "flow_detail=0",
        "--set",
        f"phiwall_mode={args.mode}",
        "--set",
        f"phiwall_workers={args.workers or _cores()}",
    ]
    if args.policy:
        out += ["--set", f"phiwall_policy={Path(args.policy).resolve()}"]
    if args.audit_file:
        out += ["--set", f"phiwall_audit_file={Path(args.audit_file).expanduser().resolve()}"]
    out += _access_set_args(args)
    return out + list(args.extra or [])


def _access_set_args(args: argparse.Namespace) -> list[str]:
    out: list[str] = []
    auth = _proxyauth_spec(args)
    if auth:
        out += ["--set", f"proxyauth={auth}"]
    if getattr(args, "groups_file", None):
        out += ["--set", f"phiwall_groups_file={Path(args.groups_file).expanduser().resolve()}"]
    for flag, opt in (
        ("user_header", "phiwall_user_header"),
        ("groups_header", "phiwall_groups_header"),
        ("trusted_proxies", "phiwall_trusted_proxies"),
        ("state", "phiwall_state"),
    ):
        if getattr(args, flag, None):
            out += ["--set", f"{opt}={getattr(args, flag)}"]
    if getattr(args, "admin_port", None):
        out += ["--set", f"phiwall_admin_port={args.admin_port}"]
    if getattr(args, "admin_host", None):
        out += ["--set", f"phiwall_admin_host={args.admin_host}"]
    if getattr(args, "open_proxy_ok", False):
        out += ["--set", "phiwall_open_proxy=true"]
    return out


def _proxyauth_spec(args: argparse.Namespace) -> str:
    if getattr(args, "htpasswd", None):
        return "@" + str(Path(args.htpasswd).expanduser().resolve())
    return str(getattr(args, "proxyauth", None) or "")


def ensure_ca() -> Path:
    """Create the proxy CA now, so we can print where it is before the proxy starts."""
    from mitmproxy.certs import CertStore

    confdir = home.default_confdir()
    confdir.mkdir(parents=True, exist_ok=True)
    CertStore.from_store(confdir, "mitmproxy", 2048)
    from phiwall import digest

    digest.load_or_create_secret(home.default_secret_file())  # before any worker reads it: made 0600, once
    home.restrict_secrets(confdir)
    return confdir / "mitmproxy-ca-cert.pem"


def _open_proxy_problem(args: argparse.Namespace) -> str | None:
    from phiwall import exposure

    extra = list(args.extra or [])
    if args.htpasswd and not Path(args.htpasswd).expanduser().is_file():
        return f"phiwall: no htpasswd file at {args.htpasswd} (create it with: htpasswd -B -c FILE USER)"
    return exposure.refusal(
        exposure.ListenAuth(
            host=exposure.listen_host_from_extra(extra) or args.host,
            proxyauth=exposure.option_from_extra(extra, "proxyauth") or _proxyauth_spec(args),
            user_header=exposure.option_from_extra(extra, "phiwall_user_header") or args.user_header or "",
            trusted_proxies=exposure.option_from_extra(extra, "phiwall_trusted_proxies") or args.trusted_proxies or "",
            open_proxy_ok=args.open_proxy_ok,
        )
    )


def cmd_run(args: argparse.Namespace) -> int:
    from phiwall.policy import load_policy

    try:
        source = load_policy(args.policy)
    except PolicyError as e:
        print(f"phiwall: cannot start, the policy is invalid:\n{e}", file=sys.stderr)
        return EXIT_USAGE
    extra = list(args.extra or [])
    if extra and extra[0] == "--":
        extra = extra[1:]
    args.extra = extra
    problem = _open_proxy_problem(args) or safelog.traffic_logging_refusal(extra) or preflight.refusal(source)
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    ca = ensure_ca()
    audit = args.audit_file or str(home.default_audit_file())
    proxy = f"http://{args.host}:{args.port}"
    print(
        f"phiwall: policy {source.model.id} ({source.path}), mode {args.mode}, audit {audit}\n"
        f"phiwall: listening on {proxy}. Point clients at it and trust its CA:\n"
        f"    export HTTPS_PROXY={proxy} HTTP_PROXY={proxy}\n"
        f"    export SSL_CERT_FILE={ca} REQUESTS_CA_BUNDLE={ca}\n"
        f"    export GRPC_DEFAULT_SSL_ROOTS_FILE_PATH={ca}   # gRPC clients (xai-sdk)\n"
        f"  Browsers: import {ca} as a trusted authority (docs/deployment.md).",
        flush=True,
    )
    argv = mitmdump_args(args, source.model.defaults.max_body_bytes)
    exe = Path(sys.executable).with_name("mitmdump")
    if not exe.exists():
        found = shutil.which("mitmdump")
        exe = Path(found) if found else exe
    os.environ.setdefault("OMP_THREAD_LIMIT", "1")
    os.execv(str(exe), [str(exe), *argv])
    return EXIT_OK  # not reached


# -- scan -------------------------------------------------------------------------------------------------------


def _iter_paths(paths: list[str]) -> Iterator[Path]:
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            yield from sorted(x for x in p.rglob("*") if x.is_file())
        else:
            yield p


def _finding_json(f: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"detector": f.detector, "entity": f.entity, "score": round(f.score, 3)}
    for key in ("start", "end", "modality", "bbox", "tag"):
        v = getattr(f, key)
        if v is not None:
            out[key] = list(v) if isinstance(v, tuple) else v
    return out


def cmd_scan(args: argparse.Namespace) -> int:
    from phiwall import digest
    from phiwall.pipeline import Pipeline
    from phiwall.policy import Policy
    from phiwall.policy import load_policy

    try:
        source = load_policy(args.policy)
    except PolicyError as e:
        print(f"phiwall: invalid policy:\n{e}", file=sys.stderr)
        return EXIT_USAGE
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"phiwall: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    problem = preflight.refusal(source, "scan")
    if problem:
        print(problem, file=sys.stderr)
        return EXIT_USAGE
    from phiwall import scan

    digest.set_key(digest.load_or_create_secret(home.default_secret_file()))
    pipe = Pipeline(Policy(source))
    blocked = False
    for res in scan.run(pipe, scan.items(args.paths), args.jobs, args.progress):
        ins, rec = res.inspection, res.item.record
        if ins is None:
            print(f"phiwall: cannot read {res.item.path}: {res.error}", file=sys.stderr)
            return EXIT_USAGE
        if rec is not None:
            blocked |= _report(args, {"path": res.item.path, "id": rec[0], "media_type": "text/plain"}, ins)
        else:
            media = ins.parts[0].media_type if ins.parts else None
            blocked |= _report(args, {"path": res.item.path, "media_type": media}, ins)
    return EXIT_FOUND if blocked else EXIT_OK


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                print(f"phiwall: {path}:{n}: not a JSON record, skipped", file=sys.stderr)
                continue
            if isinstance(rec, dict):
                yield rec


def _report(args: argparse.Namespace, head: dict[str, Any], ins: Inspection) -> bool:
    d = ins.decision
    if args.json:
        out = dict(head)
        if out.get("id") is None:
            out.pop("id", None)
        out["findings"] = [_finding_json(f) for f in d.findings]
        out["verdict"] = str(d.verdict)
        out["rule_ids"] = list(d.rule_ids)
        if d.error:
            out["error"] = d.error
        print(json.dumps(out), flush=True)
    else:
        name = head["path"] + (f"#{head['id']}" if head.get("id") is not None else "")
        counts = ", ".join(f"{k}×{v}" for k, v in d.entity_counts().items()) or "no findings"
        rules = f" [{', '.join(d.rule_ids)}]" if d.rule_ids else ""
        print(f"{str(d.verdict).upper():6} {name}: {counts}{rules}" + (f" ({d.error})" if d.error else ""))
    return d.verdict.name == "BLOCK" or d.verdict.name == "DEIDENTIFY"


# -- policy -----------------------------------------------------------------------------------------------------


def cmd_policy_check(args: argparse.Namespace) -> int:
    from phiwall.policy import load_policy
    from phiwall.policy.loader import message_advice

    bad = False
    for f in args.files:
        try:
            src = load_policy(f)
        except PolicyError as e:
            bad = True
            print(str(e))
            continue
        print(f"{f}: OK (policy {src.model.id}, {len(src.model.rules)} rules)")
        for advice in message_advice(f):
            print(advice)
    return EXIT_USAGE if bad else EXIT_OK


def cmd_policy_test(args: argparse.Namespace) -> int:
    from phiwall import digest
    from phiwall import policytest

    if not args.paths:
        # From a checkout: its policies/ folder; from an installed wheel: the policies and cases it ships.
        shipped = Path(__file__).with_name("data") / "policies"
        args.paths = ["policies"] if Path("policies").is_dir() else [str(shipped)]
    missing = [p for p in args.paths if not Path(p).exists()]
    if missing:
        print(f"phiwall: no such file or folder: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    digest.set_key(digest.load_or_create_secret(home.default_secret_file()))
    bad = invalid = False
    n = 0
    for suite in policytest.run([Path(p) for p in args.paths]):
        n += 1
        if args.json:
            print(
                json.dumps(
                    {
                        "cases_file": suite.cases_file,
                        "policy": suite.policy_id,
                        "error": suite.error,
                        "passed": [r.name for r in suite.results if r.ok],
                        "failed": [{"name": r.name, "problem": r.describe_failure()} for r in suite.failed],
                        "uncovered": suite.uncovered,
                    }
                ),
                flush=True,
            )
        else:
            print(policytest.format_suite(suite, args.verbose), flush=True)
        invalid |= bool(suite.error)
        bad |= bool(suite.failed or (suite.uncovered and not args.no_coverage))
    if n == 0:
        print(f"phiwall: no *.cases.yaml found under {', '.join(args.paths)}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_USAGE if invalid else EXIT_FOUND if bad else EXIT_OK


def cmd_policy_schema(args: argparse.Namespace) -> int:
    from phiwall.policy.jsonschema import policy_json_schema

    print(json.dumps(policy_json_schema(), indent=2))
    return EXIT_OK


def cmd_gateway(args: argparse.Namespace) -> int:
    from phiwall.gateway import run_gateway

    return run_gateway(args.host, args.port, args.replicas, args.redis, list(args.extra or []))


def cmd_pac(args: argparse.Namespace) -> int:
    from phiwall.pac import pac_file

    try:
        print(pac_file(args.proxy), end="")
    except ValueError as e:
        print(f"phiwall: {e}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from phiwall import digest
    from phiwall import replay as rp
    from phiwall.policy import load_policy

    missing = [p for p in args.inputs if not Path(p).is_file()]
    if missing:
        print(f"phiwall: no such file: {', '.join(missing)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        ident = rp.IdentityOptions(args.groups_file, args.user_header, args.groups_header, args.trusted_proxies)
        main_r = rp.Replayer(load_policy(args.policy), ident)
        other_r = rp.Replayer(load_policy(args.compare), ident) if args.compare else None
        records = rp.read_inputs([Path(p) for p in args.inputs])
        digest.set_key(digest.load_or_create_secret(home.default_secret_file()))
        report = rp.replay(records, main_r, other_r, args.progress)
    except PolicyError as e:
        print(f"phiwall: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        for row in report["requests"]:
            print(json.dumps(row), flush=False)
        sys.stdout.flush()
    else:
        print(rp.format_table(report))
    if args.report:
        Path(args.report).write_text(json.dumps(report, indent=1), encoding="utf-8")
    if args.html:
        from phiwall.replay.report_html import render_html

        Path(args.html).write_text(render_html(report), encoding="utf-8")
        print(f"phiwall: HTML report written to {args.html}", file=sys.stderr)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
