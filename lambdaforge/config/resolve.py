"""From a validated, merged ``ConfigFile`` to a ``Project``: every value decided.

For each function and layer setting the table's own value wins, then ``[defaults]``, then
``BUILT_IN_DEFAULTS``; ``[[discover]]`` entries act as the table of the functions they
find. Each gets its builder and the builder's options (``builder_options``). Paths become
project-relative POSIX strings (relative to the file that wrote them),
and every effective value keeps an ``Origin``. Problems are collected, not raised, so one
run reports them all.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from lambdaforge import lambda_facts
from lambdaforge.config import discover, validate
from lambdaforge.config.builder_options import (
    BuilderCatalog,
    OptionTables,
    option_origins,
    resolve_builder,
)
from lambdaforge.config.loader import Merged
from lambdaforge.config.locate import KeyPath, dotted
from lambdaforge.config.models import (
    BUILT_IN_DEFAULTS,
    BuildSettingsTable,
    CheckSettings,
    ConfigFile,
    DeploySettings,
    FunctionDeploy,
    FunctionSpec,
    LayerSpec,
    Origin,
    Project,
    StripRules,
    kebab,
)
from lambdaforge.config.translate import suggest
from lambdaforge.config.validate import PathProblem, Resolved
from lambdaforge.runtime_packages import runtime_package_problem
from lambdaforge.errors import ConfigIssue
from lambdaforge.remote.settings import RemoteSettings, parse_url

#: Settings every function and layer has (``BuildSettings`` fields).
SETTINGS: tuple[str, ...] = tuple(BuildSettingsTable.model_fields)
#: A function's deploy-only settings (``FunctionDeploy``), inherited from ``[defaults]``.
DEPLOY_SETTINGS: tuple[str, ...] = ("role", "memory", "timeout", "description",
                                     "ephemeral_storage", "tags", "alias")
#: A layer's deploy-only settings (not in any build key).
LAYER_DEPLOY_SETTINGS: tuple[str, ...] = ("compatible_runtimes", "compatible_architectures")
#: ``Origin.file`` of a value nobody wrote.
BUILT_IN = Origin(file="<built-in>", line=None)
#: The environment variable that overrides the cache directory.
CACHE_DIR_VARIABLE = "FORGE_CACHE_DIR"


def built_in_strip_rules() -> dict[str, StripRules]:
    """The rule sets that exist without being defined (``standard``, ``aggressive``, …);
    ``lambdaforge.packaging.strip`` owns their patterns."""
    from lambdaforge.packaging.strip import BUILT_IN_RULE_SETS

    return dict(BUILT_IN_RULE_SETS)


class _Resolver:
    def __init__(self, config: ConfigFile, merged: Merged, root: Path,
                 options: OptionTables, builders: BuilderCatalog):
        self.config = config
        self.merged = merged
        self.root = root
        self.options = options
        self.builders = builders
        self.issues: list[ConfigIssue] = []
        self._origins: dict[KeyPath, Origin] = {}
        #: project-relative handler files whose absence made a discovered directory no function
        self._skipped_handler_files: list[str] = []

    def issue_at(
        self, path: KeyPath, message: str, severity: Literal["error", "warning"] = "error"
    ) -> ConfigIssue:
        issue = self.merged.issue(path, message, severity)
        self.issues.append(issue)
        return issue

    def base_of(self, path: KeyPath) -> Path:
        """Directory paths written at ``path`` are relative to: its file's."""
        return self.merged.where(path)[0].path.parent

    def origin(self, path: KeyPath | None) -> Origin:
        if path is None:
            return BUILT_IN
        # Most values come from a few places ([defaults]): make each Origin once.
        origin = self._origins.get(path)
        if origin is None:
            source, line = self.merged.where(path)
            origin = Origin(file=source.origin_name, line=line, key=dotted(path))
            self._origins[path] = origin
        return origin

    # -- targets
    def target(
        self,
        kind: Literal["function", "layer"],
        name: str,
        table: Any,
        table_key: KeyPath,
        own: tuple[str, ...],
        name_key: KeyPath | None = None,
        not_settings: tuple[str, ...] = (),
    ) -> Resolved:
        """Decide each setting: the table's, else ``[defaults]``'s, else built-in.
        ``not_settings``: keys the table has with another meaning (``[[discover]]``'s
        ``exclude`` skips directories), which it does not pass on."""
        defaults = self.config.defaults
        resolved = Resolved(kind, name, name_key or table_key)
        for setting in SETTINGS + own:
            value = getattr(table, setting, None) if setting not in not_settings else None
            if value is not None:
                written: KeyPath | None = (*table_key, kebab(setting))
            elif getattr(defaults, setting, None) is not None:
                value, written = getattr(defaults, setting), ("defaults", kebab(setting))
            else:
                value, written = BUILT_IN_DEFAULTS.get(setting, () if setting == "layers" else None), None
            resolved.values[setting] = value
            resolved.written[setting] = written
        return resolved

    def environment(self, target: Resolved, table: Any, table_key: KeyPath) -> None:
        """A function's variables: ``[defaults]``'s, with the table's own over them (a
        table merges key by key, as ``extends`` does); each name remembers where it was
        written, for errors and ``--show-origin``."""
        target.environment_written = self.merged_table(target, table, table_key, "environment")
        if target.values["environment"] is None:
            target.values["environment"] = {}

    def merged_table(self, target: Resolved, table: Any, table_key: KeyPath,
                     setting: str) -> dict[str, KeyPath]:
        """``[defaults]``'s table ``setting`` (``environment``, ``tags``) with the function's
        own keys over it; ``None`` when neither writes one. Returns where each key was
        written."""
        defaults = getattr(self.config.defaults, setting, None)
        own = getattr(table, setting, None)
        if defaults is None and own is None:
            target.values[setting] = None
            target.written[setting] = None
            return {}
        defaults, own = defaults or {}, own or {}
        target.values[setting] = {**defaults, **own}
        target.written[setting] = ((*table_key, setting) if own
                                   else ("defaults", setting) if defaults else None)
        return {name: (*table_key, setting, name) if name in own else ("defaults", setting, name)
                for name in target.values[setting]}

    def check_settings(self, origins: dict[str, Origin]) -> CheckSettings:
        """The ``[check]`` table: variable names checked as a function's are (no size
        limit: they are never deployed); runtime package lists as written (each builder
        reads its language's entries, ``lambdaforge.runtime_packages``)."""
        table = self.config.check
        environment = dict(table.environment or {})
        for name in environment:
            problem = validate.environment_name_problem(name)
            if problem is not None:
                self.issue_at(("check", "environment", name), problem)
        for i, entry in enumerate(table.runtime_packages or ()):
            problem = runtime_package_problem(entry)
            if problem is not None:
                self.issue_at(("check", "runtime-packages", i), problem)
        for setting, value in (("runtime-packages", table.runtime_packages),
                               ("environment", table.environment)):
            origins[f"check.{setting}"] = self.origin(("check", setting) if value else None)
        for name in environment:
            origins[f"check.environment.{name}"] = self.origin(("check", "environment", name))
        return CheckSettings(runtime_packages=tuple(table.runtime_packages or ()),
                             environment=environment)

    def remote_cache(self, origins: dict[str, Origin]) -> RemoteSettings | None:
        """The ``[cache]`` table (its URL was checked by the model): the remote, or ``None``
        when the table names none (its other settings still apply to
        ``FORGE_REMOTE_CACHE``)."""
        table = self.config.cache
        for setting in ("remote", "region", "profile", "endpoint-url", "mode"):
            written = getattr(table, setting.replace("-", "_")) is not None
            origins[f"cache.{setting}"] = self.origin(("cache", setting) if written else None)
        if table.remote is None and all(
                v is None for v in (table.region, table.profile, table.endpoint_url, table.mode)):
            return None
        bucket, prefix = parse_url(table.remote) if table.remote else ("", "")
        return RemoteSettings(bucket=bucket, prefix=prefix, region=table.region,
                              profile=table.profile, endpoint_url=table.endpoint_url,
                              mode=table.mode or "read")

    def function_deploy(self, target: Resolved, table: Any, table_key: KeyPath) -> None:
        """A function's deploy settings, refused before any call when Lambda would refuse
        them: a ``role`` that is no IAM role ARN, an ``alias`` name Lambda does not accept,
        tags breaking Lambda's rules (each reported at the key that wrote it)."""
        role = target.values.get("role")
        if role is not None and not validate.ROLE_ARN.fullmatch(role):
            self.issue_at(target.at("role"), validate.role_arn_problem(role))
        alias = target.values.get("alias")
        if alias is not None and (problem := validate.alias_problem(alias)):
            self.issue_at(target.at("alias"), problem)
        written = self.merged_table(target, table, table_key, "tags")
        for key, problem in validate.tag_problems(target.values["tags"] or {}).items():
            self.issue_at(written.get(key) or target.at("tags"), problem)
        for key, at in written.items():
            target.extra_origins[f"{target.effective_key('tags')}.{key}"] = at

    def deploy_settings(self, origins: dict[str, Origin]) -> DeploySettings:
        """The ``[deploy]`` table, each value's shape checked where it was written: region,
        bucket name, role ARN, stage, and the name template's placeholders."""
        table = self.config.deploy
        for key, problem in validate.deploy_problems(table.model_dump()).items():
            self.issue_at(("deploy", key), problem)
        values = table.model_dump()
        for key in values:
            written = ("deploy", kebab(key))
            origins[f"deploy.{kebab(key)}"] = self.origin(
                written if written in self.merged.owner else None)
        return DeploySettings(**values)

    def deploy_names(self, deploy: DeploySettings, project: str, functions: Sequence[Resolved],
                     layers: Mapping[str, Resolved]) -> None:
        """The Lambda names ``[deploy] name`` makes with the config's stage (or none), each
        checked against Lambda's rules now (``forge validate``), not by ``forge deploy`` after
        a build: 64 characters for a function, 140 for a layer."""
        if validate.name_template_problem(deploy.name) is not None:
            return  # reported by deploy_settings
        if "{stage}" in deploy.name and not deploy.stage:
            return  # the stage comes with --stage: deploy checks the names then
        built_layers = [n for n, t in layers.items() if t.values.get("arn") is None]
        for _, problem in validate.lambda_name_problems(
                deploy.name, project, deploy.stage, [t.name for t in functions], built_layers):
            self.issue_at(("deploy", "name"), problem)

    def builder(self, target: Resolved, own_key: KeyPath) -> None:
        """Decide the target's builder and its options (``builder_options.resolve_builder``)."""
        resolve_builder(target, own_key, self.options, self.builders, self.issue_at)

    def local_path(self, at: KeyPath, value: str, kind: Literal["directory", "file", "path"]) -> str | None:
        """``value``, written at ``at``, as a project-relative path that exists as ``kind``;
        ``None`` (and an issue) when it does not or leaves the project."""
        try:
            relative = validate.project_path(value, self.base_of(at), self.root)
            validate.require(self.root, relative, value, kind)
        except PathProblem as exc:
            self.issue_at(at, str(exc))
            return None
        return relative

    def paths(self, target: Resolved, source_done: bool = False) -> None:
        """Make ``source``, ``requirements`` and the builder's path options project-relative."""
        values = target.values
        if values.get("source") is not None and not source_done:
            values["source"] = self.local_path(target.at("source"), values["source"], "directory")
        if values["requirements"] is not None:
            values["requirements"] = self.local_path(
                target.at("requirements"), values["requirements"], "file"
            )
        elif values.get("source") is not None and self.builders.has(values.get("builder") or ""):
            builder = self.builders.builder_class(values["builder"])
            values["requirements"] = builder.default_requirements(values["source"], self.root)
        self.option_paths(target)

    def option_paths(self, target: Resolved) -> None:
        """The builder's path options (``BuilderOptions.PATHS``: the Python builder's
        ``find-links``), relative to the file that wrote them, made project-relative; URLs
        (``scheme://…``) are kept as written."""
        options = target.values.get("builder_options")
        if not options:
            return  # no builder decided, or one without options
        model = self.builders.builder_class(target.values["builder"]).options_model()
        for key, kind in (model.PATHS.items() if model is not None else ()):
            at, value = target.options_written.get(key), options.get(key)
            if at is None or value is None:
                continue  # the model's default: nobody wrote a path
            entries = [e if "://" in e else self.local_path(at, e, kind) or e
                       for e in (value if isinstance(value, list) else [value])]
            options[key] = entries if isinstance(value, list) else entries[0]

    # -- the whole project
    def functions(self) -> list[Resolved]:
        own = ("source", "handler", "layers", *DEPLOY_SETTINGS)
        out = []
        for name, table in self.config.functions.items():
            target = self.target("function", name, table, ("functions", name), own)
            self.function_deploy(target, table, ("functions", name))
            self.environment(target, table, ("functions", name))
            self.builder(target, ("functions", name))
            self.paths(target)
            out.append(target)
        found, issues = discover.expand(self.config, self.merged, self.root)
        self.issues.extend(issues)
        no_handler: dict[int, list[str]] = {}
        for item in found:
            entry_key = ("discover", item.index)
            entry = self.config.discover[item.index]
            target = self.target(
                "function", item.name, entry, entry_key, ("handler", "layers", *DEPLOY_SETTINGS),
                (*entry_key, "path"), not_settings=("exclude",),
            )
            self.function_deploy(target, entry, entry_key)
            target.values["source"] = item.source
            target.written["source"] = (*entry_key, "path")
            self.environment(target, entry, entry_key)
            self.builder(target, entry_key)
            files = self._handler_files(target)
            if files is not None and not any((self.root / item.source / f).is_file() for f in files):
                no_handler.setdefault(item.index, []).append(item.source)
                self._skipped_handler_files += [f"{item.source}/{f}" for f in files]
                continue
            self.paths(target, source_done=True)
            out.append(target)
        for index, sources in sorted(no_handler.items()):
            shown = ", ".join(sources[:5]) + (f" and {len(sources) - 5} more" if len(sources) > 5 else "")
            handler = self.config.discover[index].handler or self.config.defaults.handler
            self.issue_at(("discover", index, "path"),
                          f"skipped {len(sources)} director{'y' if len(sources) == 1 else 'ies'} "
                          f"without the file of handler '{handler}': {shown} (add it, or list "
                          "them in this entry's `exclude`)", "warning")
        return out

    def _handler_files(self, target: Resolved) -> tuple[str, ...] | None:
        """The files, relative to a discovered directory, one of which its handler's code
        must be in (its builder says; ``None`` when it cannot tell, or the handler or
        builder is missing, which is reported elsewhere: then every directory counts)."""
        handler, name = target.values.get("handler"), target.values.get("builder")
        if not isinstance(handler, str) or not name or not self.builders.has(name):
            return None
        return self.builders.builder_class(name).handler_files(handler)

    def discover_globs(self) -> tuple[tuple[str, str], ...]:
        """Each ``[[discover]]`` pattern with the project-relative directory it is relative to."""
        out = []
        for index, entry in enumerate(self.config.discover):
            base = self.merged.where(("discover", index, "path"))[0].path.parent
            out.append((os.path.relpath(base, self.root).replace(os.sep, "/"), entry.path))
        return tuple(out)

    def discover_observations(self) -> list[list]:
        """Listings of every directory whose entries decide what ``[[discover]]`` finds."""
        from lambdaforge.observe import observe_path
        from lambdaforge.replay import glob_dirs

        return [observe_path(d, os.fspath(self.root))
                for d in glob_dirs(self.root, self.discover_globs())]

    def layers(self) -> dict[str, Resolved]:
        out = {}
        for name, table in self.config.layers.items():
            target = self.target("layer", name, table, ("layers", name),
                                 ("source", "arn", "check_with", *LAYER_DEPLOY_SETTINGS))
            self.layer_compatibility(target)
            if target.values["arn"] is not None:
                self.referenced_layer(target, table)
            elif target.values["check_with"] is not None:
                self.issue_at(target.at("check_with"),
                              "`check-with` stands in for a layer referenced by `arn`; this "
                              "layer is built (give it `dependencies` instead)")
            target.values["check_with"] = tuple(target.values["check_with"] or ())
            self.builder(target, ("layers", name))
            self.paths(target)
            out[name] = target
        return out

    def layer_compatibility(self, target: Resolved) -> None:
        """``compatible-runtimes``/``-architectures``: Lambda's rules, checked before any
        call (known runtimes, at most 15, no repeats; a non-empty list)."""
        runtimes = target.values["compatible_runtimes"]
        if runtimes is not None:
            if not runtimes:
                self.issue_at(target.at("compatible_runtimes"),
                              "an empty list (leave the key out to derive it from the layer "
                              "and its functions)")
            if len(runtimes) > lambda_facts.MAX_LAYER_RUNTIMES:
                self.issue_at(target.at("compatible_runtimes"),
                              f"{len(runtimes)} runtimes (Lambda allows at most "
                              f"{lambda_facts.MAX_LAYER_RUNTIMES})")
            for runtime in runtimes:
                if runtime in lambda_facts.RETIRED:
                    self.issue_at(target.at("compatible_runtimes"),
                                  f"runtime '{runtime}' was retired by Lambda; use "
                                  f"'{lambda_facts.replacement(runtime)}' or later")
                elif runtime not in lambda_facts.RUNTIMES:
                    hint = suggest(runtime, lambda_facts.RUNTIMES)
                    self.issue_at(target.at("compatible_runtimes"),
                                  f"unknown runtime '{runtime}' (expected one of "
                                  f"{', '.join(lambda_facts.RUNTIMES)}){hint}")
            if len(set(runtimes)) != len(runtimes):
                self.issue_at(target.at("compatible_runtimes"), "a runtime is listed twice")
            target.values["compatible_runtimes"] = tuple(runtimes)
        architectures = target.values["compatible_architectures"]
        if architectures is not None:
            if not architectures:
                self.issue_at(target.at("compatible_architectures"),
                              "an empty list (leave the key out to derive it)")
            if len(set(architectures)) != len(architectures):
                self.issue_at(target.at("compatible_architectures"),
                              "an architecture is listed twice")
            target.values["compatible_architectures"] = tuple(architectures)

    def referenced_layer(self, target: Resolved, table: Any) -> None:
        """A layer given by ARN: nothing of it is built but its ``check-with`` stand-in,
        which becomes its dependencies; keys that would build it are errors."""
        arn = target.values["arn"]
        if not validate.LAYER_ARN.fullmatch(arn):
            self.issue_at(target.at("arn"), f"'{arn}' is not a layer version ARN (expected "
                          "arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)")
        for key in ("source", "requirements", "dependencies"):
            if getattr(table, key, None) is not None:
                self.issue_at(target.at(key), f"a layer referenced by `arn` is not built: "
                              f"remove `{key.replace('_', '-')}` (checks can use `check-with`)")
        target.values["source"] = target.values["requirements"] = None
        target.values["dependencies"] = tuple(target.values["check_with"] or ())
        if target.values["check_with"] is not None:
            target.written["dependencies"] = target.written["check_with"]

    def strip_rules(self, origins: dict[str, Origin]) -> dict[str, StripRules]:
        rules = built_in_strip_rules()
        for name in rules:
            for setting in ("exclude", "keep"):
                origins[dotted(("strip-rules", name, setting))] = BUILT_IN
        for name, table in self.config.strip_rules.items():
            if name in rules:
                self.issue_at(
                    ("strip-rules", name),
                    f"'{name}' is a built-in strip rule set; give yours another name",
                )
                continue
            rules[name] = StripRules(name=name, exclude=table.exclude, keep=table.keep)
            for setting in ("exclude", "keep"):
                key = ("strip-rules", name, setting)
                written = key if key in self.merged.owner else None
                origins[dotted(key)] = self.origin(written or ("strip-rules", name))
        return rules

    def project(self, config_path: Path, cwd: Path, env: Mapping[str, str]) -> Project | None:
        origins: dict[str, Origin] = {}
        table = self.config.project
        name = table.name or self.root.name
        origins["project.name"] = self.origin(("project", "name") if table.name else None)
        if env.get(CACHE_DIR_VARIABLE):
            cache_dir = Path(os.path.abspath(cwd / env[CACHE_DIR_VARIABLE]))
            origins["project.cache-dir"] = Origin(file=f"${CACHE_DIR_VARIABLE}", line=None)
        elif table.cache_dir is not None:
            key = ("project", "cache-dir")
            cache_dir = Path(os.path.abspath(self.base_of(key) / table.cache_dir))
            origins["project.cache-dir"] = self.origin(key)
        else:
            cache_dir = self.root / ".forge" / "cache"
            origins["project.cache-dir"] = BUILT_IN
        origins["project.cache-salt"] = self.origin(
            ("project", "cache-salt") if table.cache_salt is not None else None
        )
        strip_rules = self.strip_rules(origins)
        # Before the globs run: a directory added after this listing moves its stat.
        observed = [f.observed for f in reversed(self.merged.files) if f.observed is not None]
        observed += self.discover_observations()
        layers = self.layers()
        functions = self.functions()
        # A skipped directory's handler file appearing makes it a function: each file that
        # would have counted is observed absent (an absence holds whenever it was recorded).
        observed += [["m", f] for f in self._skipped_handler_files]
        check = self.check_settings(origins)
        remote_cache = self.remote_cache(origins)
        deploy = self.deploy_settings(origins)
        self.deploy_names(deploy, name, functions, layers)
        validate.check(functions, layers, strip_rules, self.issue_at)
        self.issues = unique_issues(self.issues)
        if any(i.severity == "error" for i in self.issues):
            return None
        for target in (*layers.values(), *functions):
            for setting, written in target.written.items():
                origins[target.effective_key(setting)] = self.origin(written)
            for key, written in option_origins(target).items():
                origins[key] = self.origin(written)
            for variable, written in target.environment_written.items():
                origins[f"{target.effective_key('environment')}.{variable}"] = self.origin(written)
            for key, written in target.extra_origins.items():
                origins[key] = self.origin(written)
        return Project(
            root=self.root,
            config_file=config_path,
            name=name,
            cache_dir=cache_dir,
            cache_salt=table.cache_salt or "",
            remote_cache=remote_cache,
            functions={t.name: _function_spec(t) for t in functions},
            layers={n: LayerSpec(name=n, **t.values) for n, t in layers.items()},
            strip_rules=strip_rules,
            origins=origins,
            config_files=tuple(f.path for f in reversed(self.merged.files)),
            discover_globs=self.discover_globs(),
            observed=tuple(observed),
            warnings=tuple(self.issues),
            check=check,
            deploy=deploy,
        )


def _function_spec(target: Resolved) -> FunctionSpec:
    """The resolved function, its deploy-only settings set apart (no build key sees them)."""
    values = dict(target.values)
    deploy = FunctionDeploy(**{k: values.pop(k) for k in DEPLOY_SETTINGS})
    return FunctionSpec(name=target.name, deploy=deploy, **values)


def unique_issues(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    """Issues without repeats (a bad ``[defaults]`` value is found once per function), in
    file and line order so the output reads top to bottom."""
    unique = dict.fromkeys(issues)
    return sorted(unique, key=lambda i: (i.file, i.line or 0))


def resolve(
    config: ConfigFile, merged: Merged, root: Path, config_path: Path, cwd: Path,
    env: Mapping[str, str], options: OptionTables, builders: BuilderCatalog,
) -> tuple[Project | None, list[ConfigIssue]]:
    """The resolved ``Project`` (``None`` when there are errors) and every issue found.
    ``options`` are the builder options ``builder_options.split_options`` set aside."""
    resolver = _Resolver(config, merged, root, options, builders)
    project = resolver.project(config_path, cwd, env)
    return project, resolver.issues
