"""Suites as data: load and validate regressions/suites.yaml, select, override seeds and shard jobs.

The whole file is validated on load (every suite, not only the one asked for), so a typo in the
nightly suite is caught by the next ``make regress`` or ``make test`` and not after hours of a night
run.  Every error names the file, suite, job and key that is wrong (docs/regressions.md, "Suite entry").
"""

from __future__ import annotations

import fnmatch
import pathlib
import re
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import yaml

from regressions import jobs

SUITES = pathlib.Path(__file__).resolve().parent / "suites.yaml"
_JOB_KEYS = {"name", "kind", "params", "timeout_s", "tags"}
_REQUIRED = ("name", "kind", "params")
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
"""A job name: it names ``jobs/<name>.json`` and the folder ``<name>/`` inside the run directory, so
it must not start with a dot (``..`` would be the run directory's parent) nor hold a path separator."""


class SuiteError(ValueError):
    """A suites file that cannot be used; the message says where (file, suite, job, key) and why."""


@dataclass(frozen=True)
class Job:
    """One suite entry after validation (timeout resolved from the kind's default when absent)."""

    name: str
    kind: str
    params: dict[str, Any]
    timeout_s: float
    tags: tuple[str, ...] = ()
    suite: str = ""
    """The suite that defines the entry (differs from the run's suite when it came by ``include``)."""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "params": dict(self.params),
                "timeout_s": self.timeout_s, "tags": list(self.tags), "suite": self.suite}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Job:
        if bad := name_problem(d.get("name")):  # run.json of --resume is a file too: same rule
            raise SuiteError(f"job {d.get('name')!r}: {bad}")
        return cls(name=d["name"], kind=d["kind"], params=dict(d["params"]), timeout_s=float(d["timeout_s"]),
                   tags=tuple(d.get("tags", ())), suite=d.get("suite", ""))


def name_problem(name: Any) -> str | None:
    """Why ``name`` cannot be a job name (see _NAME), or None."""
    if isinstance(name, str) and _NAME.fullmatch(name):
        return None
    return ("key 'name' must be a non-empty string of letters, digits, _ - . that does not start with"
            f" . or - (it names the job's record and folder inside the run directory), not {name!r}")


def _check_entry(where: str, entry: Mapping[str, Any], suite: str) -> Job:
    unknown = set(entry) - _JOB_KEYS
    if unknown:
        raise SuiteError(f"{where}: unknown key(s) {sorted(unknown)}; a job has {sorted(_JOB_KEYS)}"
                         " (or is `- include: SUITE`)")
    for key in _REQUIRED:
        if key not in entry:
            raise SuiteError(f"{where}: missing key '{key}'")
    name = entry["name"]
    if bad := name_problem(name):
        raise SuiteError(f"{where}: {bad}")
    kind = entry["kind"]
    if kind not in jobs.KINDS:
        raise SuiteError(f"{where}: key 'kind': unknown kind {kind!r}; known: "
                         + ", ".join(k for k in sorted(jobs.KINDS) if not k.startswith("_")))
    params = entry["params"]
    if not isinstance(params, dict):
        raise SuiteError(f"{where}: key 'params' must be a mapping, not {type(params).__name__}")
    if "cfg" in params:
        from golden.hwcfg import ConfigNameError, parse_hw

        try:
            parse_hw(str(params["cfg"]))
        except ConfigNameError as e:
            raise SuiteError(f"{where}: key 'params.cfg': {e}") from None
    for key in ("seeds", "seed"):
        if key in params:
            try:
                if not jobs.parse_seeds(params[key]):
                    raise ValueError("no seeds")
            except ValueError as e:
                raise SuiteError(f"{where}: key 'params.{key}': {params[key]!r} is not a seed list"
                                 f" like '0-99', '3,5,8' or 7 ({e})") from None
    timeout = entry.get("timeout_s", jobs.DEFAULT_TIMEOUT_S.get(kind))
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise SuiteError(f"{where}: key 'timeout_s' must be a positive number of seconds, not {timeout!r}")
    tags = entry.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise SuiteError(f"{where}: key 'tags' must be a list of non-empty strings, not {tags!r}")
    return Job(name=name, kind=kind, params=dict(params), timeout_s=float(timeout), tags=tuple(tags),
               suite=suite)


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load that refuses a key given twice in one mapping: plain YAML keeps the last one, so a
    suite (or a job's ``params``) written twice would silently replace the first."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)  # type: ignore[no-untyped-call]
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice (first at line {seen[key]})", key_node.start_mark)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _yaml_error(path: pathlib.Path, e: yaml.YAMLError) -> str:
    """One line naming file, line and column and what the parser expected (PyYAML's own text spans
    several lines and names the file ``<unicode string>``)."""
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e).splitlines()[0]
    where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else str(path)
    ctx, cmark = getattr(e, "context", None), getattr(e, "context_mark", None)
    extra = f" ({ctx} at line {cmark.line + 1})" if ctx and cmark is not None else f" ({ctx})" if ctx else ""
    return f"{where}: malformed YAML: {problem}{extra}"


def _raw_suites(path: pathlib.Path) -> dict[str, list[Any]]:
    try:
        data = yaml.load(path.read_text(), Loader=_UniqueKeyLoader)  # a SafeLoader: no tags run code
    except OSError as e:
        raise SuiteError(f"{path}: cannot read the suites file: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        raise SuiteError(_yaml_error(path, e)) from None
    if not isinstance(data, dict) or not isinstance(data.get("suites"), dict) or not data["suites"]:
        raise SuiteError(f"{path}: expected a top-level mapping 'suites: {{NAME: [jobs...]}}'")
    extra = set(data) - {"suites"}
    if extra:
        raise SuiteError(f"{path}: unknown top-level key(s) {sorted(extra)}; only 'suites'")
    for name, entries in data["suites"].items():
        if not isinstance(entries, list) or not entries:
            raise SuiteError(f"{path}: suite {name!r} must be a non-empty list of jobs and includes")
    return data["suites"]


def load_suites(path: pathlib.Path = SUITES) -> dict[str, list[Job]]:
    """Every suite of ``path``, includes expanded in order, validated; raises SuiteError."""
    raw = _raw_suites(path)
    own: dict[str, list[Job | str]] = {}
    for suite, entries in raw.items():
        items: list[Job | str] = []
        for i, entry in enumerate(entries):
            label = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
            where = f"{path.name}: suite {suite!r}, job {label!r}"
            if not isinstance(entry, dict):
                raise SuiteError(f"{where}: an entry is a mapping (a job or `include: SUITE`), not {entry!r}")
            if "include" in entry:
                if set(entry) != {"include"}:
                    raise SuiteError(f"{path.name}: suite {suite!r}, entry #{i}: `include` stands alone,"
                                     f" found keys {sorted(entry)}")
                if entry["include"] not in raw:
                    raise SuiteError(f"{path.name}: suite {suite!r}, entry #{i}: key 'include': unknown suite"
                                     f" {entry['include']!r}; suites: {', '.join(raw)}")
                items.append(str(entry["include"]))
            else:
                items.append(_check_entry(where, entry, suite))
        own[suite] = items

    done: dict[str, list[Job]] = {}

    def expand(suite: str, chain: tuple[str, ...]) -> list[Job]:
        if suite in chain:
            raise SuiteError(f"{path.name}: include cycle: {' -> '.join((*chain, suite))}")
        if suite in done:
            return done[suite]
        out: list[Job] = []
        seen: dict[str, str] = {}
        for item in own[suite]:
            for job in expand(item, (*chain, suite)) if isinstance(item, str) else [item]:
                if job.name in seen:  # both would write jobs/<name>.json: one record would be lost
                    origin = (f"defined twice in suite {job.suite!r}" if seen[job.name] == job.suite
                              else f"from suite {seen[job.name]!r} and suite {job.suite!r}")
                    raise SuiteError(f"{path.name}: suite {suite!r}: duplicate job name {job.name!r}"
                                     f" ({origin})")
                seen[job.name] = job.suite
                out.append(job)
        done[suite] = out
        return out

    for suite in own:
        expand(suite, ())
    return {s: done[s] for s in raw}


def load_suite(name: str, path: pathlib.Path = SUITES) -> list[Job]:
    suites = load_suites(path)
    if name not in suites:
        raise SuiteError(f"{path.name}: unknown suite {name!r}; suites: {', '.join(suites)}")
    return suites[name]


def select(suite: Iterable[Job], *, only: Iterable[str] = (), tags: Iterable[str] = (),
           models: Iterable[str] = ()) -> list[Job]:
    """Jobs whose name matches any of ``only``, that carry every tag of ``tags`` and whose
    ``params.model`` matches any of ``models`` (each pattern a name or an fnmatch glob)."""
    only, tags, models = list(only), set(tags), list(models)
    out = [j for j in suite
           if (not only or any(fnmatch.fnmatchcase(j.name, p) for p in only))
           and tags <= set(j.tags)
           and (not models or any(fnmatch.fnmatchcase(str(j.params.get("model", "")), p) for p in models))]
    return out


def with_seed(job: Job, seed: int) -> Job:
    """``job`` with its seed parameter (jobs.SEED_KEY) replaced by ``seed``."""
    key = jobs.SEED_KEY.get(job.kind, "seed")
    params = dict(job.params)
    params[key] = str(seed) if key == "seeds" else seed
    return replace(job, params=params)


def parse_shard(spec: str) -> tuple[int, int]:
    """'2/4' -> (2, 4); shards are numbered from 1 as CI matrices usually are."""
    k, sep, n = spec.partition("/")
    if not sep or not k.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(k) <= int(n):
        raise SuiteError(f"--shard {spec!r}: expected K/N with 1 <= K <= N (e.g. 1/4)")
    return int(k), int(n)


def shard(suite: Iterable[Job], k: int, n: int) -> list[Job]:
    """Shard ``k`` of ``n`` (1-based), deterministic: jobs sorted by timeout (the size class of the
    job) descending, then by a stable hash of the name, are dealt round-robin, so every shard gets its
    share of the long jobs.  The union of shards 1..n is the suite, with no job in two shards; the
    result keeps the suite's order."""
    jobs_ = list(suite)
    order = sorted(jobs_, key=lambda j: (-j.timeout_s, zlib.crc32(j.name.encode()), j.name))
    mine = {j.name for i, j in enumerate(order) if i % n == k - 1}
    return [j for j in jobs_ if j.name in mine]
