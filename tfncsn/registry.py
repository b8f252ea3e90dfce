"""Plugin registries filled from Python entry points.

Each plugin kind has one `Registry` bound to an entry-point group:

    tfncsn.datasets         -> `tfncsn.interfaces.Dataset` classes
    tfncsn.sigma_schedules  -> `tfncsn.interfaces.SigmaSchedule` functions
    tfncsn.samplers         -> `tfncsn.sampling.Sampler` subclasses (step programs)
    tfncsn.models           -> `tfncsn.interfaces.ModelFactory` callables
    tfncsn.sdes             -> `tfncsn.sdes.SDE` subclasses (forward diffusions)

Discovery (reading installed metadata) is separate from loading (importing the
plugin's module): nothing is imported until `get(name)` asks for it, and a plugin
whose import fails is reported with the distribution that shipped it while every
other plugin keeps working. `register()` adds plugins by hand, which is how
built-ins are found where no installed metadata exists (e.g. under Bazel without
the generated dist-info).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import threading
from typing import Any, Callable, Iterator

BY_HAND = "(registered in code)"


class PluginError(Exception):
    """Base class of every plugin error; its message is one line meant for users."""


class UnknownPluginError(PluginError, KeyError):
    def __str__(self) -> str:  # KeyError would quote the message.
        return str(self.args[0])


class DuplicatePluginError(PluginError):
    pass


class PluginLoadError(PluginError):
    pass


@dataclasses.dataclass(frozen=True)
class PluginInfo:
    """What is known about one plugin without importing it."""

    name: str
    group: str
    target: str  # "module:attr" for entry points, a qualified name for register().
    distribution: str
    version: str

    @property
    def shipped_by(self) -> str:
        if self.distribution == BY_HAND:
            return BY_HAND
        return f"{self.distribution} {self.version}"


@dataclasses.dataclass
class _Entry:
    info: PluginInfo
    load: Callable[[], Any]
    others: list[PluginInfo] = dataclasses.field(default_factory=list)  # Name clashes.
    loaded: bool = False
    value: Any = None
    error: str | None = None


class Registry:
    """Named plugins of one kind, discovered lazily from one entry-point group."""

    def __init__(self, group: str, kind: str, contract: str | None = None,
                 trial: str | None = None):
        self.group = group
        self.kind = kind  # Human name used in messages, e.g. "dataset".
        # "module:function" called as function(plugin, name) on every loaded plugin; it raises
        # ValueError with one line when the plugin breaks its group's contract. Imported
        # only then, so discovery stays free of heavy imports.
        self.contract = contract
        # "module:function" called the same way by `check` alone (`tfncsn plugins --load`):
        # a run of the plugin on a small problem, too slow for every load.
        self.trial = trial
        self._entries: dict[str, _Entry] | None = None
        self._by_hand: list[tuple[PluginInfo, Any, bool]] = []
        self._lock = threading.Lock()

    # Discovery -----------------------------------------------------------------
    def _discover(self) -> dict[str, _Entry]:
        with self._lock:
            if self._entries is None:
                entries: dict[str, _Entry] = {}
                for ep in importlib.metadata.entry_points(group=self.group):
                    dist = getattr(ep, "dist", None)
                    info = PluginInfo(
                        name=ep.name,
                        group=self.group,
                        target=ep.value,
                        distribution=dist.name if dist else "(unknown distribution)",
                        version=dist.version if dist else "?",
                    )
                    self._add(entries, _Entry(info, ep.load))
                for info, obj, replace in self._by_hand:
                    self._add_by_hand(entries, info, obj, replace)
                self._entries = entries
            return self._entries

    @staticmethod
    def _add(entries: dict[str, _Entry], entry: _Entry) -> None:
        current = entries.get(entry.info.name)
        if current is None:
            entries[entry.info.name] = entry
        elif current.info.distribution != entry.info.distribution:
            current.others.append(entry.info)
        # The same distribution listed twice (e.g. on two sys.path entries) is one plugin.

    def _add_by_hand(self, entries: dict[str, _Entry], info: PluginInfo, obj: Any,
                     replace: bool) -> None:
        entry = _Entry(info, lambda: obj, loaded=True, value=obj)
        current = entries.get(info.name)
        if current is None or replace:
            entries[info.name] = entry
        elif current.info.target != info.target:
            current.others.append(info)

    # Public API ------------------------------------------------------------------
    def register(self, name: str, obj: Any = None, *, replace: bool = False):
        """Adds `obj` under `name`; usable as a decorator when `obj` is omitted.

        A name already taken by another plugin is a clash (reported by `get`)
        unless `replace=True`.
        """
        if obj is None:
            def decorator(target):
                self.register(name, target, replace=replace)
                return target
            return decorator
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
        info = PluginInfo(name, self.group, target, BY_HAND, "")
        with self._lock:
            self._by_hand.append((info, obj, replace))
            entries = self._entries
        if entries is not None:
            self._add_by_hand(entries, info, obj, replace)
        return obj

    def names(self) -> list[str]:
        """Sorted names of every discovered plugin, broken or not."""
        return sorted(self._discover())

    def infos(self) -> list[PluginInfo]:
        return [self._discover()[n].info for n in self.names()]

    def providers(self, name: str) -> list[PluginInfo]:
        """Every plugin that claims `name`: one, or more when names clash."""
        entry = self._discover()[name]
        return [entry.info, *entry.others]

    def origin(self, name: str) -> str:
        """Where plugin `name` comes from, for messages: "package tfncsn-ring 0.1.0" or
        "registered in code"."""
        info = self._discover()[name].info
        return "registered in code" if info.distribution == BY_HAND else \
            f"package {info.shipped_by}"

    def label(self, name: str) -> str:
        """How messages name plugin `name`: "sigma schedule 'quadratic' (package ...)"."""
        return f"{self.kind} '{name}' ({self.origin(name)})"

    def __contains__(self, name: str) -> bool:
        return name in self._discover()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def clash(self, name: str) -> str | None:
        """The one-line complaint when several distributions claim `name`, else None.

        Read from the metadata alone: nothing is imported."""
        entry = self._discover()[name]
        if not entry.others:
            return None
        who = " and ".join(f"'{i.shipped_by}' ({i.target})" for i in [entry.info, *entry.others])
        return f"{self.kind} '{name}' is provided by {who}; uninstall one of them"

    def get(self, name: str) -> Any:
        """Loads and returns the plugin called `name`; raises a `PluginError` otherwise."""
        entries = self._discover()
        entry = entries.get(name)
        if entry is None:
            available = ", ".join(sorted(entries)) or "none"
            raise UnknownPluginError(
                f"unknown {self.kind} '{name}'; available: {available}")
        clash = self.clash(name)
        if clash is not None:
            raise DuplicatePluginError(clash)
        if not entry.loaded:
            try:
                entry.value = entry.load()
            except Exception as e:  # Any import-time failure of third-party code.
                entry.error = f"{type(e).__name__}: {e}".splitlines()[0]
                raise PluginLoadError(
                    f"{self.kind} plugin '{name}' from '{entry.info.shipped_by}' "
                    f"({entry.info.target}) failed to load: {entry.error}") from e
            entry.loaded = True
        self._apply(self.contract, name, entry, "breaks the contract")
        return entry.value

    def _apply(self, hook: str | None, name: str, entry: _Entry, failure: str) -> None:
        """Calls the hook "module:function" as function(plugin, name); its ValueError becomes
        a PluginLoadError naming the plugin and its package."""
        if not hook:
            return
        module, _, function = hook.partition(":")
        try:
            getattr(importlib.import_module(module), function)(entry.value, name)
        except ValueError as e:
            raise PluginLoadError(f"{self.kind} plugin '{name}' from '{entry.info.shipped_by}' "
                                  f"({entry.info.target}) {failure}: {e}") from None

    def check(self, name: str) -> str | None:
        """Returns None when `name` loads, passes its contract and its trial, else the
        one-line reason it does not."""
        try:
            self.get(name)
            self._apply(self.trial, name, self._discover()[name], "fails its trial run")
        except PluginError as e:
            return str(e)
        return None

    def reset(self) -> None:
        """Forgets discovered and hand-registered plugins (for tests)."""
        with self._lock:
            self._entries = None
            self._by_hand = []


datasets = Registry("tfncsn.datasets", "dataset")
sigma_schedules = Registry("tfncsn.sigma_schedules", "sigma schedule",
                           contract="tfncsn.schedules:check_schedule_plugin")
samplers = Registry("tfncsn.samplers", "sampler",
                    contract="tfncsn.sampling.checks:check_sampler_class",
                    trial="tfncsn.sampling.stand_in:try_sampler")
models = Registry("tfncsn.models", "model")
sdes = Registry("tfncsn.sdes", "sde", contract="tfncsn.sdes:check_sde_class")

ALL = (datasets, sigma_schedules, samplers, models, sdes)
