"""Error and warning types. Every error the library raises on purpose derives from `EfflError`."""

from __future__ import annotations

__all__ = [
    "EfflError",
    "EfflWarning",
    "UnknownComponentError",
    "DuplicateComponentError",
    "PluginLoadError",
    "CheckpointError",
    "PseudoLabelStoreError",
    "TeacherCacheError",
    "LockHeldError",
    "LockFileError",
    "SettingRefusedError",
]


#: A component family's name in the singular, for messages ("unknown loss 'kdd'").
_SINGULAR = {"augmentations": "augmentation", "losses": "loss", "strategies": "strategy"}


def singular(family: str) -> str:
    """``"losses"`` -> ``"loss"``: one component of ``family``, as messages name it."""
    return _SINGULAR.get(family, family)


class EfflError(Exception):
    """Base class of every error raised by effl-plugins."""


class EfflWarning(UserWarning):
    """A plugin problem that did not stop the library (the strict mode turns it into an error)."""


class UnknownComponentError(EfflError, KeyError):
    """No component of that family and name (and backend) is registered.

    Carries ``family``, ``name``, ``backend`` and ``suggestions`` (close matches).
    """

    def __init__(self, family: str, name: str, backend: str | None, suggestions: list[str], available: list[str]):
        self.family, self.name, self.backend = family, name, backend
        self.suggestions = suggestions
        where = f" with backend={backend!r}" if backend else ""
        hint = f"; did you mean {', '.join(map(repr, suggestions))}?" if suggestions else ""
        shown = ", ".join(available[:30]) + (" ..." if len(available) > 30 else "")
        self.message = f"unknown {singular(family)} {name!r}{where}{hint} (available: {shown or 'none'})"
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class DuplicateComponentError(EfflError):
    """The same (family, name, backend) was registered twice. Carries both components."""

    def __init__(self, existing, duplicate):
        self.existing, self.duplicate = existing, duplicate
        backend = f", backend={duplicate.backend!r}" if duplicate.backend else ""
        super().__init__(
            f"{singular(duplicate.family)} {duplicate.name!r}{backend} is already registered by plugin "
            f"{existing.plugin!r} (distribution {existing.distribution!r}); plugin {duplicate.plugin!r} "
            f"(distribution {duplicate.distribution!r}) registers it again and is ignored. "
            "Rename one of them."
        )


class PluginLoadError(EfflError):
    """A plugin failed to import or register. Carries ``plugin``, ``distribution`` and the cause."""

    def __init__(self, plugin: str, distribution: str | None, cause: BaseException):
        self.plugin, self.distribution, self.cause = plugin, distribution, cause
        super().__init__(
            f"plugin {plugin!r} from distribution {distribution!r} failed to load: {type(cause).__name__}: {cause}"
        )


class CheckpointError(EfflError):
    """A checkpoint or store on disk is missing, unreadable or does not match what it is loaded into."""


class PseudoLabelStoreError(EfflError, ValueError):
    """A pseudo-label store on disk is malformed, incomplete, or not the one the caller expects.

    Carries ``path`` (the offending file, or the store directory) and ``problem`` (what is wrong).
    """

    def __init__(self, path, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"pseudo-label store {self.path!r}: {problem}")


class TeacherCacheError(PseudoLabelStoreError):
    """A teacher cache (``effl teacher-cache``) is not one, or holds other views than the run draws.

    Carries ``path`` and ``problem`` like :class:`PseudoLabelStoreError` (a cache is a store of views).
    """

    def __init__(self, path, problem: str):
        super().__init__(path, problem)
        self.args = (f"teacher cache {self.path!r}: {problem}",)


class LockHeldError(EfflError, RuntimeError):
    """Another live process holds the directory's lock. Carries ``directory``, ``lock_path`` and ``pid``."""

    def __init__(self, directory, lock_path, pid: int | None, what: str):
        self.directory, self.lock_path, self.pid = str(directory), str(lock_path), pid
        holder = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"{what} {self.directory!r} is in use by {holder} (lock file {self.lock_path!r}); "
            f"wait for it to finish or use another directory"
        )


class LockFileError(EfflError, ValueError):
    """The lock file's path holds something the lock must not write to (a symlink, a FIFO, a device,
    a hard link, a file with other contents). Carries ``path``."""

    def __init__(self, path, problem: str):
        self.path = str(path)
        super().__init__(f"lock file {self.path!r} {problem}; remove it if it is not yours, or use another directory")


class SettingRefusedError(EfflError, ValueError):
    """A run sets a shared setting that its strategy (or task) does not apply.

    Carries ``who`` (the strategy's or task's name), ``setting`` (its name, e.g. ``"aug"``) and ``reason``
    (what the strategy does instead and which of its arguments to pass); the message is one line.
    """

    def __init__(self, who: str, setting: str, reason: str):
        self.who, self.setting, self.reason = who, setting, reason
        super().__init__(f"{who} {reason}")
