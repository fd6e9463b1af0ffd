"""``facegate-client``: command-line access to the facegate API. Prints JSON.

Exit codes: 0 success (or ``grant``), 1 ``deny`` (verify only), 2 any error (printed as JSON on stderr).

Defaults come, in this order, from command-line options, from ``.facegate/local.json`` when ``--local``
is given (written by the local stack; searched in the current directory and its parents), and from
the environment: ``FACEGATE_API_URL``, ``FACEGATE_TOKEN``, ``FACEGATE_KEY_ID``, ``FACEGATE_SECRET``,
``FACEGATE_SITE_ID``, ``FACEGATE_DOOR_ID``, ``FACEGATE_REGISTRATION_URL``.

With ``--local``, ``invite`` remembers the invite it created in ``.facegate/last_invite.json`` next to
``local.json`` (owner-only permissions), and ``enroll``, ``status`` and ``erase`` without ``--url`` then use
that invite, not the demo invite of ``local.json`` (until the local stack restarts and rewrites
``local.json``). Global options (``--retries``, ``--timeout``, ``--local``, ...) are accepted before or
after the command.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

from facegate_client._time import hours_from_now, utc_now
from facegate_client._version import __version__
from facegate_client.admin import INVITE_STATUSES, AdminClient
from facegate_client.errors import FacegateClientError
from facegate_client.images import ImageInputError
from facegate_client.pairing import pair_kiosk
from facegate_client.terminal import TerminalClient
from facegate_client.visitor import VisitorClient

__all__ = ["EXIT_DENY", "EXIT_ERROR", "EXIT_OK", "main"]

EXIT_OK = 0
EXIT_DENY = 1
EXIT_ERROR = 2
LOCAL_FILE = Path(".facegate") / "local.json"
LAST_INVITE_FILE = "last_invite.json"


class UsageError(Exception):
    """A missing or invalid option (exit code 2)."""


def _find_local_file(start: Path) -> Path:
    for directory in (start, *start.parents):
        candidate = directory / LOCAL_FILE
        if candidate.is_file():
            return candidate
    raise UsageError(f"--local: no {LOCAL_FILE} in {start} or its parents (start the local stack first)")


def _local_path(args: argparse.Namespace) -> Path | None:
    if args.local_file is not None:
        return Path(args.local_file)
    if args.local:
        return _find_local_file(Path.cwd())
    return None


def _read_json_object(path: Path) -> Mapping[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path} must hold a JSON object")
    return data


def _local(local: Mapping[str, Any], *keys: str) -> str | None:
    value: Any = local
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value if isinstance(value, str) and value else None


def _read_last_invite(path: Path, local_path: Path) -> Mapping[str, Any]:
    """The invite remembered by ``invite --local``; none when local.json was rewritten after it (the local
    stack restarted with an empty database, so that invite no longer exists)."""
    try:
        if path.stat().st_mtime_ns < local_path.stat().st_mtime_ns:
            return {}
    except FileNotFoundError:
        return {}
    return _read_json_object(path)


def _write_last_invite(path: Path, invite: Mapping[str, Any]) -> None:
    """Remembers the invite just created (its link holds the token: the file is readable by its owner only)."""
    remembered = {key: invite[key] for key in ("invite_id", "registration_url", "valid_until") if key in invite}
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(json.dumps(remembered, indent=2) + "\n")
    os.chmod(path, 0o600)


class _Settings:
    """Resolves each setting from option, then local.json, then environment."""

    def __init__(self, args: argparse.Namespace, environ: Mapping[str, str]) -> None:
        self.args = args
        self.local_path = _local_path(args)
        self.local = _read_json_object(self.local_path) if self.local_path is not None else {}
        self.last_invite_path: Path | None = None
        self.last_invite: Mapping[str, Any] = {}
        if self.local_path is not None:
            self.last_invite_path = self.local_path.parent / LAST_INVITE_FILE
            self.last_invite = _read_last_invite(self.last_invite_path, self.local_path)
        self.environ = environ

    def get(self, option: str | None, local_keys: tuple[str, ...], env: str | None, what: str) -> str:
        value = self.find(option, local_keys, env)
        if value is None:
            sources = [f"--{option.replace('_', '-')}"] if option else []
            sources += ["--local"] if local_keys else []
            sources += [env] if env else []
            raise UsageError(f"{what} is required ({' or '.join(sources)})")
        return value

    def find(self, option: str | None, local_keys: tuple[str, ...], env: str | None) -> str | None:
        explicit = getattr(self.args, option, None) if option else None
        if isinstance(explicit, str) and explicit:
            return explicit
        from_local = _local(self.local, *local_keys) if local_keys else None
        if from_local is not None:
            return from_local
        return (self.environ.get(env) or None) if env else None

    def api_url(self) -> str:
        return self.get("api_url", ("api_url",), "FACEGATE_API_URL", "the API URL")

    def registration_url(self) -> str:
        """``--url``, else the invite the last ``invite --local`` created, else local.json's demo invite, else env."""
        explicit = getattr(self.args, "url", None)
        if not (isinstance(explicit, str) and explicit):
            remembered = _local(self.last_invite, "registration_url")
            if remembered is not None:
                return remembered
        return self.get("url", ("invite", "registration_url"), "FACEGATE_REGISTRATION_URL", "the registration link")

    def remember_invite(self, invite: Mapping[str, Any]) -> None:
        """With a local file, keeps the created invite so that later commands without ``--url`` use it."""
        if self.last_invite_path is not None and isinstance(invite.get("registration_url"), str):
            _write_last_invite(self.last_invite_path, invite)

    def forget_invite(self, invite_id: str | None = None) -> None:
        """Drops the remembered invite (all of it, or only when it is ``invite_id``)."""
        path = self.last_invite_path
        if path is None or not self.last_invite:
            return
        if invite_id is None or self.last_invite.get("invite_id") == invite_id:
            path.unlink(missing_ok=True)

    def admin(self) -> AdminClient:
        token = self.get("token", ("admin", "token"), "FACEGATE_TOKEN", "an admin or host token")
        return AdminClient(self.api_url(), token, timeout=self.args.timeout, retries=self.args.retries)

    def visitor(self) -> VisitorClient:
        return VisitorClient(self.registration_url(), timeout=self.args.timeout, retries=self.args.retries)

    def terminal(self) -> TerminalClient:
        key_id = self.get("key_id", ("terminal", "key_id"), "FACEGATE_KEY_ID", "the terminal key id")
        secret = self.get("secret", ("terminal", "secret"), "FACEGATE_SECRET", "the terminal secret")
        return TerminalClient(self.api_url(), key_id, secret, timeout=self.args.timeout, retries=self.args.retries)


def _print(out: TextIO, value: Any) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _cmd_invite(settings: _Settings, out: TextIO) -> int:
    args = settings.args
    site_id = settings.get("site_id", ("site_id",), "FACEGATE_SITE_ID", "the site id")
    door_ids = args.door_id or [settings.get(None, ("door_id",), "FACEGATE_DOOR_ID", "a door id (--door-id)")]
    valid_from = args.valid_from or utc_now()
    valid_until = args.valid_until or hours_from_now(args.hours)
    invite = settings.admin().create_invite(
        site_id,
        door_ids,
        valid_from,
        valid_until,
        display_name=args.display_name,
        email=args.email,
        notify_on_arrival=args.notify_on_arrival,
    )
    created = invite.to_dict()
    settings.remember_invite(created)
    _print(out, created)
    return EXIT_OK


def _cmd_resend_invite(settings: _Settings, out: TextIO) -> int:
    _print(out, settings.admin().resend_invite_email(settings.args.invite_id).to_dict())
    return EXIT_OK


def _cmd_enroll(settings: _Settings, out: TextIO) -> int:
    client = settings.visitor()
    if settings.args.consent:
        notice = client.notice()
        if client.status().consent_version != notice.consent_version:
            client.consent(notice.consent_version)
    enrollment = client.enroll(settings.args.images, idempotency_key=settings.args.idempotency_key)
    _print(out, enrollment.to_dict())
    return EXIT_OK


def _cmd_status(settings: _Settings, out: TextIO) -> int:
    _print(out, settings.visitor().status().to_dict())
    return EXIT_OK


def _cmd_erase(settings: _Settings, out: TextIO) -> int:
    if settings.args.invite_id:
        receipt = settings.admin().erase_invite(settings.args.invite_id)
        settings.forget_invite(settings.args.invite_id)
    else:
        receipt = settings.visitor().erase()
    _print(out, receipt.to_dict())
    return EXIT_OK


def _cmd_verify(settings: _Settings, out: TextIO) -> int:
    door_id = settings.get("door_id", ("door_id",), "FACEGATE_DOOR_ID", "the door id")
    decision = settings.terminal().verify(
        settings.args.images,
        door_id,
        claim=settings.args.claim,
        challenge=settings.args.challenge,
        liveness=settings.args.liveness,
    )
    _print(out, decision.to_dict())
    return EXIT_OK if decision.granted else EXIT_DENY


def _cmd_challenge(settings: _Settings, out: TextIO) -> int:
    door_id = settings.get("door_id", ("door_id",), "FACEGATE_DOOR_ID", "the door id")
    movements = settings.args.movements.split(",") if settings.args.movements else None
    _print(out, settings.terminal().challenge(door_id, movements).to_dict())
    return EXIT_OK


def _cmd_audit(settings: _Settings, out: TextIO) -> int:
    args = settings.args
    site_id = settings.get("site_id", ("site_id",), "FACEGATE_SITE_ID", "the site id")
    filters = {"door_id": args.door_id, "decision": args.decision, "event": args.event}
    if args.csv:
        out.write(settings.admin().audit_csv(site_id, start=args.start, end=args.end, **filters))
        return EXIT_OK
    records = settings.admin().audit(
        site_id, start=args.start, end=args.end, page_size=args.page_size, max_items=args.max_items, **filters
    )
    items = [record.to_dict() for record in records]
    _print(out, {"items": items, "count": len(items)})
    return EXIT_OK


# --- the console's objects: sites | doors | terminals | invites | hosts ACTION (issue 14) ------------------


def _site_id(settings: _Settings) -> str:
    return settings.get("site_id", ("site_id",), "FACEGATE_SITE_ID", "the site id")


def _listed(out: TextIO, items: Any) -> int:
    rows = [item.to_dict() for item in items]
    _print(out, {"items": rows, "count": len(rows)})
    return EXIT_OK


def _shown(out: TextIO, result: Any) -> int:
    _print(out, result.to_dict())
    return EXIT_OK


def _cmd_me(settings: _Settings, out: TextIO) -> int:
    return _shown(out, settings.admin().me())


def _cmd_sites(settings: _Settings, out: TextIO) -> int:
    args, client = settings.args, settings.admin()
    if args.action == "list":
        return _listed(out, client.sites())
    if args.action == "create":
        return _shown(out, client.create_site(args.name, args.timezone, security_level=args.security_level))
    site_id = _site_id(settings)
    if args.action == "show":
        return _shown(out, client.get_site(site_id))
    if args.action == "update":
        return _shown(out, client.update_site(site_id, name=args.name, security_level=args.security_level))
    return _shown(out, client.retire_site(site_id))


def _cmd_doors(settings: _Settings, out: TextIO) -> int:
    args, client = settings.args, settings.admin()
    site_id = _site_id(settings)
    if args.action == "list":
        return _listed(out, client.doors(site_id))
    if args.action == "create":
        return _shown(out, client.create_door(site_id, args.name))
    return _shown(out, client.retire_door(site_id, args.door))


def _cmd_terminals(settings: _Settings, out: TextIO) -> int:
    args = settings.args
    if args.action == "pair":
        paired = pair_kiosk(settings.api_url(), args.code, timeout=args.timeout, retries=args.retries)
        return _shown(out, paired)
    client = settings.admin()
    if args.action == "revoke":
        return _shown(out, client.revoke_terminal(args.terminal))
    site_id = _site_id(settings)
    if args.action == "list":
        return _listed(out, client.terminals(site_id))
    if args.action == "create":
        return _shown(out, client.create_terminal(site_id, args.name, args.door_id))
    if args.action == "rotate":
        return _shown(out, client.rotate_terminal(site_id, args.terminal))
    return _shown(out, client.create_pairing(site_id, args.terminal))


def _cmd_invites(settings: _Settings, out: TextIO) -> int:
    args, client = settings.args, settings.admin()
    if args.action == "list":
        return _listed(out, client.invites(_site_id(settings), status=args.status, max_items=args.max_items))
    if args.action == "show":
        return _shown(out, client.get_invite(args.invite))
    if args.action == "cancel":
        receipt = client.erase_invite(args.invite)
        settings.forget_invite(args.invite)
        return _shown(out, receipt)
    if args.action == "resend":
        return _shown(out, client.resend_invite_email(args.invite))
    return _cmd_invite(settings, out)


def _cmd_hosts(settings: _Settings, out: TextIO) -> int:
    args, client = settings.args, settings.admin()
    if args.action == "list":
        return _listed(out, client.hosts())
    if args.action == "create":
        return _shown(out, client.create_host(args.email, args.name, args.site))
    return _shown(out, client.disable_host(args.username))


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """The options every command takes; on a command's parser they default to "not given" (SUPPRESS), so the
    value given before the command is kept unless the option is repeated after it."""

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    parser.add_argument("--api-url", default=default(None), help="API base URL (env FACEGATE_API_URL)")
    parser.add_argument("--token", default=default(None), help="admin/host Cognito ID token (env FACEGATE_TOKEN)")
    parser.add_argument(
        "--local", action="store_true", default=default(False), help="take defaults from .facegate/local.json"
    )
    parser.add_argument(
        "--local-file", metavar="PATH", default=default(None), help="take defaults from this local.json"
    )
    parser.add_argument(
        "--timeout", type=float, default=default(10.0), help="seconds per socket operation (default 10)"
    )
    parser.add_argument("--retries", type=int, default=default(3), help="retries of retryable failures (default 3)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="facegate-client",
        description="Call the facegate API. Prints JSON. Exit codes: 0 ok, 1 deny, 2 error. "
        "Global options may come before or after the command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_global_options(parser, suppress=False)
    shared = argparse.ArgumentParser(add_help=False)
    _add_global_options(shared, suppress=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    visitor = argparse.ArgumentParser(add_help=False)
    visitor.add_argument("--url", help="registration link (env FACEGATE_REGISTRATION_URL)")
    terminal = argparse.ArgumentParser(add_help=False)
    terminal.add_argument("--door-id", help="door (env FACEGATE_DOOR_ID)")
    terminal.add_argument("--key-id", help="terminal key id (env FACEGATE_KEY_ID)")
    terminal.add_argument("--secret", help="terminal secret (env FACEGATE_SECRET)")

    def command(name: str, help: str, *options: argparse.ArgumentParser) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[shared, *options])

    new_invite = argparse.ArgumentParser(add_help=False)
    new_invite.add_argument("--door-id", action="append", help="door the visitor may open (repeatable)")
    new_invite.add_argument("--valid-from", help="RFC 3339 start (default: now)")
    new_invite.add_argument("--valid-until", help="RFC 3339 end (default: --hours after now)")
    new_invite.add_argument("--hours", type=float, default=8.0, help="window length when --valid-until is absent")
    new_invite.add_argument("--display-name", help="optional visitor name")
    new_invite.add_argument("--email", help="visitor e-mail: the server mails the registration link there (ko/en)")
    new_invite.add_argument(
        "--notify-on-arrival", action="store_true", help="e-mail me (the token's e-mail) on the visitor's first entry"
    )

    invite = command("invite", "create an invite (admin or host)", new_invite)
    invite.add_argument("--site-id", help="site (env FACEGATE_SITE_ID)")
    invite.set_defaults(handler=_cmd_invite)

    resend = command("resend-invite", help="send the invite mail again (admin or host of the site)")
    resend.add_argument("invite_id", metavar="INVITE_ID", help="the invite whose mail to send again")
    resend.set_defaults(handler=_cmd_resend_invite)

    enroll = command(
        "enroll", "upload 1-3 selfies (visitor); without --url: the invite last created by `invite --local`", visitor
    )
    enroll.add_argument("images", nargs="+", metavar="IMAGE", help="image files (JPEG, PNG, WebP, HEIC)")
    enroll.add_argument("--consent", action="store_true", help="first consent to the current notice")
    enroll.add_argument("--idempotency-key", help="Idempotency-Key header (default: random)")
    enroll.set_defaults(handler=_cmd_enroll)

    status = command("status", "registration status (visitor)", visitor)
    status.set_defaults(handler=_cmd_status)

    verify = command(
        "verify",
        "verify a face at a door (terminal); prints decision, decision_id, unlock_token, next "
        "(show_code | retry | see_reception on a deny) and hint (lower_mask or null); exit 1 on deny",
        terminal,
    )
    verify.add_argument("images", nargs="+", metavar="FRAME", help="1-3 face images (with --challenge: 1-2 per step)")
    verify.add_argument("--claim", help="the visitor's claim code")
    verify.add_argument("--challenge", help="the challenge id the frames answer (frames in step order)")
    verify.add_argument("--liveness", choices=("passed", "failed"), help="this terminal's own liveness verdict")
    verify.set_defaults(handler=_cmd_verify)

    challenge = command(
        "challenge",
        "ask for a head-turn challenge at a door (terminal); prints challenge_id, steps and expires_at "
        "(about 10 s): take 1-2 frames per step and run verify --challenge",
        terminal,
    )
    challenge.add_argument("--movements", help="comma-separated, at least two of left,right,up,down (default all)")
    challenge.set_defaults(handler=_cmd_challenge)

    erase = command("erase", "erase a visitor (registration link) or an invite (admin)", visitor)
    erase.add_argument("--invite-id", help="erase this invite as admin/host instead")
    erase.set_defaults(handler=_cmd_erase)

    audit = command("audit", help="read a site's audit log (admin)")
    audit.add_argument("--site-id", help="site (env FACEGATE_SITE_ID)")
    audit.add_argument("--from", dest="start", help="RFC 3339 start")
    audit.add_argument("--to", dest="end", help="RFC 3339 end")
    audit.add_argument("--page-size", type=int, help="records per request")
    audit.add_argument("--max-items", type=int, default=1000, help="stop after this many records (default 1000)")
    audit.add_argument("--door-id", help="only this door's records")
    audit.add_argument("--decision", choices=("grant", "deny", "refused"), help="only this decision")
    audit.add_argument("--event", help="only this event kind (verify, invite, terminal_paired, ...)")
    audit.add_argument("--csv", action="store_true", help="print the server's CSV export instead of JSON")
    audit.set_defaults(handler=_cmd_audit)

    command("me", help="who the token belongs to: role admin or host, and the host's sites").set_defaults(
        handler=_cmd_me
    )
    _console_commands(commands, shared, new_invite)
    return parser


def _console_commands(commands: Any, shared: argparse.ArgumentParser, new_invite: argparse.ArgumentParser) -> None:
    """``sites``, ``doors``, ``terminals``, ``invites`` and ``hosts``, each with actions; ``new_invite``: the
    options of a new invite, shared with the ``invite`` command."""

    def group(name: str, help: str, handler: Any) -> Any:
        parser = commands.add_parser(name, help=help, parents=[shared])
        parser.set_defaults(handler=handler)
        return parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(
        actions: Any, name: str, help: str, *options: argparse.ArgumentParser, site: bool = False
    ) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help, parents=[shared, *options])
        if site:
            parser.add_argument("--site-id", help="site (env FACEGATE_SITE_ID)")
        return parser

    sites = group("sites", "sites: list, show, create, update, retire (admin; hosts list and show theirs)", _cmd_sites)
    action(sites, "list", "sites the token may see")
    action(sites, "show", "one site with its level's policy", site=True)
    created = action(sites, "create", "create a site")
    created.add_argument("name")
    created.add_argument("timezone", help="IANA zone, e.g. Asia/Seoul")
    created.add_argument("--security-level", choices=("standard", "high"))
    updated = action(sites, "update", "rename a site or change its level", site=True)
    updated.add_argument("--name")
    updated.add_argument("--security-level", choices=("standard", "high"))
    action(sites, "retire", "retire a site: nothing new there, its doors refuse", site=True)

    doors = group("doors", "doors of a site: list, create, retire", _cmd_doors)
    action(doors, "list", "a site's doors", site=True)
    action(doors, "create", "create a door (prints its unlock key once)", site=True).add_argument("name")
    action(doors, "retire", "retire a door", site=True).add_argument("door", metavar="DOOR_ID")

    terminals = group("terminals", "terminals: list, create, revoke, rotate, pair-code, pair", _cmd_terminals)
    action(terminals, "list", "a site's terminals (never a secret)", site=True)
    made = action(terminals, "create", "register a terminal (prints its secret once)", site=True)
    made.add_argument("name")
    made.add_argument("--door-id", action="append", required=True, help="door it may open (repeatable)")
    action(terminals, "revoke", "revoke a terminal's key").add_argument("terminal", metavar="TERMINAL_ID")
    action(terminals, "rotate", "a new key and secret (printed once)", site=True).add_argument(
        "terminal", metavar="TERMINAL_ID"
    )
    action(terminals, "pair-code", "a one-time pairing code (<= 10 min) for a kiosk", site=True).add_argument(
        "terminal", metavar="TERMINAL_ID"
    )
    action(terminals, "pair", "trade a pairing code (or URL) for the terminal's credentials").add_argument(
        "code", metavar="CODE_OR_URL"
    )

    invites = group("invites", "invites: list, show, create, cancel, resend (hosts of the site, admins)", _cmd_invites)
    listed = action(invites, "list", "a site's invites, newest first, with status", site=True)
    listed.add_argument("--status", choices=INVITE_STATUSES)
    listed.add_argument("--max-items", type=int, default=500, help="stop after this many (default 500)")
    action(invites, "show", "one invite with its status and link").add_argument("invite", metavar="INVITE_ID")
    action(invites, "create", "invite a visitor (like the invite command)", new_invite, site=True)
    action(invites, "cancel", "cancel an invite and erase its data").add_argument("invite", metavar="INVITE_ID")
    action(invites, "resend", "send the invite mail again").add_argument("invite", metavar="INVITE_ID")

    hosts = group("hosts", "host users: list, create, disable (admin)", _cmd_hosts)
    action(hosts, "list", "every host user")
    made = action(hosts, "create", "create a host (prints a temporary password once)")
    made.add_argument("email")
    made.add_argument("name")
    made.add_argument("--site", action="append", required=True, metavar="SITE_ID", help="a host's site (repeatable)")
    action(hosts, "disable", "disable a host user").add_argument("username", metavar="USERNAME")


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command line; returns the exit code (0 ok, 1 deny, 2 error)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = _parser().parse_args(argv)
    failure: dict[str, Any]
    try:
        settings = _Settings(args, os.environ if environ is None else environ)
        code: int = args.handler(settings, out)
        return code
    except FacegateClientError as exc:
        failure = {"status": exc.status, "code": exc.code, "message": exc.message}
        if exc.retry_after is not None:
            failure["retry_after"] = exc.retry_after
    except UsageError as exc:
        failure = {"status": None, "code": "usage", "message": str(exc)}
    except ImageInputError as exc:
        failure = {"status": None, "code": "invalid_image", "message": str(exc)}
    except (ValueError, TypeError) as exc:
        failure = {"status": None, "code": "invalid_argument", "message": str(exc)}
    except OSError as exc:
        failure = {"status": None, "code": "io_error", "message": str(exc)}
    _print(err, {"error": failure})
    return EXIT_ERROR
