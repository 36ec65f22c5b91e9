"""A workflow file as the doctor reads it: jobs, steps and the cdhelper parts in them, each with
the line it starts on (from the YAML nodes' start marks, so findings point at the real line).

Values are plain Python (dict, list, str, bool, int, None); every mapping is a `Map` that also
knows the line of each of its keys, every sequence a `Seq` that knows the line of each item.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

ACTIONS = ("release", "promote", "gate", "finish", "report-check", "status", "flags")
ROOT_COMMANDS = (*ACTIONS, "sweep")
MAX_BYTES = 1024 * 1024  # a workflow file is a few KiB; this bounds the parser's work

# How users reference cdhelper (any owner: forks and mirrors count too).
_ACTION_REF = re.compile(r"^[^/\s]+/cdhelper/actions/([A-Za-z0-9_-]+)@\S+$", re.I)
_LOCAL_ACTION = re.compile(r"^\./actions/([A-Za-z0-9_-]+)/?$")
_ROOT_REF = re.compile(r"^[^/\s]+/cdhelper@\S+$", re.I)
_REUSABLE = re.compile(r"^(?:[^/\s]+/cdhelper/|\./)\.github/workflows/cd\.ya?ml(?:@\S+)?$", re.I)
_INPUT_REF = re.compile(r"^\$\{\{\s*inputs\.([A-Za-z0-9_-]+)\s*\}\}$")


class Map(dict):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.line, self.key_lines = 0, {}

    def line_of(self, key: str) -> int:
        return self.key_lines.get(key, self.line)


class Seq(list):
    def __init__(self, *args):
        super().__init__(*args)
        self.line, self.item_lines = 0, []


class WorkflowSyntaxError(Exception):
    def __init__(self, line: int, problem: str):
        super().__init__(problem)
        self.line, self.problem = line, problem


def _scalar(node) -> object:
    tag = node.tag.rsplit(":", 1)[-1]
    value = node.value
    if tag == "bool":
        return value.lower() in {"true", "yes", "on", "y"}
    if tag == "int":
        try:
            return int(value.replace("_", ""), 0)
        except ValueError:
            return value
    if tag == "null":
        return None
    return value


def _convert(node, depth: int = 0) -> object:
    import yaml  # heavy: imported when used, so --help and the launcher start without it
    if depth > 100:
        raise WorkflowSyntaxError(node.start_mark.line + 1, "it nests too deeply")
    if isinstance(node, yaml.MappingNode):
        out = Map()
        out.line, out.key_lines = node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = str(key_node.value)  # `on:` is a key, not YAML 1.1's boolean true
            if key == "<<":  # a merge key: GitHub accepts them (YAML anchors)
                merged = _convert(value_node, depth + 1)
                for part in merged if isinstance(merged, list) else [merged]:
                    if isinstance(part, Map):
                        for k, v in part.items():
                            out.setdefault(k, v)
                            out.key_lines.setdefault(k, part.line_of(k))
                continue
            out[key] = _convert(value_node, depth + 1)
            out.key_lines[key] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        seq = Seq(_convert(item, depth + 1) for item in node.value)
        seq.line, seq.item_lines = node.start_mark.line + 1, [item.start_mark.line + 1 for item in node.value]
        return seq
    return _scalar(node)


def scalars(node):
    """Every scalar of the file with the line it starts on and whether it is a block (| or >)."""
    import yaml  # heavy: imported when used, so --help and the launcher start without it
    stack, seen = [node], set()
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, yaml.ScalarNode):
            yield current
        elif isinstance(current, yaml.MappingNode):
            stack.extend(n for pair in current.value for n in pair)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)


@dataclass
class Step:
    index: int
    line: int
    data: Map
    action: str | None  # the cdhelper command this step runs (promote, gate, ...), None for any other step

    @property
    def inputs(self) -> Map:
        value = self.data.get("with")
        return value if isinstance(value, Map) else Map()

    def input(self, name: str, default: str = "") -> str:
        value = self.inputs.get(name, default)
        return "" if value is None else str(value).strip()

    def input_line(self, name: str) -> int:
        return self.inputs.line_of(name) if name in self.inputs else self.data.line_of("uses")

    @property
    def condition(self) -> str:
        return expression(self.data.get("if"))

    @property
    def shown(self) -> str:
        """The step as a finding names it: its name, else its `uses:` or the first line of its `run:`."""
        for key in ("name", "uses", "run"):
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                first = value.strip().splitlines()[0]
                text = first if len(first) <= 60 else first[:57] + "..."
                return f"step {self.index + 1} (`{key}: {text}`)" if key in ("uses", "run") else \
                    f"step {self.index + 1} ({text!r})"
        return f"step {self.index + 1}"


@dataclass
class Job:
    id: str
    line: int
    data: Map
    steps: list[Step] = field(default_factory=list)
    reusable: bool = False  # calls cdhelper's reusable workflow

    @property
    def needs(self) -> list[str]:
        value = self.data.get("needs")
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value] if isinstance(value, list) else []

    @property
    def condition(self) -> str:
        return expression(self.data.get("if"))

    def line_of(self, key: str) -> int:
        return self.data.line_of(key)

    @property
    def environment(self) -> str | None:
        """The environment's name as written (possibly an expression), None when not bound."""
        value = self.data.get("environment")
        if isinstance(value, Map):
            name = value.get("name")
            return None if name is None else str(name)
        return None if value is None else str(value)

    @property
    def environment_line(self) -> int:
        value = self.data.get("environment")
        if isinstance(value, Map) and "name" in value:
            return value.line_of("name")
        return self.line_of("environment")

    @property
    def runs_on(self) -> list[str]:
        """The runner labels of `runs-on` (a string, a list, or `{group, labels}`); a group counts as a label."""
        value = self.data.get("runs-on")
        if isinstance(value, Map):
            labels = value.get("labels")
            listed = [labels] if isinstance(labels, str) else list(labels) if isinstance(labels, list) else []
            return [str(v) for v in listed] + ([f"group:{value['group']}"] if value.get("group") else [])
        if isinstance(value, list):
            return [str(v) for v in value]
        return [] if value is None else [str(value)]

    def steps_running(self, *actions: str) -> list[Step]:
        return [s for s in self.steps if s.action in actions]

    @property
    def uses_cdhelper(self) -> bool:
        return self.reusable or any(s.action for s in self.steps)


@dataclass
class Workflow:
    path: str
    data: Map
    jobs: dict[str, Job]
    root: object  # the YAML node tree, for rules that look at every scalar

    @property
    def uses_cdhelper(self) -> bool:
        return any(job.uses_cdhelper for job in self.jobs.values())

    def inputs(self) -> dict[str, Map]:
        """Inputs declared by workflow_call and workflow_dispatch (name -> their declaration)."""
        on = self.data.get("on")
        found: dict[str, Map] = {}
        if isinstance(on, Map):
            for event in ("workflow_call", "workflow_dispatch"):
                spec = on.get(event)
                declared = spec.get("inputs") if isinstance(spec, Map) else None
                if isinstance(declared, Map):
                    for name, decl in declared.items():
                        if isinstance(decl, Map):
                            found.setdefault(name, decl)
        return found

    def called_with(self, name: str) -> bool:
        """Whether `name` is an input of workflow_call: its value comes from the calling job."""
        on = self.data.get("on")
        spec = on.get("workflow_call") if isinstance(on, Map) else None
        declared = spec.get("inputs") if isinstance(spec, Map) else None
        return isinstance(declared, Map) and name in declared

    def resolve(self, value: str) -> list[str] | None:
        """The values a name can take: itself when literal; for `${{ inputs.X }}`, X's choice options
        or its default; None when it cannot be known statically."""
        value = (value or "").strip()
        if "${{" not in value:
            return [value]
        match = _INPUT_REF.match(value)
        decl = self.inputs().get(match.group(1)) if match else None
        if decl is None or self.called_with(match.group(1)):
            return None  # a caller's `with:` decides, not the default (the caller's workflow is checked)
        options = decl.get("options")
        if isinstance(options, list) and options:
            return [str(o) for o in options]
        default = decl.get("default")
        return [str(default)] if isinstance(default, str) and default and "${{" not in default else None


def expression(value: object) -> str:
    """A condition as one normalised string: `${{ }}` removed, whitespace collapsed."""
    if value is None:
        return ""
    text = str(value).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    return " ".join(text.split())


def cdhelper_action(uses: str, inputs: Map) -> str | None:
    """The cdhelper command a step's `uses:` runs, or None."""
    uses = uses.strip()
    match = _ACTION_REF.match(uses) or _LOCAL_ACTION.match(uses)
    if match and match.group(1).lower() in ACTIONS:
        return match.group(1).lower()
    if _ROOT_REF.match(uses):
        command = str(inputs.get("command") or "promote").strip().lower()
        return command if command in ROOT_COMMANDS else None
    return None


def parse(path: str, text: str) -> Workflow:
    import yaml  # heavy: imported when used, so --help and the launcher start without it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        root = yaml.compose(text, Loader=loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise WorkflowSyntaxError(mark.line + 1 if mark else 1, str(problem)) from None
    except RecursionError:
        raise WorkflowSyntaxError(1, "it nests too deeply") from None
    data = _convert(root) if root is not None else Map()
    if not isinstance(data, Map):
        raise WorkflowSyntaxError(1, "a workflow is a mapping (name:, on:, jobs:)")
    jobs: dict[str, Job] = {}
    raw_jobs = data.get("jobs")
    if isinstance(raw_jobs, Map):
        for job_id, body in raw_jobs.items():
            if not isinstance(body, Map):
                continue
            job = Job(job_id, raw_jobs.line_of(job_id), body)
            job.reusable = isinstance(body.get("uses"), str) and bool(_REUSABLE.match(body["uses"].strip()))
            raw_steps = body.get("steps")
            if isinstance(raw_steps, Seq):
                for index, step in enumerate(raw_steps):
                    if isinstance(step, Map):
                        uses = step.get("uses")
                        with_ = step.get("with") if isinstance(step.get("with"), Map) else Map()
                        action = cdhelper_action(uses, with_) if isinstance(uses, str) else None
                        job.steps.append(Step(index, raw_steps.item_lines[index], step, action))
            jobs[job_id] = job
    return Workflow(path, data, jobs, root)


def read(path: Path, shown: str) -> Workflow:
    """Parse one workflow file; `shown` is the path findings name."""
    with open(path, "rb") as fh:
        raw = fh.read(MAX_BYTES + 1)
    if len(raw) > MAX_BYTES:
        raise WorkflowSyntaxError(1, f"the file is larger than {MAX_BYTES // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise WorkflowSyntaxError(raw[: exc.start].count(b"\n") + 1, "it is not UTF-8 text") from None
    return parse(shown, text)
