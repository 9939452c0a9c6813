"""Reloading the policy while the proxy runs: watch the policy file and every base it `extends`, install a changed
policy that loads, keep the last good one (and audit why, once) when it does not.

A collaborator of the addon, not part of it: the addon owns options and hooks, this owns "has the policy on disk
changed, and is it good". It never raises into the proxy: a bug here is logged and the next check runs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from phiwall import safelog
from phiwall.errors import PolicyError
from phiwall.policy import PolicySource
from phiwall.policy import load_policy

log = logging.getLogger("phiwall")

# (file, mtime in ns, size) for the policy file and each base it extends; -1, -1 for a file that cannot be read.
PolicyStamp = tuple[tuple[str, int, int], ...]


class PolicyWatcher:
    """Tracks what the policy files looked like when last read, and reloads on change.

    Args:
        install: called with a new, fully loaded policy (a failed load never reaches it).
        emit: writes an audit event (policy_reloaded / policy_reload_failed).
    """

    def __init__(self, install: Callable[[PolicySource], None], emit: Callable[[dict[str, Any]], None]) -> None:
        self._install = install
        self._emit = emit
        self.stamp: PolicyStamp = ()
        # The last reload failure's message, while the file on disk is invalid (None: the installed policy is it).
        self.failure: str | None = None
        self.task: asyncio.Task[None] | None = None

    def installed(self, source: PolicySource) -> None:
        """Record the files of the policy just installed (any way: start, `--set`, reload)."""
        self.stamp = stamp(policy_files(source))
        self.failure = None

    async def run(self, interval: Callable[[], int], path: Callable[[], str], current: Callable[[], Any]) -> None:
        """Check every `interval()` seconds until it returns 0 (the option was set to 0 while running)."""
        try:
            while interval() > 0:
                await asyncio.sleep(interval())
                try:
                    self.check(path(), current())
                except Exception as e:  # a bug here must not end reloading for the life of the proxy
                    log.error("phiwall: policy check failed: %s", safelog.crash(e))
        finally:
            self.task = None

    def check(self, policy_path: str, source: PolicySource | None) -> None:
        """Reload the policy when its file or a base it `extends` changed; keep the last good one (and audit why)
        when the new one is invalid.

        Files are compared by mtime and size. While the files on disk are invalid, every check loads them again
        (a fixed base that the last good policy did not extend changes no file this watcher knows) but audits a
        failure only when a file changed or the problems are different, so a broken file is reported once."""
        if source is None or not policy_path:
            return
        path = Path(policy_path)
        try:
            path.stat()
        except OSError:
            return  # an editor replacing the file; the next check sees the new one
        new_stamp = stamp((str(path), *source.bases))
        changed = changed_files(self.stamp, new_stamp)
        if not changed and self.failure is None:
            return
        self.stamp = new_stamp
        try:
            new = load_policy(path)
        except PolicyError as e:
            if not changed and str(e) == self.failure:
                return
            self.failure = str(e)
            log.error("phiwall: kept the last good policy; the changed policy is invalid:\n%s", e)
            self._emit(
                {
                    "event": "policy_reload_failed",
                    "path": str(path),
                    "changed": changed,
                    "error": str(e),
                    "kept": source.sha256[:16],
                }
            )
            return
        self.failure = None
        if new.sha256 != source.sha256:
            self._install(new)
            log.info("phiwall: reloaded policy %s (%s)", new.model.id, new.sha256[:12])
            self._emit(
                {
                    "event": "policy_reloaded",
                    "path": str(path),
                    "changed": changed,
                    "policy_id": new.model.id,
                    "policy_sha256": new.sha256[:16],
                }
            )


def policy_files(source: PolicySource) -> tuple[str, ...]:
    """The files a policy was built from: itself and every base it `extends`, nearest first. A change to any of
    them is a change to the effective policy (a hospital edits its shared base, not every team's file)."""
    return (source.path, *source.bases)


def stamp(files: Iterable[str]) -> PolicyStamp:
    out = []
    for f in files:
        try:
            st = Path(f).stat()
            out.append((f, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((f, -1, -1))
    return tuple(out)


def changed_files(old: PolicyStamp, new: PolicyStamp) -> list[str]:
    """The files of `new` that are not as `old` saw them (new files in the chain count as changed)."""
    before = {f: (m, n) for f, m, n in old}
    return [f for f, m, n in new if before.get(f) != (m, n)]
