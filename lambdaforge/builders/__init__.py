"""Builder registry: builders by name (``python``, ``node``, ``command``), built-ins plus
entry-point plugins.

Explicit registration (house style 7, hatchling's ``ClassRegister``): built-ins are listed
in ``BUILT_IN``; third-party builders come from the ``lambdaforge.builders`` entry-point
group, one entry point per builder, named by the builder's ``NAME``::

    [project.entry-points."lambdaforge.builders"]
    rust = "forge_rust:RustBuilder"

Nothing registers itself on import, and nothing is imported before it is asked for: a
built-in's module when a target uses it, a plugin when its name is asked for (its entry
point's metadata is read, the package imported only then). A plugin that fails to import,
is not a ``Builder`` subclass with ``NAME`` and ``VERSION``, or reuses a name is a
``PluginError`` naming the entry point.

A function or layer names its builder (``builder = "command"``) or gets its runtime's
default (``DEFAULT_BUILDER``): ``python3.x`` → ``python``, ``nodejs*`` → ``node``; the
OS-only ``provided.*`` runtimes have none and must name one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from lambdaforge.errors import ConfigError, PluginError
from lambdaforge.lambda_facts import RUNTIMES

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

    from lambdaforge.builders.base import Builder
    from lambdaforge.config.specs import BuildSettings

ENTRY_POINT_GROUP = "lambdaforge.builders"

#: builder name → "module:Class" of the built-in builder (imported lazily: start-up cost)
BUILT_IN: dict[str, str] = {
    "python": "lambdaforge.builders.python:PythonBuilder",
    "node": "lambdaforge.builders.node:NodeBuilder",
    "command": "lambdaforge.builders.command:CommandBuilder",
}

#: runtime family → the builder a function or layer gets when it names none. OS-only
#: runtimes (``provided``) have none: there is no one way to make a ``bootstrap``.
DEFAULT_BUILDER: dict[str, str] = {"python": "python", "nodejs": "node"}


def _load(ref: str) -> type[Builder]:
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


class BuilderRegistry:
    """Builders by name, each class loaded and each builder created once per registry.

    Also what the config loader asks about builders (``config.builder_options.BuilderCatalog``):
    which names exist, each one's default runtime, the runtimes it serves, its options model.
    """

    def __init__(self) -> None:
        self._classes: dict[str, type[Builder]] = {}
        self._instances: dict[str, Builder] = {}
        self._plugins: dict[str, EntryPoint] | None = None

    # -- names ---------------------------------------------------------------------------

    def built_in_names(self) -> list[str]:
        """The built-in builders' names, in registry order."""
        return list(BUILT_IN)

    def names(self) -> list[str]:
        """Every builder name: the built-ins, then installed plugins (sorted). Reads
        entry-point metadata; imports no plugin."""
        return [*BUILT_IN, *sorted(self._plugin_entry_points())]

    def has(self, name: str) -> bool:
        """Whether a builder of this name exists (built in or installed)."""
        return name in BUILT_IN or name in self._plugin_entry_points()

    def default_name(self, runtime: str) -> str | None:
        """The builder a function or layer on ``runtime`` gets when it names none; ``None``
        for an unknown runtime and for OS-only runtimes, which must name one."""
        rt = RUNTIMES.get(runtime)
        return DEFAULT_BUILDER.get(rt.family) if rt is not None else None

    # -- lookup --------------------------------------------------------------------------

    def builder_class(self, name: str) -> type[Builder]:
        """The class of the builder ``name``, imported on first use. An unknown name is a
        ``ConfigError`` (config validation reports it with its file and line first)."""
        cls = self._classes.get(name)
        if cls is None:
            if name in BUILT_IN:
                cls = _load(BUILT_IN[name])
            else:
                ep = self._plugin_entry_points().get(name)
                if ep is None:
                    from lambdaforge.config.translate import suggest

                    names = self.names()
                    raise ConfigError(f"unknown builder '{name}' (expected one of "
                                      f"{', '.join(names)}){suggest(name, names)}")
                cls = _load_plugin(ep)
            self._classes[name] = cls
        return cls

    def get(self, name: str) -> Builder:
        """The builder named ``name`` (one instance per registry)."""
        builder = self._instances.get(name)
        if builder is None:
            builder = self._instances[name] = self.builder_class(name)()
        return builder

    def for_runtime(self, runtime: str) -> Builder:
        """The default builder of a Lambda runtime id (``python3.12`` → the Python builder).
        An unknown runtime, or one without a default (``provided.al2023``), is a ``ConfigError``."""
        if runtime not in RUNTIMES:
            raise ConfigError(f"no builder for unknown runtime {runtime!r}")
        name = self.default_name(runtime)
        if name is None:
            raise ConfigError(f"runtime {runtime!r} has no default builder: set "
                              f"builder = \"command\" (or the name of a builder plugin)")
        return self.get(name)

    def for_spec(self, spec: BuildSettings) -> Builder:
        """The builder of a resolved function or layer: the one it names, else its runtime's
        default (a hand-made spec may leave ``builder`` unset)."""
        return self.get(spec.builder) if spec.builder else self.for_runtime(spec.runtime)

    # -- plugins -------------------------------------------------------------------------

    def _plugin_entry_points(self) -> dict[str, EntryPoint]:
        """Installed builder entry points by name, read once; a name that a built-in or
        another plugin already has is an error, whether or not a project uses it."""
        if self._plugins is None:
            from importlib.metadata import entry_points

            found: dict[str, EntryPoint] = {}
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if ep.name in BUILT_IN:
                    raise PluginError(
                        f"builder plugin {_describe(ep)} is named '{ep.name}', like the "
                        f"built-in {ep.name} builder; builder names must be unique "
                        "(uninstall the plugin or give it another name)"
                    )
                other = found.get(ep.name)
                if other is not None and other.value != ep.value:
                    raise PluginError(
                        f"two builder plugins are named '{ep.name}': {_describe(other)} and "
                        f"{_describe(ep)}; builder names must be unique (uninstall one)"
                    )
                found[ep.name] = ep
            self._plugins = found
        return self._plugins


def _describe(ep: EntryPoint) -> str:
    """``'rust = forge_rust:RustBuilder' (entry point group lambdaforge.builders)``."""
    return f"'{ep.name} = {ep.value}' (entry point group {ENTRY_POINT_GROUP})"


def _load_plugin(ep: EntryPoint) -> type[Builder]:
    """Import a plugin's class and check it is a usable builder (type-checked, not trusted)."""
    from lambdaforge.builders.base import Builder

    try:
        obj = ep.load()
    except Exception as exc:  # a broken third-party package must not crash with a traceback
        raise PluginError(f"builder plugin {_describe(ep)} could not be imported: "
                          f"{type(exc).__name__}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Builder)):
        raise PluginError(f"builder plugin {_describe(ep)} is not a builder: {obj!r} is not a "
                          "subclass of lambdaforge.builders.base.Builder")
    for attr in ("NAME", "VERSION"):
        value = getattr(obj, attr, None)
        if not isinstance(value, str) or not value:
            raise PluginError(f"builder plugin {_describe(ep)}: {obj.__qualname__}.{attr} must "
                              f"be a non-empty string, not {value!r}")
    if obj.NAME != ep.name:
        raise PluginError(f"builder plugin {_describe(ep)}: {obj.__qualname__}.NAME is "
                          f"'{obj.NAME}'; the entry point must be named after its builder")
    missing = sorted(getattr(obj, "__abstractmethods__", ()))
    if missing:
        raise PluginError(f"builder plugin {_describe(ep)}: {obj.__qualname__} does not "
                          f"implement {', '.join(missing)}")
    return obj
